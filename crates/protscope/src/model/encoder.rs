//! The shared instrumented transformer encoder. Every architecture is the same stack of
//! self-attention + feed-forward blocks with a few switches: post- or pre-normalisation
//! (LayerNorm or RMS), rotary positions (ESM-2, ESM C), a relative position bias (T5) or
//! relative attention (XLNet), q/k normalisation (ESM C), plain or gated feed-forward. All run
//! through this one core, so every capture point (attention probabilities, hidden states,
//! per-head context) means the same thing everywhere, and one closed-form backward pass and
//! one forward-mode tangent serve them all.

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

/// Feed-forward activation. BERT and ESM-2 use the exact (erf) GELU, ALBERT and ProtT5 the tanh
/// approximation, ESM C SiLU (in a gated unit), the original T5 ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" | "gelu_python" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }

    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => super::ops::gelu_erf(x),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }

    /// ∂F/∂x from ∂F/∂activation(x).
    pub fn backward(&self, x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => super::ops::gelu_erf_backward(x, g),
            Activation::GeluTanh => {
                // tanh approximation: 0.5 x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³).
                let c = (2.0 / std::f64::consts::PI).sqrt();
                let u = ((x + (x.powf(3.0)? * 0.044715)?)? * c)?;
                let th = u.tanh()?;
                let du = ((x.sqr()? * (3.0 * 0.044715))? + 1.0)? * c;
                let sech2 = (1.0 - th.sqr()?)?;
                let d = (((th + 1.0)? * 0.5)? + ((x * 0.5)? * (sech2 * du?)?)?)?;
                g * d
            }
            Activation::Relu => g * x.gt(0.0)?.to_dtype(x.dtype())?,
            Activation::Silu => super::ops::silu_backward(x, g),
        }
    }
}

/// Shape and wiring of the encoder stack.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Width of one head; `num_heads · head_size` is the context width, which equals
    /// `hidden_size` except in T5 (`d_kv`).
    pub head_size: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub norm: NormPlacement,
    /// Rotary position embeddings on queries and keys (ESM-2, ESM C), with this base.
    pub rotary_base: Option<f64>,
    /// Factor on the attention scores: 1/√head_size, except T5 (1).
    pub score_scale: f64,
}

impl EncoderConfig {
    /// The usual shape: `hidden_size / num_heads` per head, scores scaled by 1/√head_size.
    #[allow(clippy::too_many_arguments)]
    pub fn standard(
        hidden_size: usize,
        num_layers: usize,
        num_heads: usize,
        intermediate_size: usize,
        layer_norm_eps: f64,
        activation: Activation,
        norm: NormPlacement,
        rotary_base: Option<f64>,
    ) -> Self {
        let head_size = hidden_size / num_heads;
        EncoderConfig {
            hidden_size,
            num_layers,
            num_heads,
            head_size,
            intermediate_size,
            layer_norm_eps,
            activation,
            norm,
            rotary_base,
            score_scale: (head_size as f64).powf(-0.5),
        }
    }

    /// Width of the self-attention context (all heads side by side).
    pub fn context_size(&self) -> usize {
        self.num_heads * self.head_size
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
    /// Only the first `n` positions of the last layer's output are needed (heads that read the
    /// first token): the last layer then computes queries, the feed-forward block and its output
    /// for those rows only, so its output, attention and context have `n` rows. Keys and values
    /// still use every position, so these rows (and all gradients) are unchanged.
    pub last_layer_rows: Option<usize>,
    /// A direction ẋ (B, T, hidden) for the embeddings: the pass then also returns every
    /// layer's context tangent, the exact directional derivative of the context along ẋ
    /// (forward-mode differentiation, [`EncoderOutput::context_tangents`]).
    pub tangent: Option<&'a Tensor>,
    /// Keep only each layer's input for the backward pass and recompute the layer's forward
    /// values when its gradient is needed (checkpointing): memory for L × (B, T, hidden) inputs
    /// plus one layer's values instead of all layers' values, for one more forward pass of work.
    pub recompute_layers: bool,
}

/// Everything one encoder pass produced.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// Output of the last block (after the final LayerNorm for pre-LN models), (B, T, hidden).
    pub last_hidden_state: Tensor,
    /// The (B, T) attention mask of the pass (mean-pooling heads read it).
    pub mask: Tensor,
    /// When captured: `num_layers + 1` tensors (B, T, hidden): the embedding output, then the
    /// output of each layer; for pre-LN models the last one is after the final LayerNorm, as in HF.
    pub hidden_states: Vec<Tensor>,
    /// When captured: one (B, heads, T, T) tensor per layer; row = query (from), column = key (to).
    pub attentions: Vec<Tensor>,
    /// When captured: every layer's maps in one (layers, B, heads, T, T) tensor, written layer by
    /// layer; [`EncoderOutput::attentions`] are views into it (a layer run for fewer rows, see
    /// [`ForwardOptions::last_layer_rows`], is kept on its own and leaves this None). The maps
    /// then exist once: ProtBert's maps of a 1,000-residue protein are 1.9 GB.
    pub attention_stack: Option<Tensor>,
    /// When captured: one (B, T, hidden) tensor per layer (see [`Capture::contexts`]).
    pub contexts: Vec<Tensor>,
    /// When [`ForwardOptions::tangent`] is given: one tensor per layer shaped like its context,
    /// d context / dε at ε = 0 for embeddings + ε·tangent.
    pub context_tangents: Vec<Tensor>,
}

/// Additive attention bias from a (B, T) 0/1 mask: 0 where attended, the most negative value
/// of `dtype` where padded (as HF does), shaped (B, 1, 1, T) to broadcast over heads and queries.
pub fn attention_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let most_negative = match dtype {
        DType::F16 => -65504.0,                   // the most negative finite f16
        DType::BF16 => -3.389_531_389_251_535e38, // the most negative finite bf16
        _ => f32::MIN as f64,
    };
    let bias = ((1.0 - mask.to_dtype(DType::F32)?)? * most_negative)?;
    Ok(bias.to_dtype(dtype)?.reshape((b, 1, 1, t))?)
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
        Ok((x.broadcast_mul(cos)? + Self::rotate_half(x)?.broadcast_mul(sin)?)?)
    }

    /// Transpose of [`Rotary::apply`] (a linear map of x): `g cos − rotate_half(g sin)`, since
    /// rotate_half is antisymmetric.
    fn backward(g: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        Ok((g.broadcast_mul(cos)? - Self::rotate_half(&g.broadcast_mul(sin)?)?)?)
    }

    /// `cat(−x₂, x₁)` over the last dimension's two halves.
    fn rotate_half(x: &Tensor) -> Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let x1 = x.narrow(D::Minus1, 0, d / 2)?;
        let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
        Ok(Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?)
    }
}

