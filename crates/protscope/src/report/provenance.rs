//! Where a report's numbers come from: tool version and commit, command line, model folder with
//! the SHA-256 of its weights, input files with theirs, every parameter, and (only when asked)
//! the date. Stored as `run.json` in a run folder and shown at the top of the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::html::escape;
use crate::{Error, Result};

/// One file and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl FileHash {
    /// Hashes `path` as it is now (streamed; fine for multi-GB weights).
    pub fn of(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            bytes += n as u64;
        }
        let sha256 = hasher
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
        Ok(FileHash {
            path: path.display().to_string(),
            bytes,
            sha256,
        })
    }
}

/// The model a run used: its folder and the weights files in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelProvenance {
    pub folder: String,
    pub weights: Vec<FileHash>,
}

impl ModelProvenance {
    /// Hashes the weights the loader reads from a model folder: `model.safetensors`, else the
    /// shards of a sharded checkpoint (`model-*.safetensors`), else `pytorch_model.bin`.
    pub fn of(folder: &Path) -> Result<Self> {
        let single = folder.join("model.safetensors");
        let mut files: Vec<std::path::PathBuf> = if single.is_file() {
            vec![single]
        } else {
            std::fs::read_dir(folder)
                .map_err(|e| Error::io(folder, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("model-") && n.ends_with(".safetensors")
                    })
                })
                .collect()
        };
        if files.is_empty() && folder.join("pytorch_model.bin").is_file() {
            files.push(folder.join("pytorch_model.bin"));
        }
        files.sort();
        if files.is_empty() {
            return Err(Error::file(
                folder,
                "no weights file (model.safetensors, *.safetensors shards or pytorch_model.bin)",
            ));
        }
        Ok(ModelProvenance {
            folder: folder.display().to_string(),
            weights: files
                .iter()
                .map(|p| FileHash::of(p))
                .collect::<Result<_>>()?,
        })
    }
}

/// Everything needed to say how a result was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// e.g. "protscope 0.1.0".
    pub tool: String,
    /// Commit the binary was built from, when built from a git checkout.
    pub git_commit: Option<String>,
    pub command_line: Vec<String>,
    pub model: Option<ModelProvenance>,
    pub inputs: Vec<FileHash>,
    /// Every parameter of the run, by name.
    pub parameters: BTreeMap<String, String>,
    /// UTC date and time of the run; `None` unless asked for, so reruns give identical bytes.
    pub date: Option<String>,
}

impl Provenance {
    /// This build of protscope and the given command line (no model, inputs or parameters yet).
    pub fn new(command_line: Vec<String>) -> Self {
        Provenance {
            tool: format!("protscope {}", env!("CARGO_PKG_VERSION")),
            git_commit: option_env!("PROTSCOPE_GIT_COMMIT").map(String::from),
            command_line,
            ..Default::default()
        }
    }

    /// Records the current UTC time (makes the report differ between runs).
    pub fn stamp_date(&mut self) {
        self.date = Some(
            chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        );
    }

    pub fn parameter(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.parameters.insert(name.to_string(), value.to_string());
        self
    }

    pub fn input(&mut self, path: &Path) -> Result<&mut Self> {
        self.inputs.push(FileHash::of(path)?);
        Ok(self)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::file(path, format!("not a protscope run description: {e}")))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        crate::frame::write_atomically(path, format!("{text}\n").as_bytes())
    }

    /// The collapsible provenance block of a report.
    pub fn to_html(&self) -> String {
        let mut out = String::from(
            "<details class=\"provenance\" open><summary>Provenance</summary>\n<dl class=\"kv\">\n",
        );
        let mut row = |key: &str, value: &str| {
            let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(key), escape(value));
        };
        row("tool", &self.tool);
        row(
            "git commit",
            self.git_commit
                .as_deref()
                .unwrap_or("unknown (not built from a git checkout)"),
        );
        row("command line", &shell_words(&self.command_line));
        if let Some(model) = &self.model {
            row("model folder", &model.folder);
            for w in &model.weights {
                row(
                    "weights",
                    &format!("{} ({} bytes) sha256 {}", w.path, w.bytes, w.sha256),
                );
            }
        }
        for f in &self.inputs {
            row(
                "input",
                &format!("{} ({} bytes) sha256 {}", f.path, f.bytes, f.sha256),
            );
        }
        for (k, v) in &self.parameters {
            row(&format!("parameter {k}"), v);
        }
        row(
            "date",
            self.date.as_deref().unwrap_or(
                "not recorded (identical runs give identical reports; --timestamp adds it)",
            ),
        );
        out.push_str("</dl>\n</details>\n");
        out
    }
}

/// A command line as one could type it again: arguments with spaces or quotes are quoted.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_a_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.txt");
        std::fs::write(&path, b"abc").unwrap();
        let h = FileHash::of(&path).unwrap();
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.bytes, 3);
    }

    #[test]
    fn round_trips_through_json_and_quotes_the_command() {
        let mut p = Provenance::new(vec!["protscope".into(), "--out".into(), "a b".into()]);
        p.parameter("steps", 32);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        p.write(&path).unwrap();
        assert_eq!(Provenance::read(&path).unwrap(), p);
        assert!(p.to_html().contains("protscope --out &#39;a b&#39;"));
        assert!(p.to_html().contains("not recorded"));
    }

    #[test]
    fn a_model_folder_without_weights_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelProvenance::of(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no weights file"), "{err}");
    }
}
