//! The shared instrumented transformer encoder. BERT (post-LayerNorm, absolute positions) and
//! ESM-2 (pre-LayerNorm, rotary positions) are the same stack of self-attention + feed-forward
//! blocks with two switches; every architecture runs through this one core so that every
//! capture point (attention probabilities, hidden states, per-head context) means the same
//! thing everywhere.

use candle_core::{DType, Device, Tensor, D};

use super::weights::{LayerNorm, Linear, Weights};
use crate::Result;

/// Where each block applies its LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormPlacement {
    /// BERT: `LN(x + sublayer(x))`.
    Post,
    /// ESM-2: `x + sublayer(LN(x))`, plus a final LayerNorm after the last block.
    Pre,
}

/// Feed-forward activation. Both BERT and ESM use the exact (erf) GELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" | "gelu_python" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// Shape and wiring of the encoder stack.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub norm: NormPlacement,
    /// Rotary position embeddings on queries and keys (ESM-2), with this base (`rope_theta`).
    pub rotary_base: Option<f64>,
}

impl EncoderConfig {
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}

/// What a forward pass keeps besides the last hidden state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capture {
    /// Attention probabilities per layer, after softmax (no dropout: eval only).
    pub attentions: bool,
    /// Embedding output and the output of every layer (HF `hidden_states` convention).
    pub hidden_states: bool,
    /// Every layer's self-attention context: per-head values concatenated, before the output
    /// projection.
    pub contexts: bool,
}

impl Capture {
    pub fn none() -> Self {
        Capture::default()
    }
    pub fn all() -> Self {
        Capture {
            attentions: true,
            hidden_states: true,
            contexts: true,
        }
    }
}

/// Options of one encoder pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions<'a> {
    pub capture: Capture,
    /// One tensor per layer, shaped like the context (B, T, hidden), added to that layer's
    /// self-attention context. Pass zero-valued `Var`s here to read ∂F/∂context from their
    /// gradients: candle keeps gradients only for leaves.
    pub context_probes: Option<&'a [Tensor]>,
}

/// Everything one encoder pass produced.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// Output of the last block (after the final LayerNorm for pre-LN models), (B, T, hidden).
    pub last_hidden_state: Tensor,
    /// When captured: `num_layers + 1` tensors (B, T, hidden): the embedding output, then the
    /// output of each layer; for pre-LN models the last one is after the final LayerNorm, as in HF.
    pub hidden_states: Vec<Tensor>,
    /// When captured: one (B, heads, T, T) tensor per layer; row = query (from), column = key (to).
    pub attentions: Vec<Tensor>,
    /// When captured: one (B, T, hidden) tensor per layer (see [`Capture::contexts`]).
    pub contexts: Vec<Tensor>,
}

/// Additive attention bias from a (B, T) 0/1 mask: 0 where attended, the most negative f32
/// where padded (as HF does), shaped (B, 1, 1, T) to broadcast over heads and queries.
pub fn attention_bias(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let mask = mask.to_dtype(DType::F32)?;
    let bias = ((1.0 - mask)? * f32::MIN as f64)?;
    Ok(bias.reshape((b, 1, 1, t))?)
}

/// Rotary position tables (ESM-2): cos/sin of shape (T, head_size), `cat(freqs, freqs)` layout
/// as in HF `RotaryEmbedding`, applied as `x * cos + rotate_half(x) * sin`.
#[derive(Debug, Clone)]
struct Rotary {
    inv_freq: Vec<f32>,
}

