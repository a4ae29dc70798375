//! Memory budget of integrated gradients: the α-steps per forward/backward pass derived from
//! an explicit estimate, and requests that cannot fit refused before anything is allocated.
//!
//! Estimate (bytes, f32 activations whatever the model's dtype, conservative for half precision):
//!
//! - weights: b · (L · (4H² + 2HI + 9H + I) + (V + P + S + 2) · H) with b bytes per value,
//!   L layers, width H, feed-forward width I, vocabulary V, P learned positions (0 for rotary
//!   and relative-position models: ESM-2, ESM C, T5, XLNet) and S token types, plus 4 · L · (4H² + 2HI) for the Wᵀ copies f32 models of at most
//!   1 GiB keep on CPU;
//! - one α-step: [`bytes_per_step`] = 4 · L · (8TH + 2TI + 2·heads·T²) + 8TH for T tokens
//!   (per layer: q, k, v, two LayerNorm inputs, output and context kept for the backward pass,
//!   the feed-forward pre-activation and a transient, the attention probabilities and a
//!   transient), calibrated on AntiBERTy against peak RSS (32–40 MB measured, 39 MB estimated
//!   at T = 121);
//! - a pass of B steps: weights + B · bytes_per_step.
//!
//! Memory thus grows linearly in the batch and quadratically in the length (the T² attention
//! maps), and the batch chosen is the largest that fits under
//! min(budget − weights, [`DEFAULT_MEMORY_BUDGET`]) (larger batches do not run faster).

use super::integrated_gradients::{
    bytes_per_step, bytes_per_step_recomputed, DEFAULT_MEMORY_BUDGET,
};
use candle_core::DType;

use crate::model::config::Family;
use crate::model::weights::TRANSPOSED_COPY_LIMIT;
use crate::model::ProteinModel;
use crate::{Error, Result};

/// Bytes of the model's weights as loaded, estimated from its configuration: parameters ×
/// bytes per value, plus the contiguous Wᵀ copies of the encoder's linear layers that f32 models
/// of at most [`TRANSPOSED_COPY_LIMIT`] bytes keep on CPU.
pub fn weight_bytes(model: &ProteinModel) -> usize {
    let c = &model.config;
    let (h, i, l) = (c.hidden_size, c.intermediate_size, c.num_hidden_layers);
    // Learned absolute positions only: rotary (ESM-2, ESM C) and relative (T5, XLNet) models
    // have none, and their `max_position_embeddings` is a placeholder limit.
    let positions = match c.family {
        Family::Esm if c.position_embedding_type == "rotary" => 0,
        Family::T5 | Family::EsmC | Family::Xlnet => 0,
        _ => c.max_position_embeddings,
    };
    let linear = l * (4 * h * h + 2 * h * i);
    let parameters =
        linear + l * (9 * h + i) + (c.vocab_size + positions + c.type_vocab_size + 2) * h;
    let f32_bytes = 4 * parameters;
    let copies = model.device().is_cpu()
        && model.dtype() == DType::F32
        && f32_bytes <= TRANSPOSED_COPY_LIMIT;
    parameters * model.dtype().size_in_bytes() + if copies { 4 * linear } else { 0 }
}

/// The default budget: 60 % of the machine's memory (`MemTotal` in /proc/meminfo), or 8 GiB
/// where that cannot be read.
pub fn default_memory_budget() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map(|kb| kb * 1024 / 10 * 6)
        .unwrap_or(8 << 30)
}

/// Parses a size such as `24G`, `24GiB`, `512M`, `1.5g` or a number of bytes (K, M, G, T are
/// binary: 1G = 2³⁰ bytes).
pub fn parse_bytes(text: &str) -> Result<usize> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (number, unit) = match stripped.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&stripped[..i], c),
        _ => (stripped, ' '),
    };
    let scale: f64 = match unit {
        ' ' => 1.0,
        'k' => 1024.0,
        'm' => 1024.0 * 1024.0,
        'g' => 1024.0 * 1024.0 * 1024.0,
        't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => f64::NAN,
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && (v * scale).is_finite() => Ok((v * scale) as usize),
        _ => Err(Error::invalid(format!(
            "memory size `{text}`: write a positive number with K, M, G or T (binary units), e.g. 24G"
        ))),
    }
}

fn gib(bytes: usize) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// How integrated gradients runs one protein under a memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    /// α-steps per forward/backward pass.
    pub batch_size: usize,
    /// Whether layers are recomputed in the backward pass (see
    /// [`crate::attribution::IgOptions::recompute_layers`]): only when the steps would not fit
    /// with every layer's values kept.
    pub recompute_layers: bool,
}

/// α-steps per pass for a protein of `tokens` tokens under `budget` bytes: `batch_size` when
/// given (checked against the budget), else the largest batch (at most `steps`) that fits.
/// Layers are recomputed in the backward pass when that is what makes the batch (or one step)
/// fit. Errors, naming `--max-len`, `--batch-size` and `--memory-budget`, when not even that
/// fits.
pub fn plan_batch(
    model: &ProteinModel,
    protein: &str,
    tokens: usize,
    steps: usize,
    batch_size: Option<usize>,
    budget: usize,
) -> Result<BatchPlan> {
    let weights = weight_bytes(model);
    let kept = bytes_per_step(model, tokens).max(1);
    let recomputed = bytes_per_step_recomputed(model, tokens).max(1);
    let free = budget.saturating_sub(weights);
    let plan = |batch_size: usize, recompute_layers: bool| BatchPlan {
        batch_size,
        recompute_layers,
    };
    if let Some(b) = batch_size {
        let b = b.max(1);
        if b * kept <= free {
            return Ok(plan(b, false));
        }
        if b * recomputed <= free {
            return Ok(plan(b, true));
        }
        let need = weights + b * recomputed;
        return Err(Error::sequence(
            protein,
            format!(
                "{tokens} tokens at --batch-size {b} need about {} (weights {} + {b} x {} \
                 per α-step, layers recomputed), above --memory-budget {}; lower --batch-size \
                 (at most {} fits), cut the sequence with --max-len, or raise --memory-budget",
                gib(need),
                gib(weights),
                gib(recomputed),
                gib(budget),
                free / recomputed
            ),
        ));
    }
    let cap = free.min(DEFAULT_MEMORY_BUDGET);
    if kept <= free {
        return Ok(plan((cap / kept).clamp(1, steps.max(1)), false));
    }
    if recomputed <= free {
        return Ok(plan((cap / recomputed).clamp(1, steps.max(1)), true));
    }
    // The longest length whose single step fits, for the message.
    let mut fits = tokens;
    while fits > 2 && weights + bytes_per_step_recomputed(model, fits) > budget {
        fits = fits * 9 / 10;
    }
    Err(Error::sequence(
        protein,
        format!(
            "{tokens} tokens need about {} for one α-step (layers recomputed) plus {} of \
             weights, above --memory-budget {}; cut the sequence with --max-len (about {fits} \
             tokens fit) or raise --memory-budget",
            gib(recomputed),
            gib(weights),
            gib(budget)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_bytes("24G").unwrap(), 24 << 30);
        assert_eq!(parse_bytes("24GiB").unwrap(), 24 << 30);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        for bad in ["", "G", "-1G", "12X", "0"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert!(default_memory_budget() > 0);
    }
}
