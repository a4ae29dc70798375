//! Residue contacts predicted from attention (Rao et al. 2020), as ESM's
//! `ContactPredictionHead` computes them: every layer × head map of the residues (special
//! tokens dropped), symmetrised (A + Aᵀ) and APC-corrected (F − F·1 1ᵀF / 1ᵀF1, per map), is
//! one feature of each residue pair; a logistic regression over the features
//! ([`ContactHead`]) gives the contact probability. ESM-2 checkpoints carry a fitted head;
//! [`fit_contact_head`] fits one for any model on structures (Rao et al.'s L1-regularised
//! logistic regression, [`crate::stats::logistic`]).

use std::borrow::Borrow;

use candle_core::{DType, Tensor};
use polars::prelude::*;

use super::{attention_maps, visit_layer_maps, AttentionMaps};
use crate::model::{ContactHead, EncodedSequence, ProteinModel};
use crate::stats::logistic::{fit_l1_logistic, L1LogisticFit, L1LogisticOptions};
use crate::{Error, Result};

/// Contact probabilities of one protein: `probabilities[i · n + j]` for residues i, j
/// (0-based), symmetric.
#[derive(Debug, Clone)]
pub struct ContactMap {
    pub protein: String,
    pub residues: usize,
    pub probabilities: Vec<f32>,
}

impl ContactMap {
    /// Probability of a contact between residues `i` and `j` (0-based).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.probabilities[i * self.residues + j]
    }
}

/// One layer's pair features (heads, n, n): each head's residue map symmetrised and
/// APC-corrected (ESM's `symmetrize`, `average_product_correct`).
pub fn layer_pair_features(maps: &AttentionMaps, layer: usize) -> Result<Tensor> {
    if layer >= maps.num_layers {
        return Err(Error::invalid(format!(
            "layer {layer} out of range: the model has {} layers",
            maps.num_layers
        )));
    }
    pair_features(&maps.residue_weights()?.get(layer)?.to_dtype(DType::F32)?)
}

/// Pair features of one layer's residue maps `x` (heads, n, n).
pub fn pair_features(x: &Tensor) -> Result<Tensor> {
    let sym = (x + x.transpose(1, 2)?)?;
    let row = sym.sum_keepdim(2)?; // (heads, n, 1)
    let column = sym.sum_keepdim(1)?; // (heads, 1, n)
    let total = sym.sum_keepdim(2)?.sum_keepdim(1)?; // (heads, 1, 1)
    let average = row.broadcast_mul(&column)?.broadcast_div(&total)?;
    Ok((sym - average)?)
}

/// Adds `head`'s weighted pair features of one layer's residue maps `x` (heads, n, n) to the
/// contact `logits` (n × n).
fn add_layer_logits(
    logits: &mut [f32],
    x: &Tensor,
    head: &ContactHead,
    layer: usize,
) -> Result<()> {
    let n = x.dim(1)?;
    let features: Vec<f32> = pair_features(x)?.flatten_all()?.to_vec1()?;
    for (h, &w) in head.layer_weights(layer).iter().enumerate() {
        let map = &features[h * n * n..(h + 1) * n * n];
        for (logit, &f) in logits.iter_mut().zip(map) {
            *logit += w * f;
        }
    }
    Ok(())
}

fn check_head_shape(head: &ContactHead, num_layers: usize, num_heads: usize) -> Result<()> {
    if (head.num_layers(), head.num_heads()) != (num_layers, num_heads) {
        return Err(Error::invalid(format!(
            "the contact head is for {} layers × {} heads, the model has {num_layers} × {num_heads}",
            head.num_layers(),
            head.num_heads(),
        )));
    }
    Ok(())
}

/// Contact probabilities of one protein from its attention maps and a contact head of the
/// same shape. Feature maps are formed a layer at a time (memory: heads · n² values).
pub fn contact_map(maps: &AttentionMaps, head: &ContactHead) -> Result<ContactMap> {
    check_head_shape(head, maps.num_layers, maps.num_heads)?;
    let n = maps.residues();
    let mut logits = vec![head.bias(); n * n];
    let residue_maps = maps.residue_weights()?;
    for layer in 0..maps.num_layers {
        let x = residue_maps.get(layer)?.to_dtype(DType::F32)?;
        add_layer_logits(&mut logits, &x, head, layer)?;
    }
    Ok(ContactMap {
        protein: maps.protein.clone(),
        residues: n,
        probabilities: sigmoid(&logits),
    })
}

fn sigmoid(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
}

