//! Differentiable building blocks that run fused forward kernels and supply their own backward
//! pass. candle's fused softmax / LayerNorm have no backward, its composed versions keep every
//! temporary alive, its matmul backward also computes the (unneeded) weight gradient, and its
//! autograd allocates a zero tensor plus a sum for every node. Here a forward output is computed
//! without a graph and attached to its input through one custom op whose backward is the
//! closed-form input gradient ([`attach`], [`Backward`]).
//!
//! On CPU (f32) the elementwise and row-wise backward kernels (softmax, LayerNorm, GELU) are one
//! parallel pass each; on other devices the same formulas run as candle tensor ops (the
//! "generic path"). [`with_generic_ops`] (or `PROTSCOPE_GENERIC_OPS=1`) forces the generic path
//! on CPU, so the parity tests prove the formulas a GPU runs equal to the CPU kernels.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use candle_core::{
    backend::BackendStorage, CpuStorage, CudaStorage, CustomOp1, CustomOp2, CustomOp3, DType,
    Layout, Shape, Tensor, D,
};
use rayon::prelude::*;

use super::fastmath;

/// The input gradient of an attached forward computation.
pub(crate) trait Backward: Send + Sync {
    fn name(&self) -> &'static str;
    /// ∂F/∂x given the input `x`, the forward output `y` and the upstream gradient `g`; the
    /// second value is the gradient for the optional probe (see [`attach_with_probe`]).
    fn backward(
        &self,
        x: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)>;
}

/// Softmax over the last dimension; differentiable when `x` is on a gradient path.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    let y = if is_cpu_f32(x) {
        x.detach()
            .contiguous()?
            .apply_op1_no_bwd(&SoftmaxForward { masked: false })?
    } else {
        candle_nn::ops::softmax_last_dim(&x.detach())?
    };
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

/// RMS normalisation over the last dimension, `x / √(mean(x²) + eps) ⊙ w`; differentiable in
/// `x` (weights are frozen).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let y = candle_nn::ops::rms_norm(&x.detach().contiguous()?, weight, eps as f32)?;
    if !x.track_op() {
        return Ok(y);
    }
    attach(
        x,
        &y,
        Gradient::RmsNorm {
            weight: weight.clone(),
            eps,
        },
    )
}

/// Exact (erf) GELU, `0.5 x (1 + erf(x / √2))`; differentiable when `x` is on a gradient path.
/// candle's own op runs single-threaded on CPU and its backward is a dozen elementwise ops.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    let y = if is_cpu_f32(x) {
        x.detach().contiguous()?.apply_op1_no_bwd(&GeluErfForward)?
    } else {
        x.detach().gelu_erf()?
    };
    if !x.track_op() {
        return Ok(y);
    }
    attach(x, &y, Gradient::GeluErf)
}

/// Which closed-form gradient an attached elementwise / row-wise op applies.
pub(crate) enum Gradient {
    /// ∂x = y ⊙ (g − Σ_j g_j y_j).
    Softmax,
    /// With x̂ = (x − μ)/σ and ĝ = g ⊙ w: ∂x = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / σ.
    LayerNorm { weight: Tensor, eps: f64 },
    /// With r = 1/√(mean(x²) + ε), x̂ = x r, ĝ = g ⊙ w: ∂x = r (ĝ − x̂ ⊙ mean(ĝ ⊙ x̂)).
    RmsNorm { weight: Tensor, eps: f64 },
    /// y = x Wᵀ + b with frozen W, b: ∂x = g W.
    Linear { weight: Tensor },
    /// y = GELU(x): ∂x = g ⊙ (Φ(x) + x φ(x)).
    GeluErf,
}

impl Backward for Gradient {
    fn name(&self) -> &'static str {
        match self {
            Gradient::Softmax => "softmax-with-backward",
            Gradient::LayerNorm { .. } => "layer-norm-with-backward",
            Gradient::RmsNorm { .. } => "rms-norm-with-backward",
            Gradient::Linear { .. } => "frozen-linear-with-backward",
            Gradient::GeluErf => "gelu-erf-with-backward",
        }
    }

    fn backward(
        &self,
        x: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let dx = match self {
            Gradient::Softmax => softmax_backward(y, g, 1.0)?,
            Gradient::LayerNorm { weight, eps } => layer_norm_backward(x, g, weight, *eps)?,
            Gradient::RmsNorm { weight, eps } => rms_norm_backward(x, g, weight, *eps)?,
            Gradient::Linear { weight } => linear_backward(g, weight)?.reshape(x.shape())?,
            Gradient::GeluErf => gelu_erf_backward(x, g)?,
        };
        Ok((dx, None))
    }
}

