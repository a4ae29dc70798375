//! Bad input never panics: each case is an error whose message names the file, record, tensor
//! or position, and says what to do.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;
use candle_core::{Device, Tensor};
use protscope::model::ProteinModel;

fn copy_fixture(name: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(model_fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    match ProteinModel::load(dir, &Device::Cpu) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut HashMap<String, Tensor>)) {
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).unwrap();
}

#[test]
fn missing_folder_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_err(&tmp.path().join("nope"));
    assert!(err.contains("model folder not found"), "{err}");

    let dir = tmp.path().join("m");
    copy_fixture("bert_cls", &dir);
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("config.json"), "{err}");

    copy_fixture("bert_cls", &dir);
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("no weights found"), "{err}");

    copy_fixture("bert_cls", &dir);
    std::fs::remove_file(dir.join("vocab.txt")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("no tokenizer found"), "{err}");
}

#[test]
fn unknown_model_type_and_bad_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_fixture("bert_cls", &dir);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"bert\"", "\"llama\""),
    )
    .unwrap();
    let err = load_err(&dir);
    assert!(
        err.contains("model_type `llama` is not supported") && err.contains("config.json"),
        "{err}"
    );

    std::fs::write(dir.join("config.json"), "{not json").unwrap();
    let err = load_err(&dir);
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_fixture("bert_cls", &dir);
    rewrite_weights(&dir, |t| {
        t.remove("bert.encoder.layer.1.attention.self.key.weight");
    });
    let err = load_err(&dir);
    assert!(
        err.contains("bert.encoder.layer.1.attention.self.key.weight") && err.contains("missing"),
        "{err}"
    );
    assert!(err.contains("model.safetensors"), "{err}");

    copy_fixture("bert_cls", &dir);
    rewrite_weights(&dir, |t| {
        t.insert(
            "classifier.weight".into(),
            Tensor::zeros((5, 16), candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let err = load_err(&dir);
    assert!(
        err.contains("classifier.weight") && err.contains("shape [5, 16]"),
        "{err}"
    );
}

#[test]
fn corrupt_and_nan_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_fixture("bert_cls", &dir);
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&dir);
    assert!(
        err.contains("model.safetensors") && err.contains("truncated or corrupt"),
        "{err}"
    );

    std::fs::write(dir.join("model.safetensors"), b"garbage").unwrap();
    assert!(load_err(&dir).contains("model.safetensors"));

    copy_fixture("bert_multilabel", &dir);
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("pytorch_model.bin"),
        b"PK\x03\x04 not really a zip",
    )
    .unwrap();
    let err = load_err(&dir);
    assert!(err.contains("pytorch_model.bin"), "{err}");

    copy_fixture("bert_cls", &dir);
    rewrite_weights(&dir, |t| {
        let nan = Tensor::new(&[f32::NAN; 3], &Device::Cpu).unwrap();
        t.insert("classifier.bias".into(), nan);
    });
    let err = load_err(&dir);
    assert!(
        err.contains("classifier.bias") && err.contains("NaN"),
        "{err}"
    );
}

#[test]
fn bad_sequences_name_record_and_position() {
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let err = model
        .encode_sequence("ab1", "EVQL1ES", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ab1") && err.contains("`1` at position 5"),
        "{err}"
    );
    let err = model
        .encode_sequence("ab2", "", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ab2") && err.contains("empty"), "{err}");
    let long = "A".repeat(63);
    let err = model
        .encode_sequence("ab3", &long, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ab3") && err.contains("limit of 64") && err.contains("`max_len`"),
        "{err}"
    );
    // Truncation keeps the first residues.
    let enc = model.encode_sequence("ab3", &long, Some(10)).unwrap();
    assert_eq!((enc.ids.len(), enc.truncated), (10, 55));
    assert!(model.encode_sequence("ab3", "AAA", Some(2)).is_err());
    // AntiBERTy has no X: it becomes [UNK] like its own tokenizer does.
    let enc = model.encode_sequence("ab4", "evqX", None).unwrap();
    assert_eq!(enc.ids[4], model.tokenizer.token_id("[UNK]").unwrap());

    let protbert = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    let enc = protbert.encode_sequence("p", "MUZ", None).unwrap();
    let x = protbert.tokenizer.token_id("X").unwrap();
    assert_eq!(&enc.ids[2..4], &[x, x]);
    let err = protbert
        .encode_sequence("p2", "MK*", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("p2") && err.contains("position 3"), "{err}");

    let esm = ProteinModel::load(&model_fixture("esm_cls"), &Device::Cpu).unwrap();
    let err = esm
        .encode_sequence("e", "MK-", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("position 3"), "{err}");
}

#[test]
fn unknown_heads_and_targets() {
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let err = model.output("classifier").unwrap_err().to_string();
    assert!(err.contains("species") && err.contains("chain"), "{err}");
    let species = model.output("species").unwrap();
    assert_eq!(species.class_index("rabbit").unwrap(), 3);
    assert_eq!(species.class_index("5").unwrap(), 5);
    let err = species.class_index("6").unwrap_err().to_string();
    assert!(
        err.contains("no class `6`") && err.contains("Camel"),
        "{err}"
    );
    assert!(species.class_index("Dog").is_err());
}

#[test]
fn cuda_in_a_cpu_build_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        eprintln!("skipped: built with the cuda feature");
        return;
    }
    let err = protscope::device::parse_device("cuda:0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("--features cuda"), "{err}");
}
