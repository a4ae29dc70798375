//! RoBERTa: BERT's post-LN encoder with positions counted from the padding index (fairseq's
//! learned positions) and one token type; RobertaModel, RobertaForMaskedLM and
//! RobertaForSequenceClassification (HF `RobertaClassificationHead`, the first token's
//! out_proj(tanh(dense(h)))). Covers Sapiens (fairseq RoBERTa, converted by
//! [`crate::fetch::fetch_sapiens`]).

use super::bert::{activation, BertEmbeddings};
use super::config::ModelConfig;
use super::encoder::{Activation, Encoder, EncoderConfig, NormPlacement};
use super::output::{Output, OutputLevel, OutputModule};
use super::weights::Linear;
use super::weights::Weights;
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// The padding index of a RoBERTa config (`pad_token_id`, 1 in HF and fairseq).
pub(crate) fn padding_idx(config: &ModelConfig) -> usize {
    config.pad_token_id.unwrap_or(1)
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    if config.position_embedding_type != "absolute" {
        return Err(Error::file(
            &config.path,
            format!(
                "RoBERTa position_embedding_type `{}` is not supported (only absolute)",
                config.position_embedding_type
            ),
        ));
    }
    let p = if w.contains("roberta.embeddings.word_embeddings.weight") {
        "roberta."
    } else {
        ""
    };
    let h = config.hidden_size;
    let act = activation(config)?;
    let embeddings = BertEmbeddings::load(config, w, p, h, None)?
        .with_padding_offset(padding_idx(config) as u32);
    let encoder_config = EncoderConfig::standard(
        h,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.intermediate_size,
        config.layer_norm_eps,
        act,
        NormPlacement::Post,
        None,
    );
    let encoder = Encoder::load(w, encoder_config, &format!("{p}encoder.layer"), None)?;

    let mut outputs = Vec::new();
    match config.architecture() {
        "RobertaForMaskedLM" => {
            // Tied to the word embeddings; HF may leave the decoder weight out.
            let embeddings = format!("{p}embeddings.word_embeddings.weight");
            let decoder_weight = w.get_first(
                &["lm_head.decoder.weight", &embeddings],
                &[config.vocab_size, h],
            )?;
            let bias = w.get_first(
                &["lm_head.bias", "lm_head.decoder.bias"],
                &[config.vocab_size],
            )?;
            outputs.push(Output::masked_lm(
                config.vocab_size,
                OutputModule::MaskedLm {
                    dense: w.linear("lm_head.dense", h, h)?,
                    // HF `RobertaLMHead` applies the exact GELU whatever `hidden_act` says.
                    activation: Activation::GeluErf,
                    norm: w.layer_norm("lm_head.layer_norm", h, config.layer_norm_eps)?,
                    decoder: Linear::new(decoder_weight, Some(bias)),
                },
            ));
        }
        "RobertaForSequenceClassification" => {
            let classes = config.num_labels.unwrap_or(2);
            outputs.push(Output {
                name: "classifier".into(),
                level: OutputLevel::Sequence,
                num_classes: classes,
                labels: config.class_labels(classes),
                multi_label: config.is_multi_label(),
                module: OutputModule::EsmClassification {
                    dense: w.linear("classifier.dense", h, h)?,
                    out_proj: w.linear("classifier.out_proj", h, classes)?,
                },
            });
        }
        "RobertaModel" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "RoBERTa architecture `{other}` is not supported (RobertaModel, \
                     RobertaForMaskedLM, RobertaForSequenceClassification)"
                ),
            ))
        }
    }
    Ok(Backbone {
        embeddings: EmbeddingModule::Bert(embeddings),
        encoder,
        pooler: None,
        outputs,
        contact_head: None,
    })
}