/// ∂x of `y = x Wᵀ (+ b)` for frozen `weight` (out, in): `g W` as one 2-D gemm; returns
/// (rows, in).
pub(crate) fn linear_backward(g: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    let out_dim = weight.dim(0)?;
    let rows = g.elem_count() / out_dim;
    let g = g.reshape((rows, out_dim))?;
    if is_cpu_f32(&g) && weight.dtype() == DType::F32 {
        return g.apply_op2_no_bwd(weight, &Gemm2d);
    }
    g.matmul(weight)
}

/// `scale · p ⊙ (g − Σ_j g_j p_j)` over the last dimension: the softmax input gradient (times
/// `scale`, which folds a following score scaling into the same pass).
pub(crate) fn softmax_backward(p: &Tensor, g: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    if is_half(p) || is_half(g) {
        let (p32, g32) = (p.to_dtype(DType::F32)?, g.to_dtype(DType::F32)?);
        return softmax_backward(&p32, &g32, scale)?.to_dtype(g.dtype());
    }
    if is_cpu_f32(p) && g.dtype() == DType::F32 {
        let p = p.contiguous()?;
        return p.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBackward(scale as f32));
    }
    let dot = (g * p)?.sum_keepdim(D::Minus1)?;
    (p * g.broadcast_sub(&dot)?)? * scale
}

/// LayerNorm input gradient (frozen weight) over the last dimension.
pub(crate) fn layer_norm_backward(
    x: &Tensor,
    g: &Tensor,
    weight: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    if is_half(x) || is_half(g) {
        let (x32, g32) = (x.to_dtype(DType::F32)?, g.to_dtype(DType::F32)?);
        let w32 = weight.to_dtype(DType::F32)?;
        return layer_norm_backward(&x32, &g32, &w32, eps)?.to_dtype(g.dtype());
    }
    if is_cpu_f32(x) && g.dtype() == DType::F32 && weight.dtype() == DType::F32 {
        let x = x.contiguous()?;
        return x.apply_op3_no_bwd(
            &g.contiguous()?,
            &weight.contiguous()?,
            &LayerNormBackward(eps as f32),
        );
    }
    let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let inv_std = (var + eps)?.sqrt()?.recip()?;
    let x_hat = centered.broadcast_mul(&inv_std)?;
    let g_hat = g.broadcast_mul(weight)?;
    let mean_g = g_hat.mean_keepdim(D::Minus1)?;
    let mean_gx = (&g_hat * &x_hat)?.mean_keepdim(D::Minus1)?;
    g_hat
        .broadcast_sub(&mean_g)?
        .sub(&x_hat.broadcast_mul(&mean_gx)?)?
        .broadcast_mul(&inv_std)
}

/// RMS-norm input gradient (frozen weight) over the last dimension (see [`Gradient::RmsNorm`]).
pub(crate) fn rms_norm_backward(
    x: &Tensor,
    g: &Tensor,
    weight: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    if is_half(x) || is_half(g) {
        let (x32, g32) = (x.to_dtype(DType::F32)?, g.to_dtype(DType::F32)?);
        let w32 = weight.to_dtype(DType::F32)?;
        return rms_norm_backward(&x32, &g32, &w32, eps)?.to_dtype(g.dtype());
    }
    let inv_rms = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    let x_hat = x.broadcast_mul(&inv_rms)?;
    let g_hat = g.broadcast_mul(weight)?;
    let mean_gx = (&g_hat * &x_hat)?.mean_keepdim(D::Minus1)?;
    g_hat
        .sub(&x_hat.broadcast_mul(&mean_gx)?)?
        .broadcast_mul(&inv_rms)
}

/// `g ⊙ SiLU'(x)`, SiLU(x) = x σ(x): σ(x) (1 + x (1 − σ(x))).
pub(crate) fn silu_backward(x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
    let s = candle_nn::ops::sigmoid(x)?;
    let d = ((x * (1.0 - &s)?)? + 1.0)?.mul(&s)?;
    g * d
}

/// `g ⊙ GELU'(x)` for the exact (erf) GELU.
pub(crate) fn gelu_erf_backward(x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
    if is_half(x) || is_half(g) {
        let (x32, g32) = (x.to_dtype(DType::F32)?, g.to_dtype(DType::F32)?);
        return gelu_erf_backward(&x32, &g32)?.to_dtype(g.dtype());
    }
    if is_cpu_f32(x) && g.dtype() == DType::F32 {
        let x = x.contiguous()?;
        return x.apply_op2_no_bwd(&g.contiguous()?, &GeluErfBackward);
    }
    let cdf = ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)? * 0.5;
    let pdf = ((x.sqr()? * -0.5)?.exp()? * (2.0 * std::f64::consts::PI).sqrt().recip())?;
    g * (cdf? + (x * pdf)?)?
}

