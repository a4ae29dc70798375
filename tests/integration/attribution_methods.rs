//! Saliency, gradient × input and SmoothGrad equal Captum, attention rollout equals NumPy, on
//! the fixtures of scripts/make_attribution_fixtures.py (float64 references; SmoothGrad with
//! protscope's seeded noise fed to Captum's NoiseTunnel). Tolerance: 1e-4 of the largest
//! reference magnitude per case. Every method also runs on every tiny architecture.

use crate::common::*;
use protscope::attribution::methods::smoothgrad_noise;
use protscope::attribution::{
    attention_rollout, gradient_x_input, saliency, smoothgrad, AttributionMethod, Explanation,
    SmoothGradOptions,
};
use protscope::model::{EncodedSequence, ProteinModel};

#[test]
fn gradient_methods_match_captum_and_rollout_matches_numpy() {
    let dir = fixtures().join("attribution_methods");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let reference = load_reference(&dir);
    let options = SmoothGradOptions {
        samples: json["samples"].as_u64().unwrap() as usize,
        noise_level: json["noise_level"].as_f64().unwrap(),
        seed: json["seed"].as_u64().unwrap(),
        batch_size: 3,
    };
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 6, "expected BERT, ESM-2 and AntiBERTy cases");
    let mut worst = std::collections::BTreeMap::new();
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let model = load_fixture_model(case["model"].as_str().unwrap());
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
        let head = case["head"].as_str().unwrap();
        let target = case["target"].as_u64().unwrap() as usize;
        let r = |q: &str| to_f64(&reference[&format!("{name}.{q}")]);
        // The noise stream is the one the fixture gave Captum.
        let stored = r("noise");
        let ours = smoothgrad_noise(options.seed, &seq.id, stored.len());
        assert!(max_rel(&ours, &stored) < 1e-14, "{name}: noise stream");

        let sg = smoothgrad(&model, &seq, head, target, &options).unwrap();
        let results: [(&str, Explanation); 4] = [
            ("saliency", saliency(&model, &seq, head, target).unwrap()),
            (
                "grad_input",
                gradient_x_input(&model, &seq, head, target).unwrap(),
            ),
            ("smoothgrad", sg.clone()),
            (
                "rollout",
                attention_rollout(&model, &seq, head, target).unwrap(),
            ),
        ];
        for (q, x) in &results {
            let err = max_rel(&x.embedding, &r(q));
            assert!(err <= 1e-4, "{name}: {q} off by {err:.2e} (relative)");
            let f = r("f_input")[0];
            assert!(
                (x.f_input - f).abs() <= 1e-4 * f.abs().max(1.0),
                "{name}: F"
            );
            let w = worst.entry(*q).or_insert(0f64);
            *w = w.max(err);
        }
        match sg.check {
            protscope::attribution::MethodCheck::Noise { sigma, samples, .. } => {
                let s = r("sigma")[0];
                assert!(
                    (sigma - s).abs() <= 1e-5 * s,
                    "{name}: sigma {sigma} vs {s}"
                );
                assert_eq!(samples, options.samples);
            }
            other => panic!("{name}: SmoothGrad check {other:?}"),
        }
    }
    eprintln!("worst relative differences: {worst:?}");
}

