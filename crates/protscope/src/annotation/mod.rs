//! UniProt sequence features as one schema, whatever file format they come from.
//!
//! Every parser (flat text, XML, REST JSON, TSV download, GFF3, FASTA) produces [`Entry`] values
//! holding [`Feature`]s. Feature types are stored under UniProt's display name (the name the REST
//! API and the website use, e.g. "Active site"); [`FEATURE_TYPES`] documents how that name is
//! written in each format:
//!
//! | flat-file key | XML `type` | display name (REST JSON `type`, TSV column, GFF3 column 3) |
//! |---|---|---|
//! | `ACT_SITE` | `active site` | Active site |
//! | `BINDING` | `binding site` | Binding site |
//! | `TRANSMEM` | `transmembrane region` | Transmembrane |
//! | `MOD_RES` | `modified residue` | Modified residue |
//! | `DISULFID` | `disulfide bond` | Disulfide bond |
//! | `REGION` | `region of interest` | Region |
//! | ... | ... | see [`FEATURE_TYPES`] for all 40 |
//!
//! Where formats disagree on a name (GFF3 writes "Signal peptide" where REST writes "Signal";
//! the TSV download names the domain column "Domain \[FT\]") the alias is listed too. A type not in
//! the table is kept under the name the file gives, never dropped.

pub mod antibody;
pub mod flat;
pub mod frame;
pub mod gff;
pub mod json;
pub mod mask;
pub mod secondary;
pub mod sites;
pub mod tsv;
pub mod xml;

pub use frame::{
    attach_residues_to_attention, attach_residues_to_attribution, features_frame, residue_frame,
    AttentionSide,
};
pub use mask::{
    residue_mask, FeatureSelection, MaskOptions, ResidueMask, SequenceCheck, SkipReason,
    SkippedFeature,
};
pub use sites::{read_sites, SiteSet};

use crate::{Error, Result};
use std::path::Path;

/// How a feature boundary is qualified (UniProt writes these as `<`, `>`, `?N`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    /// The position is exact.
    Exact,
    /// `<N`: the feature starts before N (outside the given sequence or not determined).
    LessThan,
    /// `>N`: the feature ends after N.
    GreaterThan,
    /// `?N`: the position is probably N but uncertain.
    Uncertain,
    /// `?`: the position is not known at all; there is no value.
    Unknown,
}

impl Modifier {
    /// Name used in tables: `exact`, `less_than`, `greater_than`, `uncertain`, `unknown`
    /// (XML's `status` vocabulary with underscores).
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Exact => "exact",
            Modifier::LessThan => "less_than",
            Modifier::GreaterThan => "greater_than",
            Modifier::Uncertain => "uncertain",
            Modifier::Unknown => "unknown",
        }
    }
}

/// One end of a feature: a 1-based residue number (absent when unknown) and its modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub value: Option<usize>,
    pub modifier: Modifier,
}

impl Position {
    pub fn exact(value: usize) -> Self {
        Position {
            value: Some(value),
            modifier: Modifier::Exact,
        }
    }

    pub fn unknown() -> Self {
        Position {
            value: None,
            modifier: Modifier::Unknown,
        }
    }

    /// Parses UniProt's textual position: `57`, `<1`, `>74`, `?58`, `?`. Returns `None` for
    /// anything else (the caller names the file and record in its error).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (modifier, digits) = if let Some(rest) = text.strip_prefix('<') {
            (Modifier::LessThan, rest)
        } else if let Some(rest) = text.strip_prefix('>') {
            (Modifier::GreaterThan, rest)
        } else if let Some(rest) = text.strip_prefix('?') {
            if rest.is_empty() {
                return Some(Position::unknown());
            }
            (Modifier::Uncertain, rest)
        } else {
            (Modifier::Exact, text)
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value = digits.parse::<usize>().ok()?;
        Some(Position {
            value: Some(value),
            modifier,
        })
    }
}

