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
//! - **SentencePiece** vocabularies (ProtT5, Ankh, ProtAlbert, ProtXLNet): residues are
//!   space-separated words, U/Z/O/B → X as the ProtTrans authors prescribe; each residue is the
//!   piece `▁R` (ProtT5, ProtAlbert, ProtXLNet) or `R` (vocabularies without `▁` pieces). The
//!   vocabulary comes from `tokenizer.json` or `spiece.model` (T5: with HF's `<extra_id_N>`
//!   sentinels appended, the first of which serves as the mask token).
//! - Special tokens are read from `special_tokens_map.json` and `tokenizer_config.json`, else
//!   found in the vocabulary under the family's usual names (`[PAD]` or `<pad>`, …); a mask
//!   token is optional (only the mask baseline needs one).
//! - A sequence becomes `first special, residues…, final special` (`[CLS] … [SEP]` or
//!   `<cls> … <eos>`), `residues…, </s>` in T5, which has no leading special token, or
//!   `residues…, <sep>, <cls>` in XLNet, `<s> … </s>` in RoBERTa and `prefix…, residues…,
//!   closing` in GPT-2 decoders (IgLM: `[HEAVY] [HUMAN] … [SEP]`; the prefix is set with
//!   [`SequenceTokenizer::set_prefix`], any family may have one). Its
//!   length in tokens (specials included) must not exceed the model's limit (BERT:
//!   `max_position_embeddings`; ESM: `max_position_embeddings - 2`, the offset ESM's positions
//!   start at; RoBERTa: `max_position_embeddings - padding_idx - 1`; GPT-2: `n_positions`;
//!   T5 and ESM C: none), unless a `max_len` truncation is asked for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// SentencePiece vocabulary (ProtT5, Ankh, ProtAlbert, ProtXLNet): U/Z/O/B → X, residue
    /// `R` → piece `▁R` (or `R`).
    SentencePiece,
}

/// Token ids of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSequence {
    /// Record id (FASTA id), for error messages and outputs.
    pub id: String,
    /// Token ids, specials included: `residues.len() + 2` (`residues.len() + 1` in T5).
    pub ids: Vec<u32>,
    /// Token index of the first residue: 1 after a leading special token, 0 in T5; after the
    /// prefix tokens where the tokenizer has a prefix ([`SequenceTokenizer::set_prefix`]).
    pub residue_start: usize,
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

    /// Token indices of the residues.
    pub fn residue_tokens(&self) -> std::ops::Range<usize> {
        self.residue_start..self.residue_start + self.residues.len()
    }

    /// The 1-based residue position of token `index`: 1..=n for residues, 0 for a leading
    /// special token, n+1 for the final one.
    pub fn position_of_token(&self, index: usize) -> i64 {
        index as i64 - self.residue_start as i64 + 1
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
    /// The special token before the residues (`[CLS]`, `<cls>`); None in T5 and XLNet.
    pub first_token: Option<String>,
    /// The special tokens after the residues: `[SEP]`, `<eos>`, `</s>`, or XLNet's
    /// `<sep> <cls>`.
    pub final_tokens: Vec<String>,
    pub pad_token: String,
    /// None where neither the tokenizer files nor the vocabulary have one: only the mask
    /// baseline of integrated gradients needs it.
    pub mask_token: Option<String>,
    /// None where the vocabulary has no unknown token (then every residue must be in it).
    pub unk_token: Option<String>,
    /// Tokens before the residues ([`Self::set_prefix`]).
    prefix: Vec<String>,
    source: PathBuf,
}

