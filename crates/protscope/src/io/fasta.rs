//! FASTA reading on noodles-fasta. The record id is the header up to the first whitespace;
//! UniProt-style headers (`sp|P12345|NAME_HUMAN ...`) also yield an accession.

use crate::{Error, Result};
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

#[cfg(test)]
mod tests {
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
