//! The shared instrumented transformer encoder. Every architecture is the same stack of
//! self-attention + feed-forward blocks with a few switches: post- or pre-normalisation
//! (LayerNorm or RMS), rotary positions (ESM-2, ESM C), a relative position bias (T5) or
//! relative attention (XLNet), q/k normalisation (ESM C), plain or gated feed-forward. All run
//! through this one core, so every capture point (attention probabilities, hidden states,
//! per-head context) means the same thing everywhere, and one closed-form backward pass and
//! one forward-mode tangent serve them all.
//!
//! The stack (this file) chains the layers, builds the per-pass position inputs and keeps what
//! [`Capture`] asks for; the parts live beside it: `activation`, `rotary`, `attention`,
//! `relative_attention` (XLNet), `position_bias` (T5), `feed_forward`, `layer` and `backward`
//! (a layer as a node of the gradient graph, with checkpointing).

use candle_core::Tensor;

use super::weights::{LayerNorm, Weights};
use crate::Result;

mod activation;
mod attention;
mod backward;
mod feed_forward;
mod layer;
mod position_bias;
mod relative_attention;
mod rotary;

pub use activation::Activation;
pub use attention::attention_bias;
pub(crate) use attention::SelfAttention;
use backward::{KeptForBackward, LayerBackward};
pub(crate) use feed_forward::FeedForward;
pub(crate) use layer::EncoderLayer;
use layer::LayerForward;
pub(crate) use position_bias::RelativePositionBias;
pub(crate) use relative_attention::RelativeAttention;
pub use relative_attention::SegmentIds;
use relative_attention::{relative_encodings, xlnet_segments_differ, XlnetInputs};
use rotary::Rotary;

/// Where each block applies its LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormPlacement {
    /// BERT: `LN(x + sublayer(x))`.
    Post,
    /// ESM-2: `x + sublayer(LN(x))`, plus a final LayerNorm after the last block.
    Pre,
}

/// Shape and wiring of the encoder stack.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Width of one head; `num_heads · head_size` is the context width, which equals
    /// `hidden_size` except in T5 (`d_kv`).
    pub head_size: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub norm: NormPlacement,
    /// Rotary position embeddings on queries and keys (ESM-2, ESM C), with this base.
    pub rotary_base: Option<f64>,
    /// Factor on the attention scores: 1/√head_size, except T5 (1).
    pub score_scale: f64,
}

impl EncoderConfig {
    /// The usual shape: `hidden_size / num_heads` per head, scores scaled by 1/√head_size.
    #[allow(clippy::too_many_arguments)]
    pub fn standard(
        hidden_size: usize,
        num_layers: usize,
        num_heads: usize,
        intermediate_size: usize,
        layer_norm_eps: f64,
        activation: Activation,
        norm: NormPlacement,
        rotary_base: Option<f64>,
    ) -> Self {
        let head_size = hidden_size / num_heads;
        EncoderConfig {
            hidden_size,
            num_layers,
            num_heads,
            head_size,
            intermediate_size,
            layer_norm_eps,
            activation,
            norm,
            rotary_base,
            score_scale: (head_size as f64).powf(-0.5),
        }
    }

    /// Width of the self-attention context (all heads side by side).
    pub fn context_size(&self) -> usize {
        self.num_heads * self.head_size
    }
}

/// What a forward pass keeps besides the last hidden state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capture {
    /// Attention probabilities per layer, after softmax (no dropout: eval only).
    pub attentions: bool,
    /// Embedding output and the output of every layer (HF `hidden_states` convention).
    pub hidden_states: bool,
    /// Every layer's self-attention context: per-head values concatenated, before the output
    /// projection.
    pub contexts: bool,
}

impl Capture {
    pub fn none() -> Self {
        Capture::default()
    }
    pub fn all() -> Self {
        Capture {
            attentions: true,
            hidden_states: true,
            contexts: true,
        }
    }
}

/// Which backward pass the encoder's layers attach: the exact gradient, or AttnLRP's modified
/// one (Achtibat et al. 2024, as lxt's efficient implementation applies it in the
/// Gradient × Input framework): the identity rule on element-wise non-linearities (∂ act(x)
/// taken as act(x) / (x + 1e-10)), the normalisation's scale held constant, and the uniform
/// rule on the bilinear products of attention: the gradient halved after q·kᵀ and after
/// probabilities·v (so q and k receive a quarter, v half) and after the gate product of gated
/// feed-forward blocks. Softmax and linear layers keep their gradient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GradientRule {
    #[default]
    Exact,
    AttnLrp,
}

