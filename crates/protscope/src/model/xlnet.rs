//! XLNet (ProtXLNet), the content stream as used for encoding: no permutation mask, no memory,
//! no target mapping. Relative positional attention with the `r_w`, `r_r` and `r_s` biases and
//! segment embeddings (HF `XLNetRelativeAttention`), post-LayerNorm blocks, no embedding
//! LayerNorm. Sequences end in `<sep> <cls>`; HF pads on the left, protscope on the right,
//! which changes nothing for the real tokens (positions enter only as offsets i − j, segments
//! from each row's own `<cls>`). XLNetModel and XLNetForSequenceClassification (summary of the
//! last token, `<cls>`) and XLNetLMHeadModel (ProtXLNet as published; `lm_loss` as `mlm`).
//! Segment ids follow [`SegmentIds`](super::encoder::SegmentIds): none by default, as provis and
//! ProtTrans call the model.

use candle_core::Tensor;

use super::bert::activation;
use super::config::ModelConfig;
use super::encoder::{
    Encoder, EncoderConfig, EncoderLayer, FeedForward, NormPlacement, RelativeAttention,
    SelfAttention,
};
use super::output::{Output, OutputLevel, OutputModule};
use super::weights::{Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// HF keeps q, k, v, r as (hidden, heads, head_size) einsum weights: the linear layer
/// hidden → heads·head_size has weight (heads·head_size, hidden).
fn projection_in(w: &Weights, name: &str, h: usize, heads: usize, d: usize) -> Result<Linear> {
    let weight = w
        .get(name, &[h, heads, d])?
        .reshape((h, heads * d))?
        .t()?
        .contiguous()?;
    Ok(Linear::new(weight, None))
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    let h = config.hidden_size;
    let heads = config.num_attention_heads;
    let d = config.head_size;
    let eps = config.layer_norm_eps;
    if config.str_or("attn_type", "bi") != "bi" {
        return Err(Error::file(
            &config.path,
            "XLNet attn_type must be \"bi\" (bidirectional encoding)",
        ));
    }
    if config.raw.get("bi_data").and_then(|v| v.as_bool()) == Some(true) {
        return Err(Error::file(
            &config.path,
            "XLNet with bi_data true (two position streams, a pre-training setting) is not \
             supported; set it to false",
        ));
    }
    // HF clamps relative offsets only for a positive clamp_len (ProtXLNet: -1, none).
    let clamp_len = config
        .raw
        .get("clamp_len")
        .and_then(|v| v.as_i64())
        .filter(|&c| c > 0)
        .map(|c| c as usize);
    let cfg = EncoderConfig::standard(
        h,
        config.num_hidden_layers,
        heads,
        config.intermediate_size,
        eps,
        activation(config)?,
        NormPlacement::Post,
        None,
    );
    // Task models save the backbone under `transformer.`; a bare XLNetModel has no prefix.
    let prefix = if w.contains("transformer.word_embedding.weight") {
        "transformer."
    } else {
        ""
    };
    let p = format!("{prefix}layer");
    let layers = (0..config.num_hidden_layers)
        .map(|i| -> Result<EncoderLayer> {
            let a = format!("{p}.{i}.rel_attn");
            let q = projection_in(w, &format!("{a}.q"), h, heads, d)?;
            let k = projection_in(w, &format!("{a}.k"), h, heads, d)?;
            let v = projection_in(w, &format!("{a}.v"), h, heads, d)?;
            let r = projection_in(w, &format!("{a}.r"), h, heads, d)?;
            let o = w
                .get(&format!("{a}.o"), &[h, heads, d])?
                .reshape((h, heads * d))?;
            let relative = RelativeAttention::new(
                r,
                &w.get(&format!("{a}.r_w_bias"), &[heads, d])?,
                &w.get(&format!("{a}.r_r_bias"), &[heads, d])?,
                &w.get(&format!("{a}.r_s_bias"), &[heads, d])?,
                &w.get(&format!("{a}.seg_embed"), &[2, heads, d])?,
            )?;
            let attention = SelfAttention::new(
                Linear::concat_outputs(&[&q, &k, &v])?,
                Linear::new(o, None),
                None,
                &cfg,
            )
            .with_relative(relative);
            let ff = format!("{p}.{i}.ff");
            let feed_forward = FeedForward::new(
                w.linear(&format!("{ff}.layer_1"), h, cfg.intermediate_size)?,
                w.linear(&format!("{ff}.layer_2"), cfg.intermediate_size, h)?,
                cfg.activation,
                false,
            );
            Ok(EncoderLayer::new(
                attention,
                w.layer_norm(&format!("{a}.layer_norm"), h, eps)?,
                feed_forward,
                w.layer_norm(&format!("{ff}.layer_norm"), h, eps)?,
                NormPlacement::Post,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let encoder = Encoder::new(cfg, layers, None, None).with_xlnet_positions(clamp_len);
    let embeddings: Tensor = w.get(
        &format!("{prefix}word_embedding.weight"),
        &[config.vocab_size, h],
    )?;

    let mut heads_out = Vec::new();
    match config.architecture() {
        "XLNetForSequenceClassification" => {
            let classes = config.num_labels.unwrap_or(2);
            heads_out.push(Output {
                name: "classifier".into(),
                level: OutputLevel::Sequence,
                num_classes: classes,
                labels: config.class_labels(classes),
                multi_label: config.is_multi_label(),
                module: OutputModule::LastToken {
                    summary: w.linear("sequence_summary.summary", h, h)?,
                    out: w.linear("logits_proj", h, classes)?,
                },
            });
        }
        "XLNetLMHeadModel" => {
            // `lm_loss`: a linear layer on every token, its weight tied to the word embeddings
            // (absent from files that store tied weights once).
            let weight = w.get_first(
                &["lm_loss.weight", &format!("{prefix}word_embedding.weight")],
                &[config.vocab_size, h],
            )?;
            let bias = w.get("lm_loss.bias", &[config.vocab_size])?;
            heads_out.push(Output::masked_lm(
                config.vocab_size,
                OutputModule::TokenLinear(Linear::new(weight, Some(bias))),
            ));
        }
        "XLNetModel" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "XLNet architecture `{other}` is not supported (XLNetModel, XLNetLMHeadModel, \
                     XLNetForSequenceClassification)"
                ),
            ))
        }
    }
    Ok(Backbone {
        embeddings: EmbeddingModule::Lookup(candle_nn::Embedding::new(embeddings, h)),
        encoder,
        pooler: None,
        outputs: heads_out,
        contact_head: None,
    })
}
