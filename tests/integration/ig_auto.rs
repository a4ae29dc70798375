//! `--steps auto`: steps chosen by accuracy, on the tiny fixture models.

use candle_core::Device;
use protscope::attribution::{
    integrated_gradients, integrated_gradients_auto, refine_steps, AutoSteps, IgOptions,
    LatentDerivative, Quadrature,
};
use protscope::frame::read_table;
use protscope::model::ProteinModel;

use crate::common::*;

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Every rule reaches the tolerance, at the first count of its refinement sequence that does;
/// the result (computed with reused nodes for the nested Riemann rules) equals a fixed-step run
/// at the count it reports.
#[test]
fn auto_steps_reach_the_tolerance_and_record_the_count() {
    // (fixture, head, sequence, rule, tolerance): tolerances tight enough that every rule refines
    // at least once. Riemann rules converge as 1/n (the trapezoid too: Captum's weights sum to
    // (n − 1)/n), the midpoint rule as 1/n², Gauss–Legendre faster; the tiny ESM-2 model is far
    // from linear along the path.
    let cases = [
        (
            "antiberty_tiny",
            "species",
            "EVQLVESGGGLVQPGG",
            Quadrature::GaussLegendre,
            1e-5,
        ),
        (
            "antiberty_tiny",
            "species",
            "EVQLVESGGGLVQPGG",
            Quadrature::RiemannMiddle,
            1e-3,
        ),
        (
            "antiberty_tiny",
            "species",
            "EVQLVESGGGLVQPGG",
            Quadrature::RiemannTrapezoid,
            0.05,
        ),
        (
            "antiberty_tiny",
            "species",
            "EVQLVESGGGLVQPGG",
            Quadrature::RiemannLeft,
            0.05,
        ),
        (
            "antiberty_tiny",
            "species",
            "EVQLVESGGGLVQPGG",
            Quadrature::RiemannRight,
            0.05,
        ),
        (
            "esm_cls",
            "classifier",
            "MKTAYIAKQRQISFVK",
            Quadrature::GaussLegendre,
            0.05,
        ),
        (
            "esm_cls",
            "classifier",
            "MKTAYIAKQRQISFVK",
            Quadrature::RiemannTrapezoid,
            0.2,
        ),
    ];
    for (fixture, head, sequence, method, max_delta) in cases {
        let model = ProteinModel::load(&model_fixture(fixture), &Device::Cpu).unwrap();
        let seq = model.encode_sequence("p1", sequence, None).unwrap();
        {
            let options = IgOptions {
                method,
                batch_size: Some(3),
                ..Default::default()
            };
            let auto = AutoSteps {
                max_delta,
                max_steps: 4096,
                start: 4,
            };
            let name = format!("{fixture} {}", method.name());
            let result = integrated_gradients_auto(&model, &seq, head, 1, &options, &auto).unwrap();
            let tolerance = auto.max_delta * (result.f_input - result.f_baseline).abs();
            assert_eq!(result.converged, Some(true), "{name}");
            assert_eq!(result.max_delta, Some(max_delta), "{name}");
            assert!(result.delta.abs() <= tolerance, "{name}: {}", result.delta);
            // The count is on the rule's refinement sequence from 4, and the count before it
            // did not reach the tolerance.
            let mut counts = vec![4usize];
            while *counts.last().unwrap() < result.steps {
                counts.push(refine_steps(method, *counts.last().unwrap()).0);
            }
            assert_eq!(*counts.last().unwrap(), result.steps, "{name}: {counts:?}");
            assert!(counts.len() >= 2, "{name}: converged at the first try");
            let before = counts[counts.len() - 2];
            let fixed = |steps| {
                let options = IgOptions {
                    steps,
                    ..options.clone()
                };
                integrated_gradients(&model, &seq, head, 1, &options).unwrap()
            };
            assert!(
                fixed(before).delta.abs() > tolerance,
                "{name}: {before} steps were enough"
            );
            let same = fixed(result.steps);
            let scale = same.embedding.iter().map(|v| v.abs()).fold(0.0, f64::max);
            let diff = max_abs(&result.embedding, &same.embedding);
            assert!(
                diff <= 1e-9 * scale.max(1e-12),
                "{name}: reused nodes give {diff:e} off a fresh run at {} steps",
                result.steps
            );
            assert_eq!(result.steps, same.steps);
            eprintln!(
                "{name}: {} steps, |delta| = {:.2e} <= {:.2e}",
                result.steps,
                result.delta.abs(),
                tolerance
            );
        }
    }
}

