//! Per-layer probing (BERTology §5, after provis' `protein_attention/probing/`): a linear
//! diagnostic classifier is trained on each layer's features of a frozen model, and its test
//! score per layer shows where in depth the model makes a property linearly readable.
//!
//! - **Residue tasks** ([`probe_residues`]): the features of residue i at layer l are its hidden
//!   state, layer 0 being the embedding output and layer l ≥ 1 the output of block l (provis'
//!   `num_hidden_layers = l`); special tokens are dropped. Secondary structure (3 or 8 states,
//!   NetSurfP-2.0 files), binding sites (JSONL site sets) and antibody regions (IMGT) give the
//!   labels ([`tasks`]).
//! - **Contacts** ([`contacts::probe_contacts`]): the features of pair (i, j) at layer l are
//!   that layer's heads' attention maps, symmetrised and APC-corrected as the contact head's
//!   ([`crate::attention::contacts::layer_pair_features`]).
//!
//! The classifier is scikit-learn's `LogisticRegression(C)` on features standardised with the
//! training split's mean and standard deviation ([`crate::stats::classifier`]): multinomial
//! for more than two classes, binary otherwise. Proteins (never residues) are split into
//! train / validation / test by a seeded shuffle ([`split_proteins`]); unless `c` is given, each
//! layer's C is the one of `c_grid` with the best validation score (the task's selection
//! metric), and the classifier trained on the training split at that C is scored on all three.
//!
//! Memory: the residue features of every layer are held at once, (layers + 1) × scored
//! residues × hidden × 4 bytes (AntiBERTy, 9 × 20,000 antibody residues × 512: 370 MB; ESM-2
//! 650M, 34 × 10,000 × 1,280: 1.7 GB), plus one layer's training rows in f32 and f64 while it
//! is fitted. `max_proteins` bounds it.

pub mod contacts;
pub mod tasks;

use std::borrow::Borrow;

use candle_core::{DType, Device};
use polars::prelude::*;

use crate::model::{Capture, EncodedSequence, ForwardOptions, ProteinModel};
use crate::stats::classification::{
    accuracy, f1_one_vs_all, macro_f1, pooled_precision_at_fraction,
};
use crate::stats::classifier::{
    argmax, fit_l2_logistic, L2LogisticFit, L2LogisticOptions, Standardizer,
};
use crate::{Error, Result};

/// A residue-level probing task: a class (or nothing, where not scored) per residue of each
/// protein.
#[derive(Debug, Clone)]
pub struct ResidueTask {
    /// The `task` column: `ss3`, `ss8`, `sites`, `regions_cdr`, `regions_imgt`.
    pub name: String,
    /// Class names, in label order (two classes: class 1 is the positive one).
    pub classes: Vec<String>,
    /// Per protein (in the order of the sequences), per residue of the full sequence.
    pub labels: Vec<Vec<Option<u32>>>,
    /// Binary tasks: also score provis' pooled precision at L/`divisor` (sites: 20).
    pub precision_divisor: Option<f64>,
}

impl ResidueTask {
    /// The metric that picks C on the validation split: the pooled precision where there is
    /// one, else accuracy.
    pub fn selection_metric(&self) -> String {
        match self.precision_divisor {
            Some(d) => precision_name(d),
            None => "accuracy".into(),
        }
    }
}

/// The sequence behind any `Borrow<EncodedSequence>`.
pub(crate) fn encoded<S: Borrow<EncodedSequence>>(s: &S) -> &EncodedSequence {
    s.borrow()
}

fn precision_name(divisor: f64) -> String {
    format!("precision_at_l{divisor}")
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Seed of the protein split.
    pub seed: u64,
    /// Shares of the proteins for training and validation; the rest is the test split.
    pub train_fraction: f64,
    pub validation_fraction: f64,
    /// A fixed C for every layer; None: the best of `c_grid` on the validation split.
    pub c: Option<f64>,
    pub c_grid: Vec<f64>,
    /// The classifier's solver settings (its `c` is set per fit).
    pub regression: L2LogisticOptions,
    /// Sequences per forward pass.
    pub batch_size: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            seed: 0,
            train_fraction: 0.7,
            validation_fraction: 0.15,
            c: None,
            c_grid: vec![0.001, 0.01, 0.1, 1.0],
            regression: L2LogisticOptions {
                tolerance: 1e-5,
                max_iterations: 500,
                ..Default::default()
            },
            batch_size: 8,
        }
    }
}

