//! Everyday outputs as Polars tables: class predictions of every sequence-level output, and
//! per-residue or pooled hidden states.

use std::borrow::Borrow;
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use polars::prelude::*;

use super::{Capture, EncodedSequence, ForwardOptions, OutputLevel, ProteinModel};
use crate::{Error, Result};

/// Column layout of [`predictions_frame`].
pub fn empty_predictions_frame() -> DataFrame {
    df!(
        "protein" => Vec::<String>::new(),
        "output" => Vec::<String>::new(),
        "class" => Vec::<i64>::new(),
        "label" => Vec::<Option<String>>::new(),
        "logit" => Vec::<f32>::new(),
        "prob" => Vec::<f32>::new(),
    )
    .expect("static schema")
}

/// One row per (protein, sequence-level output, class): logit and probability (softmax over the
/// output's classes; sigmoid per class for multi-label outputs). Token-level outputs (MLM) are
/// skipped.
pub fn predictions_frame<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
) -> Result<DataFrame> {
    let batch = model.batch(seqs)?;
    let out = model.forward(&batch, ForwardOptions::default())?;
    let mut frame = empty_predictions_frame();
    for output in model
        .outputs()
        .iter()
        .filter(|h| h.level == OutputLevel::Sequence)
    {
        let logits = model
            .output_logits(&output.name, &out)?
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?;
        let probs = if output.multi_label {
            candle_nn::ops::sigmoid(&logits)?
        } else {
            candle_nn::ops::softmax(&logits, D::Minus1)?
        };
        let logits: Vec<Vec<f32>> = logits.to_vec2()?;
        let probs: Vec<Vec<f32>> = probs.to_vec2()?;
        let (mut protein, mut class, mut label, mut logit, mut prob) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, s) in seqs.iter().map(Borrow::borrow).enumerate() {
            if logits[i].iter().any(|v| !v.is_finite()) {
                return Err(Error::sequence(
                    &s.id,
                    format!("output `{}` produced NaN logits", output.name),
                ));
            }
            for c in 0..output.num_classes {
                protein.push(s.id.clone());
                class.push(c as i64);
                label.push(output.label(c).map(String::from));
                logit.push(logits[i][c]);
                prob.push(probs[i][c]);
            }
        }
        let rows = protein.len();
        let part = df!(
            "protein" => protein,
            "output" => vec![output.name.as_str(); rows],
            "class" => class,
            "label" => label,
            "logit" => logit,
            "prob" => prob,
        )?;
        frame.vstack_mut(&part)?;
    }
    Ok(frame)
}

/// How [`embeddings_frame`] reduces the residues of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// One row per residue (positions 1..n).
    None,
    /// Mean over residues (special tokens excluded); position is null.
    Mean,
    /// The first special token's state (position 0).
    Cls,
}

/// Layer index convention shared with the attribution tables: -1 = embedding-module output,
/// 0..L-1 = output of that block (the last one after the final LayerNorm for ESM-2).
pub fn empty_embeddings_frame() -> DataFrame {
    let mut df = df!(
        "protein" => Vec::<String>::new(),
        "layer" => Vec::<i64>::new(),
        "position" => Vec::<Option<i64>>::new(),
    )
    .expect("static schema");
    let empty = Series::new_empty(
        "embedding".into(),
        &DataType::List(Box::new(DataType::Float32)),
    );
    df.with_column(empty.into()).expect("static schema");
    df
}

/// Hidden states of `layers` (see [`empty_embeddings_frame`] for the numbering), pooled as asked.
pub fn embeddings_frame<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    seqs: &[S],
    layers: &[i64],
    pooling: Pooling,
) -> Result<DataFrame> {
    let n_layers = model.num_layers() as i64;
    if let Some(&bad) = layers.iter().find(|&&l| l < -1 || l >= n_layers) {
        return Err(Error::invalid(format!(
            "layer {bad} does not exist: use -1 (embedding output) or 0..{}",
            n_layers - 1
        )));
    }
    if pooling == Pooling::Cls && model.tokenizer.first_token.is_none() {
        return Err(Error::setting(
            "pooling",
            "cls",
            "this model has no leading special token (T5, XLNet); use mean or none",
        ));
    }
    let batch = model.batch(seqs)?;
    let out = model.forward(
        &batch,
        ForwardOptions {
            capture: Capture {
                hidden_states: true,
                ..Capture::none()
            },
            ..Default::default()
        },
    )?;
    let (mut protein, mut layer_col, mut position, mut vectors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::<Series>::new());
    for &layer in layers {
        let states = out.hidden_states[(layer + 1) as usize].to_device(&Device::Cpu)?;
        for (i, s) in seqs.iter().map(Borrow::borrow).enumerate() {
            let (n, start) = (s.residues.len(), s.residue_start);
            let h = states.get(i)?; // (T, H)
            let rows: Vec<(Option<i64>, Tensor)> = match pooling {
                Pooling::None => (0..n)
                    .map(|p| Ok((Some(p as i64 + 1), h.get(p + start)?)))
                    .collect::<Result<_>>()?,
                Pooling::Mean => vec![(None, h.narrow(0, start, n)?.mean(0)?)],
                Pooling::Cls => vec![(Some(0), h.get(0)?)],
            };
            for (pos, v) in rows {
                let v: Vec<f32> = v.to_dtype(DType::F32)?.to_vec1()?;
                protein.push(s.id.clone());
                layer_col.push(layer);
                position.push(pos);
                vectors.push(Series::new("".into(), v));
            }
        }
    }
    let mut df = df!("protein" => protein, "layer" => layer_col, "position" => position)?;
    df.with_column(Series::new("embedding".into(), vectors).into())?;
    Ok(df)
}

