//! Named prediction outputs shared by the architectures: what HF calls heads (a classifier,
//! a masked-LM head). protscope says "output" for these and keeps "head" for attention heads.

use candle_core::Tensor;

use super::config::ModelConfig;
use super::encoder::{Activation, GradientRule};
use super::weights::{LayerNorm, Linear, Weights};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{Error, Result};

/// Tensor names of a contact head file.
const CONTACT_HEAD_WEIGHT: &str = "regression.weight";
const CONTACT_HEAD_BIAS: &str = "regression.bias";

/// What an output predicts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLevel {
    /// One prediction per sequence: logits (B, classes).
    Sequence,
    /// One prediction per token: logits (B, T, vocab) — masked-language-model heads.
    Token,
}

#[derive(Debug, Clone)]
pub(crate) enum OutputModule {
    /// Linear layer on the BERT pooler output (tanh(dense(h[CLS]))).
    Pooled(Linear),
    /// HF `EsmClassificationHead`: out_proj(tanh(dense(h[0]))).
    EsmClassification { dense: Linear, out_proj: Linear },
    /// A linear layer on the mean of the last hidden state over the attended tokens (specials
    /// included, padding not): how ProtT5 / ESM C embeddings are usually classified.
    MeanPooled(Linear),
    /// XLNet's sequence summary: out(tanh(summary(h[last real token]))), the last token
    /// being `<cls>`.
    LastToken { summary: Linear, out: Linear },
    /// One linear layer on every token (XLNet's `lm_loss`).
    TokenLinear(Linear),
    /// Masked-LM head: decoder(LN(act(dense(h)))) + bias, decoder usually tied to the word
    /// embeddings.
    MaskedLm {
        dense: Linear,
        activation: Activation,
        norm: LayerNorm,
        decoder: Linear,
    },
}

/// The tokens a sequence-level output reads from the last hidden state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequencePooling {
    /// The first token (BERT's pooler on `[CLS]`, ESM's classification head on `<cls>`).
    FirstToken,
    /// The last real token (XLNet's sequence summary on `<cls>`).
    LastToken,
    /// The mean over the attended tokens (T5 / ESM C mean-pooled classifiers).
    Mean,
}

/// A named prediction output with its class labels.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub level: OutputLevel,
    pub num_classes: usize,
    /// Class names by index where the config gives them (empty otherwise).
    pub labels: Vec<String>,
    /// Sigmoid per class (multi-label) instead of softmax.
    pub multi_label: bool,
    pub(crate) module: OutputModule,
}

impl Output {
    /// The masked-LM output `mlm`: one prediction per token over the `vocab_size` tokens.
    pub(crate) fn masked_lm(vocab_size: usize, module: OutputModule) -> Output {
        Output {
            name: "mlm".into(),
            level: OutputLevel::Token,
            num_classes: vocab_size,
            labels: Vec::new(),
            multi_label: false,
            module,
        }
    }

    /// Class index from an index or a label name.
    pub fn class_index(&self, target: &str) -> Result<usize> {
        let target = target.trim();
        let idx = match target.parse::<usize>() {
            Ok(i) => i,
            Err(_) => self
                .labels
                .iter()
                .position(|l| l.eq_ignore_ascii_case(target))
                .ok_or_else(|| crate::Error::UnknownClass {
                    output: self.name.clone(),
                    class: target.to_string(),
                    available: self.describe_classes(),
                })?,
        };
        if idx >= self.num_classes {
            return Err(crate::Error::UnknownClass {
                output: self.name.clone(),
                class: idx.to_string(),
                available: format!("{} classes: {}", self.num_classes, self.describe_classes()),
            });
        }
        Ok(idx)
    }

