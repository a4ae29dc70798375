//! Protein language models on one instrumented encoder core.
//!
//! [`ProteinModel::load`] reads a local Hugging Face model folder: BERT family, ESM-2, ALBERT,
//! the T5 encoder, XLNet, ESM C, RoBERTa or the GPT-2 causal decoder, each built by its own file on [`encoder::Encoder`]. The
//! forward pass is split where interpretability needs it: [`ProteinModel::embed`] gives the
//! embedding-module output, [`ProteinModel::encode`] runs the encoder from any such tensor
//! (e.g. an interpolation for integrated gradients) with the capture points of
//! [`encoder::Capture`], and [`ProteinModel::head_logits`] applies a named prediction head.

pub mod albert;
pub mod bert;
pub mod config;
pub mod encoder;
pub mod esm;
pub mod esmc;
pub mod fairseq;
pub(crate) mod fastmath;
mod fused_attention;
pub mod gpt2;
pub mod hub;
pub mod memory;
pub mod ops;
pub mod output;
pub mod outputs;
pub mod roberta;
pub mod scoring;
pub mod t5;
pub mod tokenizer;
pub(crate) mod torch_file;
pub mod weights;
pub mod xlnet;

use std::borrow::Borrow;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

pub use config::{Family, ModelConfig};
pub use encoder::{
    AttentionSink, Capture, EncoderOutput, ForwardOptions, GradientRule, SegmentIds,
};
pub use output::{ContactHead, Output, OutputLevel, SequencePooling};

/// Where a per-residue value such as relevance is read: the embedding output, or the context
/// vector of one attention head (0-based layer and head, as in every table). Tables write the
/// embedding level as `layer` = `head` = −1; [`Level::from_columns`] and [`Level::columns`]
/// convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Embedding,
    Head { layer: usize, head: usize },
}

impl Level {
    /// The level of a table row's `layer` and `head` values.
    pub fn from_columns(layer: i64, head: i64) -> Result<Level> {
        match (layer, head) {
            (-1, -1) => Ok(Level::Embedding),
            (l, h) if l >= 0 && h >= 0 => Ok(Level::Head {
                layer: l as usize,
                head: h as usize,
            }),
            _ => Err(Error::invalid(format!(
                "layer {layer}, head {head}: both are −1 (the embedding level) or both 0-based \
                 indices"
            ))),
        }
    }

    /// The `layer` and `head` values of this level's table rows.
    pub fn columns(self) -> (i64, i64) {
        match self {
            Level::Embedding => (-1, -1),
            Level::Head { layer, head } => (layer as i64, head as i64),
        }
    }
}

/// People's name of a level: "the embedding level", or "head 4-8" (1-based, as in figures).
impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Level::Embedding => write!(f, "the embedding level"),
            Level::Head { layer, head } => write!(f, "head {}-{}", layer + 1, head + 1),
        }
    }
}

/// Former name of [`Output`].
#[deprecated(
    since = "0.2.0",
    note = "prediction heads are called outputs: use `Output`"
)]
pub type PredictionHead = Output;
pub use tokenizer::{Alphabet, EncodedSequence, SequenceTokenizer};
pub use weights::Weights;

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) enum EmbeddingModule {
    /// BERT and ALBERT.
    Bert(bert::BertEmbeddings),
    Esm(esm::EsmEmbeddings),
    /// A token lookup and nothing else (T5, XLNet, ESM C).
    Lookup(candle_nn::Embedding),
    /// GPT-2: token + position lookups.
    Gpt2(gpt2::Gpt2Embeddings),
}

/// What an architecture file builds: everything but the tokenizer.
#[derive(Debug, Clone)]
pub(crate) struct Backbone {
    pub embeddings: EmbeddingModule,
    pub encoder: encoder::Encoder,
    /// BERT pooler: tanh(dense(h[CLS])).
    pub pooler: Option<weights::Linear>,
    pub outputs: Vec<Output>,
    /// A contact predictor on the attention maps (ESM-2's `contact_head`), where the
    /// checkpoint has one.
    pub contact_head: Option<ContactHead>,
}

/// A loaded protein language model with its tokenizer and named heads.
#[derive(Debug, Clone)]
pub struct ProteinModel {
    pub config: ModelConfig,
    pub tokenizer: SequenceTokenizer,
    pub dir: PathBuf,
    backbone: Backbone,
    device: Device,
    dtype: DType,
}

/// A padded batch of encoded sequences.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (B, T) token ids, padded with the pad token.
    pub input_ids: Tensor,
    /// (B, T) 1 for real tokens, 0 for padding.
    pub mask: Tensor,
    /// Token count of each sequence (specials included).
    pub lengths: Vec<usize>,
}

