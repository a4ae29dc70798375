//! `config.json` of a Hugging Face model folder, read leniently: only the fields protscope
//! needs, each with a clear error when missing or of the wrong type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, Result};

/// Model family, from `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `model_type: bert` (ProtBert, ProtBert-BFD, AntiBERTy).
    Bert,
    /// `model_type: esm` (ESM-2).
    Esm,
    /// `model_type: albert` (ProtAlbert): factorised embeddings, one shared layer group.
    Albert,
    /// `model_type: t5`, the encoder only (ProtT5, Ankh).
    T5,
    /// `model_type: esmc` (or the ESM++ port's `ESMplusplus`): ESM C in the official weight layout.
    EsmC,
    /// `model_type: xlnet` (ProtXLNet): relative attention, specials at the end.
    Xlnet,
    /// `model_type: roberta` (Sapiens): BERT with positions counted from the padding index.
    Roberta,
    /// `model_type: gpt2` (IgLM, ProtGPT2-style checkpoints): a causal decoder, pre-LN, learned
    /// positions, fused `c_attn` in Conv1D layout, LM head tied to the token embeddings.
    Gpt2,
}

impl Family {
    /// ESM-style vocabularies and position limits (`<cls>` … `<eos>`).
    pub fn is_esm_like(&self) -> bool {
        matches!(self, Family::Esm | Family::EsmC)
    }

    /// Whether the model reads the checkpoint tensor `name`. T5 runs the encoder only, so a
    /// full encoder–decoder checkpoint (ProtT5-XL-U50: 11 GB, the encoder 4.8 GB) is read
    /// without its decoder and LM head.
    pub fn reads_tensor(&self, name: &str) -> bool {
        match self {
            Family::T5 => !(name.starts_with("decoder.") || name.starts_with("lm_head.")),
            // Older GPT-2 checkpoints save the causal mask as buffers; the core builds its own.
            Family::Gpt2 => !(name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")),
            _ => true,
        }
    }

    /// Vocabularies of SentencePiece models (`spiece.model`): ProtAlbert, ProtT5 / Ankh,
    /// ProtXLNet.
    pub fn uses_sentencepiece(&self) -> bool {
        matches!(self, Family::Albert | Family::T5 | Family::Xlnet)
    }

    /// Causal decoders: each token attends to itself and the tokens before it.
    pub fn is_causal(&self) -> bool {
        matches!(self, Family::Gpt2)
    }
}

/// Longest input of models without learned absolute positions (rotary, relative): no limit of
/// their own, so a large one; memory is the practical limit.
pub const UNBOUNDED_POSITIONS: usize = 1 << 20;

/// The fields of `config.json` protscope reads.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub family: Family,
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Width of one attention head: `hidden_size / num_attention_heads`, T5's `d_kv`.
    pub head_size: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: usize,
    /// BERT only.
    pub type_vocab_size: usize,
    pub pad_token_id: Option<usize>,
    /// ESM only.
    pub mask_token_id: Option<usize>,
    pub position_embedding_type: String,
    /// ESM only: zero `<mask>` embeddings and rescale (HF `EsmEmbeddings`).
    pub token_dropout: bool,
    /// ESM only: LayerNorm on the embeddings (ESM-1b; false for ESM-2).
    pub emb_layer_norm_before: bool,
    /// ESM only.
    pub rope_theta: f64,
    /// Class names of the sequence-classification head, by class index.
    pub id2label: BTreeMap<usize, String>,
    pub num_labels: Option<usize>,
    /// `multi_label_classification` means sigmoid per class instead of softmax.
    pub problem_type: Option<String>,
    /// protscope extension: class names of other named heads (e.g. AntiBERTy's `species`).
    pub head_labels: BTreeMap<String, Vec<String>>,
    /// The whole `config.json`, for fields only one architecture reads.
    pub raw: Value,
}

