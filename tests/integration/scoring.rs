//! Sequence scores equal the transformers references of scripts/make_score_fixtures.py within
//! 1e-4 (natural-log probabilities): pseudo-log-likelihood of the tiny RoBERTa masked LM, and
//! IgLM's `log_likelihood` rule on the tiny GPT-2 with the prefix `[HEAVY] [HUMAN]`.

use crate::common::*;
use candle_core::Device;
use protscope::model::scoring::{
    residue_scores_frame, score_sequences, scores_frame, ScoreMethod, ScoreOptions,
};
use protscope::model::ProteinModel;

const TOL: f64 = 1e-4;

fn reference() -> serde_json::Value {
    let path = fixtures().join("scores").join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn pseudo_log_likelihood_matches_transformers() {
    let model = ProteinModel::load(&model_fixture("roberta_mlm"), &Device::Cpu).unwrap();
    assert_eq!(ScoreMethod::for_model(&model).unwrap(), ScoreMethod::Pseudo);
    let json = reference();
    let cases = json["roberta_mlm"].as_array().unwrap();
    let seqs: Vec<_> = cases
        .iter()
        .map(|c| {
            model
                .encode_sequence(
                    c["id"].as_str().unwrap(),
                    c["sequence"].as_str().unwrap(),
                    None,
                )
                .unwrap()
        })
        .collect();
    // A batch size that splits the masked copies of a sequence.
    let scores = score_sequences(&model, &seqs, &ScoreOptions { batch_size: 7 }).unwrap();
    for (case, score) in cases.iter().zip(&scores) {
        let want = floats(&case["residue_log_probs"]);
        assert_eq!(score.residues.len(), want.len());
        for (r, w) in score.residues.iter().zip(&want) {
            assert!(
                (r.log_prob - w).abs() <= TOL,
                "{}: {r:?} vs {w}",
                score.protein
            );
            assert!(r.predicted_log_prob >= r.log_prob - 1e-12 || r.residue == 'X');
        }
        let ll = case["log_likelihood"].as_f64().unwrap();
        assert!(
            (score.log_likelihood - ll).abs() <= TOL,
            "{}",
            score.protein
        );
        assert_eq!(score.n_scored, case["n_scored"].as_u64().unwrap() as usize);
    }
    let frame = scores_frame(&scores).unwrap();
    protscope::frame::schema::SEQUENCE_SCORES
        .conforms(&frame, "scores_frame")
        .unwrap();
    let residues = residue_scores_frame(&scores).unwrap();
    protscope::frame::schema::RESIDUE_SCORES
        .conforms(&residues, "residue_scores_frame")
        .unwrap();
    assert_eq!(
        protscope::frame::schema::recognise(&residues).map(|s| s.name),
        Some("residue_scores")
    );
}

#[test]
fn causal_log_likelihood_follows_iglm_rule() {
    let mut model = ProteinModel::load(&model_fixture("gpt2_lm"), &Device::Cpu).unwrap();
    let json = reference();
    let cases = json["gpt2_lm"].as_array().unwrap();
    model
        .set_prefix(cases[0]["prefix"].as_str().unwrap())
        .unwrap();
    assert_eq!(ScoreMethod::for_model(&model).unwrap(), ScoreMethod::Causal);
    let seqs: Vec<_> = cases
        .iter()
        .map(|c| {
            model
                .encode_sequence(
                    c["id"].as_str().unwrap(),
                    c["sequence"].as_str().unwrap(),
                    None,
                )
                .unwrap()
        })
        .collect();
    // One padded batch: padding changes nothing under the causal mask.
    let scores = score_sequences(&model, &seqs, &ScoreOptions::default()).unwrap();
    for (case, score) in cases.iter().zip(&scores) {
        let mean = case["mean_log_likelihood"].as_f64().unwrap();
        assert!(
            (score.mean_log_likelihood() - mean).abs() <= TOL,
            "{}: {} vs {mean}",
            score.protein,
            score.mean_log_likelihood()
        );
        let tokens = floats(&case["token_log_probs"]);
        // Residues, then the closing [SEP].
        assert_eq!(score.n_scored, tokens.len());
        assert_eq!(score.residues.len(), tokens.len() - 1);
        for (r, w) in score.residues.iter().zip(&tokens) {
            assert!((r.log_prob - w).abs() <= TOL);
        }
        assert!((score.perplexity() - (-mean).exp()).abs() <= 1e-3);
    }
}

#[test]
fn scoring_needs_a_language_model() {
    let model = ProteinModel::load(&model_fixture("roberta_cls"), &Device::Cpu).unwrap();
    let err = ScoreMethod::for_model(&model).unwrap_err().to_string();
    assert!(err.contains("language model"), "{err}");
}