/// Indices of `lengths` in batches of at most `batch_size`, shortest first, so that each padded
/// batch holds sequences of similar length (little compute spent on padding). Ties keep input
/// order.
pub fn length_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(batch_size.max(1))
        .map(|chunk| chunk.to_vec())
        .collect()
}

/// `table` (a per-protein table builder such as [`predictions_frame`]) run on `batches` of
/// `seqs` (index lists, e.g. from [`length_batches`] or [`super::memory::forward_batches`]), its
/// rows returned grouped by protein in input order (each protein's rows in the order `table` gave
/// them), whatever the batching. The frame needs a `protein` column holding the sequences' ids.
pub fn frame_in_batches<S: Borrow<EncodedSequence>>(
    seqs: &[S],
    batches: &[Vec<usize>],
    mut table: impl FnMut(&[&EncodedSequence]) -> Result<DataFrame>,
) -> Result<DataFrame> {
    let seqs: Vec<&EncodedSequence> = seqs.iter().map(Borrow::borrow).collect();
    let input_index: std::collections::HashMap<&str, u32> = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i as u32))
        .collect();
    let mut parts = Vec::new();
    for batch in batches {
        let refs: Vec<&EncodedSequence> = batch
            .iter()
            .map(|&i| {
                seqs.get(i)
                    .copied()
                    .ok_or_else(|| Error::invalid(format!("batch index {i} out of range")))
            })
            .collect::<Result<_>>()?;
        parts.push(table(&refs)?);
    }
    let Some(frame) = crate::frame::stack_frames(&parts)? else {
        return Err(Error::invalid("no sequences to run"));
    };
    let proteins = frame.column("protein")?.str()?.clone();
    let order: Vec<u32> = proteins
        .iter()
        .map(|id| {
            id.and_then(|id| input_index.get(id).copied())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "internal: a table row names protein {id:?}, not in the batch"
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let mut index: Vec<usize> = (0..order.len()).collect();
    index.sort_by_key(|&row| order[row]);
    let index = IdxCa::from_vec(
        "row".into(),
        index.into_iter().map(|i| i as IdxSize).collect(),
    );
    Ok(frame.take(&index)?)
}

/// Most probable class of `output` per protein (from [`predictions_frame`])..
pub fn predicted_classes(predictions: &DataFrame, output: &str) -> Result<HashMap<String, usize>> {
    use crate::frame::columns::{floats, integers, texts};
    let what = "predictions";
    let protein = texts(predictions, what, "protein")?;
    let outputs = texts(predictions, what, "output")?;
    let class = integers(predictions, what, "class")?;
    let prob = floats(predictions, what, "prob")?;
    let mut best: HashMap<String, (usize, f64)> = HashMap::new();
    for i in 0..predictions.height() {
        if outputs[i] != output {
            continue;
        }
        let e = best
            .entry(protein[i].clone())
            .or_insert((class[i] as usize, prob[i]));
        if prob[i] > e.1 {
            *e = (class[i] as usize, prob[i]);
        }
    }
    Ok(best.into_iter().map(|(p, (c, _))| (p, c)).collect())
}

/// [`predictions_frame`] over `seqs` in batches of `batch_size`, one table; `on_batch` gets the
/// number of sequences after each batch (progress).
pub fn predictions_in_batches(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    batch_size: usize,
    mut on_batch: impl FnMut(usize),
) -> Result<DataFrame> {
    let mut parts = Vec::new();
    for chunk in seqs.chunks(batch_size.max(1)) {
        parts.push(predictions_frame(model, chunk)?);
        on_batch(chunk.len());
    }
    crate::frame::stack_frames(&parts)?.ok_or_else(|| Error::invalid("no sequence to predict"))
}
#[cfg(test)]
mod length_batch_tests {
    use super::length_batches;

    #[test]
    fn batches_hold_similar_lengths_and_every_index_once() {
        let lengths = [120, 30, 500, 31, 118, 29, 1000];
        let batches = length_batches(&lengths, 3);
        assert_eq!(batches, vec![vec![5, 1, 3], vec![4, 0, 2], vec![6]]);
        assert_eq!(length_batches(&[], 4), Vec::<Vec<usize>>::new());
        assert_eq!(length_batches(&[5, 5], 0), vec![vec![0], vec![1]]);
    }
}
