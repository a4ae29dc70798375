//! Sanity checks of attributions (Adebayo et al. 2018): cascading model randomisation. The
//! classifier head's weights are randomised first, then the layers from the top down; at each
//! step every method's residue relevance is compared with the original model's by Spearman's
//! rank correlation. An explanation that depends on what the model learned decorrelates as the
//! weights are randomised; one that stays put explains the input, not the model.
//!
//! Randomising a tensor here means shuffling its values with a seeded permutation (the
//! "shuffled weights" control of xai-proteins): the weight distribution stays, what was learned
//! goes. Tensors are grouped by name: a layer's are those with `layer.N.`, `layers.N.`,
//! `block.N.` or `blocks.N.` in their name; the head is every tensor that is neither a layer's
//! nor an embedding's (`embed` in the name), i.e. pooler, classifier and output heads (and a
//! final normalisation). ALBERT shares one layer's weights across its depth, so its layer steps
//! randomise that one shared layer.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;
use safetensors::tensor::{SafeTensors, TensorView};

use super::flip::SplitMix64;
use super::methods::{explain, AttributionMethod, ExplainOptions};
use crate::model::{EncodedSequence, ProteinModel};
use crate::stats::spearman_r;
use crate::{Error, Result};

/// The layer index in a tensor name (`…layer.3.…`), if any.
fn layer_of(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find_map(|w| {
        matches!(w[0], "layer" | "layers" | "block" | "blocks")
            .then(|| w[1].parse().ok())
            .flatten()
    })
}

/// Which tensors a randomisation step shuffles: the head, and the layers from `first_layer`
/// up (None: no layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomisationStep {
    pub first_layer: Option<usize>,
}

impl RandomisationStep {
    fn takes(&self, name: &str) -> bool {
        match layer_of(name) {
            Some(l) => self.first_layer.is_some_and(|f| l >= f),
            None => !name.contains("embed"),
        }
    }

    /// `head`, or `head + layers 12–12` (1-based).
    pub fn label(&self, num_layers: usize) -> String {
        match self.first_layer {
            None => "head".into(),
            Some(f) => format!("head + layers {}–{num_layers}", f + 1),
        }
    }
}

