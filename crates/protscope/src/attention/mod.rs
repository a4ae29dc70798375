//! Attention maps per layer and head, and their long-table form.

pub mod analysis;
pub mod blosum;
pub mod contacts;
pub mod heads;

use std::borrow::Borrow;

use candle_core::{DType, Device, Tensor};
use polars::prelude::*;

use crate::model::{AttentionSink, Capture, EncodedSequence, ForwardOptions, ProteinModel};
use crate::{Error, Result};

/// Attention probabilities of one protein: `weights[layer][head][from][to]` flattened as
/// (layers, heads, T, T) over ALL tokens, specials included (row = query, column = key).
#[derive(Debug, Clone)]
pub struct AttentionMaps {
    pub protein: String,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Tokens, specials included.
    pub tokens: usize,
    /// Token index of the first residue (1 after a leading special token, 0 in T5 and XLNet).
    pub residue_start: usize,
    /// Number of residues (the tokens between the leading and the final special tokens).
    pub residue_count: usize,
    /// (layers, heads, T, T) on the CPU.
    pub weights: Tensor,
    /// A causal decoder's maps (GPT-2): lower-triangular, query i sees keys 0..=i only. Head
    /// statistics then count only the edges that can exist in their backgrounds.
    pub causal: bool,
}

impl AttentionMaps {
    /// Residues (tokens minus the special tokens).
    pub fn residues(&self) -> usize {
        self.residue_count
    }

    /// Residue-only maps (layers, heads, n, n): special-token rows and columns dropped, weights
    /// NOT renormalised (as in Vig et al.).
    pub fn residue_weights(&self) -> Result<Tensor> {
        let n = self.residues();
        let s = self.residue_start;
        Ok(self.weights.narrow(2, s, n)?.narrow(3, s, n)?)
    }

    /// One head's residue-only map for a figure; `residues` are the sequence's residues (as
    /// given to the model, one per row).
    pub fn head_map(
        &self,
        layer: usize,
        head: usize,
        residues: &[char],
    ) -> Result<crate::plot::AttentionMap> {
        AttentionFilter {
            layers: vec![layer],
            heads: vec![head],
            min_weight: None,
        }
        .validate(self.num_layers, self.num_heads)?;
        if residues.len() != self.residues() {
            return Err(Error::sequence(
                &self.protein,
                format!(
                    "{} residues given for attention maps over {}",
                    residues.len(),
                    self.residues()
                ),
            ));
        }
        let weights: Vec<f32> = self
            .residue_weights()?
            .get(layer)?
            .get(head)?
            .flatten_all()?
            .to_vec1()?;
        let text: String = residues.iter().collect();
        Ok(crate::plot::AttentionMap::new(layer, head, &text, weights))
    }

    /// Mean distance |i − j| in residues between attending and attended residue of every head,
    /// weighted by attention among residues (specials dropped), `[layer * heads + head]`; None
    /// where a head puts no weight on residues. Vig et al. use it to tell local from long-range
    /// heads.
    pub fn mean_attention_distance(&self) -> Result<Vec<Option<f64>>> {
        let n = self.residues();
        if n == 0 {
            return Ok(vec![None; self.num_layers * self.num_heads]);
        }
        let weights: Vec<f32> = self.residue_weights()?.flatten_all()?.to_vec1()?;
        Ok(weights
            .chunks(n * n)
            .map(|head| {
                let (mut total, mut weighted) = (0f64, 0f64);
                for (k, &w) in head.iter().enumerate() {
                    let (i, j) = (k / n, k % n);
                    total += w as f64;
                    weighted += w as f64 * i.abs_diff(j) as f64;
                }
                (total > 0.0).then(|| weighted / total)
            })
            .collect())
    }
}

/// Which layers and heads to keep, and the smallest weight to report.
#[derive(Debug, Clone, Default)]
pub struct AttentionFilter {
    /// 0-based layers; empty = all.
    pub layers: Vec<usize>,
    /// 0-based heads; empty = all.
    pub heads: Vec<usize>,
    /// Keep weights >= this (None = keep all).
    pub min_weight: Option<f32>,
}

impl AttentionFilter {
    /// Checks the selection against the model's shape.
    pub fn validate(&self, num_layers: usize, num_heads: usize) -> Result<()> {
        if let Some(&l) = self.layers.iter().find(|&&l| l >= num_layers) {
            return Err(Error::invalid(format!(
                "layer {l} does not exist: the model has layers 0..{}",
                num_layers - 1
            )));
        }
        if let Some(&h) = self.heads.iter().find(|&&h| h >= num_heads) {
            return Err(Error::invalid(format!(
                "head {h} does not exist: the model has heads 0..{}",
                num_heads - 1
            )));
        }
        if let Some(t) = self.min_weight {
            if !(0.0..=1.0).contains(&t) {
                return Err(Error::setting("min_weight", t, "must lie in [0, 1]"));
            }
        }
        Ok(())
    }