/// Self-attention: stacked q/k/v projection, optional q/k normalisation (ESM C), optional
/// rotary positions, softmax(scale · q kᵀ + bias) v, output projection.
#[derive(Debug, Clone)]
pub(crate) struct SelfAttention {
    /// Query, key and value projections stacked into one (3·context, hidden) layer.
    qkv: Linear,
    output: Linear,
    num_heads: usize,
    head_size: usize,
    /// Rotary models (ESM) scale q before the product, BERT scales the scores; each family's
    /// order is kept to stay closest to its reference (they agree up to float rounding).
    rotary: bool,
    score_scale: f64,
    /// ESM C: LayerNorms on q and on k over the whole context width, before rotary.
    qk_norm: Option<(LayerNorm, LayerNorm)>,
    /// XLNet: position and segment terms added to the scores.
    relative: Option<RelativeAttention>,
}

/// What the attention block's backward pass needs from its forward pass.
#[derive(Debug, Clone)]
struct SavedAttention {
    /// (B, heads, T, head_size): the operands of the score product, i.e. after rotary and
    /// (for rotary models) after scaling q.
    q: Tensor,
    k: Tensor,
    v: Tensor,
    probs: Tensor,
    /// With q/k normalisation: the projected q and k (B, T, context) before it.
    qk_projected: Option<(Tensor, Tensor)>,
}

impl SelfAttention {
    /// From its parts: `qkv` maps hidden → 3·context (q, k, v side by side), `output` context →
    /// hidden; `qk_norm` normalises q and k (ESM C).
    pub(crate) fn new(
        qkv: Linear,
        output: Linear,
        qk_norm: Option<(LayerNorm, LayerNorm)>,
        cfg: &EncoderConfig,
    ) -> Self {
        SelfAttention {
            qkv,
            output,
            num_heads: cfg.num_heads,
            head_size: cfg.head_size,
            rotary: cfg.rotary_base.is_some(),
            score_scale: cfg.score_scale,
            qk_norm,
            relative: None,
        }
    }

    /// XLNet's relative attention on top of [`Self::new`].
    pub(crate) fn with_relative(mut self, relative: RelativeAttention) -> Self {
        self.relative = Some(relative);
        self
    }

    /// HF BERT names: `{prefix}.attention.self.{query,key,value}`, `{prefix}.attention.output.dense`.
    fn load(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        let query = w.linear(&format!("{prefix}.attention.self.query"), h, h)?;
        let key = w.linear(&format!("{prefix}.attention.self.key"), h, h)?;
        let value = w.linear(&format!("{prefix}.attention.self.value"), h, h)?;
        Ok(Self::new(
            Linear::concat_outputs(&[&query, &key, &value])?,
            w.linear(&format!("{prefix}.attention.output.dense"), h, h)?,
            None,
            cfg,
        ))
    }

    fn scale(&self) -> f64 {
        self.score_scale
    }

    fn context_size(&self) -> usize {
        self.num_heads * self.head_size
    }

