//! A layer as one node of candle's gradient graph: what the node keeps (the forward values, or
//! what it takes to recompute them: checkpointing) and its backward pass, the layer's closed-form
//! one. Apart because it is the glue between the encoder and candle's autograd, not model code.

use candle_core::Tensor;

use super::layer::{pad_rows, EncoderLayer, SavedLayer};
use super::PositionInputs;
use crate::model::ops;

/// What a layer's backward node keeps: the forward values, or what it takes to recompute them
/// from the layer input.
pub(super) enum KeptForBackward {
    Saved(SavedLayer),
    Recompute { bias: Tensor, rows: usize },
}

/// The backward pass of one layer, attached to its input (and to its context probe).
pub(super) struct LayerBackward {
    pub(super) layer: EncoderLayer,
    pub(super) kept: KeptForBackward,
    pub(super) positions: PositionInputs,
    pub(super) rule: super::GradientRule,
}

impl ops::Backward for LayerBackward {
    fn name(&self) -> &'static str {
        "encoder-layer-with-backward"
    }

    fn backward(
        &self,
        x: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let to_candle = |e: crate::Error| candle_core::Error::Msg(e.to_string());
        let recomputed;
        let saved = match &self.kept {
            KeptForBackward::Saved(saved) => saved,
            KeptForBackward::Recompute { bias, rows } => {
                recomputed = self
                    .layer
                    .forward(x, bias, &self.positions, *rows, None)
                    .map_err(to_candle)?
                    .saved;
                &recomputed
            }
        };
        let (d_x, d_context) = self
            .layer
            .backward(saved, g, &self.positions, self.rule)
            .map_err(to_candle)?;
        // The probe is shaped like a full context.
        let d_context = pad_rows(&d_context, 1, d_x.dim(1)?).map_err(to_candle)?;
        Ok((d_x, Some(d_context)))
    }
}
