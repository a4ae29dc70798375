//! Contacts predicted from attention by ESM-2's contact head equal HF
//! `EsmForMaskedLM.predict_contacts` (fixture `pub_esm2`, scripts/make_layout_fixtures.py),
//! alone and in a padded batch, through the library and `protscope contacts-predict`.

use candle_core::{Device, Tensor};
use polars::prelude::*;
use protscope::attention::contacts::{contacts_frame, predict_contacts, ContactMap};
use protscope::model::ProteinModel;

use crate::common::*;

const TOL: f32 = 1e-5;

/// A JSON array of numbers.
fn numbers(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn as_tensor(map: &ContactMap) -> Tensor {
    Tensor::from_vec(
        map.probabilities.clone(),
        (map.residues, map.residues),
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn esm2_contact_head_matches_hf_predict_contacts_alone_and_batched() {
    let dir = model_fixture("pub_esm2");
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    let head = model.contact_head().expect("ESM-2 carries a contact head");
    assert_eq!(
        (head.num_layers(), head.num_heads()),
        (model.num_layers(), model.num_heads())
    );
    let reference = load_reference(&dir);
    let seqs: Vec<_> = reference_sequences(&dir)
        .iter()
        .map(|s| model.encode_sequence(&s.id, &s.sequence, None).unwrap())
        .collect();
    let batched = predict_contacts(&model, &seqs).unwrap();
    let mut worst = 0f32;
    for (i, seq) in seqs.iter().enumerate() {
        let alone = &predict_contacts(&model, &[seq]).unwrap()[0];
        assert_eq!(alone.residues, seq.residues.len());
        for (ours, key) in [
            (alone, format!("s{i}.contacts")),
            (&batched[i], format!("batch.s{i}.contacts")),
        ] {
            let d = max_abs_diff(&as_tensor(ours), &reference[&key]);
            assert!(d <= TOL, "{key}: contact probabilities differ by {d}");
            worst = worst.max(d);
        }
        // Symmetric, as the features are.
        let t = as_tensor(alone);
        assert!(max_abs_diff(&t, &t.t().unwrap()) <= 1e-6);
    }
    eprintln!("ESM-2 contact head: max abs difference to HF predict_contacts {worst:.2e}");
    let frame = contacts_frame(&batched).unwrap();
    let pairs: usize = seqs
        .iter()
        .map(|s| s.residues.len() * (s.residues.len() - 1) / 2)
        .sum();
    assert_eq!(frame.height(), pairs);
}

#[test]
fn contacts_predict_cli_writes_every_pair_and_refuses_models_without_a_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_fixture("pub_esm2");
    let refs = reference_sequences(&dir);
    let fasta = tmp.path().join("in.fasta");
    let text: String = refs
        .iter()
        .map(|s| format!(">{}\n{}\n", s.id, s.sequence))
        .collect();
    std::fs::write(&fasta, text).unwrap();
    let out = tmp.path().join("contacts.csv");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        dir.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(out.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, ["protein", "i", "j", "probability"]);
    let n = refs[0].sequence.len();
    let protein = df.column("protein").unwrap().str().unwrap();
    let (i, j) = (
        df.column("i").unwrap().i64().unwrap(),
        df.column("j").unwrap().i64().unwrap(),
    );
    let probability = df.column("probability").unwrap().f64().unwrap();
    let first: Vec<usize> = (0..df.height())
        .filter(|&r| protein.get(r) == Some(refs[0].id.as_str()))
        .collect();
    assert_eq!(first.len(), n * (n - 1) / 2);
    // Row (i = 1, j = 5) is the reference's [0][4].
    let reference = load_reference(&dir);
    let want = reference["s0.contacts"]
        .get(0)
        .unwrap()
        .get(4)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let row = first
        .iter()
        .find(|&&r| i.get(r) == Some(1) && j.get(r) == Some(5))
        .expect("row i = 1, j = 5");
    let got = probability.get(*row).unwrap();
    assert!((got as f32 - want).abs() <= 1e-5, "{got} vs {want}");

    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model_fixture("bert_cls").to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        tmp.path().join("none.csv").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("no contact head") && err.contains("contacts-fit"),
        "{err}"
    );
}

/// P@L, P@L/2, P@L/5 and AUC per separation range equal esm's `compute_precisions` /
/// `evaluate_prediction` (scripts/make_contact_fixtures.py), unresolved residues included.
#[test]
fn contact_precisions_match_esm_evaluation() {
    use protscope::stats::contacts::evaluate_contacts;
    let path = fixture_file("contacts", "precision_cases.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    let mut worst = 0f64;
    for case in cases {
        let n = case["n"].as_u64().unwrap() as usize;
        let predictions: Vec<f32> = numbers(&case["predictions"])
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let targets: Vec<i8> = numbers(&case["targets"])
            .into_iter()
            .map(|v| v as i64 as i8)
            .collect();
        for (range, ours) in evaluate_contacts(&predictions, &targets, n).unwrap() {
            let want = &case["results"][range];
            for (key, value) in [
                ("AUC", ours.auc),
                ("P@L", ours.p_at_l),
                ("P@L2", ours.p_at_l2),
                ("P@L5", ours.p_at_l5),
            ] {
                let d = (value - want[key].as_f64().unwrap()).abs();
                assert!(d <= 1e-6, "n {n}, {range} {key}: {value} vs {}", want[key]);
                worst = worst.max(d);
            }
        }
    }
    eprintln!("contact precisions: max abs difference to esm's evaluation {worst:.1e}");
    // Fewer than 10 defined residues cannot be scored (esm's gather would index −1).
    assert!(evaluate_contacts(&[0.5; 25], &[0; 25], 5).is_err());
}

/// `contacts-eval` end to end on a structure with unresolved residues: predictions ranking
/// pairs by true (Cα) distance, an oracle, reach the best P@L/5 possible in each range, min(1,
/// contacts / k) with k = ⌊0.2 L⌋, and beat the reverse ranking; the mean table sits beside the
/// output.
#[test]
fn contacts_eval_scores_an_oracle_above_its_reverse() {
    let tmp = tempfile::tempdir().unwrap();
    let structures = tmp.path().join("structures");
    std::fs::create_dir(&structures).unwrap();
    let pdb = structures.join("2BEG_AB_trimmed.pdb");
    std::fs::copy(fixture_file("structure", "2BEG_AB_trimmed.pdb"), &pdb).unwrap();
    let distances = tmp.path().join("distances.csv");
    let (ok, err) = protscope(&[
        "contacts",
        "--structure",
        pdb.to_str().unwrap(),
        "--chain",
        "A",
        "--cutoff",
        "1000",
        "--out",
        distances.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&distances).unwrap();
    let mut scores: Vec<(f64, f64)> = Vec::new();
    for (oracle, path) in [(true, "oracle.csv"), (false, "reverse.csv")] {
        let mut csv = String::from("protein,i,j,probability\n");
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let d: f64 = f[3].parse().unwrap();
            let p = if oracle { 1.0 / (1.0 + d) } else { d / 1000.0 };
            csv.push_str(&format!("{},{},{},{p}\n", f[0], f[1], f[2]));
        }
        let predictions = tmp.path().join(path);
        std::fs::write(&predictions, csv).unwrap();
        let out = tmp.path().join(format!("eval-{path}"));
        let figures = tmp.path().join(format!("figures-{path}"));
        let (ok, err) = protscope(&[
            "contacts-eval",
            "--predictions",
            predictions.to_str().unwrap(),
            "--structures",
            structures.to_str().unwrap(),
            "--contact-atom",
            "ca",
            "--out",
            out.to_str().unwrap(),
            "--figures",
            figures.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        // The predicted-against-true map of the protein, in both formats.
        for ext in ["svg", "png"] {
            let drawn = std::fs::read_dir(&figures)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == ext)
                .count();
            assert_eq!(drawn, 1, "{path}: one {ext} contact map");
        }
        let df = CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(out.clone()))
            .unwrap()
            .finish()
            .unwrap();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "protein",
                "range",
                "min_separation",
                "max_separation",
                "length",
                "auc",
                "p_at_l",
                "p_at_l2",
                "p_at_l5"
            ]
        );
        assert_eq!(df.height(), 4);
        let length = df.column("length").unwrap().i64().unwrap().get(0).unwrap();
        assert_eq!(length, 26, "resolved residues of chain A");
        let auc_local = df.column("auc").unwrap().f64().unwrap().get(0).unwrap();
        let auc_short = df.column("auc").unwrap().f64().unwrap().get(1).unwrap();
        if oracle {
            let k = 5; // ⌊0.2 · 26⌋
            for (row, (min, max)) in [(3, 6), (6, 12), (12, 24)].into_iter().enumerate() {
                let contacts = text
                    .lines()
                    .skip(1)
                    .filter(|line| {
                        let f: Vec<&str> = line.split(',').collect();
                        let (i, j): (usize, usize) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                        let d: f64 = f[3].parse().unwrap();
                        (min..max).contains(&(j - i)) && d < 8.0
                    })
                    .count();
                let best = contacts.min(k) as f64 / k as f64;
                let p5 = df
                    .column("p_at_l5")
                    .unwrap()
                    .f64()
                    .unwrap()
                    .get(row)
                    .unwrap();
                assert!(
                    (p5 - best).abs() < 1e-12,
                    "range {row}: P@L/5 {p5}, best {best}"
                );
            }
        }
        scores.push((auc_local, auc_short));
        let mean = out.with_file_name(format!("eval-{}.mean.csv", path.trim_end_matches(".csv")));
        assert!(mean.is_file(), "{}", mean.display());
    }
    // Chain A of this fibril has local contacts only (no short-range ones): there the oracle wins.
    assert!(
        scores[0].0 > scores[1].0 && scores[0].1 >= scores[1].1,
        "{scores:?}"
    );
}