/// At the cap the last result is kept and marked; latent relevance comes at the chosen count.
#[test]
fn auto_steps_stop_at_the_cap_and_cover_latent_relevance() {
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let seq = model
        .encode_sequence("p1", "EVQLVESGGGLVQPGG", None)
        .unwrap();
    let options = IgOptions {
        method: Quadrature::RiemannTrapezoid,
        latent: true,
        latent_derivative: LatentDerivative::Exact,
        ..Default::default()
    };
    // 1e-12 of the logit difference is out of reach in f32: 4 -> 7 -> 13 -> cap 20.
    let auto = AutoSteps {
        max_delta: 1e-12,
        max_steps: 20,
        start: 4,
    };
    let capped = integrated_gradients_auto(&model, &seq, "species", 1, &options, &auto).unwrap();
    assert_eq!(capped.converged, Some(false));
    assert_eq!(capped.steps, 20);
    let fixed = integrated_gradients(
        &model,
        &seq,
        "species",
        1,
        &IgOptions {
            steps: 20,
            ..options.clone()
        },
    )
    .unwrap();
    assert_eq!(capped.embedding, fixed.embedding);
    assert_eq!(capped.latent, fixed.latent);
    assert_eq!(capped.latent.len(), 2 * 4 * seq.ids.len());

    for bad in [
        AutoSteps {
            max_delta: 0.0,
            ..auto
        },
        AutoSteps {
            max_delta: f64::NAN,
            ..auto
        },
        AutoSteps {
            max_steps: 1,
            ..auto
        },
    ] {
        let e = integrated_gradients_auto(&model, &seq, "species", 1, &options, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`max_delta`") || e.contains("`max_steps`"),
            "{e}"
        );
    }
}

