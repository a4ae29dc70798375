//! The position-wise feed-forward block, plain or gated, with its forward-mode tangent and
//! closed-form backward pass. Apart from the layer because architecture files build it from
//! their own weights.

use candle_core::{Tensor, D};

use super::activation::Activation;
use super::GradientRule;
use crate::model::weights::Linear;
use crate::Result;

/// The position-wise feed-forward block: `output(act(input(x)))`, or gated
/// `output(act(a) ⊙ u)` with `[a, u] = input(x)` (T5 v1.1 / ProtT5 gated GELU, ESM C SwiGLU).
#[derive(Debug, Clone)]
pub(crate) struct FeedForward {
    /// hidden → intermediate, or → 2·intermediate (`[a, u]` side by side) when gated.
    input: Linear,
    output: Linear,
    activation: Activation,
    gated: bool,
}

impl FeedForward {
    pub(crate) fn new(input: Linear, output: Linear, activation: Activation, gated: bool) -> Self {
        FeedForward {
            input,
            output,
            activation,
            gated,
        }
    }

    /// `act(a) ⊙ u` (gated) or `act(pre)`, from the input projection `pre`.
    fn activate(&self, pre: &Tensor) -> Result<Tensor> {
        if !self.gated {
            return Ok(self.activation.apply(pre)?);
        }
        let (a, u) = Self::halves(pre)?;
        Ok((self.activation.apply(&a)? * u)?)
    }

    fn halves(pre: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = pre.dim(D::Minus1)? / 2;
        Ok((pre.narrow(D::Minus1, 0, n)?, pre.narrow(D::Minus1, n, n)?))
    }

    /// Output and the input projection (what the backward pass needs), no gradient path.
    pub(super) fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let pre = self.input.forward_detached(x)?;
        let out = self.output.forward_detached(&self.activate(&pre)?)?;
        Ok((out, pre))
    }

    /// Directional derivative of the output for an input direction `x_dot`.
    pub(super) fn tangent(&self, pre: &Tensor, x_dot: &Tensor) -> Result<Tensor> {
        let pre_dot = self.input.tangent(x_dot)?;
        // The activation acts elementwise: its tangent is its backward formula.
        let ff_dot = if self.gated {
            let ((a, u), (a_dot, u_dot)) = (Self::halves(pre)?, Self::halves(&pre_dot)?);
            ((self.activation.backward(&a, &a_dot)? * &u)? + (self.activation.apply(&a)? * u_dot)?)?
        } else {
            self.activation.backward(pre, &pre_dot)?
        };
        Ok(self.output.tangent(&ff_dot)?)
    }

    /// ∂F/∂x from ∂F/∂output (AttnLRP: identity rule on the activation, the gradient halved
    /// after the gate product).
    pub(super) fn backward(&self, pre: &Tensor, g: &Tensor, rule: GradientRule) -> Result<Tensor> {
        let d_ff = self.output.backward_input(g)?;
        let activation_backward = |x: &Tensor, g: &Tensor| -> Result<Tensor> {
            Ok(match rule {
                GradientRule::Exact => self.activation.backward(x, g)?,
                GradientRule::AttnLrp => self.activation.backward_identity(x, g)?,
            })
        };
        let d_pre = if self.gated {
            let (a, u) = Self::halves(pre)?;
            let d_ff = match rule {
                GradientRule::Exact => d_ff,
                GradientRule::AttnLrp => (d_ff * 0.5)?,
            };
            let d_a = activation_backward(&a, &(&d_ff * &u)?)?;
            let d_u = (d_ff * self.activation.apply(&a)?)?;
            Tensor::cat(&[&d_a, &d_u], D::Minus1)?
        } else {
            activation_backward(pre, &d_ff)?
        };
        Ok(self.input.backward_input(&d_pre)?)
    }
}
