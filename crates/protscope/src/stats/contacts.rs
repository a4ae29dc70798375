//! Contact-prediction precision as ESM scores it (`compute_precisions` and
//! `evaluate_prediction` of esm's `examples/contact_prediction.ipynb`, the evaluation behind the
//! P@L figures of the ESM papers), for one protein at a time.
//!
//! For a separation range [min, max): pairs i < j with j − i ≥ min (and < max), whose target is
//! defined (≥ 0), are ranked by predicted probability; the precision among the top k is taken at
//! k = ⌊f · L⌋ for f = 0.1, 0.2, …, 1.0 (computed in f32, as torch's `arange(0.1, 1.1, 0.1)`),
//! L being the number of residues with coordinates (esm's `override_length`, see
//! [`resolved_residues`]).
//! P@L5 = f 0.2, P@L2 = f 0.5, P@L = f 1.0, AUC = the mean over the ten. Two of esm's details are
//! kept: the top L may run past the defined pairs into masked ones (their targets, which may be
//! 1 or −1, then count, as in esm; rare, for short proteins or narrow ranges), and where fewer
//! than L pairs exist at all the rest count 0. Ties are ranked by pair order (esm's sort is not
//! stable).

use crate::{Error, Result};

/// ESM's separation ranges: (name, minimum separation, exclusive maximum).
pub const CONTACT_RANGES: [(&str, usize, Option<usize>); 4] = [
    ("local", 3, Some(6)),
    ("short", 6, Some(12)),
    ("medium", 12, Some(24)),
    ("long", 24, None),
];

/// Precisions of one protein in one separation range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContactPrecisions {
    pub auc: f64,
    pub p_at_l: f64,
    pub p_at_l2: f64,
    pub p_at_l5: f64,
}

/// Targets: 1 contact, 0 none, −1 undefined (an unresolved residue). Row-major n × n, both
/// `predictions` and `targets`.
pub fn contact_precisions(
    predictions: &[f32],
    targets: &[i8],
    n: usize,
    min_separation: usize,
    max_separation: Option<usize>,
) -> Result<ContactPrecisions> {
    if predictions.len() != n * n || targets.len() != n * n {
        return Err(Error::invalid(format!(
            "contact precision needs {n} × {n} predictions and targets, got {} and {}",
            predictions.len(),
            targets.len()
        )));
    }
    let length = resolved_residues(targets, n);
    if length < 10 {
        return Err(Error::invalid(format!(
            "contact precision needs at least 10 residues with coordinates (L), not {length}"
        )));
    }
    // Pairs of the upper triangle at separation ≥ min, in row-major order (numpy.triu_indices).
    let mut ranked: Vec<(f32, i8)> = Vec::new();
    for i in 0..n {
        for j in i + min_separation..n {
            let target = targets[i * n + j];
            let valid = target >= 0 && max_separation.is_none_or(|max| j - i < max);
            let score = if valid {
                predictions[i * n + j]
            } else {
                f32::NEG_INFINITY
            };
            ranked.push((score, target));
        }
    }
    // Descending; a stable sort keeps pair order among equal scores.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top = n.max(length);
    let mut cumulative = Vec::with_capacity(top);
    let mut sum = 0f64;
    for k in 0..top {
        sum += ranked.get(k).map_or(0.0, |&(_, t)| f64::from(t));
        cumulative.push(sum);
    }
    let binned: Vec<f64> = (0..10)
        .map(|k| {
            let fraction = (0.1 + 0.1 * k as f64) as f32;
            let index = (fraction * length as f32) as usize - 1;
            cumulative[index] / (index + 1) as f64
        })
        .collect();
    Ok(ContactPrecisions {
        auc: binned.iter().sum::<f64>() / 10.0,
        p_at_l: binned[9],
        p_at_l2: binned[4],
        p_at_l5: binned[1],
    })
}

/// L: residues with coordinates (a defined diagonal target). esm's `override_length` counts the
/// defined targets of the first row, the same number whenever the first residue is resolved
/// (esm's own targets come from observed residues only); where it is not, esm's L would be 0
/// and its evaluation fail, so the resolved residues are counted instead.
pub fn resolved_residues(targets: &[i8], n: usize) -> usize {
    (0..n).filter(|&i| targets[i * n + i] >= 0).count()
}

