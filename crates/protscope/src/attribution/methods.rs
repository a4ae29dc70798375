//! Attribution methods beside integrated gradients, on the same encoder core and into the same
//! tables: gradient × input and saliency at the embedding output, SmoothGrad (saliency averaged
//! over seeded Gaussian noise on the embedding output), attention rollout (Abnar & Zuidema 2020)
//! and AttnLRP (Achtibat et al. 2024, in [`super::attnlrp`]). Each gives an [`Explanation`]:
//! one relevance per token at the embedding level, and per layer × head where the method
//! defines it (IG and AttnLRP), with the method's own check.
//!
//! What each one computes, for the target logit F and the embedding-module output e (T, H):
//! - saliency: Σ_d |∂F/∂e[t, d]| (Captum's `Saliency`, `abs=True`, summed over the hidden axis);
//! - gradient × input: Σ_d e[t, d] · ∂F/∂e[t, d] (Captum's `LayerGradientXActivation` on the
//!   embedding module);
//! - SmoothGrad: (1/S) Σ_s Σ_d |∂F/∂e(e + σ n_s)[t, d]| with n_s standard normal noise drawn by
//!   [`smoothgrad_noise`] (Captum's `NoiseTunnel(Saliency)`, `nt_type="smoothgrad"`);
//! - rollout: heads averaged, Â = 0.5·A + 0.5·I with rows renormalised, R = Â_L ⋯ Â_1; the
//!   relevance is the row of the token the output summarises ([`SequencePooling`]): the first
//!   token for BERT's pooler and ESM's classification head, the last real token (`<cls>`) for
//!   XLNet, and the mean of all rows for mean-pooled classifiers (T5, ESM C).

use candle_core::{DType, Device, Tensor, Var};

use super::flip::{protein_seed, SplitMix64};
use super::integrated_gradients::{check_output, objective_for, Objective};
use super::{IgOptions, IgResult};
use crate::model::{Capture, EncodedSequence, ForwardOptions, ProteinModel, SequencePooling};
use crate::{Error, Result};

/// An attribution method (`attribute --attribution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributionMethod {
    IntegratedGradients,
    AttnLrp,
    GradientXInput,
    Saliency,
    SmoothGrad,
    Rollout,
}

impl AttributionMethod {
    /// Every method, in the order tables and figures list them.
    pub const ALL: [AttributionMethod; 6] = [
        AttributionMethod::IntegratedGradients,
        AttributionMethod::AttnLrp,
        AttributionMethod::GradientXInput,
        AttributionMethod::Saliency,
        AttributionMethod::SmoothGrad,
        AttributionMethod::Rollout,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            AttributionMethod::IntegratedGradients => "ig",
            AttributionMethod::AttnLrp => "attnlrp",
            AttributionMethod::GradientXInput => "grad-input",
            AttributionMethod::Saliency => "saliency",
            AttributionMethod::SmoothGrad => "smoothgrad",
            AttributionMethod::Rollout => "rollout",
        }
    }

    /// The name in sentences and legends: `IG`, `AttnLRP`, `gradient × input`, …
    pub fn title(&self) -> &'static str {
        match self {
            AttributionMethod::IntegratedGradients => "IG",
            AttributionMethod::AttnLrp => "AttnLRP",
            AttributionMethod::GradientXInput => "gradient × input",
            AttributionMethod::Saliency => "saliency",
            AttributionMethod::SmoothGrad => "SmoothGrad",
            AttributionMethod::Rollout => "attention rollout",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        AttributionMethod::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown attribution method `{name}`: use ig, attnlrp, grad-input, saliency, \
                     smoothgrad or rollout"
                ))
            })
    }

    /// Whether the method also gives a relevance per layer × head.
    pub fn has_latent(&self) -> bool {
        matches!(
            self,
            AttributionMethod::IntegratedGradients | AttributionMethod::AttnLrp
        )
    }
}

