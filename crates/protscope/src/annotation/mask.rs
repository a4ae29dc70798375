//! Per-residue boolean masks from features.
//!
//! Rules, so that nothing is silently dropped or misplaced:
//! - a feature with an unknown (`?`) end, a position 0, an end before its start or a position
//!   beyond the sequence is skipped and reported in [`ResidueMask::skipped`];
//! - `<N`, `>N` and `?N` positions use N (the part of the feature inside the sequence);
//! - a disulfide bond marks its two cysteines (start and end), not the span between them;
//! - the sequence given to the model is compared with the annotated one: a prefix (truncated
//!   input) is accepted and reported, any other difference (isoform, other version) is an error;
//! - `max_len` truncation cuts every mask at the same length; features starting beyond it are
//!   reported, features running past it are clipped and counted.

use super::{canonical_type, Entry, Feature, Modifier, Position, FEATURE_TYPES};
use crate::{Error, Result};
use regex::Regex;

/// Which features count: by type, optionally by description and by evidence.
#[derive(Debug, Clone, Default)]
pub struct FeatureSelection {
    /// Display names ("Binding site"); empty selects every type.
    pub types: Vec<String>,
    /// Keep only features whose description matches.
    pub description: Option<Regex>,
    /// Keep only features with at least one of these ECO codes (e.g. "ECO:0000269"); empty
    /// keeps all.
    pub evidence: Vec<String>,
}

impl FeatureSelection {
    /// Every feature of every type.
    pub fn all() -> Self {
        FeatureSelection::default()
    }

    /// Types from a comma-separated list of display names, flat keys or XML types
    /// ("Binding site,ACT_SITE"). Unknown names are an error listing the valid ones.
    pub fn with_types(list: &str) -> Result<Self> {
        let mut types = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let canonical = canonical_type(name).ok_or_else(|| {
                let known: Vec<&str> = FEATURE_TYPES.iter().map(|k| k.name).collect();
                Error::invalid(format!(
                    "unknown feature type `{name}`; known types: {}",
                    known.join(", ")
                ))
            })?;
            if !types.iter().any(|t| t == canonical) {
                types.push(canonical.to_string());
            }
        }
        Ok(FeatureSelection {
            types,
            ..FeatureSelection::default()
        })
    }

    /// Adds a description filter (regular expression).
    pub fn description_matching(mut self, pattern: &str) -> Result<Self> {
        let re = Regex::new(pattern)
            .map_err(|e| Error::invalid(format!("description pattern `{pattern}`: {e}")))?;
        self.description = Some(re);
        Ok(self)
    }

    /// Adds an evidence filter (ECO codes).
    pub fn with_evidence(mut self, codes: &[&str]) -> Self {
        self.evidence = codes.iter().map(|c| c.trim().to_string()).collect();
        self
    }

    pub fn matches(&self, feature: &Feature) -> bool {
        if !self.types.is_empty() && !self.types.contains(&feature.feature_type) {
            return false;
        }
        if let Some(re) = &self.description {
            if !feature
                .description
                .as_deref()
                .is_some_and(|d| re.is_match(d))
            {
                return false;
            }
        }
        if !self.evidence.is_empty()
            && !feature
                .eco_codes()
                .any(|code| self.evidence.iter().any(|e| e == code))
        {
            return false;
        }
        true
    }
}

/// Options for building masks.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskOptions {
    /// Cut masks (and the sequence) to this many residues, as `--max-len` cuts model input.
    pub max_len: Option<usize>,
}

/// How the model's sequence relates to the annotated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Same sequence (or no model sequence was given).
    Identical,
    /// The annotation has no sequence; positions are checked against the model sequence only.
    NoAnnotatedSequence,
    /// The model sequence is a prefix of the annotated one.
    ModelTruncated {
        model_len: usize,
        annotated_len: usize,
    },
}