/// Options of one encoder pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions<'a> {
    pub capture: Capture,
    /// One tensor per layer, shaped like the context (B, T, hidden), added to that layer's
    /// self-attention context. Pass zero-valued `Var`s here to read ∂F/∂context from their
    /// gradients: candle keeps gradients only for leaves.
    pub context_probes: Option<&'a [Tensor]>,
    /// Only the first `n` positions of the last layer's output are needed (heads that read the
    /// first token): the last layer then computes queries, the feed-forward block and its output
    /// for those rows only, so its output, attention and context have `n` rows. Keys and values
    /// still use every position, so these rows (and all gradients) are unchanged.
    pub last_layer_rows: Option<usize>,
    /// A direction ẋ (B, T, hidden) for the embeddings: the pass then also returns every
    /// layer's context tangent, the exact directional derivative of the context along ẋ
    /// (forward-mode differentiation, [`EncoderOutput::context_tangents`]).
    pub tangent: Option<&'a Tensor>,
    /// Keep only each layer's input for the backward pass and recompute the layer's forward
    /// values when its gradient is needed (checkpointing): memory for L × (B, T, hidden) inputs
    /// plus one layer's values instead of all layers' values, for one more forward pass of work.
    pub recompute_layers: bool,
    /// The backward pass the layers attach (and the final normalisation's).
    pub gradient_rule: GradientRule,
    /// Called with each layer's index and attention probabilities (B, heads, rows, T) as soon as
    /// the layer is computed: commands that only need statistics of the maps read them here and
    /// keep none (memory for one layer's maps instead of all layers').
    pub attention_sink: Option<AttentionSink<'a>>,
}

/// Receives each layer's attention probabilities during a pass (see
/// [`ForwardOptions::attention_sink`]); an error stops the pass.
#[derive(Clone, Copy)]
pub struct AttentionSink<'a>(pub &'a dyn Fn(usize, &Tensor) -> Result<()>);

impl std::fmt::Debug for AttentionSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttentionSink")
    }
}

/// Everything one encoder pass produced.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// Output of the last block (after the final LayerNorm for pre-LN models), (B, T, hidden).
    pub last_hidden_state: Tensor,
    /// The (B, T) attention mask of the pass (mean-pooling heads read it).
    pub mask: Tensor,
    /// When captured: `num_layers + 1` tensors (B, T, hidden): the embedding output, then the
    /// output of each layer; for pre-LN models the last one is after the final LayerNorm, as in HF.
    pub hidden_states: Vec<Tensor>,
    /// When captured: one (B, heads, T, T) tensor per layer; row = query (from), column = key (to).
    pub attentions: Vec<Tensor>,
    /// When captured: every layer's maps in one (layers, B, heads, T, T) tensor, written layer by
    /// layer; [`EncoderOutput::attentions`] are views into it (a layer run for fewer rows, see
    /// [`ForwardOptions::last_layer_rows`], is kept on its own and leaves this None). The maps
    /// then exist once: ProtBert's maps of a 1,000-residue protein are 1.9 GB.
    pub attention_stack: Option<Tensor>,
    /// When captured: one (B, T, hidden) tensor per layer (see [`Capture::contexts`]).
    pub contexts: Vec<Tensor>,
    /// When [`ForwardOptions::tangent`] is given: one tensor per layer shaped like its context,
    /// d context / dε at ε = 0 for embeddings + ε·tangent.
    pub context_tangents: Vec<Tensor>,
}

/// Per-pass position data every layer reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct PositionInputs {
    /// Rotary cos/sin tables (T, head_size).
    rotary: Option<(Tensor, Tensor)>,
    /// XLNet: sinusoidal encodings of the relative offsets T, T−1, …, −T+1: (2T, hidden).
    relative: Option<Tensor>,
    /// XLNet: 1 where query and key lie in different segments, else 0: (B, 1, T, T).
    segment_differs: Option<Tensor>,
}