/// The method's own check, as the summary table reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MethodCheck {
    /// Integrated gradients: Σ relevance − (F(x) − F(x')), with the step count.
    Completeness { delta: f64, steps: usize },
    /// AttnLRP: Σ relevance against the logit F(x) (equal when relevance is conserved; biases
    /// and the ε of the identity rule absorb some).
    Conservation { relevance_sum: f64, logit: f64 },
    /// SmoothGrad: noise samples, their standard deviation σ (absolute, in embedding units) and
    /// the noise level σ / (max e − min e) it came from, and the seed.
    Noise {
        samples: usize,
        sigma: f64,
        noise_level: f64,
        seed: u64,
    },
    /// Saliency, gradient × input and rollout have no check of their own.
    None,
}

/// One protein's attribution by any method.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub protein: String,
    pub output: String,
    pub target: usize,
    pub method: AttributionMethod,
    /// Token texts: first special (none in T5), residues, final special(s).
    pub tokens: Vec<String>,
    /// Token index of the first residue.
    pub residue_start: usize,
    pub residue_count: usize,
    /// Tokens placed before the residues (a decoder's prefix, e.g. IgLM's `[HEAVY] [HUMAN]`);
    /// they end at `residue_start` and tables leave them out.
    pub prefix_tokens: usize,
    /// F(x): the target logit (a decoder's log-probability) at the input.
    pub f_input: f64,
    /// Relevance per token 0..T-1 (specials included).
    pub embedding: Vec<f64>,
    /// `[layer][head][position]` flattened; empty unless the method gives it.
    pub latent: Vec<f64>,
    pub num_layers: usize,
    pub num_heads: usize,
    pub check: MethodCheck,
}

impl Explanation {
    /// Relevance of the residues (the special tokens left out), as
    /// [`crate::attribution::flip::flip_residues`] takes it.
    pub fn residue_embedding(&self) -> &[f64] {
        let range = self.residue_start..self.residue_start + self.residue_count;
        self.embedding.get(range).unwrap_or(&[])
    }

    /// The 1-based residue position of token `index`.
    pub fn position_of_token(&self, index: usize) -> i64 {
        index as i64 - self.residue_start as i64 + 1
    }

    pub fn latent_at(&self, layer: usize, head: usize) -> &[f64] {
        let t = self.tokens.len();
        let start = (layer * self.num_heads + head) * t;
        &self.latent[start..start + t]
    }

    /// Σ relevance at the embedding level.
    pub fn relevance_sum(&self) -> f64 {
        self.embedding.iter().sum()
    }

    /// An empty explanation of `seq` (relevances to be filled in).
    pub(crate) fn new(
        model: &ProteinModel,
        seq: &EncodedSequence,
        output: &str,
        target: usize,
        method: AttributionMethod,
    ) -> Self {
        let mut tokens = Vec::with_capacity(seq.ids.len());
        tokens.extend(model.tokenizer.first_token.clone());
        tokens.extend(model.tokenizer.prefix().iter().cloned());
        tokens.extend(seq.residues.iter().map(|c| c.to_string()));
        tokens.extend(model.tokenizer.final_tokens.iter().cloned());
        Explanation {
            protein: seq.id.clone(),
            output: output.to_string(),
            target,
            method,
            tokens,
            residue_start: seq.residue_start,
            residue_count: seq.residues.len(),
            prefix_tokens: model.tokenizer.prefix().len(),
            f_input: f64::NAN,
            embedding: Vec::new(),
            latent: Vec::new(),
            num_layers: model.num_layers(),
            num_heads: model.num_heads(),
            check: MethodCheck::None,
        }
    }

    /// Errors naming the protein when a relevance is NaN or infinite.
    pub(crate) fn finite(self) -> Result<Self> {
        if !self.f_input.is_finite()
            || self
                .embedding
                .iter()
                .chain(&self.latent)
                .any(|v| !v.is_finite())
        {
            return Err(Error::sequence(
                &self.protein,
                format!(
                    "{} produced NaN/infinite values; check the weights and the device",
                    self.method.name()
                ),
            ));
        }
        Ok(self)
    }
}