    pub fn label(&self, class: usize) -> Option<&str> {
        self.labels
            .get(class)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    fn describe_classes(&self) -> String {
        if self.labels.is_empty() {
            format!("0..{}", self.num_classes.saturating_sub(1))
        } else {
            self.labels
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{i}={l}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Which tokens of the last hidden state a sequence-level output summarises (None for
    /// token-level outputs): what attention rollout reads its relevance row from.
    pub fn pooling(&self) -> Option<SequencePooling> {
        match self.module {
            OutputModule::Pooled(_) | OutputModule::EsmClassification { .. } => {
                Some(SequencePooling::FirstToken)
            }
            OutputModule::LastToken { .. } => Some(SequencePooling::LastToken),
            OutputModule::MeanPooled(_) => Some(SequencePooling::Mean),
            OutputModule::TokenLinear(_) | OutputModule::MaskedLm { .. } => None,
        }
    }

    /// Whether the head reads only the first token's last hidden state (then the last layer
    /// needs to compute that row only).
    pub fn reads_first_token_only(&self) -> bool {
        matches!(
            self.module,
            OutputModule::Pooled(_) | OutputModule::EsmClassification { .. }
        )
    }

    /// Logits from the last hidden state (B, T, H), the (B, T) attention mask and, for pooled
    /// heads, the pooler output.
    /// With AttnLRP, the head's tanh takes the identity rule (same value).
    pub(crate) fn forward_rule(
        &self,
        last_hidden: &Tensor,
        mask: &Tensor,
        pooled: Option<&Tensor>,
        rule: GradientRule,
    ) -> Result<Tensor> {
        Ok(match &self.module {
            OutputModule::Pooled(linear) => {
                let pooled = pooled.ok_or_else(|| {
                    crate::Error::invalid(format!("head `{}` needs the BERT pooler", self.name))
                })?;
                linear.forward(pooled)?
            }
            OutputModule::EsmClassification { dense, out_proj } => {
                let first = last_hidden.narrow(1, 0, 1)?.squeeze(1)?;
                out_proj.forward(&tanh_rule(&dense.forward(&first)?, rule)?)?
            }
            OutputModule::LastToken { summary, out } => {
                // One-hot of each row's last real token: mask[t] − mask[t + 1].
                let mask = mask.to_dtype(last_hidden.dtype())?;
                let t = mask.dim(1)?;
                let next = Tensor::cat(
                    &[
                        &mask.narrow(1, 1, t - 1)?,
                        &mask.narrow(1, 0, 1)?.zeros_like()?,
                    ],
                    1,
                )?;
                let last = (mask - next)?.unsqueeze(2)?;
                let pooled = last_hidden.broadcast_mul(&last)?.sum(1)?; // (B, H)
                out.forward(&tanh_rule(&summary.forward(&pooled)?, rule)?)?
            }
            OutputModule::MeanPooled(linear) => {
                let mask = mask.to_dtype(last_hidden.dtype())?;
                let count = mask.sum_keepdim(1)?; // (B, 1)
                let sum = last_hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?; // (B, H)
                linear.forward(&sum.broadcast_div(&count)?)?
            }
            OutputModule::TokenLinear(linear) => linear.forward(last_hidden)?,
            OutputModule::MaskedLm {
                dense,
                activation,
                norm,
                decoder,
            } => {
                let x = activation.apply(&dense.forward(last_hidden)?)?;
                decoder.forward(&norm.forward(&x)?)?
            }
        })
    }
}

/// tanh, or under AttnLRP tanh with the identity rule's gradient tanh(x) / (x + 1e-10) (lxt's
/// `identity_rule_implicit`); the value is tanh(x) either way.
pub(crate) fn tanh_rule(x: &Tensor, rule: GradientRule) -> Result<Tensor> {
    let y = x.tanh()?;
    if rule == GradientRule::Exact || !x.track_op() {
        return Ok(y);
    }
    let slope = (&y / (x + 1e-10)?)?.detach();
    let linear = (x * slope)?;
    // Value y, gradient slope: y + (x·slope − stop_gradient(x·slope)).
    Ok((y.detach() + (&linear - linear.detach())?)?)
}

/// `classifier.{weight,bias}` (classes, hidden) on the mean-pooled last hidden state, when the
/// folder has one (T5 encoders and ESM C fine-tuned for a sequence-level task).
pub(crate) fn mean_pooled_classifier(config: &ModelConfig, w: &Weights) -> Result<Option<Output>> {
    if !w.contains("classifier.weight") {
        return Ok(None);
    }
    let classes = config.num_labels.unwrap_or(2);
    Ok(Some(Output {
        name: "classifier".into(),
        level: OutputLevel::Sequence,
        num_classes: classes,
        labels: config.class_labels(classes),
        multi_label: config.is_multi_label(),
        module: OutputModule::MeanPooled(w.linear("classifier", config.hidden_size, classes)?),
    }))
}

/// A logistic regression from attention-derived residue-pair features to contact probability
/// (Rao et al. 2020; ESM's `ContactPredictionHead`): one weight per layer × head, layer-major
/// (channel `layer · heads + head`), and a bias. The features are computed in
/// [`crate::attention::contacts`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContactHead {
    weight: Vec<f32>,
    bias: f32,
    num_layers: usize,
    num_heads: usize,
}

impl ContactHead {
    pub fn new(weight: Vec<f32>, bias: f32, num_layers: usize, num_heads: usize) -> Result<Self> {
        if weight.len() != num_layers * num_heads {
            return Err(crate::Error::invalid(format!(
                "a contact head over {num_layers} layers × {num_heads} heads needs {} weights, \
                 not {}",
                num_layers * num_heads,
                weight.len()
            )));
        }
        Ok(ContactHead {
            weight,
            bias,
            num_layers,
            num_heads,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// The weights of one layer's heads.
    pub fn layer_weights(&self, layer: usize) -> &[f32] {
        &self.weight[layer * self.num_heads..(layer + 1) * self.num_heads]
    }

    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// Writes the head as a safetensors file (atomically): `regression.weight` (1, layers ·
    /// heads; ESM's `contact_head.regression` layout, layer-major) and `regression.bias` (1),
    /// with `metadata` and the head's `layers` and `heads` in its header.
    pub fn write(&self, path: &Path, metadata: &BTreeMap<String, String>) -> Result<()> {
        let mut info: HashMap<String, String> = metadata.clone().into_iter().collect();
        info.insert("layers".into(), self.num_layers.to_string());
        info.insert("heads".into(), self.num_heads.to_string());
        let weight: Vec<u8> = self.weight.iter().flat_map(|w| w.to_le_bytes()).collect();
        let bias = self.bias.to_le_bytes();
        let invalid = |e: safetensors::SafeTensorError| Error::file(path, e.to_string());
        let tensors = vec![
            (
                CONTACT_HEAD_WEIGHT,
                TensorView::new(Dtype::F32, vec![1, self.weight.len()], &weight)
                    .map_err(invalid)?,
            ),
            (
                CONTACT_HEAD_BIAS,
                TensorView::new(Dtype::F32, vec![1], &bias).map_err(invalid)?,
            ),
        ];
        let bytes = safetensors::serialize(tensors, Some(info))
            .map_err(|e| Error::file(path, e.to_string()))?;
        crate::frame::write_atomically(path, &bytes)
    }

    /// Reads a head written by [`Self::write`], with its header's metadata.
    pub fn read(path: &Path) -> Result<(ContactHead, BTreeMap<String, String>)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |what: String| {
            Error::file(
                path,
                format!("not a contact head file ({what}); write one with `contacts-fit`"),
            )
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let floats = |name: &str| -> Result<Vec<f32>> {
            let view = tensors
                .tensor(name)
                .map_err(|_| bad(format!("no tensor `{name}`")))?;
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("`{name}` is {:?}, not F32", view.dtype())));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let weight = floats(CONTACT_HEAD_WEIGHT)?;
        let bias = floats(CONTACT_HEAD_BIAS)?;
        let count = |key: &str| -> Result<usize> {
            metadata
                .get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("no `{key}` count in its header")))
        };
        let (layers, heads) = (count("layers")?, count("heads")?);
        let [bias] = bias[..] else {
            return Err(bad(format!("{} bias values, not 1", bias.len())));
        };
        let head = ContactHead::new(weight, bias, layers, heads).map_err(|e| bad(e.to_string()))?;
        Ok((head, metadata))
    }
}