const SUPPORTED_TYPES: &str = "\"bert\" (ProtBert, AntiBERTy), \"esm\" (ESM-2), \"albert\" \
     (ProtAlbert), \"t5\" (ProtT5, Ankh encoders), \"esmc\" (ESM C), \"xlnet\" (ProtXLNet), \
     \"roberta\" (Sapiens), \"gpt2\" (IgLM)";

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
        Self::from_json(&json, path)
    }

    pub fn from_json(json: &Value, path: &Path) -> Result<Self> {
        let field = |name: &str| json.get(name).filter(|v| !v.is_null());
        let usize_field = |name: &str| -> Result<usize> {
            field(name)
                .ok_or_else(|| Error::file(path, format!("missing field `{name}`")))?
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| {
                    Error::file(
                        path,
                        format!("field `{name}` must be a non-negative integer"),
                    )
                })
        };
        let opt_usize = |name: &str| field(name).and_then(|v| v.as_u64()).map(|v| v as usize);
        let model_type = field("model_type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                Error::file(
                    path,
                    format!("missing field `model_type` (expected one of {SUPPORTED_TYPES})"),
                )
            })?;
        let family = match model_type {
            "bert" => Family::Bert,
            "esm" => Family::Esm,
            "albert" => Family::Albert,
            "t5" => Family::T5,
            "esmc" | "ESMplusplus" => Family::EsmC,
            "xlnet" => Family::Xlnet,
            "roberta" => Family::Roberta,
            "gpt2" => Family::Gpt2,
            other => {
                return Err(Error::file(
                    path,
                    format!(
                        "model_type `{other}` is not supported; protscope reads {SUPPORTED_TYPES}"
                    ),
                ))
            }
        };
        // T5 and ESM C name some shape fields differently; the first name present counts.
        let first_usize = |names: &[&str]| -> Result<usize> {
            let name = names
                .iter()
                .find(|n| field(n).is_some())
                .ok_or_else(|| Error::file(path, format!("missing field `{}`", names[0])))?;
            usize_field(name)
        };
        let architectures = field("architectures")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut id2label = BTreeMap::new();
        if let Some(map) = field("id2label").and_then(|v| v.as_object()) {
            for (k, v) in map {
                let idx: usize = k.parse().map_err(|_| {
                    Error::file(path, format!("id2label key `{k}` is not a class index"))
                })?;
                id2label.insert(idx, v.as_str().unwrap_or_default().to_string());
            }
        }
        let mut head_labels = BTreeMap::new();
        if let Some(map) = field("protscope_head_labels").and_then(|v| v.as_object()) {
            for (head, labels) in map {
                let labels = labels
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| s.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                head_labels.insert(head.clone(), labels);
            }
        }
        let hidden_size = first_usize(&["hidden_size", "d_model", "n_embd"])?;
        let num_attention_heads = first_usize(&["num_attention_heads", "num_heads", "n_head"])?;
        if num_attention_heads == 0 {
            return Err(Error::file(path, "num_attention_heads must be positive"));
        }
        let head_size = match opt_usize("d_kv").filter(|_| family == Family::T5) {
            Some(d) => d,
            None if hidden_size % num_attention_heads != 0 => {
                return Err(Error::file(
                    path,
                    format!("hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"),
                ))
            }
            None => hidden_size / num_attention_heads,
        };
        let intermediate_size = match family {
            // ESM C: 8/3 · d rounded up to a multiple of 256 (`swiglu_correction_fn`).
            Family::EsmC => {
                opt_usize("intermediate_size").unwrap_or((hidden_size * 8 / 3).div_ceil(256) * 256)
            }
            // GPT-2: `n_inner`, null meaning 4 · n_embd.
            Family::Gpt2 => opt_usize("n_inner").unwrap_or(4 * hidden_size),
            _ => first_usize(&["intermediate_size", "d_ff", "d_inner"])?,
        };
        let max_position_embeddings = match family {
            Family::T5 | Family::EsmC | Family::Xlnet => {
                opt_usize("max_position_embeddings").unwrap_or(UNBOUNDED_POSITIONS)
            }
            Family::Gpt2 => first_usize(&["n_positions", "max_position_embeddings"])?,
            _ => usize_field("max_position_embeddings")?,
        };
        let default_eps = match family {
            Family::T5 => 1e-6,
            Family::EsmC | Family::Gpt2 => 1e-5,
            _ => 1e-12,
        };
        let config = ModelConfig {
            path: path.to_path_buf(),
            family,
            architectures,
            vocab_size: usize_field("vocab_size")?,
            hidden_size,
            num_hidden_layers: first_usize(&["num_hidden_layers", "num_layers", "n_layer"])?,
            num_attention_heads,
            head_size,
            intermediate_size,
            hidden_act: field("hidden_act")
                .or_else(|| field("ff_activation"))
                .or_else(|| field("activation_function"))
                .and_then(|v| v.as_str())
                .unwrap_or(if family == Family::Gpt2 {
                    "gelu_new"
                } else {
                    "gelu"
                })
                .to_string(),
            layer_norm_eps: field("layer_norm_eps")
                .or_else(|| field("layer_norm_epsilon"))
                .and_then(|v| v.as_f64())
                .unwrap_or(default_eps),
            max_position_embeddings,
            type_vocab_size: opt_usize("type_vocab_size").unwrap_or(2),
            pad_token_id: opt_usize("pad_token_id"),
            mask_token_id: opt_usize("mask_token_id"),
            position_embedding_type: field("position_embedding_type")
                .and_then(|v| v.as_str())
                .unwrap_or("absolute")
                .to_string(),
            token_dropout: field("token_dropout")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            emb_layer_norm_before: field("emb_layer_norm_before")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            rope_theta: field("rope_theta")
                .and_then(|v| v.as_f64())
                .unwrap_or(10000.0),
            num_labels: opt_usize("num_labels").or(if id2label.is_empty() {
                None
            } else {
                Some(id2label.len())
            }),
            id2label,
            problem_type: field("problem_type")
                .and_then(|v| v.as_str())
                .map(String::from),
            head_labels,
            raw: json.clone(),
        };
        Ok(config)
    }

    pub fn architecture(&self) -> &str {
        self.architectures.first().map(|s| s.as_str()).unwrap_or("")
    }

    /// Names of a classification head's classes from `id2label` ("" where missing).
    pub fn class_labels(&self, classes: usize) -> Vec<String> {
        (0..classes)
            .map(|i| self.id2label.get(&i).cloned().unwrap_or_default())
            .collect()
    }

    /// An architecture-specific integer field, or `default` when absent.
    pub fn usize_or(&self, name: &str, default: usize) -> Result<usize> {
        match self.raw.get(name).filter(|v| !v.is_null()) {
            None => Ok(default),
            Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!("field `{name}` must be a non-negative integer"),
                )
            }),
        }
    }

    /// An architecture-specific string field, or `default` when absent.
    pub fn str_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.raw
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or(default)
    }

    pub fn is_multi_label(&self) -> bool {
        self.problem_type.as_deref() == Some("multi_label_classification")
    }
}
