//! CDRs as residue sets: the per-residue indicators of CDR1, CDR2, CDR3 and all CDRs of
//! IMGT-numbered antibodies (the properties the demo tests heads and relevance against), and the
//! one-row-per-antibody table of chain types and CDR sequences.

use std::collections::HashMap;

use polars::prelude::*;

use super::{AntibodyNumbering, RegionKind};
use crate::annotation::Entry;
use crate::model::EncodedSequence;
use crate::Result;

/// CDR properties of the demo, in report order: each CDR and all CDRs together.
pub const CDR_PROPERTIES: [&str; 4] = ["CDR1", "CDR2", "CDR3", "CDRs"];

/// A sequence with its residue indicators of the [`CDR_PROPERTIES`] (see [`cdr_indicators`]).
pub type CdrSites = (EncodedSequence, Vec<Vec<bool>>);

/// The numbered antibodies among `seqs` (in their order) with their CDR indicators; sequences
/// without an entry (IMGT numbering failed) are left out.
pub fn cdr_sites(seqs: &[EncodedSequence], entries: &[Entry]) -> Vec<CdrSites> {
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.accession.as_str(), e)).collect();
    seqs.iter()
        .filter_map(|s| {
            by_id
                .get(s.id.as_str())
                .map(|e| (s.clone(), cdr_indicators(e, s.residues.len() + s.truncated)))
        })
        .collect()
}

/// Residue indicators of the CDR properties of one numbered antibody (length = sequence).
pub fn cdr_indicators(entry: &Entry, len: usize) -> Vec<Vec<bool>> {
    let mut columns = vec![vec![false; len]; CDR_PROPERTIES.len()];
    for f in &entry.features {
        let Some(d) = f.description.as_deref() else {
            continue;
        };
        let Some(k) = cdr_number(d) else { continue };
        let (Some(start), Some(end)) = (f.start.value, f.end.value) else {
            continue;
        };
        for pos in start.max(1)..=end.min(len) {
            columns[k - 1][pos - 1] = true;
            columns[3][pos - 1] = true;
        }
    }
    columns
}

/// 1, 2 or 3 for `CDR-H1` … `CDR-L3`.
pub(crate) fn cdr_number(description: &str) -> Option<usize> {
    let rest = description.strip_prefix("CDR-")?;
    let digit = rest.chars().nth(1)?.to_digit(10)? as usize;
    (1..=3).contains(&digit).then_some(digit)
}

/// Whether a numbered antibody has a CDR3 feature.
pub fn has_cdr3(entry: &Entry) -> bool {
    entry.features.iter().any(|f| {
        f.description
            .as_deref()
            .and_then(cdr_number)
            .is_some_and(|k| k == 3)
    })
}

/// One row per numbered antibody: chain type and the CDR sequences (empty where absent).
pub fn antibodies_frame(numbered: &[AntibodyNumbering]) -> Result<DataFrame> {
    let cdr = |kind: RegionKind| -> Vec<String> {
        numbered
            .iter()
            .map(|n| n.region_sequence(kind).unwrap_or_default().to_string())
            .collect()
    };
    Ok(df!(
        "protein" => numbered.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        "chain" => numbered.iter().map(|n| n.chain.to_string()).collect::<Vec<_>>(),
        "domain" => numbered.iter().map(|n| format!("{}–{}", n.domain_start, n.domain_end)).collect::<Vec<_>>(),
        "cdr1" => cdr(RegionKind::Cdr1),
        "cdr2" => cdr(RegionKind::Cdr2),
        "cdr3" => cdr(RegionKind::Cdr3),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::{Feature, Position};

    #[test]
    fn cdr_indicators_mark_each_cdr_and_their_union() {
        let mut entry = Entry {
            accession: "ab".into(),
            ..Default::default()
        };
        for (d, s, e) in [("FR1", 1, 2), ("CDR-H1", 3, 4), ("CDR-L3", 6, 7)] {
            let mut f = Feature::new("Region", Position::exact(s), Position::exact(e));
            f.description = Some(d.into());
            entry.features.push(f);
        }
        let c = cdr_indicators(&entry, 8);
        assert_eq!(c[0], [false, false, true, true, false, false, false, false]);
        assert!(c[1].iter().all(|&v| !v));
        assert_eq!(c[2], [false, false, false, false, false, true, true, false]);
        assert_eq!(c[3], [false, false, true, true, false, true, true, false]);
    }
}
