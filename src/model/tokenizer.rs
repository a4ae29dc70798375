//! Turning protein sequences into model tokens, per family, through the `tokenizers` crate.
//!
//! Rules (checked before tokenizing, so errors can name the record and position):
//! - Input is upper-cased; whitespace is not allowed inside a sequence.
//! - **ProtBert-style** vocabularies (`[CLS]`…, with `X`): residues are space-separated and
//!   U, Z, O, B are mapped to X, as ProtBert's authors prescribe.
//! - **AntiBERTy-style** vocabularies (`[CLS]`…, no `X`, 25 tokens): X, U, Z, O, B become `[UNK]`,
//!   exactly what AntiBERTy's own `BertTokenizer` does with them; AntiBERTy never saw `[UNK]` in
//!   training, so such residues carry little signal. Any other character is an error.
//! - **ESM** vocabularies (`<cls>`…): one token per character, as the alphabet has it.
//! - A sequence becomes `first special, residues…, final special` (`[CLS] … [SEP]` or
//!   `<cls> … <eos>`). Its length in tokens (residues + 2) must not exceed the model's limit
//!   (BERT: `max_position_embeddings`; ESM: `max_position_embeddings - 2`, the offset ESM's
//!   positions start at), unless a `max_len` truncation is asked for.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;
use tokenizers::Tokenizer;

use crate::{Error, Result};

/// How residues map onto vocabulary tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// BERT vocabulary with X: U/Z/O/B → X.
    ProtBert,
    /// BERT vocabulary without X: X/U/Z/O/B → `[UNK]`.
    AntiBerty,
    /// ESM vocabulary: characters as they are.
    Esm,
}

/// Token ids of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSequence {
    /// Record id (FASTA id), for error messages and outputs.
    pub id: String,
    /// Token ids, specials included: length `residues.len() + 2`.
    pub ids: Vec<u32>,
    /// The residues actually given to the model (upper-cased, truncated), one char each.
    pub residues: Vec<char>,
    /// Residues dropped by `max_len` truncation.
    pub truncated: usize,
}

