//! Integrated gradients at the embedding layer and inside every attention head, from one pass
//! over the α-nodes; results as typed values and Polars tables. Also the categorical Jacobian of
//! a masked language model (residue couplings from substitutions).

pub mod categorical_jacobian;
pub mod flip;
pub mod integrated_gradients;
pub mod memory;
pub mod methods;
pub mod quadrature;
pub mod runner;
pub mod tables;

pub use integrated_gradients::{
    auto_batch_size, baseline_ids, integrated_gradients, integrated_gradients_auto, refine_steps,
    AutoSteps, Baseline, IgOptions, IgResult, LatentDerivative,
};
pub use methods::{
    attention_rollout, gradient_x_input, saliency, smoothgrad, AttributionMethod, Explanation,
    MethodCheck, SmoothGradOptions,
};
pub use quadrature::Quadrature;