/// Why a feature is not in a mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Start or end is `?`.
    UnknownPosition,
    /// A position is 0 or beyond the sequence the mask covers (`length` residues before any
    /// `max_len` cut).
    OutOfRange { length: usize },
    /// End before start.
    Inverted,
    /// Starts beyond `max_len`.
    BeyondMaxLen { max_len: usize },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::UnknownPosition => write!(f, "unknown position"),
            SkipReason::OutOfRange { length } => {
                write!(f, "position outside the {length}-residue sequence")
            }
            SkipReason::Inverted => write!(f, "end before start"),
            SkipReason::BeyondMaxLen { max_len } => write!(f, "starts beyond max-len {max_len}"),
        }
    }
}

/// A selected feature that is not in the mask, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFeature {
    pub feature_type: String,
    pub start: Position,
    pub end: Position,
    pub feature_id: Option<String>,
    pub reason: SkipReason,
}

impl std::fmt::Display for SkippedFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}..{}",
            self.feature_type,
            show_position(&self.start),
            show_position(&self.end)
        )?;
        if let Some(id) = &self.feature_id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

fn show_position(p: &Position) -> String {
    let prefix = match p.modifier {
        Modifier::Exact => "",
        Modifier::LessThan => "<",
        Modifier::GreaterThan => ">",
        Modifier::Uncertain | Modifier::Unknown => "?",
    };
    match p.value {
        Some(v) => format!("{prefix}{v}"),
        None => "?".to_string(),
    }
}

/// Boolean masks over the residues of one protein, one per feature type.
#[derive(Debug, Clone)]
pub struct ResidueMask {
    /// The key used in tables (accession or FASTA id).
    pub protein: String,
    /// The residues the masks cover (after any `max_len` cut).
    pub sequence: String,
    /// (type display name, mask), in the selection's order, or [`FEATURE_TYPES`] order when
    /// all types are selected.
    pub columns: Vec<(String, Vec<bool>)>,
    pub sequence_check: SequenceCheck,
    pub skipped: Vec<SkippedFeature>,
    /// Features that run past `max_len` and were cut there.
    pub clipped: usize,
}

impl ResidueMask {
    pub fn column(&self, feature_type: &str) -> Option<&[bool]> {
        self.columns
            .iter()
            .find(|(t, _)| t == feature_type)
            .map(|(_, m)| m.as_slice())
    }

    /// Residues covered by any selected feature.
    pub fn any(&self) -> Vec<bool> {
        let mut out = vec![false; self.sequence.len()];
        for (_, mask) in &self.columns {
            for (o, &m) in out.iter_mut().zip(mask) {
                *o |= m;
            }
        }
        out
    }

    /// One line for logs: sequence check, skipped count with up to three examples, clipped count.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let SequenceCheck::ModelTruncated {
            model_len,
            annotated_len,
        } = self.sequence_check
        {
            parts.push(format!(
                "model sequence is the first {model_len} of {annotated_len} annotated residues"
            ));
        }
        if !self.skipped.is_empty() {
            let examples: Vec<String> = self
                .skipped
                .iter()
                .take(3)
                .map(ToString::to_string)
                .collect();
            parts.push(format!(
                "{} feature(s) skipped, e.g. {}",
                self.skipped.len(),
                examples.join("; ")
            ));
        }
        if self.clipped > 0 {
            parts.push(format!("{} feature(s) cut at max-len", self.clipped));
        }
        (!parts.is_empty()).then(|| format!("{}: {}", self.protein, parts.join("; ")))
    }
}

