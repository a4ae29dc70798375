//! Integrated gradients along the embedding-output path, at the embedding level and, in the
//! same pass, inside every attention head (Wenzel, Grüner, Strodthoff 2024).
//!
//! One path-integration core serves both: each batch of α-nodes is one forward and one backward
//! pass; the gradient w.r.t. the interpolated embedding output gives embedding-level IG, and
//! zero-valued probes added to every layer's attention context give ∂F/∂h for every layer at
//! once. The latent derivative dh/dα is estimated like `numpy.gradient(h, alphas,
//! edge_order=1)` from a sliding window of three consecutive nodes, so memory does not grow with
//! the number of steps; or, with [`LatentDerivative::Exact`], computed exactly at every node by
//! a forward-mode pass along e − e' that runs beside the forward pass.

use candle_core::{DType, Device, Tensor, Var};

use super::quadrature::Quadrature;
use candle_core::backprop::GradStore;

use crate::model::memory::layer_values;
use crate::model::{
    Capture, EncodedSequence, EncoderOutput, ForwardOptions, OutputLevel, ProteinModel,
};
use crate::{Error, Result};

/// Reference input of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// First special token, PAD for every residue, final special token (the paper's).
    Pad,
    /// Same with MASK tokens.
    Mask,
    /// Zero embedding-module output.
    Zero,
}

impl Baseline {
    pub fn name(&self) -> &'static str {
        match self {
            Baseline::Pad => "pad",
            Baseline::Mask => "mask",
            Baseline::Zero => "zero",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "pad" => Ok(Baseline::Pad),
            "mask" => Ok(Baseline::Mask),
            "zero" => Ok(Baseline::Zero),
            other => Err(Error::invalid(format!(
                "unknown baseline `{other}`: use pad, mask or zero"
            ))),
        }
    }
}

/// How latent IG obtains dh/dα, the derivative of each context along the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatentDerivative {
    /// `numpy.gradient(h, alphas, edge_order=1)` over the α-nodes, as the paper's code does.
    FiniteDifference,
    /// The exact derivative at every node: a forward-mode (tangent) pass along e − e' beside
    /// the forward pass. About one more forward pass of work; no error from node spacing.
    Exact,
}

impl LatentDerivative {
    pub fn name(&self) -> &'static str {
        match self {
            LatentDerivative::FiniteDifference => "fd",
            LatentDerivative::Exact => "exact",
        }
    }
}

/// Settings of one attribution run.
#[derive(Debug, Clone)]
pub struct IgOptions {
    pub steps: usize,
    pub method: Quadrature,
    pub baseline: Baseline,
    /// α-nodes per forward/backward pass; None = chosen from the model and sequence size so
    /// that the pass stays under [`DEFAULT_MEMORY_BUDGET`].
    pub batch_size: Option<usize>,
    /// Also attribute to every attention head (latent IG).
    pub latent: bool,
    /// How latent IG gets dh/dα (ignored without `latent`).
    pub latent_derivative: LatentDerivative,
    /// Recompute each layer's forward values in the backward pass instead of keeping them
    /// (checkpointing): one step then holds one layer's values plus every layer's input, at the
    /// cost of one more forward pass. [`crate::attribution::memory::plan_batch`] turns it on when
    /// a single step would not fit otherwise.
    pub recompute_layers: bool,
}

impl Default for IgOptions {
    fn default() -> Self {
        IgOptions {
            steps: 500,
            method: Quadrature::GaussLegendre,
            baseline: Baseline::Pad,
            batch_size: None,
            latent: false,
            latent_derivative: LatentDerivative::FiniteDifference,
            recompute_layers: false,
        }
    }
}

/// Bytes of activations one forward/backward pass may hold when the batch size is chosen
/// automatically.
pub const DEFAULT_MEMORY_BUDGET: usize = 2 << 30;

/// Attribution of one protein.
#[derive(Debug, Clone)]
pub struct IgResult {
    pub protein: String,
    /// The prediction output whose logit is attributed (`species`, `classifier`, …).
    pub output: String,
    pub target: usize,
    /// Token texts: first special (none in T5), prefix tokens, residues, final special.
    pub tokens: Vec<String>,
    /// Token index of the first residue (1, or 0 in T5 and XLNet).
    pub residue_start: usize,
    /// Number of residues (tokens between the leading and the final special tokens).
    pub residue_count: usize,
    /// Prefix tokens just before the residues (IgLM's `[HEAVY] [HUMAN]`); tables leave them out.
    pub prefix_tokens: usize,
    /// F(x): target logit (or log-probability, for a decoder's `lm` output) at the input.
    pub f_input: f64,
    /// F(x'): target logit at the baseline.
    pub f_baseline: f64,
    /// Σ relevance − (F(x) − F(x')).
    pub delta: f64,
    /// Embedding-level relevance per position 0..T-1 (specials included).
    pub embedding: Vec<f64>,
    /// Latent relevance, `[layer][head][position]` flattened (layers × heads × T); empty
    /// unless asked for.
    pub latent: Vec<f64>,
    pub num_layers: usize,
    pub num_heads: usize,
    pub steps: usize,
    pub method: Quadrature,
    pub baseline: Baseline,
    /// How the latent derivative was obtained; None without latent relevance.
    pub latent_derivative: Option<LatentDerivative>,
    /// With steps chosen by accuracy ([`integrated_gradients_auto`]): the tolerance asked for,
    /// |delta| ≤ max_delta · |F(x) − F(x')|. None for a fixed number of steps.
    pub max_delta: Option<f64>,
    /// With steps chosen by accuracy: whether the tolerance was met (false: `--max-steps` was
    /// reached first and this is the result at the cap). None for a fixed number of steps.
    pub converged: Option<bool>,
}