/// Batched matrix product over equal leading dimensions, (…, m, k) @ (…, k, n); any strides in
/// the last two dimensions (transposed views need no copy). On CPU the batch items run in
/// parallel with one single-threaded gemm each: attention's products (batch × heads matrices of
/// T × head_size) are too small to be split across threads one by one, as candle does.
/// The product is multiplied by `scale` inside the gemm (no extra pass).
pub(crate) fn batched_matmul(a: &Tensor, b: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    if !(is_cpu_f32(a) && b.dtype() == DType::F32) || a.rank() < 3 || a.rank() != b.rank() {
        let y = a.matmul(b)?;
        return if scale == 1.0 { Ok(y) } else { y * scale };
    }
    a.apply_op2_no_bwd(b, &BatchedMatmul(scale as f32))
}

/// `x Wᵀ + b` for a 2-D `x` (rows, in) and frozen `weight` (out, in), no gradient path;
/// `weight_t`, when given, is Wᵀ stored contiguously (in, out), which the CPU gemm reads
/// faster. On CPU the bias is written into the output first and the gemm accumulates onto it,
/// saving the separate bias pass (and its buffer) of `matmul` + `broadcast_add`.
pub(crate) fn linear_forward(
    x: &Tensor,
    weight: &Tensor,
    weight_t: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    if is_cpu_f32(x) && weight.dtype() == DType::F32 && x.rank() == 2 {
        let rhs = match weight_t {
            Some(wt) => wt.clone(),
            None => weight.t()?,
        };
        return match bias {
            Some(b) => x.apply_op3_no_bwd(&rhs, &b.contiguous()?, &Gemm2d),
            None => x.apply_op2_no_bwd(&rhs, &Gemm2d),
        };
    }
    let y = x.matmul(&weight.t()?)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// Wᵀ of a matrix as a new contiguous tensor. On CPU (f32) a tiled, parallel transpose: candle's
/// strided copy reads one column element per write, and laying out ESM-2 650M's linear weights
/// that way took seconds of every load.
pub(crate) fn transpose_contiguous(w: &Tensor) -> candle_core::Result<Tensor> {
    if is_cpu_f32(w) && w.rank() == 2 {
        return w.apply_op1_no_bwd(&Transpose);
    }
    w.t()?.contiguous()
}

struct Transpose;

/// Tile side: a 32 × 32 f32 tile read by rows and written by columns stays in L1.
const TILE: usize = 32;

impl CustomOp1 for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, cols) = l.shape().dims2()?;
        let (src, start, rs, cs) = matrix_view(s, l)?;
        let (rs, cs) = (rs as usize, cs as usize);
        let mut out = vec![0f32; rows * cols];
        if rows * cols > 0 {
            // Each task fills TILE output rows (input columns c0..c0 + TILE) completely.
            out.par_chunks_mut(TILE * rows)
                .enumerate()
                .for_each(|(block, dst)| {
                    let c0 = block * TILE;
                    let width = dst.len() / rows;
                    for r0 in (0..rows).step_by(TILE) {
                        for r in r0..(r0 + TILE).min(rows) {
                            let row = start + r * rs;
                            for c in 0..width {
                                dst[c * rows + r] = src[row + (c0 + c) * cs];
                            }
                        }
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((cols, rows))))
    }
}

/// Softmax over the last dimension of attention scores (B, heads, queries, T) plus the additive
/// mask `bias` (B, 1, 1, T), in one pass on CPU.
pub(crate) fn masked_softmax(scores: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    // The one-pass kernel takes a key mask only; a full (B, heads, queries, T) bias (T5's
    // relative positions) goes through the generic formula.
    let key_mask_only = bias.rank() == 4 && bias.dim(1)? == 1 && bias.dim(2)? == 1;
    if is_cpu_f32(scores) && bias.dtype() == DType::F32 && scores.rank() == 4 && key_mask_only {
        let (b, _, _, t) = scores.dims4()?;
        let bias = bias.contiguous()?.reshape((b, t))?;
        return scores
            .contiguous()?
            .apply_op2_no_bwd(&bias, &MaskedSoftmaxForward);
    }
    softmax_last_dim(&scores.broadcast_add(bias)?)
}

