//! Published checkpoint layouts load as downloaded and give what HF transformers gives with the
//! seeds' usage (fixtures: scripts/make_layout_fixtures.py): ProtBert from torch's legacy file
//! with TF names, ProtAlbert and ProtXLNet from `spiece.model` alone, ProtXLNet's LM head with
//! provis' inputs (no segment ids), a full ProtT5 checkpoint in PyTorch shards of which only the
//! encoder is read, the float16 ProtT5 encoder, a T5 vocabulary without a mask token, ESM-2.
//! Models by repository id resolve in a Hugging Face cache tree.

use std::path::Path;

use candle_core::{DType, Device};
use protscope::attribution::{baseline_ids, Baseline};
use protscope::model::{ProteinModel, SegmentIds, Weights};

use crate::common::*;
use crate::model_parity::check_parity;

const TOL: f32 = 1e-4;

/// Parity on the CPU kernels and on the generic op path.
fn check_both_paths(name: &str, model: &ProteinModel, prefix: &str, tol: f32) {
    check_parity(name, model, prefix, tol);
    protscope::model::ops::with_generic_ops(|| check_parity(name, model, prefix, tol));
}

fn head_names(model: &ProteinModel) -> Vec<&str> {
    model.outputs().iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn prot_bert_from_a_legacy_torch_file_with_tf_names_matches_hf() {
    let dir = model_fixture("pub_prot_bert");
    let bytes = std::fs::read(dir.join("pytorch_model.bin")).unwrap();
    assert_ne!(
        &bytes[..2],
        b"PK",
        "the fixture must be torch's legacy format"
    );
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(head_names(&model), ["mlm"]);
    check_both_paths("pub_prot_bert", &model, "", TOL);
}

#[test]
fn prot_albert_from_spiece_model_alone_matches_hf() {
    let dir = model_fixture("pub_prot_albert");
    assert!(!dir.join("tokenizer.json").exists() && !dir.join("vocab.txt").exists());
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    let tok = &model.tokenizer;
    assert_eq!(tok.pad_token, "<pad>");
    assert_eq!(tok.mask_token.as_deref(), Some("[MASK]"));
    assert_eq!(tok.first_token.as_deref(), Some("[CLS]"));
    assert_eq!(tok.final_tokens, ["[SEP]"]);
    assert_eq!(head_names(&model), ["mlm"]);
    check_both_paths("pub_prot_albert", &model, "", TOL);
}

/// ProtXLNet as published (XLNetLMHeadModel, legacy file, spiece.model): by default with
/// provis' inputs (input ids only), and with the tokenizer's segment ids when asked.
#[test]
fn prot_xlnet_lm_head_model_matches_hf_with_either_segment_convention() {
    let dir = model_fixture("pub_prot_xlnet");
    let mut model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(model.segment_ids(), Some(SegmentIds::None));
    assert_eq!(head_names(&model), ["mlm"]);
    assert_eq!(model.tokenizer.final_tokens, ["<sep>", "<cls>"]);
    check_both_paths("pub_prot_xlnet", &model, "", TOL);
    model.set_segment_ids(SegmentIds::Tokenizer).unwrap();
    check_both_paths("pub_prot_xlnet", &model, "tokenizer.", TOL);
    // The two conventions really differ, so each check above can tell them apart.
    let reference = load_reference(&dir);
    let d = max_abs_diff(
        &reference["s1.attentions"],
        &reference["tokenizer.s1.attentions"],
    );
    assert!(d > 1e-2, "conventions differ by only {d}");
    // Other architectures have no segment ids to set.
    let mut bert = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    assert_eq!(bert.segment_ids(), None);
    assert!(bert.set_segment_ids(SegmentIds::Tokenizer).is_err());
}

/// A full encoder–decoder checkpoint in two PyTorch shards: the encoder's outputs equal HF's,
/// and the decoder and LM head are never read.
#[test]
fn prot_t5_full_checkpoint_in_torch_shards_reads_the_encoder_only() {
    let dir = model_fixture("pub_prot_t5_full");
    assert!(dir.join("pytorch_model.bin.index.json").is_file());
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    assert!(model.outputs().is_empty());
    check_both_paths("pub_prot_t5_full", &model, "", TOL);
    let family = model.config.family;
    let weights =
        Weights::from_folder_selected(&dir, &Device::Cpu, DType::F32, &|n| family.reads_tensor(n))
            .unwrap();
    let names = weights.names();
    assert!(names.iter().any(|n| n.starts_with("encoder.block.")));
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("decoder.") || n.starts_with("lm_head.")),
        "decoder tensors were read"
    );
    let all = Weights::from_folder(&dir, &Device::Cpu).unwrap();
    assert!(all.names().iter().any(|n| n.starts_with("decoder.")));
}

/// The half-precision ProtT5 encoder: float16 weights read into f32 equal HF's float32 run of
/// the same weights.
#[test]
fn prot_t5_half_precision_encoder_matches_hf() {
    let dir = model_fixture("pub_prot_t5_half");
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    check_both_paths("pub_prot_t5_half", &model, "", TOL);
}

