//! BERT family: BertModel, BertForMaskedLM, BertForSequenceClassification (single- and
//! multi-label) and AntiBERTy (BERT + MLM head + `species`/`chain`/`graft` heads on the pooled
//! output). Covers ProtBert, ProtBert-BFD and AntiBERTy.

use candle_core::{Module, Tensor};
use candle_nn::Embedding;

use super::config::ModelConfig;
use super::encoder::{Activation, Encoder, EncoderConfig, NormPlacement};
use super::output::{Output, OutputLevel, OutputModule};
use super::weights::{LayerNorm, Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// HF `BertEmbeddings` in eval: LN(word + token_type(0) + position), positions 0..T. ALBERT's
/// are the same at its `embedding_size`, followed by the projection to the hidden size.
/// RoBERTa's count from the padding index instead (see [`BertEmbeddings::with_padding_offset`]).
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    /// ALBERT: `encoder.embedding_hidden_mapping_in` (embedding size → hidden size).
    projection: Option<Linear>,
    /// RoBERTa: the padding index. Positions of real tokens are then padding_idx + 1, + 2, …
    /// and padding keeps padding_idx (fairseq's `make_positions`, HF
    /// `create_position_ids_from_input_ids`).
    padding_offset: Option<u32>,
}

impl BertEmbeddings {
    /// RoBERTa's positions: counted from `padding_idx + 1` over the non-padding tokens.
    pub(crate) fn with_padding_offset(mut self, padding_idx: u32) -> Self {
        self.padding_offset = Some(padding_idx);
        self
    }

    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let device = input_ids.device();
        let types = Tensor::zeros((b, t), candle_core::DType::U32, device)?;
        let x = (self.word.forward(input_ids)? + self.token_type.forward(&types)?)?;
        let x = match self.padding_offset {
            None => {
                let positions = Tensor::arange(0u32, t as u32, device)?;
                x.broadcast_add(&self.position.forward(&positions)?)?
            }
            Some(padding_idx) => {
                // The running count in f32 (candle's cumsum is a matmul, which has no integer
                // kernel), exact for any length a model takes.
                let not_pad = input_ids
                    .ne(padding_idx)?
                    .to_dtype(candle_core::DType::F32)?;
                let ids = ((not_pad.cumsum(1)? * &not_pad)? + padding_idx as f64)?;
                (x + self
                    .position
                    .forward(&ids.to_dtype(candle_core::DType::U32)?)?)?
            }
        };
        let x = self.norm.forward(&x)?;
        Ok(match &self.projection {
            Some(projection) => projection.forward(&x)?,
            None => x,
        })
    }

    /// HF names under `{prefix}embeddings.`, vectors of `size` (BERT: hidden size, ALBERT:
    /// embedding size).
    pub(crate) fn load(
        config: &ModelConfig,
        w: &Weights,
        prefix: &str,
        size: usize,
        projection: Option<Linear>,
    ) -> Result<Self> {
        Ok(BertEmbeddings {
            word: w.embedding(
                &format!("{prefix}embeddings.word_embeddings.weight"),
                config.vocab_size,
                size,
            )?,
            position: w.embedding(
                &format!("{prefix}embeddings.position_embeddings.weight"),
                config.max_position_embeddings,
                size,
            )?,
            token_type: w.embedding(
                &format!("{prefix}embeddings.token_type_embeddings.weight"),
                config.type_vocab_size,
                size,
            )?,
            norm: w.layer_norm(
                &format!("{prefix}embeddings.LayerNorm"),
                size,
                config.layer_norm_eps,
            )?,
            projection,
            padding_offset: None,
        })
    }
}

pub(crate) fn activation(config: &ModelConfig) -> Result<Activation> {
    Activation::from_hf(&config.hidden_act).ok_or_else(|| {
        Error::file(
            &config.path,
            format!(
                "hidden_act `{}` is not supported (gelu, gelu_new, relu)",
                config.hidden_act
            ),
        )
    })
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    if config.position_embedding_type != "absolute" {
        return Err(Error::file(
            &config.path,
            format!(
                "BERT position_embedding_type `{}` is not supported (only absolute)",
                config.position_embedding_type
            ),
        ));
    }
    // Task models save the backbone under `bert.`; a bare BertModel has no prefix.
    let p = if w.contains("bert.embeddings.word_embeddings.weight") {
        "bert."
    } else {
        ""
    };
    let h = config.hidden_size;
    let act = activation(config)?;
    let embeddings = BertEmbeddings::load(config, w, p, h, None)?;

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
    let pooler = if w.contains(&format!("{p}pooler.dense.weight")) {
        Some(w.linear(&format!("{p}pooler.dense"), h, h)?)
    } else {
        None
    };

    let arch = config.architecture();
    let mut outputs = Vec::new();
    let mlm = |outputs: &mut Vec<Output>| -> Result<()> {
        // The decoder is tied to the word embeddings; checkpoints may omit its weight.
        let embeddings = format!("{p}embeddings.word_embeddings.weight");
        let decoder_weight = w.get_first(
            &["cls.predictions.decoder.weight", &embeddings],
            &[config.vocab_size, h],
        )?;
        // The decoder's own bias is what HF's forward adds; older checkpoints tie it to
        // `cls.predictions.bias` and may store only that one.
        let bias = w.get_first(
            &["cls.predictions.decoder.bias", "cls.predictions.bias"],
            &[config.vocab_size],
        )?;
        outputs.push(Output::masked_lm(
            config.vocab_size,
            OutputModule::MaskedLm {
                dense: w.linear("cls.predictions.transform.dense", h, h)?,
                activation: act,
                norm: w.layer_norm(
                    "cls.predictions.transform.LayerNorm",
                    h,
                    config.layer_norm_eps,
                )?,
                decoder: Linear::new(decoder_weight, Some(bias)),
            },
        ));
        Ok(())
    };
    let needs_pooler = |name: &str| -> Result<()> {
        if pooler.is_none() {
            return Err(Error::tensor(
                w.source(),
                format!("{p}pooler.dense.weight"),
                format!("missing; head `{name}` is computed from the pooled output"),
            ));
        }
        Ok(())
    };
    match arch {
        "AntiBERTy" => {
            mlm(&mut outputs)?;
            for (name, classes) in [("species", 6), ("chain", 2), ("graft", 2)] {
                needs_pooler(name)?;
                outputs.push(Output {
                    name: name.into(),
                    level: OutputLevel::Sequence,
                    num_classes: classes,
                    labels: config.head_labels.get(name).cloned().unwrap_or_default(),
                    multi_label: false,
                    module: OutputModule::Pooled(w.linear(&format!("cls.{name}"), h, classes)?),
                });
            }
        }
        "BertForMaskedLM" | "BertForPreTraining" => mlm(&mut outputs)?,
        "BertForSequenceClassification" => {
            let classes = config.num_labels.unwrap_or(2);
            needs_pooler("classifier")?;
            let labels = config.class_labels(classes);
            outputs.push(Output {
                name: "classifier".into(),
                level: OutputLevel::Sequence,
                num_classes: classes,
                labels,
                multi_label: config.is_multi_label(),
                module: OutputModule::Pooled(w.linear("classifier", h, classes)?),
            });
        }
        "BertModel" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "BERT architecture `{other}` is not supported (BertModel, BertForMaskedLM, \
                     BertForSequenceClassification, AntiBERTy)"
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