impl IgResult {
    /// Embedding-level relevance of the residues (positions 1..=n, the special tokens left out),
    /// as [`crate::attribution::flip::flip_residues`] takes it.
    pub fn residue_embedding(&self) -> &[f64] {
        let range = self.residue_start..self.residue_start + self.residue_count;
        self.embedding.get(range).unwrap_or(&[])
    }

    /// The 1-based residue position of token `index` (0: a leading special token, n+1: the
    /// final one).
    pub fn position_of_token(&self, index: usize) -> i64 {
        index as i64 - self.residue_start as i64 + 1
    }

    pub fn latent_at(&self, layer: usize, head: usize) -> &[f64] {
        let t = self.tokens.len();
        let start = (layer * self.num_heads + head) * t;
        &self.latent[start..start + t]
    }
}

/// Estimated activation bytes one α-node costs in a differentiable pass (forward activations
/// kept for backward, plus gradients). Calibrated on AntiBERTy (T = 121, all-layer latent IG,
/// peak RSS of `protscope attribute` at batch sizes 5, 20 and 40): 32–40 MB measured per step,
/// 39 MB estimated.
pub fn bytes_per_step(model: &ProteinModel, tokens: usize) -> usize {
    // Per layer, kept for the closed-form backward pass: q, k, v, two LayerNorm inputs, the
    // output and context, the feed-forward pre-activation plus one transient, the attention
    // probabilities plus one transient.
    let th = tokens * model.config.hidden_size;
    4 * model.config.num_hidden_layers * layer_values(model, tokens, 2) + 8 * th
}

/// [`bytes_per_step`] when layers are recomputed in the backward pass
/// ([`IgOptions::recompute_layers`]): per layer only its input, its context probe, the probe's
/// gradient and the context (or its tangent) stay (~4 T×H), plus one layer's values while its
/// backward pass runs (8·T·H + 2·T·I, and 4·heads·T² for the probabilities, the recomputed
/// scores and the two score gradients). Measured at 2,002 tokens (embedding IG, batch 1, peak
/// RSS minus weights): ESM-2 150M 2.1 GB (estimate 2.0), ESM-2 650M 2.1 GB (estimate 2.8).
pub fn bytes_per_step_recomputed(model: &ProteinModel, tokens: usize) -> usize {
    let th = tokens * model.config.hidden_size;
    4 * (model.config.num_hidden_layers * 4 * th + layer_values(model, tokens, 4)) + 8 * th
}

/// Bytes latent IG holds per protein whatever the batch: with finite differences, every layer's
/// contexts at the two previous nodes and ∂F/∂context at the previous one (3 · L · T · C values;
/// ESM-2 650M at 2,002 tokens: 1.0 GB). The exact derivative keeps none.
pub fn latent_bytes(model: &ProteinModel, tokens: usize, derivative: LatentDerivative) -> usize {
    match derivative {
        LatentDerivative::FiniteDifference => {
            4 * 3 * model.config.num_hidden_layers * tokens * model.context_size()
        }
        LatentDerivative::Exact => 0,
    }
}

/// Batch size for `steps` nodes under a memory budget (at least 1).
pub fn auto_batch_size(model: &ProteinModel, tokens: usize, steps: usize, budget: usize) -> usize {
    (budget / bytes_per_step(model, tokens).max(1)).clamp(1, steps.max(1))
}

/// Baseline token ids for `seq` (None for the zero baseline). The mask baseline needs a mask
/// token, which some vocabularies (T5 without sentinels) lack.
pub fn baseline_ids(
    model: &ProteinModel,
    seq: &EncodedSequence,
    baseline: Baseline,
) -> Result<Option<Vec<u32>>> {
    let filler = match baseline {
        Baseline::Pad => model.tokenizer.pad_id(),
        Baseline::Mask => model.tokenizer.mask_id().ok_or_else(|| {
            crate::Error::file(
                model.tokenizer.source(),
                "the mask baseline needs a mask token, and this vocabulary has none (nor does \
                 special_tokens_map.json name one); use the pad or zero baseline (`baseline` pad \
                 or zero)",
            )
        })?,
        Baseline::Zero => return Ok(None),
    };
    // Special tokens stay, residues become the filler.
    let mut ids = seq.ids.clone();
    for i in seq.residue_tokens() {
        ids[i] = filler;
    }
    Ok(Some(ids))
}