/// Half precision: the backward formulas' reductions (a LayerNorm's means over the hidden size,
/// a softmax row's dot product) lose most of their bits when accumulated with 8- or 11-bit
/// mantissas, so half-precision inputs run them in f32 and the result is cast back.
fn is_half(x: &Tensor) -> bool {
    matches!(x.dtype(), DType::BF16 | DType::F16)
}

/// Whether `x` goes through the CPU kernels (f32 on CPU, generic path not forced).
pub(crate) fn is_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && !generic_ops_forced()
}

thread_local! {
    static FORCE_GENERIC: Cell<Option<bool>> = const { Cell::new(None) };
}

/// True while the generic (device) path is forced on this thread: inside [`with_generic_ops`],
/// or everywhere when the environment variable `PROTSCOPE_GENERIC_OPS` is `1`.
pub fn generic_ops_forced() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    FORCE_GENERIC.with(Cell::get).unwrap_or_else(|| {
        *FROM_ENV
            .get_or_init(|| std::env::var("PROTSCOPE_GENERIC_OPS").is_ok_and(|v| v.trim() == "1"))
    })
}

/// Runs `f` with every op of this thread on the generic path (the candle tensor-op formulas that
/// CUDA runs) even for f32 tensors on CPU. Per thread, so tests running in parallel are not
/// affected; the previous setting is restored when `f` returns or panics.
pub fn with_generic_ops<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCE_GENERIC.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCE_GENERIC.with(|c| c.replace(Some(true))));
    f()
}

/// Attaches a precomputed output `y` to the input `x`: the result has `y`'s values, and the
/// backward pass applies `backward` to reach `x`.
pub(crate) fn attach(
    x: &Tensor,
    y: &Tensor,
    backward: impl Backward + 'static,
) -> candle_core::Result<Tensor> {
    let y = y.contiguous()?;
    // `y` itself fills the probe slot: it is not on a gradient path, and its gradient is dropped.
    x.apply_op3(&y, &y, Attached::new(backward, false))
}

/// Like [`attach`], and the second gradient that `backward` returns goes to `probe` (a zero
/// `Var` whose gradient the caller reads; candle keeps gradients only for leaves).
pub(crate) fn attach_with_probe(
    x: &Tensor,
    y: &Tensor,
    probe: &Tensor,
    backward: impl Backward + 'static,
) -> candle_core::Result<Tensor> {
    x.apply_op3(&y.contiguous()?, probe, Attached::new(backward, true))
}

/// Arguments (x, y, probe): forward hands back the attached output y unchanged; backward calls
/// the [`Backward`] implementation and, when `has_probe`, passes its second gradient to probe.
struct Attached {
    backward: Arc<dyn Backward>,
    has_probe: bool,
}

impl Attached {
    fn new(backward: impl Backward + 'static, has_probe: bool) -> Self {
        Attached {
            backward: Arc::new(backward),
            has_probe,
        }
    }
}

impl CustomOp3 for Attached {
    fn name(&self) -> &'static str {
        self.backward.name()
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        l: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((y.try_clone(l)?, l.shape().clone()))
    }

    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        y: &CudaStorage,
        l: &Layout,
        _: &CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        Ok((y.try_clone(l)?, l.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        _: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, d_probe) = self.backward.backward(x, y, g)?;
        Ok((Some(dx), None, d_probe.filter(|_| self.has_probe)))
    }
}

// ---- CPU kernels (f32, contiguous) ----

/// Elements per parallel task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 16 * 1024;

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((start, end))) => Ok(&v[start..end]),
        _ => candle_core::bail!("expected a contiguous f32 tensor"),
    }
}

/// Rows (last dimension) per parallel task for rows of `width` elements.
fn rows_per_task(width: usize) -> usize {
    (CHUNK / width.max(1)).max(1)
}

/// A row-wise kernel over f32 data: fills `out` (whole rows of `width`) from the same rows of
/// `a` and `b` (one-input kernels ignore `b`). Implementations are `#[inline(always)]` so that
/// [`fastmath::dispatch`] compiles them for the CPU's vector instruction set.
trait RowKernel: Sync {
    fn rows(&self, out: &mut [f32], a: &[f32], b: &[f32], width: usize);
}

struct RowTask<'a, K> {
    kernel: &'a K,
    out: &'a mut [f32],
    a: &'a [f32],
    b: &'a [f32],
    width: usize,
}

impl<K: RowKernel> fastmath::Kernel for RowTask<'_, K> {
    #[inline(always)]
    fn run(self) {
        self.kernel.rows(self.out, self.a, self.b, self.width)
    }
}