    /// The stacked q/k/v projection with q and k normalised where the model does (ESM C);
    /// returns the projected q and k before normalisation for the backward pass.
    fn normalize_qk(&self, qkv: Tensor) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        let Some((q_norm, k_norm)) = &self.qk_norm else {
            return Ok((qkv, None));
        };
        let c = self.context_size();
        let q = qkv.narrow(D::Minus1, 0, c)?;
        let k = qkv.narrow(D::Minus1, c, c)?;
        let v = qkv.narrow(D::Minus1, 2 * c, c)?;
        let normed = Tensor::cat(&[&q_norm.forward(&q)?, &k_norm.forward(&k)?, &v], D::Minus1)?;
        Ok((normed, Some((q.contiguous()?, k.contiguous()?))))
    }

    /// Tangent of [`Self::normalize_qk`] for a direction of the stacked projection.
    fn normalize_qk_tangent(&self, saved: &SavedAttention, qkv_dot: Tensor) -> Result<Tensor> {
        let (Some((q_norm, k_norm)), Some((q, k))) = (&self.qk_norm, &saved.qk_projected) else {
            return Ok(qkv_dot);
        };
        let c = self.context_size();
        let q_dot = q_norm.tangent(q, &qkv_dot.narrow(D::Minus1, 0, c)?)?;
        let k_dot = k_norm.tangent(k, &qkv_dot.narrow(D::Minus1, c, c)?)?;
        let v_dot = qkv_dot.narrow(D::Minus1, 2 * c, c)?;
        Ok(Tensor::cat(&[&q_dot, &k_dot, &v_dot], D::Minus1)?)
    }

    /// Backward pass of [`Self::normalize_qk`]: ∂F/∂(projection) from ∂F/∂(normalised).
    fn normalize_qk_backward(&self, saved: &SavedAttention, d_qkv: Tensor) -> Result<Tensor> {
        let (Some((q_norm, k_norm)), Some((q, k))) = (&self.qk_norm, &saved.qk_projected) else {
            return Ok(d_qkv);
        };
        let c = self.context_size();
        let d_q = q_norm.backward_input(q, &d_qkv.narrow(D::Minus1, 0, c)?.contiguous()?)?;
        let d_k = k_norm.backward_input(k, &d_qkv.narrow(D::Minus1, c, c)?.contiguous()?)?;
        let d_v = d_qkv.narrow(D::Minus1, 2 * c, c)?;
        Ok(Tensor::cat(&[&d_q, &d_k, &d_v], D::Minus1)?)
    }

    /// q (first `query_rows` positions), k and v as (B, heads, T, head_size) views of the
    /// stacked projection output (B, T, 3·hidden). On CPU the products read them in place
    /// through their strides; other devices' matmuls want them contiguous.
    fn split_heads(
        &self,
        qkv: Tensor,
        b: usize,
        t: usize,
        query_rows: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let qkv = qkv
            .reshape((b, t, 3, self.num_heads, self.head_size))?
            .permute((2, 0, 3, 1, 4))?; // (3, B, heads, T, head_size)
        let qkv = if qkv.device().is_cpu() && !super::ops::generic_ops_forced() {
            qkv
        } else {
            qkv.contiguous()?
        };
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let q = if query_rows < t {
            q.narrow(2, 0, query_rows)?.contiguous()?
        } else {
            q
        };
        Ok((q, k, v))
    }

    /// The operands of the score product and the scale it takes. Rotary models (ESM) scale q
    /// and rotate q and k before the product; BERT scales the scores.
    /// With `direction`, q and k are tangents: the linear maps apply, constant offsets not.
    fn score_operands(
        &self,
        q: Tensor,
        k: Tensor,
        rotary: Option<&(Tensor, Tensor)>,
        direction: bool,
    ) -> Result<(Tensor, Tensor, f64)> {
        Ok(match rotary {
            Some((cos, sin)) => {
                let rows = q.dim(2)?;
                let (cos_q, sin_q) = (cos.narrow(0, 0, rows)?, sin.narrow(0, 0, rows)?);
                (
                    Rotary::apply(&(q * self.scale())?, &cos_q, &sin_q)?,
                    Rotary::apply(&k, cos, sin)?,
                    1.0,
                )
            }
            None => match &self.relative {
                Some(relative) if !direction => (relative.content_query(&q)?, k, self.scale()),
                Some(_) => (q, k, self.scale()),
                None => (q, k, self.scale()),
            },
        })
    }

    /// Self-attention context (B, T, hidden), before the output projection, computed without a
    /// gradient path; returns what the backward pass needs.
    fn context(
        &self,
        x: &Tensor,
        bias: &Tensor,
        positions: &PositionInputs,
        query_rows: usize,
    ) -> Result<(Tensor, SavedAttention)> {
        let rotary = positions.rotary.as_ref();
        let (b, t, _) = x.dims3()?;
        let (qkv, qk_projected) = self.normalize_qk(self.qkv.forward_detached(x)?)?;
        let (q, k, v) = self.split_heads(qkv, b, t, query_rows)?;
        let (q, k, score_scale) = self.score_operands(q, k, rotary, false)?;
        let mut scores = super::ops::batched_matmul(&q, &k.t()?, score_scale)?;
        if let Some(relative) = &self.relative {
            let terms = relative.scores(&q, positions, true)?;
            scores = (scores + (terms * score_scale)?)?;
        }
        // A full bias (relative positions) has a row per query: keep the rows computed.
        let bias = if bias.dim(2)? > 1 && query_rows < t {
            bias.narrow(2, 0, query_rows)?
        } else {
            bias.clone()
        };
        let probs = super::ops::masked_softmax(&scores, &bias)?;
        let context = super::ops::batched_matmul(&probs, &v, 1.0)?
            .transpose(1, 2)?
            .reshape((b, query_rows, self.context_size()))?; // (B, rows, context)
        Ok((
            context,
            SavedAttention {
                q,
                k,
                v,
                probs,
                qk_projected,
            },
        ))
    }

    /// Directional derivative of the context (B, rows, hidden) for a direction `x_dot`
    /// (B, T, hidden) of the block input: the forward-mode counterpart of [`Self::backward`].
    /// q, k, v and the probabilities move together: Ṡ = q̇ kᵀ + q k̇ᵀ (scaled as the scores),
    /// ṗ = p ⊙ (Ṡ − Σ p Ṡ), ċ = ṗ v + p v̇.
    fn context_tangent(
        &self,
        saved: &SavedAttention,
        x_dot: &Tensor,
        positions: &PositionInputs,
    ) -> Result<Tensor> {
        let rotary = positions.rotary.as_ref();
        let (b, t, _) = x_dot.dims3()?;
        let rows = saved.q.dim(2)?;
        let qkv_dot = self.normalize_qk_tangent(saved, self.qkv.tangent(x_dot)?)?;
        let (q_dot, k_dot, v_dot) = self.split_heads(qkv_dot, b, t, rows)?;
        // Rotary models: saved q and k are already scaled and rotated, both linear maps.
        let (q_dot, k_dot, score_scale) = self.score_operands(q_dot, k_dot, rotary, true)?;
        let SavedAttention { q, k, v, probs, .. } = saved;
        let mut scores_dot = (super::ops::batched_matmul(&q_dot, &k.t()?, 1.0)?
            + super::ops::batched_matmul(q, &k_dot.t()?, 1.0)?)?;
        if let Some(relative) = &self.relative {
            // The position and segment terms are linear in q (the biases do not move).
            scores_dot = (scores_dot + relative.scores(&q_dot, positions, false)?)?;
        }
        // The softmax Jacobian is symmetric: its tangent is its backward formula.
        let probs_dot = super::ops::softmax_backward(probs, &scores_dot, score_scale)?;
        let context_dot = (super::ops::batched_matmul(&probs_dot, v, 1.0)?
            + super::ops::batched_matmul(probs, &v_dot, 1.0)?)?;
        Ok(context_dot
            .transpose(1, 2)?
            .reshape((b, rows, self.context_size()))?)
    }

    /// ∂F/∂(block input) (B, T, hidden) from ∂F/∂context (B, rows, hidden).
    fn backward(
        &self,
        saved: &SavedAttention,
        d_context: &Tensor,
        positions: &PositionInputs,
    ) -> Result<Tensor> {
        let rotary = positions.rotary.as_ref();
        let (b, rows, hidden) = d_context.dims3()?;
        let t = saved.k.dim(2)?;
        let d_c = d_context
            .reshape((b, rows, self.num_heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()?;
        let SavedAttention { q, k, v, probs, .. } = saved;
        let d_probs = super::ops::batched_matmul(&d_c, &v.t()?, 1.0)?;
        let d_v = super::ops::batched_matmul(&probs.t()?, &d_c, 1.0)?;
        // BERT scales the scores: fold the scale into the softmax backward pass.
        let score_scale = if self.rotary { 1.0 } else { self.scale() };
        let d_scores = super::ops::softmax_backward(probs, &d_probs, score_scale)?;
        let mut d_q = super::ops::batched_matmul(&d_scores, k, 1.0)?;
        let mut d_k = super::ops::batched_matmul(&d_scores.t()?, q, 1.0)?;
        if let Some(relative) = &self.relative {
            d_q = (d_q + relative.backward(&d_scores, positions)?)?;
        }
        if let Some((cos, sin)) = rotary {
            let (cos_q, sin_q) = (cos.narrow(0, 0, rows)?, sin.narrow(0, 0, rows)?);
            d_q = (Rotary::backward(&d_q, &cos_q, &sin_q)? * self.scale())?;
            d_k = Rotary::backward(&d_k, cos, sin)?;
        }
        // Positions without a query get no query gradient.
        let d_q = pad_rows(&d_q, 2, t)?;
        // (B, 3·heads, T, head_size) -> (B, T, 3·hidden), the column order of the stacked qkv.
        let d_qkv = Tensor::cat(&[&d_q, &d_k, &d_v], 1)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, 3 * hidden))?;
        let d_qkv = self.normalize_qk_backward(saved, d_qkv)?;
        Ok(self.qkv.backward_input(&d_qkv)?)
    }
}

