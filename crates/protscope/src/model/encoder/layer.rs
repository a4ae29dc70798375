//! One transformer block: attention and feed-forward around post- or pre-normalisation, with
//! the values its forward pass keeps, its forward-mode tangent and its closed-form backward
//! pass. Apart from the stack because the stack only chains layers and wires them into the
//! gradient graph.

use candle_core::Tensor;

use super::attention::{SavedAttention, SelfAttention};
use super::feed_forward::FeedForward;
use super::{EncoderConfig, GradientRule, NormPlacement, PositionInputs};
use crate::model::weights::{LayerNorm, Weights};
use crate::Result;

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
pub(super) struct SavedLayer {
    pub(super) attention: SavedAttention,
    /// Input of the LayerNorm after the attention residual (post-LN), or the layer input (pre-LN).
    attention_norm_input: Tensor,
    /// Input of the output LayerNorm: the feed-forward residual sum (post-LN) or the attention
    /// residual sum (pre-LN).
    output_norm_input: Tensor,
    /// Feed-forward input projection (B, T, intermediate or 2·intermediate when gated).
    ff_pre_activation: Tensor,
}

/// One layer's forward values.
pub(super) struct LayerForward {
    pub(super) output: Tensor,
    pub(super) context: Tensor,
    pub(super) saved: SavedLayer,
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
    pub(super) fn load(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
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

    /// The layer on `x` without a gradient path (see
    /// [`Encoder::forward`](super::Encoder::forward) for how gradients reach `x`); the attention
    /// probabilities go into `probs_into` when given (see [`SelfAttention::context`]).
    pub(super) fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        positions: &PositionInputs,
        rows: usize,
        probs_into: Option<&Tensor>,
    ) -> Result<LayerForward> {
        let x = x.detach();
        let x_rows = if rows < x.dim(1)? {
            x.narrow(1, 0, rows)?
        } else {
            x.clone()
        };
        Ok(match self.norm {
            NormPlacement::Post => {
                let (context, attention) = self
                    .attention
                    .context(&x, bias, positions, rows, probs_into)?;
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
                let (context, attention) = self
                    .attention
                    .context(&normed, bias, positions, rows, probs_into)?;
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
    pub(super) fn tangent(
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
    pub(super) fn backward(
        &self,
        saved: &SavedLayer,
        d_output: &Tensor,
        positions: &PositionInputs,
        rule: GradientRule,
    ) -> Result<(Tensor, Tensor)> {
        let ff_backward = |d_ff_out: &Tensor| -> Result<Tensor> {
            self.feed_forward
                .backward(&saved.ff_pre_activation, d_ff_out, rule)
        };
        Ok(match self.norm {
            NormPlacement::Post => {
                let d_sum = self.output_norm.backward_input_rule(
                    &saved.output_norm_input,
                    d_output,
                    rule,
                )?;
                let d_h = (ff_backward(&d_sum)? + &d_sum)?;
                let d_attention_sum = self.attention_norm.backward_input_rule(
                    &saved.attention_norm_input,
                    &d_h,
                    rule,
                )?;
                let d_context = self.attention.output.backward_input(&d_attention_sum)?;
                let d_x = self
                    .attention
                    .backward(&saved.attention, &d_context, positions, rule)?;
                let t = d_x.dim(1)?;
                ((d_x + pad_rows(&d_attention_sum, 1, t)?)?, d_context)
            }
            NormPlacement::Pre => {
                let d_ff_in = ff_backward(d_output)?;
                let d_h = (self.output_norm.backward_input_rule(
                    &saved.output_norm_input,
                    &d_ff_in,
                    rule,
                )? + d_output)?;
                let d_context = self.attention.output.backward_input(&d_h)?;
                let d_normed =
                    self.attention
                        .backward(&saved.attention, &d_context, positions, rule)?;
                let t = d_normed.dim(1)?;
                let d_x = (self.attention_norm.backward_input_rule(
                    &saved.attention_norm_input,
                    &d_normed,
                    rule,
                )? + pad_rows(&d_h, 1, t)?)?;
                (d_x, d_context)
            }
        })
    }
}

/// `x` extended with zero rows along `dim` up to `total` rows.
pub(super) fn pad_rows(x: &Tensor, dim: usize, total: usize) -> Result<Tensor> {
    let rows = x.dim(dim)?;
    if rows >= total {
        return Ok(x.clone());
    }
    let mut dims = x.dims().to_vec();
    dims[dim] = total - rows;
    let zeros = Tensor::zeros(dims, x.dtype(), x.device())?;
    Ok(Tensor::cat(&[x, &zeros], dim)?)
}