/// Runs `kernel` over `a` (and `b`, same length) in parallel chunks of whole rows.
fn run_rows<K: RowKernel>(kernel: &K, a: &[f32], b: &[f32], width: usize) -> Vec<f32> {
    let task = rows_per_task(width) * width;
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(task)
        .zip(a.par_chunks(task).zip(b.par_chunks(task)))
        .for_each(|(out, (a, b))| {
            fastmath::dispatch(RowTask {
                kernel,
                out,
                a,
                b,
                width,
            })
        });
    out
}

struct BatchedMatmul(f32);

/// Element offsets of every batch item of a rank ≥ 3 layout (leading dimensions in row-major
/// order).
fn batch_offsets(l: &Layout) -> Vec<usize> {
    let dims = l.dims();
    let strides = l.stride();
    let batch_dims = &dims[..dims.len() - 2];
    let mut offsets = vec![l.start_offset()];
    for (&d, &s) in batch_dims.iter().zip(strides) {
        offsets = offsets
            .iter()
            .flat_map(|&o| (0..d).map(move |i| o + i * s))
            .collect();
    }
    offsets
}

impl CustomOp2 for BatchedMatmul {
    fn name(&self) -> &'static str {
        "batched-matmul-parallel"
    }

    fn cpu_fwd(
        &self,
        a_storage: &CpuStorage,
        al: &Layout,
        b_storage: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(a), CpuStorage::F32(b)) = (a_storage, b_storage) else {
            candle_core::bail!("batched matmul: expected f32 tensors");
        };
        let (ad, bd) = (al.dims(), bl.dims());
        let r = ad.len();
        let (m, k, n) = (ad[r - 2], ad[r - 1], bd[r - 1]);
        if ad[..r - 2] != bd[..r - 2] || bd[r - 2] != k {
            candle_core::bail!("batched matmul: shapes {ad:?} and {bd:?} do not match");
        }
        let (a_rs, a_cs) = (al.stride()[r - 2] as isize, al.stride()[r - 1] as isize);
        let (b_rs, b_cs) = (bl.stride()[r - 2] as isize, bl.stride()[r - 1] as isize);
        let (a_offsets, b_offsets) = (batch_offsets(al), batch_offsets(bl));
        let total = a_offsets.len() * m * n;
        let mut out: Vec<f32> = Vec::with_capacity(total);
        if k == 0 {
            out.resize(total, 0.0);
        } else if m * n > 0 {
            out.spare_capacity_mut()[..total]
                .par_chunks_mut(m * n)
                .zip(a_offsets.par_iter().zip(b_offsets.par_iter()))
                .for_each(|(dst, (&ao, &bo))| {
                    // SAFETY: the layouts are candle's own for these storages, so every
                    // (offset + row·stride + col·stride) element lies inside `a` and `b`; `dst`
                    // is an exclusive m × n row-major block that the gemm fills completely
                    // (read_dst = false).
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            dst.as_mut_ptr() as *mut f32,
                            1,
                            n as isize,
                            false,
                            a.as_ptr().add(ao),
                            a_cs,
                            a_rs,
                            b.as_ptr().add(bo),
                            b_cs,
                            b_rs,
                            0.0,
                            self.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                });
            // SAFETY: every m × n block of the first `total` elements was written above.
            unsafe { out.set_len(total) };
        }
        let mut dims = ad.to_vec();
        dims[r - 1] = n;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// `a b (+ bias)` for 2-D `a` (m, k) and `b` (k, n), both read through their layouts' strides
/// (a transposed view needs no copy), plus an optional bias (n) on every row. The output is not
/// zero-filled first: the gemm writes every element (or accumulates onto the bias rows).
struct Gemm2d;

/// Slice of an f32 CPU storage and the (row, column) strides and start of a 2-D layout.
fn matrix_view<'a>(
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<(&'a [f32], usize, isize, isize)> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("gemm: expected an f32 tensor");
    };
    let stride = l.stride();
    if stride.len() != 2 {
        candle_core::bail!("gemm: expected a matrix, got shape {:?}", l.dims());
    }
    Ok((v, l.start_offset(), stride[0] as isize, stride[1] as isize))
}

