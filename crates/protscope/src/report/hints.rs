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
                format!("not valid report hints ({e}); expected the fields title, overview, tracks, attention_maps"),
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