impl From<IgResult> for Explanation {
    fn from(ig: IgResult) -> Self {
        Explanation {
            protein: ig.protein,
            output: ig.output,
            target: ig.target,
            method: AttributionMethod::IntegratedGradients,
            tokens: ig.tokens,
            residue_start: ig.residue_start,
            residue_count: ig.residue_count,
            prefix_tokens: ig.prefix_tokens,
            f_input: ig.f_input,
            embedding: ig.embedding,
            latent: ig.latent,
            num_layers: ig.num_layers,
            num_heads: ig.num_heads,
            check: MethodCheck::Completeness {
                delta: ig.delta,
                steps: ig.steps,
            },
        }
    }
}

/// The embedding-module output of `seq` (1, T, H) and its (1, T) mask.
pub(crate) fn embed_sequence(
    model: &ProteinModel,
    seq: &EncodedSequence,
) -> Result<(Tensor, Tensor)> {
    let input = model.batch_from_ids(std::slice::from_ref(&seq.ids))?;
    let e = model.embed(&input.input_ids, &input.mask)?;
    Ok((e, input.mask))
}

/// ∂F/∂e at each of the K embedding outputs `points` (K, T, H) in one forward and backward
/// pass, and F at each (K values).
fn gradient_at(
    model: &ProteinModel,
    points: &Tensor,
    mask: &Tensor,
    output: &str,
    objective: &Objective,
) -> Result<(Tensor, Vec<f64>)> {
    let (k, t, _) = points.dims3()?;
    let var = Var::from_tensor(points)?;
    let batch_mask = mask.broadcast_as((k, t))?.contiguous()?;
    let out = model.encode(
        var.as_tensor(),
        &batch_mask,
        ForwardOptions {
            last_layer_rows: model.output_rows(output)?,
            ..Default::default()
        },
    )?;
    let logits = objective.values(&model.output_logits(output, &out)?)?;
    let grads = logits.sum_all()?.backward()?;
    let g = grads
        .get(var.as_tensor())
        .ok_or_else(|| Error::invalid("internal: no gradient reached the embedding output"))?
        .clone();
    let f = logits.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    Ok((g, f))
}

/// (T, H) → per-token sums in f64 on the host.
fn token_sums(x: &Tensor) -> Result<Vec<f64>> {
    Ok(x.to_dtype(DType::F64)?
        .sum(candle_core::D::Minus1)?
        .flatten_all()?
        .to_device(&Device::Cpu)?
        .to_vec1()?)
}

/// Saliency at the embedding output: Σ_d |∂F/∂e[t, d]| per token (Captum's `Saliency` with
/// `abs=True`, summed over the hidden axis).
pub fn saliency(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
) -> Result<Explanation> {
    let objective = objective_for(model, seq, output, target)?;
    let (e, mask) = embed_sequence(model, seq)?;
    let (g, f) = gradient_at(model, &e, &mask, output, &objective)?;
    let mut x = Explanation::new(model, seq, output, target, AttributionMethod::Saliency);
    x.f_input = f[0];
    x.embedding = token_sums(&g.abs()?.squeeze(0)?)?;
    x.finite()
}

/// Gradient × input at the embedding output: Σ_d e[t, d] · ∂F/∂e[t, d] per token (Captum's
/// `LayerGradientXActivation` on the embedding module, summed over the hidden axis).
pub fn gradient_x_input(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
) -> Result<Explanation> {
    let objective = objective_for(model, seq, output, target)?;
    let (e, mask) = embed_sequence(model, seq)?;
    let (g, f) = gradient_at(model, &e, &mask, output, &objective)?;
    let mut x = Explanation::new(
        model,
        seq,
        output,
        target,
        AttributionMethod::GradientXInput,
    );
    x.f_input = f[0];
    x.embedding = token_sums(&(g * &e)?.squeeze(0)?)?;
    x.finite()
}

