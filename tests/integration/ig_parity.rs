//! Integrated gradients equal Captum (embedding level) and the reference latent procedure
//! (per-head relevances), on the fixtures written by scripts/make_ig_fixtures.py (float64
//! references). Tolerances: embedding relevances 1e-4 relative to the largest magnitude, latent
//! relevances 1e-3 relative (finite-difference derivative, as the reference) and 1e-4 relative
//! (exact derivative, against PyTorch forward-mode derivatives; finite differences differ from
//! those by 1.4e-3 to 0.9 on these cases, so the bound tells the two apart), F(x), F(x') and
//! delta 1e-4 (absolute, scaled by max(1, |F|)).

use std::collections::HashMap;

use crate::common::*;
use candle_core::Device;
use protscope::attribution::{
    integrated_gradients, Baseline, IgOptions, LatentDerivative, Quadrature,
};
use protscope::model::ProteinModel;

#[test]
fn integrated_gradients_match_captum_and_reference_latent() {
    check_ig_against_references("ig", 20, 10);
}

/// The same references on the generic op path (the candle tensor-op formulas a GPU runs).
#[test]
fn generic_op_path_matches_captum_and_reference_latent() {
    protscope::model::ops::with_generic_ops(|| check_ig_against_references("ig", 20, 10));
}

/// ALBERT (shared layers, projected embeddings), ESM C (q/k LayerNorm, SwiGLU, residual
/// scaling), T5 (RMS norm, relative position bias, context width ≠ hidden size, no leading
/// special token) and XLNet (relative attention with position and segment terms, `<sep> <cls>`
/// at the end) against Captum and the hook procedure (`make_ig_fixtures.py --architectures`),
/// on both op paths.
#[test]
fn new_architectures_match_captum_and_reference_latent() {
    check_ig_against_references("ig_arch", 20, 12);
    protscope::model::ops::with_generic_ops(|| check_ig_against_references("ig_arch", 20, 12));
}

/// The GPT-2 causal decoder (`make_ig_fixtures.py --decoder`): the `lm` output's targets, the
/// sequence log-likelihood (0) and log p(residue k | the tokens before it) (k), against Captum
/// and the hook procedure, on both op paths.
#[test]
fn causal_decoder_targets_match_captum_and_reference_latent() {
    check_ig_against_references("ig_decoder", 6, 5);
    protscope::model::ops::with_generic_ops(|| check_ig_against_references("ig_decoder", 6, 5));
}

