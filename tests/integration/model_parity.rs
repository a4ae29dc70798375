//! Every forward quantity equals HF transformers (PyTorch) on the tiny fixture models that
//! scripts/make_model_fixtures.py builds: token ids exactly; logits, hidden states, per-layer
//! contexts and every attention probability within 1e-4 (max abs difference).

use crate::common::*;
use candle_core::{Device, Tensor};
use protscope::model::weights::{with_linear_layout, LinearLayout};
use protscope::model::{ForwardOptions, ProteinModel};

const TOL: f32 = 1e-4;

/// Checks `name` against HF on the CPU kernels and again on the generic op path (the candle
/// tensor-op formulas that CUDA runs).
fn check_model(name: &str) {
    let model = load_fixture_model(name);
    check_parity(name, &model, "", TOL);
    protscope::model::ops::with_generic_ops(|| check_parity(name, &model, "", TOL));
    // The layout large models get (Wᵀ only, W read as its transposed view): the same outputs,
    // and the same input gradients through the backward products that read the view.
    let transposed = with_linear_layout(LinearLayout::TransposedOnly, || load_fixture_model(name));
    check_parity(name, &transposed, "", TOL);
    let d = max_abs_diff(
        &embedding_gradient(name, &model),
        &embedding_gradient(name, &transposed),
    );
    assert!(
        d <= 1e-5,
        "{name}: gradients under the Wᵀ-only layout differ by {d}"
    );
}

/// ∂(Σ of every output's logits)/∂(embeddings) for the fixture's first reference sequence.
fn embedding_gradient(name: &str, model: &ProteinModel) -> Tensor {
    let s = &reference_sequences(&model_fixture(name))[0];
    let enc = model.encode_sequence(&s.id, &s.sequence, None).unwrap();
    let (emb, _, out) = capture_all(model, &enc, true);
    let mut total = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu).unwrap();
    for head in model.outputs() {
        let logits = model.output_logits(&head.name, &out).unwrap();
        total = (total
            + logits
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .sum_all()
                .unwrap())
        .unwrap();
    }
    total.backward().unwrap().get(&emb).unwrap().clone()
}

