//! Models by Hugging Face repository id — `ORG/NAME` or `ORG/NAME@REVISION` — resolved in the
//! local hub cache through hf-hub's cache API, with no network: `models--ORG--NAME/refs/REVISION`
//! names a commit, `snapshots/COMMIT/` holds the files (symlinks to `blobs/`). The cache is
//! `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, as huggingface_hub
//! has it. With the cargo feature `hub`, a model that is not cached is downloaded into that
//! cache: config.json, the weights (all shards an index names) and every tokenizer file.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::{Error, Result};

/// A repository id with its revision (`main` unless given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    pub id: String,
    pub revision: String,
}

impl RepoId {
    /// `ORG/NAME` or `ORG/NAME@REVISION`; None for anything else (e.g. a path with more parts).
    pub fn parse(text: &str) -> Option<RepoId> {
        let (id, revision) = match text.split_once('@') {
            Some((id, rev)) if !rev.is_empty() => (id, rev),
            Some(_) => return None,
            None => (text, "main"),
        };
        let (org, name) = id.split_once('/')?;
        let valid = |part: &str| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (valid(org) && valid(name)).then(|| RepoId {
            id: id.to_string(),
            revision: revision.to_string(),
        })
    }

    fn repo(&self) -> Repo {
        Repo::with_revision(self.id.clone(), RepoType::Model, self.revision.clone())
    }

    /// The repository's folder in the cache: `models--ORG--NAME`.
    pub fn cache_folder(&self, cache: &Path) -> PathBuf {
        cache.join(self.repo().folder_name())
    }
}

/// The hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = non_empty("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = non_empty("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache").join("huggingface").join("hub")
}

/// The cached snapshot folder of `repo` (the one holding its config.json), if any: the commit
/// `refs/REVISION` names, or the revision itself where it is a commit with a snapshot.
pub fn cached_model(repo: &RepoId, cache: &Path) -> Option<PathBuf> {
    let cached = Cache::new(cache.to_path_buf()).repo(repo.repo());
    if let Some(config) = cached.get("config.json") {
        return config.parent().map(Path::to_path_buf);
    }
    // hf-hub reads the ref without trimming it; a ref file ending in a newline, or a revision
    // that is a commit hash (no ref file), still names a snapshot.
    let folder = repo.cache_folder(cache);
    let commit = std::fs::read_to_string(folder.join("refs").join(&repo.revision))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| repo.revision.clone());
    let snapshot = folder.join("snapshots").join(commit);
    snapshot.join("config.json").is_file().then_some(snapshot)
}

/// The model folder `spec` names: the folder itself, or a repository id's cached snapshot
/// (downloaded first with the `hub` feature where it is not cached).
pub fn resolve_model(spec: &Path) -> Result<PathBuf> {
    if spec.is_dir() {
        return Ok(spec.to_path_buf());
    }
    let Some(repo) = spec.to_str().and_then(RepoId::parse) else {
        return Err(Error::file(
            spec,
            "model folder not found; pass a folder with config.json and weights, or a \
             repository id ORG/NAME[@REVISION] in the Hugging Face cache (for AntiBERTy: \
             `protscope fetch antiberty`)",
        ));
    };
    let cache = hub_cache_dir();
    if let Some(dir) = cached_model(&repo, &cache) {
        return Ok(dir);
    }
    #[cfg(feature = "hub")]
    {
        download_model(&repo, &cache)
    }
    #[cfg(not(feature = "hub"))]
    {
        Err(Error::file(
            spec,
            format!(
                "neither a model folder nor a model in the Hugging Face cache: searched {} \
                 (revision `{}`; the cache is $HF_HUB_CACHE, else $HF_HOME/hub, else \
                 ~/.cache/huggingface/hub). Download it with `huggingface-cli download {}` (or \
                 `hf download {}`), or build protscope with `--features hub` to download it",
                repo.cache_folder(&cache).display(),
                repo.revision,
                repo.id,
                repo.id
            ),
        ))
    }
}

/// Files of a repository the loader may read: config.json, the weights (one kind: safetensors
/// before PyTorch, every shard an index names) and every tokenizer file present.
#[cfg(feature = "hub")]
fn download_model(repo: &RepoId, cache: &Path) -> Result<PathBuf> {
    use hf_hub::api::sync::ApiBuilder;
    let hub_error = |what: &str, e: hf_hub::api::sync::ApiError| {
        Error::invalid(format!("{}: {what}: {e}", repo.id))
    };
    let api = ApiBuilder::new()
        .with_cache_dir(cache.to_path_buf())
        .build()
        .map_err(|e| hub_error("model hub unavailable", e))?;
    let remote = api.repo(repo.repo());
    let info = remote
        .info()
        .map_err(|e| hub_error("cannot list the repository's files", e))?;
    let files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let has = |name: &str| files.iter().any(|f| f == name);
    let get = |name: &str| {
        remote
            .get(name)
            .map_err(|e| hub_error(&format!("cannot download {name}"), e))
    };
    let config = get("config.json")?;
    let weights = [
        ("model.safetensors", false),
        ("model.safetensors.index.json", true),
        ("pytorch_model.bin", false),
        ("pytorch_model.bin.index.json", true),
    ];
    let (weights, is_index) = weights
        .into_iter()
        .find(|(name, _)| has(name))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{}: the repository has none of model.safetensors, model.safetensors.index.json, \
                 pytorch_model.bin, pytorch_model.bin.index.json",
                repo.id
            ))
        })?;
    let weights_path = get(weights)?;
    if is_index {
        let text =
            std::fs::read_to_string(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(&weights_path, format!("not valid JSON: {e}")))?;
        let mut shards: Vec<&str> = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .map(|m| m.values().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        for shard in shards {
            get(shard)?;
        }
    }
    for optional in [
        "tokenizer.json",
        "spiece.model",
        "vocab.txt",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        if has(optional) {
            get(optional)?;
        }
    }
    config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::invalid(format!("{}: unexpected cache layout", repo.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_ids_parse_with_and_without_revision() {
        assert_eq!(
            RepoId::parse("Rostlab/prot_bert"),
            Some(RepoId {
                id: "Rostlab/prot_bert".into(),
                revision: "main".into()
            })
        );
        assert_eq!(
            RepoId::parse("facebook/esm2_t6_8M_UR50D@abc123")
                .unwrap()
                .revision,
            "abc123"
        );
        for not_an_id in [
            "prot_bert",
            "a/b/c",
            "./x",
            "../x",
            "org/",
            "/x",
            "org/name@",
        ] {
            assert_eq!(RepoId::parse(not_an_id), None, "{not_an_id}");
        }
    }
}
