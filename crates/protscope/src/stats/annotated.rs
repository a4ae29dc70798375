//! Annotated residue positions for [`super::relevance_statistics`]: UniProt features or JSONL
//! sites matched to the proteins of an attribution table, with the sequence the attributions
//! were computed on checked against the annotated one.

use std::collections::{BTreeMap, HashMap};

use crate::annotation::{residue_mask, Entry, FeatureSelection, MaskOptions};

/// Result of [`annotated_positions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotatedPositions {
    /// Protein → 1-based annotated residue positions (empty when it has none of the selected
    /// features).
    pub positions: HashMap<String, Vec<usize>>,
    /// Proteins of the table left out, with the reason (no entry, sequence differs, …).
    pub problems: Vec<String>,
    /// Notes on proteins kept (features skipped, model sequence truncated).
    pub notes: Vec<String>,
}

/// Matches each table protein (key → residues seen by the model, 1..=n) to an entry by
/// accession (or the accession inside `sp|ACC|NAME` ids) and collects the residues covered by
/// any selected feature. A table sequence that is a prefix of the annotated one (a `--max-len`
/// cut) is accepted; any other difference leaves the protein out with a reason. Residues the
/// table shows as non-letters (e.g. `[UNK]`) count as `X`.
pub fn annotated_positions(
    sequences: &BTreeMap<String, String>,
    entries: &[Entry],
    selection: &FeatureSelection,
) -> AnnotatedPositions {
    let by_accession: HashMap<&str, &Entry> =
        entries.iter().map(|e| (e.accession.as_str(), e)).collect();
    let mut out = AnnotatedPositions::default();
    for (protein, sequence) in sequences {
        let accession = uniprot_accession(protein);
        let Some(entry) = by_accession
            .get(protein.as_str())
            .or_else(|| by_accession.get(accession))
        else {
            out.problems
                .push(format!("{protein}: no annotation entry with this id"));
            continue;
        };
        match residue_mask(entry, selection, Some(sequence), &MaskOptions::default()) {
            Ok(mask) => {
                if let Some(note) = mask.summary() {
                    out.notes.push(note);
                }
                let positions = mask
                    .any()
                    .iter()
                    .enumerate()
                    .filter(|(_, &m)| m)
                    .map(|(i, _)| i + 1)
                    .collect();
                out.positions.insert(protein.clone(), positions);
            }
            Err(e) => out.problems.push(e.to_string()),
        }
    }
    out
}

fn uniprot_accession(id: &str) -> &str {
    let mut parts = id.split('|');
    match (parts.next(), parts.next()) {
        (Some("sp" | "tr"), Some(acc)) if !acc.is_empty() => acc,
        _ => id,
    }
}

/// Residue letters from token texts: one-letter tokens as they are, anything else `X`.
pub fn residues_from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    tokens
        .into_iter()
        .map(|t| {
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphabetic() => c.to_ascii_uppercase(),
                _ => 'X',
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::{Feature, Position};

    fn entry(acc: &str, seq: &str, sites: &[usize]) -> Entry {
        Entry {
            accession: acc.into(),
            sequence: Some(seq.into()),
            features: sites
                .iter()
                .map(|&p| Feature::new("Binding site", Position::exact(p), Position::exact(p)))
                .collect(),
            ..Entry::default()
        }
    }

    #[test]
    fn matches_checks_and_reports() {
        let entries = vec![
            entry("P1", "MKVL", &[2, 4]),
            entry("P2", "MKVL", &[1]),
            entry("P3", "MKVLAA", &[2, 6]),
        ];
        let sequences: BTreeMap<String, String> = [
            ("sp|P1|X_HUMAN", "MKVL"),
            ("P2", "MKVV"),
            ("P3", "MKVL"),
            ("P4", "MK"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let sel = FeatureSelection::with_types("Binding site").unwrap();
        let got = annotated_positions(&sequences, &entries, &sel);
        assert_eq!(got.positions["sp|P1|X_HUMAN"], vec![2, 4]);
        assert_eq!(got.positions["P3"], vec![2], "site 6 lies beyond the cut");
        assert!(!got.positions.contains_key("P2"));
        assert_eq!(got.problems.len(), 2, "{:?}", got.problems);
        assert!(got.problems.iter().any(|p| p.contains("P2")));
        assert!(got.problems.iter().any(|p| p.starts_with("P4")));
    }

    #[test]
    fn token_residues() {
        assert_eq!(residues_from_tokens(["A", "[UNK]", "k"]), "AXK");
    }
}
