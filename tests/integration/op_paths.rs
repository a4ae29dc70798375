//! The two op paths agree: the CPU kernels of `model::ops` and the generic path (the candle
//! tensor-op formulas that CUDA and other devices run, forced on CPU with
//! `ops::with_generic_ops`). Compared directly, on every fixture model: attention
//! probabilities, hidden states, contexts and logits within 1e-5 (max abs difference), and
//! integrated gradients (embedding, latent with both derivatives, delta) within 1e-5 relative to
//! the largest magnitude. The parity tests against HF and Captum also run on both paths.

use crate::common::*;
use candle_core::{Device, Tensor};
use protscope::attribution::{integrated_gradients, IgOptions, IgResult, LatentDerivative};
use protscope::model::ops::{generic_ops_forced, with_generic_ops};
use protscope::model::ProteinModel;

const TOL: f64 = 1e-5;
const MODELS: [&str; 6] = [
    "bert_cls",
    "bert_multilabel",
    "bert_mlm",
    "esm_cls",
    "esm_mlm",
    "antiberty_tiny",
];

/// Every captured forward tensor of the first reference sequence, then each head's logits.
fn forward_outputs(model: &ProteinModel, dir: &std::path::Path) -> Vec<(String, Tensor)> {
    let s = &reference_sequences(dir)[0];
    let enc = model.encode_sequence(&s.id, &s.sequence, None).unwrap();
    let (_, _, out) = capture_all(model, &enc, false);
    let mut all = Vec::new();
    for (what, tensors) in [
        ("attention", &out.attentions),
        ("hidden state", &out.hidden_states),
        ("context", &out.contexts),
    ] {
        for (layer, t) in tensors.iter().enumerate() {
            all.push((format!("{what} {layer}"), t.clone()));
        }
    }
    for head in model.outputs() {
        let logits = model.output_logits(&head.name, &out).unwrap();
        all.push((format!("{} logits", head.name), logits));
    }
    all
}

#[test]
fn forward_passes_agree_on_both_op_paths() {
    for name in MODELS {
        let dir = model_fixture(name);
        let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
        assert!(!generic_ops_forced());
        let kernels = forward_outputs(&model, &dir);
        let generic = with_generic_ops(|| {
            assert!(generic_ops_forced());
            forward_outputs(&model, &dir)
        });
        assert!(!generic_ops_forced(), "the setting is restored");
        assert_eq!(kernels.len(), generic.len());
        let mut worst = 0f32;
        for ((what, a), (_, b)) in kernels.iter().zip(&generic) {
            let d = max_abs_diff(a, b);
            assert!(
                d as f64 <= TOL,
                "{name}: {what} differs by {d} between op paths"
            );
            worst = worst.max(d);
        }
        eprintln!("{name}: forward, CPU kernels vs generic path: max abs {worst:.1e}");
    }
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

fn attribute(model: &ProteinModel, derivative: LatentDerivative) -> IgResult {
    // The first sequence-level head (IG targets a class of one).
    let head = model
        .outputs()
        .iter()
        .find(|h| model.output_rows(&h.name).unwrap().is_some())
        .expect("a sequence-level head")
        .name
        .clone();
    let seq = model
        .encode_sequence("p", "MKTAYIAKQRQISFVKSHFSRQ", None)
        .unwrap();
    let options = IgOptions {
        steps: 8,
        batch_size: Some(4),
        latent: true,
        latent_derivative: derivative,
        ..Default::default()
    };
    integrated_gradients(model, &seq, &head, 1, &options).unwrap()
}

#[test]
fn integrated_gradients_agree_on_both_op_paths() {
    for name in ["bert_cls", "bert_multilabel", "esm_cls", "antiberty_tiny"] {
        let model = ProteinModel::load(&model_fixture(name), &Device::Cpu).unwrap();
        let mut worst = 0f64;
        for derivative in [LatentDerivative::Exact, LatentDerivative::FiniteDifference] {
            let kernels = attribute(&model, derivative);
            let generic = with_generic_ops(|| attribute(&model, derivative));
            for (what, a, b) in [
                (
                    "embedding relevance",
                    &kernels.embedding,
                    &generic.embedding,
                ),
                ("latent relevance", &kernels.latent, &generic.latent),
                (
                    "F(x), F(x'), delta",
                    &vec![kernels.f_input, kernels.f_baseline, kernels.delta],
                    &vec![generic.f_input, generic.f_baseline, generic.delta],
                ),
            ] {
                let d = max_rel(a, b);
                assert!(
                    d <= TOL,
                    "{name} ({derivative:?}): {what} differs by {d:.2e} (relative) between op paths"
                );
                worst = worst.max(d);
            }
        }
        eprintln!("{name}: IG, CPU kernels vs generic path: max relative {worst:.1e}");
    }
}

/// Half precision against f32 on the fixtures: the numbers README quotes for the tiny models
/// (AntiBERTy's come from scripts/precision_check.py). The bounds are loose ceilings that catch
/// a broken half-precision path (a wrong dtype somewhere gives errors of order 1 or NaN), not
/// claims of accuracy.
#[test]
fn half_precision_error_is_bounded() {
    use candle_core::DType;
    for name in ["bert_cls", "esm_cls", "antiberty_tiny"] {
        let dir = model_fixture(name);
        let full = ProteinModel::load(&dir, &Device::Cpu).unwrap();
        let reference = forward_outputs(&full, &dir);
        let ig_reference = attribute(&full, LatentDerivative::Exact);
        for dtype in [DType::BF16, DType::F16] {
            let half = ProteinModel::load_as(&dir, &Device::Cpu, dtype).unwrap();
            assert_eq!(half.dtype(), dtype);
            let outputs = forward_outputs(&half, &dir);
            let mut worst_attention = 0f64;
            let mut worst_logits = 0f64;
            for ((what, a), (_, b)) in reference.iter().zip(&outputs) {
                let b = b.to_dtype(DType::F32).unwrap();
                let d = max_abs_diff(a, &b) as f64;
                assert!(d.is_finite(), "{name} {dtype:?}: {what} is not finite");
                if what.starts_with("attention") {
                    worst_attention = worst_attention.max(d);
                } else if what.ends_with("logits") {
                    let values: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
                    let scale = values.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
                    worst_logits = worst_logits.max(d / scale.max(1e-6));
                }
            }
            let ig = attribute(&half, LatentDerivative::Exact);
            let emb = max_rel(&ig.embedding, &ig_reference.embedding);
            let latent = max_rel(&ig.latent, &ig_reference.latent);
            eprintln!(
                "{name} {dtype:?} vs f32: attention max abs {worst_attention:.1e}, logits max rel \
                 {worst_logits:.1e}, embedding relevance max rel {emb:.1e}, latent max rel \
                 {latent:.1e}, delta {:.1e} (f32 {:.1e})",
                ig.delta, ig_reference.delta
            );
            assert!(
                worst_attention < 0.05,
                "{name} {dtype:?}: attention off by {worst_attention}"
            );
            assert!(
                worst_logits < 0.1,
                "{name} {dtype:?}: logits off by {worst_logits}"
            );
            assert!(
                emb < 0.25 && latent < 0.25,
                "{name} {dtype:?}: relevance off by {emb}/{latent}"
            );
        }
    }
}