impl SequenceTokenizer {
    /// Builds the tokenizer of a model folder from the first of: `tokenizer.json`,
    /// `spiece.model` (ALBERT, T5, XLNet), `vocab.txt` (one token per line, id = line number).
    /// Special tokens are those `special_tokens_map.json` / `tokenizer_config.json` name, else
    /// the family's usual names found in the vocabulary (see [`SpecialTokens::detect`]).
    pub fn from_folder(dir: &Path, config: &super::ModelConfig) -> Result<Self> {
        let max_position_embeddings = config.max_position_embeddings;
        let family = config.family;
        let tokenizer_json = dir.join("tokenizer.json");
        let vocab_txt = dir.join("vocab.txt");
        let spiece = dir.join("spiece.model");
        let (vocab, loaded, source) = if tokenizer_json.is_file() {
            let tok = Tokenizer::from_file(&tokenizer_json)
                .map_err(|e| Error::file(&tokenizer_json, format!("cannot load tokenizer: {e}")))?;
            (tok.get_vocab(true), Some(tok), tokenizer_json)
        } else if family.uses_sentencepiece() && spiece.is_file() {
            // HF's T5Tokenizer appends its sentinels `<extra_id_N>` to the pieces; ALBERT's and
            // XLNet's tokenizers add nothing.
            let sentinels_up_to = (family == super::Family::T5).then_some(config.vocab_size);
            (sentencepiece_vocab(&spiece, sentinels_up_to)?, None, spiece)
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
            (vocab, None, vocab_txt)
        } else {
            return Err(Error::file(
                dir,
                if family.uses_sentencepiece() {
                    "no tokenizer found: expected tokenizer.json, spiece.model or vocab.txt in \
                     the model folder"
                } else {
                    "no tokenizer found: expected tokenizer.json or vocab.txt in the model folder"
                },
            ));
        };
        let specials = SpecialTokens::detect(&vocab, dir, &source, family)?;
        // SentencePiece vocabularies with residue pieces `▁R` (ProtT5, ProtAlbert, ProtXLNet) or
        // `R` (Ankh): one word-level token per residue piece; a SentencePiece model segments
        // space-separated single residues the same way, and this needs no SentencePiece here.
        let sentencepiece = matches!(family, super::Family::T5 | super::Family::Xlnet)
            || vocab.contains_key("\u{2581}A");
        let loaded = if sentencepiece { None } else { loaded };
        let alphabet = if sentencepiece {
            Alphabet::SentencePiece
        } else if vocab.contains_key("<cls>") || family.is_esm_like() {
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
        let max_tokens = match family {
            super::Family::Esm => max_position_embeddings.saturating_sub(2),
            // Positions start after the padding index (fairseq's learned positions).
            super::Family::Roberta => {
                max_position_embeddings.saturating_sub(super::roberta::padding_idx(config) + 1)
            }
            _ => max_position_embeddings,
        };
        Ok(SequenceTokenizer {
            tokenizer,
            vocab,
            alphabet,
            max_tokens,
            first_token: specials.first,
            final_tokens: specials.last,
            pad_token: specials.pad,
            mask_token: specials.mask,
            unk_token: specials.unk,
            prefix: Vec::new(),
            source,
        })
    }

    /// Tokens placed before the residues of every sequence (after the first special token,
    /// if any): a causal model's conditioning, such as IgLM's `[HEAVY] [HUMAN]`. `text` is
    /// whitespace-separated vocabulary tokens; empty clears the prefix. Tables never show the
    /// prefix: residue positions stay 1-based.
    pub fn set_prefix(&mut self, text: &str) -> Result<()> {
        let mut prefix = Vec::new();
        for token in text.split_whitespace() {
            if !self.vocab.contains_key(token) {
                return Err(Error::setting(
                    "prefix",
                    text,
                    format!(
                        "token `{token}` is not in the model's vocabulary ({})",
                        self.source.display()
                    ),
                ));
            }
            prefix.push(token.to_string());
        }
        self.prefix = prefix;
        Ok(())
    }

    /// The prefix tokens of [`Self::set_prefix`].
    pub fn prefix(&self) -> &[String] {
        &self.prefix
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

    /// The mask token's id, if the vocabulary has one (T5 has none of its own: its first
    /// sentinel `<extra_id_0>` is used where present).
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_token.as_ref().map(|t| self.vocab[t])
    }

    /// The file the vocabulary was read from (`tokenizer.json`, `spiece.model` or `vocab.txt`).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The token id one residue character is encoded as, or `None` if the model cannot read
    /// it (the same rules as [`SequenceTokenizer::encode`]).
    pub fn residue_token_id(&self, residue: char) -> Option<u32> {
        let token = self.residue_token(residue.to_ascii_uppercase())?;
        self.token_id(&token)
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
                    self.unk_token.clone()
                } else {
                    None
                }
            }
            Alphabet::Esm => (c.is_ascii_alphabetic() && self.vocab.contains_key(&s)).then_some(s),
            Alphabet::SentencePiece => {
                let c = if matches!(c, 'U' | 'Z' | 'O' | 'B') {
                    'X'
                } else {
                    c
                };
                if !c.is_ascii_alphabetic() {
                    return None;
                }
                [format!("\u{2581}{c}"), c.to_string()]
                    .into_iter()
                    .find(|piece| self.vocab.contains_key(piece))
            }
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
        let specials = self.special_count();
        let limit = match max_len {
            Some(m) if m <= specials => {
                return Err(Error::setting(
                    "max_len",
                    m,
                    "leaves no residue: it counts the two special tokens too",
                ))
            }
            Some(m) if m > self.max_tokens => {
                return Err(Error::setting(
                    "max_len",
                    m,
                    format!("exceeds the model's limit of {} tokens", self.max_tokens),
                ))
            }
            Some(m) => m,
            None => {
                if residues.len() + specials > self.max_tokens {
                    return Err(Error::sequence(
                        id,
                        format!(
                            "{} residues + {specials} special tokens exceed the model's limit of {} \
                             tokens; set `max_len` to {} to truncate",
                            residues.len(),
                            self.max_tokens,
                            self.max_tokens
                        ),
                    ));
                }
                self.max_tokens
            }
        };
        let keep = residues.len().min(limit - specials);
        let truncated = residues.len() - keep;
        tokens.truncate(keep);
        let text = tokens.join(" ");
        let encoding = self
            .tokenizer
            .encode(text.as_str(), true)
            .map_err(|e| Error::sequence(id, format!("tokenizer failed: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        let start = usize::from(self.first_token.is_some());
        let first_ok = match &self.first_token {
            Some(first) => ids.first() == Some(&self.vocab[first]),
            None => true,
        };
        let final_ids: Vec<u32> = self.final_tokens.iter().map(|t| self.vocab[t]).collect();
        let prefix = self.prefix.len();
        if ids.len() + prefix != keep + specials || !first_ok || !ids.ends_with(&final_ids) {
            return Err(Error::sequence(
                id,
                format!(
                    "the model's tokenizer produced {} tokens for {} residues; protscope expects one \
                     token per residue{} and {} at the end",
                    ids.len(),
                    keep,
                    match &self.first_token {
                        Some(first) => format!(" after {first}"),
                        None => String::new(),
                    },
                    self.final_tokens.join(" ")
                ),
            ));
        }
        let prefix_ids = self.prefix.iter().map(|t| self.vocab[t]);
        ids.splice(start..start, prefix_ids);
        Ok(EncodedSequence {
            id: id.to_string(),
            ids,
            residue_start: start + prefix,
            residues: residues[..keep].to_vec(),
            truncated,
        })
    }

    /// Special tokens per sequence: 2 (1 in T5, `</s>` only; 1 in GPT-2, the closing token),
    /// plus the prefix tokens.
    pub fn special_count(&self) -> usize {
        self.final_tokens.len() + usize::from(self.first_token.is_some()) + self.prefix.len()
    }

    fn alphabet_description(&self) -> &'static str {
        match self.alphabet {
            Alphabet::ProtBert => "20 amino acids plus X; U, Z, O, B are read as X",
            Alphabet::AntiBerty => "20 amino acids; X, U, Z, O, B are read as [UNK]",
            Alphabet::Esm => "the ESM alphabet: 20 amino acids plus X, B, U, Z, O",
            Alphabet::SentencePiece => "20 amino acids plus X; U, Z, O, B are read as X",
        }
    }
}

struct SpecialTokens {
    first: Option<String>,
    last: Vec<String>,
    pad: String,
    mask: Option<String>,
    unk: Option<String>,
}

/// The `*_token` entries of a tokenizer file (`special_tokens_map.json`,
/// `tokenizer_config.json`): a string or an `AddedToken` object with `content`.
fn named_tokens(path: &Path) -> Result<HashMap<String, String>> {
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
    let mut named = HashMap::new();
    if let Some(map) = json.as_object() {
        for (key, value) in map {
            if !key.ends_with("_token") {
                continue;
            }
            let token = value
                .as_str()
                .or_else(|| value.get("content").and_then(|c| c.as_str()));
            if let Some(token) = token.filter(|t| !t.is_empty()) {
                named.insert(key.clone(), token.to_string());
            }
        }
    }
    Ok(named)
}

impl SpecialTokens {
    /// Each role's token: the one `special_tokens_map.json` (else `tokenizer_config.json`)
    /// names, which the vocabulary must hold; otherwise the first of the family's usual names
    /// that the vocabulary holds (`[PAD]` or `<pad>`, …). The layout per family: BERT, ALBERT,
    /// ESM: `cls residues sep` (ESM: `eos`); T5: `residues eos`; XLNet: `residues sep cls`.
    fn detect(
        vocab: &HashMap<String, u32>,
        dir: &Path,
        source: &Path,
        family: super::Family,
    ) -> Result<Self> {
        use super::Family;
        let map_path = dir.join("special_tokens_map.json");
        let config_path = dir.join("tokenizer_config.json");
        let mut named = named_tokens(&config_path)?
            .into_iter()
            .map(|(k, v)| (k, (v, config_path.clone())))
            .collect::<HashMap<_, _>>();
        for (k, v) in named_tokens(&map_path)? {
            named.insert(k, (v, map_path.clone()));
        }
        let esm =
            family.is_esm_like() || (vocab.contains_key("<cls>") && !vocab.contains_key("[CLS]"));
        // The role's token, or None where neither the files nor the vocabulary have one.
        let find = |keys: &[&str], usual: &[&str]| -> Result<Option<String>> {
            if let Some((token, file)) = keys.iter().find_map(|k| named.get(*k)) {
                if !vocab.contains_key(token) {
                    return Err(Error::file(
                        file,
                        format!(
                            "names the special token `{token}`, which the vocabulary ({}) does \
                             not have",
                            source.display()
                        ),
                    ));
                }
                return Ok(Some(token.clone()));
            }
            Ok(usual
                .iter()
                .find(|t| vocab.contains_key(**t))
                .map(|t| t.to_string()))
        };
        let required = |role: &str, token: Option<String>, usual: &[&str]| -> Result<String> {
            token.ok_or_else(|| {
                Error::file(
                    source,
                    format!(
                        "the vocabulary has no {role} token (looked for {}, and for one named in \
                         special_tokens_map.json or tokenizer_config.json)",
                        usual.join(", ")
                    ),
                )
            })
        };
        let cls_usual: &[&str] = if esm {
            &["<cls>", "[CLS]"]
        } else if family == Family::Roberta {
            &["<s>", "<cls>", "[CLS]"]
        } else {
            &["[CLS]", "<cls>"]
        };
        let sep_usual: &[&str] = if esm {
            &["<eos>", "</s>", "[SEP]", "<sep>"]
        } else if family == Family::Roberta {
            &["</s>", "<eos>", "[SEP]", "<sep>"]
        } else if family == Family::Gpt2 {
            &["[SEP]", "<|endoftext|>", "</s>", "<eos>"]
        } else {
            &["[SEP]", "<sep>", "</s>", "<eos>"]
        };
        let (first, last) = match family {
            Family::T5 => {
                let usual = ["</s>", "<eos>"];
                let eos = required("end-of-sequence", find(&["eos_token"], &usual)?, &usual)?;
                (None, vec![eos])
            }
            // A causal decoder reads the residues after the prefix the user gives (IgLM:
            // `[HEAVY] [HUMAN]`) and closes them with its separator or end-of-text token.
            Family::Gpt2 => {
                let sep = required(
                    "closing",
                    find(&["sep_token", "eos_token"], sep_usual)?,
                    sep_usual,
                )?;
                (None, vec![sep])
            }
            Family::Xlnet => {
                let sep = required("separator", find(&["sep_token"], &["<sep>"])?, &["<sep>"])?;
                let cls = required("classifier", find(&["cls_token"], &["<cls>"])?, &["<cls>"])?;
                (None, vec![sep, cls])
            }
            _ => {
                let cls = required(
                    "first special",
                    find(&["cls_token", "bos_token"], cls_usual)?,
                    cls_usual,
                )?;
                // ESM's tokenizer ends a sequence with its eos token; BERT's and ALBERT's with sep.
                let keys: &[&str] = if esm {
                    &["eos_token", "sep_token"]
                } else {
                    &["sep_token", "eos_token"]
                };
                let sep = required("final special", find(keys, sep_usual)?, sep_usual)?;
                (Some(cls), vec![sep])
            }
        };
        let pad_usual = ["[PAD]", "<pad>"];
        let pad = match find(&["pad_token"], &pad_usual)? {
            // GPT-2 vocabularies often have no padding token: pad with the closing one (what
            // HF users do; padded positions are masked either way).
            None if family == Family::Gpt2 => last[0].clone(),
            pad => required("padding", pad, &pad_usual)?,
        };
        // T5 has no mask token; its first sentinel marks masked spans in pre-training.
        let mask = find(&["mask_token"], &["[MASK]", "<mask>", "<extra_id_0>"])?;
        let unk = find(&["unk_token"], &["[UNK]", "<unk>"])?;
        Ok(SpecialTokens {
            first,
            last,
            pad,
            mask,
            unk,
        })
    }
}

/// A word-level tokenizer over `vocab`: whitespace-split tokens, wrapped in the specials.
fn word_level_tokenizer(
    vocab: &HashMap<String, u32>,
    specials: &SpecialTokens,
) -> std::result::Result<Tokenizer, String> {
    let special = |t: &str| json!({"id": t, "ids": [vocab[t]], "tokens": [t]});
    let mut single = Vec::new();
    let mut special_tokens = serde_json::Map::new();
    if let Some(first) = &specials.first {
        single.push(json!({"SpecialToken": {"id": first, "type_id": 0}}));
        special_tokens.insert(first.clone(), special(first));
    }
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    for last in &specials.last {
        single.push(json!({"SpecialToken": {"id": last, "type_id": 0}}));
        special_tokens.insert(last.clone(), special(last));
    }
    let mut pair = single.clone();
    pair.push(json!({"Sequence": {"id": "B", "type_id": 1}}));
    for last in &specials.last {
        pair.push(json!({"SpecialToken": {"id": last, "type_id": 1}}));
    }
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": single,
            "pair": pair,
            "special_tokens": special_tokens
        },
        "decoder": null,
        "model": {
            "type": "WordLevel",
            "vocab": vocab,
            "unk_token": specials.unk.as_deref().unwrap_or("[UNK]")
        }
    });
    spec.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| e.to_string())
}