/// The encoder stack shared by every architecture.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    layers: Vec<EncoderLayer>,
    /// Pre-LN models only: LayerNorm after the last block (ESM's `emb_layer_norm_after`).
    final_norm: Option<LayerNorm>,
    rotary: Option<Rotary>,
    /// T5: relative position bias added to every layer's scores.
    position_bias: Option<RelativePositionBias>,
    /// XLNet: relative position encodings (and segments) for every layer's relative attention.
    xlnet: Option<XlnetInputs>,
    /// Causal decoders (GPT-2): query i attends to keys 0..=i only.
    causal: bool,
}

impl Encoder {
    /// Loads `{layer_prefix}.{i}.…` blocks; `final_norm` names the final LayerNorm of pre-LN
    /// models.
    pub fn load(
        w: &Weights,
        config: EncoderConfig,
        layer_prefix: &str,
        final_norm: Option<&str>,
    ) -> Result<Self> {
        let layers = (0..config.num_layers)
            .map(|i| EncoderLayer::load(w, &format!("{layer_prefix}.{i}"), &config))
            .collect::<Result<Vec<_>>>()?;
        let final_norm = match final_norm {
            Some(name) => Some(w.layer_norm(name, config.hidden_size, config.layer_norm_eps)?),
            None => None,
        };
        Ok(Self::new(config, layers, final_norm, None))
    }

    /// A stack of layers built by an architecture file; `final_norm` follows the last layer
    /// (pre-LN models), `position_bias` is added to every layer's scores (T5).
    pub(crate) fn new(
        config: EncoderConfig,
        layers: Vec<EncoderLayer>,
        final_norm: Option<LayerNorm>,
        position_bias: Option<RelativePositionBias>,
    ) -> Self {
        let rotary = config
            .rotary_base
            .map(|base| Rotary::new(config.head_size, base));
        Encoder {
            config,
            layers,
            final_norm,
            rotary,
            position_bias,
            xlnet: None,
            causal: false,
        }
    }

    /// A causal decoder's stack: every pass masks the keys after each query, on top of the
    /// padding mask, so attention maps are lower-triangular (rows = queries).
    pub(crate) fn with_causal_mask(mut self) -> Self {
        self.causal = true;
        self
    }

    /// Whether query i sees only keys 0..=i (GPT-2).
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// XLNet: every pass computes the relative position encodings and segment matrix its
    /// layers' [`RelativeAttention`] reads.
    pub(crate) fn with_xlnet_positions(mut self, clamp_len: Option<usize>) -> Self {
        self.xlnet = Some(XlnetInputs {
            clamp_len,
            segment_ids: SegmentIds::default(),
        });
        self
    }

    /// XLNet: the segment ids its passes use; None for other architectures.
    pub fn segment_ids(&self) -> Option<SegmentIds> {
        self.xlnet.as_ref().map(|x| x.segment_ids)
    }