/// The L1 logistic regression `contacts-fit` uses equals scikit-learn's
/// `LogisticRegression(penalty="l1", solver="saga")` (scripts/make_contact_fit_fixtures.py) at
/// three penalty strengths: the same weights (1e-6), the same zero pattern, the same
/// objective (1e-7 relative).
#[test]
fn l1_logistic_regression_matches_scikit_learn() {
    use protscope::stats::logistic::{fit_l1_logistic, L1LogisticOptions};
    let path = fixture_file("contacts", "l1_logistic_cases.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let f = json["num_features"].as_u64().unwrap() as usize;
    let x: Vec<f32> = numbers(&json["x"]).into_iter().map(|v| v as f32).collect();
    let y: Vec<bool> = json["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    let mut worst = 0f64;
    for case in json["cases"].as_array().unwrap() {
        let c = case["c"].as_f64().unwrap();
        let options = L1LogisticOptions {
            c,
            tolerance: 1e-10,
            ..Default::default()
        };
        let fit = fit_l1_logistic(&x, f, &y, &options).unwrap();
        assert!(fit.converged, "C {c}: violation {}", fit.violation);
        let want: Vec<f64> = numbers(&case["coef"]);
        for (j, (ours, theirs)) in fit.weights.iter().zip(&want).enumerate() {
            let d = (ours - theirs).abs();
            assert!(d <= 1e-6, "C {c}, weight {j}: {ours} vs {theirs}");
            assert_eq!(
                *ours == 0.0,
                theirs.abs() < 1e-9,
                "C {c}, weight {j} zero pattern: {ours} vs {theirs}"
            );
            worst = worst.max(d);
        }
        let intercept = case["intercept"].as_f64().unwrap();
        assert!(
            (fit.intercept - intercept).abs() <= 1e-4,
            "C {c}: intercept {} vs {intercept}",
            fit.intercept
        );
        let objective = case["objective"].as_f64().unwrap();
        assert!(
            fit.objective <= objective * (1.0 + 1e-7),
            "C {c}: objective {} vs scikit-learn's {objective}",
            fit.objective
        );
        eprintln!(
            "C {c}: {} steps, objective {} vs {objective}",
            fit.iterations, fit.objective
        );
    }
    eprintln!("L1 logistic regression: max abs weight difference to scikit-learn {worst:.1e}");
}

/// A fitted head predicts, through `contact_map`, exactly the probabilities its regression
/// gives the training rows (the features of both are the same layer × head maps, in the same
/// order); unresolved pairs and pairs closer than the minimum separation are not trained on;
/// the head survives a write and a read.
#[test]
fn fitted_contact_head_predicts_its_regressions_probabilities() {
    use protscope::attention::attention_maps;
    use protscope::attention::contacts::{
        contact_map, contact_training_rows, fit_contact_head, ContactFitOptions,
    };
    use protscope::stats::logistic::L1LogisticOptions;
    let model = load_fixture_model("bert_cls");
    let seqs = [
        model
            .encode_sequence("a", "MKTAYIAKQRQISFVKSHFSRQLEERLG", None)
            .unwrap(),
        model
            .encode_sequence("b", "QVQLKESGPGLVAPSQSLSITCTVSGFSLT", None)
            .unwrap(),
    ];
    let maps = attention_maps(&model, &seqs).unwrap();
    // Contacts on a fixed pattern; residue 3 unresolved.
    let targets: Vec<Vec<i8>> = maps
        .iter()
        .map(|m| {
            let n = m.residues();
            (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    if i == 3 || j == 3 {
                        -1
                    } else {
                        i8::from((i * 7 + j * 3) % 5 == 0 || (j * 7 + i * 3) % 5 == 0)
                    }
                })
                .collect()
        })
        .collect();
    let examples: Vec<_> = maps
        .iter()
        .zip(&targets)
        .map(|(m, t)| (m, t.as_slice()))
        .collect();
    let options = ContactFitOptions {
        min_separation: 6,
        layers: None,
        regression: L1LogisticOptions {
            c: 1.0,
            ..Default::default()
        },
    };
    let fit = fit_contact_head(&examples, &options).unwrap();
    assert!(fit.regression.converged);
    let width = model.num_layers() * model.num_heads();
    let mut trained = 0;
    for (m, t) in maps.iter().zip(&targets) {
        let n = m.residues();
        let (rows, labels) = contact_training_rows(m, t, 6).unwrap();
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 6..n).map(move |j| (i, j)))
            .filter(|&(i, j)| i != 3 && j != 3)
            .collect();
        assert_eq!(
            labels.len(),
            pairs.len(),
            "{}: unresolved pairs left out",
            m.protein
        );
        let predicted = contact_map(m, &fit.head).unwrap();
        for (row, &(i, j)) in pairs.iter().enumerate() {
            let want = fit
                .regression
                .probability(&rows[row * width..(row + 1) * width]);
            let got = predicted.get(i, j) as f64;
            assert!(
                (got - want).abs() <= 1e-5,
                "{} ({i}, {j}): {got} vs {want}",
                m.protein
            );
        }
        trained += labels.len();
    }
    assert_eq!(trained, fit.pairs);

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("head.safetensors");
    let metadata = [("model".to_string(), "bert_cls".to_string())].into();
    fit.head.write(&path, &metadata).unwrap();
    let (read, header) = protscope::model::ContactHead::read(&path).unwrap();
    assert_eq!(read, fit.head);
    assert_eq!(header["model"], "bert_cls");
    assert_eq!(header["layers"], model.num_layers().to_string());

    // One layer's heads only: the other layers' weights are 0; a layer the model lacks is refused.
    let one = fit_contact_head(
        &examples,
        &ContactFitOptions {
            layers: Some(vec![1]),
            ..options.clone()
        },
    )
    .unwrap();
    assert_eq!(one.regression.weights.len(), model.num_heads());
    for layer in (0..model.num_layers()).filter(|&l| l != 1) {
        assert!(one.head.layer_weights(layer).iter().all(|&w| w == 0.0));
    }
    let kept = one
        .head
        .layer_weights(1)
        .iter()
        .filter(|&&w| w != 0.0)
        .count();
    let fitted = one.regression.weights.iter().filter(|&&w| w != 0.0).count();
    assert_eq!(kept, fitted);
    let beyond = ContactFitOptions {
        layers: Some(vec![model.num_layers()]),
        ..options
    };
    assert!(fit_contact_head(&examples, &beyond).is_err());
}

