//! Rotary position embeddings (ESM-2, ESM C): the cos/sin tables and their application to
//! queries and keys, with its transpose for the backward pass. Apart from attention because
//! the tables are built once per pass by the encoder and only read by each layer.

use candle_core::{Device, Tensor, D};

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