/// One sequence feature of one UniProt entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Display name, e.g. "Active site" (see [`FEATURE_TYPES`]).
    pub feature_type: String,
    /// First residue, 1-based.
    pub start: Position,
    /// Last residue, 1-based, inclusive. For a disulfide bond: the second cysteine.
    pub end: Position,
    /// Description / `/note` text; `None` when the source gives none.
    pub description: Option<String>,
    /// Pre-2013 qualifier ("by similarity", "potential", "probable"); newer files use evidence.
    pub status: Option<String>,
    /// Evidence as UniProt writes it in flat files: `ECO:0000255|PROSITE-ProRule:PRU01020`,
    /// `ECO:0000269|PubMed:123`, or a bare ECO code.
    pub evidence: Vec<String>,
    /// Ligand name(s) for binding sites, e.g. "NAD(+)"; several are joined with "; ".
    pub ligand: Option<String>,
    /// Ligand database id(s), e.g. "ChEBI:CHEBI:57540"; several are joined with "; ".
    pub ligand_id: Option<String>,
    /// Feature id, e.g. "PRO_0000072457", "VAR_049364".
    pub feature_id: Option<String>,
}

impl Feature {
    /// A feature with the given type and positions and no other values.
    pub fn new(feature_type: impl Into<String>, start: Position, end: Position) -> Self {
        Feature {
            feature_type: feature_type.into(),
            start,
            end,
            description: None,
            status: None,
            evidence: Vec::new(),
            ligand: None,
            ligand_id: None,
            feature_id: None,
        }
    }

    /// ECO codes only (`ECO:0000269`), without their sources.
    pub fn eco_codes(&self) -> impl Iterator<Item = &str> {
        self.evidence
            .iter()
            .map(|e| e.split('|').next().unwrap_or(e.as_str()))
    }
}

/// One UniProt entry (or FASTA record): identity, sequence and features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Primary accession, e.g. "P12345" (for FASTA without a UniProt header: the record id).
    pub accession: String,
    pub secondary_accessions: Vec<String>,
    /// Entry name, e.g. "TCMO_STRGA".
    pub entry_name: Option<String>,
    /// Canonical sequence when the file carries it.
    pub sequence: Option<String>,
    /// Sequence version when the file gives it.
    pub sequence_version: Option<u32>,
    pub features: Vec<Feature>,
}

/// A row of the feature-type table: how one feature type is written in each format.
#[derive(Debug, Clone, Copy)]
pub struct FeatureKind {
    /// Flat-file (and TSV-cell) key, e.g. `ACT_SITE`.
    pub flat_key: &'static str,
    /// XML `type` attribute, e.g. `active site`.
    pub xml_type: &'static str,
    /// Display name: REST JSON `type`, TSV column header, GFF3 type (unless an alias applies).
    pub name: &'static str,
    /// Other spellings of the display name used by GFF3 or TSV headers.
    pub aliases: &'static [&'static str],
}

macro_rules! kinds {
    ($( $key:literal, $xml:literal, $name:literal, [$($alias:literal),*] );* $(;)?) => {
        &[ $( FeatureKind { flat_key: $key, xml_type: $xml, name: $name, aliases: &[$($alias),*] } ),* ]
    };
}

