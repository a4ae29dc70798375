//! Contact-prediction precision as ESM scores it (`compute_precisions` and
//! `evaluate_prediction` of esm's `examples/contact_prediction.ipynb`, the evaluation behind the
//! P@L figures of the ESM papers), for one protein at a time.
//!
//! For a separation range [min, max): pairs i < j with j − i ≥ min (and < max), whose target is
//! defined (≥ 0), are ranked by predicted probability; the precision among the top k is taken at
//! k = ⌊f · L⌋ for f = 0.1, 0.2, …, 1.0 (computed in f32, as torch's `arange(0.1, 1.1, 0.1)`),
//! L being the number of defined targets in the protein's first row (esm's `override_length`).
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
    let length = targets[..n].iter().filter(|&&t| t >= 0).count();
    if length < 10 {
        return Err(Error::invalid(format!(
            "contact precision needs at least 10 residues with a defined first-row target (esm's \
             L), not {length}"
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
