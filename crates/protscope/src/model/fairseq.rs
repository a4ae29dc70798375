//! fairseq RoBERTa checkpoints (Sapiens) as Hugging Face `RobertaForMaskedLM` folders.
//!
//! A fairseq checkpoint is a `torch.save` of a dict: the state dict under `model`, the training
//! options as an `argparse.Namespace` under `args` (newer releases: an omegaconf `cfg`), and the
//! optimizer's history and state. Only the state dict's tensors and the architecture numbers of
//! `args` are read. The tensor names follow transformers' own conversion
//! (`convert_roberta_original_pytorch_checkpoint_to_pytorch.py`): `embed_tokens` → word
//! embeddings, `embed_positions` → position embeddings (fairseq counts positions from the
//! padding index + 1, as HF RoBERTa does), `emb_layer_norm` → the embeddings' LayerNorm, each
//! layer's `self_attn.{q,k,v}_proj` / `out_proj` / `self_attn_layer_norm` / `fc1` / `fc2` /
//! `final_layer_norm` → BERT's names, and the LM head's `dense`, `layer_norm`, `weight`
//! (decoder) and `bias`. One token type, whose embedding is zero.

use std::collections::HashMap;
use std::path::Path;

use candle_core::pickle::Object;
use candle_core::{DType, Tensor};
use serde_json::{json, Value};

use super::torch_file::read_checkpoint_entry;
use crate::{Error, Result};

/// fairseq's dictionary: four specials, the symbols of `dict.txt` in order, then the `<mask>`
/// the masked-LM task appends.
pub fn fairseq_vocabulary(dict_txt: &str) -> Vec<String> {
    let mut vocab: Vec<String> = ["<s>", "<pad>", "</s>", "<unk>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    vocab.extend(
        dict_txt
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from),
    );
    vocab.push("<mask>".into());
    vocab
}

