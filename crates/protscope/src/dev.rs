//! Developer tools: model folders with random weights in the real shapes of ProtBert and ESM-2,
//! for timing and memory measurements without downloading gigabytes of weights.
//!
//! [`write_random_model`] writes `config.json` (the published configuration, with optional
//! shape overrides), `vocab.txt` (the published vocabulary) and `model.safetensors` with
//! seeded random weights: every matrix and embedding N(0, 0.02²) (the models'
//! `initializer_range`), biases 0, LayerNorm weight 1 and bias 0. Each tensor's values come from
//! its own generator, seeded from the seed and the tensor's name (xoshiro256** with normals by
//! Box–Muller), so a folder is the same on every machine and tensors do not depend on the order
//! they are written in. The safetensors file is streamed tensor by tensor (memory: the largest
//! tensor, not the model) into a temporary file renamed into place when complete.

use std::io::Write;
use std::path::Path;

use crate::frame::shard::fnv1a64;
use crate::{Error, Result};

/// Published configurations protscope can imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Rostlab/prot_bert: BERT, vocab 30, hidden 1024, 30 layers × 16 heads, ff 4096,
    /// 40,000 positions (420 M parameters).
    ProtBert,
    /// facebook/esm2_t30_150M_UR50D: hidden 640, 30 layers × 20 heads, ff 2560.
    Esm2_150M,
    /// facebook/esm2_t33_650M_UR50D: hidden 1280, 33 layers × 20 heads, ff 5120.
    Esm2_650M,
}

/// Which head the folder carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomHead {
    /// A two-class sequence classifier (`*ForSequenceClassification`), what attribution needs.
    Classifier,
    /// The masked-LM head of the published checkpoints (`*ForMaskedLM`).
    MaskedLm,
}

/// Shape overrides of a preset (None keeps the published value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShapeOverrides {
    pub layers: Option<usize>,
    pub hidden: Option<usize>,
    pub heads: Option<usize>,
    pub intermediate: Option<usize>,
    pub max_positions: Option<usize>,
}

/// What [`write_random_model`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomModelReport {
    pub parameters: usize,
    pub bytes: u64,
    pub config: serde_json::Value,
}

const PROTBERT_VOCAB: [&str; 30] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "L", "A", "G", "V", "E", "S", "I", "K", "R", "D",
    "T", "P", "N", "Q", "F", "Y", "M", "H", "C", "W", "X", "U", "B", "Z", "O",
];

const ESM_VOCAB: [&str; 33] = [
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K",
    "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>",
    "<mask>",
];

impl Preset {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "protbert" => Ok(Preset::ProtBert),
            "esm2-150m" => Ok(Preset::Esm2_150M),
            "esm2-650m" => Ok(Preset::Esm2_650M),
            other => Err(Error::invalid(format!(
                "unknown preset `{other}`: use protbert, esm2-150m or esm2-650m"
            ))),
        }
    }

    fn is_esm(self) -> bool {
        self != Preset::ProtBert
    }

    /// The published config.json values (hidden, layers, heads, ff, positions).
    fn shape(self) -> (usize, usize, usize, usize, usize) {
        match self {
            Preset::ProtBert => (1024, 30, 16, 4096, 40000),
            Preset::Esm2_150M => (640, 30, 20, 2560, 1026),
            Preset::Esm2_650M => (1280, 33, 20, 5120, 1026),
        }
    }
}

/// The config.json of a preset with overrides and head.
pub fn random_model_config(
    preset: Preset,
    head: RandomHead,
    overrides: &ShapeOverrides,
) -> Result<serde_json::Value> {
    let (hidden, layers, heads, ff, positions) = preset.shape();
    let hidden = overrides.hidden.unwrap_or(hidden);
    let layers = overrides.layers.unwrap_or(layers);
    let heads = overrides.heads.unwrap_or(heads);
    let ff = overrides.intermediate.unwrap_or(ff);
    let positions = overrides.max_positions.unwrap_or(positions);
    if heads == 0
        || hidden == 0
        || !hidden.is_multiple_of(heads)
        || (preset.is_esm() && !(hidden / heads).is_multiple_of(2))
    {
        return Err(Error::invalid(format!(
            "`hidden` {hidden} must be a positive multiple of `heads` {heads}{}",
            if preset.is_esm() {
                " with an even head width (rotary embeddings)"
            } else {
                ""
            }
        )));
    }
    if layers == 0 || ff == 0 || positions < 3 {
        return Err(Error::invalid(
            "`layers` and `intermediate` must be at least 1 and `max_positions` at least 3",
        ));
    }
    let family = if preset.is_esm() { "Esm" } else { "Bert" };
    let architecture = match head {
        RandomHead::Classifier => format!("{family}ForSequenceClassification"),
        RandomHead::MaskedLm => format!("{family}ForMaskedLM"),
    };
    let mut config = if preset.is_esm() {
        serde_json::json!({
            "model_type": "esm",
            "architectures": [architecture],
            "attention_probs_dropout_prob": 0.0,
            "classifier_dropout": null,
            "emb_layer_norm_before": false,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "hidden_size": hidden,
            "initializer_range": 0.02,
            "intermediate_size": ff,
            "is_folding_model": false,
            "layer_norm_eps": 1e-05,
            "mask_token_id": 32,
            "max_position_embeddings": positions,
            "num_attention_heads": heads,
            "num_hidden_layers": layers,
            "pad_token_id": 1,
            "position_embedding_type": "rotary",
            "token_dropout": true,
            "torch_dtype": "float32",
            "use_cache": true,
            "vocab_list": null,
            "vocab_size": 33,
        })
    } else {
        serde_json::json!({
            "model_type": "bert",
            "architectures": [architecture],
            "attention_probs_dropout_prob": 0.0,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "hidden_size": hidden,
            "initializer_range": 0.02,
            "intermediate_size": ff,
            "layer_norm_eps": 1e-12,
            "max_position_embeddings": positions,
            "num_attention_heads": heads,
            "num_hidden_layers": layers,
            "pad_token_id": 0,
            "type_vocab_size": 2,
            "vocab_size": 30,
        })
    };
    if head == RandomHead::Classifier {
        config["id2label"] = serde_json::json!({"0": "LABEL_0", "1": "LABEL_1"});
        config["label2id"] = serde_json::json!({"LABEL_0": 0, "LABEL_1": 1});
        config["problem_type"] = "single_label_classification".into();
    }
    config["protscope_random_weights"] =
        "random weights of the published shape, for timing only".into();
    Ok(config)
}

