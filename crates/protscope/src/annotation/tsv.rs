//! UniProt TSV downloads. The `Entry` column gives the accession (`Entry Name`, `Sequence` are
//! used when present); every column whose header is a feature type ("Active site",
//! "Binding site", "Domain \[FT\]", ...) holds that type's features in flat-file notation:
//! `BINDING 33..41; /ligand="ATP"; /ligand_id="ChEBI:CHEBI:30616"; /evidence="..."; BINDING 56; ...`.

use super::flat::{parse_location, split_evidence};
use super::{canonical_type, non_empty, type_from_flat_key, Entry, Feature};
use crate::{Error, Result};
use std::path::Path;

/// Parses a TSV download.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(Error::file(path, "TSV file is empty"));
    };
    let columns: Vec<&str> = header.trim_end_matches('\r').split('\t').collect();
    let find = |names: &[&str]| columns.iter().position(|c| names.contains(&c.trim()));
    let accession_col = find(&["Entry", "Accession"]).ok_or_else(|| {
        Error::file(
            path,
            "TSV header has no `Entry` column; download the table with the accession column",
        )
    })?;
    let name_col = find(&["Entry Name", "Entry name"]);
    let sequence_col = find(&["Sequence"]);
    let feature_cols: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            Some(*i) != sequence_col && *i != accession_col && canonical_type(c).is_some()
        })
        .map(|(i, _)| i)
        .collect();
    let mut entries = Vec::new();
    for (index, line) in lines {
        let line_no = index + 1;
        let cells: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or("").trim();
        let accession = non_empty(cell(accession_col)).ok_or_else(|| {
            Error::file(
                path,
                format!("line {line_no}: empty `Entry` (accession) cell"),
            )
        })?;
        let mut entry = Entry {
            entry_name: name_col.and_then(|i| non_empty(cell(i))),
            sequence: sequence_col.and_then(|i| non_empty(cell(i))),
            ..Entry::default()
        };
        for &col in &feature_cols {
            let features = parse_cell(cell(col)).map_err(|m| {
                Error::file(
                    path,
                    format!(
                        "line {line_no} (entry {accession}), column `{}`: {m}",
                        columns[col].trim()
                    ),
                )
            })?;
            entry.features.extend(features);
        }
        entry.accession = accession;
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(Error::file(path, "TSV file has a header but no rows"));
    }
    Ok(entries)
}

/// Splits on `;` outside double quotes.
fn split_outside_quotes(cell: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in cell.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                parts.push(&cell[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&cell[start..]);
    parts
}

/// Parses one feature cell into features.
pub(crate) fn parse_cell(cell: &str) -> std::result::Result<Vec<Feature>, String> {
    let mut features: Vec<Feature> = Vec::new();
    for part in split_outside_quotes(cell).into_iter().map(str::trim) {
        if part.is_empty() {
            continue;
        }
        if let Some(qualifier) = part.strip_prefix('/') {
            let Some(feature) = features.last_mut() else {
                return Err(format!("qualifier `{part}` before any feature key"));
            };
            let (name, value) = qualifier.split_once('=').unwrap_or((qualifier, ""));
            let value = value.trim();
            let value = value.strip_prefix('"').unwrap_or(value);
            let value = value.strip_suffix('"').unwrap_or(value);
            match name {
                "note" => feature.description = non_empty(value),
                "evidence" => feature.evidence = split_evidence(value),
                "ligand" => feature.ligand = non_empty(value),
                "ligand_id" => feature.ligand_id = non_empty(value),
                "id" => feature.feature_id = non_empty(value),
                _ => {}
            }
            continue;
        }
        let mut words = part.split_whitespace();
        let (Some(key), Some(location)) = (words.next(), words.next()) else {
            return Err(format!(
                "`{part}` is not `KEY LOCATION` (e.g. `ACT_SITE 57`)"
            ));
        };
        let (start, end) = parse_location(location)
            .ok_or_else(|| format!("cannot read the location `{location}` of {key}"))?;
        features.push(Feature::new(type_from_flat_key(key), start, end));
    }
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::Position;

    #[test]
    fn reads_feature_cells_with_semicolons_in_quotes() {
        let text = "Entry\tEntry Name\tSequence\tActive site\tBinding site\n\
P1\tX_HUMAN\tMKVL\tACT_SITE 2; /note=\"a; b\"; /evidence=\"ECO:1|X:2, ECO:3\"\tBINDING 1..3; /ligand=\"ATP\"; BINDING ?\n\
P2\t\t\t\t\n";
        let entries = parse(text, Path::new("t.tsv")).unwrap();
        let e = &entries[0];
        assert_eq!(e.entry_name.as_deref(), Some("X_HUMAN"));
        assert_eq!(e.features.len(), 3);
        assert_eq!(e.features[0].description.as_deref(), Some("a; b"));
        assert_eq!(e.features[0].evidence, vec!["ECO:1|X:2", "ECO:3"]);
        assert_eq!(e.features[1].end, Position::exact(3));
        assert_eq!(e.features[2].start, Position::unknown());
        assert!(entries[1].features.is_empty());
    }

    #[test]
    fn bad_tsv_is_an_error() {
        let p = Path::new("t.tsv");
        assert!(parse("A\tB\nx\ty\n", p)
            .unwrap_err()
            .to_string()
            .contains("Entry"));
        assert!(parse("Entry\tActive site\n", p)
            .unwrap_err()
            .to_string()
            .contains("no rows"));
        let e = parse("Entry\tActive site\nP1\tACT_SITE x\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("P1") && e.contains("Active site"),
            "{e}"
        );
        let e = parse("Entry\tActive site\nP1\t/note=\"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("before any feature key"), "{e}");
    }
}