/// [`contact_precisions`] in every range of [`CONTACT_RANGES`] (esm's `evaluate_prediction`).
pub fn evaluate_contacts(
    predictions: &[f32],
    targets: &[i8],
    n: usize,
) -> Result<Vec<(&'static str, ContactPrecisions)>> {
    CONTACT_RANGES
        .iter()
        .map(|&(name, min, max)| Ok((name, contact_precisions(predictions, targets, n, min, max)?)))
        .collect()
}

/// One protein's precisions in one range, with what identifies them.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactEvaluation {
    pub protein: String,
    pub range: &'static str,
    /// esm's L: residues with a defined first-row target.
    pub length: usize,
    pub precisions: ContactPrecisions,
}

/// `protein, range, min_separation, max_separation, length, auc, p_at_l, p_at_l2, p_at_l5`
/// (max_separation exclusive, null for the long range).
pub fn evaluation_frame(rows: &[ContactEvaluation]) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let range_of = |name: &str| CONTACT_RANGES.iter().find(|r| r.0 == name).copied();
    let separations: Vec<(u32, Option<u32>)> = rows
        .iter()
        .map(|r| {
            let (_, min, max) = range_of(r.range).unwrap_or(("", 0, None));
            (min as u32, max.map(|m| m as u32))
        })
        .collect();
    let metric = |f: fn(&ContactPrecisions) -> f64| -> Vec<f64> {
        rows.iter().map(|r| f(&r.precisions)).collect()
    };
    let columns = vec![
        Column::new(
            "protein".into(),
            rows.iter().map(|r| r.protein.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "range".into(),
            rows.iter().map(|r| r.range).collect::<Vec<_>>(),
        ),
        Column::new(
            "min_separation".into(),
            separations.iter().map(|s| s.0).collect::<Vec<_>>(),
        ),
        Column::new(
            "max_separation".into(),
            separations.iter().map(|s| s.1).collect::<Vec<_>>(),
        ),
        Column::new(
            "length".into(),
            rows.iter().map(|r| r.length as u32).collect::<Vec<_>>(),
        ),
        Column::new("auc".into(), metric(|p| p.auc)),
        Column::new("p_at_l".into(), metric(|p| p.p_at_l)),
        Column::new("p_at_l2".into(), metric(|p| p.p_at_l2)),
        Column::new("p_at_l5".into(), metric(|p| p.p_at_l5)),
    ];
    Ok(DataFrame::new(rows.len(), columns)?)
}

/// Per range, the mean over proteins: `range, proteins, auc, p_at_l, p_at_l2, p_at_l5`.
pub fn mean_frame(rows: &[ContactEvaluation]) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let mut names = Vec::new();
    let mut counts = Vec::new();
    let mut means: [Vec<f64>; 4] = Default::default();
    for (name, _, _) in CONTACT_RANGES {
        let of_range: Vec<&ContactPrecisions> = rows
            .iter()
            .filter(|r| r.range == name)
            .map(|r| &r.precisions)
            .collect();
        if of_range.is_empty() {
            continue;
        }
        let mean = |f: fn(&ContactPrecisions) -> f64| {
            of_range.iter().map(|p| f(p)).sum::<f64>() / of_range.len() as f64
        };
        names.push(name);
        counts.push(of_range.len() as u32);
        means[0].push(mean(|p| p.auc));
        means[1].push(mean(|p| p.p_at_l));
        means[2].push(mean(|p| p.p_at_l2));
        means[3].push(mean(|p| p.p_at_l5));
    }
    let [auc, p_at_l, p_at_l2, p_at_l5] = means;
    let height = names.len();
    let columns = vec![
        Column::new("range".into(), names),
        Column::new("proteins".into(), counts),
        Column::new("auc".into(), auc),
        Column::new("p_at_l".into(), p_at_l),
        Column::new("p_at_l2".into(), p_at_l2),
        Column::new("p_at_l5".into(), p_at_l5),
    ];
    Ok(DataFrame::new(height, columns)?)
}