fn check_ig_against_references(folder: &str, min_cases: usize, min_exact_cases: usize) {
    let dir = fixtures().join(folder);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let reference = load_reference(&dir);
    let mut models: HashMap<String, ProteinModel> = HashMap::new();
    let (mut worst_emb, mut worst_lat, mut worst_delta) = (0f64, 0f64, 0f64);
    let (mut worst_exact, mut exact_cases) = (0f64, 0);
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= min_cases, "expected the full case list");
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let model_name = case["model"].as_str().unwrap().to_string();
        let model = models.entry(model_name.clone()).or_insert_with(|| {
            let mut model = load_fixture_model(&model_name);
            // Decoder cases read the residues after a prefix (IgLM's `[HEAVY] [HUMAN]`).
            if let Some(prefix) = case["prefix"].as_str() {
                model.set_prefix(prefix).unwrap();
            }
            model
        });
        let seq = model
            .encode_sequence(
                case["sequence_id"].as_str().unwrap(),
                case["sequence"].as_str().unwrap(),
                None,
            )
            .unwrap();
        let ids: Vec<u32> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(seq.ids, ids, "{name}: token ids");
        let baseline = Baseline::parse(case["baseline"].as_str().unwrap()).unwrap();
        if let Some(b) = case["baseline_ids"].as_array() {
            let b: Vec<u32> = b.iter().map(|v| v.as_u64().unwrap() as u32).collect();
            assert_eq!(
                protscope::attribution::baseline_ids(model, &seq, baseline)
                    .unwrap()
                    .unwrap(),
                b,
                "{name}: baseline ids"
            );
        }
        let method = Quadrature::parse(case["method"].as_str().unwrap()).unwrap();
        let steps = case["steps"].as_u64().unwrap() as usize;
        let latent = case["latent"].as_bool().unwrap();
        let (alphas, weights) = method.nodes(steps).unwrap();
        // Captum builds Riemann nodes with float32 linspace: equal up to float32 rounding.
        assert!(
            max_rel(&alphas, &to_f64(&reference[&format!("{name}.alphas")])) < 1e-6,
            "{name}: alphas"
        );
        assert!(
            max_rel(&weights, &to_f64(&reference[&format!("{name}.weights")])) < 1e-12,
            "{name}: weights"
        );
        let options = IgOptions {
            steps,
            method,
            baseline,
            batch_size: Some(5),
            latent,
            latent_derivative: LatentDerivative::FiniteDifference,
            recompute_layers: false,
        };
        let head = case["head"].as_str().unwrap();
        let target = case["target"].as_u64().unwrap() as usize;
        let ours = integrated_gradients(model, &seq, head, target, &options).unwrap();

        let emb = max_rel(
            &ours.embedding,
            &to_f64(&reference[&format!("{name}.relevance")]),
        );
        assert!(
            emb <= 1e-4,
            "{name}: embedding relevance off by {emb:.2e} (relative)"
        );
        worst_emb = worst_emb.max(emb);
        for (what, value) in [
            ("f_input", ours.f_input),
            ("f_baseline", ours.f_baseline),
            ("delta", ours.delta),
        ] {
            let r = to_f64(&reference[&format!("{name}.{what}")])[0];
            let err = (value - r).abs() / r.abs().max(1.0);
            assert!(err <= 1e-4, "{name}: {what} = {value} vs {r}");
            if what == "delta" {
                worst_delta = worst_delta.max(err);
            }
        }
        if latent {
            let lat = max_rel(&ours.latent, &to_f64(&reference[&format!("{name}.latent")]));
            assert!(
                lat <= 1e-3,
                "{name}: latent relevance off by {lat:.2e} (relative)"
            );
            worst_lat = worst_lat.max(lat);

            let exact_options = IgOptions {
                latent_derivative: LatentDerivative::Exact,
                ..options.clone()
            };
            let exact = integrated_gradients(model, &seq, head, target, &exact_options).unwrap();
            let err = max_rel(
                &exact.latent,
                &to_f64(&reference[&format!("{name}.latent_exact")]),
            );
            assert!(
                err <= 1e-4,
                "{name}: exact latent relevance off by {err:.2e} (relative)"
            );
            assert_eq!(exact.embedding, ours.embedding, "{name}: embedding level");
            worst_exact = worst_exact.max(err);
            exact_cases += 1;
        }
    }
    assert!(
        exact_cases >= min_exact_cases,
        "expected exact-derivative references"
    );
    eprintln!(
        "{} cases: worst embedding {worst_emb:.2e}, latent {worst_lat:.2e}, exact latent \
         {worst_exact:.2e} ({exact_cases} cases), delta {worst_delta:.2e} (relative)",
        cases.len()
    );
}

/// Steps per forward/backward pass change nothing but float rounding.
#[test]
fn results_do_not_depend_on_batch_size() {
    let model = ProteinModel::load(&model_fixture("esm_cls"), &Device::Cpu).unwrap();
    let seq = model
        .encode_sequence("e", "MKTAYIAKQRQISFVK", None)
        .unwrap();
    for latent_derivative in [LatentDerivative::FiniteDifference, LatentDerivative::Exact] {
        let run = |batch| {
            let options = IgOptions {
                steps: 12,
                method: Quadrature::GaussLegendre,
                baseline: Baseline::Pad,
                batch_size: Some(batch),
                latent: true,
                latent_derivative,
                recompute_layers: false,
            };
            integrated_gradients(&model, &seq, "classifier", 1, &options).unwrap()
        };
        let one = run(1);
        for batch in [5, 12] {
            let other = run(batch);
            assert!(
                max_rel(&other.embedding, &one.embedding) < 1e-5,
                "batch {batch}"
            );
            assert!(
                max_rel(&other.latent, &one.latent) < 1e-5,
                "batch {batch}, {latent_derivative:?}"
            );
            assert!((other.delta - one.delta).abs() < 1e-5);
        }
    }
}

#[test]
fn bad_attribution_requests_are_errors() {
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let seq = model.encode_sequence("h", "EVQLVESGG", None).unwrap();
    let opts = IgOptions {
        steps: 4,
        ..Default::default()
    };
    let err = integrated_gradients(&model, &seq, "species", 6, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside"), "{err}");
    let err = integrated_gradients(&model, &seq, "mlm", 0, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("per token"), "{err}");
    let err = integrated_gradients(&model, &seq, "nope", 0, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("species"), "{err}");
    let one_step = IgOptions {
        steps: 1,
        latent: true,
        ..Default::default()
    };
    assert!(integrated_gradients(&model, &seq, "species", 0, &one_step).is_err());
    // The exact derivative needs no neighbouring nodes.
    let one_step_exact = IgOptions {
        latent_derivative: LatentDerivative::Exact,
        ..one_step
    };
    let res = integrated_gradients(&model, &seq, "species", 0, &one_step_exact).unwrap();
    assert!(res.latent.iter().all(|v| v.is_finite()) && !res.latent.is_empty());
}
