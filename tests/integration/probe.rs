//! Probing: the classifier against scikit-learn (scripts/make_probe_fixtures.py), the `probe`
//! command end to end on a tiny random model for every task, and its errors.

use std::path::Path;

use crate::common::{assert_tables_conform, fixture_file, model_fixture, protscope, shared};
use protscope::stats::classification::{
    accuracy, f1_one_vs_all, macro_f1, pooled_precision_at_fraction,
};
use protscope::stats::classifier::{fit_l2_logistic, L2LogisticOptions, Standardizer};

/// The L2 logistic regression equals scikit-learn's `StandardScaler` + `LogisticRegression(C)`
/// (lbfgs, multinomial for 3 classes, binary for 2) on the committed fixture: coefficients,
/// intercepts and test probabilities, and so the test scores.
#[test]
fn l2_logistic_regression_matches_scikit_learn() {
    let text = std::fs::read_to_string(fixture_file("probe", "l2_logistic_cases.json")).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = fixture["num_features"].as_u64().unwrap() as usize;
    let n_train = fixture["num_train"].as_u64().unwrap() as usize;
    let x: Vec<f32> = fixture["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (mut worst_coef, mut worst_prob, mut worst_score) = (0f64, 0f64, 0f64);
    for case in fixture["cases"].as_array().unwrap() {
        let k = case["num_classes"].as_u64().unwrap() as usize;
        let c = case["c"].as_f64().unwrap();
        let labels: Vec<u32> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let (mut train, mut test) = (x[..n_train * f].to_vec(), x[n_train * f..].to_vec());
        let scaler = Standardizer::fit(&train, f).unwrap();
        for (ours, theirs) in scaler.mean.iter().zip(floats(&case["scaler_mean"])) {
            assert!((ours - theirs).abs() < 1e-9, "mean {ours} vs {theirs}");
        }
        for (ours, theirs) in scaler.scale.iter().zip(floats(&case["scaler_scale"])) {
            assert!(
                (ours - theirs).abs() < 1e-9 * theirs,
                "scale {ours} vs {theirs}"
            );
        }
        scaler.transform_in_place(&mut train).unwrap();
        scaler.transform_in_place(&mut test).unwrap();
        let options = L2LogisticOptions {
            c,
            tolerance: 1e-9,
            max_iterations: 10_000,
        };
        let fit = fit_l2_logistic(&train, f, &labels[..n_train], k, &options).unwrap();
        assert!(fit.converged, "k {k} C {c}: gradient {}", fit.gradient);
        let coef = floats(&case["coef"]);
        let intercept = floats(&case["intercept"]);
        assert_eq!(fit.weights.len(), coef.len());
        for (ours, theirs) in fit
            .weights
            .iter()
            .chain(&fit.intercepts)
            .zip(coef.iter().chain(&intercept))
        {
            worst_coef = worst_coef.max((ours - theirs).abs());
        }
        let probs = fit.probabilities(&test).unwrap();
        let expected = floats(&case["test_probabilities"]);
        for (ours, theirs) in probs.iter().zip(&expected) {
            worst_prob = worst_prob.max((ours - theirs).abs());
        }
        let truth = &labels[n_train..];
        let predicted = fit.predict(&test).unwrap();
        let mut diffs = vec![
            (accuracy(truth, &predicted).unwrap() - case["test_accuracy"].as_f64().unwrap()).abs(),
            (macro_f1(truth, &predicted).unwrap() - case["test_macro_f1"].as_f64().unwrap()).abs(),
        ];
        for (class, expected) in floats(&case["test_f1"]).into_iter().enumerate() {
            diffs.push((f1_one_vs_all(truth, &predicted, class as u32).unwrap() - expected).abs());
        }
        if k == 2 {
            let groups: Vec<(Vec<f64>, Vec<bool>)> = probs
                .chunks(120)
                .zip(truth.chunks(60))
                .map(|(p, t)| {
                    (
                        p.chunks_exact(2).map(|r| r[1]).collect(),
                        t.iter().map(|&l| l == 1).collect(),
                    )
                })
                .collect();
            let ours = pooled_precision_at_fraction(&groups, 20.0).unwrap();
            diffs.push((ours - case["test_precision_at_l20"].as_f64().unwrap()).abs());
        }
        worst_score = diffs.into_iter().fold(worst_score, f64::max);
    }
    eprintln!(
        "vs scikit-learn: coefficients {worst_coef:.1e}, probabilities {worst_prob:.1e}, \
         scores {worst_score:.1e}"
    );
    assert!(worst_coef < 1e-6, "coefficients differ by {worst_coef}");
    assert!(worst_prob < 1e-6, "probabilities differ by {worst_prob}");
    assert!(worst_score <= 0.01, "scores differ by {worst_score}");
}

/// A NetSurfP-2.0 CSV of `n` random proteins (seeded), lengths 20..40, every third residue not
/// evaluated.
fn netsurfp(path: &Path, n: usize) {
    let mut state = 5u64;
    let mut next = |m: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % m as u64) as usize
    };
    let aa: Vec<char> = "ACDEFGHIKLMNPQRSTVWY".chars().collect();
    let mut text = String::from("input, dssp3, dssp8, disorder, cb513_mask\n");
    for _ in 0..n {
        let len = 20 + next(20);
        let seq: Vec<String> = (0..len).map(|_| aa[next(20)].to_string()).collect();
        let ss8: Vec<char> = (0..len)
            .map(|_| "HGIEBTSC".chars().nth(next(8)).unwrap())
            .collect();
        let ss3: Vec<String> = ss8
            .iter()
            .map(|c| {
                match c {
                    'H' | 'G' | 'I' => "H",
                    'E' | 'B' => "E",
                    _ => "C",
                }
                .to_string()
            })
            .collect();
        let mask: Vec<&str> = (0..len)
            .map(|i| if i % 3 == 2 { "0.0" } else { "1.0" })
            .collect();
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            seq.join(" "),
            ss3.join(" "),
            ss8.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            vec!["0.0"; len].join(" "),
            mask.join(" ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> polars::prelude::DataFrame {
    protscope::frame::read_table(path).unwrap()
}

fn metric_rows(
    df: &polars::prelude::DataFrame,
    task: &str,
    split: &str,
    metric: &str,
) -> Vec<(i64, f64)> {
    let t = df.column("task").unwrap().str().unwrap().clone();
    let s = df.column("split").unwrap().str().unwrap().clone();
    let m = df.column("metric").unwrap().str().unwrap().clone();
    let l = df.column("layer").unwrap().i64().unwrap().clone();
    let v = df.column("value").unwrap().f64().unwrap().clone();
    (0..df.height())
        .filter(|&i| t.get(i) == Some(task) && s.get(i) == Some(split) && m.get(i) == Some(metric))
        .map(|i| (l.get(i).unwrap(), v.get(i).unwrap()))
        .collect()
}

/// `probe` on a tiny random BERT for every task: one row per (task, layer, split, metric),
/// layers 0..=L for hidden states and 1..=L for contacts, scores in [0, 1], a figure.
#[test]
fn probe_cli_runs_every_task_on_a_tiny_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixture("bert_cls");
    let model = model.to_str().unwrap();
    let layers = protscope::model::ProteinModel::load(Path::new(model), &candle_core::Device::Cpu)
        .unwrap()
        .num_layers() as i64;
    let inputs = tmp.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let csv = inputs.join("ss.csv");
    netsurfp(&csv, 8);
    let out = tmp.path().join("ss3.csv");
    let figure = tmp.path().join("ss3.svg");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "ss3",
        "--netsurfp",
        csv.to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--figure",
        figure.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("centre of gravity"), "{err}");
    let df = read(&out);
    let acc = metric_rows(&df, "ss3", "test", "accuracy");
    assert_eq!(
        acc.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..=layers).collect::<Vec<_>>()
    );
    assert!(acc.iter().all(|r| (0.0..=1.0).contains(&r.1)));
    for metric in ["f1_H", "f1_E", "f1_C", "macro_f1"] {
        assert_eq!(
            metric_rows(&df, "ss3", "validation", metric).len(),
            layers as usize + 1
        );
    }
    // The grid picked a C per layer; every row says which.
    let c = df.column("c").unwrap().f64().unwrap().clone();
    assert!((0..c.len()).all(|i| [0.001, 0.01, 0.1, 1.0].contains(&c.get(i).unwrap())));
    assert!(std::fs::read_to_string(&figure).unwrap().contains("<svg"));

    // ss8 with a fixed C.
    let out8 = tmp.path().join("ss8.parquet");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "ss8",
        "--netsurfp",
        csv.to_str().unwrap(),
        "--c",
        "0.5",
        "--out",
        out8.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read(&out8);
    assert_eq!(
        metric_rows(&df, "ss8", "train", "f1_G").len(),
        layers as usize + 1
    );
    assert!(df
        .column("c")
        .unwrap()
        .f64()
        .unwrap()
        .to_vec()
        .into_iter()
        .all(|c| c == Some(0.5)));

    // Sites: provis' precision at L/20.
    let sites = tmp.path().join("sites.jsonl");
    let mut lines = String::new();
    for i in 0..6 {
        let seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ";
        lines.push_str(&format!(
            "{{\"id\": \"p{i}\", \"sequence\": \"{seq}\", \"sites\": [{}, {}, 20]}}\n",
            i + 1,
            i + 5
        ));
    }
    std::fs::write(&sites, lines).unwrap();
    let out_sites = tmp.path().join("sites.csv");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "sites",
        "--sites",
        sites.to_str().unwrap(),
        "--out",
        out_sites.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read(&out_sites);
    assert_eq!(
        metric_rows(&df, "sites", "test", "precision_at_l20").len(),
        layers as usize + 1
    );
    assert_eq!(
        metric_rows(&df, "sites", "test", "f1").len(),
        layers as usize + 1
    );

    // Antibody regions: two tasks from one pass.
    let fasta = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/antibodies.fasta");
    let out_regions = tmp.path().join("regions.csv");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "regions",
        "--fasta",
        fasta.to_str().unwrap(),
        "--c",
        "1",
        "--out",
        out_regions.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read(&out_regions);
    assert_eq!(
        metric_rows(&df, "regions_cdr", "test", "f1").len(),
        layers as usize + 1
    );
    assert_eq!(
        metric_rows(&df, "regions_imgt", "test", "f1_CDR3").len(),
        layers as usize + 1
    );

    // Contacts from attention, three copies of a fixture structure as three proteins.
    let structures = tmp.path().join("structures");
    std::fs::create_dir(&structures).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::copy(
            fixture_file("structure", "2BEG_AB_trimmed.pdb"),
            structures.join(format!("{name}.pdb")),
        )
        .unwrap();
    }
    let out_contacts = tmp.path().join("contacts.csv");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "contacts",
        "--structures",
        structures.to_str().unwrap(),
        "--chain",
        "A",
        "--contact-atom",
        "ca",
        "--cutoff",
        "12",
        "--c",
        "1",
        "--out",
        out_contacts.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read(&out_contacts);
    let p = metric_rows(&df, "contacts", "test", "precision_at_l5");
    assert_eq!(
        p.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=layers).collect::<Vec<_>>()
    );
    assert!(assert_tables_conform(tmp.path()) >= 5);
}

