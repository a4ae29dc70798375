//! `protscope dev random-model`: folders of the published shapes load and run.

use std::process::Command;

use candle_core::Device;
use protscope::attribution::{integrated_gradients, IgOptions};
use protscope::dev::{write_random_model, Preset, RandomHead, ShapeOverrides};
use protscope::model::ProteinModel;

/// ESM-2 150M with 2 of its 30 layers (the CLI), and ProtBert with 1 layer and 1,024 positions
/// (the library), classifier and masked-LM heads: each loads with the published widths, runs
/// attention and a short integrated-gradients pass.
#[test]
fn random_models_of_published_shapes_load_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let esm = tmp.path().join("esm2-150m");
    let out = Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args([
            "dev",
            "random-model",
            "--preset",
            "esm2-150m",
            "--layers",
            "2",
            "--out",
        ])
        .arg(&esm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        esm.to_str().unwrap()
    );

    let bert = tmp.path().join("protbert");
    let overrides = ShapeOverrides {
        layers: Some(1),
        max_positions: Some(1024),
        ..Default::default()
    };
    let report = write_random_model(
        &bert,
        Preset::ProtBert,
        RandomHead::Classifier,
        &overrides,
        3,
    )
    .unwrap();
    // 30 × 1024 + 1024 × 1024 + 2 × 1024 + LayerNorm, one layer, pooler, classifier.
    let expected =
        30 * 1024 + 1024 * 1024 + 2 * 1024 + 2 * 1024 + 12_596_224 + 1024 * 1025 + 2 * 1025;
    assert_eq!(report.parameters, expected);
    let bert_mlm = tmp.path().join("protbert-mlm");
    write_random_model(
        &bert_mlm,
        Preset::ProtBert,
        RandomHead::MaskedLm,
        &overrides,
        3,
    )
    .unwrap();

    for (dir, layers, heads, hidden, sequence) in [
        (&esm, 2, 20, 640, "MKTAYIAKQRQISFVKSHFSRQ"),
        (&bert, 1, 16, 1024, "MKTAYIAKQRQISFVKSHFSRQ"),
        (&bert_mlm, 1, 16, 1024, "MKTAYIAKQRQISFVKSHFSRQ"),
    ] {
        let model = ProteinModel::load(dir, &Device::Cpu).unwrap();
        assert_eq!(
            (model.num_layers(), model.num_heads(), model.hidden_size()),
            (layers, heads, hidden),
            "{}",
            dir.display()
        );
        let seq = model.encode_sequence("p1", sequence, None).unwrap();
        assert_eq!(seq.ids.len(), sequence.len() + 2);
        let maps = protscope::attention::attention_maps(&model, &[&seq]).unwrap();
        let t = seq.ids.len();
        assert_eq!(maps[0].weights.dims(), &[layers, heads, t, t]);
        // Every attention row is a distribution.
        let sums: Vec<f32> = maps[0]
            .weights
            .sum(3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));
        if dir != &bert_mlm {
            let ig = integrated_gradients(
                &model,
                &seq,
                "classifier",
                1,
                &IgOptions {
                    steps: 2,
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(ig.f_input.is_finite() && ig.embedding.iter().all(|v| v.is_finite()));
        } else {
            assert!(model.output("mlm").is_ok());
        }
    }
    // A real model folder is never overwritten.
    let real = tmp.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("config.json"), "{\"model_type\": \"bert\"}").unwrap();
    let e = write_random_model(
        &real,
        Preset::ProtBert,
        RandomHead::Classifier,
        &overrides,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("real model folder"), "{e}");
}
