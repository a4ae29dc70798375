//! The real Sapiens (sapiens==1.0.5, 7 MB wheel) and IgLM (iglm==0.1.0, 53 MB wheel), fetched
//! with pip into the cache on first use, against PyTorch numbers computed straight from the
//! wheels (tests/fixtures/scores_real, scripts/make_score_fixtures.py): Sapiens' fairseq
//! checkpoints mapped onto HF RobertaForMaskedLM, IgLM's folders in HF GPT2LMHeadModel with
//! IgLM's own `log_likelihood` rule. Logits, attention and scores within 1e-4. Sapiens' job is
//! checked too: masked-residue accuracy on the human germline V genes of the IMGT table the
//! repository ships. Skipped, with the reason printed, when the wheels cannot be fetched (no
//! python3/pip or no network). IgLM is fetched only with its licence accepted:
//! `PROTSCOPE_ACCEPT_IGLM_LICENCE=1` (IgLM is for non-commercial academic research; .ci/run does
//! not set it, so CI fetches Sapiens only).

use std::path::Path;

use crate::common::*;
use candle_core::{Device, Tensor};
use protscope::fetch::{default_cache_dir, fetch_iglm, fetch_sapiens, IglmFolders, SapiensFolders};
use protscope::model::scoring::{score_sequences, ScoreOptions};
use protscope::model::ProteinModel;

const TOL: f32 = 1e-4;

fn sapiens() -> Option<SapiensFolders> {
    match fetch_sapiens(&default_cache_dir()) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("skipped: Sapiens unavailable ({e})");
            None
        }
    }
}

fn iglm() -> Option<IglmFolders> {
    if std::env::var_os("PROTSCOPE_ACCEPT_IGLM_LICENCE").is_none() {
        eprintln!(
            "skipped: IgLM is fetched only with its licence accepted (set \
             PROTSCOPE_ACCEPT_IGLM_LICENCE=1)"
        );
        return None;
    }
    match fetch_iglm(&default_cache_dir(), true) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("skipped: IgLM unavailable ({e})");
            None
        }
    }
}

