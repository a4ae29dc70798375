//! `protscope relevance-stats` on the statistics fixtures (expected values from the Python
//! reference in scripts/make_stats_fixtures.py) and `protscope flip` on the tiny models.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use candle_core::Device;
use polars::prelude::*;
use protscope::attribution::flip::{
    aopc, flip_residues, residue_relevance, FlipOptions, Replacement,
};
use protscope::frame::{read_table, schema};
use protscope::model::ProteinModel;

fn f64_column(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

/// JSONL site sets for the stats fixture: sequences from the table's residues (embedding-level
/// rows), sites from annotations.json; `mutate` changes one protein's sequence.
fn write_sites(dir: &Path, mutate: Option<&str>) -> String {
    let stats = fixtures().join("stats");
    let table = read_table(&stats.join("attributions.csv")).unwrap();
    let residues = residue_relevance(&table, protscope::model::Level::Embedding).unwrap();
    let annotations: BTreeMap<String, Vec<usize>> =
        serde_json::from_str(&std::fs::read_to_string(stats.join("annotations.json")).unwrap())
            .unwrap();
    let mut text = String::new();
    for (protein, (_, seq)) in &residues {
        let mut seq = seq.clone().unwrap();
        if mutate == Some(protein.as_str()) {
            let first = if seq.starts_with('W') { "A" } else { "W" };
            seq.replace_range(0..1, first);
        }
        let sites = annotations.get(protein).cloned().unwrap_or_default();
        text.push_str(
            &serde_json::json!({"id": protein, "sequence": seq, "sites": sites}).to_string(),
        );
        text.push('\n');
    }
    let path = dir.join(format!("sites_{}.jsonl", mutate.unwrap_or("all")));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn relevance_stats_cli_matches_python_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let sites = write_sites(tmp.path(), None);
    let attributions = fixtures().join("stats/attributions.csv");
    let out = tmp.path().join("rs.csv");
    let (ok, err) = protscope(&[
        "relevance-stats",
        "--attributions",
        attributions.to_str().unwrap(),
        "--sites",
        &sites,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("P12"),
        "protein without sites is reported: {err}"
    );
    let got = read_table(&out).unwrap();
    let expected = read_table(&fixtures().join("stats/relevance_expected.csv")).unwrap();
    assert_eq!(got.height(), expected.height());
    for name in [
        "layer",
        "head",
        "n_proteins",
        "mean_r",
        "median_r",
        "t_p",
        "t_p_fdr",
        "mean_rra",
        "wilcoxon_p",
        "wilcoxon_p_fdr",
    ] {
        let (g, e) = (f64_column(&got, name), f64_column(&expected, name));
        for (a, b) in g.iter().zip(&e) {
            assert!(
                (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{name}: {a} vs {b}"
            );
        }
    }
    let sig = |df: &DataFrame| -> Vec<Option<bool>> {
        df.column("significant")
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .collect()
    };
    assert_eq!(sig(&got), sig(&expected));
    assert!(tmp.path().join("rs.per_protein.csv").exists());

    // A protein whose annotated sequence differs is left out, with a message naming it.
    let mutated = write_sites(tmp.path(), Some("P03"));
    let out2 = tmp.path().join("rs2.csv");
    let (ok, err) = protscope(&[
        "relevance-stats",
        "--attributions",
        attributions.to_str().unwrap(),
        "--sites",
        &mutated,
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("left out") && err.contains("P03") && err.contains("differs"),
        "{err}"
    );
    let n = f64_column(&read_table(&out2).unwrap(), "n_proteins");
    assert_eq!(n[0], f64_column(&got, "n_proteins")[0] - 1.0);

    // Neither --sites nor --uniprot: a usage error, no panic.
    let (ok, err) = protscope(&[
        "relevance-stats",
        "--attributions",
        attributions.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("required"), "{err}");
}

fn write_attributions(dir: &Path, protein: &str, relevance: &[f64], residues: &str) -> String {
    let n = residues.len();
    let mut tokens = vec!["[CLS]".to_string()];
    tokens.extend(residues.chars().map(|c| c.to_string()));
    tokens.push("[SEP]".into());
    let mut values = vec![0.0];
    values.extend_from_slice(relevance);
    values.push(0.0);
    let mut df = df!(
        "protein" => vec![protein; n + 2],
        "layer" => vec![-1i64; n + 2],
        "head" => vec![-1i64; n + 2],
        "position" => (0..n as i64 + 2).collect::<Vec<_>>(),
        "residue" => tokens,
        "relevance" => values,
    )
    .unwrap();
    let path = dir.join("attr.parquet");
    protscope::frame::write_table(&mut df, &path).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn flip_numbers_are_consistent() {
    let model = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    let seq = model
        .encode_sequence("p1", "MKTAYIAKQRQISFVKSHFSRQ", None)
        .unwrap();
    let n = seq.residues.len();
    // Monotone relevance: the last residues are the most relevant.
    let relevance: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let options = FlipOptions {
        ks: vec![0, 3, n, n + 5],
        random_repeats: 4,
        seed: 11,
        batch_size: 3,
        ..Default::default()
    };
    let rows = flip_residues(&model, &seq, "classifier", 1, &relevance, &options).unwrap();
    assert_eq!(rows.len(), 4);
    // k = 0 flips nothing: both drops are exactly zero.
    assert_eq!(rows[0].n_flipped, 0);
    assert_eq!(rows[0].drop_top, 0.0);
    assert_eq!(rows[0].drop_random, 0.0);
    assert!(rows[0].top_positions.is_empty());
    // The top 3 of a monotone relevance are the last three residues.
    assert_eq!(rows[1].top_positions, vec![n - 2, n - 1, n]);
    assert!(rows[1].drop_top != 0.0);
    // Flipping every residue: top and random flips are the same input.
    assert_eq!(rows[2].n_flipped, n);
    assert!((rows[2].logit_top - rows[2].logit_random_mean).abs() < 1e-5);
    assert!(rows[2].logit_random_sd < 1e-5);
    assert_eq!(rows[3].n_flipped, n, "k beyond the residue count flips all");

    // The top flip equals a forward pass with those residues replaced by PAD.
    let mut ids = seq.ids.clone();
    for p in &rows[1].top_positions {
        ids[*p] = model.tokenizer.pad_id();
    }
    let batch = model.batch_from_ids(&[ids]).unwrap();
    let out = model.forward(&batch, Default::default()).unwrap();
    let logit = model
        .output_logits("classifier", &out)
        .unwrap()
        .get(0)
        .unwrap()
        .get(1)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert!((rows[1].logit_top - logit).abs() < 1e-5);

    // Seeded: the same seed reproduces the random means, another seed changes them.
    let again = flip_residues(&model, &seq, "classifier", 1, &relevance, &options).unwrap();
    assert_eq!(rows, again);
    let other = FlipOptions {
        seed: 12,
        ..options.clone()
    };
    let moved = flip_residues(&model, &seq, "classifier", 1, &relevance, &other).unwrap();
    assert_ne!(rows[1].logit_random_mean, moved[1].logit_random_mean);
    assert_eq!(rows[1].logit_top, moved[1].logit_top);

    // Wrong relevance length and a token-level head are errors.
    assert!(flip_residues(&model, &seq, "classifier", 1, &relevance[1..], &options).is_err());
    assert!(flip_residues(&model, &seq, "classifier", 9, &relevance, &options).is_err());

    // Alanine, MASK and random amino acids: the top flip is that forward pass; shares of the
    // length resolve to round(share · n); AOPC is the mean drop with the k = 0 step.
    let logit_of = |ids: Vec<u32>| -> f64 {
        let batch = model.batch_from_ids(&[ids]).unwrap();
        let out = model.forward(&batch, Default::default()).unwrap();
        model
            .output_logits("classifier", &out)
            .unwrap()
            .get(0)
            .unwrap()
            .get(1)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let alanine = model.encode_sequence("a", "A", None).unwrap().ids[1];
    for replacement in [Replacement::Alanine, Replacement::Mask, Replacement::Random] {
        let opts = FlipOptions {
            ks: vec![3],
            fractions: vec![0.5],
            replacement,
            method: "test".into(),
            ..options.clone()
        };
        let rows = flip_residues(&model, &seq, "classifier", 1, &relevance, &opts).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].k, (0.5 * n as f64).round() as usize);
        assert_eq!(rows[1].fraction, Some(0.5));
        assert_eq!(rows[0].method, "test");
        let mut ids = seq.ids.clone();
        for p in &rows[0].top_positions {
            let id = match replacement {
                Replacement::Alanine => alanine,
                Replacement::Mask => model.tokenizer.mask_id().unwrap(),
                _ => ids[*p],
            };
            ids[*p] = id;
        }
        if replacement == Replacement::Random {
            // Each flipped residue became one of the 20 amino acids.
            assert!(rows[0].logit_top.is_finite());
        } else {
            assert!(
                (rows[0].logit_top - logit_of(ids)).abs() < 1e-5,
                "{replacement:?}"
            );
        }
        let a = aopc(&rows);
        assert_eq!(a.len(), 1);
        let expected = (rows[0].drop_top + rows[1].drop_top) / 3.0;
        assert!((a[0].aopc_top - expected).abs() < 1e-12);
    }
}

#[test]
fn flip_cli_writes_documented_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let sequence = "MKTAYIAKQRQISFVKSHFSRQ";
    let relevance: Vec<f64> = (0..sequence.len()).map(|i| ((i * 7) % 5) as f64).collect();
    let attributions = write_attributions(tmp.path(), "p1", &relevance, sequence);
    let fasta = tmp.path().join("p.fasta");
    std::fs::write(&fasta, format!(">p1\n{sequence}\n>p2\nMKV\n")).unwrap();
    let model = model_fixture("bert_cls");
    let out = tmp.path().join("flip.csv");
    let args = [
        "flip",
        "--model",
        model.to_str().unwrap(),
        "--attributions",
        &attributions,
        "--fasta",
        fasta.to_str().unwrap(),
        // The pre-0.2 flag for the prediction output (now --output), kept working as an alias.
        "--head",
        "classifier",
        "--target",
        "non-binder",
        "--k",
        "0,2",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, err) = protscope(&args);
    assert!(ok, "{err}");
    assert!(
        err.contains("p2"),
        "a record without attributions is reported: {err}"
    );
    let df = read_table(&out).unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "protein",
            "method",
            "replacement",
            "k",
            "fraction",
            "n_flipped",
            "logit_original",
            "logit_top",
            "logit_random_mean",
            "logit_random_sd",
            "drop_top",
            "drop_random",
            "top_positions"
        ]
    );
    assert_eq!(df.height(), 2);
    // Relevance (i*7)%5 peaks (4) at residues i = 2, 7, 12, 17; the first two win ties.
    let top = df
        .column("top_positions")
        .unwrap()
        .str()
        .unwrap()
        .get(1)
        .unwrap()
        .to_string();
    assert_eq!(top, "3,8");
    assert_eq!(f64_column(&df, "drop_top")[0], 0.0);
    // AOPC beside the table: one row per method and protein.
    let aopc = read_table(&tmp.path().join("flip.aopc.csv")).unwrap();
    assert_eq!(aopc.height(), 1);
    assert!(schema::FLIP_AOPC.matches(&aopc));

    // Two methods' tables, alanine, shares of the length and the curves figure.
    let figure = tmp.path().join("curves.png");
    let second = format!("second={attributions}");
    let mut two = args.to_vec();
    two.splice(5..5, [second.as_str()]);
    two.extend([
        "--replacement",
        "alanine",
        "--figure",
        figure.to_str().unwrap(),
    ]);
    let k = two.iter().position(|a| *a == "--k").unwrap();
    two[k + 1] = "0,2,25%";
    let (ok, err) = protscope(&two);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    assert_eq!(df.height(), 2 * 3);
    let methods: Vec<Option<&str>> = df.column("method").unwrap().str().unwrap().iter().collect();
    assert!(methods.contains(&Some("second")) && methods.contains(&Some("attr")));
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);

    // Attributions of a different sequence: an error naming the protein.
    std::fs::write(&fasta, ">p1\nMKTAYIAKQRQISFVKSHFSRW\n").unwrap();
    let (ok, err) = protscope(&args);
    assert!(!ok && err.contains("p1") && err.contains("differ"), "{err}");
}
