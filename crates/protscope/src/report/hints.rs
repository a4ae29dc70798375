//! What a run tells its report beyond its tables: the title, an overview paragraph, the
//! proteins whose residue tracks come first and a note on the attention maps. A typed value
//! written as `report.json` beside the tables (the run's provenance, `run.json`, records only
//! how the tables were made).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::frame::write_atomically;
use crate::{Error, Result};

/// File of a run folder that holds its [`ReportHints`].
pub const HINTS_FILE: &str = "report.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportHints {
    /// The report's title (`protscope report --title` overrides it).
    pub title: Option<String>,
    /// A paragraph shown under the title.
    pub overview: Option<String>,
    /// Proteins whose residue tracks are drawn first, in this order.
    pub tracks: Vec<String>,
    /// A paragraph opening the attention-maps section (why these proteins were drawn).
    pub attention_maps: Option<String>,
    /// The interactive views of one chain (the "Interactive views" section).
    pub views: Option<ViewHints>,
}

/// Which files of the run folder the interactive views are built from (paths relative to the
/// folder; the demo keeps them in `views/`, out of the tables the other sections read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewHints {
    /// The protein's id, as in the attention and relevance tables.
    pub protein: String,
    /// Its residues as given to the model (the tables' positions 1..=n).
    pub residues: String,
    /// A PDB/mmCIF file and the chain drawn.
    pub structure: String,
    pub chain: String,
    /// An `attention` table of every layer and head of the protein.
    pub attention: String,
    /// The smallest weight the attention table keeps.
    pub attention_floor: f32,
    pub num_layers: usize,
    pub num_heads: usize,
    /// An `attribution` table with the protein's embedding-level relevance.
    pub relevance: Option<String>,
    /// What the relevance explains (e.g. `species = human`).
    pub relevance_target: Option<String>,
    /// The head drawn first (0-based) and why.
    pub layer: usize,
    pub head: usize,
    pub head_reason: String,
    /// Attention drawn first: pairs at or above this.
    pub theta: f32,
}

impl ReportHints {
    /// Writes the hints into the run folder `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(HINTS_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::file(&path, format!("cannot encode the report hints: {e}")))?;
        write_atomically(&path, text.as_bytes())
    }

    /// The hints of the run folder `dir`; none (the default) when it has no `report.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(HINTS_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::file(
                &path,
                format!("not valid report hints ({e}); expected the fields title, overview, tracks, attention_maps, views"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_round_trip_and_default_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ReportHints::read(dir.path()).unwrap(),
            ReportHints::default()
        );
        let hints = ReportHints {
            title: Some("T".into()),
            overview: None,
            tracks: vec!["a".into(), "b".into()],
            attention_maps: Some("note".into()),
            views: None,
        };
        hints.write(dir.path()).unwrap();
        assert_eq!(ReportHints::read(dir.path()).unwrap(), hints);
        std::fs::write(dir.path().join(HINTS_FILE), "{\"titel\": 1}").unwrap();
        let err = ReportHints::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("report.json") && err.contains("title"),
            "{err}"
        );
    }
}