/// Every method runs on every tiny architecture on the core, gives one finite relevance per
/// token, and rollout's relevance is a distribution (its rows stay stochastic).
#[test]
fn every_method_runs_on_every_architecture() {
    let cases = [
        ("bert_cls", "classifier"),
        ("esm_cls", "classifier"),
        ("antiberty_tiny", "species"),
        ("albert_cls", "classifier"),
        ("xlnet_cls", "classifier"),
        ("t5_gated", "classifier"),
        ("esmc_tiny", "classifier"),
    ];
    for (name, head) in cases {
        let model = load_fixture_model(name);
        let seq = model.encode_sequence("p", "MKTAYIAKQRQISF", None).unwrap();
        let t = seq.ids.len();
        let options = SmoothGradOptions {
            samples: 3,
            ..Default::default()
        };
        let all = [
            saliency(&model, &seq, head, 0).unwrap(),
            gradient_x_input(&model, &seq, head, 0).unwrap(),
            smoothgrad(&model, &seq, head, 0, &options).unwrap(),
            attention_rollout(&model, &seq, head, 0).unwrap(),
        ];
        for x in &all {
            assert_eq!(x.embedding.len(), t, "{name} {}", x.method.name());
            assert_eq!(x.residue_embedding().len(), 14, "{name}");
            assert!(
                x.embedding.iter().any(|v| *v != 0.0),
                "{name} {}",
                x.method.name()
            );
        }
        let rollout = &all[3];
        assert_eq!(rollout.method, AttributionMethod::Rollout);
        assert!((rollout.relevance_sum() - 1.0).abs() < 1e-5, "{name}");
        assert!(rollout.embedding.iter().all(|v| *v >= 0.0), "{name}");
    }
}

/// AttnLRP equals lxt 2.1 (scripts/make_lrp_fixtures.py: lxt's BERT patch; lxt's rule functions
/// on transformers' ESM-2), embedding level and every head from the same pass, 1e-4 of the
/// largest reference magnitude; and the conservation check reports Σ R − F.
#[test]
fn attnlrp_matches_lxt() {
    let dir = fixtures().join("attnlrp");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let reference = load_reference(&dir);
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 6, "expected BERT, ESM-2 and AntiBERTy cases");
    let (mut worst_emb, mut worst_lat) = (0f64, 0f64);
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let model = load_fixture_model(case["model"].as_str().unwrap());
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
        let head = case["head"].as_str().unwrap();
        let target = case["target"].as_u64().unwrap() as usize;
        let r = |q: &str| to_f64(&reference[&format!("{name}.{q}")]);
        let x = protscope::attribution::attnlrp(&model, &seq, head, target, true).unwrap();
        let emb = max_rel(&x.embedding, &r("relevance"));
        let lat = max_rel(&x.latent, &r("latent"));
        assert!(emb <= 1e-4, "{name}: embedding relevance off by {emb:.2e}");
        assert!(lat <= 1e-4, "{name}: per-head relevance off by {lat:.2e}");
        let f = r("f_input")[0];
        assert!(
            (x.f_input - f).abs() <= 1e-5 * f.abs().max(1.0),
            "{name}: F"
        );
        match x.check {
            protscope::attribution::MethodCheck::Conservation {
                relevance_sum,
                logit,
            } => {
                assert_eq!(logit, x.f_input);
                assert!((relevance_sum - x.embedding.iter().sum::<f64>()).abs() < 1e-12);
            }
            other => panic!("{name}: check {other:?}"),
        }
        // Without the per-head probes: the same embedding level (last layer cut to one row).
        let plain = protscope::attribution::attnlrp(&model, &seq, head, target, false).unwrap();
        assert!(plain.latent.is_empty());
        assert!(max_rel(&plain.embedding, &x.embedding) < 1e-5, "{name}");
        worst_emb = worst_emb.max(emb);
        worst_lat = worst_lat.max(lat);
    }
    eprintln!("AttnLRP vs lxt: worst embedding {worst_emb:.2e}, per head {worst_lat:.2e}");
}

