//! Integrated gradients at the embedding layer and inside every attention head, from one pass
//! over the α-nodes; AttnLRP (one backward pass, embedding level and every head), gradient ×
//! input, saliency, SmoothGrad and attention rollout on the same core (`methods`); results as
//! typed values and Polars tables; residue flipping with AOPC, sanity checks and the methods side
//! by side (`comparison`). Also the categorical Jacobian of a masked language model (residue
//! couplings from substitutions).

pub mod attnlrp;
pub mod categorical_jacobian;
pub mod comparison;
pub mod flip;
pub mod integrated_gradients;
pub mod memory;
pub mod methods;
pub mod quadrature;
pub mod runner;
pub mod sanity;
pub mod tables;

pub use attnlrp::attnlrp;
pub use integrated_gradients::{
    auto_batch_size, baseline_ids, integrated_gradients, integrated_gradients_auto, refine_steps,
    AutoSteps, Baseline, IgOptions, IgResult, LatentDerivative, SEQUENCE_LOG_LIKELIHOOD,
};
pub use methods::{
    attention_rollout, explain, gradient_x_input, saliency, smoothgrad, AttributionMethod,
    ExplainOptions, Explanation, MethodCheck, SmoothGradOptions,
};
pub use quadrature::Quadrature;
