//! UniProt GFF3: one feature per line, `accession  UniProtKB  Type  start  end  .  .  .  attrs`.
//! Attributes used: `ID` (feature id), `Note`, `Status`, `evidence`, `ligand`, `ligand_id`.
//! GFF3 cannot say `<`, `>` or `?`: positions are exact, and UniProt leaves features with unknown
//! positions out of its GFF3. Sequences in a trailing `##FASTA` section are attached.

use super::flat::split_evidence;
use super::{non_empty, type_from_name, Entry, Feature, Position};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Parses a GFF3 file into entries, in order of first appearance.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut fasta_start = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim() == "##FASTA" {
            fasta_start = Some(line_no);
            break;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 9 {
            return Err(Error::file(
                path,
                format!(
                    "line {line_no}: {} tab-separated columns, GFF3 needs 9; the file may be \
                     truncated or not GFF3",
                    cols.len()
                ),
            ));
        }
        let accession = cols[0].trim();
        if accession.is_empty() {
            return Err(Error::file(
                path,
                format!("line {line_no}: empty seqid column"),
            ));
        }
        let number = |s: &str| -> Result<Position> {
            s.trim().parse::<usize>().map(Position::exact).map_err(|_| {
                Error::file(
                    path,
                    format!(
                        "line {line_no} (entry {accession}): `{s}` is not a residue number in \
                         the start/end columns"
                    ),
                )
            })
        };
        let mut feature = Feature::new(type_from_name(cols[2]), number(cols[3])?, number(cols[4])?);
        for attr in cols[8]
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != ".")
        {
            let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
            let value = percent_decode(value);
            match key {
                "ID" => feature.feature_id = non_empty(&value),
                "Note" => feature.description = non_empty(&value),
                "Status" => feature.status = non_empty(&value.to_lowercase()),
                "evidence" => feature.evidence = split_evidence(&value),
                "ligand" => feature.ligand = non_empty(&value),
                "ligand_id" => feature.ligand_id = non_empty(&value),
                _ => {}
            }
        }
        let slot = *index.entry(accession.to_string()).or_insert_with(|| {
            entries.push(Entry {
                accession: accession.to_string(),
                ..Entry::default()
            });
            entries.len() - 1
        });
        entries[slot].features.push(feature);
    }
    if let Some(start) = fasta_start {
        let fasta: String = text.lines().skip(start).collect::<Vec<_>>().join("\n");
        if !fasta.trim().is_empty() {
            for record in crate::io::fasta::parse_fasta(fasta.as_bytes(), path)? {
                if let Some(&slot) = index.get(record.accession()) {
                    entries[slot].sequence = Some(record.sequence);
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(Error::file(path, "no GFF3 feature lines found"));
    }
    Ok(entries)
}

/// Decodes GFF3's `%XX` escapes; a malformed escape is kept as written.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_features_and_attributes() {
        let text = "##gff-version 3\n##sequence-region P1 1 10\n\
P1\tUniProtKB\tSignal peptide\t1\t22\t.\t.\t.\t.\n\
P1\tUniProtKB\tBinding site\t5\t5\t.\t.\t.\tNote=a%3Bb;ligand=ATP;ligand_id=ChEBI:CHEBI:30616;evidence=ECO:1|X:2,ECO:3;Status=By similarity\n\
##FASTA\n>P1\nMKV\n";
        let entries = parse(text, Path::new("t.gff")).unwrap();
        let e = &entries[0];
        assert_eq!(e.features[0].feature_type, "Signal");
        let b = &e.features[1];
        assert_eq!(b.description.as_deref(), Some("a;b"));
        assert_eq!(b.status.as_deref(), Some("by similarity"));
        assert_eq!(b.evidence.len(), 2);
        assert_eq!(b.ligand.as_deref(), Some("ATP"));
        assert_eq!(e.sequence.as_deref(), Some("MKV"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%2C"), "%zz,");
    }

    #[test]
    fn bad_gff_is_an_error() {
        let p = Path::new("t.gff");
        let e = parse("P1\tU\tSite\t1\n", p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("9"), "{e}");
        let e = parse("P1\tU\tSite\t?\t3\t.\t.\t.\t.\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("P1") && e.contains("`?`"), "{e}");
        assert!(parse("##gff-version 3\n", p).is_err());
    }
}