/// Builds masks for `entry`'s selected features.
///
/// `model_sequence` is the sequence given to the model (FASTA); without it the annotated
/// sequence is used. `protein` in the result is the entry's accession.
pub fn residue_mask(
    entry: &Entry,
    selection: &FeatureSelection,
    model_sequence: Option<&str>,
    options: &MaskOptions,
) -> Result<ResidueMask> {
    let annotated = entry.sequence.as_deref();
    let (sequence, sequence_check) = match (model_sequence, annotated) {
        (None, None) => {
            return Err(Error::sequence(
                &entry.accession,
                "the annotation file has no sequence for this entry (GFF3/TSV without \
                 sequence); give the model's sequences as FASTA",
            ))
        }
        (None, Some(a)) => (a.to_string(), SequenceCheck::Identical),
        (Some(m), None) => (m.to_string(), SequenceCheck::NoAnnotatedSequence),
        (Some(m), Some(a)) => (
            m.to_string(),
            compare_sequences(&entry.accession, m, a, entry)?,
        ),
    };
    let length = sequence.chars().count();
    let covered = options.max_len.map_or(length, |m| m.min(length));
    let types: Vec<String> = if selection.types.is_empty() {
        let mut present: Vec<String> = Vec::new();
        for f in entry.features.iter().filter(|f| selection.matches(f)) {
            if !present.contains(&f.feature_type) {
                present.push(f.feature_type.clone());
            }
        }
        present.sort_by_key(|t| type_order(t));
        present
    } else {
        selection.types.clone()
    };
    let mut columns: Vec<(String, Vec<bool>)> = types
        .iter()
        .map(|t| (t.clone(), vec![false; covered]))
        .collect();
    let mut skipped = Vec::new();
    let mut clipped = 0;
    for feature in entry.features.iter().filter(|f| selection.matches(f)) {
        let Some(column) = columns.iter_mut().find(|(t, _)| *t == feature.feature_type) else {
            continue;
        };
        let skip = |reason| SkippedFeature {
            feature_type: feature.feature_type.clone(),
            start: feature.start,
            end: feature.end,
            feature_id: feature.feature_id.clone(),
            reason,
        };
        let (Some(start), Some(end)) = (feature.start.value, feature.end.value) else {
            skipped.push(skip(SkipReason::UnknownPosition));
            continue;
        };
        if start == 0 || end == 0 || start > length || end > length {
            skipped.push(skip(SkipReason::OutOfRange { length }));
            continue;
        }
        if end < start {
            skipped.push(skip(SkipReason::Inverted));
            continue;
        }
        if start > covered {
            skipped.push(skip(SkipReason::BeyondMaxLen { max_len: covered }));
            continue;
        }
        let mask = &mut column.1;
        if feature.feature_type == "Disulfide bond" {
            // The bond joins two cysteines; residues between them are not part of it.
            mask[start - 1] = true;
            if end <= covered {
                mask[end - 1] = true;
            } else {
                clipped += 1;
            }
        } else {
            let last = end.min(covered);
            if end > covered {
                clipped += 1;
            }
            for m in &mut mask[start - 1..last] {
                *m = true;
            }
        }
    }
    Ok(ResidueMask {
        protein: entry.accession.clone(),
        sequence: sequence.chars().take(covered).collect(),
        columns,
        sequence_check,
        skipped,
        clipped,
    })
}

/// Position of a type in [`FEATURE_TYPES`]; unknown types sort after, by name.
fn type_order(name: &str) -> (usize, String) {
    let index = FEATURE_TYPES
        .iter()
        .position(|k| k.name == name)
        .unwrap_or(FEATURE_TYPES.len());
    (index, name.to_string())
}