/// All UniProt feature types (current and retired), in UniProt's documentation order.
pub const FEATURE_TYPES: &[FeatureKind] = kinds![
    "INIT_MET", "initiator methionine", "Initiator methionine", [];
    "SIGNAL", "signal peptide", "Signal", ["Signal peptide"];
    "TRANSIT", "transit peptide", "Transit peptide", [];
    "PROPEP", "propeptide", "Propeptide", [];
    "CHAIN", "chain", "Chain", [];
    "PEPTIDE", "peptide", "Peptide", [];
    "TOPO_DOM", "topological domain", "Topological domain", [];
    "TRANSMEM", "transmembrane region", "Transmembrane", [];
    "INTRAMEM", "intramembrane region", "Intramembrane", [];
    "DOMAIN", "domain", "Domain", ["Domain [FT]"];
    "REPEAT", "repeat", "Repeat", [];
    "CA_BIND", "calcium-binding region", "Calcium binding", [];
    "ZN_FING", "zinc finger region", "Zinc finger", [];
    "DNA_BIND", "DNA-binding region", "DNA binding", [];
    "NP_BIND", "nucleotide phosphate-binding region", "Nucleotide binding", [];
    "REGION", "region of interest", "Region", [];
    "COILED", "coiled-coil region", "Coiled coil", [];
    "MOTIF", "short sequence motif", "Motif", [];
    "COMPBIAS", "compositionally biased region", "Compositional bias", [];
    "ACT_SITE", "active site", "Active site", [];
    "METAL", "metal ion-binding site", "Metal binding", [];
    "BINDING", "binding site", "Binding site", [];
    "SITE", "site", "Site", [];
    "NON_STD", "non-standard amino acid", "Non-standard residue", ["Non-standard amino acid"];
    "MOD_RES", "modified residue", "Modified residue", [];
    "LIPID", "lipid moiety-binding region", "Lipidation", [];
    "CARBOHYD", "glycosylation site", "Glycosylation", [];
    "DISULFID", "disulfide bond", "Disulfide bond", [];
    "CROSSLNK", "cross-link", "Cross-link", [];
    "VAR_SEQ", "splice variant", "Alternative sequence", [];
    "VARIANT", "sequence variant", "Natural variant", [];
    "MUTAGEN", "mutagenesis site", "Mutagenesis", [];
    "UNSURE", "unsure residue", "Sequence uncertainty", [];
    "CONFLICT", "sequence conflict", "Sequence conflict", [];
    "NON_CONS", "non-consecutive residues", "Non-adjacent residues", [];
    "NON_TER", "non-terminal residue", "Non-terminal residue", [];
    "HELIX", "helix", "Helix", [];
    "STRAND", "strand", "Beta strand", [];
    "TURN", "turn", "Turn", [];
];

/// Display name for a flat-file key (`ACT_SITE` -> "Active site"); unknown keys are kept.
pub fn type_from_flat_key(key: &str) -> String {
    FEATURE_TYPES
        .iter()
        .find(|k| k.flat_key == key)
        .map_or_else(|| key.to_string(), |k| k.name.to_string())
}

/// Display name for an XML `type` (`active site` -> "Active site"); unknown types are kept.
pub fn type_from_xml(xml_type: &str) -> String {
    FEATURE_TYPES
        .iter()
        .find(|k| k.xml_type == xml_type)
        .map_or_else(|| xml_type.to_string(), |k| k.name.to_string())
}

/// Canonical display name for a display name, alias, flat key or XML type, compared without
/// regard to case; `None` when nothing matches.
pub fn canonical_type(name: &str) -> Option<&'static str> {
    let name = name.trim();
    FEATURE_TYPES
        .iter()
        .find(|k| {
            k.name.eq_ignore_ascii_case(name)
                || k.flat_key.eq_ignore_ascii_case(name)
                || k.xml_type.eq_ignore_ascii_case(name)
                || k.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|k| k.name)
}

/// Display name for a REST/GFF/TSV name; unknown names are kept as written.
pub fn type_from_name(name: &str) -> String {
    canonical_type(name).map_or_else(|| name.trim().to_string(), str::to_string)
}

/// File formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UniProt flat text (`.txt`, `.dat`).
    Flat,
    /// UniProt XML.
    Xml,
    /// UniProt REST JSON (one entry or `{"results": [...]}`).
    Json,
    /// UniProt TSV download with feature columns.
    Tsv,
    /// UniProt GFF3.
    Gff,
    /// FASTA (sequences only, no features).
    Fasta,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "flat" | "txt" | "dat" | "swiss" => Ok(Format::Flat),
            "xml" => Ok(Format::Xml),
            "json" => Ok(Format::Json),
            "tsv" => Ok(Format::Tsv),
            "gff" | "gff3" => Ok(Format::Gff),
            "fasta" | "fa" => Ok(Format::Fasta),
            other => Err(Error::invalid(format!(
                "unknown annotation format `{other}`; use flat, xml, json, tsv, gff or fasta"
            ))),
        }
    }
}