    fn layer_list(&self, n: usize) -> Vec<usize> {
        if self.layers.is_empty() {
            (0..n).collect()
        } else {
            self.layers.clone()
        }
    }

    fn head_list(&self, n: usize) -> Vec<usize> {
        if self.heads.is_empty() {
            (0..n).collect()
        } else {
            self.heads.clone()
        }
    }
}

/// One protein's attention maps of one layer during a streaming pass ([`visit_layer_maps`]): a
/// view into the batch's buffer for that layer, gone when the visit returns.
#[derive(Debug, Clone, Copy)]
pub struct LayerMaps<'a> {
    pub layer: usize,
    /// Index of the protein in the batch.
    pub protein: usize,
    /// (heads, padded, padded) row-major: head h's row i (query) starts at (h · padded + i) ·
    /// padded; only the first `tokens` rows and columns belong to the protein.
    pub weights: &'a [f32],
    /// Tokens of the batch's longest sequence (the row length of `weights`).
    pub padded: usize,
    /// The protein's tokens, specials included.
    pub tokens: usize,
    /// Token index of the first residue.
    pub residue_start: usize,
    pub residue_count: usize,
}

impl LayerMaps<'_> {
    /// The protein's residue maps of this layer, (heads, n, n) on the CPU: special-token rows
    /// and columns dropped, weights not renormalised (as [`AttentionMaps::residue_weights`]).
    pub fn residue_tensor(&self) -> Result<Tensor> {
        let (p, s, n) = (self.padded, self.residue_start, self.residue_count);
        let heads = self.weights.len() / (p * p).max(1);
        let mut out = Vec::with_capacity(heads * n * n);
        for head in self.weights.chunks(p * p) {
            for i in s..s + n {
                out.extend_from_slice(&head[i * p + s..i * p + s + n]);
            }
        }
        Ok(Tensor::from_vec(out, (heads, n, n), &Device::Cpu)?)
    }
}

