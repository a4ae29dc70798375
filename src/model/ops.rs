//! Differentiable softmax and LayerNorm that run candle's fused forward kernels and supply their
//! own backward pass. candle's fused kernels have no backward, and the composed versions keep
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
    x.apply_op2(&y.contiguous()?, SoftmaxBackward)
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
    x.apply_op2(
        &y.contiguous()?,
        LayerNormBackward {
            weight: weight.clone(),
            eps,
        },
    )
}

/// Forward of both ops: hand back the precomputed output (second argument).
fn pass_through_cpu(y: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
    Ok((y.try_clone(l)?, l.shape().clone()))
}

fn pass_through_cuda(y: &CudaStorage, l: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
    Ok((y.try_clone(l)?, l.shape().clone()))
}

struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-last-dim-with-backward"
    }
    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        pass_through_cpu(y, l)
    }
    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        y: &CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        pass_through_cuda(y, l)
    }
    /// ∂x = y ⊙ (g − Σ_j g_j y_j).
    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dot = (g * y)?.sum_keepdim(D::Minus1)?;
        Ok((Some((y * g.broadcast_sub(&dot)?)?), None))
    }
}

struct LayerNormBackward {
    weight: Tensor,
    eps: f64,
}

impl CustomOp2 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer-norm-with-backward"
    }
    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        pass_through_cpu(y, l)
    }
    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        y: &CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        pass_through_cuda(y, l)
    }
    /// With x̂ = (x − μ)/σ and ĝ = g ⊙ w: ∂x = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / σ.
    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let inv_std = (var + self.eps)?.sqrt()?.recip()?;
        let x_hat = centered.broadcast_mul(&inv_std)?;
        let g_hat = g.broadcast_mul(&self.weight)?;
        let mean_g = g_hat.mean_keepdim(D::Minus1)?;
        let mean_gx = (&g_hat * &x_hat)?.mean_keepdim(D::Minus1)?;
        let dx = g_hat
            .broadcast_sub(&mean_g)?
            .sub(&x_hat.broadcast_mul(&mean_gx)?)?
            .broadcast_mul(&inv_std)?;
        Ok((Some(dx), None))
    }
}
