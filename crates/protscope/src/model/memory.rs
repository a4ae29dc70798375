//! Memory of forward passes: the weights as loaded, a machine's default budget, and batches of
//! sequences whose forward pass fits a budget (the attention maps are what grows: L · heads · T²
//! values per sequence). Integrated gradients' own estimate is in `attribution::memory`.

use candle_core::DType;

use super::config::Family;
use super::weights::TRANSPOSED_COPY_LIMIT;
use super::ProteinModel;
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

pub(crate) fn gib(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// Bytes one sequence of `tokens` tokens adds to a forward pass without gradients: per layer,
/// the attention scores and probabilities (2 · heads · T²), the layer's activations (8 · T · H)
/// and the feed-forward's (2 · T · I), as transients of one layer at a time; plus, when the
/// attention maps are kept, every layer's maps (L · heads · T²; they are copied to their
/// per-protein blocks one layer at a time, so once plus one layer).
pub fn forward_bytes_per_sequence(model: &ProteinModel, tokens: usize, attentions: bool) -> usize {
    let c = &model.config;
    let maps = if attentions {
        c.num_hidden_layers * c.num_attention_heads * tokens * tokens
    } else {
        0
    };
    4 * (layer_values(model, tokens, 2) + maps)
}

/// Values (f32 count) one layer holds for `tokens` tokens: 8 · T · H for its activations (q, k,
/// v, norm inputs, output, context), 2 · T · I for the feed-forward's, and `maps` · heads · T²
/// for attention-sized tensors (probabilities, scores, their gradients). The memory estimates of
/// forward passes and of integrated gradients are built from it.
pub fn layer_values(model: &ProteinModel, tokens: usize, maps: usize) -> usize {
    let c = &model.config;
    let t = tokens;
    8 * t * c.hidden_size + 2 * t * c.intermediate_size + maps * c.num_attention_heads * t * t
}

/// Batches (indices into `lengths`, token counts) for forward passes: sequences of similar
/// length together (shortest first, see [`super::outputs::length_batches`]), at most
/// `batch_size` per batch and no more than fit `budget` bytes with the weights. Errors before
/// anything runs when one sequence alone does not fit, naming it (`ids[i]`), `--max-len` and
/// `--memory-budget`.
pub fn forward_batches(
    model: &ProteinModel,
    ids: &[&str],
    lengths: &[usize],
    batch_size: usize,
    attentions: bool,
    budget: usize,
) -> Result<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    batches_in_order(model, ids, lengths, &order, batch_size, attentions, budget)
}

/// [`forward_batches`] keeping input order (consecutive sequences per batch), for outputs that
/// are streamed as they are computed.
pub fn forward_batches_in_input_order(
    model: &ProteinModel,
    ids: &[&str],
    lengths: &[usize],
    batch_size: usize,
    attentions: bool,
    budget: usize,
) -> Result<Vec<Vec<usize>>> {
    let order: Vec<usize> = (0..lengths.len()).collect();
    batches_in_order(model, ids, lengths, &order, batch_size, attentions, budget)
}

fn batches_in_order(
    model: &ProteinModel,
    ids: &[&str],
    lengths: &[usize],
    order: &[usize],
    batch_size: usize,
    attentions: bool,
    budget: usize,
) -> Result<Vec<Vec<usize>>> {
    let weights = weight_bytes(model);
    let free = budget.saturating_sub(weights);
    if let Some(longest) = (0..lengths.len()).max_by_key(|&i| lengths[i]) {
        let need = forward_bytes_per_sequence(model, lengths[longest], attentions);
        if need > free {
            let mut fits = lengths[longest];
            while fits > 2 && forward_bytes_per_sequence(model, fits, attentions) > free {
                fits = fits * 9 / 10;
            }
            return Err(Error::sequence(
                ids[longest],
                format!(
                    "{} tokens need about {} for the forward pass{} plus {} of weights, above \
                     `memory_budget` {}; cut the sequence with `max_len` (about {fits} tokens \
                     fit) or raise `memory_budget`",
                    lengths[longest],
                    gib(need),
                    if attentions {
                        " and its attention maps"
                    } else {
                        ""
                    },
                    gib(weights),
                    gib(budget)
                ),
            ));
        }
    }
    // (members, longest member's length)
    let mut batches: Vec<(Vec<usize>, usize)> = Vec::new();
    for &i in order {
        match batches.last_mut() {
            Some((batch, longest))
                if batch.len() < batch_size.max(1)
                    && (batch.len() + 1)
                        * forward_bytes_per_sequence(
                            model,
                            lengths[i].max(*longest),
                            attentions,
                        )
                        <= free =>
            {
                batch.push(i);
                *longest = lengths[i].max(*longest);
            }
            _ => batches.push((vec![i], lengths[i])),
        }
    }
    Ok(batches.into_iter().map(|(batch, _)| batch).collect())
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
