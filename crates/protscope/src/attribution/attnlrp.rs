//! AttnLRP (Achtibat et al., ICML 2024): layer-wise relevance propagation for transformers in
//! ONE backward pass, as lxt's efficient implementation computes it: the encoder's layers
//! attach their AttnLRP backward pass ([`GradientRule::AttnLrp`]: identity rule on element-wise
//! non-linearities, normalisation scale held constant, the gradient halved after q·kᵀ, after
//! probabilities·v and after gate products), the heads' tanh takes the identity rule, and
//! relevance is input × modified gradient: at the embedding output e, R[t] = Σ_d e[t, d] ·
//! ∂̃F/∂e[t, d]; inside every head, from the same pass, R[l, h, t] = Σ_{d ∈ h} c_l[t, d] ·
//! ∂̃F/∂c_l[t, d] with c_l layer l's attention context (zero probes added to the contexts carry
//! the modified gradient out, as for latent IG). Relevance is conserved up to what the biases
//! absorb: the summary reports Σ R − F(x).

use candle_core::{DType, Device, Tensor, Var};

use super::integrated_gradients::check_output;
use super::methods::{embed_sequence, AttributionMethod, Explanation, MethodCheck};
use crate::model::{Capture, EncodedSequence, ForwardOptions, GradientRule, ProteinModel};
use crate::{Error, Result};

/// AttnLRP relevance of one protein's target logit: embedding level and, with `latent`, every
/// layer × head, from one forward and one backward pass.
pub fn attnlrp(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    latent: bool,
) -> Result<Explanation> {
    check_output(model, output, target)?;
    let (e, mask) = embed_sequence(model, seq)?;
    let (_, t, _) = e.dims3()?;
    let device = model.device();
    let e_var = Var::from_tensor(&e)?;
    let probes: Vec<Var> = if latent {
        (0..model.num_layers())
            .map(|_| Var::zeros((1, t, model.context_size()), model.dtype(), device))
            .collect::<candle_core::Result<_>>()?
    } else {
        Vec::new()
    };
    let probe_tensors: Vec<Tensor> = probes.iter().map(|v| v.as_tensor().clone()).collect();
    let out = model.encode(
        e_var.as_tensor(),
        &mask,
        ForwardOptions {
            capture: Capture {
                contexts: latent,
                ..Capture::none()
            },
            context_probes: latent.then_some(probe_tensors.as_slice()),
            // Latent relevance wants every row of the last layer's context.
            last_layer_rows: if latent {
                None
            } else {
                model.output_rows(output)?
            },
            gradient_rule: GradientRule::AttnLrp,
            ..Default::default()
        },
    )?;
    let logit = model
        .output_logits_rule(output, &out, GradientRule::AttnLrp)?
        .narrow(1, target, 1)?;
    let grads = logit.sum_all()?.backward()?;
    let f = logit
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?[0];
    let g = grads
        .get(e_var.as_tensor())
        .ok_or_else(|| Error::invalid("internal: no relevance reached the embedding output"))?;
    let to_host = |x: Tensor| -> Result<Vec<f64>> {
        Ok(x.flatten_all()?.to_device(&Device::Cpu)?.to_vec1()?)
    };
    let embedding =
        to_host((e.to_dtype(DType::F64)? * g.to_dtype(DType::F64)?)?.sum(candle_core::D::Minus1)?)?;
    let mut per_head = Vec::new();
    if latent {
        let heads = model.num_heads();
        let head_size = model.context_size() / heads;
        let mut layers = Vec::with_capacity(probes.len());
        for (probe, context) in probes.iter().zip(&out.contexts) {
            let g_probe = grads.get(probe.as_tensor()).ok_or_else(|| {
                Error::invalid("internal: no relevance reached an attention context")
            })?;
            // (1, T, heads·size) → (heads, T): Σ over each head's slice.
            let r = (context.to_dtype(DType::F64)? * g_probe.to_dtype(DType::F64)?)?
                .reshape((t, heads, head_size))?
                .sum(2)?
                .t()?;
            layers.push(r);
        }
        per_head = to_host(Tensor::stack(&layers, 0)?)?;
    }
    let mut x = Explanation::new(model, seq, output, target, AttributionMethod::AttnLrp);
    x.f_input = f;
    x.embedding = embedding;
    x.latent = per_head;
    x.check = MethodCheck::Conservation {
        relevance_sum: x.relevance_sum(),
        logit: f,
    };
    x.finite()
}
