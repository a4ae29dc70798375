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
    bytes_per_step, bytes_per_step_recomputed, latent_bytes, LatentDerivative,
    DEFAULT_MEMORY_BUDGET,
};
use crate::model::memory::forward_bytes_per_sequence;
use crate::model::memory::gib;
pub use crate::model::memory::{default_memory_budget, parse_bytes, weight_bytes};
use crate::model::ProteinModel;
use crate::{Error, Result};

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
    latent: Option<LatentDerivative>,
) -> Result<BatchPlan> {
    // Besides the weights: latent IG's per-protein values, and room for the gradient-free pass
    // at input and baseline that every IG starts with (two sequences' transients; it ends before
    // the α-steps start).
    let fixed = weight_bytes(model) + latent.map_or(0, |d| latent_bytes(model, tokens, d));
    let ends = 2 * forward_bytes_per_sequence(model, tokens, false);
    let kept = bytes_per_step(model, tokens).max(1);
    let recomputed = bytes_per_step_recomputed(model, tokens).max(1);
    let free = budget.saturating_sub(fixed);
    let fits = |b: usize, per_step: usize| (b * per_step).max(ends) <= free;
    let plan = |batch_size: usize, recompute_layers: bool| BatchPlan {
        batch_size,
        recompute_layers,
    };
    if let Some(b) = batch_size {
        let b = b.max(1);
        if fits(b, kept) {
            return Ok(plan(b, false));
        }
        if fits(b, recomputed) {
            return Ok(plan(b, true));
        }
        let need = fixed + (b * recomputed).max(ends);
        return Err(Error::sequence(
            protein,
            format!(
                "{tokens} tokens at `batch_size` {b} need about {} (weights and per-protein \
                 values {} + {b} x {} per α-step, layers recomputed), above `memory_budget` {}; \
                 lower `batch_size` (at most {} fits), cut the sequence with `max_len`, or raise \
                 `memory_budget`",
                gib(need),
                gib(fixed),
                gib(recomputed),
                gib(budget),
                free / recomputed
            ),
        ));
    }
    let cap = free.min(DEFAULT_MEMORY_BUDGET);
    if fits(1, kept) {
        return Ok(plan((cap / kept).clamp(1, steps.max(1)), false));
    }
    if fits(1, recomputed) {
        return Ok(plan((cap / recomputed).clamp(1, steps.max(1)), true));
    }
    // The longest length whose single step fits, for the message.
    let need_at = |t: usize| {
        weight_bytes(model)
            + latent.map_or(0, |d| latent_bytes(model, t, d))
            + bytes_per_step_recomputed(model, t)
                .max(2 * forward_bytes_per_sequence(model, t, false))
    };
    let mut fits_len = tokens;
    while fits_len > 2 && need_at(fits_len) > budget {
        fits_len = fits_len * 9 / 10;
    }
    Err(Error::sequence(
        protein,
        format!(
            "{tokens} tokens need about {} for one α-step (layers recomputed) plus {} of \
             weights and per-protein values, above `memory_budget` {}; cut the sequence with \
             `max_len` (about {fits_len} tokens fit) or raise `memory_budget`",
            gib(recomputed.max(ends)),
            gib(fixed),
            gib(budget)
        ),
    ))
}