/// How a tensor is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
    Normal,
    Zeros,
    Ones,
}

/// (name, shape, init) of every tensor of the model `config` describes.
fn tensor_list(config: &serde_json::Value) -> Vec<(String, Vec<usize>, Init)> {
    let n = |k: &str| config[k].as_u64().unwrap_or(0) as usize;
    let (h, ff, layers, vocab) = (
        n("hidden_size"),
        n("intermediate_size"),
        n("num_hidden_layers"),
        n("vocab_size"),
    );
    let esm = config["model_type"] == "esm";
    let classifier = config["architectures"][0]
        .as_str()
        .is_some_and(|a| a.ends_with("SequenceClassification"));
    let mut t: Vec<(String, Vec<usize>, Init)> = Vec::new();
    let linear = |t: &mut Vec<_>, name: &str, out: usize, inp: usize| {
        t.push((format!("{name}.weight"), vec![out, inp], Init::Normal));
        t.push((format!("{name}.bias"), vec![out], Init::Zeros));
    };
    let norm = |t: &mut Vec<(String, Vec<usize>, Init)>, name: &str| {
        t.push((format!("{name}.weight"), vec![h], Init::Ones));
        t.push((format!("{name}.bias"), vec![h], Init::Zeros));
    };
    let p = if esm { "esm." } else { "bert." };
    t.push((
        format!("{p}embeddings.word_embeddings.weight"),
        vec![vocab, h],
        Init::Normal,
    ));
    if !esm {
        t.push((
            format!("{p}embeddings.position_embeddings.weight"),
            vec![n("max_position_embeddings"), h],
            Init::Normal,
        ));
        t.push((
            format!("{p}embeddings.token_type_embeddings.weight"),
            vec![n("type_vocab_size"), h],
            Init::Normal,
        ));
        norm(&mut t, &format!("{p}embeddings.LayerNorm"));
    }
    for i in 0..layers {
        let l = format!("{p}encoder.layer.{i}");
        for m in ["query", "key", "value"] {
            linear(&mut t, &format!("{l}.attention.self.{m}"), h, h);
        }
        linear(&mut t, &format!("{l}.attention.output.dense"), h, h);
        linear(&mut t, &format!("{l}.intermediate.dense"), ff, h);
        linear(&mut t, &format!("{l}.output.dense"), h, ff);
        if esm {
            norm(&mut t, &format!("{l}.attention.LayerNorm"));
            norm(&mut t, &format!("{l}.LayerNorm"));
        } else {
            norm(&mut t, &format!("{l}.attention.output.LayerNorm"));
            norm(&mut t, &format!("{l}.output.LayerNorm"));
        }
    }
    if esm {
        norm(&mut t, "esm.encoder.emb_layer_norm_after");
    }
    match (esm, classifier) {
        (false, true) => {
            linear(&mut t, "bert.pooler.dense", h, h);
            linear(&mut t, "classifier", 2, h);
        }
        (true, true) => {
            linear(&mut t, "classifier.dense", h, h);
            linear(&mut t, "classifier.out_proj", 2, h);
        }
        (false, false) => {
            linear(&mut t, "cls.predictions.transform.dense", h, h);
            norm(&mut t, "cls.predictions.transform.LayerNorm");
            // The decoder is tied to the word embeddings; only its bias is stored.
            t.push(("cls.predictions.bias".into(), vec![vocab], Init::Zeros));
        }
        (true, false) => {
            linear(&mut t, "lm_head.dense", h, h);
            norm(&mut t, "lm_head.layer_norm");
            t.push(("lm_head.bias".into(), vec![vocab], Init::Zeros));
        }
    }
    t
}

