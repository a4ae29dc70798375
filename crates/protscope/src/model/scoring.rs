//! Sequence scoring: how probable a language model finds a sequence (humanness, naturalness,
//! variant ranking, as Sapiens and IgLM users score antibodies).
//!
//! - **causal** (decoders with an `lm` output): the log-probability of each token given the
//!   tokens before it, from one forward pass. As IgLM's `log_likelihood` scores: from the last
//!   token before the residues on (with IgLM's prefix `[CHAIN] [SPECIES]`, the species token),
//!   every residue and the closing token are scored, and the mean is over them. Without any
//!   token before the residues the first residue has no context and is not scored.
//! - **pseudo** (masked language models with an `mlm` output and a mask token): the
//!   pseudo-log-likelihood of Salazar et al. (2020): each residue masked in turn, its
//!   log-probability read at its position; one forward pass per residue, the masked copies of a
//!   sequence run in batches. Special tokens are not scored.
//!
//! Log-probabilities are log-softmax over the whole vocabulary (as cross-entropy is), in f64.
//! `perplexity` is `exp(−mean log-likelihood)`.

use polars::prelude::*;

use super::encoder::ForwardOptions;
use super::gpt2::CAUSAL_LM_OUTPUT;
use super::{EncodedSequence, ProteinModel};
use crate::{Error, Result};

/// How a sequence is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreMethod {
    /// Next-token log-probabilities of a causal decoder.
    Causal,
    /// Pseudo-log-likelihood of a masked language model.
    Pseudo,
}

impl ScoreMethod {
    /// The method a model supports: causal for decoders, pseudo for masked LMs.
    pub fn for_model(model: &ProteinModel) -> Result<ScoreMethod> {
        if model.is_causal() {
            model.output(CAUSAL_LM_OUTPUT)?;
            return Ok(ScoreMethod::Causal);
        }
        model.output("mlm").map_err(|_| {
            Error::invalid(
                "scoring needs a language model: a causal decoder with an `lm` output or a masked \
                 LM with an `mlm` output (e.g. a *ForMaskedLM folder)",
            )
        })?;
        if model.tokenizer.mask_id().is_none() {
            return Err(Error::invalid(
                "pseudo-log-likelihood masks each residue in turn, but the model's vocabulary \
                 has no mask token",
            ));
        }
        Ok(ScoreMethod::Pseudo)
    }

    pub fn name(self) -> &'static str {
        match self {
            ScoreMethod::Causal => "causal",
            ScoreMethod::Pseudo => "pseudo",
        }
    }
}

/// One residue's score.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidueScore {
    /// 1-based residue position.
    pub position: usize,
    pub residue: char,
    /// log p(residue | context): the tokens before it (causal) or all others (pseudo).
    pub log_prob: f64,
    /// The most probable of the 20 standard amino acids at this position.
    pub predicted: char,
    pub predicted_log_prob: f64,
}

/// One sequence's score.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceScore {
    pub protein: String,
    pub method: ScoreMethod,
    /// Tokens scored: the residues (pseudo), or the residues with context and the closing
    /// tokens (causal).
    pub n_scored: usize,
    /// Sum of the scored tokens' log-probabilities.
    pub log_likelihood: f64,
    /// One row per scored residue.
    pub residues: Vec<ResidueScore>,
}

impl SequenceScore {
    pub fn mean_log_likelihood(&self) -> f64 {
        self.log_likelihood / self.n_scored as f64
    }

    pub fn perplexity(&self) -> f64 {
        (-self.mean_log_likelihood()).exp()
    }
}

/// Options of [`score_sequences`].
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    /// Forward passes per batch: sequences (causal) or masked copies (pseudo).
    pub batch_size: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { batch_size: 32 }
    }
}

/// log-softmax of one row of logits, in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    let log_z = max + sum.ln();
    row.iter().map(|&v| v as f64 - log_z).collect()
}

/// The token ids of the 20 standard amino acids, with their letters.
fn amino_acid_tokens(model: &ProteinModel) -> Vec<(char, u32)> {
    "ACDEFGHIKLMNPQRSTVWY"
        .chars()
        .filter_map(|c| model.tokenizer.residue_token_id(c).map(|id| (c, id)))
        .collect()
}

fn residue_score(
    log_probs: &[f64],
    token: u32,
    position: usize,
    residue: char,
    amino_acids: &[(char, u32)],
) -> ResidueScore {
    let (predicted, predicted_log_prob) = amino_acids
        .iter()
        .map(|&(c, id)| (c, log_probs[id as usize]))
        .fold(('X', f64::NEG_INFINITY), |best, next| {
            if next.1 > best.1 {
                next
            } else {
                best
            }
        });
    ResidueScore {
        position,
        residue,
        log_prob: log_probs[token as usize],
        predicted,
        predicted_log_prob,
    }
}

/// (B, T, V) logits of output `name` for a batch of token-id rows of one length each.
fn logits_rows(
    model: &ProteinModel,
    seqs: &[&EncodedSequence],
    name: &str,
) -> Result<Vec<Vec<f32>>> {
    let batch = model.batch(seqs)?;
    let out = model.forward(&batch, ForwardOptions::default())?;
    let logits = model
        .output_logits(name, &out)?
        .to_dtype(candle_core::DType::F32)?;
    let (b, t, v) = logits.dims3()?;
    let flat = logits.flatten_all()?.to_vec1::<f32>()?;
    Ok((0..b)
        .map(|i| flat[i * t * v..(i + 1) * t * v].to_vec())
        .collect())
}