/// Per-pass position data every layer reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct PositionInputs {
    /// Rotary cos/sin tables (T, head_size).
    rotary: Option<(Tensor, Tensor)>,
    /// XLNet: sinusoidal encodings of the relative offsets T, T−1, …, −T+1: (2T, hidden).
    relative: Option<Tensor>,
    /// XLNet: 1 where query and key lie in different segments, else 0: (B, 1, T, T).
    segment_differs: Option<Tensor>,
}

/// Which segment ids XLNet's passes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentIds {
    /// No segment ids, so no segment term in the scores: HF `model(input_ids)`, as provis
    /// (`compute_edge_features.py`) and ProtTrans' examples call ProtXLNet. The default: it is
    /// how the seeds' analyses ran.
    #[default]
    None,
    /// The segment ids HF's XLNet tokenizer returns (residues and `<sep>` segment 0, the final
    /// `<cls>` segment 2): HF `model(**tokenizer(x))`.
    Tokenizer,
}

impl SegmentIds {
    /// `none` or `tokenizer`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "none" => Ok(SegmentIds::None),
            "tokenizer" => Ok(SegmentIds::Tokenizer),
            other => Err(crate::Error::invalid(format!(
                "segment ids `{other}`: expected none or tokenizer"
            ))),
        }
    }
}

/// XLNet's per-pass position settings.
#[derive(Debug, Clone, Copy)]
struct XlnetInputs {
    /// `clamp_len` of config.json where positive: relative offsets beyond it count as it.
    clamp_len: Option<usize>,
    segment_ids: SegmentIds,
}

/// XLNet's relative attention terms (HF `XLNetRelativeAttention.rel_attn_core`, content
/// stream): with q the projected query, scores = (q + r_w)·k + (q + r_r)·r[i − j] +
/// (q + r_s)·s[seg_i ≠ seg_j], all times the scale. The first term is the ordinary product of
/// the core (its q is `q + r_w`); this adds the other two.
#[derive(Debug, Clone)]
pub(crate) struct RelativeAttention {
    /// Position encodings → keys (`rel_attn.r`), hidden → context, no bias.
    r: Linear,
    /// (1, heads, 1, head_size) each.
    r_w_bias: Tensor,
    r_r_bias: Tensor,
    r_s_bias: Tensor,
    /// (1, heads, head_size, 2): the segment embeddings for "same" (0) and "different" (1).
    seg_embed: Tensor,
    num_heads: usize,
    head_size: usize,
}

impl RelativeAttention {
    /// Biases as HF stores them, (heads, head_size); `seg_embed` (2, heads, head_size).
    pub(crate) fn new(
        r: Linear,
        r_w_bias: &Tensor,
        r_r_bias: &Tensor,
        r_s_bias: &Tensor,
        seg_embed: &Tensor,
    ) -> Result<Self> {
        let (num_heads, head_size) = r_w_bias.dims2()?;
        let shape = (1, num_heads, 1, head_size);
        Ok(RelativeAttention {
            r,
            r_w_bias: r_w_bias.reshape(shape)?,
            r_r_bias: r_r_bias.reshape(shape)?,
            r_s_bias: r_s_bias.reshape(shape)?,
            seg_embed: seg_embed.permute((1, 2, 0))?.unsqueeze(0)?.contiguous()?,
            num_heads,
            head_size,
        })
    }

    /// The core's q is q + r_w; the projected q is what the position and segment terms read.
    pub(crate) fn content_query(&self, q: &Tensor) -> Result<Tensor> {
        Ok(q.broadcast_add(&self.r_w_bias)?)
    }

    /// Keys of the relative offsets, (1, heads, 2T, head_size).
    fn position_keys(&self, positions: &PositionInputs) -> Result<Tensor> {
        let encodings = positions
            .relative
            .as_ref()
            .ok_or_else(|| crate::Error::invalid("XLNet attention without position encodings"))?;
        let rows = encodings.dim(0)?;
        Ok(self
            .r
            .forward_detached(encodings)?
            .reshape((rows, self.num_heads, self.head_size))?
            .transpose(0, 1)?
            .unsqueeze(0)?
            .contiguous()?)
    }

    /// Column of offset i − j in the (…, 2T) position scores, for query i and key j: T − i + j
    /// (HF's `rel_shift_bnij`), shaped (B, heads, rows, T).
    fn offset_index(
        b: usize,
        heads: usize,
        rows: usize,
        t: usize,
        device: &Device,
    ) -> Result<Tensor> {
        let index: Vec<u32> = (0..rows)
            .flat_map(|i| (0..t).map(move |j| (t - i + j) as u32))
            .collect();
        Ok(Tensor::from_vec(index, (1, 1, rows, t), device)?
            .broadcast_as((b, heads, rows, t))?
            .contiguous()?)
    }