/// `contacts-fit` on a structure gives a model without a contact head one that
/// `contacts-predict --contact-head` uses; a head of another shape, or a file that is not a
/// head, is refused with what to do.
#[test]
fn contacts_fit_cli_fits_a_head_that_predict_uses_and_other_models_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let structures = tmp.path().join("structures");
    std::fs::create_dir(&structures).unwrap();
    std::fs::copy(
        fixture_file("structure", "2BEG_AB_trimmed.pdb"),
        structures.join("2BEG_AB_trimmed.pdb"),
    )
    .unwrap();
    let head = tmp.path().join("head.safetensors");
    let model = model_fixture("bert_cls");
    let (ok, err) = protscope(&[
        "contacts-fit",
        "--model",
        model.to_str().unwrap(),
        "--structures",
        structures.to_str().unwrap(),
        "--chain",
        "A",
        "--contact-atom",
        "ca",
        "--cutoff",
        "10",
        "--l1",
        "1",
        "--out",
        head.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (fitted, header) = protscope::model::ContactHead::read(&head).unwrap();
    let dims = load_fixture_model("bert_cls");
    assert_eq!(
        (fitted.num_layers(), fitted.num_heads()),
        (dims.num_layers(), dims.num_heads())
    );
    assert_eq!(header["structures"].to_lowercase(), "2beg_ab_trimmed.a");
    assert_eq!(header["model_sha256"].len(), 64);
    let out = tmp.path().join("predicted.csv");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model.to_str().unwrap(),
        "--structures",
        structures.to_str().unwrap(),
        "--chain",
        "A",
        "--contact-head",
        head.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let predicted = protscope::frame::read_table(&out).unwrap();
    assert!(predicted.height() > 0);

    let fasta = tmp.path().join("in.fasta");
    std::fs::write(&fasta, ">p\nMKTAYIAKQRQISFVK\n").unwrap();
    let other = model_fixture("pub_esm2");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        other.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--contact-head",
        head.to_str().unwrap(),
        "--out",
        tmp.path().join("x.csv").to_str().unwrap(),
    ]);
    let esm = load_fixture_model("pub_esm2");
    if (esm.num_layers(), esm.num_heads()) != (dims.num_layers(), dims.num_heads()) {
        assert!(!ok);
        assert!(
            err.contains("head.safetensors") && err.contains("contacts-fit"),
            "{err}"
        );
    } else {
        assert!(ok && err.contains("fitted on other weights"), "{err}");
    }
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--contact-head",
        fasta.to_str().unwrap(),
        "--out",
        tmp.path().join("y.csv").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("not a contact head file"), "{err}");
}