/// The `args` namespace of a fairseq checkpoint as JSON values (numbers, strings, booleans,
/// lists; other values as null).
fn namespace_fields(args: &Object) -> HashMap<String, Value> {
    fn value(o: &Object) -> Value {
        match o {
            Object::Int(i) => json!(i),
            Object::Long(i) => json!(i),
            Object::Float(f) => json!(f),
            Object::Bool(b) => json!(b),
            Object::Unicode(s) => json!(s),
            Object::List(v) | Object::Tuple(v) => Value::Array(v.iter().map(value).collect()),
            _ => Value::Null,
        }
    }
    let fields = match args {
        Object::Build { args, .. } => args.as_ref(),
        other => other,
    };
    match fields {
        Object::Dict(entries) => entries
            .iter()
            .filter_map(|(k, v)| match k {
                Object::Unicode(k) => Some((k.clone(), value(v))),
                _ => None,
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// Converts the fairseq RoBERTa checkpoint `checkpoint` (with its `dict.txt`) into an HF
/// `RobertaForMaskedLM` folder `out`: `config.json` (architecture numbers from the
/// checkpoint's `args` and tensor shapes), `model.safetensors`, `vocab.txt` and
/// `special_tokens_map.json`.
pub fn convert_fairseq_roberta(checkpoint: &Path, dict_txt: &Path, out: &Path) -> Result<()> {
    let (tensors, others) = read_checkpoint_entry(checkpoint, "model")?;
    let args = others
        .iter()
        .find(|(k, _)| k == "args")
        .map(|(_, v)| namespace_fields(v))
        .unwrap_or_default();
    let dict = std::fs::read_to_string(dict_txt).map_err(|e| Error::io(dict_txt, e))?;
    let vocab = fairseq_vocabulary(&dict);
    // Old releases keep the encoder under `decoder.`, newer under `encoder.`.
    let root = ["encoder", "decoder"]
        .into_iter()
        .find(|r| tensors.contains_key(&format!("{r}.sentence_encoder.embed_tokens.weight")))
        .ok_or_else(|| {
            Error::file(
                checkpoint,
                "not a fairseq RoBERTa checkpoint: no `sentence_encoder.embed_tokens.weight`",
            )
        })?;
    let get = |name: &str| -> Result<Tensor> {
        let full = format!("{root}.{name}");
        tensors
            .get(&full)
            .map(|t| t.to_dtype(DType::F32))
            .transpose()?
            .ok_or_else(|| Error::tensor(checkpoint, full, "missing from the fairseq state dict"))
    };
    let words = get("sentence_encoder.embed_tokens.weight")?;
    let (vocab_size, hidden) = words.dims2()?;
    if vocab_size != vocab.len() {
        return Err(Error::file(
            dict_txt,
            format!(
                "gives {} tokens (with fairseq's specials and <mask>) but the checkpoint embeds {vocab_size}",
                vocab.len()
            ),
        ));
    }
    let positions = get("sentence_encoder.embed_positions.weight")?;
    let num_layers = (0..)
        .take_while(|i| {
            tensors.contains_key(&format!("{root}.sentence_encoder.layers.{i}.fc1.weight"))
        })
        .count();
    let number = |name: &str| args.get(name).and_then(|v| v.as_u64()).map(|v| v as usize);
    let heads = number("encoder_attention_heads").ok_or_else(|| {
        Error::file(
            checkpoint,
            "its `args` do not give encoder_attention_heads; cannot split the attention heads",
        )
    })?;
    if args
        .get("encoder_normalize_before")
        .and_then(|v| v.as_bool())
        == Some(true)
    {
        return Err(Error::file(
            checkpoint,
            "encoder_normalize_before (pre-LN RoBERTa) is not supported: HF RoBERTa is post-LN",
        ));
    }
    let activation = args
        .get("activation_fn")
        .and_then(|v| v.as_str())
        .unwrap_or("gelu");
    let hidden_act = match activation {
        "gelu" => "gelu",
        "relu" => "relu",
        "gelu_fast" | "gelu_accurate" => "gelu_new",
        other => {
            return Err(Error::file(
                checkpoint,
                format!("activation_fn `{other}` is not supported (gelu, relu, gelu_accurate)"),
            ))
        }
    };
    let mut hf: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, tensor: Tensor| {
        hf.insert(name, tensor);
    };
    let e = "roberta.embeddings";
    put(format!("{e}.word_embeddings.weight"), words);
    let max_positions = positions.dim(0)?;
    put(format!("{e}.position_embeddings.weight"), positions);
    put(
        format!("{e}.token_type_embeddings.weight"),
        Tensor::zeros((1, hidden), DType::F32, &candle_core::Device::Cpu)?,
    );
    for part in ["weight", "bias"] {
        put(
            format!("{e}.LayerNorm.{part}"),
            get(&format!("sentence_encoder.emb_layer_norm.{part}"))?,
        );
    }
    let mut intermediate = 0;
    for i in 0..num_layers {
        let src = format!("sentence_encoder.layers.{i}");
        let dst = format!("roberta.encoder.layer.{i}");
        for (from, to) in [
            ("self_attn.q_proj", "attention.self.query"),
            ("self_attn.k_proj", "attention.self.key"),
            ("self_attn.v_proj", "attention.self.value"),
            ("self_attn.out_proj", "attention.output.dense"),
            ("self_attn_layer_norm", "attention.output.LayerNorm"),
            ("fc1", "intermediate.dense"),
            ("fc2", "output.dense"),
            ("final_layer_norm", "output.LayerNorm"),
        ] {
            for part in ["weight", "bias"] {
                let t = get(&format!("{src}.{from}.{part}"))?;
                if from == "fc1" && part == "weight" {
                    intermediate = t.dim(0)?;
                }
                put(format!("{dst}.{to}.{part}"), t);
            }
        }
    }
    for (from, to) in [
        ("lm_head.dense.weight", "lm_head.dense.weight"),
        ("lm_head.dense.bias", "lm_head.dense.bias"),
        ("lm_head.layer_norm.weight", "lm_head.layer_norm.weight"),
        ("lm_head.layer_norm.bias", "lm_head.layer_norm.bias"),
        ("lm_head.weight", "lm_head.decoder.weight"),
        ("lm_head.bias", "lm_head.bias"),
    ] {
        put(to.to_string(), get(from)?);
    }
    let bias = hf["lm_head.bias"].clone();
    hf.insert("lm_head.decoder.bias".into(), bias);
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let weights = out.join("model.safetensors");
    candle_core::safetensors::save(&hf, &weights)
        .map_err(|e| Error::file(&weights, format!("cannot write safetensors: {e}")))?;
    let config = json!({
        "architectures": ["RobertaForMaskedLM"],
        "model_type": "roberta",
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": num_layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "hidden_act": hidden_act,
        "max_position_embeddings": max_positions,
        "type_vocab_size": 1,
        // fairseq's LayerNorm (torch's default eps).
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "protscope_source": format!("fairseq checkpoint {}", checkpoint.display()),
    });
    let write = |name: &str, text: String| -> Result<()> {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    };
    write(
        "config.json",
        serde_json::to_string_pretty(&config).map_err(|e| Error::invalid(e.to_string()))?,
    )?;
    write("vocab.txt", vocab.join("\n") + "\n")?;
    write(
        "special_tokens_map.json",
        json!({
            "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
            "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"
        })
        .to_string(),
    )?;
    Ok(())
}
