//! ESM C (EvolutionaryScale's open 300M / 600M models) in the official weight layout
//! (`embed`, `transformer.blocks.{i}`, `transformer.norm`, `sequence_head`), which the ESM++
//! port keeps. Pre-LayerNorm blocks with LayerNorms on q and k, rotary positions, a SwiGLU
//! feed-forward block, no linear biases, residual branches divided by √(layers / 36), and a
//! bias-free final LayerNorm. The official code runs fused attention and cannot return
//! attention maps; here they come from the same instrumented core as every other model.
//!
//! `config.json`: `model_type: "esmc"` (or `"ESMplusplus"`), `hidden_size`,
//! `num_hidden_layers`, `num_attention_heads`, `vocab_size` (64). Heads: `mlm` (the
//! `sequence_head`, an MLP over the 64 tokens) and, when `classifier.weight` exists, a
//! mean-pooled linear `classifier`.

use super::config::ModelConfig;
use super::encoder::{
    Activation, Encoder, EncoderConfig, EncoderLayer, FeedForward, NormPlacement, SelfAttention,
};
use super::output::{Output, OutputModule};
use super::weights::{Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::Result;

const ROPE_BASE: f64 = 10000.0;

/// The optional bias of `{prefix}` (the regression head's layers have one).
fn linear_maybe_bias(w: &Weights, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
    if w.contains(&format!("{prefix}.bias")) {
        w.linear(prefix, in_dim, out_dim)
    } else {
        w.linear_without_bias(prefix, in_dim, out_dim)
    }
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    let h = config.hidden_size;
    let layers_total = config.num_hidden_layers;
    let ff = config.intermediate_size;
    let eps = config.layer_norm_eps;
    let cfg = EncoderConfig::standard(
        h,
        layers_total,
        config.num_attention_heads,
        ff,
        eps,
        Activation::Silu,
        NormPlacement::Pre,
        Some(ROPE_BASE),
    );
    // x + branch(x) / s: the division is folded into each branch's last projection.
    let residual_scale = (layers_total as f64 / 36.0).sqrt();
    let layers = (0..layers_total)
        .map(|i| -> Result<EncoderLayer> {
            let b = format!("transformer.blocks.{i}");
            let attention = SelfAttention::new(
                linear_maybe_bias(w, &format!("{b}.attn.layernorm_qkv.1"), h, 3 * h)?,
                linear_maybe_bias(w, &format!("{b}.attn.out_proj"), h, h)?
                    .scaled(1.0 / residual_scale)?,
                Some((
                    w.layer_norm_without_bias(&format!("{b}.attn.q_ln"), h, eps)?,
                    w.layer_norm_without_bias(&format!("{b}.attn.k_ln"), h, eps)?,
                )),
                &cfg,
            );
            let feed_forward = FeedForward::new(
                linear_maybe_bias(w, &format!("{b}.ffn.1"), h, 2 * ff)?,
                linear_maybe_bias(w, &format!("{b}.ffn.3"), ff, h)?.scaled(1.0 / residual_scale)?,
                Activation::Silu,
                true,
            );
            Ok(EncoderLayer::new(
                attention,
                w.layer_norm(&format!("{b}.attn.layernorm_qkv.0"), h, eps)?,
                feed_forward,
                w.layer_norm(&format!("{b}.ffn.0"), h, eps)?,
                NormPlacement::Pre,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let final_norm = w.layer_norm_without_bias("transformer.norm", h, eps)?;
    let encoder = Encoder::new(cfg, layers, Some(final_norm), None);
    let embeddings = w.embedding("embed.weight", config.vocab_size, h)?;

    let mut outputs = Vec::new();
    if w.contains("sequence_head.0.weight") {
        outputs.push(Output::masked_lm(
            config.vocab_size,
            OutputModule::MaskedLm {
                dense: linear_maybe_bias(w, "sequence_head.0", h, h)?,
                activation: Activation::GeluErf,
                norm: w.layer_norm("sequence_head.2", h, eps)?,
                decoder: linear_maybe_bias(w, "sequence_head.3", h, config.vocab_size)?,
            },
        ));
    }
    if let Some(head) = super::output::mean_pooled_classifier(config, w)? {
        outputs.push(head);
    }
    Ok(Backbone {
        embeddings: EmbeddingModule::Lookup(embeddings),
        encoder,
        pooler: None,
        outputs,
        contact_head: None,
    })
}