fn reference_json() -> serde_json::Value {
    let path = fixtures().join("scores_real").join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Logits of output `name` (T, V) and the attention maps (layers, heads, T, T) of one sequence.
fn logits_and_attention(model: &ProteinModel, ids: &[u32], name: &str) -> (Tensor, Vec<Tensor>) {
    let batch = model.batch_from_ids(&[ids.to_vec()]).unwrap();
    let out = model
        .forward(
            &batch,
            protscope::model::ForwardOptions {
                capture: protscope::model::Capture {
                    attentions: true,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
    let logits = model.output_logits(name, &out).unwrap().get(0).unwrap();
    let maps = out.attentions.iter().map(|a| a.get(0).unwrap()).collect();
    (logits, maps)
}

#[test]
fn real_sapiens_matches_pytorch() {
    let Some(folders) = sapiens() else { return };
    let json = reference_json();
    let reference = load_reference(&fixtures().join("scores_real"));
    for case in json["sapiens"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let dir = if name == "sapiens-vh" {
            &folders.heavy
        } else {
            &folders.light
        };
        let model = ProteinModel::load(dir, &Device::Cpu).unwrap();
        let sequence = case["sequence"].as_str().unwrap();
        let enc = model.encode_sequence("s", sequence, None).unwrap();
        assert_eq!(enc.ids, ids(&case["input_ids"]), "{name}: token ids");
        let (logits, _) = logits_and_attention(&model, &enc.ids, "mlm");
        let d = max_abs_diff(&logits, &reference[&format!("{name}.logits")]);
        assert!(d <= TOL, "{name}: MLM logits differ by {d}");
        let (_, maps) = logits_and_attention(&model, &enc.ids[..40], "mlm");
        let d0 = max_abs_diff(
            &maps[0],
            &reference[&format!("{name}.attention.layer0.first40")],
        );
        assert!(d0 <= TOL, "{name}: layer-0 attention differs by {d0}");
        let score = &score_sequences(&model, &[enc], &ScoreOptions::default()).unwrap()[0];
        let want = floats(&case["residue_log_probs"]);
        let worst = score
            .residues
            .iter()
            .zip(&want)
            .map(|(r, w)| (r.log_prob - w).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= 1e-4,
            "{name}: pseudo-log-likelihood off by {worst}"
        );
        eprintln!(
            "{name}: logits {d:.2e}, attention {d0:.2e}, residue log-probs {worst:.2e}; mean \
             pseudo-log-likelihood {:.4}",
            score.mean_log_likelihood()
        );
    }
}

/// Human germline V-REGIONs (IMGT, ungapped) of the chains `codes` from the table the IMGT
/// numbering ships.
fn human_germlines(codes: &[&str]) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/protscope/src/annotation/antibody/imgt_germlines.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (codes.contains(&f[0]) && f[1] == "V" && f[2] == "human")
                .then(|| (f[3].to_string(), f[4].replace('.', "")))
        })
        .collect()
}

/// Sapiens' masked-residue accuracy on human germline V genes: each residue masked in turn,
/// the most probable amino acid compared with the germline's. Every fifth gene of each chain
/// type keeps the test short; `PROTSCOPE_ALL_GERMLINES=1` scores all of them (the numbers
/// in docs/models.md).
#[test]
fn real_sapiens_restores_human_germline_residues() {
    let Some(folders) = sapiens() else { return };
    let every = if std::env::var_os("PROTSCOPE_ALL_GERMLINES").is_some() {
        1
    } else {
        5
    };
    for (dir, code, what) in [
        (&folders.heavy, "H", "IGHV"),
        (&folders.light, "K", "IGKV"),
        (&folders.light, "L", "IGLV"),
    ] {
        let model = ProteinModel::load(dir, &Device::Cpu).unwrap();
        let germlines: Vec<_> = human_germlines(&[code])
            .into_iter()
            .step_by(every)
            .collect();
        assert!(
            germlines.len() >= 5,
            "{what}: {} germlines",
            germlines.len()
        );
        let seqs: Vec<_> = germlines
            .iter()
            .map(|(id, s)| model.encode_sequence(id, s, None).unwrap())
            .collect();
        let scores = score_sequences(&model, &seqs, &ScoreOptions { batch_size: 128 }).unwrap();
        let (mut right, mut total) = (0usize, 0usize);
        for s in &scores {
            for r in &s.residues {
                right += usize::from(r.predicted == r.residue);
                total += 1;
            }
        }
        let accuracy = right as f64 / total as f64;
        eprintln!(
            "Sapiens {what}: masked-residue accuracy {accuracy:.3} on {} human germline V genes \
             ({total} residues)",
            germlines.len()
        );
        assert!(accuracy > 0.65, "{what}: accuracy {accuracy}");
    }
}

#[test]
fn real_iglm_matches_pytorch_and_iglm_scores() {
    let Some(folders) = iglm() else { return };
    let json = reference_json();
    let reference = load_reference(&fixtures().join("scores_real"));
    for (name, dir) in [("iglm", &folders.iglm), ("iglm-s", &folders.iglm_s)] {
        let mut model = ProteinModel::load(dir, &Device::Cpu).unwrap();
        assert!(model.is_causal());
        for case in json["iglm"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["model"] == name)
        {
            let k = case["case"].as_u64().unwrap();
            model.set_prefix(case["prefix"].as_str().unwrap()).unwrap();
            let enc = model
                .encode_sequence("s", case["sequence"].as_str().unwrap(), None)
                .unwrap();
            assert_eq!(enc.ids, ids(&case["input_ids"]), "{name}: token ids");
            let (logits, _) = logits_and_attention(&model, &enc.ids, "lm");
            let d = max_abs_diff(&logits, &reference[&format!("{name}.s{k}.logits")]);
            assert!(d <= TOL, "{name}: logits differ by {d}");
            let (_, maps) = logits_and_attention(&model, &enc.ids[..40], "lm");
            let last = maps.last().unwrap();
            let da = max_abs_diff(
                last,
                &reference[&format!("{name}.s{k}.attention.last.first40")],
            );
            assert!(da <= TOL, "{name}: last-layer attention differs by {da}");
            let score = &score_sequences(&model, &[enc], &ScoreOptions::default()).unwrap()[0];
            let mean = case["mean_log_likelihood"].as_f64().unwrap();
            let err = (score.mean_log_likelihood() - mean).abs();
            assert!(
                err <= 1e-4,
                "{name}: IgLM log-likelihood {mean} vs ours {}",
                score.mean_log_likelihood()
            );
            eprintln!(
                "{name} {}: logits {d:.2e}, attention {da:.2e}; mean log-likelihood {:.4} (IgLM: \
                 {mean:.4})",
                case["id"].as_str().unwrap(),
                score.mean_log_likelihood()
            );
        }
    }
}

/// Without the licence accepted, nothing is fetched and the error says how to accept it.
#[test]
fn iglm_needs_its_licence_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_iglm(dir.path(), false).unwrap_err().to_string();
    assert!(err.contains("accept"), "{err}");
    assert!(err.contains("non-commercial"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// Integrated gradients of IgLM's sequence log-likelihood equal Captum's
/// (LayerIntegratedGradients over the embedding output, float64) on both real folders.
#[test]
fn real_iglm_log_likelihood_attribution_matches_captum() {
    let Some(folders) = iglm() else { return };
    let json = reference_json();
    let reference = load_reference(&fixtures().join("scores_real"));
    for case in json["iglm_ig"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let dir = if name == "iglm" {
            &folders.iglm
        } else {
            &folders.iglm_s
        };
        let mut model = ProteinModel::load(dir, &Device::Cpu).unwrap();
        model.set_prefix(case["prefix"].as_str().unwrap()).unwrap();
        let sequence = json["iglm"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == case["id"])
            .unwrap()["sequence"]
            .as_str()
            .unwrap();
        let seq = model.encode_sequence("s", sequence, None).unwrap();
        assert_eq!(seq.ids, ids(&case["input_ids"]), "{name}: token ids");
        let options = protscope::attribution::IgOptions {
            steps: case["steps"].as_u64().unwrap() as usize,
            method: protscope::attribution::Quadrature::GaussLegendre,
            baseline: protscope::attribution::Baseline::Pad,
            batch_size: Some(8),
            ..Default::default()
        };
        assert_eq!(
            protscope::attribution::baseline_ids(&model, &seq, options.baseline)
                .unwrap()
                .unwrap(),
            ids(&case["baseline_ids"]),
            "{name}: baseline ids"
        );
        let ours = protscope::attribution::integrated_gradients(
            &model,
            &seq,
            "lm",
            protscope::attribution::SEQUENCE_LOG_LIKELIHOOD,
            &options,
        )
        .unwrap();
        let want: Vec<f64> = reference[&format!("{name}.ig.loglik.relevance")]
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap();
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let worst = ours
            .embedding
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / scale;
        assert!(
            worst <= 1e-4,
            "{name}: relevance off by {worst:.2e} (relative)"
        );
        let delta = case["delta"].as_f64().unwrap();
        assert!(
            (ours.delta - delta).abs() <= 1e-3,
            "{name}: delta {} vs Captum {delta}",
            ours.delta
        );
        eprintln!(
            "{name}: IG of the log-likelihood within {worst:.2e} of Captum (relative); delta {:.2e} \
             (Captum {delta:.2e})",
            ours.delta
        );
    }
}

/// `protscope fetch sapiens` prints the two folders, one per line (skipped where the wheel
/// cannot be fetched).
#[test]
fn fetch_sapiens_prints_both_folders() {
    let cache = default_cache_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(["fetch", "sapiens", "--dir"])
        .arg(&cache)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "skipped: Sapiens unavailable ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            cache.join("sapiens-vh").to_str().unwrap(),
            cache.join("sapiens-vl").to_str().unwrap()
        ]
    );
    // The heavy-chain model was trained on 144 tokens, the light-chain one on 128.
    for (dir, limit) in lines.iter().zip([144, 128]) {
        let model = ProteinModel::load(Path::new(dir), &Device::Cpu).unwrap();
        assert_eq!(model.config.architecture(), "RobertaForMaskedLM");
        assert_eq!(model.tokenizer.max_tokens(), limit);
    }
}