/// A T5 tokenizer.json without sentinels has no mask token: the forward pass runs, and only
/// the mask baseline fails, naming the tokenizer file and the other baselines.
#[test]
fn t5_vocabulary_without_a_mask_token_refuses_only_the_mask_baseline() {
    let dir = model_fixture("pub_t5_no_sentinels");
    let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(model.tokenizer.mask_token, None);
    check_parity("pub_t5_no_sentinels", &model, "", TOL);
    let seq = model.encode_sequence("p", "MKTAYIAK", None).unwrap();
    assert!(baseline_ids(&model, &seq, Baseline::Pad).unwrap().is_some());
    let err = baseline_ids(&model, &seq, Baseline::Mask)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("mask token") && err.contains("`baseline`"),
        "{err}"
    );
}

#[test]
fn esm2_published_layout_matches_hf() {
    let model = ProteinModel::load(&model_fixture("pub_esm2"), &Device::Cpu).unwrap();
    assert_eq!(head_names(&model), ["mlm"]);
    check_both_paths("pub_esm2", &model, "", TOL);
}

/// A special token that special_tokens_map.json names must be in the vocabulary.
#[test]
fn a_named_special_token_missing_from_the_vocabulary_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = model_fixture("pub_prot_bert");
    for file in ["config.json", "pytorch_model.bin", "vocab.txt"] {
        std::fs::copy(src.join(file), tmp.path().join(file)).unwrap();
    }
    std::fs::write(
        tmp.path().join("special_tokens_map.json"),
        r#"{"pad_token": "<pad>"}"#,
    )
    .unwrap();
    let err = ProteinModel::load(tmp.path(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("special_tokens_map.json") && err.contains("`<pad>`"),
        "{err}"
    );
}

/// Builds `cache/models--{org}--{name}` as huggingface_hub does: files in `blobs/`, the
/// snapshot's entries symlinks to them, `refs/main` naming the commit.
fn fake_hub_cache(cache: &Path, repo: &str, commit: &str, model: &Path) {
    let folder = cache.join(format!("models--{}", repo.replace('/', "--")));
    let (blobs, snapshot) = (folder.join("blobs"), folder.join("snapshots").join(commit));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(folder.join("refs")).unwrap();
    std::fs::write(folder.join("refs").join("main"), commit).unwrap();
    for entry in std::fs::read_dir(model).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("reference") {
            continue;
        }
        let blob = format!("blob{:04}", name.len() * 7 + name.as_bytes()[0] as usize);
        std::fs::copy(&path, blobs.join(&blob)).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(&blob), snapshot.join(&name))
            .unwrap();
    }
}

fn protscope_with_cache(cache: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(args)
        .env("HF_HUB_CACHE", cache)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--model ORG/NAME` (and `@COMMIT`) resolves a cached snapshot with symlinked blobs and gives
/// the same table as the folder; an id that is not cached fails naming the folder searched.
#[test]
fn models_by_repository_id_resolve_in_the_hub_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    fake_hub_cache(
        &cache,
        "Rostlab/prot_xlnet",
        commit,
        &model_fixture("pub_prot_xlnet"),
    );
    let fasta = tmp.path().join("in.fasta");
    std::fs::write(&fasta, ">p1\nMKTAYIAKQR\n>p2\nQVQLKESG\n").unwrap();
    let fasta = fasta.to_str().unwrap();
    let folder = model_fixture("pub_prot_xlnet");
    let mut tables = Vec::new();
    for (i, model) in [
        folder.to_str().unwrap().to_string(),
        "Rostlab/prot_xlnet".to_string(),
        format!("Rostlab/prot_xlnet@{commit}"),
    ]
    .iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("attention{i}.csv"));
        let (ok, err) = protscope_with_cache(
            &cache,
            &[
                "attention",
                "--model",
                model,
                "--fasta",
                fasta,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(ok, "{model}: {err}");
        tables.push(std::fs::read_to_string(&out).unwrap());
    }
    assert!(tables[0].lines().count() > 10);
    assert_eq!(tables[0], tables[1]);
    assert_eq!(tables[0], tables[2]);
    // Library side: the snapshot folder itself.
    let repo = protscope::model::hub::RepoId::parse("Rostlab/prot_xlnet").unwrap();
    let snapshot = protscope::model::hub::cached_model(&repo, &cache).unwrap();
    assert!(snapshot.ends_with(Path::new("snapshots").join(commit)));

    let out = tmp.path().join("missing.csv");
    let (ok, err) = protscope_with_cache(
        &cache,
        &[
            "attention",
            "--model",
            "Rostlab/prot_albert",
            "--fasta",
            fasta,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("models--Rostlab--prot_albert")
            && err.contains("huggingface-cli download Rostlab/prot_albert"),
        "{err}"
    );
    assert!(!out.exists());
}

/// provis' sequence preparation (`compute_edge_features.get_attention`: residues cut to
/// max_seq_len − 2, U/Z/O/B → X, the tokenizer's specials added) is `--max-len`'s, for
/// ProtBert, ProtAlbert and ProtXLNet.
#[test]
fn max_len_truncates_as_provis_prepares_sequences() {
    for name in ["pub_prot_bert", "pub_prot_albert", "pub_prot_xlnet"] {
        let dir = model_fixture(name);
        let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let cases = json["provis_inputs"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let max_len = case["max_seq_len"].as_u64().unwrap() as usize;
            let want: Vec<u32> = case["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let seq = case["sequence"].as_str().unwrap();
            let ours = model.encode_sequence("p", seq, Some(max_len)).unwrap();
            assert_eq!(ours.ids, want, "{name}, max_seq_len {max_len}");
        }
    }
}