/// xoshiro256** seeded by splitmix64: a small, fast, reproducible generator.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Two independent N(0, 1) values (Box–Muller).
    fn normal_pair(&mut self) -> (f64, f64) {
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        (r * theta.cos(), r * theta.sin())
    }
}

/// The values of one tensor, little-endian f32 bytes.
fn tensor_bytes(name: &str, len: usize, init: Init, seed: u64, std: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len * 4);
    match init {
        Init::Zeros => out.resize(len * 4, 0),
        Init::Ones => (0..len).for_each(|_| out.extend_from_slice(&1f32.to_le_bytes())),
        Init::Normal => {
            let mut rng = Rng::new(seed ^ fnv1a64(name.as_bytes()));
            let mut i = 0;
            while i < len {
                let (a, b) = rng.normal_pair();
                out.extend_from_slice(&((a * std) as f32).to_le_bytes());
                if i + 1 < len {
                    out.extend_from_slice(&((b * std) as f32).to_le_bytes());
                }
                i += 2;
            }
        }
    }
    out
}

/// Writes a random-weight model folder of `preset`'s shape (with `overrides`) into `dir`:
/// config.json, vocab.txt, model.safetensors. Refuses a folder that already holds a
/// config.json not written by this function.
pub fn write_random_model(
    dir: &Path,
    preset: Preset,
    head: RandomHead,
    overrides: &ShapeOverrides,
    seed: u64,
) -> Result<RandomModelReport> {
    let config = random_model_config(preset, head, overrides)?;
    let config_path = dir.join("config.json");
    if config_path.is_file() {
        let old = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        if !old.contains("protscope_random_weights") {
            return Err(Error::file(
                &config_path,
                "belongs to a real model folder; choose an empty `out` folder for random weights",
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tensors = tensor_list(&config);
    // safetensors: u64 header length, JSON header (offsets into the data), data.
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, _) in &tensors {
        let bytes = shape.iter().product::<usize>() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    header.insert(
        "__metadata__".into(),
        serde_json::json!({"format": "pt", "protscope": format!("random weights, seed {seed}")}),
    );
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let weights_path = dir.join("model.safetensors");
    let mut tmp = crate::frame::temporary_beside(&weights_path)?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let io = |e| Error::io(&weights_path, e);
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&header).map_err(io)?;
        for (name, shape, init) in &tensors {
            let len = shape.iter().product();
            w.write_all(&tensor_bytes(name, len, *init, seed, 0.02))
                .map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    tmp.as_file_mut()
        .sync_all()
        .map_err(|e| Error::io(&weights_path, e))?;
    crate::frame::publish(tmp, &weights_path)?;
    let vocab: &[&str] = if preset.is_esm() {
        &ESM_VOCAB
    } else {
        &PROTBERT_VOCAB
    };
    crate::frame::write_atomically(&dir.join("vocab.txt"), (vocab.join("\n") + "\n").as_bytes())?;
    let text = serde_json::to_string_pretty(&config).expect("JSON value");
    crate::frame::write_atomically(&config_path, text.as_bytes())?;
    Ok(RandomModelReport {
        parameters: offset / 4,
        bytes: (8 + header.len() + offset) as u64,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_normals_have_the_asked_spread() {
        let bytes = tensor_bytes("w", 100_001, Init::Normal, 7, 0.02);
        let values: Vec<f64> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        assert_eq!(values.len(), 100_001);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let sd =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        assert!(mean.abs() < 3e-4, "{mean}");
        assert!((sd - 0.02).abs() < 3e-4, "{sd}");
        // Same name and seed: same values; other name: others.
        assert_eq!(bytes, tensor_bytes("w", 100_001, Init::Normal, 7, 0.02));
        assert_ne!(bytes, tensor_bytes("v", 100_001, Init::Normal, 7, 0.02));
    }

    #[test]
    fn published_shapes_have_the_published_parameter_counts() {
        // Parameters of the published checkpoints' backbones (embeddings + encoder), from
        // their shapes: ProtBert 419.9 M with the MLM head; ESM-2 150M 148 M, 650M 651 M.
        let count = |preset, head| {
            let config = random_model_config(preset, head, &ShapeOverrides::default()).unwrap();
            tensor_list(&config)
                .iter()
                .map(|(_, s, _)| s.iter().product::<usize>())
                .sum::<usize>()
        };
        let protbert = count(Preset::ProtBert, RandomHead::MaskedLm);
        assert!((419_000_000..421_000_000).contains(&protbert), "{protbert}");
        let esm150 = count(Preset::Esm2_150M, RandomHead::MaskedLm);
        assert!((147_000_000..149_000_000).contains(&esm150), "{esm150}");
        let esm650 = count(Preset::Esm2_650M, RandomHead::MaskedLm);
        assert!((650_000_000..652_500_000).contains(&esm650), "{esm650}");
        assert!(random_model_config(
            Preset::Esm2_150M,
            RandomHead::Classifier,
            &ShapeOverrides {
                heads: Some(7),
                ..Default::default()
            }
        )
        .is_err());
        assert!(Preset::parse("esm3").is_err());
    }
}