/// Guesses the format from the first bytes of a (decompressed) file; `None` when nothing fits.
pub fn detect_format(head: &[u8]) -> Option<Format> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("<?xml") || text.starts_with("<uniprot") || text.starts_with("<entry") {
        return Some(Format::Xml);
    }
    if text.starts_with('{') || text.starts_with('[') {
        return Some(Format::Json);
    }
    if text.starts_with("##gff-version") {
        return Some(Format::Gff);
    }
    if text.starts_with('>') {
        return Some(Format::Fasta);
    }
    if text.starts_with("ID   ") {
        return Some(Format::Flat);
    }
    let first_line = text.lines().next().unwrap_or("");
    if first_line.contains('\t') {
        let columns: Vec<&str> = first_line.split('\t').collect();
        if columns.iter().any(|c| *c == "Entry" || *c == "Accession") {
            return Some(Format::Tsv);
        }
        // GFF3 without its header line: 9 tab-separated columns, numeric 4 and 5.
        if columns.len() >= 9
            && columns[3].trim().parse::<u64>().is_ok()
            && columns[4].trim().parse::<u64>().is_ok()
        {
            return Some(Format::Gff);
        }
    }
    None
}

/// Reads all entries of one annotation file (gzip allowed). `format` overrides detection.
/// XML is parsed as a stream (the file is never held in memory as a whole); for a dump too
/// large for its entries to fit in memory, iterate [`xml::stream`] instead.
pub fn read_entries(path: &Path, format: Option<Format>) -> Result<Vec<Entry>> {
    use std::io::{BufRead, Read};
    let mut reader = crate::io::open_maybe_gzip(path)?;
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    let detected = format.or_else(|| detect_format(head));
    if detected == Some(Format::Xml) && !head.iter().all(|b| b.is_ascii_whitespace()) {
        return xml::parse_reader(reader, path);
    }
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    parse_entries(&bytes, format, path)
}

/// Parses annotation bytes; `path` is only used in error messages.
pub fn parse_entries(bytes: &[u8], format: Option<Format>, path: &Path) -> Result<Vec<Entry>> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::file(
            path,
            "file is empty; expected UniProt flat text, XML, JSON, TSV, GFF3 or FASTA",
        ));
    }
    let format = match format {
        Some(f) => f,
        None => detect_format(bytes).ok_or_else(|| {
            Error::file(
                path,
                "cannot tell the annotation format from the content (expected UniProt flat \
                 text starting with `ID   `, XML, JSON, a TSV with an `Entry` column, GFF3 or \
                 FASTA); pass the format explicitly",
            )
        })?,
    };
    match format {
        Format::Flat => flat::parse(utf8(bytes, path)?, path),
        Format::Xml => xml::parse(bytes, path),
        Format::Json => json::parse(utf8(bytes, path)?, path),
        Format::Tsv => tsv::parse(utf8(bytes, path)?, path),
        Format::Gff => gff::parse(utf8(bytes, path)?, path),
        Format::Fasta => {
            let records = crate::io::fasta::parse_fasta(bytes, path)?;
            Ok(records
                .iter()
                .map(|r| Entry {
                    accession: r.accession().to_string(),
                    entry_name: fasta_entry_name(&r.id),
                    sequence: Some(r.sequence.clone()),
                    sequence_version: fasta_sequence_version(&r.description),
                    ..Entry::default()
                })
                .collect())
        }
    }
}

/// Entry name from a UniProt FASTA id `sp|P12345|NAME_HUMAN`.
fn fasta_entry_name(id: &str) -> Option<String> {
    let mut parts = id.split('|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("sp" | "tr"), Some(_), Some(name)) if !name.is_empty() => Some(name.to_string()),
        _ => None,
    }
}

/// `SV=2` in a UniProt FASTA description.
fn fasta_sequence_version(description: &str) -> Option<u32> {
    description
        .split_whitespace()
        .find_map(|w| w.strip_prefix("SV="))
        .and_then(|v| v.parse().ok())
}

/// Checks UTF-8 and names the line of the first bad byte.
pub(crate) fn utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::file(
            path,
            format!(
                "line {line}: bytes are not UTF-8 (byte offset {offset}); UniProt files are \
                 UTF-8, re-download or convert the file"
            ),
        )
    })
}