/// Settings of SmoothGrad.
#[derive(Debug, Clone, PartialEq)]
pub struct SmoothGradOptions {
    /// Noisy copies of the embedding output averaged over.
    pub samples: usize,
    /// σ as a share of (max − min) of the protein's embedding output (Smilkov et al. 2017 find
    /// 10–20 % works).
    pub noise_level: f64,
    /// Base seed; each protein's noise is seeded from it and the protein id.
    pub seed: u64,
    /// Noisy copies per forward/backward pass.
    pub batch_size: usize,
}

impl Default for SmoothGradOptions {
    fn default() -> Self {
        SmoothGradOptions {
            samples: 50,
            noise_level: 0.1,
            seed: 0,
            batch_size: 10,
        }
    }
}

/// The standard normal noise SmoothGrad adds for protein `protein`: `samples · tokens · hidden`
/// values in row-major (sample, token, hidden) order. SplitMix64 seeded with
/// `seed ^ FNV-1a(protein)` (as residue flipping seeds its draws); each value is one Box–Muller
/// draw from two 53-bit uniforms u1, u2: √(−2 ln(1 − u1)) · cos(2π u2). Stated exactly so that
/// another implementation (the Captum fixture) draws the same numbers.
pub fn smoothgrad_noise(seed: u64, protein: &str, count: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(protein_seed(seed, protein));
    let mut uniform = move || (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (0..count)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

/// SmoothGrad: saliency averaged over `samples` copies of the embedding output with Gaussian
/// noise of σ = noise_level · (max e − min e) added (noise from [`smoothgrad_noise`]); the
/// logit reported is F at the input without noise.
pub fn smoothgrad(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    options: &SmoothGradOptions,
) -> Result<Explanation> {
    let objective = objective_for(model, seq, output, target)?;
    if options.samples == 0 {
        return Err(Error::setting(
            "samples",
            0,
            "SmoothGrad needs at least 1 sample",
        ));
    }
    if !(options.noise_level.is_finite() && options.noise_level >= 0.0) {
        return Err(Error::setting(
            "noise_level",
            options.noise_level,
            "must be a number ≥ 0 (0.1 = σ is 10 % of the embedding output's range)",
        ));
    }
    let (e, mask) = embed_sequence(model, seq)?;
    let (_, t, h) = e.dims3()?;
    let e32 = e.to_dtype(DType::F32)?;
    let range = (e32.max_all()?.to_scalar::<f32>()? - e32.min_all()?.to_scalar::<f32>()?) as f64;
    let sigma = options.noise_level * range;
    let noise = smoothgrad_noise(options.seed, &seq.id, options.samples * t * h);
    let device = model.device();
    let mut sum: Option<Tensor> = None;
    let batch = options.batch_size.max(1);
    let mut start = 0;
    while start < options.samples {
        let k = batch.min(options.samples - start);
        let chunk: Vec<f32> = noise[start * t * h..(start + k) * t * h]
            .iter()
            .map(|&z| (z * sigma) as f32)
            .collect();
        let points = Tensor::from_vec(chunk, (k, t, h), device)?
            .broadcast_add(&e32)?
            .to_dtype(model.dtype())?;
        let (g, _) = gradient_at(model, &points, &mask, output, &objective)?;
        let part = g.abs()?.to_dtype(DType::F64)?.sum(0)?;
        sum = Some(match sum {
            Some(s) => (s + part)?,
            None => part,
        });
        start += k;
    }
    let mean = (sum.expect("at least one sample") / options.samples as f64)?;
    let f = model_logit(model, &e, &mask, output, &objective)?;
    let mut x = Explanation::new(model, seq, output, target, AttributionMethod::SmoothGrad);
    x.f_input = f;
    x.embedding = token_sums(&mean)?;
    x.check = MethodCheck::Noise {
        samples: options.samples,
        sigma,
        noise_level: options.noise_level,
        seed: options.seed,
    };
    x.finite()
}

/// F at the embedding output `e` (1, T, H).
fn model_logit(
    model: &ProteinModel,
    e: &Tensor,
    mask: &Tensor,
    output: &str,
    objective: &Objective,
) -> Result<f64> {
    let out = model.encode(
        e,
        mask,
        ForwardOptions {
            last_layer_rows: model.output_rows(output)?,
            ..Default::default()
        },
    )?;
    Ok(objective
        .values(&model.output_logits(output, &out)?)?
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?[0])
}

/// Attention rollout (Abnar & Zuidema 2020) of one protein for a sequence-level output: every
/// layer's heads averaged, Â = 0.5·A + 0.5·I with rows renormalised, R = Â_L ⋯ Â_1, and the
/// relevance is the row of the token the output summarises (see the module docs). Its target
/// only names the logit reported: rollout does not depend on the class.
pub fn attention_rollout(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
) -> Result<Explanation> {
    check_output(model, output, target)?;
    let pooling = model.output(output)?.pooling().ok_or_else(|| {
        Error::invalid(format!(
            "output `{output}` summarises no token; rollout needs a sequence-level output"
        ))
    })?;
    let (e, mask) = embed_sequence(model, seq)?;
    let out = model.encode(
        &e,
        &mask,
        ForwardOptions {
            capture: Capture {
                attentions: true,
                ..Capture::none()
            },
            ..Default::default()
        },
    )?;
    let f = model
        .output_logits(output, &out)?
        .narrow(1, target, 1)?
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?[0];
    let t = seq.ids.len();
    // Heads averaged on the device; (T, T) per layer on the host in f64.
    let layers: Vec<Vec<f64>> = out
        .attentions
        .iter()
        .map(|a| -> Result<Vec<f64>> {
            Ok(a.to_dtype(DType::F64)?
                .mean(1)?
                .flatten_all()?
                .to_device(&Device::Cpu)?
                .to_vec1()?)
        })
        .collect::<Result<_>>()?;
    let mut x = Explanation::new(model, seq, output, target, AttributionMethod::Rollout);
    x.f_input = f;
    x.embedding = rollout_row(&layers, t, pooling)?;
    x.finite()
}

/// The summarised row of the rollout R = Â_L ⋯ Â_1 from head-averaged maps (each T × T,
/// row = query), computed as a row vector times the matrices from the last layer down
/// (L·T² work instead of L·T³).
pub fn rollout_row(layers: &[Vec<f64>], t: usize, pooling: SequencePooling) -> Result<Vec<f64>> {
    if layers.is_empty() || layers.iter().any(|a| a.len() != t * t) {
        return Err(Error::invalid(format!(
            "rollout needs at least one T × T map (T = {t})"
        )));
    }
    let mut v = vec![0.0; t];
    match pooling {
        SequencePooling::FirstToken => v[0] = 1.0,
        SequencePooling::LastToken => v[t - 1] = 1.0,
        SequencePooling::Mean => v.iter_mut().for_each(|x| *x = 1.0 / t as f64),
    }
    for a in layers.iter().rev() {
        let mut next = vec![0.0; t];
        for (i, vi) in v.iter().enumerate() {
            if *vi == 0.0 {
                continue;
            }
            let row = &a[i * t..(i + 1) * t];
            // Â[i, :] = (0.5 A[i, :] + 0.5 e_i) / Σ_j (0.5 A[i, j] + 0.5 δ_ij).
            let norm: f64 = 0.5 * row.iter().sum::<f64>() + 0.5;
            for (j, aij) in row.iter().enumerate() {
                let hat = (0.5 * aij + if i == j { 0.5 } else { 0.0 }) / norm;
                next[j] += vi * hat;
            }
        }
        v = next;
    }
    Ok(v)
}

/// Settings of [`explain`]: each method reads its own.
#[derive(Debug, Clone, Default)]
pub struct ExplainOptions {
    /// Integrated gradients.
    pub ig: IgOptions,
    /// SmoothGrad.
    pub smoothgrad: SmoothGradOptions,
    /// AttnLRP: also the relevance of every attention head (same pass).
    pub latent: bool,
}

/// One protein's explanation by `method`.
pub fn explain(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    method: AttributionMethod,
    options: &ExplainOptions,
) -> Result<Explanation> {
    match method {
        AttributionMethod::IntegratedGradients => {
            Ok(super::integrated_gradients(model, seq, output, target, &options.ig)?.into())
        }
        AttributionMethod::AttnLrp => {
            super::attnlrp::attnlrp(model, seq, output, target, options.latent)
        }
        AttributionMethod::GradientXInput => gradient_x_input(model, seq, output, target),
        AttributionMethod::Saliency => saliency(model, seq, output, target),
        AttributionMethod::SmoothGrad => {
            smoothgrad(model, seq, output, target, &options.smoothgrad)
        }
        AttributionMethod::Rollout => attention_rollout(model, seq, output, target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in AttributionMethod::ALL {
            assert_eq!(AttributionMethod::parse(m.name()).unwrap(), m);
        }
        assert!(AttributionMethod::parse("lime").is_err());
    }

    /// The row-vector chain equals the explicit matrix product, and rows stay stochastic.
    #[test]
    fn rollout_row_equals_the_matrix_product() {
        let t = 4;
        let mut rng = SplitMix64::new(5);
        let maps: Vec<Vec<f64>> = (0..3)
            .map(|_| {
                let mut a: Vec<f64> = (0..t * t).map(|_| (rng.next_u64() % 1000) as f64).collect();
                for i in 0..t {
                    let s: f64 = a[i * t..(i + 1) * t].iter().sum();
                    a[i * t..(i + 1) * t].iter_mut().for_each(|x| *x /= s);
                }
                a
            })
            .collect();
        let hat = |a: &[f64]| -> Vec<f64> {
            let mut h: Vec<f64> = (0..t * t)
                .map(|k| 0.5 * a[k] + if k / t == k % t { 0.5 } else { 0.0 })
                .collect();
            for i in 0..t {
                let s: f64 = h[i * t..(i + 1) * t].iter().sum();
                h[i * t..(i + 1) * t].iter_mut().for_each(|x| *x /= s);
            }
            h
        };
        let matmul = |a: &[f64], b: &[f64]| -> Vec<f64> {
            (0..t * t)
                .map(|k| (0..t).map(|m| a[(k / t) * t + m] * b[m * t + k % t]).sum())
                .collect()
        };
        let mut r = hat(&maps[0]);
        for a in &maps[1..] {
            r = matmul(&hat(a), &r);
        }
        let first = rollout_row(&maps, t, SequencePooling::FirstToken).unwrap();
        let last = rollout_row(&maps, t, SequencePooling::LastToken).unwrap();
        let mean = rollout_row(&maps, t, SequencePooling::Mean).unwrap();
        for j in 0..t {
            assert!((first[j] - r[j]).abs() < 1e-12);
            assert!((last[j] - r[(t - 1) * t + j]).abs() < 1e-12);
            let m: f64 = (0..t).map(|i| r[i * t + j]).sum::<f64>() / t as f64;
            assert!((mean[j] - m).abs() < 1e-12);
        }
        assert!((first.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn noise_is_seeded_and_standard_normal() {
        let a = smoothgrad_noise(1, "p", 20_000);
        assert_eq!(a, smoothgrad_noise(1, "p", 20_000));
        assert_ne!(a[..10], smoothgrad_noise(1, "q", 10)[..]);
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