/// The model's own contact head, or an error saying it has none.
pub fn require_contact_head(model: &ProteinModel) -> Result<&ContactHead> {
    model.contact_head().ok_or_else(|| {
        Error::file(
            &model.dir,
            "this model has no contact head of its own (ESM-2 checkpoints carry one, \
             `esm.contact_head.regression`); fit one on structures (`fit_contact_head`, \
             `protscope contacts-fit`) and pass it as the contact head",
        )
    })
}

/// Contact maps of `seqs` from the model's own contact head (ESM-2), one padded pass for all.
pub fn predict_contacts<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
) -> Result<Vec<ContactMap>> {
    predict_contacts_with(model, require_contact_head(model)?, seqs)
}

/// Contact maps of `seqs` from `head` (the model's own or a fitted one of the same shape).
pub fn predict_contacts_with<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    head: &ContactHead,
    seqs: &[S],
) -> Result<Vec<ContactMap>> {
    check_head_shape(head, model.num_layers(), model.num_heads())?;
    // Each layer's maps are folded into the logits as the model computes them: memory for one
    // layer's maps, not every layer's.
    let seqs: Vec<&EncodedSequence> = seqs.iter().map(Borrow::borrow).collect();
    let mut logits: Vec<Vec<f32>> = seqs
        .iter()
        .map(|s| vec![head.bias(); s.residues.len() * s.residues.len()])
        .collect();
    visit_layer_maps(model, &seqs, &mut |maps| {
        if maps.residue_count > 0 {
            add_layer_logits(
                &mut logits[maps.protein],
                &maps.residue_tensor()?,
                head,
                maps.layer,
            )?;
        }
        Ok(())
    })?;
    Ok(seqs
        .iter()
        .zip(logits)
        .map(|(s, logits)| ContactMap {
            protein: s.id.clone(),
            residues: s.residues.len(),
            probabilities: sigmoid(&logits),
        })
        .collect())
}

/// `protein, i, j, probability` for every residue pair i < j (1-based positions).
pub fn contacts_frame(maps: &[ContactMap]) -> Result<DataFrame> {
    let pairs: Vec<(&str, usize, &[f32])> = maps
        .iter()
        .map(|m| (m.protein.as_str(), m.residues, m.probabilities.as_slice()))
        .collect();
    residue_pair_frame(&pairs, "probability")
}

/// `protein, i, j, <value>` for every residue pair i < j (1-based positions) of row-major n × n
/// maps given as (protein, n, values).
pub fn residue_pair_frame(maps: &[(&str, usize, &[f32])], value: &str) -> Result<DataFrame> {
    let rows: usize = maps.iter().map(|m| m.1 * m.1.saturating_sub(1) / 2).sum();
    let mut protein = Vec::with_capacity(rows);
    let (mut is, mut js, mut values) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for &(name, n, map) in maps {
        if map.len() != n * n {
            return Err(Error::invalid(format!(
                "{name}: {} values for {n} residues (needs {n} × {n})",
                map.len()
            )));
        }
        for i in 0..n {
            for j in i + 1..n {
                protein.push(name);
                is.push(i as u32 + 1);
                js.push(j as u32 + 1);
                values.push(map[i * n + j]);
            }
        }
    }
    let columns = vec![
        Column::new("protein".into(), protein),
        Column::new("i".into(), is),
        Column::new("j".into(), js),
        Column::new(value.into(), values),
    ];
    Ok(DataFrame::new(rows, columns)?)
}

/// What [`fit_contact_head`] trains on: residue pairs at least `min_separation` apart (Rao et
/// al.: 6), with the regression's options.
#[derive(Debug, Clone)]
pub struct ContactFitOptions {
    pub min_separation: usize,
    pub regression: L1LogisticOptions,
    /// Fit on these layers' heads only (0-based; the other weights are 0), e.g. one layer at a
    /// time to see where in depth a model knows contacts. None: every layer.
    pub layers: Option<Vec<usize>>,
}

impl Default for ContactFitOptions {
    fn default() -> Self {
        ContactFitOptions {
            min_separation: 6,
            regression: L1LogisticOptions::default(),
            layers: None,
        }
    }
}

/// A fitted contact head and how the fit went.
#[derive(Debug, Clone)]
pub struct ContactHeadFit {
    pub head: ContactHead,
    /// The regression over the chosen layers' heads (all heads unless `layers` was set).
    pub regression: L1LogisticFit,
    /// Residue pairs trained on, and how many of them are contacts.
    pub pairs: usize,
    pub contacts: usize,
}

