//! Attention probabilities softmax(scale · q kᵀ + key bias) in one CPU pass, written where they
//! are kept. Unfused, the scores were written to memory, read back by the softmax, written again
//! as probabilities and (when the maps are kept) copied a third time into the maps buffer: three
//! passes over (B, heads, T, T) floats, each as large as the layer's weights at 1,000 residues.
//! Here each task computes a block of query rows with one single-threaded gemm and applies the
//! masked softmax to it while it is still in cache, straight into the output: a layer of the
//! maps buffer when the maps are kept, else a fresh buffer that is never zero-filled.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp2, DType, InplaceOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::fastmath;
use super::ops::is_cpu_f32;

/// Bytes of scores per task: a block of query rows of one head that stays in L2 between the
/// gemm writing it and the softmax reading it.
const BLOCK_BYTES: usize = 256 * 1024;

/// softmax(scale · q kᵀ + bias) over the keys, for q (B, heads, rows, d) and k (B, heads, T, d)
/// with any strides (views into the stacked projection need no copy) and a key-padding `bias`
/// (B, 1, 1, T). With `into`, a contiguous (B, heads, rows, T) tensor (e.g. one layer of the
/// maps buffer), the probabilities are written into it and it is returned.
///
/// None when the fused kernel does not apply (not f32 on CPU, or a bias that varies by query or
/// head); the caller then computes scores and softmax as separate ops.
pub(crate) fn attention_probs(
    q: &Tensor,
    k: &Tensor,
    scale: f64,
    bias: &Tensor,
    into: Option<&Tensor>,
) -> candle_core::Result<Option<Tensor>> {
    let key_bias_only = bias.rank() == 4 && bias.dim(1)? == 1 && bias.dim(2)? == 1;
    let applies = is_cpu_f32(q)
        && k.dtype() == DType::F32
        && bias.dtype() == DType::F32
        && q.rank() == 4
        && k.rank() == 4
        && key_bias_only
        && into.is_none_or(|t| t.device().is_cpu() && t.dtype() == DType::F32);
    if !applies {
        return Ok(None);
    }
    let (b, heads, rows, d) = q.dims4()?;
    let t = k.dim(2)?;
    if k.dims4()? != (b, heads, t, d) || bias.dims4()? != (b, 1, 1, t) {
        candle_core::bail!(
            "attention: q {:?}, k {:?} and bias {:?} do not match",
            q.dims(),
            k.dims(),
            bias.dims()
        );
    }
    let op = ProbsKernel {
        scale: scale as f32,
        bias: bias.flatten_all()?.to_vec1::<f32>()?,
    };
    Ok(Some(match into {
        Some(out) => {
            if out.dims() != [b, heads, rows, t] || !out.is_contiguous() {
                candle_core::bail!(
                    "attention: output {:?} is not a contiguous ({b}, {heads}, {rows}, {t})",
                    out.dims()
                );
            }
            out.inplace_op3(q, k, &op)?;
            out.clone()
        }
        None => q.apply_op2_no_bwd(k, &op)?,
    }))
}

struct ProbsKernel {
    scale: f32,
    /// (B, T) additive key bias.
    bias: Vec<f32>,
}

/// Strides of a rank-4 layout and its start, as the gemm takes them.
struct View<'a> {
    data: &'a [f32],
    start: usize,
    stride: [usize; 4],
}

impl<'a> View<'a> {
    fn new(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<Self> {
        let CpuStorage::F32(data) = s else {
            candle_core::bail!("attention: expected f32 storage");
        };
        let st = l.stride();
        Ok(View {
            data,
            start: l.start_offset(),
            stride: [st[0], st[1], st[2], st[3]],
        })
    }

    /// Offset of element (b, h, row, 0).
    fn offset(&self, b: usize, h: usize, row: usize) -> usize {
        self.start + b * self.stride[0] + h * self.stride[1] + row * self.stride[2]
    }
}

impl ProbsKernel {
    /// Fills `out` ((B, heads, rows, T) row-major, possibly uninitialised) in parallel blocks of
    /// query rows.
    fn fill(
        &self,
        out: &mut [MaybeUninit<f32>],
        q: &View<'_>,
        k: &View<'_>,
        dims: (usize, usize, usize, usize, usize),
    ) {
        let (_, heads, rows, t, d) = dims;
        if rows == 0 || t == 0 {
            return;
        }
        let block_rows = (BLOCK_BYTES / (4 * t)).clamp(1, rows);
        out.par_chunks_mut(rows * t)
            .enumerate()
            .for_each(|(matrix, out)| {
                let (b, h) = (matrix / heads, matrix % heads);
                let bias = &self.bias[b * t..(b + 1) * t];
                out.par_chunks_mut(block_rows * t)
                    .enumerate()
                    .for_each(|(block, out)| {
                        let row0 = block * block_rows;
                        let m = out.len() / t;
                        let lhs = q.offset(b, h, row0);
                        let rhs = k.offset(b, h, 0);
                        if d == 0 {
                            out.iter_mut().for_each(|x| {
                                x.write(0.0);
                            });
                        } else {
                            // SAFETY: q and k are candle's layouts over their own storages, so
                            // every (offset + row·stride + col·stride) element read lies inside
                            // them; `out` is an exclusive m × t row-major block that the gemm
                            // writes completely (read_dst = false).
                            unsafe {
                                gemm::gemm(
                                    m,
                                    t,
                                    d,
                                    out.as_mut_ptr() as *mut f32,
                                    1,
                                    t as isize,
                                    false,
                                    q.data.as_ptr().add(lhs),
                                    q.stride[3] as isize,
                                    q.stride[2] as isize,
                                    k.data.as_ptr().add(rhs),
                                    k.stride[2] as isize,
                                    k.stride[3] as isize,
                                    0.0,
                                    self.scale,
                                    false,
                                    false,
                                    false,
                                    gemm::Parallelism::None,
                                )
                            }
                        }
                        // SAFETY: every element of the block was written above, and f32 and
                        // MaybeUninit<f32> have the same layout.
                        let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
                        fastmath::dispatch(SoftmaxInPlace { rows: out, bias });
                    });
            });
    }
}

/// Masked softmax of every row of `rows` (rows of the bias's width) in place.
struct SoftmaxInPlace<'a> {
    rows: &'a mut [f32],
    bias: &'a [f32],
}