impl ProteinModel {
    /// Loads `config.json`, the weights and the tokenizer from a model folder, or from the
    /// cached snapshot of a repository id `ORG/NAME[@REVISION]` (see [`hub`]).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_as(dir, device, DType::F32)
    }

    /// [`ProteinModel::load`] with weights and activations in `dtype`: f32, bf16 or f16 (half
    /// precision halves weight memory; what it costs in accuracy is measured in README).
    /// Gradients, attention maps and relevances are returned as f32/f64 either way.
    pub fn load_as(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let dir = &hub::resolve_model(dir)?;
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let family = config.family;
        let weights =
            Weights::from_folder_selected(dir, device, dtype, &|name| family.reads_tensor(name))?;
        weights.check_finite()?;
        let backbone = match config.family {
            Family::Bert => bert::load(&config, &weights)?,
            Family::Esm => esm::load(&config, &weights)?,
            Family::Albert => albert::load(&config, &weights)?,
            Family::T5 => t5::load(&config, &weights)?,
            Family::EsmC => esmc::load(&config, &weights)?,
            Family::Xlnet => xlnet::load(&config, &weights)?,
            Family::Roberta => roberta::load(&config, &weights)?,
            Family::Gpt2 => gpt2::load(&config, &weights)?,
        };
        let tokenizer = SequenceTokenizer::from_folder(dir, &config)?;
        Ok(ProteinModel {
            config,
            tokenizer,
            dir: dir.to_path_buf(),
            backbone,
            device: device.clone(),
            dtype,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the model is a causal decoder (GPT-2): attention maps are lower-triangular, and
    /// its `lm` output predicts each next token.
    pub fn is_causal(&self) -> bool {
        self.backbone.encoder.is_causal()
    }

    /// Sets the tokens placed before every sequence's residues (IgLM: `[HEAVY] [HUMAN]`); see
    /// [`SequenceTokenizer::set_prefix`].
    pub fn set_prefix(&mut self, prefix: &str) -> Result<()> {
        self.tokenizer.set_prefix(prefix)
    }

    /// XLNet's segment ids ([`SegmentIds::None`] unless set); None for other architectures.
    pub fn segment_ids(&self) -> Option<SegmentIds> {
        self.backbone.encoder.segment_ids()
    }

    /// Sets XLNet's segment ids for every later pass; an error for other architectures.
    pub fn set_segment_ids(&mut self, segment_ids: SegmentIds) -> Result<()> {
        self.backbone.encoder.set_segment_ids(segment_ids)
    }

    /// The dtype of the weights and activations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn num_layers(&self) -> usize {
        self.config.num_hidden_layers
    }

    pub fn num_heads(&self) -> usize {
        self.config.num_attention_heads
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Width of a layer's self-attention context (all heads side by side): the hidden size,
    /// except in T5 (`num_heads · d_kv`).
    pub fn context_size(&self) -> usize {
        self.backbone.encoder.config().context_size()
    }

    /// The checkpoint's contact predictor on attention maps (ESM-2), if it has one; see
    /// [`crate::attention::contacts`].
    pub fn contact_head(&self) -> Option<&ContactHead> {
        self.backbone.contact_head.as_ref()
    }

    /// The model's prediction outputs (HF's "heads": a classifier, AntiBERTy's `species` and
    /// `chain`, a masked-LM `mlm`). Attention heads are counted by [`Self::num_heads`].
    pub fn outputs(&self) -> &[Output] {
        &self.backbone.outputs
    }

    /// Former name of [`Self::outputs`].
    #[deprecated(
        since = "0.2.0",
        note = "prediction heads are called outputs: use `outputs()`"
    )]
    pub fn heads(&self) -> &[Output] {
        self.outputs()
    }

    /// Former name of [`Self::output`].
    #[deprecated(
        since = "0.2.0",
        note = "prediction heads are called outputs: use `output(name)`"
    )]
    pub fn head(&self, name: &str) -> Result<&Output> {
        self.output(name)
    }

    /// The prediction output called `name`, or an error listing the outputs this model has.
    pub fn output(&self, name: &str) -> Result<&Output> {
        self.backbone
            .outputs
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .backbone
                    .outputs
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect();
                Error::UnknownOutput {
                    name: name.to_string(),
                    available: if names.is_empty() {
                        "none (a bare encoder)".to_string()
                    } else {
                        names.join(", ")
                    },
                }
            })
    }

    /// Encodes one sequence with the model's tokenizer (see [`tokenizer`] for the rules).
    pub fn encode_sequence(
        &self,
        id: &str,
        sequence: &str,
        max_len: Option<usize>,
    ) -> Result<EncodedSequence> {
        self.tokenizer.encode(id, sequence, max_len)
    }

    /// Pads encoded sequences into one batch.
    /// Takes owned sequences or references (`&[EncodedSequence]` or `&[&EncodedSequence]`), so a
    /// notebook can keep its sequences in one owned vector across cells.
    pub fn batch<S: Borrow<EncodedSequence>>(&self, seqs: &[S]) -> Result<Batch> {
        if seqs.is_empty() {
            return Err(Error::invalid("empty batch"));
        }
        let seqs: Vec<&EncodedSequence> = seqs.iter().map(Borrow::borrow).collect();
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let pad = self.tokenizer.pad_id();
        let mut ids = Vec::with_capacity(seqs.len() * t);
        let mut mask = Vec::with_capacity(seqs.len() * t);
        for s in &seqs {
            ids.extend_from_slice(&s.ids);
            ids.extend(std::iter::repeat_n(pad, t - s.len()));
            mask.extend(std::iter::repeat_n(1u32, s.len()));
            mask.extend(std::iter::repeat_n(0u32, t - s.len()));
        }
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, (seqs.len(), t), &self.device)?,
            mask: Tensor::from_vec(mask, (seqs.len(), t), &self.device)?,
            lengths: seqs.iter().map(|s| s.len()).collect(),
        })
    }

    /// A batch of token ids given directly (B, T), with a full attention mask.
    pub fn batch_from_ids(&self, ids: &[Vec<u32>]) -> Result<Batch> {
        let t = ids.first().map(|v| v.len()).unwrap_or(0);
        if t == 0 || ids.iter().any(|v| v.len() != t) {
            return Err(Error::invalid(
                "token id rows must be non-empty and of equal length",
            ));
        }
        let flat: Vec<u32> = ids.iter().flatten().copied().collect();
        Ok(Batch {
            input_ids: Tensor::from_vec(flat, (ids.len(), t), &self.device)?,
            mask: Tensor::ones((ids.len(), t), DType::U32, &self.device)?,
            lengths: vec![t; ids.len()],
        })
    }

    /// The embedding-module output (B, T, hidden): for BERT word + position + type embeddings
    /// after LayerNorm, for ESM-2 the HF `EsmEmbeddings` output.
    pub fn embed(&self, input_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match &self.backbone.embeddings {
            EmbeddingModule::Bert(e) => e.forward(input_ids),
            EmbeddingModule::Esm(e) => e.forward(input_ids, mask),
            EmbeddingModule::Lookup(e) => Ok(candle_core::Module::forward(e, input_ids)?),
            EmbeddingModule::Gpt2(e) => e.forward(input_ids),
        }
    }

    /// Runs the encoder from an embedding-module output.
    pub fn encode(
        &self,
        embeddings: &Tensor,
        mask: &Tensor,
        options: ForwardOptions<'_>,
    ) -> Result<EncoderOutput> {
        self.backbone.encoder.forward(embeddings, mask, options)
    }

    /// Embedding + encoder for a batch.
    pub fn forward(&self, batch: &Batch, options: ForwardOptions<'_>) -> Result<EncoderOutput> {
        let emb = self.embed(&batch.input_ids, &batch.mask)?;
        self.encode(&emb, &batch.mask, options)
    }

    /// Positions of the last hidden state that output `name` reads: `Some(1)` for sequence
    /// outputs (BERT pooler and ESM classification heads read the first token), `None` (all) for
    /// token outputs. Pass it as [`ForwardOptions::last_layer_rows`] to skip the unused rows.
    pub fn output_rows(&self, name: &str) -> Result<Option<usize>> {
        let head = self.output(name)?;
        Ok((head.level == OutputLevel::Sequence && head.reads_first_token_only()).then_some(1))
    }

    /// Logits of output `name`: (B, classes) for sequence outputs, (B, T, vocab) for token ones.
    pub fn output_logits(&self, name: &str, output: &EncoderOutput) -> Result<Tensor> {
        self.output_logits_rule(name, output, GradientRule::Exact)
    }

    /// [`Self::output_logits`] under a gradient rule: with AttnLRP, the pooler's and the
    /// heads' tanh take the identity rule (the logits are the same).
    pub fn output_logits_rule(
        &self,
        name: &str,
        output: &EncoderOutput,
        rule: GradientRule,
    ) -> Result<Tensor> {
        let head = self.output(name)?;
        let pooled = match (&self.backbone.pooler, head.level) {
            (Some(pooler), OutputLevel::Sequence) => {
                let first = output.last_hidden_state.narrow(1, 0, 1)?.squeeze(1)?;
                Some(output::tanh_rule(&pooler.forward(&first)?, rule)?)
            }
            _ => None,
        };
        head.forward_rule(
            &output.last_hidden_state,
            &output.mask,
            pooled.as_ref(),
            rule,
        )
    }
}