/// AttnLRP runs on every architecture on the core and differs from gradient × input (its rules
/// change the backward pass); the exact-gradient path is untouched by it.
#[test]
fn attnlrp_runs_on_every_architecture() {
    for (name, head) in [
        ("albert_cls", "classifier"),
        ("xlnet_cls", "classifier"),
        ("t5_gated", "classifier"),
        ("esmc_tiny", "classifier"),
        ("esm_cls", "classifier"),
    ] {
        let model = load_fixture_model(name);
        let seq = model.encode_sequence("p", "MKTAYIAKQRQISF", None).unwrap();
        let x = protscope::attribution::attnlrp(&model, &seq, head, 0, true).unwrap();
        let t = seq.ids.len();
        assert_eq!(x.embedding.len(), t, "{name}");
        assert_eq!(
            x.latent.len(),
            model.num_layers() * model.num_heads() * t,
            "{name}"
        );
        let gxi = gradient_x_input(&model, &seq, head, 0).unwrap();
        assert!(
            max_rel(&x.embedding, &gxi.embedding) > 1e-3,
            "{name}: rules had no effect"
        );
        assert!((x.f_input - gxi.f_input).abs() < 1e-5, "{name}: same logit");
    }
}

/// The tiny BERT classifier and two sequences p0, p1 of different lengths.
fn bert_cls_with_two_sequences() -> (ProteinModel, Vec<EncodedSequence>) {
    let model = load_fixture_model("bert_cls");
    let seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVAGKTLLV"]
        .iter()
        .enumerate()
        .map(|(i, s)| model.encode_sequence(&format!("p{i}"), s, None).unwrap())
        .collect();
    (model, seqs)
}

/// Cascading randomisation: step 0 is the original (ρ = 1), then the head, then every layer
/// from the top; shuffled weights change the maps of gradient methods.
#[test]
fn cascading_randomisation_decorrelates_gradient_maps() {
    use protscope::attribution::sanity::{cascading_randomisation, randomisation_frame};
    let (model, seqs) = bert_cls_with_two_sequences();
    let tmp = tempfile::tempdir().unwrap();
    let methods = [
        AttributionMethod::GradientXInput,
        AttributionMethod::Rollout,
    ];
    let rows = cascading_randomisation(
        &model,
        &seqs,
        "classifier",
        &[1, 1],
        &methods,
        &Default::default(),
        tmp.path(),
        3,
    )
    .unwrap();
    let steps = 2 + model.num_layers();
    assert_eq!(rows.len(), steps * methods.len() * seqs.len());
    for r in rows.iter().filter(|r| r.step == 0) {
        assert!((r.spearman - 1.0).abs() < 1e-12);
    }
    let last: Vec<f64> = rows
        .iter()
        .filter(|r| r.step == steps - 1 && r.method == "grad-input")
        .map(|r| r.spearman)
        .collect();
    assert!(last.iter().all(|r| *r < 0.999), "{last:?}");
    // Rollout reads no head weights: randomising only the head leaves it unchanged.
    for r in rows.iter().filter(|r| r.step == 1 && r.method == "rollout") {
        assert!((r.spearman - 1.0).abs() < 1e-9, "{r:?}");
    }
    let df = randomisation_frame(&rows).unwrap();
    assert!(protscope::frame::schema::RANDOMISATION.matches(&df));
    let curves = protscope::plot::RandomisationCurves::from_frame(&df).unwrap();
    assert_eq!(curves.steps.len(), steps);
    assert_eq!(curves.steps[1], "head");
    assert_eq!(curves.steps[2], model.num_layers().to_string());
}

