//! T5's relative position bias: learned values per bucket of key − query offset, built once
//! per pass into a table added to every layer's scores. Apart because only T5 uses it and it
//! enters attention as a bias, not as a change to the attention itself.

use candle_core::{Device, Tensor};

use crate::Result;

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
    pub(super) fn table(&self, t: usize, device: &Device) -> Result<Tensor> {
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