fn compare_sequences(
    accession: &str,
    model: &str,
    annotated: &str,
    entry: &Entry,
) -> Result<SequenceCheck> {
    let m = model.to_ascii_uppercase();
    let a = annotated.to_ascii_uppercase();
    if m == a {
        return Ok(SequenceCheck::Identical);
    }
    if a.starts_with(&m) {
        return Ok(SequenceCheck::ModelTruncated {
            model_len: m.len(),
            annotated_len: a.len(),
        });
    }
    let first = m
        .bytes()
        .zip(a.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(m.len().min(a.len()))
        + 1;
    let version = entry
        .sequence_version
        .map(|v| format!(" (annotated sequence version {v})"))
        .unwrap_or_default();
    Err(Error::sequence(
        accession,
        format!(
            "the model's sequence ({} aa) differs from the annotated sequence ({} aa){version} \
             from residue {first}; feature positions would be misplaced. Is it another isoform \
             or sequence version? Give the model the annotated sequence, or annotations for \
             the sequence used",
            m.len(),
            a.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut features = vec![
            Feature::new("Binding site", Position::exact(2), Position::exact(4)),
            Feature::new("Disulfide bond", Position::exact(1), Position::exact(8)),
            Feature::new("Active site", Position::unknown(), Position::exact(3)),
            Feature::new("Active site", Position::exact(9), Position::exact(12)),
            Feature::new(
                "Binding site",
                Position {
                    value: Some(6),
                    modifier: Modifier::GreaterThan,
                },
                Position::exact(9),
            ),
        ];
        features[0].description = Some("ATP".into());
        features[0].evidence = vec!["ECO:0000269|PubMed:1".into()];
        Entry {
            accession: "P1".into(),
            sequence: Some("CAAAAAACKL".into()),
            features,
            ..Entry::default()
        }
    }

    #[test]
    fn masks_spans_cysteines_and_reports_skips() {
        let m = residue_mask(
            &entry(),
            &FeatureSelection::all(),
            None,
            &MaskOptions::default(),
        )
        .unwrap();
        let names: Vec<&str> = m.columns.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["Active site", "Binding site", "Disulfide bond"]);
        let b = m.column("Binding site").unwrap();
        assert_eq!(
            b,
            [false, true, true, true, false, true, true, true, true, false]
        );
        let d = m.column("Disulfide bond").unwrap();
        assert_eq!(d.iter().filter(|&&x| x).count(), 2);
        assert!(d[0] && d[7]);
        assert_eq!(m.skipped.len(), 2);
        assert_eq!(m.skipped[0].reason, SkipReason::UnknownPosition);
        assert_eq!(m.skipped[1].reason, SkipReason::OutOfRange { length: 10 });
        assert!(m.summary().unwrap().contains("2 feature(s) skipped"));
    }

    #[test]
    fn max_len_and_truncated_model_sequences_stay_aligned() {
        let opts = MaskOptions { max_len: Some(7) };
        let sel = FeatureSelection::with_types("Disulfide bond,BINDING").unwrap();
        let m = residue_mask(&entry(), &sel, None, &opts).unwrap();
        assert_eq!(m.sequence, "CAAAAAA");
        assert_eq!(m.column("Binding site").unwrap().len(), 7);
        assert_eq!(m.clipped, 2); // the >6..9 binding site and the 1-8 disulfide bond
                                  // A model sequence that is a prefix of the annotated one.
        let m = residue_mask(&entry(), &sel, Some("CAAAA"), &MaskOptions::default()).unwrap();
        assert_eq!(
            m.sequence_check,
            SequenceCheck::ModelTruncated {
                model_len: 5,
                annotated_len: 10
            }
        );
        assert!(m
            .skipped
            .iter()
            .any(|s| s.reason == SkipReason::OutOfRange { length: 5 }));
        // A different sequence (isoform) is an error naming the accession.
        let e = residue_mask(&entry(), &sel, Some("CAWAA"), &MaskOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("P1") && e.contains("residue 3"), "{e}");
    }

    #[test]
    fn selection_filters_by_description_and_evidence() {
        let sel = FeatureSelection::with_types("Binding site")
            .unwrap()
            .description_matching("^AT")
            .unwrap();
        let m = residue_mask(&entry(), &sel, None, &MaskOptions::default()).unwrap();
        assert_eq!(
            m.column("Binding site")
                .unwrap()
                .iter()
                .filter(|&&x| x)
                .count(),
            3
        );
        let sel = FeatureSelection::all().with_evidence(&["ECO:0000255"]);
        let m = residue_mask(&entry(), &sel, None, &MaskOptions::default()).unwrap();
        assert!(m.columns.is_empty());
        assert!(FeatureSelection::with_types("Bindin site").is_err());
        let no_seq = Entry {
            sequence: None,
            ..entry()
        };
        assert!(residue_mask(&no_seq, &sel, None, &MaskOptions::default()).is_err());
    }
}