impl Gemm2d {
    fn run(
        a: (&CpuStorage, &Layout),
        b: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = a.1.shape().dims2()?;
        let (kb, n) = b.1.shape().dims2()?;
        if kb != k {
            candle_core::bail!("gemm: ({m}×{k}) @ ({kb}×{n}) do not match");
        }
        let (av, a_start, a_rs, a_cs) = matrix_view(a.0, a.1)?;
        let (bv, b_start, b_rs, b_cs) = matrix_view(b.0, b.1)?;
        let mut y: Vec<f32> = Vec::with_capacity(m * n);
        if let Some((bs, bl)) = bias {
            let bias = contiguous_f32(bs, bl)?;
            if bias.len() != n {
                candle_core::bail!("gemm: bias of {} for {n} columns", bias.len());
            }
            for _ in 0..m {
                y.extend_from_slice(bias);
            }
        } else if k == 0 {
            y.resize(m * n, 0.0);
        }
        if m > 0 && n > 0 && k > 0 {
            // SAFETY: the layouts are candle's own for these storages, so every element
            // (start + row·rs + col·cs) of a and b lies inside them; `y` has capacity m·n and is
            // row-major; without a bias the gemm writes all m·n elements (read_dst = false)
            // before the length is set.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    bias.is_some(),
                    av.as_ptr().add(a_start),
                    a_cs,
                    a_rs,
                    bv.as_ptr().add(b_start),
                    b_cs,
                    b_rs,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(candle_core::utils::get_num_threads()),
                );
                y.set_len(m * n);
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }
}

impl CustomOp2 for Gemm2d {
    fn name(&self) -> &'static str {
        "gemm"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        al: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Self::run((a, al), (b, bl), None)
    }
}

impl CustomOp3 for Gemm2d {
    fn name(&self) -> &'static str {
        "gemm-bias"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        al: &Layout,
        b: &CpuStorage,
        bl: &Layout,
        bias: &CpuStorage,
        biasl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Self::run((a, al), (b, bl), Some((bias, biasl)))
    }
}

/// Softmax of scores (B, heads, queries, T) + bias (B, T) over the last dimension.
struct MaskedSoftmaxForward;

impl CustomOp2 for MaskedSoftmaxForward {
    fn name(&self) -> &'static str {
        "masked-softmax-parallel"
    }

    fn cpu_fwd(
        &self,
        ss: &CpuStorage,
        sl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let scores = contiguous_f32(ss, sl)?;
        let bias = contiguous_f32(bs, bl)?;
        let (b, heads, queries, t) = sl.shape().dims4()?;
        if bias.len() != b * t {
            candle_core::bail!("masked softmax: bias of {} for {b}×{t}", bias.len());
        }
        let per_batch = heads * queries * t;
        let mut y = vec![0f32; scores.len()];
        if per_batch > 0 {
            // One task per (batch, head): every row in it shares the batch's bias row.
            y.par_chunks_mut(queries * t)
                .zip(scores.par_chunks(queries * t))
                .enumerate()
                .for_each(|(i, (y, x))| {
                    let batch = i / heads;
                    let kernel = SoftmaxForward { masked: true };
                    fastmath::dispatch(RowTask {
                        kernel: &kernel,
                        out: y,
                        a: x,
                        b: &bias[batch * t..(batch + 1) * t],
                        width: t,
                    })
                });
        }
        Ok((CpuStorage::F32(y), sl.shape().clone()))
    }
}

fn last_dim(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(1)
}

struct GeluErfForward;

impl RowKernel for GeluErfForward {
    #[inline(always)]
    fn rows(&self, y: &mut [f32], x: &[f32], _: &[f32], _: usize) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = fastmath::gelu_erf(x);
        }
    }
}

impl CustomOp1 for GeluErfForward {
    fn name(&self) -> &'static str {
        "gelu-erf-parallel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let y = run_rows(self, x, x, 1);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
}

/// Softmax over the last dimension, one parallel pass over rows; when `masked`, the kernel's
/// second input is one row of additive bias (the attention mask) for every row.
struct SoftmaxForward {
    masked: bool,
}

impl RowKernel for SoftmaxForward {
    #[inline(always)]
    fn rows(&self, y: &mut [f32], x: &[f32], b: &[f32], width: usize) {
        let bias = self.masked.then_some(b);
        for (y, x) in y.chunks_mut(width).zip(x.chunks(width)) {
            if let Some(bias) = bias {
                for ((y, &x), &b) in y.iter_mut().zip(x).zip(bias) {
                    *y = x + b;
                }
            } else {
                y.copy_from_slice(x);
            }
            let max = fastmath::max(y);
            for y in y.iter_mut() {
                *y = fastmath::exp(*y - max);
            }
            let inv = 1.0 / fastmath::sum(y);
            for y in y.iter_mut() {
                *y *= inv;
            }
        }
    }
}

impl CustomOp1 for SoftmaxForward {
    fn name(&self) -> &'static str {
        "softmax-parallel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let y = run_rows(self, x, x, last_dim(l));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
}

/// `g ⊙ GELU'(x)` in one pass (first argument x, second g).
struct GeluErfBackward;