/// Bad inputs are errors naming what is wrong, never panics.
#[test]
fn probe_cli_bad_inputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixture("bert_cls");
    let model = model.to_str().unwrap();
    let out = tmp.path().join("out.csv");
    let out = out.to_str().unwrap();
    // A label column shorter than the sequence.
    let csv = tmp.path().join("bad.csv");
    std::fs::write(
        &csv,
        "input, dssp3, dssp8, disorder, cb513_mask\nM K V,C H,C G B,0 0 0,1 1 1\n",
    )
    .unwrap();
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "ss3",
        "--netsurfp",
        csv.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert!(!ok);
    assert!(
        err.contains("bad.csv")
            && err.contains("record 1")
            && err.contains("`dssp3` has 2 values for 3 residues"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The task's input is missing.
    let (ok, err) = protscope(&["probe", "--model", model, "--task", "ss3", "--out", out]);
    assert!(!ok && err.contains("--task ss3 needs --netsurfp"), "{err}");
    let (ok, err) = protscope(&[
        "probe", "--model", model, "--task", "contacts", "--out", out,
    ]);
    assert!(!ok && err.contains("--structures"), "{err}");
    // An unknown task.
    let (ok, err) = protscope(&["probe", "--model", model, "--task", "ss4", "--out", out]);
    assert!(!ok && err.contains("ss4") && err.contains("ss3"), "{err}");
    // A site beyond its sequence.
    let sites = tmp.path().join("sites.jsonl");
    std::fs::write(
        &sites,
        "{\"id\": \"p\", \"sequence\": \"MKV\", \"sites\": [9]}\n",
    )
    .unwrap();
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "sites",
        "--sites",
        sites.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert!(
        !ok && err.contains("site 9") && err.contains("3 residues"),
        "{err}"
    );
    // Too few proteins to split.
    let two = tmp.path().join("two.csv");
    netsurfp(&two, 2);
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "ss3",
        "--netsurfp",
        two.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert!(!ok && err.contains("at least 3 proteins"), "{err}");
    let (ok, err) = protscope(&[
        "probe",
        "--model",
        model,
        "--task",
        "ss3",
        "--netsurfp",
        csv.to_str().unwrap(),
        "--c",
        "0",
        "--out",
        out,
    ]);
    assert!(!ok && err.contains("--c 0"), "{err}");
}

/// The real NetSurfP-2.0 test sets read without error (skipped without ../shared/data).
#[test]
fn netsurfp_test_sets_read() {
    let Some(dir) = shared("secondary_structure") else {
        return;
    };
    let ts115 = protscope::annotation::secondary::read_netsurfp_csv(&dir.join("TS115_HHblits.csv"))
        .unwrap();
    assert_eq!(ts115.len(), 115);
    let cb513 = protscope::annotation::secondary::read_netsurfp_csv(&dir.join("CB513_HHblits.csv"))
        .unwrap();
    assert_eq!(cb513.len(), 511);
    assert!(cb513
        .iter()
        .all(|p| p.ss3.len() == p.sequence.len() && p.evaluated.len() == p.sequence.len()));
}