/// One protein's training rows: the layers × heads features (row-major, layer-major like
/// [`ContactHead`]'s weights) and labels of every pair i < j at least `min_separation` apart
/// whose target is known. `targets` is the protein's n × n contact matrix (1 contact, 0 none,
/// −1 unresolved; [`crate::structure::DistanceMatrix::contact_targets`]) over the residues the
/// model saw.
pub fn contact_training_rows(
    maps: &AttentionMaps,
    targets: &[i8],
    min_separation: usize,
) -> Result<(Vec<f32>, Vec<bool>)> {
    let n = maps.residues();
    if targets.len() != n * n {
        return Err(Error::invalid(format!(
            "{}: {} contact targets for {n} residues (needs {n} × {n})",
            maps.protein,
            targets.len()
        )));
    }
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + min_separation.max(1)..n).map(move |j| (i, j)))
        .filter(|&(i, j)| targets[i * n + j] >= 0)
        .collect();
    let width = maps.num_layers * maps.num_heads;
    let mut features = vec![0f32; pairs.len() * width];
    for layer in 0..maps.num_layers {
        let layer_features: Vec<f32> =
            layer_pair_features(maps, layer)?.flatten_all()?.to_vec1()?;
        for head in 0..maps.num_heads {
            let map = &layer_features[head * n * n..(head + 1) * n * n];
            let column = layer * maps.num_heads + head;
            for (row, &(i, j)) in pairs.iter().enumerate() {
                features[row * width + column] = map[i * n + j];
            }
        }
    }
    let labels = pairs
        .iter()
        .map(|&(i, j)| targets[i * n + j] == 1)
        .collect();
    Ok((features, labels))
}

/// Fits a contact head (Rao et al. 2020) on proteins' attention maps and contact targets: an
/// L1-regularised logistic regression over every layer × head feature, equal to
/// scikit-learn's on the same rows.
pub fn fit_contact_head(
    examples: &[(&AttentionMaps, &[i8])],
    options: &ContactFitOptions,
) -> Result<ContactHeadFit> {
    let Some((first, _)) = examples.first() else {
        return Err(Error::invalid(
            "fitting a contact head needs at least one protein",
        ));
    };
    let (num_layers, num_heads) = (first.num_layers, first.num_heads);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (maps, targets) in examples {
        if (maps.num_layers, maps.num_heads) != (num_layers, num_heads) {
            return Err(Error::invalid(format!(
                "{}: attention of {} layers × {} heads, the first protein's has {num_layers} × \
                 {num_heads}",
                maps.protein, maps.num_layers, maps.num_heads
            )));
        }
        let (f, l) = contact_training_rows(maps, targets, options.min_separation)?;
        features.extend(f);
        labels.extend(l);
    }
    let contacts = labels.iter().filter(|&&l| l).count();
    if contacts == 0 {
        return Err(Error::invalid(format!(
            "the {} training proteins have no contact {} or more residues apart",
            examples.len(),
            options.min_separation
        )));
    }
    let width = num_layers * num_heads;
    let layers: Vec<usize> = match &options.layers {
        None => (0..num_layers).collect(),
        Some(list) => {
            if let Some(bad) = list.iter().find(|&&l| l >= num_layers) {
                return Err(Error::Setting {
                    field: "layers",
                    value: bad.to_string(),
                    message: format!("the model has layers 0..{}", num_layers - 1),
                });
            }
            let mut list = list.clone();
            list.sort_unstable();
            list.dedup();
            list
        }
    };
    // The features of the chosen layers' heads, and where each sits in the full head.
    let columns: Vec<usize> = layers
        .iter()
        .flat_map(|&l| l * num_heads..(l + 1) * num_heads)
        .collect();
    let features: Vec<f32> = if columns.len() == width {
        features
    } else {
        features
            .chunks_exact(width)
            .flat_map(|row| columns.iter().map(move |&c| row[c]))
            .collect()
    };
    let regression = fit_l1_logistic(&features, columns.len(), &labels, &options.regression)?;
    let mut weight = vec![0f32; width];
    for (&c, &w) in columns.iter().zip(&regression.weights) {
        weight[c] = w as f32;
    }
    let head = ContactHead::new(weight, regression.intercept as f32, num_layers, num_heads)?;
    Ok(ContactHeadFit {
        head,
        regression,
        pairs: labels.len(),
        contacts,
    })
}

/// One protein for fitting or scoring contacts from attention: its attention maps and the
/// contact targets (1 contact, 0 none, −1 unresolved; row-major n × n) of the residues the
/// model saw.
#[derive(Debug, Clone)]
pub struct ContactExample {
    pub maps: AttentionMaps,
    pub targets: Vec<i8>,
}