/// The categorical Jacobian's couplings equal the reference notebook's `get_contacts` on HF
/// transformers logits (scripts/make_jacobian_fixtures.py), for ESM-2 and BERT, whatever the
/// batch of substituted sequences; and its raw entries equal logits differences.
#[test]
fn categorical_jacobian_couplings_match_the_reference() {
    use protscope::attribution::categorical_jacobian::{categorical_jacobian, AMINO_ACIDS};
    let path = fixtures().join("contacts/jacobian_cases.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut worst = 0f64;
    for case in json["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let model = ProteinModel::load(&model_fixture(name), &Device::Cpu).unwrap();
        let sequence = case["sequence"].as_str().unwrap();
        let seq = model.encode_sequence(name, sequence, None).unwrap();
        let n = seq.residues.len();
        for batch_size in [7, 64] {
            let mut passes = 0;
            let jacobian =
                categorical_jacobian(&model, &seq, batch_size, &mut |k| passes += k).unwrap();
            assert_eq!(passes, 20 * n);
            for entry in case["jacobian_entries"].as_array().unwrap() {
                let e = numbers(entry);
                let (i, a, j, b) = (e[0] as usize, e[1] as usize, e[2] as usize, e[3] as usize);
                let got = jacobian.values[((i * AMINO_ACIDS.len() + a) * n + j) * 20 + b] as f64;
                assert!(
                    (got - e[4]).abs() <= 1e-4 * e[4].abs().max(1.0),
                    "{name} J[{i},{a},{j},{b}]: {got} vs {}",
                    e[4]
                );
            }
            let map = jacobian.couplings().unwrap();
            let want: Vec<Vec<f64>> = case["couplings"]
                .as_array()
                .unwrap()
                .iter()
                .map(numbers)
                .collect();
            let scale = want
                .iter()
                .flatten()
                .fold(0f64, |m, v| m.max(v.abs()))
                .max(1e-12);
            assert_eq!(want.len(), n);
            for (i, row) in want.iter().enumerate() {
                for (j, &expected) in row.iter().enumerate() {
                    let d = (map.get(i, j) as f64 - expected).abs() / scale;
                    worst = worst.max(d);
                    assert!(
                        d <= 1e-4,
                        "{name} ({i}, {j}): {} vs {expected}",
                        map.get(i, j)
                    );
                }
            }
        }
    }
    eprintln!("categorical Jacobian: largest difference to the reference {worst:.1e} of the largest coupling");
}

/// `contacts-predict --method jacobian` writes a `score` per pair, which `contacts-eval`
/// ranks like probabilities; a model without a masked-LM output is refused by name.
#[test]
fn contacts_predict_jacobian_cli_writes_scores_and_refuses_classifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_fixture("pub_esm2");
    let refs = reference_sequences(&dir);
    let fasta = tmp.path().join("in.fasta");
    std::fs::write(&fasta, format!(">{}\n{}\n", refs[0].id, refs[0].sequence)).unwrap();
    let out = tmp.path().join("couplings.csv");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        dir.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--method",
        "jacobian",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(out.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, ["protein", "i", "j", "score"]);
    let n = refs[0].sequence.len();
    assert_eq!(df.height(), n * (n - 1) / 2);
    protscope::frame::schema::CONTACT_COUPLINGS
        .conforms(&df, "couplings.csv")
        .unwrap();

    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model_fixture("bert_cls").to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--method",
        "jacobian",
        "--out",
        tmp.path().join("none.csv").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("masked-language-model"), "{err}");
}

