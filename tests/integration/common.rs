//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use protscope::model::{Capture, EncodedSequence, EncoderOutput, ForwardOptions, ProteinModel};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

pub fn model_fixture(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

/// Loads fixture model `name` with the input conventions its references were made with:
/// `xlnet_cls` with the segment ids of HF's tokenizer (scripts/make_model_fixtures.py and
/// make_ig_fixtures.py call it as `model(**tokenizer(x))`); every other one as loaded.
pub fn load_fixture_model(name: &str) -> ProteinModel {
    let mut model = ProteinModel::load(&model_fixture(name), &Device::Cpu).expect("load model");
    if name == "xlnet_cls" {
        model
            .set_segment_ids(protscope::model::SegmentIds::Tokenizer)
            .unwrap();
    }
    model
}

/// `../shared/data` beside the checkout, or `$PROTSCOPE_SHARED_DATA`; None when absent.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("PROTSCOPE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    dir.is_dir().then_some(dir)
}

pub fn load_reference(dir: &Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
        .expect("reference.safetensors")
}

pub struct RefSeq {
    pub id: String,
    pub sequence: String,
    pub input_ids: Vec<u32>,
}

pub fn reference_sequences(dir: &Path) -> Vec<RefSeq> {
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| RefSeq {
            id: s["id"].as_str().unwrap().to_string(),
            sequence: s["sequence"].as_str().unwrap().to_string(),
            input_ids: s["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect(),
        })
        .collect()
}

/// Max |a - b| over all elements (shapes must match).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `shared_data()/sub`, or None with a printed reason (tests then skip).
pub fn shared(sub: &str) -> Option<PathBuf> {
    let dir = shared_data().map(|d| d.join(sub)).filter(|d| d.is_dir());
    if dir.is_none() {
        eprintln!("skipping: shared data folder `{sub}` is absent (set PROTSCOPE_SHARED_DATA)");
    }
    dir
}

/// A committed fixture file under tests/fixtures/<folder>/.
pub fn fixture_file(folder: &str, name: &str) -> PathBuf {
    fixtures().join(folder).join(name)
}

/// One sequence through `model` with every intermediate captured; with `tracked` the embedding
/// is a gradient leaf, so the forward builds the custom ops' backward path (what integrated
/// gradients runs). Returns (embedding, mask, output).
pub fn capture_all(
    model: &ProteinModel,
    enc: &EncodedSequence,
    tracked: bool,
) -> (Tensor, Tensor, EncoderOutput) {
    let batch = model.batch(&[enc]).unwrap();
    let mut emb = model.embed(&batch.input_ids, &batch.mask).unwrap();
    if tracked {
        emb = candle_core::Var::from_tensor(&emb)
            .unwrap()
            .as_tensor()
            .clone();
    }
    let out = model
        .encode(
            &emb,
            &batch.mask,
            ForwardOptions {
                capture: Capture::all(),
                ..Default::default()
            },
        )
        .unwrap();
    (emb, batch.mask, out)
}

/// Runs the `protscope` binary: (exit status success, stderr).
pub fn protscope(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks every `.csv` and `.parquet` table directly under `dir` against the schema that
/// recognises it (`frame::schema`): so each writer a test runs is held to its schema.
/// Returns how many tables were checked.
pub fn assert_tables_conform(dir: &Path) -> usize {
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let is_table = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("csv" | "parquet")
        );
        if !is_table {
            continue;
        }
        let frame = protscope::frame::read_table(&path).unwrap();
        let what = path.display().to_string();
        let Some(schema) = protscope::frame::schema::recognise(&frame) else {
            panic!(
                "{what}: no schema recognises its columns {:?}",
                frame.get_column_names()
            );
        };
        if let Err(e) = schema.conforms(&frame, &what) {
            panic!("{e}");
        }
        checked += 1;
    }
    checked
}

/// A tensor's values as f64, flattened.
pub fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(candle_core::DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest absolute difference over the largest reference magnitude.
pub fn max_rel(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len(), "length");
    let scale = reference
        .iter()
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}
