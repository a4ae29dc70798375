//! UniProt flat text (`.txt`, `.dat`): ID, AC, DT, FT and SQ lines, entries ending in `//`.
//!
//! Two feature-table layouts exist and both are read:
//! - current (UniProt release 2019_11 on): `FT   BINDING         226..228` followed by qualifier
//!   lines `FT                   /ligand="..."` that may wrap over several lines;
//! - older: `FT   TRANSMEM     20     40       1 (By similarity).` with from/to columns, the
//!   description after them (wrapping onto continuation lines) and `/FTId=` lines.

use super::{non_empty, split_status, type_from_flat_key, Entry, Feature, Position};
use crate::{Error, Result};
use std::path::Path;

/// A feature whose qualifier or description lines may still follow.
struct PendingFeature {
    feature: Feature,
    old_style: bool,
    /// Old style: description text so far.
    text: String,
    /// Current style: completed qualifiers (name, value).
    qualifiers: Vec<(String, String)>,
    /// Current style: a qualifier whose closing quote has not been seen yet.
    open: Option<(String, String)>,
}

/// Joins a wrapped continuation onto `buffer`: UniProt wraps at spaces, or right after a hyphen
/// when a word is too long, so a hyphen at the break is joined without a space.
fn join_wrapped(buffer: &mut String, piece: &str) {
    if buffer.is_empty() || buffer.ends_with('-') {
        buffer.push_str(piece);
    } else {
        buffer.push(' ');
        buffer.push_str(piece);
    }
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    let v = v.strip_prefix('"').unwrap_or(v);
    let v = v.strip_suffix('"').unwrap_or(v);
    v.to_string()
}

/// A quoted value is complete when it has an opening and a closing quote.
fn quote_closed(value: &str) -> bool {
    let v = value.trim();
    !v.starts_with('"') || (v.len() >= 2 && v.ends_with('"'))
}

impl PendingFeature {
    fn add_line(&mut self, text: &str) {
        if self.old_style {
            if let Some(id) = text.strip_prefix("/FTId=") {
                self.feature.feature_id = non_empty(id.trim_end_matches('.'));
            } else {
                join_wrapped(&mut self.text, text);
            }
            return;
        }
        if let Some(open) = self.open.as_mut() {
            join_wrapped(&mut open.1, text);
        } else if let Some(qualifier) = text.strip_prefix('/') {
            let (name, value) = qualifier.split_once('=').unwrap_or((qualifier, ""));
            self.open = Some((name.to_string(), value.to_string()));
        } else if let Some(last) = self.qualifiers.last_mut() {
            // Unquoted continuation after a closed qualifier: keep the text rather than lose it.
            join_wrapped(&mut last.1, text);
        } else {
            join_wrapped(&mut self.text, text);
        }
        if let Some((_, value)) = &self.open {
            if quote_closed(value) {
                if let Some(done) = self.open.take() {
                    self.qualifiers.push(done);
                }
            }
        }
    }

    fn finish(mut self) -> Feature {
        if let Some(open) = self.open.take() {
            self.qualifiers.push(open);
        }
        let mut f = self.feature;
        if self.old_style {
            let mut text = self.text;
            // TrEMBL-style evidence in braces at the end: `{ECO:0000313|EMBL:AEX14553.1}.`
            if let (Some(open), Some(close)) = (text.rfind('{'), text.rfind('}')) {
                if open < close && text[open + 1..].starts_with("ECO:") {
                    f.evidence = split_evidence(&text[open + 1..close]);
                    text.replace_range(open..=close, "");
                }
            }
            let (description, status) = split_status(&text);
            f.description = description;
            f.status = status;
        } else {
            if !self.text.is_empty() {
                f.description = non_empty(&self.text);
            }
            for (name, value) in self.qualifiers {
                let value = unquote(&value);
                match name.as_str() {
                    "note" => f.description = non_empty(&value),
                    "evidence" => f.evidence = split_evidence(&value),
                    "ligand" => f.ligand = non_empty(&value),
                    "ligand_id" => f.ligand_id = non_empty(&value),
                    "id" => f.feature_id = non_empty(&value),
                    _ => {}
                }
            }
        }
        f
    }
}