/// Compares `model` with the references `{prefix}s{i}.*` of fixture `name` within `tol` (max
/// abs difference) on the op path in force: token ids exactly, attention, hidden states,
/// contexts and every head's logits.
pub(crate) fn check_parity(name: &str, model: &ProteinModel, prefix: &str, tol: f32) {
    let generic = protscope::model::ops::generic_ops_forced();
    let dir = model_fixture(name);
    let reference = load_reference(&dir);
    let mut worst = 0f32;
    for (i, s) in reference_sequences(&dir).iter().enumerate() {
        let enc = model.encode_sequence(&s.id, &s.sequence, None).unwrap();
        assert_eq!(
            enc.ids, s.input_ids,
            "{name}/{}: token ids differ from HF's tokenizer",
            s.id
        );
        // Plain inference, and the same pass with the embedding on a gradient path (the custom
        // softmax / LayerNorm / linear ops that integrated gradients uses).
        for tracked in [false, true] {
            let (emb, mask, out) = capture_all(model, &enc, tracked);
            let key = format!("{prefix}s{i}");
            let attn = Tensor::stack(&out.attentions, 1).unwrap().get(0).unwrap();
            let hidden = Tensor::stack(&out.hidden_states, 1)
                .unwrap()
                .get(0)
                .unwrap();
            let ctx = Tensor::stack(&out.contexts, 1).unwrap().get(0).unwrap();
            for (what, ours) in [
                ("attentions", &attn),
                ("hidden_states", &hidden),
                ("contexts", &ctx),
            ] {
                let ours = ours.to_dtype(candle_core::DType::F32).unwrap();
                let d = max_abs_diff(&ours, &reference[&format!("{key}.{what}")]);
                assert!(d <= tol, "{name}/{}: {what} differ by {d}", s.id);
                worst = worst.max(d);
            }
            for head in model.outputs() {
                let logits = model
                    .output_logits(&head.name, &out)
                    .unwrap()
                    .get(0)
                    .unwrap()
                    .to_dtype(candle_core::DType::F32)
                    .unwrap();
                let want = &reference[&format!("{key}.logits.{}", head.name)];
                let d = max_abs_diff(&logits, want);
                assert!(
                    d <= tol,
                    "{name}/{}: head {} logits differ by {d}",
                    s.id,
                    head.name
                );
                worst = worst.max(d);
                // Sequence heads read the first token: a last layer run for that row only
                // (what integrated gradients does) gives the same logits.
                if let Some(rows) = model.output_rows(&head.name).unwrap() {
                    let short = model
                        .encode(
                            &emb,
                            &mask,
                            ForwardOptions {
                                last_layer_rows: Some(rows),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    assert_eq!(short.last_hidden_state.dim(1).unwrap(), rows);
                    let logits = model
                        .output_logits(&head.name, &short)
                        .unwrap()
                        .get(0)
                        .unwrap()
                        .to_dtype(candle_core::DType::F32)
                        .unwrap();
                    let d = max_abs_diff(&logits, want);
                    assert!(d <= tol, "{name}/{}: {} with one row: {d}", s.id, head.name);
                }
            }
        }
    }
    let path = if generic {
        "generic op path"
    } else {
        "CPU kernels"
    };
    eprintln!("{name} {prefix}({path}): max abs difference to HF transformers {worst:.2e}");
}

#[test]
fn bert_sequence_classifier_matches_hf() {
    check_model("bert_cls");
}

#[test]
fn bert_multilabel_from_pytorch_bin_matches_hf() {
    check_model("bert_multilabel");
    let model = ProteinModel::load(&model_fixture("bert_multilabel"), &Device::Cpu).unwrap();
    assert!(model.output("classifier").unwrap().multi_label);
}

#[test]
fn bert_masked_lm_with_tied_decoder_matches_hf() {
    check_model("bert_mlm");
}

#[test]
fn esm_classifier_matches_hf() {
    check_model("esm_cls");
}

#[test]
fn esm_masked_lm_from_shards_matches_hf() {
    check_model("esm_mlm");
}

#[test]
fn antiberty_shaped_model_matches_hf() {
    check_model("antiberty_tiny");
    let model = ProteinModel::load(&model_fixture("antiberty_tiny"), &Device::Cpu).unwrap();
    let names: Vec<_> = model.outputs().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["mlm", "species", "chain", "graft"]);
    assert_eq!(model.output("species").unwrap().label(1), Some("Human"));
}

/// A padded batch gives each sequence the same results as running it alone.
#[test]
fn padded_batches_equal_single_runs() {
    for name in [
        "bert_cls",
        "esm_cls",
        "antiberty_tiny",
        "albert_cls",
        "esmc_tiny",
        "t5_gated",
        "xlnet_cls",
        "roberta_cls",
        "gpt2_lm",
    ] {
        let dir = model_fixture(name);
        let model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
        let seqs: Vec<_> = reference_sequences(&dir)
            .iter()
            .map(|s| model.encode_sequence(&s.id, &s.sequence, None).unwrap())
            .collect();
        let refs: Vec<_> = seqs.iter().collect();
        let batched = protscope::attention::attention_maps(&model, &refs).unwrap();
        let batched_pred = protscope::model::outputs::predictions_frame(&model, &refs).unwrap();
        let mut single_pred = Vec::new();
        for (s, b) in seqs.iter().zip(&batched) {
            let alone = &protscope::attention::attention_maps(&model, &[s]).unwrap()[0];
            let d = max_abs_diff(&alone.weights, &b.weights);
            assert!(
                d <= 1e-5,
                "{name}/{}: batched attention differs by {d}",
                s.id
            );
            single_pred.push(protscope::model::outputs::predictions_frame(&model, &[s]).unwrap());
        }
        let mut stacked = single_pred[0].clone();
        for p in &single_pred[1..] {
            stacked.vstack_mut(p).unwrap();
        }
        // Same rows in the same order (protein-major within each head vs. per protein).
        let logit = |df: &polars::prelude::DataFrame| -> Vec<(String, String, i64, f32)> {
            let mut v: Vec<_> = (0..df.height())
                .map(|r| {
                    let row = df.get_row(r).unwrap().0;
                    (
                        row[0].get_str().unwrap().to_string(),
                        row[1].get_str().unwrap().to_string(),
                        row[2].try_extract::<i64>().unwrap(),
                        row[4].try_extract::<f32>().unwrap(),
                    )
                })
                .collect();
            v.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
            v
        };
        for (a, b) in logit(&batched_pred).iter().zip(logit(&stacked).iter()) {
            assert_eq!((&a.0, &a.1, a.2), (&b.0, &b.1, b.2));
            assert!(
                (a.3 - b.3).abs() <= 1e-5,
                "{name}: batched logit differs: {a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn albert_classifier_with_shared_layers_matches_hf() {
    check_model("albert_cls");
    let model = ProteinModel::load(&model_fixture("albert_cls"), &Device::Cpu).unwrap();
    // Three applications of one layer group: three layers of attention.
    assert_eq!(model.num_layers(), 3);
}

#[test]
fn albert_masked_lm_matches_hf() {
    check_model("albert_mlm");
}

/// ESM C against the official `esm` package's modules: the sequence head and a mean-pooled
/// classifier, attention maps recomputed from its own q/k path.
#[test]
fn esmc_matches_official_modules() {
    check_model("esmc_tiny");
    let model = ProteinModel::load(&model_fixture("esmc_tiny"), &Device::Cpu).unwrap();
    let names: Vec<_> = model.outputs().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["mlm", "classifier"]);
}

/// ProtT5-shaped: gated GELU, context width (4 × d_kv 8) ≠ d_model 16, relative position
/// buckets, `</s>` only; tokens from a SentencePiece model as in ProtT5's folder.
#[test]
fn t5_encoder_gated_gelu_from_spiece_matches_hf() {
    check_model("t5_gated");
    let model = ProteinModel::load(&model_fixture("t5_gated"), &Device::Cpu).unwrap();
    assert_eq!(model.context_size(), 32);
    let enc = model.encode_sequence("x", "MKU", None).unwrap();
    // No leading special token: residues start at token 0, `</s>` closes.
    assert_eq!((enc.residue_start, enc.ids.len()), (0, 4));
    assert_eq!(Some(enc.ids[2]), model.tokenizer.token_id("\u{2581}X"));
}

/// Original-T5 ReLU feed-forward, tokenizer from `tokenizer.json`.
#[test]
fn t5_encoder_relu_from_tokenizer_json_matches_hf() {
    check_model("t5_relu");
}

/// XLNet: relative attention (position and segment terms), `<sep> <cls>` at the end, the
/// sequence summary of the last token.
#[test]
fn xlnet_classifier_matches_hf() {
    check_model("xlnet_cls");
    let model = ProteinModel::load(&model_fixture("xlnet_cls"), &Device::Cpu).unwrap();
    let enc = model.encode_sequence("x", "MKT", None).unwrap();
    assert_eq!((enc.residue_start, enc.ids.len()), (0, 5));
    assert_eq!(model.tokenizer.final_tokens, ["<sep>", "<cls>"]);
}

/// RoBERTa with Sapiens' vocabulary: positions counted from the padding index, `<s> … </s>`.
#[test]
fn roberta_masked_lm_and_classifier_match_hf() {
    check_model("roberta_mlm");
    check_model("roberta_cls");
    let model = ProteinModel::load(&model_fixture("roberta_mlm"), &Device::Cpu).unwrap();
    // 66 learned positions from padding index 1 + 1: 64 tokens.
    assert_eq!(model.tokenizer.max_tokens(), 64);
    let enc = model.encode_sequence("x", "EVQ", None).unwrap();
    assert_eq!(enc.ids, [0, 7, 21, 17, 2]);
}

/// GPT-2 with IgLM's vocabulary, read as IgLM reads sequences: `[HEAVY] [HUMAN] residues
/// [SEP]`; lower-triangular attention, the tied LM head `lm`.
#[test]
fn gpt2_causal_lm_with_prefix_matches_hf() {
    let dir = model_fixture("gpt2_lm");
    let mut model = ProteinModel::load(&dir, &Device::Cpu).unwrap();
    assert!(model.is_causal());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    model.set_prefix(json["prefix"].as_str().unwrap()).unwrap();
    check_parity("gpt2_lm", &model, "", TOL);
    protscope::model::ops::with_generic_ops(|| check_parity("gpt2_lm", &model, "", TOL));
    let enc = model.encode_sequence("x", "EVQ", None).unwrap();
    assert_eq!(enc.residue_start, 2);
    assert_eq!(enc.residue_tokens(), 2..5);
    assert_eq!(model.tokenizer.final_tokens, ["[SEP]"]);
    assert!(model.set_prefix("[HEAVY] [DOG]").is_err());
}
