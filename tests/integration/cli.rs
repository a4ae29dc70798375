//! The `protscope` binary end to end on the tiny fixture models.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use polars::prelude::*;
use protscope::frame::read_table;

fn protscope(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_fasta(dir: &Path, records: &[(&str, &str)]) -> String {
    let path = dir.join("in.fasta");
    let text: String = records
        .iter()
        .map(|(id, s)| format!(">{id} some description\n{s}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn columns(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn attention_table_has_documented_columns_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = write_fasta(tmp.path(), &[("p1", "MKTAYIAK"), ("p2", "QVQLKES")]);
    let model = model_fixture("bert_cls");
    let out = tmp.path().join("a.csv");
    let (ok, _, err) = protscope(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    assert_eq!(
        columns(&df),
        ["protein", "layer", "head", "from", "to", "weight"]
    );
    // 2 layers × 4 heads × (8² + 7²) residue pairs, specials dropped.
    assert_eq!(df.height(), 2 * 4 * (64 + 49));
    let from = df.column("from").unwrap().i64().unwrap();
    assert_eq!((from.min(), from.max()), (Some(1), Some(8)));

    let out2 = tmp.path().join("a.parquet");
    let (ok, _, err) = protscope(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out2.to_str().unwrap(),
        "--layers",
        "1",
        "--heads",
        "0,2",
        "--min-attn",
        "0.2",
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out2).unwrap();
    let layers = df.column("layer").unwrap().i64().unwrap();
    assert_eq!((layers.min(), layers.max()), (Some(1), Some(1)));
    assert!(df.column("weight").unwrap().f32().unwrap().min().unwrap() >= 0.2);
    let heads: Vec<i64> = df
        .column("head")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert!(heads.iter().all(|h| *h == 0 || *h == 2));

    let (ok, _, err) = protscope(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out2.to_str().unwrap(),
        "--layers",
        "7",
    ]);
    assert!(!ok && err.contains("layer 7 does not exist"), "{err}");
}

#[test]
fn predict_and_embed() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = write_fasta(tmp.path(), &[("h1", "EVQLVESGGG"), ("l1", "DIQMTQSP")]);
    let model = model_fixture("antiberty_tiny");
    let out = tmp.path().join("p.csv");
    let (ok, _, err) = protscope(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    assert_eq!(
        columns(&df),
        ["protein", "output", "class", "label", "logit", "prob"]
    );
    // species (6) + chain (2) + graft (2) rows per protein; mlm is per token and skipped.
    assert_eq!(df.height(), 2 * 10);
    let labels: Vec<Option<&str>> = df.column("label").unwrap().str().unwrap().iter().collect();
    assert!(labels.contains(&Some("Rabbit")) && labels.contains(&None));

    let out = tmp.path().join("e.parquet");
    let (ok, _, err) = protscope(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
        "--layers",
        "-1,1",
        "--pool",
        "mean",
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    assert_eq!(columns(&df), ["protein", "layer", "position", "embedding"]);
    assert_eq!(df.height(), 4);
    let first = df
        .column("embedding")
        .unwrap()
        .list()
        .unwrap()
        .get_as_series(0)
        .unwrap();
    assert_eq!(first.len(), 16);
}

#[test]
fn bad_inputs_fail_with_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixture("antiberty_tiny");
    let fasta = write_fasta(tmp.path(), &[("ok", "EVQL"), ("bad_one", "EVQ1L")]);
    let out = tmp.path().join("x.csv");
    let (ok, _, err) = protscope(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("bad_one") && err.contains("position 4"),
        "{err}"
    );
    assert!(!out.exists());

    let empty = tmp.path().join("empty.fasta");
    std::fs::write(&empty, "").unwrap();
    let (ok, _, err) = protscope(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        empty.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no FASTA records"), "{err}");

    let (ok, _, err) = protscope(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        &fasta,
        "--out",
        "x.xlsx",
        "--device",
        "cuda",
    ]);
    assert!(
        !ok && (err.contains("--features cuda") || err.contains("cuda")),
        "{err}"
    );

    let (ok, _, err) = protscope(&[
        "predict",
        "--model",
        "/nonexistent",
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("model folder not found"), "{err}");
}

fn attribute_args<'a>(model: &'a str, fasta: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "attribute",
        "--model",
        model,
        "--fasta",
        fasta,
        "--output",
        "species",
        "--target",
        "Human",
        "--steps",
        "6",
        "--latent",
        "--out",
        out,
    ]
}

/// Resuming: a run stopped after one protein and re-run gives exactly the rows of an
/// uninterrupted run; re-running a finished job computes nothing and changes nothing.
#[test]
fn attribute_is_resumable_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixture("antiberty_tiny");
    let model = model.to_str().unwrap();
    let fasta = write_fasta(
        tmp.path(),
        &[("h1", "EVQLVESGGG"), ("l1", "DIQMTQSP"), ("h2", "QVQLQESG")],
    );

    let full = tmp.path().join("full.parquet");
    let (ok, _, err) = protscope(&attribute_args(model, &fasta, full.to_str().unwrap()));
    assert!(ok, "{err}");
    let full_rows = read_table(&full).unwrap();
    assert_eq!(
        columns(&full_rows),
        [
            "protein",
            "layer",
            "head",
            "position",
            "residue",
            "relevance"
        ]
    );
    // (1 embedding + 2 layers × 4 heads) blocks × (n + 2) positions.
    assert_eq!(full_rows.height(), 9 * (12 + 10 + 10));
    let summary = read_table(&tmp.path().join("full.summary.parquet")).unwrap();
    assert_eq!(
        columns(&summary),
        [
            "protein",
            "output",
            "target",
            "f_input",
            "f_baseline",
            "delta",
            "steps",
            "method",
            "baseline",
            "latent_derivative",
            "max_delta",
            "converged"
        ]
    );
    assert_eq!(summary.height(), 3);

    let resumed = tmp.path().join("resumed.parquet");
    let mut args = attribute_args(model, &fasta, resumed.to_str().unwrap());
    args.extend(["--max-proteins", "1"]);
    let (ok, _, err) = protscope(&args);
    assert!(ok && err.contains("run the same command again"), "{err}");
    assert!(!resumed.exists(), "output appears only when complete");
    let (ok, _, err) = protscope(&attribute_args(model, &fasta, resumed.to_str().unwrap()));
    assert!(
        ok && err.contains("2 computed now, 1 from an earlier run"),
        "{err}"
    );
    assert!(read_table(&resumed).unwrap().equals(&full_rows));

    let (ok, _, err) = protscope(&attribute_args(model, &fasta, resumed.to_str().unwrap()));
    assert!(
        ok && err.contains("0 computed now, 3 from an earlier run"),
        "{err}"
    );
    assert!(read_table(&resumed).unwrap().equals(&full_rows));

    // Same output with other settings is refused rather than mixed.
    let mut other = attribute_args(model, &fasta, resumed.to_str().unwrap());
    other[10] = "8";
    let (ok, _, err) = protscope(&other);
    assert!(!ok && err.contains("other settings"), "{err}");

    let mut exact = attribute_args(model, &fasta, resumed.to_str().unwrap());
    exact.extend(["--latent-derivative", "exact"]);
    let (ok, _, err) = protscope(&exact);
    assert!(!ok && err.contains("other settings"), "{err}");

    // The exact latent derivative: same table shape, same embedding level, its own label.
    let exact_out = tmp.path().join("exact.parquet");
    let mut exact = attribute_args(model, &fasta, exact_out.to_str().unwrap());
    exact.extend(["--latent-derivative", "exact"]);
    let (ok, _, err) = protscope(&exact);
    assert!(ok, "{err}");
    let exact_rows = read_table(&exact_out).unwrap();
    assert_eq!(exact_rows.height(), full_rows.height());
    let embedding_level = |df: &DataFrame| {
        let mask = df.column("layer").unwrap().i64().unwrap().equal(-1);
        df.filter(&mask).unwrap()
    };
    assert!(embedding_level(&exact_rows).equals(&embedding_level(&full_rows)));
    let exact_summary = read_table(&tmp.path().join("exact.summary.parquet")).unwrap();
    let labels = exact_summary.column("latent_derivative").unwrap();
    assert_eq!(labels.str().unwrap().get(0), Some("exact"));

    let mut without_latent = attribute_args(model, &fasta, exact_out.to_str().unwrap());
    without_latent.retain(|a| *a != "--latent");
    without_latent.extend(["--latent-derivative", "exact"]);
    let (ok, _, err) = protscope(&without_latent);
    assert!(!ok && err.contains("--latent"), "{err}");

    // Summaries from before the max_delta/converged columns (fixed steps), and from before the
    // latent_derivative column too (finite differences only), resume; both are from before 0.2,
    // when the `output` column was called `head`.
    for dropped in [
        &["max_delta", "converged"][..],
        &["latent_derivative", "max_delta", "converged"],
    ] {
        let legacy = tmp.path().join("legacy.parquet");
        std::fs::copy(&full, &legacy).unwrap();
        let mut old_summary = summary.clone();
        for column in dropped {
            old_summary.drop_in_place(column).unwrap();
        }
        old_summary.rename("output", "head".into()).unwrap();
        protscope::frame::write_table(&mut old_summary, &tmp.path().join("legacy.summary.parquet"))
            .unwrap();
        let (ok, _, err) = protscope(&attribute_args(model, &fasta, legacy.to_str().unwrap()));
        assert!(
            ok && err.contains("0 computed now, 3 from an earlier run"),
            "{dropped:?}: {err}"
        );
        let rewritten = read_table(&tmp.path().join("legacy.summary.parquet")).unwrap();
        assert!(rewritten.equals_missing(&summary), "{dropped:?}");
    }

    let mut bad_target = attribute_args(model, &fasta, resumed.to_str().unwrap());
    bad_target[8] = "Dog";
    let (ok, _, err) = protscope(&bad_target);
    assert!(!ok && err.contains("no class `Dog`"), "{err}");
}

/// ALBERT, ESM C, T5 and XLNet go through the same commands as BERT: attention, heads, attribute
/// --latent, relevance-stats, flip and the report, on their tiny fixture models.
#[test]
fn every_architecture_runs_the_analysis_commands_and_the_report() {
    let records = [
        ("p1", "MKTAYIAKQRQISFVK", vec![2, 5, 9]),
        ("p2", "QVQLKESGPGLVAPSQ", vec![1, 4]),
        ("p3", "GSHMASMTGGQQMG", vec![3, 7, 8]),
    ];
    for (name, target) in [
        ("albert_cls", "1"),
        ("esmc_tiny", "0"),
        ("t5_gated", "1"),
        ("xlnet_cls", "1"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let fasta_records: Vec<(&str, &str)> = records.iter().map(|(i, s, _)| (*i, *s)).collect();
        let fasta = write_fasta(tmp.path(), &fasta_records);
        let sites = tmp.path().join("sites.jsonl");
        let lines: Vec<String> = records
            .iter()
            .map(|(id, seq, s)| {
                serde_json::json!({"id": id, "sequence": seq, "sites": s}).to_string()
            })
            .collect();
        std::fs::write(&sites, lines.join("\n") + "\n").unwrap();
        let (sites, model) = (sites.to_str().unwrap(), model_fixture(name));
        let model = model.to_str().unwrap();
        let path = |file: &str| run.join(file).to_string_lossy().into_owned();
        let commands: Vec<Vec<String>> = vec![
            vec![
                "attention",
                "--model",
                model,
                "--fasta",
                &fasta,
                "--out",
                &path("attention.parquet"),
            ],
            vec![
                "heads",
                "--model",
                model,
                "--sites",
                sites,
                "--min-total",
                "1",
                "--max-len",
                "60",
                "--out",
                &path("heads.parquet"),
            ],
            vec![
                "attribute",
                "--model",
                model,
                "--fasta",
                &fasta,
                "--output",
                "classifier",
                "--target",
                target,
                "--steps",
                "4",
                "--latent",
                "--out",
                &path("attributions.parquet"),
            ],
            vec![
                "relevance-stats",
                "--attributions",
                &path("attributions.parquet"),
                "--sites",
                sites,
                "--out",
                &path("relevance.parquet"),
            ],
            vec![
                "flip",
                "--model",
                model,
                "--attributions",
                &path("attributions.parquet"),
                "--fasta",
                &fasta,
                "--output",
                "classifier",
                "--target",
                target,
                "--k",
                "1,3",
                "--out",
                &tmp.path().join("flip.csv").to_string_lossy(),
            ],
            vec![
                "report",
                "--from",
                run.to_str().unwrap(),
                "--out",
                &path("report.html"),
            ],
        ]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect();
        for command in &commands {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            let (ok, _, err) = protscope(&args);
            assert!(ok, "{name}: `protscope {}` failed:\n{err}", args[0]);
        }
        // Every table these commands wrote follows its schema.
        assert!(assert_tables_conform(&run) >= 5, "{name}: tables checked");
        assert_eq!(
            assert_tables_conform(tmp.path()),
            2,
            "{name}: flip table and its AOPC"
        );
        let attention = read_table(&run.join("attention.parquet")).unwrap();
        let model_dims =
            protscope::model::ProteinModel::load(&model_fixture(name), &candle_core::Device::Cpu)
                .unwrap();
        let pairs: usize = records.iter().map(|(_, s, _)| s.len() * s.len()).sum();
        assert_eq!(
            attention.height(),
            model_dims.num_layers() * model_dims.num_heads() * pairs,
            "{name}: one row per layer, head and residue pair"
        );
        // Positions are residues 1..=n, plus 0 for a leading special token and n+1 (XLNet:
        // n+1, n+2) for the final ones; T5 and XLNet have no leading special token.
        let attributions = read_table(&run.join("attributions.parquet")).unwrap();
        let positions = attributions.column("position").unwrap().i64().unwrap();
        let (min, max) = (positions.min().unwrap(), positions.max().unwrap());
        let tokenizer = &model_dims.tokenizer;
        let expected_min = i64::from(tokenizer.first_token.is_none());
        let expected_max = 16 + tokenizer.final_tokens.len() as i64;
        assert_eq!(
            (min, max),
            (expected_min, expected_max),
            "{name}: position range"
        );
        // Flipping found each protein's residues between the special tokens.
        let flips = read_table(&tmp.path().join("flip.csv")).unwrap();
        assert_eq!(
            flips.height(),
            2 * records.len(),
            "{name}: one row per protein and k"
        );
        let html = std::fs::read_to_string(run.join("report.html")).unwrap();
        assert!(html.contains("<svg"), "{name}: report without figures");
    }
}

/// `score`: pseudo-log-likelihood for a masked LM, IgLM's causal rule for a decoder with
/// `--prefix`; `--per-residue` writes one row per scored residue.
#[test]
fn score_writes_sequence_and_residue_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = write_fasta(tmp.path(), &[("h1", "EVQLVESGG"), ("h2", "QVQLQES")]);
    for (name, prefix, method, per_residue_rows) in [
        ("roberta_mlm", None, "pseudo", 16),
        // Causal: the residues after the prefix and the closing [SEP] are scored.
        ("gpt2_lm", Some("[HEAVY] [HUMAN]"), "causal", 16),
    ] {
        let out = tmp.path().join(format!("{name}.csv"));
        let residues = tmp.path().join(format!("{name}.residues.csv"));
        let model = model_fixture(name);
        let mut args = vec![
            "score",
            "--model",
            model.to_str().unwrap(),
            "--fasta",
            &fasta,
            "--out",
            out.to_str().unwrap(),
            "--per-residue",
            residues.to_str().unwrap(),
        ];
        if let Some(p) = prefix {
            args.extend(["--prefix", p]);
        }
        let (ok, _, err) = protscope(&args);
        assert!(ok, "{name}: {err}");
        let df = read_table(&out).unwrap();
        assert_eq!(
            columns(&df),
            [
                "protein",
                "n_scored",
                "log_likelihood",
                "mean_log_likelihood",
                "perplexity",
                "method"
            ]
        );
        assert_eq!(
            df.column("method").unwrap().str().unwrap().get(0),
            Some(method)
        );
        let n: Vec<i64> = df
            .column("n_scored")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let want = if method == "causal" { [10, 8] } else { [9, 7] };
        assert_eq!(n, want, "{name}");
        let r = read_table(&residues).unwrap();
        assert_eq!(r.height(), per_residue_rows, "{name}");
        let positions: Vec<i64> = r
            .column("position")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .take(3)
            .collect();
        assert_eq!(
            positions,
            [1, 2, 3],
            "{name}: positions are 1-based residues"
        );
    }
}

/// A causal decoder's attention table: prefix tokens and the closing token dropped, positions
/// 1-based residues, nothing above the diagonal.
#[test]
fn causal_attention_table_drops_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = write_fasta(tmp.path(), &[("h1", "EVQLVES")]);
    let model = model_fixture("gpt2_lm");
    let out = tmp.path().join("a.csv");
    let (ok, _, err) = protscope(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        "--prefix",
        "[HEAVY] [HUMAN]",
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    // 2 layers × 4 heads × 7² residue pairs.
    assert_eq!(df.height(), 2 * 4 * 49);
    let from = df.column("from").unwrap().i64().unwrap();
    let to = df.column("to").unwrap().i64().unwrap();
    let weight = df.column("weight").unwrap().f64().unwrap();
    for i in 0..df.height() {
        let (f, t, w) = (
            from.get(i).unwrap(),
            to.get(i).unwrap(),
            weight.get(i).unwrap(),
        );
        assert!((1..=7).contains(&f) && (1..=7).contains(&t));
        if t > f {
            assert_eq!(w, 0.0, "key {t} after query {f}");
        }
    }
    let (ok, _, err) = protscope(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        "--prefix",
        "[HEAVY] [DOG]",
        "--fasta",
        &fasta,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("[DOG]"), "{err}");
}

/// `fetch iglm` shows the licence and stops, saying how to accept it; nothing is downloaded.
#[test]
fn fetch_iglm_without_accepting_the_licence_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, err) = protscope(&["fetch", "iglm", "--dir", tmp.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(err.contains("JHU Academic Software License"), "{err}");
    assert!(err.contains("--accept-licence"), "{err}");
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

/// `attribute` on a causal decoder: `--target loglik` attributes the sequence log-likelihood,
/// `--target K` residue K's log-probability; a position past the sequence is refused.
#[test]
fn attribute_decoder_log_likelihood_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = write_fasta(tmp.path(), &[("h1", "EVQLVES")]);
    let model = model_fixture("gpt2_lm");
    let model = model.to_str().unwrap();
    for (target, ok_expected) in [("loglik", true), ("3", true), ("9", false), ("x", false)] {
        let out = tmp.path().join(format!("ig_{target}.parquet"));
        let (ok, _, err) = protscope(&[
            "attribute",
            "--model",
            model,
            "--prefix",
            "[HEAVY] [HUMAN]",
            "--fasta",
            &fasta,
            "--output",
            "lm",
            "--target",
            target,
            "--steps",
            "6",
            "--latent",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(ok, ok_expected, "--target {target}: {err}");
        if ok {
            let df = read_table(&out).unwrap();
            let positions = df.column("position").unwrap().i64().unwrap();
            assert!(positions.into_no_null_iter().any(|p| p == 7));
        }
    }
}