/// Splits `ECO:1|PubMed:2, ECO:3` into its evidence strings.
pub(crate) fn split_evidence(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses a current-style location: `57`, `226..228`, `<1..>74`, `?..22`. A location in another
/// entry (`P12345:10..20`) has no position in this sequence and is returned as unknown.
pub(crate) fn parse_location(text: &str) -> Option<(Position, Position)> {
    if text.contains(':') {
        return Some((Position::unknown(), Position::unknown()));
    }
    match text.split_once("..") {
        Some((a, b)) => Some((Position::parse(a)?, Position::parse(b)?)),
        None => {
            let p = Position::parse(text)?;
            Some((p, p))
        }
    }
}

struct EntryBuilder {
    entry: Entry,
    first_line: usize,
    in_sequence: bool,
    pending: Option<PendingFeature>,
}

impl EntryBuilder {
    fn flush_feature(&mut self) {
        if let Some(p) = self.pending.take() {
            self.entry.features.push(p.finish());
        }
    }
}

/// Parses every entry of a flat file.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut current: Option<EntryBuilder> = None;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let code = line.get(..2).unwrap_or(line);
        let content = line.get(5..).unwrap_or("");
        if code == "ID" {
            if let Some(open) = &current {
                return Err(unterminated(path, open));
            }
            current = Some(EntryBuilder {
                entry: Entry {
                    entry_name: content.split_whitespace().next().map(str::to_string),
                    ..Entry::default()
                },
                first_line: line_no,
                in_sequence: false,
                pending: None,
            });
            continue;
        }
        let Some(builder) = current.as_mut() else {
            return Err(Error::file(
                path,
                format!(
                    "line {line_no}: `{}` outside an entry; UniProt flat entries start with an \
                     `ID   ` line",
                    truncate(line)
                ),
            ));
        };
        match code {
            "AC" => {
                for acc in content.split(';').map(str::trim).filter(|a| !a.is_empty()) {
                    if builder.entry.accession.is_empty() {
                        builder.entry.accession = acc.to_string();
                    } else {
                        builder.entry.secondary_accessions.push(acc.to_string());
                    }
                }
            }
            "DT" => {
                if let Some(rest) = content.split("sequence version").nth(1) {
                    builder.entry.sequence_version =
                        rest.trim().trim_end_matches('.').trim().parse().ok();
                }
            }
            "FT" => parse_ft_line(builder, content, line_no, path)?,
            "SQ" => {
                builder.flush_feature();
                builder.in_sequence = true;
                builder.entry.sequence = Some(String::new());
            }
            "//" => {
                let Some(mut done) = current.take() else {
                    continue;
                };
                done.flush_feature();
                if done.entry.accession.is_empty() {
                    return Err(Error::file(
                        path,
                        format!(
                            "entry starting at line {} has no AC line; every UniProt entry \
                             needs an accession",
                            done.first_line
                        ),
                    ));
                }
                entries.push(done.entry);
            }
            _ if builder.in_sequence && line.starts_with(' ') => {
                if let Some(seq) = builder.entry.sequence.as_mut() {
                    seq.extend(line.chars().filter(|c| c.is_ascii_alphabetic()));
                }
            }
            _ => {}
        }
    }
    if let Some(open) = &current {
        return Err(unterminated(path, open));
    }
    if entries.is_empty() {
        return Err(Error::file(
            path,
            "no UniProt flat entries found (expected `ID   ` ... `//` blocks)",
        ));
    }
    Ok(entries)
}

fn parse_ft_line(
    builder: &mut EntryBuilder,
    content: &str,
    line_no: usize,
    path: &Path,
) -> Result<()> {
    let accession = builder.entry.accession.clone();
    let starts_feature = content.chars().next().is_some_and(|c| !c.is_whitespace());
    if !starts_feature {
        let text = content.trim();
        match builder.pending.as_mut() {
            Some(p) => p.add_line(text),
            None => {
                return Err(Error::file(
                    path,
                    format!(
                        "line {line_no} (entry {accession}): FT continuation line before any \
                         feature key"
                    ),
                ))
            }
        }
        return Ok(());
    }
    builder.flush_feature();
    let key = content.split_whitespace().next().unwrap_or("");
    let rest = content[key.len()..].trim_start();
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let old_positions = match tokens.as_slice() {
        [a, b, ..] if !a.contains("..") => Position::parse(a).zip(Position::parse(b)),
        _ => None,
    };
    let bad_location = |loc: &str| {
        Error::file(
            path,
            format!(
                "line {line_no} (entry {accession}): cannot read the location `{loc}` of feature \
                 {key}; expected `N`, `N..M`, or old-style `N M`, with optional `<`, `>`, `?`"
            ),
        )
    };
    let pending = if let Some((start, end)) = old_positions {
        // Description is whatever follows the second position token.
        let after_first = rest[tokens[0].len()..].trim_start();
        let description = after_first[tokens[1].len()..].trim();
        PendingFeature {
            feature: Feature::new(type_from_flat_key(key), start, end),
            old_style: true,
            text: description.to_string(),
            qualifiers: Vec::new(),
            open: None,
        }
    } else {
        let location = tokens.first().copied().unwrap_or("");
        if location.is_empty() {
            return Err(bad_location(location));
        }
        let (start, end) = parse_location(location).ok_or_else(|| bad_location(location))?;
        PendingFeature {
            feature: Feature::new(type_from_flat_key(key), start, end),
            old_style: false,
            text: String::new(),
            qualifiers: Vec::new(),
            open: None,
        }
    };
    builder.pending = Some(pending);
    Ok(())
}