impl RowKernel for GeluErfBackward {
    #[inline(always)]
    fn rows(&self, dx: &mut [f32], x: &[f32], g: &[f32], _: usize) {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            *dx = g * fastmath::gelu_erf_derivative(x);
        }
    }
}

impl CustomOp2 for GeluErfBackward {
    fn name(&self) -> &'static str {
        "gelu-erf-backward-parallel"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (contiguous_f32(xs, xl)?, contiguous_f32(gs, gl)?);
        if x.len() != g.len() {
            candle_core::bail!("gelu backward: input and gradient sizes differ");
        }
        Ok((CpuStorage::F32(run_rows(self, x, g, 1)), xl.shape().clone()))
    }
}

/// Softmax input gradient per row, times a scale (first argument p, second g).
struct SoftmaxBackward(f32);

impl RowKernel for SoftmaxBackward {
    #[inline(always)]
    fn rows(&self, ds: &mut [f32], p: &[f32], g: &[f32], width: usize) {
        let scale = self.0;
        for ((ds, p), g) in ds
            .chunks_mut(width)
            .zip(p.chunks(width))
            .zip(g.chunks(width))
        {
            let dot = fastmath::dot(p, g);
            for ((ds, &p), &g) in ds.iter_mut().zip(p).zip(g) {
                *ds = scale * p * (g - dot);
            }
        }
    }
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-backward-parallel"
    }

    fn cpu_fwd(
        &self,
        ps: &CpuStorage,
        pl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (p, g) = (contiguous_f32(ps, pl)?, contiguous_f32(gs, gl)?);
        if p.len() != g.len() {
            candle_core::bail!("softmax backward: probabilities and gradient sizes differ");
        }
        let ds = run_rows(self, p, g, last_dim(pl));
        Ok((CpuStorage::F32(ds), pl.shape().clone()))
    }
}

/// LayerNorm input gradient per row (arguments x, g, weight).
struct LayerNormBackward(f32);

struct LayerNormBackwardRows<'a> {
    weight: &'a [f32],
    eps: f32,
}

