//! Rotary position embeddings (ESM-2, ESM C): the cos/sin tables and their application to
//! queries and keys, with its transpose for the backward pass. Apart from attention because
//! the tables are built once per pass by the encoder and only read by each layer.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use crate::model::ops::is_cpu_f32;
use crate::Result;

/// Rotary position tables (ESM-2): cos/sin of shape (T, head_size), `cat(freqs, freqs)` layout
/// as in HF `RotaryEmbedding`, applied as `x * cos + rotate_half(x) * sin`.
#[derive(Debug, Clone)]
pub(super) struct Rotary {
    inv_freq: Vec<f32>,
}

impl Rotary {
    pub(super) fn new(head_size: usize, base: f64) -> Self {
        let base = base as f32;
        let inv_freq = (0..head_size)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_size as f32))
            .collect();
        Rotary { inv_freq }
    }

    pub(super) fn tables(&self, seq_len: usize, device: &Device) -> Result<(Tensor, Tensor)> {
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
    pub(super) fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        Ok((x.broadcast_mul(cos)? + Self::rotate_half(x)?.broadcast_mul(sin)?)?)
    }

    /// [`Rotary::apply`] of `scale · x`, contiguous. On CPU (f32) one pass that reads x through
    /// its strides (a view into the stacked projection) instead of seven tensor ops; each value
    /// is rounded as the ops round it (scale, then products, then their sum).
    pub(super) fn apply_scaled(
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        scale: f64,
    ) -> Result<Tensor> {
        let fits = is_cpu_f32(x)
            && cos.dtype() == DType::F32
            && sin.dtype() == DType::F32
            && x.rank() == 4
            && x.dim(D::Minus1)? % 2 == 0
            && cos.dims() == [x.dim(2)?, x.dim(3)?]
            && sin.dims() == cos.dims();
        if !fits {
            let x = if scale == 1.0 {
                x.clone()
            } else {
                (x * scale)?
            };
            return Self::apply(&x, cos, sin);
        }
        Ok(x.apply_op3_no_bwd(
            &cos.contiguous()?,
            &sin.contiguous()?,
            &RotaryKernel(scale as f32),
        )?)
    }

    /// Transpose of [`Rotary::apply`] (a linear map of x): `g cos − rotate_half(g sin)`, since
    /// rotate_half is antisymmetric.
    pub(super) fn backward(g: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
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

/// One pass of [`Rotary::apply_scaled`] on CPU.
struct RotaryKernel(f32);

impl CustomOp3 for RotaryKernel {
    fn name(&self) -> &'static str {
        "rotary"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F32(cos), CpuStorage::F32(sin)) = (xs, cs, ss) else {
            candle_core::bail!("rotary: expected f32 tensors");
        };
        let (Some((c0, c1)), Some((s0, s1))) = (cl.contiguous_offsets(), sl.contiguous_offsets())
        else {
            candle_core::bail!("rotary: tables must be contiguous");
        };
        let (cos, sin) = (&cos[c0..c1], &sin[s0..s1]);
        let (b, heads, t, d) = xl.shape().dims4()?;
        let st = xl.stride();
        let start = xl.start_offset();
        let half = d / 2;
        let scale = self.0;
        let mut out = vec![0f32; b * heads * t * d];
        if d > 0 {
            out.par_chunks_mut(t * d).enumerate().for_each(|(bh, out)| {
                let base = start + (bh / heads) * st[0] + (bh % heads) * st[1];
                for (pos, row) in out.chunks_mut(d).enumerate() {
                    let src = base + pos * st[2];
                    let value = |i: usize| x[src + i * st[3]] * scale;
                    let (cos, sin) = (&cos[pos * d..(pos + 1) * d], &sin[pos * d..(pos + 1) * d]);
                    for i in 0..d {
                        let rotated = if i < half {
                            -value(i + half)
                        } else {
                            value(i - half)
                        };
                        row[i] = value(i) * cos[i] + rotated * sin[i];
                    }
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((b, heads, t, d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_rotary_equals_the_tensor_ops_on_strided_views() {
        let dev = Device::Cpu;
        let (b, t, heads, d) = (2, 7, 3, 8);
        let qkv = Tensor::randn(0f32, 1.0, (b, t, 3, heads, d), &dev).unwrap();
        let q = qkv.permute((2, 0, 3, 1, 4)).unwrap().get(0).unwrap();
        let (cos, sin) = Rotary::new(d, 10_000.0).tables(t, &dev).unwrap();
        let want = Rotary::apply(&(&q * 0.25).unwrap(), &cos, &sin).unwrap();
        let got = Rotary::apply_scaled(&q, &cos, &sin, 0.25).unwrap();
        let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}