    /// Position + segment terms (B, heads, rows, T) for the core's query `q` ((B, heads, rows,
    /// head_size), = projected q + r_w when `with_bias`) or, without the biases, for a query
    /// direction q̇ (the terms' tangent).
    fn scores(&self, q: &Tensor, positions: &PositionInputs, with_bias: bool) -> Result<Tensor> {
        let (b, heads, rows, _) = q.dims4()?;
        let projected = if with_bias {
            q.broadcast_sub(&self.r_w_bias)?
        } else {
            q.clone()
        };
        let (q_r, q_s) = if with_bias {
            (
                projected.broadcast_add(&self.r_r_bias)?,
                projected.broadcast_add(&self.r_s_bias)?,
            )
        } else {
            (projected.clone(), projected)
        };
        let keys = self.position_keys(positions)?;
        let t = keys.dim(2)? / 2;
        let all_offsets = q_r.broadcast_matmul(&keys.t()?)?; // (B, heads, rows, 2T)
        let index = Self::offset_index(b, heads, rows, t, q.device())?;
        let position_terms = all_offsets.contiguous()?.gather(&index, 3)?;
        // Without segment ids (HF `token_type_ids=None`) there is no segment term at all.
        let Some(differs) = self.segment_rows(positions, rows)? else {
            return Ok(position_terms);
        };
        // (B, heads, rows, 2): the segment term for "same" and "different" segment.
        let segment = q_s.broadcast_matmul(&self.seg_embed)?;
        let same = segment.narrow(3, 0, 1)?;
        let different = segment.narrow(3, 1, 1)?;
        let segment_terms = same.broadcast_add(&differs.broadcast_mul(&(different - &same)?)?)?;
        Ok((position_terms + segment_terms)?)
    }

    fn segment_rows(&self, positions: &PositionInputs, rows: usize) -> Result<Option<Tensor>> {
        let Some(differs) = positions.segment_differs.as_ref() else {
            return Ok(None);
        };
        Ok(Some(if differs.dim(2)? > rows {
            differs.narrow(2, 0, rows)?
        } else {
            differs.clone()
        }))
    }

    /// ∂F/∂q from the position and segment terms, given ∂F/∂(unscaled scores) (B, heads,
    /// rows, T).
    fn backward(&self, d_scores: &Tensor, positions: &PositionInputs) -> Result<Tensor> {
        let (b, heads, rows, t) = d_scores.dims4()?;
        let keys = self.position_keys(positions)?;
        let index = Self::offset_index(b, heads, rows, t, d_scores.device())?;
        let zeros = Tensor::zeros((b, heads, rows, 2 * t), d_scores.dtype(), d_scores.device())?;
        let d_offsets = zeros.scatter_add(&index, &d_scores.contiguous()?, 3)?;
        let d_q_position = d_offsets.broadcast_matmul(&keys)?;
        let Some(differs) = self.segment_rows(positions, rows)? else {
            return Ok(d_q_position);
        };
        let d_different = d_scores.broadcast_mul(&differs)?.sum_keepdim(3)?;
        let d_same = (d_scores.sum_keepdim(3)? - &d_different)?;
        let d_segment = Tensor::cat(&[&d_same, &d_different], 3)?; // (B, heads, rows, 2)
        let d_q_segment = d_segment.broadcast_matmul(&self.seg_embed.t()?)?;
        Ok((d_q_position + d_q_segment)?)
    }
}

/// XLNet's sinusoidal encodings of the offsets T, T−1, …, −T+1 (HF
/// `relative_positional_encoding`, bidirectional), each offset clamped to ±`clamp_len` where
/// the config sets one: (2T, hidden), `[sin, cos]`.
fn relative_encodings(
    t: usize,
    hidden: usize,
    clamp_len: Option<usize>,
    device: &Device,
) -> Result<Tensor> {
    let inv_freq: Vec<f32> = (0..hidden)
        .step_by(2)
        .map(|i| 1.0 / 10000f32.powf(i as f32 / hidden as f32))
        .collect();
    let half = inv_freq.len();
    let mut values = Vec::with_capacity(2 * t * hidden);
    for k in 0..2 * t {
        let mut offset = t as f32 - k as f32;
        if let Some(clamp) = clamp_len {
            offset = offset.clamp(-(clamp as f32), clamp as f32);
        }
        let angles: Vec<f32> = inv_freq.iter().map(|f| offset * f).collect();
        values.extend(angles.iter().map(|a| a.sin()));
        values.extend(angles.iter().map(|a| a.cos()));
    }
    Ok(Tensor::from_vec(values, (2 * t, 2 * half), device)?)
}

/// XLNet segments from the (B, T) mask: the residues and `<sep>` are segment 0, the final real
/// token (`<cls>`) segment 2 and padding segment 3, as HF's XLNet tokenizer assigns them;
/// (B, 1, T, T) with 1 where query and key segments differ.
fn xlnet_segments_differ(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let lengths: Vec<u32> = mask.to_dtype(DType::U32)?.sum(1)?.to_vec1()?;
    let mut differs = Vec::with_capacity(b * t * t);
    for &len in &lengths {
        let len = len as usize;
        let segment = |p: usize| match p {
            p if p + 1 < len => 0u8,
            p if p + 1 == len => 2,
            _ => 3,
        };
        for i in 0..t {
            for j in 0..t {
                differs.push(f32::from(u8::from(segment(i) != segment(j))));
            }
        }
    }
    Ok(Tensor::from_vec(differs, (b, 1, t, t), mask.device())?)
}

/// The position-wise feed-forward block: `output(act(input(x)))`, or gated
/// `output(act(a) ⊙ u)` with `[a, u] = input(x)` (T5 v1.1 / ProtT5 gated GELU, ESM C SwiGLU).
#[derive(Debug, Clone)]
pub(crate) struct FeedForward {
    /// hidden → intermediate, or → 2·intermediate (`[a, u]` side by side) when gated.
    input: Linear,
    output: Linear,
    activation: Activation,
    gated: bool,
}

impl FeedForward {
    pub(crate) fn new(input: Linear, output: Linear, activation: Activation, gated: bool) -> Self {
        FeedForward {
            input,
            output,
            activation,
            gated,
        }
    }

    /// `act(a) ⊙ u` (gated) or `act(pre)`, from the input projection `pre`.
    fn activate(&self, pre: &Tensor) -> Result<Tensor> {
        if !self.gated {
            return Ok(self.activation.apply(pre)?);
        }
        let (a, u) = Self::halves(pre)?;
        Ok((self.activation.apply(&a)? * u)?)
    }

    fn halves(pre: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = pre.dim(D::Minus1)? / 2;
        Ok((pre.narrow(D::Minus1, 0, n)?, pre.narrow(D::Minus1, n, n)?))
    }