/// Runs `seqs` as one padded batch and calls `visit` with every protein's maps of each layer as
/// soon as the layer is computed; no layer's maps are kept. For statistics over many proteins
/// (head statistics, contact and probing features): memory holds one layer of one batch's maps,
/// not every layer's (ESM-2 650M at 1,000 residues: 0.08 instead of 2.7 GB per protein).
pub fn visit_layer_maps<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
    visit: &mut dyn FnMut(LayerMaps<'_>) -> Result<()>,
) -> Result<()> {
    let batch = model.batch(seqs)?;
    let seqs: Vec<&EncodedSequence> = seqs.iter().map(Borrow::borrow).collect();
    let visit = std::cell::RefCell::new(visit);
    let sink = |layer: usize, probs: &Tensor| -> Result<()> {
        let probs = probs
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .contiguous()?;
        let (b, heads, rows, padded) = probs.dims4()?;
        if b != seqs.len() || rows != padded {
            return Err(Error::invalid(format!(
                "internal: layer {layer} maps are {:?} for {} sequences",
                probs.dims(),
                seqs.len()
            )));
        }
        let (storage, layout) = probs.storage_and_layout();
        let all = match (&*storage, layout.contiguous_offsets()) {
            (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, z))) => &v[a..z],
            _ => return Err(Error::invalid("internal: maps are not contiguous f32")),
        };
        if let Some(bad) = seqs
            .iter()
            .zip(all.chunks(heads * padded * padded))
            .find(|(_, m)| {
                // NaN anywhere reaches every later layer's maps: the last layer tells.
                layer + 1 == model.num_layers() && !crate::model::fastmath::sum(m).is_finite()
            })
        {
            return Err(Error::sequence(
                &bad.0.id,
                "the model produced NaN/infinite attention; check the weights and the `device`",
            ));
        }
        let mut visit = visit.borrow_mut();
        for (i, (s, weights)) in seqs
            .iter()
            .zip(all.chunks(heads * padded * padded))
            .enumerate()
        {
            (*visit)(LayerMaps {
                layer,
                protein: i,
                weights,
                padded,
                tokens: s.len(),
                residue_start: s.residue_start,
                residue_count: s.residues.len(),
            })?;
        }
        Ok(())
    };
    model.forward(
        &batch,
        ForwardOptions {
            attention_sink: Some(AttentionSink(&sink)),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// Runs a padded batch and returns each sequence's attention maps (padding removed), on the CPU.
pub fn attention_maps<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
) -> Result<Vec<AttentionMaps>> {
    let batch = model.batch(seqs)?;
    let mut out = model.forward(
        &batch,
        ForwardOptions {
            capture: Capture {
                attentions: true,
                ..Capture::none()
            },
            ..Default::default()
        },
    )?;
    let seqs: Vec<&EncodedSequence> = seqs.iter().map(Borrow::borrow).collect();
    let (num_layers, num_heads) = (model.num_layers(), model.num_heads());
    // Each protein's maps are a view into the pass's one (layers, B, heads, T, T) buffer: the
    // maps exist once (ESM-2 650M at 2,000 residues: 10.6 GB). A single unpadded protein's view
    // is contiguous; a batch member's is strided, and readers copy one protein at a time.
    let stack = out
        .attention_stack
        .take()
        .ok_or_else(|| Error::invalid("internal: the pass kept no attention stack"))?
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?;
    seqs.iter()
        .enumerate()
        .map(|(i, s)| {
            let t = s.len();
            let w = stack.narrow(1, i, 1)?.squeeze(1)?;
            let w = if t < w.dim(2)? {
                w.narrow(2, 0, t)?.narrow(3, 0, t)?
            } else {
                w
            };
            // NaN anywhere reaches every later layer's maps: the last layer tells.
            check_finite(&w.get(num_layers - 1)?, &s.id)?;
            Ok(AttentionMaps {
                protein: s.id.clone(),
                num_layers,
                num_heads,
                tokens: t,
                residue_start: s.residue_start,
                residue_count: s.residues.len(),
                weights: w,
                causal: model.is_causal(),
            })
        })
        .collect()
}

fn check_finite(t: &Tensor, id: &str) -> Result<()> {
    let s = t.sum_all()?.to_scalar::<f32>()?;
    if !s.is_finite() {
        return Err(Error::sequence(
            id,
            "the model produced NaN/infinite attention; check the weights and the `device`",
        ));
    }
    Ok(())
}

/// Column layout of the attention long table.
pub fn empty_attention_frame() -> DataFrame {
    df!(
        "protein" => Vec::<String>::new(),
        "layer" => Vec::<i64>::new(),
        "head" => Vec::<i64>::new(),
        "from" => Vec::<i64>::new(),
        "to" => Vec::<i64>::new(),
        "weight" => Vec::<f32>::new(),
    )
    .expect("static schema")
}

/// Long table of one protein's attention: one row per (layer, head, from, to) over residues
/// (1-based positions; special-token rows and columns dropped; weights not renormalised).
pub fn attention_frame(maps: &AttentionMaps, filter: &AttentionFilter) -> Result<DataFrame> {
    let mut frame = empty_attention_frame();
    attention_frame_by_layer(maps, filter, |part| {
        Ok(frame.vstack_mut(&part).map(|_| ())?)
    })?;
    Ok(frame)
}

/// The rows of [`attention_frame`], one layer at a time, handed to `emit` (e.g. a table sink):
/// only one layer's rows exist at once (a 1,000-residue protein has 16 M rows per ProtBert layer).
pub fn attention_frame_by_layer(
    maps: &AttentionMaps,
    filter: &AttentionFilter,
    mut emit: impl FnMut(DataFrame) -> Result<()>,
) -> Result<()> {
    filter.validate(maps.num_layers, maps.num_heads)?;
    let n = maps.residues();
    let threshold = filter.min_weight.unwrap_or(f32::NEG_INFINITY);
    for l in filter.layer_list(maps.num_layers) {
        // (heads, n, n) of this layer.
        let values: Vec<f32> = maps
            .weights
            .get(l)?
            .narrow(1, maps.residue_start, n)?
            .narrow(2, maps.residue_start, n)?
            .contiguous()?
            .flatten_all()?
            .to_vec1()?;
        let (mut head, mut from, mut to, mut weight) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for h in filter.head_list(maps.num_heads) {
            let base = h * n * n;
            for i in 0..n {
                let row = &values[base + i * n..base + (i + 1) * n];
                for (j, &w) in row.iter().enumerate() {
                    if w >= threshold {
                        head.push(h as i64);
                        from.push(i as i64 + 1);
                        to.push(j as i64 + 1);
                        weight.push(w);
                    }
                }
            }
        }
        let rows = head.len();
        emit(df!(
            "protein" => vec![maps.protein.as_str(); rows],
            "layer" => vec![l as i64; rows],
            "head" => head,
            "from" => from,
            "to" => to,
            "weight" => weight,
        )?)?;
    }
    Ok(())
}
