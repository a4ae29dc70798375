//! ALBERT (ProtAlbert): BERT's embeddings at `embedding_size`, projected to the hidden size by
//! `encoder.embedding_hidden_mapping_in`, then one post-LayerNorm layer group applied
//! `num_hidden_layers` times (HF `AlbertTransformer`). Every application is its own layer in the
//! attention, context and latent outputs. AlbertModel, AlbertForMaskedLM and
//! AlbertForSequenceClassification.

use super::bert::{activation, BertEmbeddings};
use super::config::ModelConfig;
use super::encoder::{
    Encoder, EncoderConfig, EncoderLayer, FeedForward, NormPlacement, SelfAttention,
};
use super::output::{Output, OutputLevel, OutputModule};
use super::weights::{Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// One `AlbertLayer` under `{prefix}` (`…albert_layer_groups.{g}.albert_layers.0`).
fn load_layer(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<EncoderLayer> {
    let h = cfg.hidden_size;
    let eps = cfg.layer_norm_eps;
    let query = w.linear(&format!("{prefix}.attention.query"), h, h)?;
    let key = w.linear(&format!("{prefix}.attention.key"), h, h)?;
    let value = w.linear(&format!("{prefix}.attention.value"), h, h)?;
    let attention = SelfAttention::new(
        Linear::concat_outputs(&[&query, &key, &value])?,
        w.linear(&format!("{prefix}.attention.dense"), h, h)?,
        None,
        cfg,
    );
    let feed_forward = FeedForward::new(
        w.linear(&format!("{prefix}.ffn"), h, cfg.intermediate_size)?,
        w.linear(&format!("{prefix}.ffn_output"), cfg.intermediate_size, h)?,
        cfg.activation,
        false,
    );
    Ok(EncoderLayer::new(
        attention,
        w.layer_norm(&format!("{prefix}.attention.LayerNorm"), h, eps)?,
        feed_forward,
        w.layer_norm(&format!("{prefix}.full_layer_layer_norm"), h, eps)?,
        NormPlacement::Post,
    ))
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    // Task models save the backbone under `albert.`; a bare AlbertModel has no prefix.
    let p = if w.contains("albert.embeddings.word_embeddings.weight") {
        "albert."
    } else {
        ""
    };
    let h = config.hidden_size;
    let e = config.usize_or("embedding_size", 128)?;
    let groups = config.usize_or("num_hidden_groups", 1)?;
    let inner = config.usize_or("inner_group_num", 1)?;
    let layers_total = config.num_hidden_layers;
    if groups == 0 || groups > layers_total || inner != 1 {
        return Err(Error::file(
            &config.path,
            format!(
                "ALBERT with num_hidden_groups {groups} and inner_group_num {inner} is not \
                 supported: protscope reads 1 ≤ num_hidden_groups ≤ num_hidden_layers and \
                 inner_group_num 1 (ProtAlbert's shape)"
            ),
        ));
    }
    let projection = w.linear(&format!("{p}encoder.embedding_hidden_mapping_in"), e, h)?;
    let embeddings = BertEmbeddings::load(config, w, p, e, Some(projection))?;
    let encoder_config = EncoderConfig::standard(
        h,
        layers_total,
        config.num_attention_heads,
        config.intermediate_size,
        config.layer_norm_eps,
        activation(config)?,
        NormPlacement::Post,
        None,
    );
    let group_layers = (0..groups)
        .map(|g| {
            load_layer(
                w,
                &format!("{p}encoder.albert_layer_groups.{g}.albert_layers.0"),
                &encoder_config,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    // HF: layer i runs group int(i / (num_hidden_layers / num_hidden_groups)). Clones share
    // their tensors.
    let per_group = layers_total as f64 / groups as f64;
    let layers = (0..layers_total)
        .map(|i| group_layers[((i as f64 / per_group) as usize).min(groups - 1)].clone())
        .collect();
    let encoder = Encoder::new(encoder_config, layers, None, None);
    let pooler = if w.contains(&format!("{p}pooler.weight")) {
        Some(w.linear(&format!("{p}pooler"), h, h)?)
    } else {
        None
    };

    let mut outputs = Vec::new();
    match config.architecture() {
        "AlbertForMaskedLM" | "AlbertForPreTraining" => {
            let embeddings_name = format!("{p}embeddings.word_embeddings.weight");
            let decoder_weight = w.get_first(
                &["predictions.decoder.weight", &embeddings_name],
                &[config.vocab_size, e],
            )?;
            let bias = w.get_first(
                &["predictions.decoder.bias", "predictions.bias"],
                &[config.vocab_size],
            )?;
            outputs.push(Output::masked_lm(
                config.vocab_size,
                OutputModule::MaskedLm {
                    dense: w.linear("predictions.dense", h, e)?,
                    activation: activation(config)?,
                    norm: w.layer_norm("predictions.LayerNorm", e, config.layer_norm_eps)?,
                    decoder: Linear::new(decoder_weight, Some(bias)),
                },
            ));
        }
        "AlbertForSequenceClassification" => {
            if pooler.is_none() {
                return Err(Error::tensor(
                    w.source(),
                    format!("{p}pooler.weight"),
                    "missing; the classifier reads the pooled output",
                ));
            }
            let classes = config.num_labels.unwrap_or(2);
            outputs.push(Output {
                name: "classifier".into(),
                level: OutputLevel::Sequence,
                num_classes: classes,
                labels: config.class_labels(classes),
                multi_label: config.is_multi_label(),
                module: OutputModule::Pooled(w.linear("classifier", h, classes)?),
            });
        }
        "AlbertModel" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "ALBERT architecture `{other}` is not supported (AlbertModel, \
                     AlbertForMaskedLM, AlbertForSequenceClassification)"
                ),
            ))
        }
    }
    Ok(Backbone {
        embeddings: EmbeddingModule::Bert(embeddings),
        encoder,
        pooler,
        outputs,
        contact_head: None,
    })
}
