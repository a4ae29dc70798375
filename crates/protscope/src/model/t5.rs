//! The T5 encoder (`T5EncoderModel`; ProtT5-XL-U50, Ankh): token lookup without scaling,
//! pre-norm blocks with RMS normalisation (`T5LayerNorm`), no linear biases, unscaled
//! attention scores plus a relative position bias that layer 0 computes and every layer adds,
//! the feed-forward block `feed_forward_proj` names (`relu`: original T5 and the t5-3b shape of
//! ProtT5-XL-U50; `gated-gelu`: T5 v1.1), and a final RMS norm. The context width is
//! `num_heads · d_kv`, which need not equal `d_model`.
//!
//! Heads: none for a bare encoder; `classifier.{weight,bias}` (classes, d_model) on the
//! mean-pooled last hidden state when present (how ProtT5 embeddings are fine-tuned).

use super::config::ModelConfig;
use super::encoder::{
    Activation, Encoder, EncoderConfig, EncoderLayer, FeedForward, NormPlacement,
    RelativePositionBias, SelfAttention,
};
use super::weights::{Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// `feed_forward_proj`: `gated-ACT` or `ACT`; HF reads `gated-gelu` as the tanh GELU.
fn feed_forward_kind(config: &ModelConfig) -> Result<(Activation, bool)> {
    let proj = config.str_or("feed_forward_proj", "relu");
    let (gated, act) = match proj.strip_prefix("gated-") {
        Some(act) => (true, act),
        None => (false, proj),
    };
    let act = if gated && act == "gelu" {
        "gelu_new"
    } else {
        act
    };
    let activation = Activation::from_hf(act).ok_or_else(|| {
        Error::file(
            &config.path,
            format!("feed_forward_proj `{proj}` is not supported (relu, gated-gelu, gated-silu)"),
        )
    })?;
    Ok((activation, gated))
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    let h = config.hidden_size;
    let heads = config.num_attention_heads;
    let ff = config.intermediate_size;
    let eps = config.layer_norm_eps;
    let (activation, gated) = feed_forward_kind(config)?;
    let cfg = EncoderConfig {
        hidden_size: h,
        num_layers: config.num_hidden_layers,
        num_heads: heads,
        head_size: config.head_size,
        intermediate_size: ff,
        layer_norm_eps: eps,
        activation,
        norm: NormPlacement::Pre,
        rotary_base: None,
        // T5 folds the 1/√d scaling into its weight initialisation.
        score_scale: 1.0,
    };
    let inner = cfg.context_size();
    let layers = (0..config.num_hidden_layers)
        .map(|i| -> Result<EncoderLayer> {
            let b = format!("encoder.block.{i}.layer");
            let attn = format!("{b}.0.SelfAttention");
            let q = w.linear_without_bias(&format!("{attn}.q"), h, inner)?;
            let k = w.linear_without_bias(&format!("{attn}.k"), h, inner)?;
            let v = w.linear_without_bias(&format!("{attn}.v"), h, inner)?;
            let attention = SelfAttention::new(
                Linear::concat_outputs(&[&q, &k, &v])?,
                w.linear_without_bias(&format!("{attn}.o"), inner, h)?,
                None,
                &cfg,
            );
            let dense = format!("{b}.1.DenseReluDense");
            let input = if gated {
                let gate = w.linear_without_bias(&format!("{dense}.wi_0"), h, ff)?;
                let up = w.linear_without_bias(&format!("{dense}.wi_1"), h, ff)?;
                Linear::concat_outputs(&[&gate, &up])?
            } else {
                w.linear_without_bias(&format!("{dense}.wi"), h, ff)?
            };
            let feed_forward = FeedForward::new(
                input,
                w.linear_without_bias(&format!("{dense}.wo"), ff, h)?,
                activation,
                gated,
            );
            Ok(EncoderLayer::new(
                attention,
                w.rms_norm(&format!("{b}.0.layer_norm"), h, eps)?,
                feed_forward,
                w.rms_norm(&format!("{b}.1.layer_norm"), h, eps)?,
                NormPlacement::Pre,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let num_buckets = config.usize_or("relative_attention_num_buckets", 32)?;
    let max_distance = config.usize_or("relative_attention_max_distance", 128)?;
    let position_bias = RelativePositionBias::new(
        w.get(
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            &[num_buckets, heads],
        )?,
        num_buckets,
        max_distance,
    );
    let final_norm = w.rms_norm("encoder.final_layer_norm", h, eps)?;
    let encoder = Encoder::new(cfg, layers, Some(final_norm), Some(position_bias));
    let embeddings = w.get_first(
        &["encoder.embed_tokens.weight", "shared.weight"],
        &[config.vocab_size, h],
    )?;
    let outputs = super::output::mean_pooled_classifier(config, w)?
        .into_iter()
        .collect();
    Ok(Backbone {
        embeddings: EmbeddingModule::Lookup(candle_nn::Embedding::new(embeddings, h)),
        encoder,
        pooler: None,
        outputs,
        contact_head: None,
    })
}
