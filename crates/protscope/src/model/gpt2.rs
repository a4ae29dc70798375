//! GPT-2: a causal decoder on the shared core. Token + learned position embeddings (positions
//! 0..T, no LayerNorm), pre-LN blocks (`ln_1` → attention, `ln_2` → MLP) with the query, key and
//! value projections fused in `c_attn` and every projection in `Conv1D` layout (weight stored
//! (in, out)), a final `ln_f`, and GPT2LMHeadModel's LM head `lm` tied to the token embeddings.
//! Each position attends to itself and the positions before it: the encoder core adds the
//! causal mask to the padding mask ([`Encoder::with_causal_mask`]). Covers IgLM (fetched by
//! [`crate::fetch::fetch_iglm`]) and other residue-level GPT-2 checkpoints.

use candle_core::{Module, Tensor};
use candle_nn::Embedding;

use super::bert::activation;
use super::config::ModelConfig;
use super::encoder::{
    Encoder, EncoderConfig, EncoderLayer, FeedForward, NormPlacement, SelfAttention,
};
use super::output::{Output, OutputLevel, OutputModule};
use super::weights::{Linear, Weights};
use super::{Backbone, EmbeddingModule};
use crate::{Error, Result};

/// Name of the causal LM output: log-probabilities of the next token at every position.
pub const CAUSAL_LM_OUTPUT: &str = "lm";

/// HF `GPT2Model`'s input embeddings in eval: `wte(ids) + wpe(0..T)`.
#[derive(Debug, Clone)]
pub struct Gpt2Embeddings {
    word: Embedding,
    position: Embedding,
}

impl Gpt2Embeddings {
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        let positions = Tensor::arange(0u32, t as u32, input_ids.device())?;
        Ok(self
            .word
            .forward(input_ids)?
            .broadcast_add(&self.position.forward(&positions)?)?)
    }
}

pub(crate) fn load(config: &ModelConfig, w: &Weights) -> Result<Backbone> {
    let unsupported = |field: &str| {
        config
            .raw
            .get(field)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    if unsupported("scale_attn_by_inverse_layer_idx") || unsupported("add_cross_attention") {
        return Err(Error::file(
            &config.path,
            "GPT-2 with scale_attn_by_inverse_layer_idx or cross-attention is not supported",
        ));
    }
    let p = if w.contains("transformer.wte.weight") {
        "transformer."
    } else {
        ""
    };
    let h = config.hidden_size;
    let inner = config.intermediate_size;
    let eps = config.layer_norm_eps;
    let act = activation(config)?;
    let embeddings = Gpt2Embeddings {
        word: w.embedding(&format!("{p}wte.weight"), config.vocab_size, h)?,
        position: w.embedding(&format!("{p}wpe.weight"), config.max_position_embeddings, h)?,
    };
    let mut encoder_config = EncoderConfig::standard(
        h,
        config.num_hidden_layers,
        config.num_attention_heads,
        inner,
        eps,
        act,
        NormPlacement::Pre,
        None,
    );
    // `scale_attn_weights: false` leaves the scores unscaled.
    if config
        .raw
        .get("scale_attn_weights")
        .and_then(|v| v.as_bool())
        == Some(false)
    {
        encoder_config.score_scale = 1.0;
    }
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let b = format!("{p}h.{i}");
            let attention = SelfAttention::new(
                w.conv1d(&format!("{b}.attn.c_attn"), h, 3 * h)?,
                w.conv1d(&format!("{b}.attn.c_proj"), h, h)?,
                None,
                &encoder_config,
            );
            let feed_forward = FeedForward::new(
                w.conv1d(&format!("{b}.mlp.c_fc"), h, inner)?,
                w.conv1d(&format!("{b}.mlp.c_proj"), inner, h)?,
                act,
                false,
            );
            Ok(EncoderLayer::new(
                attention,
                w.layer_norm(&format!("{b}.ln_1"), h, eps)?,
                feed_forward,
                w.layer_norm(&format!("{b}.ln_2"), h, eps)?,
                NormPlacement::Pre,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let final_norm = w.layer_norm(&format!("{p}ln_f"), h, eps)?;
    let encoder = Encoder::new(encoder_config, layers, Some(final_norm), None).with_causal_mask();

    let mut outputs = Vec::new();
    match config.architecture() {
        "GPT2LMHeadModel" => {
            // Tied to the token embeddings; HF may leave `lm_head.weight` out.
            let weight = w.get_first(
                &["lm_head.weight", &format!("{p}wte.weight")],
                &[config.vocab_size, h],
            )?;
            outputs.push(Output {
                name: CAUSAL_LM_OUTPUT.into(),
                level: OutputLevel::Token,
                num_classes: config.vocab_size,
                labels: Vec::new(),
                multi_label: false,
                module: OutputModule::TokenLinear(Linear::new(weight, None)),
            });
        }
        "GPT2Model" | "" => {}
        other => {
            return Err(Error::file(
                &config.path,
                format!(
                    "GPT-2 architecture `{other}` is not supported (GPT2Model, GPT2LMHeadModel)"
                ),
            ))
        }
    }
    Ok(Backbone {
        embeddings: EmbeddingModule::Gpt2(embeddings),
        encoder,
        pooler: None,
        outputs,
        contact_head: None,
    })
}