/// The straight path from the baseline embedding e' to the input embedding e of one protein,
/// and the target logit at both ends.
struct IgPath<'a> {
    output: &'a str,
    target: usize,
    objective: Objective,
    tokens: usize,
    mask: Tensor,
    /// e − e' in the model's dtype (1, T, H).
    diff: Tensor,
    /// e' and e − e' in f32: the path is built in f32 whatever the model's dtype.
    e_base_f32: Tensor,
    diff_f32: Tensor,
    f_input: f64,
    f_baseline: f64,
    /// Sequence heads read only the first token: the last layer computes that row only.
    last_layer_rows: Option<usize>,
    /// Recompute each layer in the backward pass instead of keeping its values.
    recompute_layers: bool,
}

impl<'a> IgPath<'a> {
    /// Checks the head and target, embeds input and baseline, and computes F at both ends in
    /// one forward pass.
    fn new(
        model: &ProteinModel,
        seq: &EncodedSequence,
        output: &'a str,
        target: usize,
        baseline: Baseline,
    ) -> Result<Self> {
        let objective = objective_for(model, seq, output, target)?;
        let input = model.batch_from_ids(std::slice::from_ref(&seq.ids))?;
        let mask = input.mask.clone();
        let e_input = model.embed(&input.input_ids, &mask)?; // (1, T, H)
        let e_base = match baseline_ids(model, seq, baseline)? {
            Some(ids) => {
                let b = model.batch_from_ids(&[ids])?;
                model.embed(&b.input_ids, &mask)?
            }
            None => e_input.zeros_like()?,
        };
        let diff = (&e_input - &e_base)?;
        let last_layer_rows = model.output_rows(output)?;
        // F at the input and at the baseline, both in one forward pass.
        let ends = model.encode(
            &Tensor::cat(&[&e_input, &e_base], 0)?,
            &Tensor::cat(&[&mask, &mask], 0)?,
            ForwardOptions {
                last_layer_rows,
                ..Default::default()
            },
        )?;
        let f_ends: Vec<f64> = objective
            .values(&model.output_logits(output, &ends)?)?
            .to_dtype(DType::F64)?
            .to_vec1()?;
        Ok(IgPath {
            output,
            target,
            objective,
            tokens: seq.ids.len(),
            mask,
            e_base_f32: e_base.to_dtype(DType::F32)?,
            diff_f32: diff.to_dtype(DType::F32)?,
            diff,
            f_input: f_ends[0],
            f_baseline: f_ends[1],
            last_layer_rows,
            recompute_layers: false,
        })
    }

    /// One forward and backward pass at the path points `alpha` ((K, 1, 1), f32, on the
    /// device): ∂F/∂e at each point (K, T, H), the encoder output and every gradient.
    fn forward_backward(
        &self,
        model: &ProteinModel,
        alpha: &Tensor,
        probes: &[Var],
        capture_contexts: bool,
        tangent: Option<&Tensor>,
    ) -> Result<(Tensor, EncoderOutput, GradStore)> {
        let k = alpha.dim(0)?;
        let path = self
            .e_base_f32
            .broadcast_add(&self.diff_f32.broadcast_mul(alpha)?)?
            .to_dtype(model.dtype())?; // (K, T, H)
        let path = Var::from_tensor(&path)?;
        let probe_tensors: Vec<Tensor> = probes.iter().map(|v| v.as_tensor().clone()).collect();
        let batch_mask = self.mask.broadcast_as((k, self.tokens))?.contiguous()?;
        let out = model.encode(
            path.as_tensor(),
            &batch_mask,
            ForwardOptions {
                capture: Capture {
                    contexts: capture_contexts,
                    ..Capture::none()
                },
                context_probes: (!probes.is_empty()).then_some(probe_tensors.as_slice()),
                last_layer_rows: self.last_layer_rows,
                tangent,
                recompute_layers: self.recompute_layers,
                ..Default::default()
            },
        )?;
        let logits = model.output_logits(self.output, &out)?;
        let objective = self.objective.values(&logits)?.sum_all()?;
        let grads = objective.backward()?;
        let g = grads
            .get(path.as_tensor())
            .ok_or_else(|| Error::invalid("internal: no gradient reached the embedding path"))?
            .clone();
        Ok((g, out, grads))
    }

    /// Σ_k w_k ∂F/∂e(α_k) over the given nodes, (T, H) in f64 on the model's device, in
    /// batches of `batch` nodes. Nothing leaves the device (on a GPU each copy to the host would
    /// wait for the queue to drain).
    fn gradient_sum(
        &self,
        model: &ProteinModel,
        alphas: &[f64],
        weights: &[f64],
        batch: usize,
    ) -> Result<Tensor> {
        let device = model.device();
        let (alphas_on_device, weights_on_device) = nodes_on_device(alphas, weights, device)?;
        let mut grad_sum: Option<Tensor> = None;
        let mut start = 0;
        while start < alphas.len() {
            let k = batch.max(1).min(alphas.len() - start);
            let alpha = alphas_on_device.narrow(0, start, k)?;
            let (g, _, _) = self.forward_backward(model, &alpha, &[], false, None)?;
            let w = weights_on_device.narrow(0, start, k)?;
            let weighted = g.to_dtype(DType::F64)?.broadcast_mul(&w)?.sum(0)?; // (T, H)
            grad_sum = Some(match grad_sum.take() {
                Some(sum) => (sum + weighted)?,
                None => weighted,
            });
            start += k;
        }
        grad_sum.ok_or_else(|| Error::invalid("integrated gradients needs steps >= 1"))
    }