impl fastmath::Kernel for SoftmaxInPlace<'_> {
    #[inline(always)]
    fn run(self) {
        for row in self.rows.chunks_mut(self.bias.len()) {
            for (x, &b) in row.iter_mut().zip(self.bias) {
                *x += b;
            }
            let max = fastmath::max(row);
            for x in row.iter_mut() {
                *x = fastmath::exp(*x - max);
            }
            let inv = 1.0 / fastmath::sum(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

impl ProbsKernel {
    fn dims(ql: &Layout, kl: &Layout) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
        let (b, heads, rows, d) = ql.shape().dims4()?;
        let t = kl.shape().dims4()?.2;
        Ok((b, heads, rows, t, d))
    }
}

impl CustomOp2 for ProbsKernel {
    fn name(&self) -> &'static str {
        "attention-probs"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = Self::dims(ql, kl)?;
        let (b, heads, rows, t, _) = dims;
        let total = b * heads * rows * t;
        let mut out: Vec<f32> = Vec::with_capacity(total);
        self.fill(
            &mut out.spare_capacity_mut()[..total],
            &View::new(qs, ql)?,
            &View::new(ks, kl)?,
            dims,
        );
        // SAFETY: `fill` wrote every one of the first `total` elements.
        unsafe { out.set_len(total) };
        Ok((CpuStorage::F32(out), Shape::from((b, heads, rows, t))))
    }
}

impl InplaceOp3 for ProbsKernel {
    fn name(&self) -> &'static str {
        "attention-probs-into"
    }

    fn cpu_fwd(
        &self,
        out: &mut CpuStorage,
        out_layout: &Layout,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
    ) -> candle_core::Result<()> {
        let dims = Self::dims(ql, kl)?;
        let CpuStorage::F32(out) = out else {
            candle_core::bail!("attention: expected an f32 output");
        };
        let Some((start, end)) = out_layout.contiguous_offsets() else {
            candle_core::bail!("attention: the output must be contiguous");
        };
        let out = &mut out[start..end];
        // SAFETY: f32 and MaybeUninit<f32> have the same layout; initialised values stay valid.
        let out = unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) };
        self.fill(out, &View::new(qs, ql)?, &View::new(ks, kl)?, dims);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The reference: scores, bias and softmax as separate candle ops.
    fn unfused(q: &Tensor, k: &Tensor, scale: f64, bias: &Tensor) -> Tensor {
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        candle_nn::ops::softmax(&scores.broadcast_add(bias).unwrap(), D::Minus1).unwrap()
    }

    #[test]
    fn fused_probabilities_equal_separate_ops_for_strided_inputs_and_into_a_buffer() {
        let dev = Device::Cpu;
        // (B, T, 3, heads, d) as the stacked projection gives it; q, k are strided views.
        let (b, t, heads, d) = (2, 300, 3, 8);
        let qkv = Tensor::randn(0f32, 1.0, (b, t, 3, heads, d), &dev).unwrap();
        let qkv = qkv.permute((2, 0, 3, 1, 4)).unwrap();
        let (q, k) = (qkv.get(0).unwrap(), qkv.get(1).unwrap());
        // Second protein: last 40 keys padded.
        let mask: Vec<f32> = (0..b * t)
            .map(|i| if i >= t && i % t >= t - 40 { 0.0 } else { 1.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (b, t), &dev).unwrap();
        let bias = crate::model::encoder::attention_bias(&mask, DType::F32).unwrap();
        let want = unfused(
            &q.contiguous().unwrap(),
            &k.contiguous().unwrap(),
            0.35,
            &bias,
        );
        let fresh = attention_probs(&q, &k, 0.35, &bias, None).unwrap().unwrap();
        let stack = Tensor::zeros((2, b, heads, t, t), DType::F32, &dev).unwrap();
        let slot = stack.get(1).unwrap();
        let written = attention_probs(&q, &k, 0.35, &bias, Some(&slot))
            .unwrap()
            .unwrap();
        for got in [&fresh, &written, &stack.get(1).unwrap()] {
            let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        }
        // The other layer of the buffer is untouched, and padded keys get no attention.
        assert_eq!(
            stack
                .get(0)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        let padded = fresh.get(1).unwrap().narrow(2, t - 40, 40).unwrap();
        assert_eq!(padded.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn query_dependent_bias_is_left_to_the_caller() {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1.0, (1, 2, 5, 4), &dev).unwrap();
        let bias = Tensor::zeros((1, 1, 5, 5), DType::F32, &dev).unwrap();
        assert!(attention_probs(&q, &q, 1.0, &bias, None).unwrap().is_none());
    }
}