/// `Some(trimmed)` unless empty.
pub(crate) fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Splits old-style trailing qualifiers "(By similarity)", "(Potential)", "(Probable)" off a
/// description and removes the final period flat files add, so old flat text and XML agree.
pub(crate) fn split_status(description: &str) -> (Option<String>, Option<String>) {
    let mut text = description
        .trim()
        .trim_end_matches('.')
        .trim_end()
        .to_string();
    let mut status = None;
    for (suffix, name) in [
        ("By similarity", "by similarity"),
        ("Potential", "potential"),
        ("Probable", "probable"),
    ] {
        let bracketed = format!("({suffix})");
        if text.ends_with(&bracketed) {
            text.truncate(text.len() - bracketed.len());
            status = Some(name.to_string());
            break;
        }
        if text == suffix {
            text.clear();
            status = Some(name.to_string());
            break;
        }
    }
    (non_empty(&text), status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_with_modifiers() {
        assert_eq!(Position::parse("57"), Some(Position::exact(57)));
        let lt = Position::parse("<1").unwrap();
        assert_eq!((lt.value, lt.modifier), (Some(1), Modifier::LessThan));
        let gt = Position::parse(">74").unwrap();
        assert_eq!((gt.value, gt.modifier), (Some(74), Modifier::GreaterThan));
        let un = Position::parse("?58").unwrap();
        assert_eq!((un.value, un.modifier), (Some(58), Modifier::Uncertain));
        assert_eq!(Position::parse("?"), Some(Position::unknown()));
        for bad in ["", "x", "<", "1.5", "-3", "99999999999999999999999"] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn type_names_map_across_formats() {
        assert_eq!(type_from_flat_key("ACT_SITE"), "Active site");
        assert_eq!(type_from_xml("transmembrane region"), "Transmembrane");
        assert_eq!(type_from_name("Signal peptide"), "Signal");
        assert_eq!(type_from_name("Domain [FT]"), "Domain");
        assert_eq!(canonical_type("binding SITE"), Some("Binding site"));
        assert_eq!(canonical_type("DISULFID"), Some("Disulfide bond"));
        assert_eq!(type_from_flat_key("NEW_KEY"), "NEW_KEY");
        // Every row is unique in every column.
        for (i, a) in FEATURE_TYPES.iter().enumerate() {
            for b in &FEATURE_TYPES[i + 1..] {
                assert_ne!(a.flat_key, b.flat_key);
                assert_ne!(a.xml_type, b.xml_type);
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn detects_formats_from_content() {
        assert_eq!(detect_format(b"ID   X_Y  Reviewed;"), Some(Format::Flat));
        assert_eq!(detect_format(b"<?xml version"), Some(Format::Xml));
        assert_eq!(detect_format(b"  {\"results\":[]}"), Some(Format::Json));
        assert_eq!(detect_format(b"##gff-version 3\n"), Some(Format::Gff));
        assert_eq!(detect_format(b">sp|P1|X\nMK\n"), Some(Format::Fasta));
        assert_eq!(detect_format(b"Entry\tSequence\n"), Some(Format::Tsv));
        assert_eq!(detect_format(b"hello world"), None);
    }

    #[test]
    fn status_suffixes_split_off() {
        assert_eq!(
            split_status("1 (By similarity)."),
            (Some("1".into()), Some("by similarity".into()))
        );
        assert_eq!(
            split_status("By similarity."),
            (None, Some("by similarity".into()))
        );
        assert_eq!(
            split_status("ATP (Potential)."),
            (Some("ATP".into()), Some("potential".into()))
        );
        assert_eq!(
            split_status("Plain text."),
            (Some("Plain text".into()), None)
        );
    }

    #[test]
    fn empty_and_undetectable_inputs_are_errors() {
        let p = Path::new("x.txt");
        let e = parse_entries(b"  \n", None, p).unwrap_err().to_string();
        assert!(e.contains("x.txt") && e.contains("empty"), "{e}");
        let e = parse_entries(b"garbage", None, p).unwrap_err().to_string();
        assert!(e.contains("cannot tell"), "{e}");
        let e = parse_entries(b"ID   A\xff\n", Some(Format::Flat), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UTF-8") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn fasta_entries_carry_accession_and_version() {
        let text = b">sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens SV=2\nMVLS\n";
        let entries = parse_entries(text, None, Path::new("a.fasta")).unwrap();
        assert_eq!(entries[0].accession, "P69905");
        assert_eq!(entries[0].entry_name.as_deref(), Some("HBA_HUMAN"));
        assert_eq!(entries[0].sequence_version, Some(2));
        assert_eq!(entries[0].sequence.as_deref(), Some("MVLS"));
    }
}
