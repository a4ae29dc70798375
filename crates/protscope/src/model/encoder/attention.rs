//! Self-attention: the padding bias, the q/k/v projection with its optional q/k normalisation,
//! rotary positions and XLNet relative terms, the scores and softmax, and the attention block's
//! forward values, forward-mode tangent and closed-form backward pass. Apart because it is the
//! part of a layer every capture point (probabilities, per-head context) reads.

use candle_core::{DType, Tensor, D};

use super::layer::pad_rows;
use super::relative_attention::RelativeAttention;
use super::rotary::Rotary;
use super::{EncoderConfig, GradientRule, PositionInputs};
use crate::model::ops;
use crate::model::weights::{LayerNorm, Linear, Weights};
use crate::Result;

/// Additive attention bias from a (B, T) 0/1 mask: 0 where attended, the most negative value
/// of `dtype` where padded (as HF does), shaped (B, 1, 1, T) to broadcast over heads and queries.
pub fn attention_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let bias = ((1.0 - mask.to_dtype(DType::F32)?)? * most_negative(dtype))?;
    Ok(bias.to_dtype(dtype)?.reshape((b, 1, 1, t))?)
}

/// A padding bias (B, 1, 1, T) of [`attention_bias`] with the causal mask added: (B, 1, T, T),
/// the most negative value of the dtype wherever the key comes after the query or is padding.
/// The minimum of the two masks (not their sum) keeps every entry finite.
pub(crate) fn causal_bias(bias: &Tensor, t: usize) -> Result<Tensor> {
    let most_negative = most_negative(bias.dtype());
    let future: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t > i / t {
                most_negative as f32
            } else {
                0.0
            }
        })
        .collect();
    let causal = Tensor::from_vec(future, (1, 1, t, t), bias.device())?.to_dtype(bias.dtype())?;
    Ok(bias.broadcast_minimum(&causal)?)
}

/// The most negative finite value of `dtype` (HF's mask value).
fn most_negative(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -65504.0,                   // the most negative finite f16
        DType::BF16 => -3.389_531_389_251_535e38, // the most negative finite bf16
        _ => f32::MIN as f64,
    }
}

