//! Feed-forward activations and their derivatives. Apart from the feed-forward block because
//! the output heads use them too, and because each carries its closed-form backward pass
//! (which also serves as its forward-mode tangent, the activations acting elementwise).

use candle_core::Tensor;

use crate::model::ops;

/// Feed-forward activation. BERT and ESM-2 use the exact (erf) GELU, ALBERT and ProtT5 the tanh
/// approximation, ESM C SiLU (in a gated unit), the original T5 ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" | "gelu_python" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }

    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => ops::gelu_erf(x),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }

    /// AttnLRP's identity rule in the Gradient × Input framework: g ⊙ act(x) / (x + 1e-10), as
    /// lxt's `identity_rule_implicit` (relevance passes the activation unchanged).
    pub fn backward_identity(&self, x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
        g * (self.apply(x)? / (x + 1e-10)?)?
    }

    /// ∂F/∂x from ∂F/∂activation(x).
    pub fn backward(&self, x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => ops::gelu_erf_backward(x, g),
            Activation::GeluTanh => {
                // tanh approximation: 0.5 x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³).
                let c = (2.0 / std::f64::consts::PI).sqrt();
                let u = ((x + (x.powf(3.0)? * 0.044715)?)? * c)?;
                let th = u.tanh()?;
                let du = ((x.sqr()? * (3.0 * 0.044715))? + 1.0)? * c;
                let sech2 = (1.0 - th.sqr()?)?;
                let d = (((th + 1.0)? * 0.5)? + ((x * 0.5)? * (sech2 * du?)?)?)?;
                g * d
            }
            Activation::Relu => g * x.gt(0.0)?.to_dtype(x.dtype())?,
            Activation::Silu => ops::silu_backward(x, g),
        }
    }
}
