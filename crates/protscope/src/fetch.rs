//! Obtaining the real PLMs that ship inside PyPI wheels instead of a model hub: AntiBERTy
//! (`antiberty==0.1.3`, MIT), Sapiens (`sapiens==1.0.5`, MIT; fairseq RoBERTa checkpoints,
//! converted to HF folders) and IgLM (`iglm==0.1.0`, JHU academic licence, non-commercial only;
//! GPT-2 folders). pip downloads the wheel (`--no-deps`: none of the packages' own dependencies
//! are needed); protscope unpacks config, weights and vocabulary into ready model folders with
//! the weights as safetensors.

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
    download_wheel_of(dir, ANTIBERTY_REQUIREMENT)
}

/// The wheel of `requirement` (`name==version`) in `dir`, downloaded with
/// `python3 -m pip download --no-deps` unless it is there already.
fn download_wheel_of(dir: &Path, requirement: &str) -> Result<PathBuf> {
    if let Some(found) = find_wheel(dir, requirement)? {
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
            requirement,
            "-d",
        ])
        .arg(dir)
        .output()
        .map_err(|e| {
            Error::file(
                dir,
                format!(
                    "cannot run `python3 -m pip` ({e}); install Python 3 with pip, or download the \
                     wheel `{requirement}` yourself into this folder"
                ),
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        return Err(Error::file(
            dir,
            format!(
                "`python3 -m pip download --no-deps {requirement}` failed ({}): {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        ));
    }
    find_wheel(dir, requirement)?.ok_or_else(|| {
        Error::file(
            dir,
            format!("pip reported success but no wheel of `{requirement}` is in the folder"),
        )
    })
}

/// The wheel file of `requirement` (`name==version`) in `dir`, if present.
fn find_wheel(dir: &Path, requirement: &str) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let prefix = format!("{}-", requirement.replace("==", "-"));
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
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

/// Sapiens (Prihoda et al., mAbs 2022; MIT): the wheel holding its fairseq checkpoints. Later
/// versions download the weights from a model hub instead.
pub const SAPIENS_REQUIREMENT: &str = "sapiens==1.0.5";
/// IgLM (Shuai, Ruffolo & Gray, Cell Systems 2023): the wheel holding both GPT-2 folders.
pub const IGLM_REQUIREMENT: &str = "iglm==0.1.0";

/// What `fetch iglm` shows before it downloads anything; the full text lands in each folder as
/// `LICENSE.md`.
pub const IGLM_LICENCE: &str = "IgLM (Shuai, Ruffolo & Gray, Cell Systems 2023; the wheel \
    iglm==0.1.0) is licensed under the JHU Academic Software License Agreement: use by \
    non-profit academic or research institutions for non-commercial research only; \
    commercial use needs a licence from Johns Hopkins University (© 2022 The Johns Hopkins \
    University). The full text is in the wheel (iglm-0.1.0.dist-info/LICENSE.md) and is copied \
    into each fetched folder as LICENSE.md.";

/// Sapiens' two models, as HF `RobertaForMaskedLM` folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SapiensFolders {
    /// Heavy chains (`checkpoint_vh.pt`).
    pub heavy: PathBuf,
    /// Light chains, kappa and lambda (`checkpoint_vl.pt`).
    pub light: PathBuf,
}

/// IgLM's two models, as HF `GPT2LMHeadModel` folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IglmFolders {
    /// IgLM: 4 layers, 8 heads, d = 512.
    pub iglm: PathBuf,
    /// IgLM-S: 3 layers, 6 heads, d = 192.
    pub iglm_s: PathBuf,
}

/// Bytes of the wheel entry `inner`.
fn wheel_entry(wheel: &Path, inner: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::file(
            wheel,
            format!("not a readable wheel (zip): {e}; delete it and retry"),
        )
    })?;
    let mut entry = archive
        .by_name(inner)
        .map_err(|e| Error::file(wheel, format!("wheel has no `{inner}` ({e})")))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| Error::file(wheel, format!("cannot extract `{inner}`: {e}")))?;
    Ok(bytes)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Builds the folders `names` under `dir` once: under a lock (several processes may fetch at
/// once), `build` fills a staging folder, which is then moved into place folder by folder with
/// a completion marker. Complete folders are returned at once.
fn prepare_folders(
    dir: &Path,
    names: &[&str],
    marker: &str,
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let targets: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let complete = || targets.iter().all(|t| t.join(COMPLETE_MARKER).is_file());
    if complete() {
        return Ok(targets);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock_path = dir.join(format!("{}.lock", names[0]));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if complete() {
        return Ok(targets);
    }
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    build(staging.path())?;
    for (name, target) in names.iter().zip(&targets) {
        let staged = staging.path().join(name);
        write_file(&staged.join(COMPLETE_MARKER), marker.as_bytes())?;
        if target.exists() {
            // An incomplete earlier attempt.
            std::fs::remove_dir_all(target).map_err(|e| Error::io(target, e))?;
        }
        std::fs::rename(&staged, target).map_err(|e| Error::io(target, e))?;
    }
    Ok(targets)
}

/// Sapiens' heavy- and light-chain models as HF RoBERTa folders `<dir>/sapiens-vh` and
/// `<dir>/sapiens-vl`, made on first use: `python3 -m pip download --no-deps sapiens==1.0.5`
/// into `<dir>/wheels`, then each fairseq checkpoint converted
/// ([`crate::model::fairseq::convert_fairseq_roberta`]), with the MIT licence beside it.
pub fn fetch_sapiens(dir: &Path) -> Result<SapiensFolders> {
    let names = ["sapiens-vh", "sapiens-vl"];
    let folders = prepare_folders(dir, &names, SAPIENS_REQUIREMENT, |staging| {
        let wheel = download_wheel_of(&dir.join("wheels"), SAPIENS_REQUIREMENT)?;
        let raw = staging.join("wheel");
        std::fs::create_dir_all(&raw).map_err(|e| Error::io(&raw, e))?;
        let licence = wheel_entry(&wheel, "sapiens-1.0.5.dist-info/LICENSE")?;
        write_file(
            &raw.join("dict.txt"),
            &wheel_entry(&wheel, "sapiens/models/v1/dict.txt")?,
        )?;
        for (name, checkpoint) in names.iter().zip(["checkpoint_vh.pt", "checkpoint_vl.pt"]) {
            let path = raw.join(checkpoint);
            write_file(
                &path,
                &wheel_entry(&wheel, &format!("sapiens/models/v1/{checkpoint}"))?,
            )?;
            let out = staging.join(name);
            crate::model::fairseq::convert_fairseq_roberta(&path, &raw.join("dict.txt"), &out)?;
            write_file(&out.join("LICENSE"), &licence)?;
        }
        Ok(())
    })?;
    Ok(SapiensFolders {
        heavy: folders[0].clone(),
        light: folders[1].clone(),
    })
}

/// IgLM's models as HF GPT-2 folders `<dir>/iglm` and `<dir>/iglm-s`, made on first use from
/// the wheel `iglm==0.1.0` (downloaded into `<dir>/wheels`): config, weights as safetensors
/// (without the saved causal-mask buffers), IgLM's `vocab.txt`, the special tokens it scores
/// with (`[SEP]` closes a sequence) and the licence text. `accept_licence` must be true: IgLM
/// is for non-commercial academic research only ([`IGLM_LICENCE`]).
pub fn fetch_iglm(dir: &Path, accept_licence: bool) -> Result<IglmFolders> {
    if !accept_licence {
        return Err(Error::invalid(format!(
            "IgLM's licence must be accepted before it is fetched: {IGLM_LICENCE} To accept it, \
             pass --accept-licence (CLI) or accept_licence = true (library)."
        )));
    }
    let names = ["iglm", "iglm-s"];
    let folders = prepare_folders(dir, &names, IGLM_REQUIREMENT, |staging| {
        let wheel = download_wheel_of(&dir.join("wheels"), IGLM_REQUIREMENT)?;
        let licence = wheel_entry(&wheel, "iglm-0.1.0.dist-info/LICENSE.md")?;
        let vocab = wheel_entry(&wheel, "iglm/trained_models/vocab.txt")?;
        let specials = serde_json::json!({
            "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
            "mask_token": "[MASK]", "cls_token": "[CLS]"
        })
        .to_string();
        for (name, inner) in names.iter().zip(["IgLM", "IgLM-S"]) {
            let out = staging.join(name);
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            let prefix = format!("iglm/trained_models/{inner}");
            write_file(
                &out.join("config.json"),
                &wheel_entry(&wheel, &format!("{prefix}/config.json"))?,
            )?;
            let bin = out.join("pytorch_model.bin");
            write_file(
                &bin,
                &wheel_entry(&wheel, &format!("{prefix}/pytorch_model.bin"))?,
            )?;
            let keep =
                |name: &str| !(name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"));
            let tensors = crate::model::torch_file::read_torch_file(
                &bin,
                &candle_core::Device::Cpu,
                candle_core::DType::F32,
                &keep,
            )?;
            let weights = out.join("model.safetensors");
            candle_core::safetensors::save(&tensors, &weights)
                .map_err(|e| Error::file(&weights, format!("cannot write safetensors: {e}")))?;
            std::fs::remove_file(&bin).map_err(|e| Error::io(&bin, e))?;
            write_file(&out.join("vocab.txt"), &vocab)?;
            write_file(&out.join("special_tokens_map.json"), specials.as_bytes())?;
            write_file(&out.join("LICENSE.md"), &licence)?;
        }
        Ok(())
    })?;
    Ok(IglmFolders {
        iglm: folders[0].clone(),
        iglm_s: folders[1].clone(),
    })
}
