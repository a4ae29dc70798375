//! Obtaining the one real PLM that ships without a model hub: AntiBERTy (MIT licence), whose
//! weights are inside the PyPI wheel `antiberty==0.1.3`. pip downloads the wheel; protscope
//! unpacks config, weights and vocabulary into a ready model folder and converts the weights to
//! safetensors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

pub const ANTIBERTY_REQUIREMENT: &str = "antiberty==0.1.3";
const WHEEL_PREFIX: &str = "antiberty/trained_models/";
const MODEL_DIR: &str = "AntiBERTy_md_smooth/";

/// Default cache folder: `$PROTSCOPE_CACHE`, else `~/.cache/protscope`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROTSCOPE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("protscope")
}

/// Files that make a fetched AntiBERTy folder complete.
const COMPLETE_MARKER: &str = ".protscope-complete";

/// Returns the AntiBERTy model folder `<cache>/antiberty`, creating it on first use:
/// `python3 -m pip download --no-deps antiberty==0.1.3` into `<cache>/wheels`, unpack
/// `config.json`, `pytorch_model.bin`, `vocab.txt`, write `model.safetensors`. Idempotent: a
/// complete folder is returned at once.
pub fn fetch_antiberty(cache_dir: &Path) -> Result<PathBuf> {
    let target = cache_dir.join("antiberty");
    if target.join(COMPLETE_MARKER).is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    // Several processes (or test threads) may fetch at once: one works, the others wait and
    // then find the folder complete.
    let lock_path = cache_dir.join("antiberty.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if target.join(COMPLETE_MARKER).is_file() {
        return Ok(target);
    }
    let wheel = download_wheel(&cache_dir.join("wheels"))?;
    let staging = tempfile::Builder::new()
        .prefix(".antiberty-")
        .tempdir_in(cache_dir)
        .map_err(|e| Error::io(cache_dir, e))?;
    unpack_wheel(&wheel, staging.path())?;
    convert_to_safetensors(staging.path())?;
    std::fs::write(staging.path().join(COMPLETE_MARKER), ANTIBERTY_REQUIREMENT)
        .map_err(|e| Error::io(staging.path(), e))?;
    if target.exists() {
        // An incomplete earlier attempt.
        std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}

fn download_wheel(dir: &Path) -> Result<PathBuf> {
    if let Some(found) = find_wheel(dir)? {
        return Ok(found);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            ANTIBERTY_REQUIREMENT,
            "-d",
        ])
        .arg(dir)
        .output()
        .map_err(|e| {
            Error::file(
                dir,
                format!(
                    "cannot run `python3 -m pip` ({e}); install Python 3 with pip, or download the \
                     wheel `{ANTIBERTY_REQUIREMENT}` yourself into this folder"
                ),
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        return Err(Error::file(
            dir,
            format!(
                "`python3 -m pip download --no-deps {ANTIBERTY_REQUIREMENT}` failed ({}): {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        ));
    }
    find_wheel(dir)?.ok_or_else(|| {
        Error::file(
            dir,
            "pip reported success but no antiberty wheel is in the folder",
        )
    })
}

fn find_wheel(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("antiberty-0.1.3") && name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// Extracts the model files from the wheel (a zip archive) into `out`.
pub fn unpack_wheel(wheel: &Path, out: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::file(
            wheel,
            format!("not a readable wheel (zip): {e}; delete it and retry"),
        )
    })?;
    let wanted = [
        (
            format!("{WHEEL_PREFIX}{MODEL_DIR}config.json"),
            "config.json",
        ),
        (
            format!("{WHEEL_PREFIX}{MODEL_DIR}pytorch_model.bin"),
            "pytorch_model.bin",
        ),
        (format!("{WHEEL_PREFIX}vocab.txt"), "vocab.txt"),
    ];
    for (inner, name) in wanted {
        let mut entry = archive.by_name(&inner).map_err(|e| {
            Error::file(
                wheel,
                format!("wheel has no `{inner}` ({e}); is it antiberty 0.1.3?"),
            )
        })?;
        let dest = out.join(name);
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| Error::file(wheel, format!("cannot extract `{inner}`: {e}")))?;
        if name == "config.json" {
            bytes = add_head_labels(&bytes).map_err(|m| Error::file(wheel, m))?;
        }
        std::fs::write(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(())
}

/// AntiBERTy's config has no label names; its runner's are added (protscope extension).
fn add_head_labels(config: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut json: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("config.json in the wheel: {e}"))?;
    let obj = json
        .as_object_mut()
        .ok_or("config.json in the wheel is not an object")?;
    obj.insert(
        "protscope_head_labels".into(),
        serde_json::json!({
            "species": ["Camel", "Human", "Mouse", "Rabbit", "Rat", "Rhesus"],
            "chain": ["Heavy", "Light"],
        }),
    );
    serde_json::to_vec_pretty(&json).map_err(|e| e.to_string())
}

/// Writes `model.safetensors` next to `pytorch_model.bin` (same tensors, same names).
pub fn convert_to_safetensors(dir: &Path) -> Result<()> {
    let bin = dir.join("pytorch_model.bin");
    let tensors = candle_core::pickle::read_all(&bin)
        .map_err(|e| Error::file(&bin, format!("cannot read PyTorch weights: {e}")))?;
    let map: std::collections::HashMap<String, candle_core::Tensor> = tensors.into_iter().collect();
    let out = dir.join("model.safetensors");
    candle_core::safetensors::save(&map, &out)
        .map_err(|e| Error::file(&out, format!("cannot write safetensors: {e}")))?;
    Ok(())
}