#[test]
fn attribute_steps_auto_writes_steps_and_convergence() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("in.fasta");
    std::fs::write(&fasta, ">h1\nEVQLVESGGG\n>l1\nDIQMTQSPSS\n").unwrap();
    let model = model_fixture("antiberty_tiny");
    let out = tmp.path().join("auto.csv");
    let base = |out: &std::path::Path| {
        vec![
            "attribute".to_string(),
            "--model".into(),
            model.to_str().unwrap().into(),
            "--fasta".into(),
            fasta.to_str().unwrap().into(),
            "--output".into(),
            "species".into(),
            "--target".into(),
            "Human".into(),
            "--steps".into(),
            "auto".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let run = |args: &[String]| protscope(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let mut args = base(&out);
    args.extend(["--max-delta".into(), "0.001".into()]);
    let (ok, err) = run(&args);
    assert!(ok, "{err}");
    let summary = read_table(&tmp.path().join("auto.summary.csv")).unwrap();
    let f = |c: &str| -> Vec<f64> {
        summary
            .column(c)
            .unwrap()
            .cast(&polars::prelude::DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    let (fi, fb, delta, steps, max_delta) = (
        f("f_input"),
        f("f_baseline"),
        f("delta"),
        f("steps"),
        f("max_delta"),
    );
    for r in 0..2 {
        assert!(delta[r].abs() <= 0.001 * (fi[r] - fb[r]).abs());
        assert!(steps[r] >= 8.0 && steps[r] <= 1024.0, "{steps:?}");
        assert_eq!(max_delta[r], 0.001);
    }
    let converged = summary.column("converged").unwrap();
    assert_eq!(
        converged.bool().unwrap().iter().collect::<Vec<_>>(),
        [Some(true), Some(true)]
    );
    // Re-running resumes (nothing new); a fixed count on the same output is refused.
    let (ok, err) = run(&args);
    assert!(ok && err.contains("0 computed now"), "{err}");
    let mut fixed = base(&out);
    fixed[10] = "16".into();
    let (ok, err) = run(&fixed);
    assert!(!ok && err.contains("other settings"), "{err}");

    // The cap: a warning naming the protein and converged = false.
    let capped_out = tmp.path().join("capped.parquet");
    let mut args = base(&capped_out);
    args.extend([
        "--max-delta".into(),
        "1e-12".into(),
        "--max-steps".into(),
        "10".into(),
    ]);
    let (ok, err) = run(&args);
    assert!(
        ok && err.contains("warning: h1") && err.contains("--max-steps 10"),
        "{err}"
    );
    let summary = read_table(&tmp.path().join("capped.summary.parquet")).unwrap();
    let converged = summary.column("converged").unwrap().bool().unwrap();
    assert_eq!(
        converged.iter().collect::<Vec<_>>(),
        [Some(false), Some(false)]
    );
    let steps = summary.column("steps").unwrap().i64().unwrap();
    assert_eq!(steps.into_no_null_iter().collect::<Vec<_>>(), [10, 10]);

    // --max-delta without --steps auto, and a bad --steps, are refused.
    let mut args = base(&tmp.path().join("x.parquet"));
    args[10] = "50".into();
    args.extend(["--max-delta".into(), "0.01".into()]);
    let (ok, err) = run(&args);
    assert!(!ok && err.contains("--steps auto"), "{err}");
    args[10] = "many".into();
    let (ok, err) = run(&args);
    assert!(
        !ok && err.contains("neither a number of steps nor `auto`"),
        "{err}"
    );
}

/// `--memory-budget`: a protein that cannot fit stops the run before any protein is computed,
/// with a message naming what to change; a batch that does not fit names --batch-size.
#[test]
fn attribute_refuses_requests_over_the_memory_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("in.fasta");
    let long = "EVQLVESGGGLVQPGGSLRLSCAASGFTFS".repeat(2);
    std::fs::write(&fasta, format!(">short\nEVQLV\n>long\n{long}\n")).unwrap();
    let model_dir = model_fixture("antiberty_tiny");
    let model = ProteinModel::load(&model_dir, &Device::Cpu).unwrap();
    let weights = protscope::attribution::memory::weight_bytes(&model);
    // Layers are recomputed when that is what makes a request fit, so the limits are those of
    // recomputed steps.
    let step = |tokens| {
        protscope::attribution::integrated_gradients::bytes_per_step_recomputed(&model, tokens)
    };
    // Room for one step of the short protein (7 tokens) but not of the long one (62 tokens).
    let budget = weights + step(7) + (step(62) - step(7)) / 2;
    let out = tmp.path().join("ig.parquet");
    let args = |budget: String, extra: &[&str]| {
        let mut a = vec![
            "attribute".to_string(),
            "--model".into(),
            model_dir.to_str().unwrap().into(),
            "--fasta".into(),
            fasta.to_str().unwrap().into(),
            "--output".into(),
            "species".into(),
            "--target".into(),
            "0".into(),
            "--steps".into(),
            "4".into(),
            "--memory-budget".into(),
            budget,
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| protscope(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, err) = run(args(budget.to_string(), &[]));
    assert!(
        !ok && err.contains("record `long`")
            && err.contains("--max-len")
            && err.contains("--memory-budget"),
        "{err}"
    );
    // Nothing was computed: not even the short protein that comes first.
    let parts = tmp.path().join(".ig.parquet.parts");
    let computed = std::fs::read_dir(&parts)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(computed, 0);
    assert!(!out.exists());

    // Cut to fit: the run goes through.
    let (ok, err) = run(args(budget.to_string(), &["--max-len", "7"]));
    assert!(ok, "{err}");

    // A budget for a few steps, but a batch of 4 asked for: names --batch-size.
    std::fs::remove_file(&out).unwrap();
    let roomy = weights + 2 * step(62);
    let (ok, err) = run(args(roomy.to_string(), &["--batch-size", "4"]));
    assert!(
        !ok && err.contains("--batch-size 4") && err.contains("at most 2 fits"),
        "{err}"
    );
    let (ok, err) = run(args(roomy.to_string(), &["--batch-size", "2"]));
    assert!(ok, "{err}");

    let (ok, err) = run(args("lots".into(), &[]));
    assert!(!ok && err.contains("memory size `lots`"), "{err}");
}

/// Checkpointing: a step that does not fit with every layer's values kept runs with layers
/// recomputed in the backward pass, and gives the same attributions (same operations on the
/// same inputs: equal to the last bit here, checked to 1e-12 relative).
#[test]
fn recomputed_layers_give_the_same_attributions() {
    use protscope::attribution::integrated_gradients::{bytes_per_step, bytes_per_step_recomputed};
    use protscope::attribution::memory::{plan_batch, weight_bytes, BatchPlan};
    for name in ["antiberty_tiny", "esm_cls", "t5_gated", "xlnet_cls"] {
        let model = ProteinModel::load(&model_fixture(name), &Device::Cpu).unwrap();
        let head = model
            .outputs()
            .iter()
            .find(|h| h.level == protscope::model::OutputLevel::Sequence)
            .expect("a sequence-level head")
            .name
            .clone();
        let seq = model
            .encode_sequence("p", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", None)
            .unwrap();
        let t = seq.ids.len();
        let (kept, recomputed) = (
            bytes_per_step(&model, t),
            bytes_per_step_recomputed(&model, t),
        );
        assert!(recomputed < kept, "{name}: {recomputed} vs {kept}");
        // A budget with room for one recomputed step (and the gradient-free pass at both ends
        // of the path, two sequences) but not one kept step.
        let ends = 2 * protscope::model::memory::forward_bytes_per_sequence(&model, t, false);
        assert!(kept > recomputed.max(ends), "{name}");
        let budget = weight_bytes(&model) + recomputed.max(ends);
        let plan = plan_batch(&model, "p", t, 8, None, budget, None).unwrap();
        assert_eq!(
            plan,
            BatchPlan {
                batch_size: 1,
                recompute_layers: true
            }
        );
        // Enough room: nothing is recomputed.
        let roomy = plan_batch(&model, "p", t, 8, None, budget + 8 * kept, None).unwrap();
        assert!(!roomy.recompute_layers && roomy.batch_size > 1, "{roomy:?}");
        for derivative in [LatentDerivative::Exact, LatentDerivative::FiniteDifference] {
            let options = IgOptions {
                steps: 6,
                batch_size: Some(3),
                latent: true,
                latent_derivative: derivative,
                ..Default::default()
            };
            let kept_result = integrated_gradients(&model, &seq, &head, 0, &options).unwrap();
            let recomputed_result = integrated_gradients(
                &model,
                &seq,
                &head,
                0,
                &IgOptions {
                    recompute_layers: true,
                    ..options
                },
            )
            .unwrap();
            for (what, a, b) in [
                (
                    "embedding",
                    &kept_result.embedding,
                    &recomputed_result.embedding,
                ),
                ("latent", &kept_result.latent, &recomputed_result.latent),
            ] {
                let scale = a.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
                let d = max_abs(a, b) / scale;
                assert!(d <= 1e-12, "{name} {derivative:?} {what}: {d:.2e}");
            }
            assert_eq!(kept_result.delta, recomputed_result.delta, "{name}");
        }
    }
}

/// Forward commands: batches shrink to the memory budget (the attention maps are what grows), a
/// sequence that cannot fit alone stops `attention`, `heads`, `predict` before anything runs.
#[test]
fn forward_batches_fit_the_memory_budget() {
    use protscope::model::memory::{
        forward_batches, forward_batches_in_input_order, forward_bytes_per_sequence, weight_bytes,
    };
    let model_dir = model_fixture("antiberty_tiny");
    let model = ProteinModel::load(&model_dir, &Device::Cpu).unwrap();
    let ids = ["a", "b", "c", "d", "e"];
    let lengths = [40, 10, 62, 12, 60];
    let weights = weight_bytes(&model);
    let with_maps = |t| forward_bytes_per_sequence(&model, t, true);
    assert!(with_maps(62) > forward_bytes_per_sequence(&model, 62, false));
    // Room for two of the longest: batches by length, never more than two long ones together.
    let budget = weights + 2 * with_maps(62);
    let batches = forward_batches(&model, &ids, &lengths, 8, true, budget).unwrap();
    assert_eq!(batches, vec![vec![1, 3, 0], vec![4, 2]], "{batches:?}");
    for batch in &batches {
        let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
        assert!(batch.len() * with_maps(longest) <= budget - weights);
    }
    let in_order = forward_batches_in_input_order(&model, &ids, &lengths, 8, true, budget).unwrap();
    assert_eq!(in_order, vec![vec![0, 1], vec![2, 3], vec![4]]);
    // One sequence alone too big: named, with what to change.
    let err = forward_batches(&model, &ids, &lengths, 8, true, weights + with_maps(50))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`c`") && err.contains("`max_len`") && err.contains("`memory_budget`"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("in.fasta");
    let long = "EVQLVESGGGLVQPGGSLRLSCAASGFTFS".repeat(2);
    std::fs::write(&fasta, format!(">short\nEVQLV\n>long\n{long}\n")).unwrap();
    // Enough for the long protein without its maps, not with them.
    let tight =
        (weights + (forward_bytes_per_sequence(&model, 62, false) + with_maps(62)) / 2).to_string();
    for command in ["attention", "heads", "predict"] {
        let out = tmp.path().join(format!("{command}.parquet"));
        let mut args = vec![
            command,
            "--model",
            model_dir.to_str().unwrap(),
            "--fasta",
            fasta.to_str().unwrap(),
            "--memory-budget",
            &tight,
            "--out",
            out.to_str().unwrap(),
        ];
        if command == "heads" {
            args.extend(["--amino-acids", "--max-len", "64"]);
        }
        let (ok, err) = protscope(&args);
        if command != "attention" {
            // No maps kept (`heads` reads each layer's as it is computed): the budget is plenty.
            assert!(ok, "{command}: {err}");
        } else {
            assert!(
                !ok && err.contains("`long`") && err.contains("--max-len"),
                "{command}: {err}"
            );
            assert!(!out.exists(), "{command}");
        }
    }
}