/// Scores of `seqs` by the model's method ([`ScoreMethod::for_model`]).
pub fn score_sequences(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    options: &ScoreOptions,
) -> Result<Vec<SequenceScore>> {
    let method = ScoreMethod::for_model(model)?;
    let batch_size = options.batch_size.max(1);
    let amino_acids = amino_acid_tokens(model);
    let vocab = model.output(match method {
        ScoreMethod::Causal => CAUSAL_LM_OUTPUT,
        ScoreMethod::Pseudo => "mlm",
    })?;
    let v = vocab.num_classes;
    let mut scores = Vec::with_capacity(seqs.len());
    match method {
        ScoreMethod::Causal => {
            for chunk in seqs.chunks(batch_size) {
                let refs: Vec<&EncodedSequence> = chunk.iter().collect();
                let rows = logits_rows(model, &refs, CAUSAL_LM_OUTPUT)?;
                for (seq, logits) in chunk.iter().zip(rows) {
                    // Token t is predicted at position t − 1; the first scored token is the
                    // first residue that has a token before it.
                    let first = seq.residue_start.max(1);
                    let mut log_likelihood = 0.0;
                    let mut residues = Vec::new();
                    for t in first..seq.ids.len() {
                        let log_probs = log_softmax(&logits[(t - 1) * v..t * v]);
                        let token = seq.ids[t];
                        log_likelihood += log_probs[token as usize];
                        if seq.residue_tokens().contains(&t) {
                            let k = t - seq.residue_start;
                            residues.push(residue_score(
                                &log_probs,
                                token,
                                k + 1,
                                seq.residues[k],
                                &amino_acids,
                            ));
                        }
                    }
                    scores.push(SequenceScore {
                        protein: seq.id.clone(),
                        method,
                        n_scored: seq.ids.len() - first,
                        log_likelihood,
                        residues,
                    });
                }
            }
        }
        ScoreMethod::Pseudo => {
            let mask = model
                .tokenizer
                .mask_id()
                .ok_or_else(|| Error::invalid("the model's vocabulary has no mask token"))?;
            for seq in seqs {
                let tokens: Vec<usize> = seq.residue_tokens().collect();
                let mut residues = Vec::with_capacity(tokens.len());
                for chunk in tokens.chunks(batch_size) {
                    let masked: Vec<EncodedSequence> = chunk
                        .iter()
                        .map(|&t| {
                            let mut copy = seq.clone();
                            copy.ids[t] = mask;
                            copy
                        })
                        .collect();
                    let refs: Vec<&EncodedSequence> = masked.iter().collect();
                    let rows = logits_rows(model, &refs, "mlm")?;
                    for (&t, logits) in chunk.iter().zip(rows) {
                        let log_probs = log_softmax(&logits[t * v..(t + 1) * v]);
                        let k = t - seq.residue_start;
                        residues.push(residue_score(
                            &log_probs,
                            seq.ids[t],
                            k + 1,
                            seq.residues[k],
                            &amino_acids,
                        ));
                    }
                }
                scores.push(SequenceScore {
                    protein: seq.id.clone(),
                    method,
                    n_scored: residues.len(),
                    log_likelihood: residues.iter().map(|r| r.log_prob).sum(),
                    residues,
                });
            }
        }
    }
    Ok(scores)
}

/// The `sequence_scores` table: one row per sequence.
pub fn scores_frame(scores: &[SequenceScore]) -> Result<DataFrame> {
    Ok(df!(
        "protein" => scores.iter().map(|s| s.protein.clone()).collect::<Vec<_>>(),
        "n_scored" => scores.iter().map(|s| s.n_scored as i64).collect::<Vec<_>>(),
        "log_likelihood" => scores.iter().map(|s| s.log_likelihood).collect::<Vec<_>>(),
        "mean_log_likelihood" => scores.iter().map(|s| s.mean_log_likelihood()).collect::<Vec<_>>(),
        "perplexity" => scores.iter().map(|s| s.perplexity()).collect::<Vec<_>>(),
        "method" => scores.iter().map(|s| s.method.name().to_string()).collect::<Vec<_>>(),
    )?)
}

/// The `residue_scores` table: one row per scored residue.
pub fn residue_scores_frame(scores: &[SequenceScore]) -> Result<DataFrame> {
    let rows = || {
        scores
            .iter()
            .flat_map(|s| s.residues.iter().map(move |r| (s, r)))
    };
    Ok(df!(
        "protein" => rows().map(|(s, _)| s.protein.clone()).collect::<Vec<_>>(),
        "position" => rows().map(|(_, r)| r.position as i64).collect::<Vec<_>>(),
        "residue" => rows().map(|(_, r)| r.residue.to_string()).collect::<Vec<_>>(),
        "log_prob" => rows().map(|(_, r)| r.log_prob).collect::<Vec<_>>(),
        "predicted" => rows().map(|(_, r)| r.predicted.to_string()).collect::<Vec<_>>(),
        "predicted_log_prob" => rows().map(|(_, r)| r.predicted_log_prob).collect::<Vec<_>>(),
        "method" => rows().map(|(s, _)| s.method.name().to_string()).collect::<Vec<_>>(),
    )?)
}