    /// Relevance per token from Σ_k w_k ∂F/∂e: Σ_d (e − e')_d · grad_sum_d, in f64; the one
    /// copy to the host. Returns it with delta = Σ relevance − (F(x) − F(x')).
    fn relevance(&self, grad_sum: &Tensor) -> Result<(Vec<f64>, f64)> {
        let embedding: Vec<f64> = (self.diff.get(0)?.to_dtype(DType::F64)? * grad_sum)?
            .sum(1)?
            .to_device(&Device::Cpu)?
            .to_vec1()?;
        let delta = embedding.iter().sum::<f64>() - (self.f_input - self.f_baseline);
        Ok((embedding, delta))
    }
}

/// The function F integrated gradients attributes, read from an output's logits.
#[derive(Debug, Clone)]
pub(crate) enum Objective {
    /// A sequence-level output's class logit.
    Class(usize),
    /// A causal decoder's `lm` output: Σ log p(token | tokens before it) over the (logit row,
    /// token) pairs, the row being the position before the token.
    LogProb(Vec<(usize, u32)>),
}

impl Objective {
    /// F for every row of `logits`: (K,) from (K, classes) or (K, T, vocab).
    pub(crate) fn values(&self, logits: &Tensor) -> Result<Tensor> {
        match self {
            Objective::Class(target) => Ok(logits.narrow(1, *target, 1)?.flatten_all()?),
            Objective::LogProb(pairs) => {
                let (_, t, v) = logits.dims3()?;
                let mut pick = vec![0f32; t * v];
                for &(row, token) in pairs {
                    pick[row * v + token as usize] += 1.0;
                }
                let pick =
                    Tensor::from_vec(pick, (1, t, v), logits.device())?.to_dtype(logits.dtype())?;
                // Composed of differentiable ops, so the backward pass reaches the encoder.
                let log_probs = candle_nn::ops::log_softmax(logits, candle_core::D::Minus1)?;
                Ok(log_probs.broadcast_mul(&pick)?.sum((1, 2))?)
            }
        }
    }
}

/// Targets of a causal decoder's `lm` output: 0 is the sequence log-likelihood (as
/// [`crate::model::scoring`] scores it: every residue with a token before it, and the closing
/// tokens), k ≥ 1 the log-probability of residue k given the tokens before it.
pub const SEQUENCE_LOG_LIKELIHOOD: usize = 0;

/// The objective of `target` in `output`, checked: a class of a sequence-level output, or for a
/// causal decoder's `lm` output a residue position (1-based) or 0, the sequence log-likelihood.
pub(crate) fn objective_for(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
) -> Result<Objective> {
    let head = model.output(output)?;
    if model.is_causal() && head.level == OutputLevel::Token {
        let n = seq.residues.len();
        if target == SEQUENCE_LOG_LIKELIHOOD {
            let first = seq.residue_start.max(1);
            return Ok(Objective::LogProb(
                (first..seq.ids.len())
                    .map(|t| (t - 1, seq.ids[t]))
                    .collect(),
            ));
        }
        if target > n {
            return Err(Error::invalid(format!(
                "target {target} is outside `{}`'s {n} residues (output `{output}` of a causal \
                 decoder: 0 = the sequence log-likelihood, k = residue k's log-probability)",
                seq.id
            )));
        }
        let t = seq.residue_start + target - 1;
        if t == 0 {
            return Err(Error::invalid(format!(
                "residue 1 of `{}` has no token before it to be predicted from; set a prefix",
                seq.id
            )));
        }
        return Ok(Objective::LogProb(vec![(t - 1, seq.ids[t])]));
    }
    check_output(model, output, target)?;
    Ok(Objective::Class(target))
}

/// Errors unless `output` is a sequence-level output with a class `target`.
pub(crate) fn check_output(model: &ProteinModel, output: &str, target: usize) -> Result<()> {
    let head = model.output(output)?;
    if head.level != OutputLevel::Sequence {
        return Err(Error::invalid(format!(
            "output `{output}` predicts per token; attribution needs a sequence-level output \
             (or a causal decoder's `lm` output)"
        )));
    }
    if target >= head.num_classes {
        return Err(Error::invalid(format!(
            "target {target} is outside output `{output}` ({} classes)",
            head.num_classes
        )));
    }
    Ok(())
}