/// `attribute --attribution attnlrp --latent` and `--attribution smoothgrad` write the relevance
/// table and a summary with each method's check; tables conform to their schemas.
#[test]
fn attribute_cli_runs_other_methods() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("p.fasta");
    std::fs::write(&fasta, ">p1\nMKTAYIAKQRQISF\n>p2\nGSHMLEDPV\n").unwrap();
    let model = model_fixture("bert_cls");
    for (method, extra) in [
        ("attnlrp", vec!["--latent"]),
        ("smoothgrad", vec!["--samples", "3"]),
        ("rollout", vec![]),
    ] {
        let out = tmp.path().join(format!("{method}.csv"));
        let mut args = vec![
            "attribute",
            "--model",
            model.to_str().unwrap(),
            "--fasta",
            fasta.to_str().unwrap(),
            "--output",
            "classifier",
            "--target",
            "1",
            "--attribution",
            method,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (ok, err) = protscope(&args);
        assert!(ok, "{method}: {err}");
        let table = protscope::frame::read_table(&out).unwrap();
        let summary =
            protscope::frame::read_table(&tmp.path().join(format!("{method}.summary.csv")))
                .unwrap();
        assert_eq!(summary.height(), 2);
        assert!(protscope::frame::schema::EXPLANATION_SUMMARY.matches(&summary));
        let latent_rows = if method == "attnlrp" { 1 + 2 * 4 } else { 1 };
        assert_eq!(table.height(), (16 + 11) * latent_rows, "{method}");
    }
    assert_eq!(assert_tables_conform(tmp.path()), 6);
    // Per-head relevance is IG's and AttnLRP's only.
    let (ok, err) = protscope(&[
        "attribute",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--output",
        "classifier",
        "--target",
        "1",
        "--attribution",
        "saliency",
        "--latent",
        "--out",
        tmp.path().join("s.csv").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--latent"), "{err}");
}

/// `sanity --shuffled-model` writes a loadable model with every layer shuffled, and `jaccard`
/// reports the overlap of two relevance-stats tables' significant heads.
#[test]
fn sanity_cli_and_jaccard() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("p.fasta");
    std::fs::write(&fasta, ">p1\nMKTAYIAKQRQISF\n>p2\nGSHMLEDPVAG\n").unwrap();
    let model = model_fixture("bert_cls");
    let shuffled = tmp.path().join("shuffled");
    let out = tmp.path().join("sanity.csv");
    let figure = tmp.path().join("sanity.png");
    let (ok, err) = protscope(&[
        "sanity",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--output",
        "classifier",
        "--target",
        "1",
        "--methods",
        "attnlrp,saliency",
        "--shuffled-model",
        shuffled.to_str().unwrap(),
        "--figure",
        figure.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let table = protscope::frame::read_table(&out).unwrap();
    assert_eq!(table.height(), 2 * 2 * (2 + 2));
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);
    let original = load_fixture_model("bert_cls");
    let control =
        protscope::model::ProteinModel::load(&shuffled, &candle_core::Device::Cpu).unwrap();
    let seq = original
        .encode_sequence("p", "MKTAYIAKQRQISF", None)
        .unwrap();
    let a = saliency(&original, &seq, "classifier", 1).unwrap();
    let b = saliency(&control, &seq, "classifier", 1).unwrap();
    assert!(max_rel(&a.embedding, &b.embedding) > 1e-3);

    let stats = |p: [f64; 3], name: &str| {
        let mut df = polars::prelude::df!(
            "layer" => [-1i64, 0, 1], "head" => [-1i64, 0, 1], "t_p_fdr" => p,
        )
        .unwrap();
        let path = tmp.path().join(name);
        protscope::frame::write_table(&mut df, &path).unwrap();
        path
    };
    let a = stats([0.001, 0.01, 0.01], "a.csv");
    let b = stats([0.001, 0.01, 0.9], "b.csv");
    let figure = tmp.path().join("overlap.svg");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args([
            "jaccard",
            "--stats",
            a.to_str().unwrap(),
            "--control",
            b.to_str().unwrap(),
            "--figure",
            figure.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("jaccard=0.5000"), "{stdout}");
    // Heads (0, 0) in both, (1, 1) in the trained model only, on a 2 × 2 grid.
    let svg = std::fs::read_to_string(&figure).unwrap();
    for text in [
        "trained only (1)",
        "both (1)",
        "neither (2)",
        "Jaccard overlap 0.50",
    ] {
        assert!(svg.contains(text), "figure lacks `{text}`");
    }
}

/// Gradient methods on a causal decoder's `lm` output: the sequence log-likelihood is the one
/// `score` reports, the prefix tokens stay out of the table, and log p(residue k | the tokens
/// before it) has exactly zero gradient at residue k and after it (the causal mask).
#[test]
fn gradient_methods_explain_causal_decoders() {
    use protscope::attribution::tables::explanation_frame;
    use protscope::attribution::SEQUENCE_LOG_LIKELIHOOD;
    use protscope::model::scoring::{score_sequences, ScoreOptions};
    let mut model = load_fixture_model("gpt2_lm");
    model.set_prefix("[HEAVY] [HUMAN]").unwrap();
    let seq = model.encode_sequence("p", "EVQLVESGGG", None).unwrap();
    let score =
        &score_sequences(&model, std::slice::from_ref(&seq), &ScoreOptions::default()).unwrap()[0];
    let x = gradient_x_input(&model, &seq, "lm", SEQUENCE_LOG_LIKELIHOOD).unwrap();
    assert!(
        (x.f_input - score.log_likelihood).abs() < 1e-4,
        "{} vs {}",
        x.f_input,
        score.log_likelihood
    );
    assert_eq!(x.prefix_tokens, 2);
    assert_eq!(x.tokens.len(), seq.ids.len());
    let frame = explanation_frame(&x).unwrap();
    assert_eq!(frame.height(), seq.ids.len() - 2, "prefix tokens left out");
    let k = 4;
    for x in [
        saliency(&model, &seq, "lm", k).unwrap(),
        gradient_x_input(&model, &seq, "lm", k).unwrap(),
    ] {
        let t = seq.residue_start + k - 1;
        assert!(x.embedding[..t].iter().any(|v| *v != 0.0));
        assert!(
            x.embedding[t..].iter().all(|v| *v == 0.0),
            "{:?}",
            x.embedding
        );
    }
    // Rollout and AttnLRP need a sequence-level output: refused with a message.
    assert!(attention_rollout(&model, &seq, "lm", k).is_err());
}

/// `compare_methods`: every method flipped against the same random orders; AOPC, agreement
/// and the wide residue table.
#[test]
fn methods_are_compared_on_the_same_random_orders() {
    use protscope::attribution::comparison::compare_methods;
    use protscope::attribution::flip::{FlipOptions, Replacement};
    use protscope::attribution::ExplainOptions;
    let (model, seqs) = bert_cls_with_two_sequences();
    let methods = [
        AttributionMethod::GradientXInput,
        AttributionMethod::Rollout,
    ];
    let flip = FlipOptions {
        ks: vec![1, 2, 4],
        replacement: Replacement::Alanine,
        random_repeats: 3,
        ..Default::default()
    };
    let mut calls = 0;
    let c = compare_methods(
        &model,
        &seqs,
        "classifier",
        &[0, 1],
        &methods,
        &ExplainOptions::default(),
        &flip,
        || calls += 1,
    )
    .unwrap();
    assert_eq!(calls, 4);
    assert_eq!(c.flips.len(), 2 * 2 * 3);
    assert_eq!(c.aopc.len(), 4);
    // The random orders depend on the protein and seed only: equal across methods.
    for r in c.flips.iter().filter(|r| r.method == "rollout") {
        let twin = c
            .flips
            .iter()
            .find(|o| o.method == "grad-input" && o.protein == r.protein && o.k == r.k)
            .unwrap();
        assert_eq!(r.logit_random_mean, twin.logit_random_mean);
    }
    let f = c.faithfulness();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].aopc_random, f[1].aopc_random);
    assert_eq!(f[0].proteins, 2);
    let agreement = c.agreement_frame().unwrap();
    assert_eq!(agreement.height(), 2);
    let residues = c.residue_frame().unwrap();
    assert_eq!(residues.height(), 22 + 16);
    assert_eq!(residues.width(), 5);
    assert!(compare_methods(
        &model,
        &seqs,
        "classifier",
        &[0],
        &methods,
        &ExplainOptions::default(),
        &flip,
        || {}
    )
    .is_err());
}