/// Self-attention: stacked q/k/v projection, optional q/k normalisation (ESM C), optional
/// rotary positions, softmax(scale · q kᵀ + bias) v, output projection.
#[derive(Debug, Clone)]
pub(crate) struct SelfAttention {
    /// Query, key and value projections stacked into one (3·context, hidden) layer.
    qkv: Linear,
    pub(super) output: Linear,
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
pub(super) struct SavedAttention {
    /// (B, heads, T, head_size): the operands of the score product, i.e. after rotary and
    /// (for rotary models) after scaling q.
    pub(super) q: Tensor,
    k: Tensor,
    v: Tensor,
    pub(super) probs: Tensor,
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
    pub(super) fn load(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
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
    fn normalize_qk_backward(
        &self,
        saved: &SavedAttention,
        d_qkv: Tensor,
        rule: GradientRule,
    ) -> Result<Tensor> {
        let (Some((q_norm, k_norm)), Some((q, k))) = (&self.qk_norm, &saved.qk_projected) else {
            return Ok(d_qkv);
        };
        let c = self.context_size();
        let d_q =
            q_norm.backward_input_rule(q, &d_qkv.narrow(D::Minus1, 0, c)?.contiguous()?, rule)?;
        let d_k =
            k_norm.backward_input_rule(k, &d_qkv.narrow(D::Minus1, c, c)?.contiguous()?, rule)?;
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
        let qkv = if qkv.device().is_cpu() && !ops::generic_ops_forced() {
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
                    Rotary::apply_scaled(&q, &cos_q, &sin_q, self.scale())?,
                    Rotary::apply_scaled(&k, cos, sin, 1.0)?,
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
    /// gradient path; returns what the backward pass needs. With `probs_into` (a contiguous
    /// (B, heads, rows, T) tensor, e.g. this layer's part of the kept maps), the probabilities
    /// are written there and the saved probabilities are that tensor.
    pub(super) fn context(
        &self,
        x: &Tensor,
        bias: &Tensor,
        positions: &PositionInputs,
        query_rows: usize,
        probs_into: Option<&Tensor>,
    ) -> Result<(Tensor, SavedAttention)> {
        let rotary = positions.rotary.as_ref();
        let (b, t, _) = x.dims3()?;
        let (qkv, qk_projected) = self.normalize_qk(self.qkv.forward_detached(x)?)?;
        let (q, k, v) = self.split_heads(qkv, b, t, query_rows)?;
        let (q, k, score_scale) = self.score_operands(q, k, rotary, false)?;
        // A full bias (relative positions) has a row per query: keep the rows computed.
        let bias = if bias.dim(2)? > 1 && query_rows < t {
            bias.narrow(2, 0, query_rows)?
        } else {
            bias.clone()
        };
        let fused = match &self.relative {
            None => crate::model::fused_attention::attention_probs(
                &q,
                &k,
                score_scale,
                &bias,
                probs_into,
            )?,
            Some(_) => None,
        };
        let probs = match fused {
            Some(probs) => probs,
            None => {
                let mut scores = ops::batched_matmul(&q, &k.t()?, score_scale)?;
                if let Some(relative) = &self.relative {
                    let terms = relative.scores(&q, positions, true)?;
                    scores = (scores + (terms * score_scale)?)?;
                }
                let probs = ops::masked_softmax(&scores, &bias)?;
                match probs_into {
                    Some(into) => {
                        into.slice_set(&probs.contiguous()?, 0, 0)?;
                        into.clone()
                    }
                    None => probs,
                }
            }
        };
        let context = ops::batched_matmul(&probs, &v, 1.0)?
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
    pub(super) fn context_tangent(
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
        let mut scores_dot = (ops::batched_matmul(&q_dot, &k.t()?, 1.0)?
            + ops::batched_matmul(q, &k_dot.t()?, 1.0)?)?;
        if let Some(relative) = &self.relative {
            // The position and segment terms are linear in q (the biases do not move).
            scores_dot = (scores_dot + relative.scores(&q_dot, positions, false)?)?;
        }
        // The softmax Jacobian is symmetric: its tangent is its backward formula.
        let probs_dot = ops::softmax_backward(probs, &scores_dot, score_scale)?;
        let context_dot =
            (ops::batched_matmul(&probs_dot, v, 1.0)? + ops::batched_matmul(probs, &v_dot, 1.0)?)?;
        Ok(context_dot
            .transpose(1, 2)?
            .reshape((b, rows, self.context_size()))?)
    }

    /// ∂F/∂(block input) (B, T, hidden) from ∂F/∂context (B, rows, hidden).
    pub(super) fn backward(
        &self,
        saved: &SavedAttention,
        d_context: &Tensor,
        positions: &PositionInputs,
        rule: GradientRule,
    ) -> Result<Tensor> {
        let rotary = positions.rotary.as_ref();
        // AttnLRP's uniform rule: the gradient halves after each bilinear product (p·v, then
        // q·kᵀ), so v receives half and q and k a quarter.
        let half = match rule {
            GradientRule::Exact => 1.0,
            GradientRule::AttnLrp => 0.5,
        };
        let (b, rows, hidden) = d_context.dims3()?;
        let t = saved.k.dim(2)?;
        let d_c = d_context
            .reshape((b, rows, self.num_heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()?;
        let SavedAttention { q, k, v, probs, .. } = saved;
        let d_probs = ops::batched_matmul(&d_c, &v.t()?, half)?;
        let d_v = ops::batched_matmul(&probs.t()?, &d_c, half)?;
        // BERT scales the scores: fold the scale into the softmax backward pass.
        let score_scale = if self.rotary { 1.0 } else { self.scale() };
        let d_scores = ops::softmax_backward(probs, &d_probs, score_scale * half)?;
        let mut d_q = ops::batched_matmul(&d_scores, k, 1.0)?;
        let mut d_k = ops::batched_matmul(&d_scores.t()?, q, 1.0)?;
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
        let d_qkv = self.normalize_qk_backward(saved, d_qkv, rule)?;
        Ok(self.qkv.backward_input(&d_qkv)?)
    }
}