/// Protein indices of each split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProteinSplit {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

impl ProteinSplit {
    /// (name, proteins) of the three splits.
    pub fn named(&self) -> [(&'static str, &[usize]); 3] {
        [
            ("train", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ]
    }
}

/// SplitMix64, the seeded generator of the split (fixed here so a seed means the same split in
/// every version).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

/// `n` proteins shuffled by `seed` (Fisher–Yates on SplitMix64) and cut into train, validation
/// and test: ⌊n · validation_fraction⌉ and the test share rounded, each at least 1, the rest
/// for training; each split is in input order.
pub fn split_proteins(
    n: usize,
    seed: u64,
    train_fraction: f64,
    validation_fraction: f64,
) -> Result<ProteinSplit> {
    let test_fraction = 1.0 - train_fraction - validation_fraction;
    if !(train_fraction > 0.0 && validation_fraction > 0.0 && test_fraction > 0.0) {
        return Err(Error::invalid(format!(
            "split fractions train {train_fraction}, validation {validation_fraction} leave no \
             test share; each must be positive and the two below 1"
        )));
    }
    if n < 3 {
        return Err(Error::invalid(format!(
            "probing needs at least 3 proteins (train, validation, test), not {n}"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix(seed);
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut validation = ((n as f64 * validation_fraction).round() as usize).max(1);
    let mut test = ((n as f64 * test_fraction).round() as usize).max(1);
    while validation + test > n - 1 {
        if test >= validation && test > 1 {
            test -= 1;
        } else {
            validation -= 1;
        }
    }
    let train = n - validation - test;
    let mut parts = [
        order[..train].to_vec(),
        order[train..train + validation].to_vec(),
        order[train + validation..train + validation + test].to_vec(),
    ];
    parts.iter_mut().for_each(|p| p.sort_unstable());
    let [train, validation, test] = parts;
    Ok(ProteinSplit {
        train,
        validation,
        test,
    })
}

/// One value of the probing table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub task: String,
    /// 0 = embedding output, l = output of block l.
    pub layer: usize,
    /// `train`, `validation` or `test`.
    pub split: &'static str,
    pub metric: String,
    pub value: f64,
    pub n_proteins: usize,
    /// Residues (or residue pairs) scored.
    pub n_examples: usize,
    /// The C the classifier was trained with.
    pub c: f64,
}

/// The probing table: task, layer, split, metric, value, n_proteins, n_examples, c.
pub fn probe_frame(rows: &[ProbeRow]) -> Result<DataFrame> {
    Ok(df!(
        "task" => rows.iter().map(|r| r.task.as_str()).collect::<Vec<_>>(),
        "layer" => rows.iter().map(|r| r.layer as i64).collect::<Vec<_>>(),
        "split" => rows.iter().map(|r| r.split).collect::<Vec<_>>(),
        "metric" => rows.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>(),
        "value" => rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        "n_proteins" => rows.iter().map(|r| r.n_proteins as i64).collect::<Vec<_>>(),
        "n_examples" => rows.iter().map(|r| r.n_examples as i64).collect::<Vec<_>>(),
        "c" => rows.iter().map(|r| r.c).collect::<Vec<_>>(),
    )?)
}

/// Examples of one task for the per-layer fits: `features[layer][protein]` holds the protein's
/// rows (rows × `width`, row-major), `labels[protein]` their classes.
pub(crate) struct LayerExamples<'a> {
    pub task: &'a str,
    pub num_classes: usize,
    pub width: usize,
    pub features: &'a [Vec<Vec<f32>>],
    pub labels: &'a [Vec<u32>],
    pub selection_metric: &'a str,
    /// The table's layer number of `features[0]` (0 for hidden states, 1 for attention).
    pub first_layer: usize,
}

/// One split's scores from its proteins' class probabilities (per protein: rows ×
/// classes): (metric, value) pairs.
pub(crate) type Scorer<'a> = dyn Fn(&[usize], &[Vec<f64>]) -> Result<Vec<(String, f64)>> + 'a;

/// Fits every layer (C from the validation split unless fixed) and scores the three splits.
pub(crate) fn probe_layers(
    examples: &LayerExamples<'_>,
    split: &ProteinSplit,
    options: &ProbeOptions,
    score: &Scorer<'_>,
    mut on_layer: impl FnMut(usize, f64),
) -> Result<Vec<ProbeRow>> {
    let k = examples.num_classes;
    let gather = |layer: usize, proteins: &[usize]| -> (Vec<f32>, Vec<u32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for &p in proteins {
            x.extend_from_slice(&examples.features[layer][p]);
            y.extend_from_slice(&examples.labels[p]);
        }
        (x, y)
    };
    // Classes present in training: the classifier is fitted on these only (an absent class
    // would drive its unpenalised intercept to −∞); the others get probability 0.
    let (_, train_labels) = gather(0, &split.train);
    let mut present: Vec<u32> = train_labels.clone();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(Error::invalid(format!(
            "task {}: the training split has only {} class among its {} examples; use more \
             proteins (`max_proteins`) or another `seed`",
            examples.task,
            present.len(),
            train_labels.len()
        )));
    }
    let mut to_fit = vec![u32::MAX; k];
    for (i, &c) in present.iter().enumerate() {
        to_fit[c as usize] = i as u32;
    }
    let fit_labels: Vec<u32> = train_labels.iter().map(|&l| to_fit[l as usize]).collect();
    let grid: Vec<f64> = match options.c {
        Some(c) => vec![c],
        None => options.c_grid.clone(),
    };
    if grid.is_empty() {
        return Err(Error::setting("c_grid", "[]", "give at least one C"));
    }
    let mut rows = Vec::new();
    for layer in 0..examples.features.len() {
        let (mut x_train, _) = gather(layer, &split.train);
        let scaler = Standardizer::fit(&x_train, examples.width)?;
        scaler.transform_in_place(&mut x_train)?;
        // Each split's per-protein probabilities over all k classes.
        let probabilities = |fit: &L2LogisticFit, proteins: &[usize]| -> Result<Vec<Vec<f64>>> {
            proteins
                .iter()
                .map(|&p| {
                    let mut x = examples.features[layer][p].clone();
                    scaler.transform_in_place(&mut x)?;
                    let fitted = if x.is_empty() {
                        Vec::new()
                    } else {
                        fit.probabilities(&x)?
                    };
                    let mut full = vec![0f64; fitted.len() / present.len() * k];
                    for (row, out) in fitted
                        .chunks_exact(present.len())
                        .zip(full.chunks_exact_mut(k))
                    {
                        for (i, &c) in present.iter().enumerate() {
                            out[c as usize] = row[i];
                        }
                    }
                    Ok(full)
                })
                .collect()
        };
        let mut best: Option<(f64, f64, L2LogisticFit)> = None;
        for &c in &grid {
            let fit = fit_l2_logistic(
                &x_train,
                examples.width,
                &fit_labels,
                present.len(),
                &L2LogisticOptions {
                    c,
                    ..options.regression.clone()
                },
            )?;
            if grid.len() == 1 {
                best = Some((f64::NAN, c, fit));
                break;
            }
            let scores = score(&split.validation, &probabilities(&fit, &split.validation)?)?;
            let value = scores
                .iter()
                .find(|(m, _)| m == examples.selection_metric)
                .map(|s| s.1)
                .unwrap_or(f64::NAN);
            // The first C of the grid wins ties; NaN never wins.
            if best
                .as_ref()
                .is_none_or(|b| value > b.0 || (b.0.is_nan() && !value.is_nan()))
            {
                best = Some((value, c, fit));
            }
        }
        let (_, c, fit) = best.expect("the grid is not empty");
        for (name, proteins) in split.named() {
            let probs = probabilities(&fit, proteins)?;
            let n_examples: usize = proteins.iter().map(|&p| examples.labels[p].len()).sum();
            for (metric, value) in score(proteins, &probs)? {
                rows.push(ProbeRow {
                    task: examples.task.to_string(),
                    layer: layer + examples.first_layer,
                    split: name,
                    metric,
                    value,
                    n_proteins: proteins.len(),
                    n_examples,
                    c,
                });
            }
        }
        on_layer(layer + examples.first_layer, c);
    }
    Ok(rows)
}

/// Scores of a residue task: accuracy, then one-vs-all F1 per class and macro F1 (more than two
/// classes), or F1 of class 1 and the pooled precision (two classes).
fn residue_scorer<'a>(task: &'a ResidueTask, labels: &'a [Vec<u32>]) -> Box<Scorer<'a>> {
    let k = task.classes.len();
    Box::new(move |proteins: &[usize], probs: &[Vec<f64>]| {
        let mut truth = Vec::new();
        let mut predicted = Vec::new();
        for (&p, prob) in proteins.iter().zip(probs) {
            truth.extend_from_slice(&labels[p]);
            predicted.extend(prob.chunks_exact(k).map(argmax));
        }
        let mut out = vec![("accuracy".to_string(), accuracy(&truth, &predicted)?)];
        if k > 2 {
            for (c, name) in task.classes.iter().enumerate() {
                out.push((
                    format!("f1_{name}"),
                    f1_one_vs_all(&truth, &predicted, c as u32)?,
                ));
            }
            out.push(("macro_f1".into(), macro_f1(&truth, &predicted)?));
        } else {
            out.push(("f1".into(), f1_one_vs_all(&truth, &predicted, 1)?));
            if let Some(divisor) = task.precision_divisor {
                let per_protein: Vec<(Vec<f64>, Vec<bool>)> = proteins
                    .iter()
                    .zip(probs)
                    .map(|(&p, prob)| {
                        (
                            prob.chunks_exact(2).map(|r| r[1]).collect(),
                            labels[p].iter().map(|&l| l == 1).collect(),
                        )
                    })
                    .collect();
                out.push((
                    precision_name(divisor),
                    pooled_precision_at_fraction(&per_protein, divisor)?,
                ));
            }
        }
        Ok(out)
    })
}

/// Each layer's hidden states (layer 0 = embedding output) of the `scored` residues (0-based
/// positions among the residues the model saw) of every sequence: `[layer][protein]` rows ×
/// hidden, in f32. Sequences run `batch_size` at a time, shortest together.
pub fn residue_features<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
    scored: &[Vec<usize>],
    batch_size: usize,
    mut on_batch: impl FnMut(usize),
) -> Result<Vec<Vec<Vec<f32>>>> {
    if scored.len() != seqs.len() {
        return Err(Error::invalid(format!(
            "{} residue lists for {} sequences",
            scored.len(),
            seqs.len()
        )));
    }
    let layers = model.num_layers() + 1;
    let hidden = model.hidden_size();
    let mut features = vec![vec![Vec::new(); seqs.len()]; layers];
    let lengths: Vec<usize> = seqs.iter().map(|s| encoded(s).len()).collect();
    for batch in crate::model::outputs::length_batches(&lengths, batch_size) {
        let refs: Vec<&EncodedSequence> = batch.iter().map(|&i| encoded(&seqs[i])).collect();
        let encoded = model.batch(&refs)?;
        let out = model.forward(
            &encoded,
            ForwardOptions {
                capture: Capture {
                    hidden_states: true,
                    ..Capture::none()
                },
                ..Default::default()
            },
        )?;
        for (layer, states) in out.hidden_states.iter().enumerate() {
            let states = states.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
            for (b, &i) in batch.iter().enumerate() {
                let s = refs[b];
                let h: Vec<f32> = states
                    .get(b)?
                    .narrow(0, s.residue_start, s.residues.len())?
                    .flatten_all()?
                    .to_vec1()?;
                let mut rows = Vec::with_capacity(scored[i].len() * hidden);
                for &r in &scored[i] {
                    if r >= s.residues.len() {
                        return Err(Error::sequence(
                            &s.id,
                            format!(
                                "scored residue {} beyond the {} residues the model saw",
                                r + 1,
                                s.residues.len()
                            ),
                        ));
                    }
                    rows.extend_from_slice(&h[r * hidden..(r + 1) * hidden]);
                }
                features[layer][i] = rows;
            }
        }
        on_batch(batch.len());
    }
    Ok(features)
}

/// Probes residue tasks that score the same residues of the same proteins (e.g. the two
/// antibody-region tasks): features of every layer from one pass, then one classifier per task
/// and layer. `seqs` are the encoded proteins in the tasks' order; labels beyond a truncated
/// sequence are dropped. `on_progress` gets a message per stage.
pub fn probe_residues<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
    tasks: &[ResidueTask],
    options: &ProbeOptions,
    mut on_progress: impl FnMut(&str),
) -> Result<(ProteinSplit, Vec<ProbeRow>)> {
    let Some(first) = tasks.first() else {
        return Err(Error::invalid("no probing task given"));
    };
    // Scored residues: those the first task labels, among the residues the model saw.
    let mut scored = Vec::with_capacity(seqs.len());
    for (i, s) in seqs.iter().map(encoded).enumerate() {
        let labels = first.labels.get(i).ok_or_else(|| {
            Error::invalid(format!(
                "task {}: labels for {} proteins, {} sequences given",
                first.name,
                first.labels.len(),
                seqs.len()
            ))
        })?;
        let full = s.residues.len() + s.truncated;
        for task in tasks {
            let Some(l) = task.labels.get(i) else {
                return Err(Error::invalid(format!(
                    "task {}: labels for {} proteins, {} sequences given",
                    task.name,
                    task.labels.len(),
                    seqs.len()
                )));
            };
            if l.len() != full {
                return Err(Error::sequence(
                    &s.id,
                    format!(
                        "task {}: {} labels for a sequence of {full} residues; give one label \
                         (or none) per residue",
                        task.name,
                        l.len()
                    ),
                ));
            }
            let same = l
                .iter()
                .zip(labels)
                .all(|(a, b)| a.is_some() == b.is_some());
            if !same {
                return Err(Error::invalid(format!(
                    "tasks {} and {} score different residues of {}; probe them separately",
                    first.name, task.name, s.id
                )));
            }
            if let Some(bad) = l
                .iter()
                .flatten()
                .find(|&&c| c as usize >= task.classes.len())
            {
                return Err(Error::sequence(
                    &s.id,
                    format!(
                        "task {}: class {bad} of {} classes",
                        task.name,
                        task.classes.len()
                    ),
                ));
            }
        }
        scored.push(
            (0..s.residues.len())
                .filter(|&r| labels[r].is_some())
                .collect::<Vec<usize>>(),
        );
    }
    let split = split_proteins(
        seqs.len(),
        options.seed,
        options.train_fraction,
        options.validation_fraction,
    )?;
    on_progress("hidden states of every layer");
    let features = residue_features(model, seqs, &scored, options.batch_size, |_| {})?;
    let mut rows = Vec::new();
    for task in tasks {
        let labels: Vec<Vec<u32>> = task
            .labels
            .iter()
            .zip(&scored)
            .map(|(l, s)| s.iter().map(|&r| l[r].expect("scored")).collect())
            .collect();
        let selection = task.selection_metric();
        let examples = LayerExamples {
            task: &task.name,
            num_classes: task.classes.len(),
            width: model.hidden_size(),
            features: &features,
            labels: &labels,
            selection_metric: &selection,
            first_layer: 0,
        };
        let scorer = residue_scorer(task, &labels);
        rows.extend(probe_layers(
            &examples,
            &split,
            options,
            &*scorer,
            |layer, c| on_progress(&format!("{}: layer {layer} fitted (C = {c})", task.name)),
        )?);
    }
    Ok((split, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_seeded_disjoint_and_complete() {
        let s = split_proteins(20, 7, 0.7, 0.15).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (14, 3, 3)
        );
        let mut all: Vec<usize> = s.named().iter().flat_map(|p| p.1.to_vec()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert_eq!(s, split_proteins(20, 7, 0.7, 0.15).unwrap());
        assert_ne!(s, split_proteins(20, 8, 0.7, 0.15).unwrap());
        let tiny = split_proteins(3, 0, 0.7, 0.15).unwrap();
        assert_eq!(
            (tiny.train.len(), tiny.validation.len(), tiny.test.len()),
            (1, 1, 1)
        );
        assert!(split_proteins(2, 0, 0.7, 0.15).is_err());
        assert!(split_proteins(10, 0, 0.9, 0.2).is_err());
    }
}