impl EncodedSequence {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Encodes protein sequences for one model.
#[derive(Debug, Clone)]
pub struct SequenceTokenizer {
    tokenizer: Tokenizer,
    vocab: HashMap<String, u32>,
    alphabet: Alphabet,
    /// Longest allowed token count (specials included).
    max_tokens: usize,
    pub first_token: String,
    pub last_token: String,
    pub pad_token: String,
    pub mask_token: String,
    pub unk_token: String,
}

impl SequenceTokenizer {
    /// Builds the tokenizer of a model folder: `tokenizer.json` if present, otherwise a
    /// word-level tokenizer over `vocab.txt` (one token per line, id = line number).
    pub fn from_folder(dir: &Path, config: &super::ModelConfig) -> Result<Self> {
        let max_position_embeddings = config.max_position_embeddings;
        let is_esm = config.family.is_esm_like();
        let tokenizer_json = dir.join("tokenizer.json");
        let vocab_txt = dir.join("vocab.txt");
        let (vocab, loaded) = if tokenizer_json.is_file() {
            let tok = Tokenizer::from_file(&tokenizer_json)
                .map_err(|e| Error::file(&tokenizer_json, format!("cannot load tokenizer: {e}")))?;
            (tok.get_vocab(true), Some(tok))
        } else if vocab_txt.is_file() {
            let text = std::fs::read_to_string(&vocab_txt).map_err(|e| Error::io(&vocab_txt, e))?;
            let vocab: HashMap<String, u32> = text
                .lines()
                .enumerate()
                .map(|(i, t)| (t.trim_end_matches('\r').to_string(), i as u32))
                .collect();
            if vocab.is_empty() {
                return Err(Error::file(&vocab_txt, "vocabulary is empty"));
            }
            (vocab, None)
        } else {
            return Err(Error::file(
                dir,
                "no tokenizer found: expected tokenizer.json or vocab.txt in the model folder",
            ));
        };
        let source = if loaded.is_some() {
            tokenizer_json
        } else {
            vocab_txt
        };
        let specials = SpecialTokens::detect(&vocab, dir, &source)?;
        let alphabet = if vocab.contains_key("<cls>") || is_esm {
            Alphabet::Esm
        } else if vocab.contains_key("X") {
            Alphabet::ProtBert
        } else {
            Alphabet::AntiBerty
        };
        let tokenizer = match loaded {
            Some(t) => t,
            None => word_level_tokenizer(&vocab, &specials)
                .map_err(|e| Error::file(&source, format!("cannot build tokenizer: {e}")))?,
        };
        let max_tokens = if config.family == super::Family::Esm {
            max_position_embeddings.saturating_sub(2)
        } else {
            max_position_embeddings
        };
        Ok(SequenceTokenizer {
            tokenizer,
            vocab,
            alphabet,
            max_tokens,
            first_token: specials.first,
            last_token: specials.last,
            pad_token: specials.pad,
            mask_token: specials.mask,
            unk_token: specials.unk,
        })
    }

    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Longest sequence the model accepts, in tokens (specials included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    pub fn pad_id(&self) -> u32 {
        self.vocab[&self.pad_token]
    }

    pub fn mask_id(&self) -> u32 {
        self.vocab[&self.mask_token]
    }

    /// Maps one residue character to its token text, or `None` if the model cannot read it.
    fn residue_token(&self, c: char) -> Option<String> {
        let s = c.to_string();
        match self.alphabet {
            Alphabet::ProtBert => {
                let c = if matches!(c, 'U' | 'Z' | 'O' | 'B') {
                    'X'
                } else {
                    c
                };
                self.vocab
                    .contains_key(&c.to_string())
                    .then(|| c.to_string())
            }
            Alphabet::AntiBerty => {
                if self.vocab.contains_key(&s) {
                    Some(s)
                } else if matches!(c, 'X' | 'U' | 'Z' | 'O' | 'B') {
                    Some(self.unk_token.clone())
                } else {
                    None
                }
            }
            Alphabet::Esm => (c.is_ascii_alphabetic() && self.vocab.contains_key(&s)).then_some(s),
        }
    }

    /// Encodes one sequence. `max_len` (tokens, specials included) truncates the residues
    /// from the end; without it, a sequence longer than the model's limit is an error.
    pub fn encode(
        &self,
        id: &str,
        sequence: &str,
        max_len: Option<usize>,
    ) -> Result<EncodedSequence> {
        let residues: Vec<char> = sequence.chars().map(|c| c.to_ascii_uppercase()).collect();
        if residues.is_empty() {
            return Err(Error::sequence(id, "empty sequence"));
        }
        let mut tokens = Vec::with_capacity(residues.len());
        for (i, &c) in residues.iter().enumerate() {
            match self.residue_token(c) {
                Some(t) => tokens.push(t),
                None => {
                    return Err(Error::sequence(
                        id,
                        format!(
                            "residue `{}` at position {} is not in the model's alphabet ({}); \
                             remove or replace it",
                            c.escape_default(),
                            i + 1,
                            self.alphabet_description()
                        ),
                    ))
                }
            }
        }
        let limit = match max_len {
            Some(m) if m < 3 => {
                return Err(Error::invalid(format!(
                    "--max-len {m} leaves no residue: it counts the two special tokens too"
                )))
            }
            Some(m) if m > self.max_tokens => {
                return Err(Error::invalid(format!(
                    "--max-len {m} exceeds the model's limit of {} tokens",
                    self.max_tokens
                )))
            }
            Some(m) => m,
            None => {
                if residues.len() + 2 > self.max_tokens {
                    return Err(Error::sequence(
                        id,
                        format!(
                            "{} residues + 2 special tokens exceed the model's limit of {} tokens; \
                             pass --max-len {} to truncate",
                            residues.len(),
                            self.max_tokens,
                            self.max_tokens
                        ),
                    ));
                }
                self.max_tokens
            }
        };
        let keep = residues.len().min(limit - 2);
        let truncated = residues.len() - keep;
        tokens.truncate(keep);
        let text = tokens.join(" ");
        let encoding = self
            .tokenizer
            .encode(text.as_str(), true)
            .map_err(|e| Error::sequence(id, format!("tokenizer failed: {e}")))?;
        let ids = encoding.get_ids().to_vec();
        let expected_first = self.vocab[&self.first_token];
        let expected_last = self.vocab[&self.last_token];
        if ids.len() != keep + 2 || ids[0] != expected_first || ids[keep + 1] != expected_last {
            return Err(Error::sequence(
                id,
                format!(
                    "the model's tokenizer produced {} tokens for {} residues; protscope expects one \
                     token per residue between {} and {}",
                    ids.len(),
                    keep,
                    self.first_token,
                    self.last_token
                ),
            ));
        }
        Ok(EncodedSequence {
            id: id.to_string(),
            ids,
            residues: residues[..keep].to_vec(),
            truncated,
        })
    }

    fn alphabet_description(&self) -> &'static str {
        match self.alphabet {
            Alphabet::ProtBert => "20 amino acids plus X; U, Z, O, B are read as X",
            Alphabet::AntiBerty => "20 amino acids; X, U, Z, O, B are read as [UNK]",
            Alphabet::Esm => "the ESM alphabet: 20 amino acids plus X, B, U, Z, O",
        }
    }
}

struct SpecialTokens {
    first: String,
    last: String,
    pad: String,
    mask: String,
    unk: String,
}

impl SpecialTokens {
    /// BERT (`[CLS]`, `[SEP]`, …) or ESM (`<cls>`, `<eos>`, …) names, overridden by
    /// `special_tokens_map.json` when present.
    fn detect(vocab: &HashMap<String, u32>, dir: &Path, source: &Path) -> Result<Self> {
        let esm = vocab.contains_key("<cls>");
        let mut t = if esm {
            SpecialTokens {
                first: "<cls>".into(),
                last: "<eos>".into(),
                pad: "<pad>".into(),
                mask: "<mask>".into(),
                unk: "<unk>".into(),
            }
        } else {
            SpecialTokens {
                first: "[CLS]".into(),
                last: "[SEP]".into(),
                pad: "[PAD]".into(),
                mask: "[MASK]".into(),
                unk: "[UNK]".into(),
            }
        };
        let map_path = dir.join("special_tokens_map.json");
        if map_path.is_file() {
            let text = std::fs::read_to_string(&map_path).map_err(|e| Error::io(&map_path, e))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::file(&map_path, format!("not valid JSON: {e}")))?;
            let get = |key: &str| -> Option<String> {
                let v = json.get(key)?;
                v.as_str()
                    .map(String::from)
                    .or_else(|| v.get("content").and_then(|c| c.as_str()).map(String::from))
            };
            if let Some(v) = get("cls_token") {
                t.first = v;
            }
            if let Some(v) = get("sep_token").or_else(|| get("eos_token")) {
                t.last = v;
            }
            if let Some(v) = get("pad_token") {
                t.pad = v;
            }
            if let Some(v) = get("mask_token") {
                t.mask = v;
            }
            if let Some(v) = get("unk_token") {
                t.unk = v;
            }
        }
        for (role, token) in [
            ("first special", &t.first),
            ("final special", &t.last),
            ("padding", &t.pad),
            ("mask", &t.mask),
            ("unknown", &t.unk),
        ] {
            if !vocab.contains_key(token) {
                return Err(Error::file(
                    source,
                    format!("the vocabulary has no {role} token `{token}`"),
                ));
            }
        }
        Ok(t)
    }
}

/// A word-level tokenizer over `vocab`: whitespace-split tokens, wrapped in the specials.
fn word_level_tokenizer(
    vocab: &HashMap<String, u32>,
    specials: &SpecialTokens,
) -> std::result::Result<Tokenizer, String> {
    let special = |t: &str| json!({"id": t, "ids": [vocab[t]], "tokens": [t]});
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": specials.first, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": specials.last, "type_id": 0}}
            ],
            "pair": [
                {"SpecialToken": {"id": specials.first, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": specials.last, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": specials.last, "type_id": 1}}
            ],
            "special_tokens": {
                specials.first.clone(): special(&specials.first),
                specials.last.clone(): special(&specials.last)
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": specials.unk}
    });
    spec.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| e.to_string())
}