/// The pieces of a SentencePiece model file (`spiece.model`, a protobuf `ModelProto`), id = index,
/// followed (T5: `sentinels_up_to` = `vocab_size`) by HF's sentinels `<extra_id_99>` …
/// `<extra_id_0>` (HF's `T5Tokenizer` gives `<extra_id_N>` the id `vocab_size − 1 − N`).
fn sentencepiece_vocab(
    path: &Path,
    sentinels_up_to: Option<usize>,
) -> Result<HashMap<String, u32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |what: &str| {
        Error::file(
            path,
            format!("not a SentencePiece model ({what}); re-save the tokenizer with HF"),
        )
    };
    let mut vocab = HashMap::new();
    let mut reader = ProtoReader {
        bytes: &bytes,
        at: 0,
    };
    while let Some((field, wire)) = reader.key().map_err(&bad)? {
        if field == 1 && wire == 2 {
            // ModelProto.pieces: SentencePiece { piece = 1 (string), score = 2, type = 3 }.
            let piece_bytes = reader.length_delimited().map_err(&bad)?;
            let mut piece_reader = ProtoReader {
                bytes: piece_bytes,
                at: 0,
            };
            let mut piece = None;
            while let Some((f, w)) = piece_reader.key().map_err(&bad)? {
                if f == 1 && w == 2 {
                    let text = piece_reader.length_delimited().map_err(&bad)?;
                    piece = Some(String::from_utf8_lossy(text).into_owned());
                } else {
                    piece_reader.skip(w).map_err(&bad)?;
                }
            }
            let piece = piece.ok_or_else(|| bad("a piece without text"))?;
            let id = vocab.len() as u32;
            vocab.entry(piece).or_insert(id);
        } else {
            reader.skip(wire).map_err(&bad)?;
        }
    }
    if vocab.is_empty() {
        return Err(bad("no pieces"));
    }
    let pieces = vocab.len();
    let vocab_size = sentinels_up_to.unwrap_or(pieces);
    for id in pieces..vocab_size {
        vocab.insert(format!("<extra_id_{}>", vocab_size - 1 - id), id as u32);
    }
    Ok(vocab)
}

/// Just enough of the protobuf wire format to walk a `ModelProto`.
struct ProtoReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ProtoReader<'a> {
    fn varint(&mut self) -> std::result::Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or("truncated varint")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long")
    }

    /// The next (field number, wire type), or None at the end.
    fn key(&mut self) -> std::result::Result<Option<(u64, u64)>, &'static str> {
        if self.at >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some((key >> 3, key & 7)))
    }

    fn length_delimited(&mut self) -> std::result::Result<&'a [u8], &'static str> {
        let len = self.varint()? as usize;
        let end = self.at.checked_add(len).ok_or("length overflow")?;
        let slice = self.bytes.get(self.at..end).ok_or("truncated field")?;
        self.at = end;
        Ok(slice)
    }

    fn skip(&mut self, wire: u64) -> std::result::Result<(), &'static str> {
        let n = match wire {
            0 => {
                self.varint()?;
                0
            }
            1 => 8,
            2 => {
                self.length_delimited()?;
                0
            }
            5 => 4,
            _ => return Err("unknown wire type"),
        };
        self.at += n;
        if self.at > self.bytes.len() {
            return Err("truncated field");
        }
        Ok(())
    }
}