/// α-nodes (K, 1, 1) in f32 and weights (K, 1, 1) in f64 on `device`. The path and the
/// quadrature are computed in f32 / f64 whatever the model's dtype: in half precision, α-nodes,
/// weights and a sum of gradients rounded to 8 or 11 bits would add errors of their own
/// (measured: bf16 relevances off by 100 % of the largest one).
fn nodes_on_device(alphas: &[f64], weights: &[f64], device: &Device) -> Result<(Tensor, Tensor)> {
    Ok((
        Tensor::from_vec(
            alphas.iter().map(|&a| a as f32).collect::<Vec<_>>(),
            (alphas.len(), 1, 1),
            device,
        )?,
        Tensor::from_vec(weights.to_vec(), (weights.len(), 1, 1), device)?,
    ))
}

/// Runs integrated gradients for one protein and the target class of a sequence-level output.
pub fn integrated_gradients(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    options: &IgOptions,
) -> Result<IgResult> {
    objective_for(model, seq, output, target)?;
    let exact = options.latent && options.latent_derivative == LatentDerivative::Exact;
    if options.latent && !exact && options.steps < 2 {
        return Err(Error::setting(
            "steps",
            options.steps,
            "latent attribution estimates dh/dα from neighbouring steps: use at least 2",
        ));
    }
    let (alphas, weights) = options.method.nodes(options.steps)?;
    let mut path = IgPath::new(model, seq, output, target, options.baseline)?;
    path.recompute_layers = options.recompute_layers;
    let device = model.device().clone();
    let t = seq.ids.len();
    let hidden = model.hidden_size();
    // Width of the contexts that latent attribution probes (differs from `hidden` in T5).
    let context = model.context_size();
    let num_layers = model.num_layers();
    let num_heads = model.num_heads();
    let batch = options
        .batch_size
        .unwrap_or_else(|| auto_batch_size(model, t, options.steps, DEFAULT_MEMORY_BUDGET))
        .max(1);

    let (grad_sum, latent) = if options.latent {
        // Σ_k w_k ∂F/∂e(α_k), accumulated in f64 on the model's device.
        let mut grad_sum: Option<Tensor> = None;
        let (alphas_on_device, weights_on_device) = nodes_on_device(&alphas, &weights, &device)?;
        let mut acc = LatentAccumulator {
            num_heads,
            tokens: t,
            context,
            derivative: options.latent_derivative,
            alphas: alphas.clone(),
            weights: weights.clone(),
            seen: 0,
            prev2: vec![None; num_layers],
            prev1: vec![None; num_layers],
            prev_grad: vec![None; num_layers],
            sums: vec![None; num_layers],
        };
        // Exact latent derivative: the path's direction e − e', one copy per node of a batch.
        let mut direction: Option<Tensor> = None;
        let mut start = 0;
        while start < options.steps {
            let k = batch.min(options.steps - start);
            let alpha = alphas_on_device.narrow(0, start, k)?;
            let probes: Vec<Var> = (0..num_layers)
                .map(|_| Var::zeros((k, t, context), model.dtype(), &device))
                .collect::<candle_core::Result<_>>()?;
            if exact && direction.as_ref().is_none_or(|d| d.dim(0).ok() != Some(k)) {
                direction = Some(path.diff.broadcast_as((k, t, hidden))?.contiguous()?);
            }
            let (g, out, grads) = path.forward_backward(
                model,
                &alpha,
                &probes,
                !exact,
                if exact { direction.as_ref() } else { None },
            )?;
            let w = weights_on_device.narrow(0, start, k)?;
            let weighted = g.to_dtype(DType::F64)?.broadcast_mul(&w)?.sum(0)?; // (T, H)
            grad_sum = Some(match grad_sum.take() {
                Some(sum) => (sum + weighted)?,
                None => weighted,
            });
            // A last layer run for fewer rows has zero gradient on the others: padding its
            // context with zeros there leaves every relevance unchanged.
            // Finite differences take the contexts, the exact rule their tangents.
            let derivative_inputs = if exact {
                &out.context_tangents
            } else {
                &out.contexts
            };
            let contexts = derivative_inputs
                .iter()
                .map(|c| -> Result<Tensor> {
                    let rows = c.dim(1)?;
                    Ok(if rows < t {
                        let zeros = Tensor::zeros((k, t - rows, context), c.dtype(), &device)?;
                        Tensor::cat(&[&c.detach(), &zeros], 1)?
                    } else {
                        c.detach()
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            for j in 0..k {
                let mut hs = Vec::with_capacity(num_layers);
                let mut gs = Vec::with_capacity(num_layers);
                for (layer, probe) in probes.iter().enumerate() {
                    let g_probe = grads.get(probe.as_tensor()).ok_or_else(|| {
                        Error::invalid(format!("internal: no gradient at layer {layer}'s context"))
                    })?;
                    // f32 for the differences and products (a no-op for f32 models).
                    hs.push(contexts[layer].get(j)?.to_dtype(DType::F32)?);
                    gs.push(g_probe.get(j)?.detach().to_dtype(DType::F32)?);
                }
                acc.push(hs, gs)?;
            }
            start += k;
        }
        let grad_sum =
            grad_sum.ok_or_else(|| Error::invalid("integrated gradients needs steps >= 1"))?;
        (grad_sum, acc.finish()?)
    } else {
        (
            path.gradient_sum(model, &alphas, &weights, batch)?,
            Vec::new(),
        )
    };

    let (embedding, delta) = path.relevance(&grad_sum)?;
    path.result(model, seq, embedding, delta, latent, options)
}

/// Steps chosen by accuracy (`--steps auto`): the number of α-nodes grows until the
/// completeness gap is within a share of the logit difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoSteps {
    /// Stop at the first node count with |delta| ≤ max_delta · |F(x) − F(x')|.
    pub max_delta: f64,
    /// Never use more nodes: the result at this count is kept (not converged) when the
    /// tolerance is not met by then.
    pub max_steps: usize,
    /// Nodes of the first try.
    pub start: usize,
}

impl Default for AutoSteps {
    fn default() -> Self {
        AutoSteps {
            max_delta: 0.01,
            max_steps: 1024,
            start: 8,
        }
    }
}

impl AutoSteps {
    /// Errors for a tolerance that is not a positive number or a cap below the first try.
    pub fn validate(&self) -> Result<()> {
        if !(self.max_delta.is_finite() && self.max_delta > 0.0) {
            return Err(Error::setting(
                "max_delta",
                self.max_delta,
                "must be a positive number (0.01 = the gap may be 1 % of |F(x) - F(x')|)",
            ));
        }
        let first = self.first();
        if self.max_steps < first {
            return Err(Error::setting(
                "max_steps",
                self.max_steps,
                format!("is below the first try ({first} steps); use at least {first}"),
            ));
        }
        Ok(())
    }

    /// The first node count (at least 2, which every rule and the latent derivative accept).
    fn first(&self) -> usize {
        self.start.max(2)
    }
}

/// The node count after `n`, and whether the rule at that count contains every node of the rule
/// at `n` (so their gradients can be reused). Riemann rules nest when refined: left and right
/// (j/n, (j+1)/n) and the trapezoid (j/(n−1)) by halving the spacing (n → 2n, 2n − 1), the
/// midpoint rule ((2j+1)/2n) by thirds (n → 3n). Gauss–Legendre nodes of different counts
/// share at most the midpoint, so it doubles and recomputes every node.
pub fn refine_steps(method: Quadrature, n: usize) -> (usize, bool) {
    match method {
        Quadrature::GaussLegendre => (2 * n, false),
        Quadrature::RiemannLeft | Quadrature::RiemannRight => (2 * n, true),
        Quadrature::RiemannMiddle => (3 * n, true),
        Quadrature::RiemannTrapezoid => (2 * n - 1, true),
    }
}

/// For a nested refinement from `n` to [`refine_steps`]`(n)` nodes: whether node `k` of the
/// refined rule is new (not a node of the rule at `n`).
fn is_new_node(method: Quadrature, k: usize) -> bool {
    match method {
        // k/(2n) for k = 0..2n−1: the old j/n are the even k.
        Quadrature::RiemannLeft => k % 2 == 1,
        // (k+1)/(2n): the old (j+1)/n are the odd k.
        Quadrature::RiemannRight => k.is_multiple_of(2),
        // (2k+1)/(6n): the old (2j+1)/(2n) = (6j+3)/(6n) are k = 3j + 1.
        Quadrature::RiemannMiddle => k % 3 != 1,
        // k/(2n−2): the old j/(n−1) are the even k.
        Quadrature::RiemannTrapezoid => k % 2 == 1,
        Quadrature::GaussLegendre => true,
    }
}

/// Integrated gradients with the number of steps chosen by accuracy: starting from
/// `auto.start` nodes, the rule `options.method` is refined ([`refine_steps`]) until
/// |delta| ≤ `auto.max_delta` · |F(x) − F(x')|, or `auto.max_steps` is reached (the last count
/// is then exactly `max_steps`, and the result says it did not converge). `options.steps` is
/// ignored. The search runs at the embedding level (delta is the embedding-level completeness
/// gap): nested Riemann rules reuse the gradients of every earlier node (the earlier weighted
/// sum, rescaled by n/n', plus the new nodes), Gauss–Legendre recomputes. With
/// `options.latent` one more pass at the chosen count computes every head's relevance (and the
/// embedding level again, identical up to rounding). The result records the steps used,
/// `max_delta` and whether it converged.
pub fn integrated_gradients_auto(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    options: &IgOptions,
    auto: &AutoSteps,
) -> Result<IgResult> {
    objective_for(model, seq, output, target)?;
    auto.validate()?;
    let mut path = IgPath::new(model, seq, output, target, options.baseline)?;
    path.recompute_layers = options.recompute_layers;
    let tolerance = auto.max_delta * (path.f_input - path.f_baseline).abs();
    let t = seq.ids.len();
    let batch = |n: usize| {
        options
            .batch_size
            .unwrap_or_else(|| auto_batch_size(model, t, n, DEFAULT_MEMORY_BUDGET))
            .max(1)
    };
    let mut n = auto.first();
    // (node count, Σ_k w_k ∂F/∂e) of the previous try, for nested rules.
    let mut previous: Option<(usize, Tensor)> = None;
    let (embedding, delta) = loop {
        let (alphas, weights) = options.method.nodes(n)?;
        let grad_sum = match previous.take() {
            Some((m, old_sum)) => {
                let (new_alphas, new_weights): (Vec<f64>, Vec<f64>) = alphas
                    .iter()
                    .zip(&weights)
                    .enumerate()
                    .filter(|(k, _)| is_new_node(options.method, *k))
                    .map(|(_, (a, w))| (*a, *w))
                    .unzip();
                debug_assert_eq!(new_alphas.len() + m, n);
                // Every rule's weights scale as 1/n, so the old nodes' share of the refined sum
                // is the old sum times m/n.
                let rescaled = (old_sum * (m as f64 / n as f64))?;
                let fresh = path.gradient_sum(model, &new_alphas, &new_weights, batch(n))?;
                (rescaled + fresh)?
            }
            None => path.gradient_sum(model, &alphas, &weights, batch(n))?,
        };
        let (embedding, delta) = path.relevance(&grad_sum)?;
        if delta.abs() <= tolerance || n >= auto.max_steps {
            break (embedding, delta);
        }
        let (next, nested) = refine_steps(options.method, n);
        if next > auto.max_steps {
            // The cap itself is the last try; it does not nest with n.
            n = auto.max_steps;
        } else {
            if nested {
                previous = Some((n, grad_sum));
            }
            n = next;
        }
    };
    let steps_options = IgOptions {
        steps: n,
        ..options.clone()
    };
    let mut result = if options.latent {
        integrated_gradients(model, seq, output, target, &steps_options)?
    } else {
        path.result(model, seq, embedding, delta, Vec::new(), &steps_options)?
    };
    result.max_delta = Some(auto.max_delta);
    result.converged = Some(result.delta.abs() <= tolerance);
    Ok(result)
}

impl IgPath<'_> {
    /// The [`IgResult`] of this path (steps as in `options`), after checking for NaN.
    fn result(
        &self,
        model: &ProteinModel,
        seq: &EncodedSequence,
        embedding: Vec<f64>,
        delta: f64,
        latent: Vec<f64>,
        options: &IgOptions,
    ) -> Result<IgResult> {
        if !self.f_input.is_finite() || embedding.iter().any(|v| !v.is_finite()) {
            return Err(Error::sequence(
                &seq.id,
                "attribution produced NaN/infinite values; check the weights and the device",
            ));
        }
        let mut tokens = Vec::with_capacity(self.tokens);
        tokens.extend(model.tokenizer.first_token.clone());
        tokens.extend(model.tokenizer.prefix().iter().cloned());
        tokens.extend(seq.residues.iter().map(|c| c.to_string()));
        tokens.extend(model.tokenizer.final_tokens.iter().cloned());
        Ok(IgResult {
            protein: seq.id.clone(),
            output: self.output.to_string(),
            target: self.target,
            tokens,
            residue_start: seq.residue_start,
            residue_count: seq.residues.len(),
            prefix_tokens: model.tokenizer.prefix().len(),
            f_input: self.f_input,
            f_baseline: self.f_baseline,
            delta,
            embedding,
            latent,
            num_layers: model.num_layers(),
            num_heads: model.num_heads(),
            steps: options.steps,
            method: options.method,
            baseline: options.baseline,
            latent_derivative: options.latent.then_some(options.latent_derivative),
            max_delta: None,
            converged: None,
        })
    }
}

/// Latent relevance accumulated node by node: node k's contribution w_k Σ_d g_k D_k needs
/// h_{k-1}, h_k, h_{k+1} (numpy.gradient's non-uniform central difference; one-sided at the
/// ends), so only a window of three contexts per layer is kept. With the exact derivative,
/// D_k arrives with node k and its contribution is added at once.
struct LatentAccumulator {
    num_heads: usize,
    tokens: usize,
    /// Context width (heads · head size).
    context: usize,
    derivative: LatentDerivative,
    alphas: Vec<f64>,
    weights: Vec<f64>,
    /// Nodes pushed so far.
    seen: usize,
    /// Per layer: context at node k-2 and k-1 (once known), and ∂F/∂h at node k-1.
    prev2: Vec<Option<Tensor>>,
    prev1: Vec<Option<Tensor>>,
    prev_grad: Vec<Option<Tensor>>,
    /// Per layer: running (T, heads) sum in f64, kept on the model's device so that no node
    /// waits on a device-to-host copy.
    sums: Vec<Option<Tensor>>,
}

impl LatentAccumulator {
    /// Adds node `seen`: per layer, its context (finite differences) or the context's exact
    /// derivative, and ∂F/∂context (one (T, H) tensor each). Finite differences finalise the
    /// previous node, whose forward neighbour is now known.
    fn push(&mut self, contexts: Vec<Tensor>, grads: Vec<Tensor>) -> Result<()> {
        let k = self.seen;
        if self.derivative == LatentDerivative::Exact {
            for (layer, (d, g)) in contexts.into_iter().zip(grads).enumerate() {
                self.add(layer, k, &g, &d)?;
            }
            self.seen += 1;
            return Ok(());
        }
        for (layer, (h, g)) in contexts.into_iter().zip(grads).enumerate() {
            if k >= 1 {
                let (h_prev, g_prev) = (
                    self.prev1[layer].clone().expect("node k-1 kept"),
                    self.prev_grad[layer].clone().expect("node k-1 kept"),
                );
                let derivative = if k == 1 {
                    // Forward difference at the first node.
                    ((&h - &h_prev)? / (self.alphas[1] - self.alphas[0]))?
                } else {
                    let h_prev2 = self.prev2[layer].clone().expect("node k-2 kept");
                    central_difference(&h_prev2, &h_prev, &h, &self.alphas[k - 2..=k])?
                };
                self.add(layer, k - 1, &g_prev, &derivative)?;
            }
            self.prev2[layer] = self.prev1[layer].take();
            self.prev1[layer] = Some(h);
            self.prev_grad[layer] = Some(g);
        }
        self.seen += 1;
        Ok(())
    }

    fn add(&mut self, layer: usize, node: usize, grad: &Tensor, derivative: &Tensor) -> Result<()> {
        let (t, heads) = (self.tokens, self.num_heads);
        let contribution = ((grad * derivative)?
            .reshape((t, heads, self.context / heads))?
            .sum(2)?
            .to_dtype(DType::F64)?
            * self.weights[node])?;
        self.sums[layer] = Some(match self.sums[layer].take() {
            Some(sum) => (sum + contribution)?,
            None => contribution,
        });
        Ok(())
    }

    /// Finalises the last node (finite differences: with a backward difference).
    fn finish(mut self) -> Result<Vec<f64>> {
        let n = self.seen;
        let fd = self.derivative == LatentDerivative::FiniteDifference;
        if fd && n < 2 {
            return Err(Error::invalid("latent attribution needs at least 2 steps"));
        }
        for layer in 0..if fd { self.prev1.len() } else { 0 } {
            let h_last = self.prev1[layer].clone().expect("last node kept");
            let h_before = self.prev2[layer].clone().expect("node before last kept");
            let g_last = self.prev_grad[layer].clone().expect("last node kept");
            let derivative = ((&h_last - &h_before)? / (self.alphas[n - 1] - self.alphas[n - 2]))?;
            self.add(layer, n - 1, &g_last, &derivative)?;
        }
        // [layer][head][position], copied to the host in one piece.
        let sums: Vec<Tensor> = self
            .sums
            .into_iter()
            .map(|sum| sum.expect("every layer received contributions").t())
            .collect::<candle_core::Result<_>>()?;
        Ok(Tensor::stack(&sums, 0)?
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1()?)
    }
}

/// numpy.gradient's second-order central difference for non-uniform spacing at the middle of
/// three nodes a0 < a1 < a2.
fn central_difference(f0: &Tensor, f1: &Tensor, f2: &Tensor, a: &[f64]) -> Result<Tensor> {
    let hd = a[1] - a[0];
    let hs = a[2] - a[1];
    let denom = hd * hs * (hd + hs);
    let c2 = hd * hd / denom;
    let c0 = -hs * hs / denom;
    let c1 = (hs * hs - hd * hd) / denom;
    Ok(((f2 * c2)? + (f0 * c0)? + (f1 * c1)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refined rule's old nodes are exactly the previous rule's nodes, and every weight
    /// scales by n/n' (what the reuse in `integrated_gradients_auto` relies on).
    #[test]
    fn nested_refinements_keep_the_old_nodes() {
        for method in [
            Quadrature::RiemannLeft,
            Quadrature::RiemannRight,
            Quadrature::RiemannMiddle,
            Quadrature::RiemannTrapezoid,
        ] {
            for n in [2usize, 3, 4, 7, 8, 25] {
                let (next, nested) = refine_steps(method, n);
                assert!(nested && next > n);
                let (a, w) = method.nodes(n).unwrap();
                let (a2, w2) = method.nodes(next).unwrap();
                let old: Vec<(f64, f64)> = (0..next)
                    .filter(|&k| !is_new_node(method, k))
                    .map(|k| (a2[k], w2[k]))
                    .collect();
                assert_eq!(old.len(), n, "{} {n}", method.name());
                for ((x, v), (y, u)) in a.iter().zip(&w).zip(&old) {
                    assert!(
                        (x - y).abs() < 1e-12,
                        "{} {n}: node {x} vs {y}",
                        method.name()
                    );
                    let scaled = v * n as f64 / next as f64;
                    assert!((scaled - u).abs() < 1e-15, "{} {n}: weight", method.name());
                }
            }
        }
        assert_eq!(refine_steps(Quadrature::GaussLegendre, 8), (16, false));
    }
}
