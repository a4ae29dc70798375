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
}

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
}

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
                    "missing field `model_type` (expected \"bert\" or \"esm\")",
                )
            })?;
        let family = match model_type {
            "bert" => Family::Bert,
            "esm" => Family::Esm,
            other => {
                return Err(Error::file(
                    path,
                    format!("model_type `{other}` is not supported; protscope reads \"bert\" (ProtBert, AntiBERTy) and \"esm\" (ESM-2)"),
                ))
            }
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
        let hidden_size = usize_field("hidden_size")?;
        let num_attention_heads = usize_field("num_attention_heads")?;
        if num_attention_heads == 0 || hidden_size % num_attention_heads != 0 {
            return Err(Error::file(
                path,
                format!("hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"),
            ));
        }
        let config = ModelConfig {
            path: path.to_path_buf(),
            family,
            architectures,
            vocab_size: usize_field("vocab_size")?,
            hidden_size,
            num_hidden_layers: usize_field("num_hidden_layers")?,
            num_attention_heads,
            intermediate_size: usize_field("intermediate_size")?,
            hidden_act: field("hidden_act")
                .and_then(|v| v.as_str())
                .unwrap_or("gelu")
                .to_string(),
            layer_norm_eps: field("layer_norm_eps")
                .and_then(|v| v.as_f64())
                .unwrap_or(1e-12),
            max_position_embeddings: usize_field("max_position_embeddings")?,
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

    pub fn is_multi_label(&self) -> bool {
        self.problem_type.as_deref() == Some("multi_label_classification")
    }
}