    /// Output and the input projection (what the backward pass needs), no gradient path.
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let pre = self.input.forward_detached(x)?;
        let out = self.output.forward_detached(&self.activate(&pre)?)?;
        Ok((out, pre))
    }

    /// Directional derivative of the output for an input direction `x_dot`.
    fn tangent(&self, pre: &Tensor, x_dot: &Tensor) -> Result<Tensor> {
        let pre_dot = self.input.tangent(x_dot)?;
        // The activation acts elementwise: its tangent is its backward formula.
        let ff_dot = if self.gated {
            let ((a, u), (a_dot, u_dot)) = (Self::halves(pre)?, Self::halves(&pre_dot)?);
            ((self.activation.backward(&a, &a_dot)? * &u)? + (self.activation.apply(&a)? * u_dot)?)?
        } else {
            self.activation.backward(pre, &pre_dot)?
        };
        Ok(self.output.tangent(&ff_dot)?)
    }

    /// ∂F/∂x from ∂F/∂output.
    fn backward(&self, pre: &Tensor, g: &Tensor) -> Result<Tensor> {
        let d_ff = self.output.backward_input(g)?;
        let d_pre = if self.gated {
            let (a, u) = Self::halves(pre)?;
            let d_a = self.activation.backward(&a, &(&d_ff * &u)?)?;
            let d_u = (d_ff * self.activation.apply(&a)?)?;
            Tensor::cat(&[&d_a, &d_u], D::Minus1)?
        } else {
            self.activation.backward(pre, &d_ff)?
        };
        Ok(self.input.backward_input(&d_pre)?)
    }
}

/// One transformer block.
#[derive(Debug, Clone)]
pub(crate) struct EncoderLayer {
    attention: SelfAttention,
    /// Post-LN: after attention + residual. Pre-LN: before attention.
    attention_norm: LayerNorm,
    feed_forward: FeedForward,
    /// Post-LN: after feed-forward + residual. Pre-LN: before the feed-forward.
    output_norm: LayerNorm,
    norm: NormPlacement,
}

/// What a layer's backward pass needs from its forward pass.
#[derive(Debug, Clone)]
struct SavedLayer {
    attention: SavedAttention,
    /// Input of the LayerNorm after the attention residual (post-LN), or the layer input (pre-LN).
    attention_norm_input: Tensor,
    /// Input of the output LayerNorm: the feed-forward residual sum (post-LN) or the attention
    /// residual sum (pre-LN).
    output_norm_input: Tensor,
    /// Feed-forward input projection (B, T, intermediate or 2·intermediate when gated).
    ff_pre_activation: Tensor,
}

/// One layer's forward values.
struct LayerForward {
    output: Tensor,
    context: Tensor,
    saved: SavedLayer,
}

impl EncoderLayer {
    /// From its parts (architectures whose weight names differ from BERT's).
    pub(crate) fn new(
        attention: SelfAttention,
        attention_norm: LayerNorm,
        feed_forward: FeedForward,
        output_norm: LayerNorm,
        norm: NormPlacement,
    ) -> Self {
        EncoderLayer {
            attention,
            attention_norm,
            feed_forward,
            output_norm,
            norm,
        }
    }

    /// HF BERT / ESM names under `{prefix}`.
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
        let feed_forward = FeedForward::new(
            w.linear(
                &format!("{prefix}.intermediate.dense"),
                h,
                cfg.intermediate_size,
            )?,
            w.linear(&format!("{prefix}.output.dense"), cfg.intermediate_size, h)?,
            cfg.activation,
            false,
        );
        Ok(Self::new(
            SelfAttention::load(w, prefix, cfg)?,
            attention_norm,
            feed_forward,
            output_norm,
            cfg.norm,
        ))
    }

    /// The layer on `x` without a gradient path (see [`Encoder::forward`] for how gradients
    /// reach `x`).
    fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        positions: &PositionInputs,
        rows: usize,
    ) -> Result<LayerForward> {
        let x = x.detach();
        let x_rows = if rows < x.dim(1)? {
            x.narrow(1, 0, rows)?
        } else {
            x.clone()
        };
        Ok(match self.norm {
            NormPlacement::Post => {
                let (context, attention) = self.attention.context(&x, bias, positions, rows)?;
                let attention_sum = (self.attention.output.forward_detached(&context)? + &x_rows)?;
                let h = self.attention_norm.forward(&attention_sum)?;
                let (ff, ff_pre) = self.feed_forward.forward(&h)?;
                let output_sum = (ff + &h)?;
                LayerForward {
                    output: self.output_norm.forward(&output_sum)?,
                    context,
                    saved: SavedLayer {
                        attention,
                        attention_norm_input: attention_sum,
                        output_norm_input: output_sum,
                        ff_pre_activation: ff_pre,
                    },
                }
            }
            NormPlacement::Pre => {
                let normed = self.attention_norm.forward(&x)?;
                let (context, attention) =
                    self.attention.context(&normed, bias, positions, rows)?;
                let h = (self.attention.output.forward_detached(&context)? + &x_rows)?;
                let (ff, ff_pre) = self.feed_forward.forward(&self.output_norm.forward(&h)?)?;
                LayerForward {
                    output: (ff + &h)?,
                    context,
                    saved: SavedLayer {
                        attention,
                        attention_norm_input: x,
                        output_norm_input: h,
                        ff_pre_activation: ff_pre,
                    },
                }
            }
        })
    }

    /// Directional derivatives for an input direction `x_dot` (B, T, hidden): the context's
    /// and, when `with_output`, the layer output's (None otherwise: the last layer's output
    /// tangent is not needed for contexts). Uses the values kept by the forward pass.
    fn tangent(
        &self,
        saved: &SavedLayer,
        x_dot: &Tensor,
        positions: &PositionInputs,
        with_output: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let rows = saved.attention.q.dim(2)?;
        let x_dot_rows = if rows < x_dot.dim(1)? {
            x_dot.narrow(1, 0, rows)?
        } else {
            x_dot.clone()
        };
        let ff_tangent = |h_dot: &Tensor| -> Result<Tensor> {
            self.feed_forward.tangent(&saved.ff_pre_activation, h_dot)
        };
        Ok(match self.norm {
            NormPlacement::Post => {
                let context_dot =
                    self.attention
                        .context_tangent(&saved.attention, x_dot, positions)?;
                if !with_output {
                    return Ok((context_dot, None));
                }
                let sum_dot = (self.attention.output.tangent(&context_dot)? + x_dot_rows)?;
                let h_dot = self
                    .attention_norm
                    .tangent(&saved.attention_norm_input, &sum_dot)?;
                let out_sum_dot = (ff_tangent(&h_dot)? + h_dot)?;
                let out_dot = self
                    .output_norm
                    .tangent(&saved.output_norm_input, &out_sum_dot)?;
                (context_dot, Some(out_dot))
            }
            NormPlacement::Pre => {
                let normed_dot = self
                    .attention_norm
                    .tangent(&saved.attention_norm_input, x_dot)?;
                let context_dot =
                    self.attention
                        .context_tangent(&saved.attention, &normed_dot, positions)?;
                if !with_output {
                    return Ok((context_dot, None));
                }
                let h_dot = (self.attention.output.tangent(&context_dot)? + x_dot_rows)?;
                let ff_in_dot = self.output_norm.tangent(&saved.output_norm_input, &h_dot)?;
                (context_dot, Some((ff_tangent(&ff_in_dot)? + h_dot)?))
            }
        })
    }

    /// (∂F/∂x, ∂F/∂context) from ∂F/∂output: the closed-form backward pass of the whole layer
    /// with frozen weights (no weight gradients, no per-op autograd bookkeeping).
    fn backward(
        &self,
        saved: &SavedLayer,
        d_output: &Tensor,
        positions: &PositionInputs,
    ) -> Result<(Tensor, Tensor)> {
        let ff_backward = |d_ff_out: &Tensor| -> Result<Tensor> {
            self.feed_forward
                .backward(&saved.ff_pre_activation, d_ff_out)
        };
        Ok(match self.norm {
            NormPlacement::Post => {
                let d_sum = self
                    .output_norm
                    .backward_input(&saved.output_norm_input, d_output)?;
                let d_h = (ff_backward(&d_sum)? + &d_sum)?;
                let d_attention_sum = self
                    .attention_norm
                    .backward_input(&saved.attention_norm_input, &d_h)?;
                let d_context = self.attention.output.backward_input(&d_attention_sum)?;
                let d_x = self
                    .attention
                    .backward(&saved.attention, &d_context, positions)?;
                let t = d_x.dim(1)?;
                ((d_x + pad_rows(&d_attention_sum, 1, t)?)?, d_context)
            }
            NormPlacement::Pre => {
                let d_ff_in = ff_backward(d_output)?;
                let d_h = (self
                    .output_norm
                    .backward_input(&saved.output_norm_input, &d_ff_in)?
                    + d_output)?;
                let d_context = self.attention.output.backward_input(&d_h)?;
                let d_normed = self
                    .attention
                    .backward(&saved.attention, &d_context, positions)?;
                let t = d_normed.dim(1)?;
                let d_x = (self
                    .attention_norm
                    .backward_input(&saved.attention_norm_input, &d_normed)?
                    + pad_rows(&d_h, 1, t)?)?;
                (d_x, d_context)
            }
        })
    }
}

