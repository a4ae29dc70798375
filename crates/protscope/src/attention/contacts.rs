//! Residue contacts predicted from attention (Rao et al. 2020), as ESM's
//! `ContactPredictionHead` computes them: every layer × head map of the residues (special
//! tokens dropped), symmetrised (A + Aᵀ) and APC-corrected (F − F·1 1ᵀF / 1ᵀF1, per map), is
//! one feature of each residue pair; a logistic regression over the features
//! ([`ContactHead`]) gives the contact probability.

use std::borrow::Borrow;

use candle_core::{DType, Tensor};
use polars::prelude::*;

use super::{attention_maps, AttentionMaps};
use crate::model::{ContactHead, EncodedSequence, ProteinModel};
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
    let x = maps.residue_weights()?.get(layer)?.to_dtype(DType::F32)?; // (heads, n, n)
    let sym = (&x + x.transpose(1, 2)?)?;
    let row = sym.sum_keepdim(2)?; // (heads, n, 1)
    let column = sym.sum_keepdim(1)?; // (heads, 1, n)
    let total = sym.sum_keepdim(2)?.sum_keepdim(1)?; // (heads, 1, 1)
    let average = row.broadcast_mul(&column)?.broadcast_div(&total)?;
    Ok((sym - average)?)
}

/// Contact probabilities of one protein from its attention maps and a contact head of the
/// same shape. Feature maps are formed a layer at a time (memory: heads · n² values).
pub fn contact_map(maps: &AttentionMaps, head: &ContactHead) -> Result<ContactMap> {
    if (head.num_layers(), head.num_heads()) != (maps.num_layers, maps.num_heads) {
        return Err(Error::invalid(format!(
            "the contact head is for {} layers × {} heads, the model has {} × {}",
            head.num_layers(),
            head.num_heads(),
            maps.num_layers,
            maps.num_heads
        )));
    }
    let n = maps.residues();
    let mut logits = vec![head.bias(); n * n];
    for layer in 0..maps.num_layers {
        let features: Vec<f32> = layer_pair_features(maps, layer)?.flatten_all()?.to_vec1()?;
        for (h, &w) in head.layer_weights(layer).iter().enumerate() {
            let map = &features[h * n * n..(h + 1) * n * n];
            for (logit, &f) in logits.iter_mut().zip(map) {
                *logit += w * f;
            }
        }
    }
    let probabilities = logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect();
    Ok(ContactMap {
        protein: maps.protein.clone(),
        residues: n,
        probabilities,
    })
}

/// The model's own contact head, or an error saying it has none.
pub fn require_contact_head(model: &ProteinModel) -> Result<&ContactHead> {
    model.contact_head().ok_or_else(|| {
        Error::file(
            &model.dir,
            "this model has no contact head (ESM-2 checkpoints carry one, \
             `esm.contact_head.regression`); fitting one on structures for any model \
             (contacts-fit) is not implemented yet",
        )
    })
}

/// Contact maps of `seqs` from the model's own contact head (ESM-2), one padded pass for all.
pub fn predict_contacts<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
) -> Result<Vec<ContactMap>> {
    let head = require_contact_head(model)?;
    attention_maps(model, seqs)?
        .iter()
        .map(|maps| contact_map(maps, head))
        .collect()
}

/// `protein, i, j, probability` for every residue pair i < j (1-based positions).
pub fn contacts_frame(maps: &[ContactMap]) -> Result<DataFrame> {
    let rows: usize = maps
        .iter()
        .map(|m| m.residues * m.residues.saturating_sub(1) / 2)
        .sum();
    let mut protein = Vec::with_capacity(rows);
    let (mut is, mut js, mut probability) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for map in maps {
        for i in 0..map.residues {
            for j in i + 1..map.residues {
                protein.push(map.protein.as_str());
                is.push(i as u32 + 1);
                js.push(j as u32 + 1);
                probability.push(map.get(i, j));
            }
        }
    }
    let columns = vec![
        Column::new("protein".into(), protein),
        Column::new("i".into(), is),
        Column::new("j".into(), js),
        Column::new("probability".into(), probability),
    ];
    Ok(DataFrame::new(rows, columns)?)
}
