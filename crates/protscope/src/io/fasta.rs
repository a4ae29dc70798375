//! FASTA reading on noodles-fasta. The record id is the header up to the first whitespace;
//! UniProt-style headers (`sp|P12345|NAME_HUMAN ...`) also yield an accession.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastaRecord {
    /// Header up to the first whitespace (the key used in every output table).
    pub id: String,
    /// Rest of the header line (may be empty).
    pub description: String,
    /// Sequence as written in the file, line breaks removed.
    pub sequence: String,
}

impl FastaRecord {
    /// UniProt accession from `db|ACCESSION|ENTRY_NAME` ids; otherwise the id itself.
    pub fn accession(&self) -> &str {
        let mut parts = self.id.split('|');
        match (parts.next(), parts.next()) {
            (Some(db), Some(acc)) if matches!(db, "sp" | "tr") && !acc.is_empty() => acc,
            _ => &self.id,
        }
    }
}

/// Reads every record of a FASTA file (gzip allowed). Empty files, records without a sequence
/// and duplicate ids are errors naming the file and record.
pub fn read_fasta(path: &Path) -> Result<Vec<FastaRecord>> {
    let reader = crate::io::open_maybe_gzip(path)?;
    parse_fasta(reader, path)
}

/// Parses FASTA from any reader; `path` is only used in error messages.
pub fn parse_fasta<R: std::io::BufRead>(reader: R, path: &Path) -> Result<Vec<FastaRecord>> {
    let mut fasta = noodles_fasta::io::Reader::new(reader);
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, result) in fasta.records().enumerate() {
        let record = result.map_err(|e| {
            Error::file(
                path,
                format!(
                    "FASTA record #{} is malformed ({e}); each record needs a `>id` header line",
                    index + 1
                ),
            )
        })?;
        let id = String::from_utf8_lossy(record.name()).into_owned();
        if id.is_empty() {
            return Err(Error::file(
                path,
                format!("FASTA record #{} has an empty id after `>`", index + 1),
            ));
        }
        let description = record
            .description()
            .map(|d| String::from_utf8_lossy(d.as_ref()).into_owned())
            .unwrap_or_default();
        let sequence: String = String::from_utf8_lossy(record.sequence().as_ref())
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if sequence.is_empty() {
            return Err(Error::file(
                path,
                format!("FASTA record `{id}` has an empty sequence"),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(Error::file(
                path,
                format!(
                    "FASTA id `{id}` occurs twice; ids key every output table and must be unique"
                ),
            ));
        }
        records.push(FastaRecord {
            id,
            description,
            sequence,
        });
    }
    if records.is_empty() {
        return Err(Error::file(
            path,
            "no FASTA records found (expected lines starting with `>`)",
        ));
    }
    Ok(records)
}

/// Records spread evenly over the file (every k-th), so a small run still covers each source
/// group (the file is ordered by source and species).
pub fn spread_sample<T: Clone>(records: Vec<T>, limit: Option<usize>) -> Vec<T> {
    match limit {
        Some(k) if k > 0 && k < records.len() => {
            let n = records.len();
            (0..k).map(|i| records[i * n / k].clone()).collect()
        }
        _ => records,
    }
}

/// `key=value` fields of a FASTA description (`species=Human chain=Heavy ...`).
pub fn header_fields(description: &str) -> BTreeMap<String, String> {
    description
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn spread_sample_takes_evenly_spaced_records() {
        let records: Vec<_> = (0..10)
            .map(|i| FastaRecord {
                id: format!("r{i}"),
                description: String::new(),
                sequence: "ACDE".into(),
            })
            .collect();
        let ids: Vec<String> = spread_sample(records.clone(), Some(3))
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["r0", "r3", "r6"]);
        assert_eq!(spread_sample(records.clone(), None).len(), 10);
        assert_eq!(spread_sample(records, Some(50)).len(), 10);
    }

    use super::*;

    fn parse(text: &str) -> Result<Vec<FastaRecord>> {
        parse_fasta(text.as_bytes(), Path::new("test.fasta"))
    }

    #[test]
    fn reads_ids_descriptions_and_multiline_sequences() {
        let recs = parse(">sp|P69905|HBA_HUMAN Hemoglobin alpha\nMVLS\nPADK\n>x\nEVQ\n").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].id, "sp|P69905|HBA_HUMAN");
        assert_eq!(recs[0].accession(), "P69905");
        assert_eq!(recs[0].description, "Hemoglobin alpha");
        assert_eq!(recs[0].sequence, "MVLSPADK");
        assert_eq!(recs[1].accession(), "x");
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(parse("")
            .unwrap_err()
            .to_string()
            .contains("no FASTA records"));
        assert!(parse(">a\n>b\nMK\n")
            .unwrap_err()
            .to_string()
            .contains("empty sequence"));
        assert!(parse(">a\nMK\n>a\nMK\n")
            .unwrap_err()
            .to_string()
            .contains("occurs twice"));
        assert!(parse("MKV\n").is_err());
    }
}
