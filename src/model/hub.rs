//! Optional download of a model folder by repository id (cargo feature `hub`; needs network).
//! Files land in hf-hub's cache; the returned folder is then loaded like any local one.

use std::path::PathBuf;

use crate::{Error, Result};

/// Downloads `config.json`, the weights and the tokenizer files of `repo_id` and returns the
/// snapshot folder holding them.
pub fn download_model(repo_id: &str) -> Result<PathBuf> {
    let api = hf_hub::api::sync::Api::new()
        .map_err(|e| Error::invalid(format!("model hub unavailable: {e}")))?;
    let repo = api.model(repo_id.to_string());
    let config = repo
        .get("config.json")
        .map_err(|e| Error::invalid(format!("{repo_id}: cannot download config.json: {e}")))?;
    let weights = ["model.safetensors", "pytorch_model.bin"];
    if !weights.iter().any(|w| repo.get(w).is_ok()) {
        return Err(Error::invalid(format!(
            "{repo_id}: neither model.safetensors nor pytorch_model.bin could be downloaded"
        )));
    }
    for optional in [
        "vocab.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        let _ = repo.get(optional);
    }
    config
        .parent()
        .map(|p| p.to_path_buf())
        .ok_or_else(|| Error::invalid(format!("{repo_id}: unexpected cache layout")))
}
