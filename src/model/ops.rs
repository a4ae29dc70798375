//! Differentiable softmax and LayerNorm that run candle's fused forward kernels and supply their
//! own backward pass (frozen linear layers too). candle's fused kernels have no backward, and the composed versions keep
//! every temporary alive for the backward pass (memory and time); here the forward output is
//! computed without a graph and attached to the input through a custom op whose backward is the
//! closed-form gradient.

use candle_core::{
    backend::BackendStorage, CpuStorage, CudaStorage, CustomOp2, Layout, Shape, Tensor, D,
};

/// Softmax over the last dimension; differentiable when `x` is on a gradient path.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    let y = candle_nn::ops::softmax_last_dim(&x.detach())?;
    if !x.track_op() {
        return Ok(y);
    }
    attach(x, &y, Gradient::Softmax)
}

/// LayerNorm over the last dimension; differentiable in `x` (weights are frozen).
pub fn layer_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    let y = candle_nn::ops::layer_norm(&x.detach().contiguous()?, weight, bias, eps as f32)?;
    if !x.track_op() {
        return Ok(y);
    }
    attach(
        x,
        &y,
        Gradient::LayerNorm {
            weight: weight.clone(),
            eps,
        },
    )
}

/// Which closed-form gradient a [`WithBackward`] op applies.
pub(crate) enum Gradient {
    /// ∂x = y ⊙ (g − Σ_j g_j y_j).
    Softmax,
    /// With x̂ = (x − μ)/σ and ĝ = g ⊙ w: ∂x = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / σ.
    LayerNorm { weight: Tensor, eps: f64 },
    /// y = x Wᵀ + b with frozen W, b: ∂x = g W.
    Linear { weight: Tensor },
}

/// Attaches a precomputed output `y` (second argument) to the input `x` (first argument):
/// forward hands `y` back unchanged, backward applies the op's gradient w.r.t. `x` only.
struct WithBackward(Gradient);

/// Forward result `y` of `op` attached to `x` so that gradients reach `x`.
pub(crate) fn attach(x: &Tensor, y: &Tensor, gradient: Gradient) -> candle_core::Result<Tensor> {
    x.apply_op2(&y.contiguous()?, WithBackward(gradient))
}

impl CustomOp2 for WithBackward {
    fn name(&self) -> &'static str {
        match self.0 {
            Gradient::Softmax => "softmax-with-backward",
            Gradient::LayerNorm { .. } => "layer-norm-with-backward",
            Gradient::Linear { .. } => "frozen-linear-with-backward",
        }
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((y.try_clone(l)?, l.shape().clone()))
    }

    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        y: &CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        Ok((y.try_clone(l)?, l.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = match &self.0 {
            Gradient::Softmax => {
                let dot = (g * y)?.sum_keepdim(D::Minus1)?;
                (y * g.broadcast_sub(&dot)?)?
            }
            Gradient::LayerNorm { weight, eps } => {
                let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
                let inv_std = (var + *eps)?.sqrt()?.recip()?;
                let x_hat = centered.broadcast_mul(&inv_std)?;
                let g_hat = g.broadcast_mul(weight)?;
                let mean_g = g_hat.mean_keepdim(D::Minus1)?;
                let mean_gx = (&g_hat * &x_hat)?.mean_keepdim(D::Minus1)?;
                g_hat
                    .broadcast_sub(&mean_g)?
                    .sub(&x_hat.broadcast_mul(&mean_gx)?)?
                    .broadcast_mul(&inv_std)?
            }
            Gradient::Linear { weight } => {
                let out_dim = weight.dim(0)?;
                let rows = g.elem_count() / out_dim;
                g.reshape((rows, out_dim))?
                    .matmul(weight)?
                    .reshape(x.shape())?
            }
        };
        Ok((Some(dx), None))
    }
}
