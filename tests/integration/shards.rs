//! `--shard I/N` and `protscope merge`: three shards merged give the rows of the unsharded run.

use std::path::Path;

use crate::common::*;
use polars::prelude::*;
use protscope::frame::read_table;
use protscope::frame::shard::Shard;

const RECORDS: [(&str, &str); 7] = [
    ("h1", "EVQLVESGGGLVQ"),
    ("l1", "DIQMTQSPSSL"),
    ("h2", "QVQLQESGPG"),
    ("k1", "EIVLTQSPGTLSL"),
    ("h3", "EVQLLESGGGL"),
    ("l2", "QSVLTQPPSAS"),
    ("v1", "QVQLQESGGGLVQAG"),
];

/// Rows ordered by protein (the first column: `protein`, or `accession` for regions), keeping
/// each protein's rows in their order: the merged table holds shard after shard, the unsharded
/// one input order, and within a protein both keep the command's order.
fn by_protein(df: &DataFrame) -> DataFrame {
    let key = df.get_column_names()[0].to_string();
    df.sort(
        [key.as_str()],
        SortMultipleOptions::default().with_maintain_order(true),
    )
    .unwrap()
}

/// Runs `args` unsharded into `name.parquet` and as 3 shards into `name/`, merges the folder and
/// checks the merged tables (and side tables `sides`) equal the unsharded ones row for row.
fn check_sharded(tmp: &Path, name: &str, args: &[&str], sides: &[&str]) {
    let whole = tmp.join(format!("{name}.parquet"));
    let mut run = args.to_vec();
    run.extend(["--out", whole.to_str().unwrap()]);
    let (ok, err) = protscope(&run);
    assert!(ok, "{name}: {err}");

    let folder = tmp.join(name);
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut run = args.to_vec();
        run.extend(["--out", folder.to_str().unwrap(), "--shard", &shard]);
        let (ok, err) = protscope(&run);
        assert!(ok, "{name} shard {shard}: {err}");
        assert!(folder
            .join(format!("shard-{i:04}-of-0003.parquet"))
            .is_file());
    }
    let merged = tmp.join(format!("{name}.merged.parquet"));
    let (ok, err) = protscope(&[
        "merge",
        "--input",
        folder.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(ok, "{name} merge: {err}");
    let mut pairs = vec![(whole.clone(), merged.clone())];
    for side in sides {
        pairs.push((
            protscope::frame::side_path(&whole, side),
            protscope::frame::side_path(&merged, side),
        ));
    }
    for (a, b) in pairs {
        let (a, b) = (read_table(&a).unwrap(), read_table(&b).unwrap());
        assert!(a.height() > 0, "{name}: empty table");
        assert_same_rows(name, &by_protein(&a), &by_protein(&b));
    }
}

/// Same columns and rows; floating-point values may differ by f32 rounding (the proteins meet
/// other proteins in padded batches), everything else exactly.
fn assert_same_rows(name: &str, a: &DataFrame, b: &DataFrame) {
    assert_eq!(a.shape(), b.shape(), "{name}: shapes");
    assert_eq!(a.schema(), b.schema(), "{name}: columns");
    for column in a.get_column_names() {
        let (ca, cb) = (a.column(column).unwrap(), b.column(column).unwrap());
        let (sa, sb) = (
            ca.as_materialized_series().clone(),
            cb.as_materialized_series().clone(),
        );
        let (sa, sb) = match sa.dtype() {
            DataType::List(_) => {
                let options = ExplodeOptions {
                    empty_as_null: false,
                    keep_nulls: true,
                };
                (sa.explode(options).unwrap(), sb.explode(options).unwrap())
            }
            _ => (sa, sb),
        };
        if sa.dtype().is_float() {
            let x: Vec<f64> = sa
                .cast(&DataType::Float64)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect();
            let y: Vec<f64> = sb
                .cast(&DataType::Float64)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect();
            assert_eq!(x.len(), y.len(), "{name}: column {}", sa.name());
            for (u, v) in x.iter().zip(&y) {
                assert!(
                    (u - v).abs() <= 1e-5 * (1.0 + u.abs()),
                    "{name}: column {}: {u} vs {v}",
                    sa.name()
                );
            }
        } else {
            assert!(
                sa.equals_missing(&sb),
                "{name}: column {} differs",
                sa.name()
            );
        }
    }
}

#[test]
fn three_shards_merged_equal_the_unsharded_run() {
    // Every shard holds at least one of the records (so the test compares real splits).
    for i in 0..3 {
        assert!(
            RECORDS.iter().any(|(id, _)| Shard::of(id, 3) == i),
            "no record in shard {i}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("in.fasta");
    let text: String = RECORDS
        .iter()
        .map(|(id, s)| format!(">{id}\n{s}\n"))
        .collect();
    std::fs::write(&fasta, text).unwrap();
    let fasta = fasta.to_str().unwrap();
    let model = model_fixture("antiberty_tiny");
    let model = model.to_str().unwrap();
    let common = ["--model", model, "--fasta", fasta];

    let mut args = vec!["predict"];
    args.extend(common);
    check_sharded(tmp.path(), "predict", &args, &[]);

    let mut args = vec!["attention"];
    args.extend(common);
    args.extend(["--min-attn", "0.1"]);
    check_sharded(tmp.path(), "attention", &args, &[]);

    let mut args = vec!["embed"];
    args.extend(common);
    args.extend(["--layers", "all"]);
    check_sharded(tmp.path(), "embed", &args, &[]);

    let mut args = vec!["attribute"];
    args.extend(common);
    args.extend([
        "--output", "species", "--target", "Human", "--steps", "4", "--latent",
    ]);
    check_sharded(tmp.path(), "attribute", &args, &["summary"]);

    // flip reads the merged attributions and shards the FASTA again.
    let attributions = tmp.path().join("attribute.merged.parquet");
    let mut args = vec![
        "flip",
        "--attributions",
        attributions.to_str().unwrap(),
        "--output",
        "species",
        "--target",
        "Human",
        "--k",
        "1,2",
        "--random-repeats",
        "2",
    ];
    args.extend(common);
    check_sharded(tmp.path(), "flip", &args, &[]);

    // regions: no model, real antibodies.
    let antibodies = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/antibodies_171.fasta");
    let args = vec!["regions", "--fasta", antibodies.to_str().unwrap()];
    check_sharded(tmp.path(), "regions", &args, &[]);

    // A missing shard is named; nothing is written.
    std::fs::remove_file(tmp.path().join("predict/shard-0001-of-0003.parquet")).unwrap();
    let out = tmp.path().join("incomplete.parquet");
    let (ok, err) = protscope(&[
        "merge",
        "--input",
        tmp.path().join("predict").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("shard-0001-of-0003.parquet") && err.contains("--shard I/3"),
        "{err}"
    );
    assert!(!out.exists());

    // --out that is a file, and a malformed --shard, are refused with what to do.
    let mut args = vec!["predict"];
    args.extend(common);
    let file = tmp.path().join("predict.parquet");
    args.extend(["--out", file.to_str().unwrap(), "--shard", "0/3"]);
    let (ok, err) = protscope(&args);
    assert!(!ok && err.contains("names a folder"), "{err}");
    let n = args.len();
    args[n - 1] = "3/3";
    let (ok, err) = protscope(&args);
    assert!(!ok && err.contains("I must be below N"), "{err}");
}

/// Length-bucketed batches: the rows of `predict` and `embed` come back in input order, each
/// protein's rows as one protein alone gives them (within 1e-5: padding changes the last bits).
#[test]
fn length_bucketed_batches_keep_input_order_and_values() {
    use candle_core::Device;
    use protscope::model::outputs::Pooling;
    use protscope::model::outputs::{
        embeddings_frame, frame_in_batches, length_batches, predictions_frame,
    };
    use protscope::model::ProteinModel;
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let seqs: Vec<_> = RECORDS
        .iter()
        .map(|(id, s)| model.encode_sequence(id, s, None).unwrap())
        .collect();
    let ids: Vec<&str> = RECORDS.iter().map(|(id, _)| *id).collect();
    let values = |df: &DataFrame, column: &str| -> Vec<f64> {
        let column = df.column(column).unwrap().as_materialized_series().clone();
        let column = match column.dtype() {
            DataType::List(_) => column
                .explode(ExplodeOptions {
                    empty_as_null: true,
                    keep_nulls: true,
                })
                .unwrap(),
            _ => column,
        };
        column
            .cast(&DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    for (what, column) in [("predictions", "logit"), ("embeddings", "embedding")] {
        let run = |batch: usize| {
            let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
            frame_in_batches(&seqs, &length_batches(&lengths, batch), |b| match what {
                "predictions" => predictions_frame(&model, b),
                _ => embeddings_frame(&model, b, &[-1], Pooling::Mean),
            })
            .unwrap()
        };
        let (single, bucketed) = (run(1), run(3));
        let mut order: Vec<String> = Vec::new();
        for id in single.column("protein").unwrap().str().unwrap().iter() {
            let id = id.unwrap();
            if order.last().map(String::as_str) != Some(id) {
                order.push(id.to_string());
            }
        }
        assert_eq!(order, ids, "{what}: proteins not in input order");
        assert_eq!(
            single.column("protein").unwrap(),
            bucketed.column("protein").unwrap(),
            "{what}"
        );
        for (a, b) in values(&single, column)
            .iter()
            .zip(values(&bucketed, column))
        {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "{what}: {a} vs {b}"
            );
        }
    }
}