impl RowKernel for LayerNormBackwardRows<'_> {
    #[inline(always)]
    fn rows(&self, dx: &mut [f32], x: &[f32], g: &[f32], width: usize) {
        let n = width as f32;
        for ((dx, x), g) in dx
            .chunks_mut(width)
            .zip(x.chunks(width))
            .zip(g.chunks(width))
        {
            let mean = fastmath::sum(x) / n;
            let var = fastmath::squared_deviations(x, mean) / n;
            let inv_std = 1.0 / (var + self.eps).sqrt();
            // ĝ = g ⊙ w, kept in dx.
            for ((dx, &g), &w) in dx.iter_mut().zip(g).zip(self.weight) {
                *dx = g * w;
            }
            let sum_g = fastmath::sum(dx);
            let sum_gx = fastmath::centered_dot(x, mean, dx) * inv_std;
            let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
            for (dx, &x) in dx.iter_mut().zip(x) {
                let x_hat = (x - mean) * inv_std;
                *dx = (*dx - mean_g - x_hat * mean_gx) * inv_std;
            }
        }
    }
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer-norm-backward-parallel"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(xs, xl)?;
        let g = contiguous_f32(gs, gl)?;
        let weight = contiguous_f32(ws, wl)?;
        let width = weight.len();
        if width == 0 || x.len() % width != 0 || g.len() != x.len() {
            candle_core::bail!("layer-norm backward: shapes do not match the weight");
        }
        let kernel = LayerNormBackwardRows {
            weight,
            eps: self.0,
        };
        let dx = run_rows(&kernel, x, g, width);
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::Linear;
    use candle_core::Device;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let d = (a - b).and_then(|d| d.abs()).and_then(|d| d.max_all());
        d.and_then(|d| d.to_scalar()).expect("same shapes")
    }

    /// The CPU kernels equal candle's own ops (the reference they replace).
    #[test]
    fn cpu_kernels_equal_candle_ops() {
        let d = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (3, 5, 17), &d).unwrap();
        let g = Tensor::randn(0f32, 1.0, (3, 5, 17), &d).unwrap();
        let w = Tensor::randn(0f32, 1.0, (9, 17), &d).unwrap();
        let b = Tensor::randn(0f32, 1.0, 9, &d).unwrap();

        // Linear with and without the contiguous Wᵀ copy, with and without bias.
        let want = x.broadcast_matmul(&w.t().unwrap()).unwrap();
        let plain = Linear::new(w.clone(), None);
        let copied = Linear::new(w.clone(), None).with_transposed_copy(true);
        assert!(max_diff(&plain.forward(&x).unwrap(), &want) < 1e-4);
        assert!(max_diff(&copied.forward(&x).unwrap(), &want) < 1e-4);
        let with_bias = Linear::new(w.clone(), Some(b.clone())).with_transposed_copy(true);
        let want_b = want.broadcast_add(&b).unwrap();
        assert!(max_diff(&with_bias.forward(&x).unwrap(), &want_b) < 1e-4);
        let back = plain.backward_input(&want).unwrap();
        assert!(max_diff(&back, &want.broadcast_matmul(&w).unwrap()) < 1e-4);

        // The tiled transpose, of a matrix and of a strided view, larger than one tile.
        let m = Tensor::randn(0f32, 1.0, (70, 45), &d).unwrap();
        for src in [m.clone(), m.t().unwrap()] {
            let ours = transpose_contiguous(&src).unwrap();
            assert!(ours.is_contiguous());
            assert_eq!(
                max_diff(&ours, &src.t().unwrap().contiguous().unwrap()),
                0.0
            );
        }

        // Batched products through transposed views, with a scale.
        let q = Tensor::randn(0f32, 1.0, (2, 3, 7, 4), &d).unwrap();
        let k = Tensor::randn(0f32, 1.0, (2, 3, 7, 4), &d).unwrap();
        let ours = batched_matmul(&q, &k.t().unwrap(), 0.5).unwrap();
        let want = (q.matmul(&k.t().unwrap()).unwrap() * 0.5).unwrap();
        assert!(max_diff(&ours, &want) < 1e-5);

        // Softmax with a mask row per batch item, and its backward.
        let scores = Tensor::randn(0f32, 3.0, (2, 3, 7, 7), &d).unwrap();
        let mask = Tensor::new(&[[1f32, 1., 1., 1., 1., 0., 0.], [1.; 7]], &d).unwrap();
        let bias = crate::model::encoder::attention_bias(&mask, DType::F32).unwrap();
        let ours = masked_softmax(&scores, &bias).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&bias).unwrap()).unwrap();
        assert!(max_diff(&ours, &want) < 1e-6);
        let masked = ours.narrow(0, 0, 1).unwrap().narrow(3, 5, 2).unwrap();
        assert_eq!(masked.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let gs = Tensor::randn(0f32, 1.0, (2, 3, 7, 7), &d).unwrap();
        let dot = (&gs * &want).unwrap().sum_keepdim(D::Minus1).unwrap();
        let want_ds = ((&want * gs.broadcast_sub(&dot).unwrap()).unwrap() * 2.0).unwrap();
        assert!(max_diff(&softmax_backward(&want, &gs, 2.0).unwrap(), &want_ds) < 1e-5);

        // GELU and its derivative, LayerNorm backward against the composed formulas (the
        // non-CPU path of the same functions).
        let ours = gelu_erf(&x).unwrap();
        assert!(max_diff(&ours, &x.gelu_erf().unwrap()) < 1e-5);
        let cdf = ((&x * std::f64::consts::FRAC_1_SQRT_2)
            .unwrap()
            .erf()
            .unwrap()
            + 1.0)
            .unwrap()
            * 0.5;
        let pdf = ((x.sqr().unwrap() * -0.5).unwrap().exp().unwrap()
            * (2.0 * std::f64::consts::PI).sqrt().recip())
        .unwrap();
        let want = (&g * (cdf.unwrap() + (&x * pdf).unwrap()).unwrap()).unwrap();
        assert!(max_diff(&gelu_erf_backward(&x, &g).unwrap(), &want) < 1e-5);
        let lw = Tensor::randn(0f32, 1.0, 17, &d).unwrap();
        let centered = x
            .broadcast_sub(&x.mean_keepdim(D::Minus1).unwrap())
            .unwrap();
        let inv_std = ((centered.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + 1e-5)
            .unwrap()
            .sqrt()
            .unwrap()
            .recip())
        .unwrap();
        let x_hat = centered.broadcast_mul(&inv_std).unwrap();
        let g_hat = g.broadcast_mul(&lw).unwrap();
        let mean_g = g_hat.mean_keepdim(D::Minus1).unwrap();
        let mean_gx = (&g_hat * &x_hat).unwrap().mean_keepdim(D::Minus1).unwrap();
        let want = g_hat
            .broadcast_sub(&mean_g)
            .unwrap()
            .sub(&x_hat.broadcast_mul(&mean_gx).unwrap())
            .unwrap()
            .broadcast_mul(&inv_std)
            .unwrap();
        assert!(max_diff(&layer_norm_backward(&x, &g, &lw, 1e-5).unwrap(), &want) < 1e-5);
    }
}