impl Rotary {
    fn new(head_size: usize, base: f64) -> Self {
        let base = base as f32;
        let inv_freq = (0..head_size)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_size as f32))
            .collect();
        Rotary { inv_freq }
    }

    fn tables(&self, seq_len: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut freqs = Vec::with_capacity(seq_len * half * 2);
        for t in 0..seq_len {
            // HF computes outer(t, inv_freq) in f32; do the same so angles round identically.
            let row: Vec<f32> = self.inv_freq.iter().map(|f| t as f32 * f).collect();
            freqs.extend_from_slice(&row);
            freqs.extend_from_slice(&row);
        }
        let freqs = Tensor::from_vec(freqs, (seq_len, half * 2), device)?;
        Ok((freqs.cos()?, freqs.sin()?))
    }

    /// x: (B, heads, T, head_size).
    fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let x1 = x.narrow(D::Minus1, 0, d / 2)?;
        let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
    }
}

#[derive(Debug, Clone)]
struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    num_heads: usize,
    head_size: usize,
}

struct AttentionOutput {
    /// After the output projection (before residual / LayerNorm).
    projected: Tensor,
    probs: Tensor,
    context: Tensor,
}

impl SelfAttention {
    fn load(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(SelfAttention {
            query: w.linear(&format!("{prefix}.attention.self.query"), h, h)?,
            key: w.linear(&format!("{prefix}.attention.self.key"), h, h)?,
            value: w.linear(&format!("{prefix}.attention.self.value"), h, h)?,
            output: w.linear(&format!("{prefix}.attention.output.dense"), h, h)?,
            num_heads: cfg.num_heads,
            head_size: cfg.head_size(),
        })
    }

