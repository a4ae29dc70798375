//! ESM-2: rotary positions, pre-LayerNorm blocks, final `emb_layer_norm_after`, token-dropout
//! rescaling as HF `EsmEmbeddings` does in eval; EsmForMaskedLM and
//! EsmForSequenceClassification (HF `EsmClassificationHead`).

use candle_core::{DType, Module, Tensor, D};
use candle_nn::Embedding;

use super::config::ModelConfig;
use super::encoder::{Activation, Encoder, EncoderConfig, NormPlacement};
use super::output::{ContactHead, Output, OutputLevel, OutputModule};
use super::weights::{LayerNorm, Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// Share of tokens masked in ESM training (15 % selected × 80 % replaced by `<mask>`).
const MASK_RATIO_TRAIN: f64 = 0.15 * 0.8;

#[derive(Debug, Clone)]
pub struct EsmEmbeddings {
    word: Embedding,
    /// ESM-1b style learned positions; ESM-2 uses rotary and has none.
    position: Option<Embedding>,
    norm_before: Option<LayerNorm>,
    token_dropout: bool,
    mask_token_id: u32,
    padding_idx: u32,
}

impl EsmEmbeddings {
    pub fn forward(&self, input_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mut x = self.word.forward(input_ids)?;
        let mask_f = mask.to_dtype(x.dtype())?;
        if self.token_dropout {
            // Zero `<mask>` embeddings, then rescale by (1 - train ratio) / (1 - observed ratio).
            let is_mask = input_ids.eq(self.mask_token_id)?.to_dtype(x.dtype())?;
            x = x.broadcast_mul(&(1.0 - &is_mask)?.unsqueeze(D::Minus1)?)?;
            let observed = (is_mask.sum_keepdim(1)? / mask_f.sum_keepdim(1)?)?;
            let scale = ((1.0 - observed)?.recip()? * (1.0 - MASK_RATIO_TRAIN))?;
            x = x.broadcast_mul(&scale.unsqueeze(D::Minus1)?)?;
        }
        if let Some(position) = &self.position {
            // Positions count non-padding tokens from padding_idx + 1; padding keeps padding_idx.
            // Counted in f32: candle's cumsum is a matmul, which has no integer kernel.
            let not_pad = input_ids.ne(self.padding_idx)?.to_dtype(DType::F32)?;
            let ids = (not_pad.cumsum(1)? * &not_pad)?;
            let ids = (ids + self.padding_idx as f64)?.to_dtype(DType::U32)?;
            x = (x + position.forward(&ids)?)?;
        }
        if let Some(norm) = &self.norm_before {
            x = norm.forward(&x)?;
        }
        Ok(x.broadcast_mul(&mask_f.unsqueeze(D::Minus1)?)?)
    }
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    let p = if w.contains("esm.embeddings.word_embeddings.weight") {
        "esm."
    } else {
        ""
    };
    let h = config.hidden_size;
    let rotary = match config.position_embedding_type.as_str() {
        "rotary" => true,
        "absolute" => false,
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "ESM position_embedding_type `{other}` is not supported (rotary, absolute)"
                ),
            ))
        }
    };
    let padding_idx = config.pad_token_id.unwrap_or(1) as u32;
    let mask_token_id = match (config.token_dropout, config.mask_token_id) {
        (true, None) => {
            return Err(Error::file(
                &config.path,
                "token_dropout is true but mask_token_id is missing",
            ))
        }
        (_, id) => id.unwrap_or(u32::MAX as usize) as u32,
    };
    let embeddings = EsmEmbeddings {
        word: w.embedding(
            &format!("{p}embeddings.word_embeddings.weight"),
            config.vocab_size,
            h,
        )?,
        position: if rotary {
            None
        } else {
            Some(w.embedding(
                &format!("{p}embeddings.position_embeddings.weight"),
                config.max_position_embeddings,
                h,
            )?)
        },
        norm_before: if config.emb_layer_norm_before {
            Some(w.layer_norm(
                &format!("{p}embeddings.layer_norm"),
                h,
                config.layer_norm_eps,
            )?)
        } else {
            None
        },
        token_dropout: config.token_dropout,
        mask_token_id,
        padding_idx,
    };
    let encoder_config = EncoderConfig::standard(
        h,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.intermediate_size,
        config.layer_norm_eps,
        Activation::GeluErf,
        NormPlacement::Pre,
        rotary.then_some(config.rope_theta),
    );
    let encoder = Encoder::load(
        w,
        encoder_config,
        &format!("{p}encoder.layer"),
        Some(&format!("{p}encoder.emb_layer_norm_after")),
    )?;

    let mut outputs = Vec::new();
    match config.architecture() {
        "EsmForMaskedLM" => {
            let embeddings = format!("{p}embeddings.word_embeddings.weight");
            let decoder_weight = w.get_first(
                &["lm_head.decoder.weight", &embeddings],
                &[config.vocab_size, h],
            )?;
            let bias = w.get("lm_head.bias", &[config.vocab_size])?;
            outputs.push(Output::masked_lm(
                config.vocab_size,
                OutputModule::MaskedLm {
                    dense: w.linear("lm_head.dense", h, h)?,
                    activation: Activation::GeluErf,
                    norm: w.layer_norm("lm_head.layer_norm", h, config.layer_norm_eps)?,
                    decoder: Linear::new(decoder_weight, Some(bias)),
                },
            ));
        }
        "EsmForSequenceClassification" => {
            let classes = config.num_labels.unwrap_or(2);
            let labels = config.class_labels(classes);
            outputs.push(Output {
                name: "classifier".into(),
                level: OutputLevel::Sequence,
                num_classes: classes,
                labels,
                multi_label: config.is_multi_label(),
                module: OutputModule::EsmClassification {
                    dense: w.linear("classifier.dense", h, h)?,
                    out_proj: w.linear("classifier.out_proj", h, classes)?,
                },
            });
        }
        "EsmModel" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "ESM architecture `{other}` is not supported (EsmModel, EsmForMaskedLM, \
                     EsmForSequenceClassification)"
                ),
            ))
        }
    }
    // ESM-2's contact head: `esm.contact_head` in EsmForMaskedLM, `contact_head` in EsmModel.
    let contact_head = match ["esm.contact_head.regression", "contact_head.regression"]
        .into_iter()
        .find(|name| w.contains(&format!("{name}.weight")))
    {
        Some(name) => {
            let channels = config.num_hidden_layers * config.num_attention_heads;
            Some(ContactHead::new(
                w.get(&format!("{name}.weight"), &[1, channels])?
                    .flatten_all()?
                    .to_dtype(candle_core::DType::F32)?
                    .to_vec1()?,
                w.get(&format!("{name}.bias"), &[1])?
                    .to_dtype(candle_core::DType::F32)?
                    .to_vec1::<f32>()?[0],
                config.num_hidden_layers,
                config.num_attention_heads,
            )?)
        }
        None => None,
    };
    Ok(Backbone {
        embeddings: EmbeddingModule::Esm(embeddings),
        encoder,
        pooler: None,
        outputs,
        contact_head,
    })
}