fn unterminated(path: &Path, open: &EntryBuilder) -> Error {
    let name = if open.entry.accession.is_empty() {
        open.entry.entry_name.clone().unwrap_or_default()
    } else {
        open.entry.accession.clone()
    };
    Error::file(
        path,
        format!(
            "entry `{name}` starting at line {} has no closing `//` line; the file looks \
             truncated",
            open.first_line
        ),
    )
}

fn truncate(line: &str) -> String {
    line.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::Modifier;

    const CURRENT: &str = "ID   TCMO_STRGA              Reviewed;         339 AA.
AC   P39896; Q00001;
DT   01-FEB-1995, sequence version 1.
FT   CHAIN           1..339
FT                   /note=\"Tetracenomycin polyketide synthesis 8-O-methyl
FT                   transferase TcmO\"
FT                   /id=\"PRO_0000072457\"
FT   ACT_SITE        246
FT                   /note=\"Proton acceptor\"
FT                   /evidence=\"ECO:0000255|PROSITE-ProRule:PRU01020\"
FT   BINDING         <1..?5
FT                   /ligand=\"S-adenosyl-L-methionine\"
FT                   /ligand_id=\"ChEBI:CHEBI:59789\"
FT                   /evidence=\"ECO:0000255|PROSITE-ProRule:PRU01020,
FT                   ECO:0000269|PubMed:1\"
SQ   SEQUENCE   10 AA;  37035 MW;  B228B66B24217F80 CRC64;
     MKLAAAAAAA
//
";

    #[test]
    fn current_layout_with_wrapped_qualifiers() {
        let entries = parse(CURRENT, Path::new("t.txt")).unwrap();
        let e = &entries[0];
        assert_eq!(e.accession, "P39896");
        assert_eq!(e.secondary_accessions, vec!["Q00001"]);
        assert_eq!(e.entry_name.as_deref(), Some("TCMO_STRGA"));
        assert_eq!(e.sequence.as_deref(), Some("MKLAAAAAAA"));
        assert_eq!(e.sequence_version, Some(1));
        assert_eq!(e.features.len(), 3);
        let chain = &e.features[0];
        assert_eq!(chain.feature_type, "Chain");
        assert_eq!(
            chain.description.as_deref(),
            Some("Tetracenomycin polyketide synthesis 8-O-methyl transferase TcmO")
        );
        assert_eq!(chain.feature_id.as_deref(), Some("PRO_0000072457"));
        let binding = &e.features[2];
        assert_eq!(binding.start.modifier, Modifier::LessThan);
        assert_eq!(binding.end.modifier, Modifier::Uncertain);
        assert_eq!(binding.end.value, Some(5));
        assert_eq!(binding.ligand_id.as_deref(), Some("ChEBI:CHEBI:59789"));
        assert_eq!(binding.evidence.len(), 2);
    }

    #[test]
    fn old_layout_with_status_and_ftid() {
        let text = "ID   X_HUMAN Reviewed; 10 AA.\nAC   Q1;\n\
FT   TRANSMEM     20     40       1 (By similarity).\n\
FT   VAR_SEQ     169    169       L -> LERSLNQGLGQDFHA (in isoform 5-\n\
FT                                HT4(F)).\n\
FT                                /FTId=VSP_001845.\n\
FT   CHAIN         ?    >94\n\
FT   NON_TER       1      1       {ECO:0000313|EMBL:AEX14553.1}.\n//\n";
        let e = &parse(text, Path::new("t.txt")).unwrap()[0];
        assert_eq!(e.features[0].description.as_deref(), Some("1"));
        assert_eq!(e.features[0].status.as_deref(), Some("by similarity"));
        assert_eq!(
            e.features[1].description.as_deref(),
            Some("L -> LERSLNQGLGQDFHA (in isoform 5-HT4(F))")
        );
        assert_eq!(e.features[1].feature_id.as_deref(), Some("VSP_001845"));
        assert_eq!(e.features[2].start, Position::unknown());
        assert_eq!(e.features[2].end.modifier, Modifier::GreaterThan);
        assert_eq!(e.features[3].evidence, vec!["ECO:0000313|EMBL:AEX14553.1"]);
        assert_eq!(e.features[3].description, None);
    }

    #[test]
    fn bad_flat_files_are_clear_errors() {
        let p = Path::new("bad.txt");
        let truncated = &CURRENT[..CURRENT.len() - 4];
        let e = parse(truncated, p).unwrap_err().to_string();
        assert!(e.contains("bad.txt") && e.contains("truncated"), "{e}");
        let e = parse("ID   A\nAC   P1;\nFT   BINDING         x..y\n//\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("P1") && e.contains("x..y"),
            "{e}"
        );
        let e = parse("ID   A\nFT   CHAIN 1..2\n//\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no AC line"), "{e}");
        let e = parse("AC   P1;\n", p).unwrap_err().to_string();
        assert!(e.contains("outside an entry"), "{e}");
        let e = parse(
            "ID   A\nAC   P1;\nFT                   /note=\"x\"\n//\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("continuation"), "{e}");
    }
}