    /// (B, T, hidden) -> (B, heads, T, head_size)
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        Ok(x.reshape((b, t, self.num_heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        rotary: Option<&(Tensor, Tensor)>,
        probe: Option<&Tensor>,
    ) -> Result<AttentionOutput> {
        let (b, t, hidden) = x.dims3()?;
        let scale = (self.head_size as f64).powf(-0.5);
        // Scaling q before the product (ESM's order) equals scaling the scores (BERT's order)
        // up to float rounding; keep each family's order to stay closest to its reference.
        let mut q = self.split_heads(&self.query.forward(x)?)?;
        let mut k = self.split_heads(&self.key.forward(x)?)?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let scores = if let Some((cos, sin)) = rotary {
            q = Rotary::apply(&(q * scale)?, cos, sin)?;
            k = Rotary::apply(&k, cos, sin)?;
            q.matmul(&k.t()?)?
        } else {
            (q.matmul(&k.t()?)? * scale)?
        };
        let scores = scores.broadcast_add(bias)?;
        let probs = super::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?; // (B, heads, T, head_size)
        let context = context.transpose(1, 2)?.reshape((b, t, hidden))?;
        let context = match probe {
            Some(z) => (context + z)?,
            None => context,
        };
        let projected = self.output.forward(&context)?;
        Ok(AttentionOutput {
            projected,
            probs,
            context,
        })
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attention: SelfAttention,
    /// Post-LN: after attention + residual. Pre-LN: before attention.
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    /// Post-LN: after feed-forward + residual. Pre-LN: before the feed-forward.
    output_norm: LayerNorm,
}

impl EncoderLayer {
    fn load(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let (attention_norm, output_norm) = match cfg.norm {
            NormPlacement::Post => (
                w.layer_norm(&format!("{prefix}.attention.output.LayerNorm"), h, eps)?,
                w.layer_norm(&format!("{prefix}.output.LayerNorm"), h, eps)?,
            ),
            NormPlacement::Pre => (
                w.layer_norm(&format!("{prefix}.attention.LayerNorm"), h, eps)?,
                w.layer_norm(&format!("{prefix}.LayerNorm"), h, eps)?,
            ),
        };
        Ok(EncoderLayer {
            attention: SelfAttention::load(w, prefix, cfg)?,
            attention_norm,
            intermediate: w.linear(
                &format!("{prefix}.intermediate.dense"),
                h,
                cfg.intermediate_size,
            )?,
            output: w.linear(&format!("{prefix}.output.dense"), cfg.intermediate_size, h)?,
            output_norm,
        })
    }
}

/// The encoder stack shared by every architecture.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    layers: Vec<EncoderLayer>,
    /// Pre-LN models only: LayerNorm after the last block (ESM's `emb_layer_norm_after`).
    final_norm: Option<LayerNorm>,
    rotary: Option<Rotary>,
}

impl Encoder {
    /// Loads `{layer_prefix}.{i}.…` blocks; `final_norm` names the final LayerNorm of pre-LN
    /// models.
    pub fn load(
        w: &Weights,
        config: EncoderConfig,
        layer_prefix: &str,
        final_norm: Option<&str>,
    ) -> Result<Self> {
        let layers = (0..config.num_layers)
            .map(|i| EncoderLayer::load(w, &format!("{layer_prefix}.{i}"), &config))
            .collect::<Result<Vec<_>>>()?;
        let final_norm = match final_norm {
            Some(name) => Some(w.layer_norm(name, config.hidden_size, config.layer_norm_eps)?),
            None => None,
        };
        let rotary = config
            .rotary_base
            .map(|base| Rotary::new(config.head_size(), base));
        Ok(Encoder {
            config,
            layers,
            final_norm,
            rotary,
        })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Runs the stack on an embedding-module output `embeddings` (B, T, hidden) with the
    /// (B, T) 0/1 attention `mask`.
    pub fn forward(
        &self,
        embeddings: &Tensor,
        mask: &Tensor,
        options: ForwardOptions<'_>,
    ) -> Result<EncoderOutput> {
        let (_, t, _) = embeddings.dims3()?;
        let capture = options.capture;
        if let Some(probes) = options.context_probes {
            if probes.len() != self.layers.len() {
                return Err(crate::Error::invalid(format!(
                    "{} context probes given for {} layers",
                    probes.len(),
                    self.layers.len()
                )));
            }
        }
        let bias = attention_bias(mask)?;
        let rotary = match &self.rotary {
            Some(r) => Some(r.tables(t, embeddings.device())?),
            None => None,
        };
        let mut out = EncoderOutput {
            last_hidden_state: embeddings.clone(),
            hidden_states: Vec::new(),
            attentions: Vec::new(),
            contexts: Vec::new(),
        };
        if capture.hidden_states {
            out.hidden_states.push(embeddings.clone());
        }
        let mut x = embeddings.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let probe = options.context_probes.map(|p| &p[i]);
            x = match self.config.norm {
                NormPlacement::Post => {
                    let attn = layer.attention.forward(&x, &bias, rotary.as_ref(), probe)?;
                    let h = layer.attention_norm.forward(&(attn.projected + &x)?)?;
                    let ff = self
                        .config
                        .activation
                        .apply(&layer.intermediate.forward(&h)?)?;
                    let ff = layer.output.forward(&ff)?;
                    let y = layer.output_norm.forward(&(ff + &h)?)?;
                    keep(&mut out, capture, attn.probs, attn.context);
                    y
                }
                NormPlacement::Pre => {
                    let normed = layer.attention_norm.forward(&x)?;
                    let attn = layer
                        .attention
                        .forward(&normed, &bias, rotary.as_ref(), probe)?;
                    let h = (attn.projected + &x)?;
                    let ff_in = layer.output_norm.forward(&h)?;
                    let ff = self
                        .config
                        .activation
                        .apply(&layer.intermediate.forward(&ff_in)?)?;
                    let y = (layer.output.forward(&ff)? + &h)?;
                    keep(&mut out, capture, attn.probs, attn.context);
                    y
                }
            };
            let is_last = i + 1 == self.layers.len();
            if capture.hidden_states && !(is_last && self.final_norm.is_some()) {
                out.hidden_states.push(x.clone());
            }
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward(&x)?;
            if capture.hidden_states {
                out.hidden_states.push(x.clone());
            }
        }
        out.last_hidden_state = x;
        Ok(out)
    }
}

fn keep(out: &mut EncoderOutput, capture: Capture, probs: Tensor, context: Tensor) {
    if capture.attentions {
        out.attentions.push(probs);
    }
    if capture.contexts {
        out.contexts.push(context);
    }
}