/// Copies the model folder `src` into `dst` with the tensors `step` names shuffled (seeded).
/// Only single-file `model.safetensors` folders. Returns the number of tensors shuffled.
pub fn randomised_copy(
    src: &Path,
    dst: &Path,
    step: RandomisationStep,
    seed: u64,
) -> Result<usize> {
    let weights = src.join("model.safetensors");
    let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::file(
            &weights,
            format!("{e}; randomisation reads single-file model.safetensors folders"),
        )
    })?;
    std::fs::create_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
        let path = entry.map_err(|e| Error::io(src, e))?.path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "model.safetensors") {
            let to = dst.join(path.file_name().expect("a file name"));
            std::fs::copy(&path, &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    let mut rng = SplitMix64::new(seed);
    let mut shuffled = 0;
    let mut data: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let view = tensors
            .tensor(&name)
            .map_err(|e| Error::file(&weights, e.to_string()))?;
        let mut raw = view.data().to_vec();
        if step.takes(&name) {
            let size = view.dtype().bitsize() / 8;
            let n = raw.len() / size.max(1);
            // Fisher–Yates over elements of `size` bytes.
            for i in (1..n).rev() {
                let j = rng.below(i + 1);
                for b in 0..size {
                    raw.swap(i * size + b, j * size + b);
                }
            }
            shuffled += 1;
        }
        data.push((name, view.dtype(), view.shape().to_vec(), raw));
    }
    let views = data
        .iter()
        .map(|(name, dtype, shape, raw)| {
            TensorView::new(*dtype, shape.clone(), raw)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::file(&weights, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = dst.join("model.safetensors");
    let serialized = safetensors::serialize(views, None::<HashMap<String, String>>)
        .map_err(|e| Error::file(&out, e.to_string()))?;
    crate::frame::write_atomically(&out, &serialized)?;
    Ok(shuffled)
}

/// One (method, protein, step) of a cascading randomisation.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomisationRow {
    pub method: String,
    pub protein: String,
    /// 0 = the original model, 1 = head randomised, 1 + j = head and the top j layers.
    pub step: usize,
    pub randomised: String,
    /// Spearman's ρ between the residue relevances at this step and the original's.
    pub spearman: f64,
}

/// Cascading randomisation of the model folder `model_dir` (loaded like `model`): the original,
/// then the head, then the head and layers from the top down to the first, each step in a
/// folder under `work_dir`; every method's residue relevance on every sequence, compared with
/// the original's. `targets` holds each sequence's target class (one per sequence, e.g. its
/// predicted class). `seed` seeds the shuffles (each step's from it and the step).
#[allow(clippy::too_many_arguments)]
pub fn cascading_randomisation(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    output: &str,
    targets: &[usize],
    methods: &[AttributionMethod],
    options: &ExplainOptions,
    work_dir: &Path,
    seed: u64,
) -> Result<Vec<RandomisationRow>> {
    if targets.len() != seqs.len() {
        return Err(Error::invalid(format!(
            "cascading randomisation: {} targets for {} sequences (give one per sequence)",
            targets.len(),
            seqs.len()
        )));
    }
    let explain_all = |m: &ProteinModel| -> Result<Vec<Vec<Vec<f64>>>> {
        methods
            .iter()
            .map(|&method| {
                seqs.iter()
                    .zip(targets)
                    .map(|(s, &target)| {
                        Ok(explain(m, s, output, target, method, options)?
                            .residue_embedding()
                            .to_vec())
                    })
                    .collect()
            })
            .collect()
    };
    let original = explain_all(model)?;
    let num_layers = model.num_layers();
    let mut rows = Vec::new();
    let mut push = |step: usize, label: &str, maps: &[Vec<Vec<f64>>]| -> Result<()> {
        for (mi, method) in methods.iter().enumerate() {
            for (si, seq) in seqs.iter().enumerate() {
                rows.push(RandomisationRow {
                    method: method.name().to_string(),
                    protein: seq.id.clone(),
                    step,
                    randomised: label.to_string(),
                    spearman: spearman_r(&original[mi][si], &maps[mi][si])?.statistic,
                });
            }
        }
        Ok(())
    };
    push(0, "none", &original)?;
    let steps = std::iter::once(None).chain((0..num_layers).rev().map(Some));
    for (i, first_layer) in steps.enumerate() {
        let step = RandomisationStep { first_layer };
        let dir = work_dir.join(format!("step-{:02}", i + 1));
        randomised_copy(&model.dir, &dir, step, seed ^ (i as u64 + 1))?;
        let randomised = ProteinModel::load_as(&dir, model.device(), model.dtype())?;
        push(i + 1, &step.label(num_layers), &explain_all(&randomised)?)?;
    }
    Ok(rows)
}

/// Columns method, protein, step, randomised, spearman.
pub fn randomisation_frame(rows: &[RandomisationRow]) -> Result<DataFrame> {
    Ok(df!(
        "method" => rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        "protein" => rows.iter().map(|r| r.protein.as_str()).collect::<Vec<_>>(),
        "step" => rows.iter().map(|r| r.step as i64).collect::<Vec<_>>(),
        "randomised" => rows.iter().map(|r| r.randomised.as_str()).collect::<Vec<_>>(),
        "spearman" => rows.iter().map(|r| r.spearman).collect::<Vec<_>>(),
    )?)
}

/// The attention heads (layer, head; the embedding level left out) of a `relevance_stats`
/// table whose p-value column `column` (e.g. `t_p_fdr`) is below `alpha`: xai-proteins' set of
/// significant heads.
pub fn significant_heads(
    table: &DataFrame,
    column: &str,
    alpha: f64,
) -> Result<std::collections::BTreeSet<(i64, i64)>> {
    const TABLE: &str = crate::frame::schema::RELEVANCE_STATS.name;
    crate::frame::schema::RELEVANCE_STATS.require_columns(
        table,
        TABLE,
        &["layer", "head", column],
    )?;
    let layers = crate::frame::columns::integers(table, TABLE, "layer")?;
    let heads = crate::frame::columns::integers(table, TABLE, "head")?;
    let p = crate::frame::columns::floats(table, TABLE, column)?;
    Ok((0..table.height())
        .filter(|&i| layers[i] >= 0 && heads[i] >= 0 && p[i] < alpha)
        .map(|i| (layers[i], heads[i]))
        .collect())
}

/// Jaccard overlap |A ∩ B| / |A ∪ B| of two sets of significant heads (xai-proteins'
/// `jaccard.py` compares a fine-tuned model with the same architecture with shuffled weights:
/// an overlap near 0 says the significant heads come from what was learned). NaN when both
/// sets are empty.
pub use crate::stats::jaccard_index;

/// The significant heads of a model's `relevance-stats` table and of its control's (`column` <
/// `alpha`) on one layer × head grid, for [`crate::plot::head_overlap`]; the grid spans the
/// heads either table has.
pub fn head_overlap(
    trained: &DataFrame,
    control: &DataFrame,
    column: &str,
    alpha: f64,
) -> Result<crate::plot::HeadOverlap> {
    const TABLE: &str = crate::frame::schema::RELEVANCE_STATS.name;
    let mut extent = (0i64, 0i64);
    for table in [trained, control] {
        let layers = crate::frame::columns::integers(table, TABLE, "layer")?;
        let heads = crate::frame::columns::integers(table, TABLE, "head")?;
        for (l, h) in layers.into_iter().zip(heads) {
            extent = (extent.0.max(l + 1), extent.1.max(h + 1));
        }
    }
    Ok(crate::plot::HeadOverlap {
        num_layers: extent.0.max(0) as usize,
        num_heads: extent.1.max(0) as usize,
        trained: significant_heads(trained, column, alpha)?,
        control: significant_heads(control, column, alpha)?,
        trained_label: "trained".into(),
        control_label: "shuffled weights".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_grouped_by_layer_and_head() {
        assert_eq!(
            layer_of("bert.encoder.layer.3.attention.self.query.weight"),
            Some(3)
        );
        assert_eq!(
            layer_of("encoder.block.11.layer.0.SelfAttention.q.weight"),
            Some(11)
        );
        assert_eq!(layer_of("classifier.weight"), None);
        let head = RandomisationStep { first_layer: None };
        assert!(head.takes("classifier.weight") && head.takes("bert.pooler.dense.weight"));
        assert!(!head.takes("bert.embeddings.word_embeddings.weight"));
        assert!(!head.takes("bert.encoder.layer.0.output.dense.weight"));
        let top = RandomisationStep {
            first_layer: Some(1),
        };
        assert!(top.takes("bert.encoder.layer.1.output.dense.weight"));
        assert!(!top.takes("bert.encoder.layer.0.output.dense.weight"));
        assert_eq!(top.label(2), "head + layers 2–2");
    }

    #[test]
    fn jaccard_of_significant_heads() {
        let table = df!(
            "layer" => [-1i64, 0, 0, 1, 1],
            "head" => [-1i64, 0, 1, 0, 1],
            "t_p_fdr" => [0.001, 0.01, 0.2, 0.04, 0.5],
        )
        .unwrap();
        let a = significant_heads(&table, "t_p_fdr", 0.05).unwrap();
        assert_eq!(a.into_iter().collect::<Vec<_>>(), vec![(0, 0), (1, 0)]);
        let a = significant_heads(&table, "t_p_fdr", 0.05).unwrap();
        let b: std::collections::BTreeSet<(i64, i64)> = [(1, 0), (1, 1)].into_iter().collect();
        assert!((jaccard_index(&a, &b) - 1.0 / 3.0).abs() < 1e-12);
        assert!(jaccard_index(&Default::default(), &Default::default()).is_nan());
        assert!(significant_heads(&table, "nope", 0.05).is_err());
    }
}
