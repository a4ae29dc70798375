//! Site sets that are not UniProt files: JSON Lines `{"id", "sequence", "sites"}` with 1-based
//! residue positions (e.g. binding or modification sites derived from PDB chains).

use super::{Entry, Feature, Position};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// One protein and its sites.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteSet {
    pub id: String,
    pub sequence: String,
    /// 1-based residue positions.
    pub sites: Vec<usize>,
}

impl SiteSet {
    /// The sites as an [`Entry`] with one single-residue feature of `feature_type` per site, so
    /// masks, frames and joins treat them like UniProt features (out-of-range sites are
    /// reported by [`super::residue_mask`], not dropped).
    pub fn to_entry(&self, feature_type: &str) -> Entry {
        Entry {
            accession: self.id.clone(),
            sequence: Some(self.sequence.clone()),
            features: self
                .sites
                .iter()
                .map(|&p| Feature::new(feature_type, Position::exact(p), Position::exact(p)))
                .collect(),
            ..Entry::default()
        }
    }
}

/// Reads a JSONL site file (gzip allowed). Blank lines are ignored; a malformed line is an
/// error naming its line number.
pub fn read_sites(path: &Path) -> Result<Vec<SiteSet>> {
    let bytes = crate::io::read_all_maybe_gzip(path)?;
    parse_sites(super::utf8(&bytes, path)?, path)
}

/// Parses JSONL site sets; `path` is only used in error messages.
pub fn parse_sites(text: &str, path: &Path) -> Result<Vec<SiteSet>> {
    let mut sets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let set: SiteSet = serde_json::from_str(line).map_err(|e| {
            Error::file(
                path,
                format!(
                    "line {}: not a site record ({e}); expected {{\"id\": str, \"sequence\": str, \
                     \"sites\": [1-based positions]}}",
                    index + 1
                ),
            )
        })?;
        if set.id.is_empty() || set.sequence.is_empty() {
            return Err(Error::file(
                path,
                format!("line {}: empty `id` or `sequence`", index + 1),
            ));
        }
        if !seen.insert(set.id.clone()) {
            return Err(Error::file(
                path,
                format!("line {}: id `{}` occurs twice", index + 1, set.id),
            ));
        }
        sets.push(set);
    }
    if sets.is_empty() {
        return Err(Error::file(path, "no site records found"));
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::{residue_mask, FeatureSelection, MaskOptions, SkipReason};

    #[test]
    fn sites_become_masks_and_bad_sites_are_reported() {
        let text = "{\"id\":\"1abc.A\",\"sequence\":\"MKVLA\",\"sites\":[1,3,9]}\n\n";
        let sets = parse_sites(text, Path::new("s.jsonl")).unwrap();
        let entry = sets[0].to_entry("Binding site");
        let m = residue_mask(
            &entry,
            &FeatureSelection::all(),
            None,
            &MaskOptions::default(),
        )
        .unwrap();
        assert_eq!(
            m.column("Binding site").unwrap(),
            [true, false, true, false, false]
        );
        assert_eq!(m.skipped.len(), 1);
        assert_eq!(m.skipped[0].reason, SkipReason::OutOfRange { length: 5 });
    }

    #[test]
    fn malformed_lines_are_errors() {
        let p = Path::new("s.jsonl");
        let e = parse_sites(
            "{\"id\":\"a\",\"sequence\":\"MK\",\"sites\":[1]}\n{\"id\":\"b\"}\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("s.jsonl"), "{e}");
        assert!(parse_sites("{\"id\":\"a\",\"sequence\":\"MK\",\"sites\":[-1]}", p).is_err());
        assert!(parse_sites("", p).is_err());
    }
}