    /// Sets XLNet's segment ids; an error for other architectures, which have none.
    pub(crate) fn set_segment_ids(&mut self, segment_ids: SegmentIds) -> Result<()> {
        match &mut self.xlnet {
            Some(x) => {
                x.segment_ids = segment_ids;
                Ok(())
            }
            None => Err(crate::Error::invalid(
                "segment ids are an XLNet setting; this model is not an XLNet",
            )),
        }
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Runs the stack on an embedding-module output `embeddings` (B, T, hidden) with the
    /// (B, T) 0/1 attention `mask`.
    pub fn forward(
        &self,
        embeddings: &Tensor,
        mask: &Tensor,
        options: ForwardOptions<'_>,
    ) -> Result<EncoderOutput> {
        let (_, t, _) = embeddings.dims3()?;
        let capture = options.capture;
        if let Some(probes) = options.context_probes {
            if probes.len() != self.layers.len() {
                return Err(crate::Error::invalid(format!(
                    "{} context probes given for {} layers",
                    probes.len(),
                    self.layers.len()
                )));
            }
        }
        let mut bias = attention_bias(mask, embeddings.dtype())?;
        if self.causal {
            bias = attention::causal_bias(&bias, t)?;
        }
        if let Some(position_bias) = &self.position_bias {
            let table = position_bias.table(t, embeddings.device())?;
            bias = bias.broadcast_add(&table.to_dtype(bias.dtype())?)?;
        }
        let mut positions = PositionInputs::default();
        if let Some(r) = &self.rotary {
            let (cos, sin) = r.tables(t, embeddings.device())?;
            let dtype = embeddings.dtype();
            positions.rotary = Some((cos.to_dtype(dtype)?, sin.to_dtype(dtype)?));
        }
        if let Some(xlnet) = &self.xlnet {
            let dtype = embeddings.dtype();
            let encodings = relative_encodings(
                t,
                self.config.hidden_size,
                xlnet.clamp_len,
                embeddings.device(),
            )?;
            positions.relative = Some(encodings.to_dtype(dtype)?);
            if xlnet.segment_ids == SegmentIds::Tokenizer {
                positions.segment_differs = Some(xlnet_segments_differ(mask)?.to_dtype(dtype)?);
            }
        }
        let mut out = EncoderOutput {
            last_hidden_state: embeddings.clone(),
            mask: mask.clone(),
            hidden_states: Vec::new(),
            attentions: Vec::new(),
            attention_stack: None,
            contexts: Vec::new(),
            context_tangents: Vec::new(),
        };
        if capture.hidden_states {
            out.hidden_states.push(embeddings.clone());
        }
        let mut x = embeddings.clone();
        let mut x_dot = options.tangent.cloned();
        let num_layers = self.layers.len();
        if capture.attentions {
            // Every layer's maps go into one buffer, each layer's softmax writing its part: a
            // single sequence's maps are the whole buffer, handed out without a copy, and each
            // protein of a batch gets a view into it. Allocated untouched (zero pages).
            let (b, heads) = (embeddings.dim(0)?, self.config.num_heads);
            out.attention_stack = Some(Tensor::zeros(
                (num_layers, b, heads, t, t),
                embeddings.dtype(),
                embeddings.device(),
            )?);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let probe = options.context_probes.map(|p| &p[i]);
            let rows = match options.last_layer_rows {
                Some(n) if i + 1 == num_layers => n.clamp(1, t),
                _ => t,
            };
            // A layer run for fewer query rows keeps its maps on its own (see `keep`).
            let probs_into = match &out.attention_stack {
                Some(stack) if rows == t => Some(stack.get(i)?),
                _ => None,
            };
            let LayerForward {
                output,
                context,
                saved,
            } = layer.forward(&x, &bias, &positions, rows, probs_into.as_ref())?;
            if let Some(direction) = x_dot.take() {
                let is_last = i + 1 == self.layers.len();
                let (context_dot, out_dot) =
                    layer.tangent(&saved, &direction, &positions, !is_last)?;
                out.context_tangents.push(context_dot);
                x_dot = out_dot;
            }
            let probs = saved.attention.probs.clone();
            if let Some(sink) = options.attention_sink {
                (sink.0)(i, &probs)?;
            }
            // The whole layer is one node of the gradient graph: its backward pass is the
            // closed-form one of `EncoderLayer::backward`, and ∂F/∂context goes to the probe.
            let tracked = x.track_op() || probe.is_some_and(|p| p.track_op());
            x = if tracked {
                let kept = if options.recompute_layers {
                    KeptForBackward::Recompute {
                        bias: bias.clone(),
                        rows,
                    }
                } else {
                    KeptForBackward::Saved(saved)
                };
                let backward = LayerBackward {
                    layer: layer.clone(),
                    kept,
                    positions: positions.clone(),
                    rule: options.gradient_rule,
                };
                match probe {
                    Some(p) => super::ops::attach_with_probe(&x, &output, p, backward)?,
                    None => super::ops::attach(&x, &output, backward)?,
                }
            } else {
                output
            };
            keep(&mut out, capture, probs, probs_into, context);
            let is_last = i + 1 == self.layers.len();
            if capture.hidden_states && !(is_last && self.final_norm.is_some()) {
                out.hidden_states.push(x.clone());
            }
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward_rule(&x, options.gradient_rule)?;
            if capture.hidden_states {
                out.hidden_states.push(x.clone());
            }
        }
        out.last_hidden_state = x;
        Ok(out)
    }
}

/// Adds one layer's captured values to `out`. Maps written into the attention stack are a view
/// into it already; a layer run for fewer query rows (only ever the last) keeps its own maps, and
/// the stack is then no longer the whole of the maps.
fn keep(
    out: &mut EncoderOutput,
    capture: Capture,
    probs: Tensor,
    probs_in_stack: Option<Tensor>,
    context: Tensor,
) {
    if capture.attentions {
        match probs_in_stack {
            Some(view) => out.attentions.push(view),
            None => {
                out.attention_stack = None;
                out.attentions.push(probs);
            }
        }
    }
    if capture.contexts {
        out.contexts.push(context);
    }
}