/// `x` extended with zero rows along `dim` up to `total` rows.
fn pad_rows(x: &Tensor, dim: usize, total: usize) -> Result<Tensor> {
    let rows = x.dim(dim)?;
    if rows >= total {
        return Ok(x.clone());
    }
    let mut dims = x.dims().to_vec();
    dims[dim] = total - rows;
    let zeros = Tensor::zeros(dims, x.dtype(), x.device())?;
    Ok(Tensor::cat(&[x, &zeros], dim)?)
}

/// What a layer's backward node keeps: the forward values, or what it takes to recompute them
/// from the layer input.
enum KeptForBackward {
    Saved(SavedLayer),
    Recompute { bias: Tensor, rows: usize },
}

/// The backward pass of one layer, attached to its input (and to its context probe).
struct LayerBackward {
    layer: EncoderLayer,
    kept: KeptForBackward,
    positions: PositionInputs,
}

impl super::ops::Backward for LayerBackward {
    fn name(&self) -> &'static str {
        "encoder-layer-with-backward"
    }

    fn backward(
        &self,
        x: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let to_candle = |e: crate::Error| candle_core::Error::Msg(e.to_string());
        let recomputed;
        let saved = match &self.kept {
            KeptForBackward::Saved(saved) => saved,
            KeptForBackward::Recompute { bias, rows } => {
                recomputed = self
                    .layer
                    .forward(x, bias, &self.positions, *rows)
                    .map_err(to_candle)?
                    .saved;
                &recomputed
            }
        };
        let (d_x, d_context) = self
            .layer
            .backward(saved, g, &self.positions)
            .map_err(to_candle)?;
        // The probe is shaped like a full context.
        let d_context = pad_rows(&d_context, 1, d_x.dim(1)?).map_err(to_candle)?;
        Ok((d_x, Some(d_context)))
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
    /// T5: relative position bias added to every layer's scores.
    position_bias: Option<RelativePositionBias>,
    /// XLNet: relative position encodings (and segments) for every layer's relative attention.
    xlnet: Option<XlnetInputs>,
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
        Ok(Self::new(config, layers, final_norm, None))
    }

    /// A stack of layers built by an architecture file; `final_norm` follows the last layer
    /// (pre-LN models), `position_bias` is added to every layer's scores (T5).
    pub(crate) fn new(
        config: EncoderConfig,
        layers: Vec<EncoderLayer>,
        final_norm: Option<LayerNorm>,
        position_bias: Option<RelativePositionBias>,
    ) -> Self {
        let rotary = config
            .rotary_base
            .map(|base| Rotary::new(config.head_size, base));
        Encoder {
            config,
            layers,
            final_norm,
            rotary,
            position_bias,
            xlnet: None,
        }
    }

    /// XLNet: every pass computes the relative position encodings and segment matrix its
    /// layers' [`RelativeAttention`] reads.
    pub(crate) fn with_xlnet_positions(mut self, clamp_len: Option<usize>) -> Self {
        self.xlnet = Some(XlnetInputs {
            clamp_len,
            segment_ids: SegmentIds::default(),
        });
        self
    }

    /// XLNet: the segment ids its passes use; None for other architectures.
    pub fn segment_ids(&self) -> Option<SegmentIds> {
        self.xlnet.as_ref().map(|x| x.segment_ids)
    }

    /// Sets XLNet's segment ids; an error for other architectures, which have none.
    pub(crate) fn set_segment_ids(&mut self, segment_ids: SegmentIds) -> Result<()> {
        match &mut self.xlnet {
            Some(x) => {
                x.segment_ids = segment_ids;
                Ok(())
            }
            None => Err(crate::Error::invalid(
                "segment ids are an XLNet setting; this model is not an XLNet",
            )),
        }
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
        let mut bias = attention_bias(mask, embeddings.dtype())?;
        if let Some(position_bias) = &self.position_bias {
            let table = position_bias.table(t, embeddings.device())?;
            bias = bias.broadcast_add(&table.to_dtype(bias.dtype())?)?;
        }
        let mut positions = PositionInputs::default();
        if let Some(r) = &self.rotary {
            let (cos, sin) = r.tables(t, embeddings.device())?;
            let dtype = embeddings.dtype();
            positions.rotary = Some((cos.to_dtype(dtype)?, sin.to_dtype(dtype)?));
        }
        if let Some(xlnet) = &self.xlnet {
            let dtype = embeddings.dtype();
            let encodings = relative_encodings(
                t,
                self.config.hidden_size,
                xlnet.clamp_len,
                embeddings.device(),
            )?;
            positions.relative = Some(encodings.to_dtype(dtype)?);
            if xlnet.segment_ids == SegmentIds::Tokenizer {
                positions.segment_differs = Some(xlnet_segments_differ(mask)?.to_dtype(dtype)?);
            }
        }
        let mut out = EncoderOutput {
            last_hidden_state: embeddings.clone(),
            mask: mask.clone(),
            hidden_states: Vec::new(),
            attentions: Vec::new(),
            attention_stack: None,
            contexts: Vec::new(),
            context_tangents: Vec::new(),
        };
        if capture.hidden_states {
            out.hidden_states.push(embeddings.clone());
        }
        let mut x = embeddings.clone();
        let mut x_dot = options.tangent.cloned();
        for (i, layer) in self.layers.iter().enumerate() {
            let probe = options.context_probes.map(|p| &p[i]);
            let rows = match options.last_layer_rows {
                Some(n) if i + 1 == self.layers.len() => n.clamp(1, t),
                _ => t,
            };
            let LayerForward {
                output,
                context,
                saved,
            } = layer.forward(&x, &bias, &positions, rows)?;
            if let Some(direction) = x_dot.take() {
                let is_last = i + 1 == self.layers.len();
                let (context_dot, out_dot) =
                    layer.tangent(&saved, &direction, &positions, !is_last)?;
                out.context_tangents.push(context_dot);
                x_dot = out_dot;
            }
            let probs = saved.attention.probs.clone();
            // The whole layer is one node of the gradient graph: its backward pass is the
            // closed-form one of `EncoderLayer::backward`, and ∂F/∂context goes to the probe.
            let tracked = x.track_op() || probe.is_some_and(|p| p.track_op());
            x = if tracked {
                let kept = if options.recompute_layers {
                    KeptForBackward::Recompute {
                        bias: bias.clone(),
                        rows,
                    }
                } else {
                    KeptForBackward::Saved(saved)
                };
                let backward = LayerBackward {
                    layer: layer.clone(),
                    kept,
                    positions: positions.clone(),
                };
                match probe {
                    Some(p) => super::ops::attach_with_probe(&x, &output, p, backward)?,
                    None => super::ops::attach(&x, &output, backward)?,
                }
            } else {
                output
            };
            keep(&mut out, capture, probs, context, self.layers.len())?;
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

fn keep(
    out: &mut EncoderOutput,
    capture: Capture,
    probs: Tensor,
    context: Tensor,
    num_layers: usize,
) -> Result<()> {
    if capture.attentions {
        let layer = out.attentions.len();
        let (b, heads, rows, t) = probs.dims4()?;
        // Every layer's maps go into one buffer: a single sequence's maps are the whole stack,
        // handed out without a copy, and each protein of a batch gets a view into it.
        if layer == 0 && rows == t {
            // Allocated untouched (zero pages): each layer's maps are written once, below.
            out.attention_stack = Some(Tensor::zeros(
                (num_layers, b, heads, t, t),
                probs.dtype(),
                probs.device(),
            )?);
        }
        match &out.attention_stack {
            Some(stack) if rows == t => {
                stack.slice_set(&probs.contiguous()?.unsqueeze(0)?, 0, layer)?;
                out.attentions.push(stack.get(layer)?);
            }
            _ => {
                out.attention_stack = None;
                out.attentions.push(probs);
            }
        }
    }
    if capture.contexts {
        out.contexts.push(context);
    }
    Ok(())
}

/// T5's relative position bias: a learned value per (bucket of key − query offset, head),
/// computed once (in layer 0 in HF) and added to every layer's scores. Buckets as HF
/// `T5Attention._relative_position_bucket` with `bidirectional=True`: half the buckets per
/// direction, exact offsets below `num_buckets / 4`, log-spaced up to `max_distance` beyond.
#[derive(Debug, Clone)]
pub(crate) struct RelativePositionBias {
    /// (num_buckets, heads).
    weight: Tensor,
    num_buckets: usize,
    max_distance: usize,
}

impl RelativePositionBias {
    pub(crate) fn new(weight: Tensor, num_buckets: usize, max_distance: usize) -> Self {
        RelativePositionBias {
            weight,
            num_buckets,
            max_distance,
        }
    }

    fn bucket(&self, relative_position: i64) -> u32 {
        let half = (self.num_buckets / 2) as i64;
        let mut bucket = if relative_position > 0 { half } else { 0 };
        let distance = relative_position.abs();
        let max_exact = half / 2;
        if distance < max_exact {
            bucket += distance;
        } else {
            // In f32 as HF computes it, so that offsets on a bucket border round alike.
            let ratio = (distance as f32 / max_exact as f32).ln()
                / (self.max_distance as f64 / max_exact as f64).ln() as f32;
            let large = max_exact + (ratio * (half - max_exact) as f32) as i64;
            bucket += large.min(half - 1);
        }
        bucket as u32
    }

    /// (1, heads, T, T): bias of query i (row) for key j (column).
    fn table(&self, t: usize, device: &Device) -> Result<Tensor> {
        let mut buckets = Vec::with_capacity(t * t);
        for i in 0..t as i64 {
            for j in 0..t as i64 {
                buckets.push(self.bucket(j - i));
            }
        }
        let ids = Tensor::from_vec(buckets, t * t, device)?;
        let heads = self.weight.dim(1)?;
        let values = self.weight.index_select(&ids, 0)?; // (T·T, heads)
        Ok(values.t()?.reshape((1, heads, t, t))?.contiguous()?)
    }
}
