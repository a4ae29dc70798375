//! XLNet's relative attention: segment-id settings, the position and segment terms added to
//! the scores (with their tangent and backward pass), and the per-pass sinusoidal offset
//! encodings and segment matrix they read. Apart because only XLNet uses any of it.

use candle_core::{DType, Device, Tensor};

use super::PositionInputs;
use crate::model::weights::Linear;
use crate::Result;

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
pub(super) struct XlnetInputs {
    /// `clamp_len` of config.json where positive: relative offsets beyond it count as it.
    pub(super) clamp_len: Option<usize>,
    pub(super) segment_ids: SegmentIds,
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
    pub(super) fn scores(
        &self,
        q: &Tensor,
        positions: &PositionInputs,
        with_bias: bool,
    ) -> Result<Tensor> {
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
    pub(super) fn backward(&self, d_scores: &Tensor, positions: &PositionInputs) -> Result<Tensor> {
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
pub(super) fn relative_encodings(
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
pub(super) fn xlnet_segments_differ(mask: &Tensor) -> Result<Tensor> {
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