/// `contacts-layers` fits a head per layer and one on all layers on the first structures and
/// scores the rest; its all-layer row equals contacts-fit → contacts-predict → contacts-eval on
/// the same split, and its figure is drawn.
#[test]
fn contacts_layers_cli_matches_fit_predict_eval_and_draws_its_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = (tmp.path().join("train"), tmp.path().join("all"));
    std::fs::create_dir(&train).unwrap();
    std::fs::create_dir(&test).unwrap();
    let source = fixture_file("structure", "2BEG_AB_trimmed.pdb");
    // Three copies (each file's first chain): s1 is trained on (the first name), s2 and s3
    // scored.
    for name in ["s1", "s2", "s3"] {
        std::fs::copy(&source, test.join(format!("{name}.pdb"))).unwrap();
    }
    std::fs::copy(&source, train.join("s1.pdb")).unwrap();
    let scored = tmp.path().join("scored");
    std::fs::create_dir(&scored).unwrap();
    for name in ["s2", "s3"] {
        std::fs::copy(&source, scored.join(format!("{name}.pdb"))).unwrap();
    }
    let model = model_fixture("bert_cls");
    let common = ["--contact-atom", "ca", "--cutoff", "10", "--l1", "1"];
    let out = tmp.path().join("layers.csv");
    let figure = tmp.path().join("layers.svg");
    let mut args = vec![
        "contacts-layers",
        "--model",
        model.to_str().unwrap(),
        "--structures",
        test.to_str().unwrap(),
        "--train",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--figure",
        figure.to_str().unwrap(),
    ];
    args.extend(common);
    let (ok, err) = protscope(&args);
    assert!(ok, "{err}");
    assert!(figure.exists() && figure.with_extension("png").exists());
    let table = protscope::frame::read_table(&out).unwrap();
    protscope::frame::schema::CONTACT_LAYERS
        .conforms(&table, "layers.csv")
        .unwrap();
    let layers = load_fixture_model("bert_cls").num_layers();
    assert_eq!(
        table.height(),
        (layers + 1) * 4,
        "four ranges per fitted head"
    );
    let layer = table.column("layer").unwrap().i64().unwrap().clone();
    let range = table.column("range").unwrap().str().unwrap().clone();
    let p_at_l = table.column("p_at_l").unwrap().f64().unwrap().clone();
    let proteins = table.column("proteins").unwrap().i64().unwrap().clone();
    assert!((0..proteins.len()).all(|r| proteins.get(r) == Some(2)));

    // The same split by hand.
    let head = tmp.path().join("head.safetensors");
    let mut args = vec![
        "contacts-fit",
        "--model",
        model.to_str().unwrap(),
        "--structures",
        train.to_str().unwrap(),
        "--out",
        head.to_str().unwrap(),
    ];
    args.extend(common);
    let (ok, err) = protscope(&args);
    assert!(ok, "{err}");
    let predicted = tmp.path().join("predicted.csv");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model.to_str().unwrap(),
        "--structures",
        scored.to_str().unwrap(),
        "--contact-head",
        head.to_str().unwrap(),
        "--out",
        predicted.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let evaluation = tmp.path().join("eval.csv");
    let (ok, err) = protscope(&[
        "contacts-eval",
        "--predictions",
        predicted.to_str().unwrap(),
        "--structures",
        scored.to_str().unwrap(),
        "--contact-atom",
        "ca",
        "--cutoff",
        "10",
        "--out",
        evaluation.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let means = protscope::frame::read_table(&tmp.path().join("eval.mean.csv")).unwrap();
    let mean_range = means.column("range").unwrap().str().unwrap().clone();
    let mean_p = means.column("p_at_l").unwrap().f64().unwrap().clone();
    let mut compared = 0;
    for r in 0..table.height() {
        if layer.get(r).is_some() {
            continue;
        }
        let name = range.get(r).unwrap();
        let k = (0..means.height())
            .find(|&k| mean_range.get(k) == Some(name))
            .unwrap();
        let (a, b) = (p_at_l.get(r).unwrap(), mean_p.get(k).unwrap());
        assert!((a - b).abs() < 1e-6, "{name}: {a} vs {b}");
        compared += 1;
    }
    assert_eq!(compared, 4);
}

/// A sequence that is not the structure's chain is refused by `contacts-eval` (the alignment
/// would otherwise place the chain's residues somewhere and score nonsense).
#[test]
fn contacts_eval_refuses_a_sequence_of_another_protein() {
    let tmp = tempfile::tempdir().unwrap();
    let structures = tmp.path().join("s");
    std::fs::create_dir(&structures).unwrap();
    std::fs::copy(
        fixture_file("structure", "2BEG_AB_trimmed.pdb"),
        structures.join("2beg.pdb"),
    )
    .unwrap();
    let fasta = tmp.path().join("in.fasta");
    // Not amyloid-β 17-42 (2BEG): another protein of about the same length.
    std::fs::write(&fasta, ">2beg.A\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n").unwrap();
    let predictions = tmp.path().join("p.csv");
    let (ok, err) = protscope(&[
        "contacts-predict",
        "--model",
        model_fixture("pub_esm2").to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        predictions.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, err) = protscope(&[
        "contacts-eval",
        "--predictions",
        predictions.to_str().unwrap(),
        "--structures",
        structures.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        tmp.path().join("e.csv").to_str().unwrap(),
    ]);
    assert!(!ok, "scored a foreign sequence");
    assert!(
        err.contains("do not match the sequence") && err.contains("2beg.pdb"),
        "{err}"
    );
}