/// The attention maps of a structure's chain (its SEQRES sequence, else its observed residues,
/// cut to `max_len` tokens) and its contact targets: `atom` distances below `cutoff` Å.
pub fn contact_example(
    model: &ProteinModel,
    id: &str,
    chain: &crate::structure::ChainResidues,
    atom: crate::structure::ContactAtom,
    cutoff: f64,
    max_len: Option<usize>,
) -> Result<ContactExample> {
    use crate::structure::{DistanceMatrix, Numbering};
    let sequence = chain.sequence();
    let encoded = model.encode_sequence(id, &sequence, max_len)?;
    let maps = attention_maps(model, &[encoded])?.remove(0);
    let mapping = chain
        .map_to(Some(&sequence), Numbering::Align)
        .map_err(|e| Error::invalid(format!("{id}: chain residues: {e}")))?;
    let full = DistanceMatrix::from_chain(chain, &mapping, atom).contact_targets(cutoff);
    // A cut sequence keeps the targets of the residues the model saw.
    let (len, n) = (mapping.sequence_len, maps.residues());
    let targets = (0..n)
        .flat_map(|i| full[i * len..i * len + n].iter().copied())
        .collect();
    Ok(ContactExample { maps, targets })
}

/// How well a contact head fitted on some layers' heads predicts held-out proteins.
#[derive(Debug, Clone)]
pub struct LayerContactPrecision {
    /// The layer whose heads the head was fitted on (0-based); `None` for every layer.
    pub layer: Option<usize>,
    /// Heads with a non-zero weight after the L1 fit.
    pub nonzero_weights: usize,
    /// The fitted contact head (zero weights outside `layer`).
    pub head: ContactHead,
    /// Each test protein's precisions in each of esm's ranges.
    pub evaluations: Vec<crate::stats::contacts::ContactEvaluation>,
}

/// Where in depth a model knows contacts (BERTology's question, Rao et al.'s head): a contact
/// head fitted on `train` for every layer on its own and one on all layers, each scored on
/// `test` the way esm scores contact predictions. `options.layers` is ignored. `on_fit` is
/// called after each of the `num_layers + 1` fits.
pub fn contact_precision_by_layer(
    train: &[ContactExample],
    test: &[ContactExample],
    options: &ContactFitOptions,
    on_fit: &mut dyn FnMut(Option<usize>),
) -> Result<Vec<LayerContactPrecision>> {
    use crate::stats::contacts::{evaluate_contacts, ContactEvaluation};
    let Some(first) = train.first() else {
        return Err(Error::invalid(
            "contact precision by layer needs at least one training protein",
        ));
    };
    if test.is_empty() {
        return Err(Error::invalid(
            "contact precision by layer needs at least one test protein",
        ));
    }
    let examples: Vec<(&AttentionMaps, &[i8])> = train
        .iter()
        .map(|e| (&e.maps, e.targets.as_slice()))
        .collect();
    let choices: Vec<Option<usize>> = (0..first.maps.num_layers)
        .map(Some)
        .chain(std::iter::once(None))
        .collect();
    let mut results = Vec::with_capacity(choices.len());
    for layer in choices {
        let fit = fit_contact_head(
            &examples,
            &ContactFitOptions {
                layers: layer.map(|l| vec![l]),
                ..options.clone()
            },
        )?;
        let mut evaluations = Vec::new();
        for example in test {
            let map = contact_map(&example.maps, &fit.head)?;
            let n = map.residues;
            let length = crate::stats::contacts::resolved_residues(&example.targets, n);
            for (range, precisions) in evaluate_contacts(&map.probabilities, &example.targets, n)
                .map_err(|e| Error::invalid(format!("{}: {e}", map.protein)))?
            {
                evaluations.push(ContactEvaluation {
                    protein: map.protein.clone(),
                    range,
                    length,
                    precisions,
                });
            }
        }
        results.push(LayerContactPrecision {
            layer,
            nonzero_weights: fit.regression.weights.iter().filter(|w| **w != 0.0).count(),
            evaluations,
            head: fit.head,
        });
        on_fit(layer);
    }
    Ok(results)
}

/// Mean precisions per fitted layer and range: `layer` (0-based; null for the head on every
/// layer), `nonzero_weights`, then the columns of [`crate::stats::contacts::mean_frame`].
pub fn layer_precision_frame(rows: &[LayerContactPrecision]) -> Result<DataFrame> {
    let mut frames = Vec::with_capacity(rows.len());
    for row in rows {
        let means = crate::stats::contacts::mean_frame(&row.evaluations)?;
        let height = means.height();
        let mut columns = vec![
            Column::new("layer".into(), vec![row.layer.map(|l| l as i64); height]),
            Column::new(
                "nonzero_weights".into(),
                vec![row.nonzero_weights as u32; height],
            ),
        ];
        columns.extend(means.columns().iter().cloned());
        frames.push(DataFrame::new(height, columns)?);
    }
    crate::frame::stack_frames(&frames)?.ok_or_else(|| Error::invalid("no layers to tabulate"))
}
