//! Scores of a classifier's predictions: accuracy and one-vs-all F1 as scikit-learn's
//! `accuracy_score` and `f1_score` compute them, and provis' pooled precision at L/k
//! (`protein_attention/probing/metrics.py`, `precision_at_ks`).

use crate::{Error, Result};

fn check_lengths(truth: &[u32], predicted: &[u32]) -> Result<()> {
    if truth.len() != predicted.len() {
        return Err(Error::invalid(format!(
            "{} true labels but {} predictions",
            truth.len(),
            predicted.len()
        )));
    }
    Ok(())
}

/// Share of predictions equal to the truth; NaN when there are none.
pub fn accuracy(truth: &[u32], predicted: &[u32]) -> Result<f64> {
    check_lengths(truth, predicted)?;
    if truth.is_empty() {
        return Ok(f64::NAN);
    }
    let correct = truth.iter().zip(predicted).filter(|(a, b)| a == b).count();
    Ok(correct as f64 / truth.len() as f64)
}

/// F1 of `class` against all others: 2·TP / (2·TP + FP + FN), 0 when the class is neither
/// true nor predicted anywhere (scikit-learn's `zero_division` default).
pub fn f1_one_vs_all(truth: &[u32], predicted: &[u32], class: u32) -> Result<f64> {
    check_lengths(truth, predicted)?;
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&t, &p) in truth.iter().zip(predicted) {
        match (t == class, p == class) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
    }
    let denominator = 2 * tp + fp + fn_;
    Ok(if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    })
}

/// Mean one-vs-all F1 over the classes that occur in the truth or the predictions
/// (scikit-learn's `f1_score(average="macro")`); NaN when there are no rows.
pub fn macro_f1(truth: &[u32], predicted: &[u32]) -> Result<f64> {
    check_lengths(truth, predicted)?;
    let mut classes: Vec<u32> = truth.iter().chain(predicted).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return Ok(f64::NAN);
    }
    let mut sum = 0.0;
    for &c in &classes {
        sum += f1_one_vs_all(truth, predicted, c)?;
    }
    Ok(sum / classes.len() as f64)
}

/// provis' precision at L/`divisor` (`precision_at_ks` with k = `int(round(L / divisor))`,
/// Python's round half to even): per protein, its residues ranked by the positive class's
/// score (ties: positives first, as Python's descending sort of (score, label) tuples), the
/// top k kept; the kept labels of all proteins are pooled and the share of positives returned.
/// L is the number of the protein's scored residues. NaN when no protein keeps any residue.
/// Each item is one protein's (scores, labels).
pub fn pooled_precision_at_fraction(
    proteins: &[(Vec<f64>, Vec<bool>)],
    divisor: f64,
) -> Result<f64> {
    let (mut kept, mut positives) = (0usize, 0usize);
    for (scores, labels) in proteins {
        if scores.len() != labels.len() {
            return Err(Error::invalid(format!(
                "{} scores but {} labels",
                scores.len(),
                labels.len()
            )));
        }
        let k = (scores.len() as f64 / divisor).round_ties_even() as usize;
        let mut ranked: Vec<(f64, bool)> =
            scores.iter().copied().zip(labels.iter().copied()).collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        for &(_, label) in ranked.iter().take(k) {
            kept += 1;
            positives += usize::from(label);
        }
    }
    Ok(if kept == 0 {
        f64::NAN
    } else {
        positives as f64 / kept as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_scikit_learn_by_hand() {
        let truth = [0, 1, 2, 2, 1, 0];
        let predicted = [0, 2, 2, 2, 1, 1];
        assert!((accuracy(&truth, &predicted).unwrap() - 4.0 / 6.0).abs() < 1e-15);
        // class 2: tp 2, fp 1, fn 0 → 4/5.
        assert!((f1_one_vs_all(&truth, &predicted, 2).unwrap() - 0.8).abs() < 1e-15);
        // class 0: 2/3, class 1: tp 1 fp 1 fn 1 → 1/2.
        let expected = (2.0 / 3.0 + 0.5 + 0.8) / 3.0;
        assert!((macro_f1(&truth, &predicted).unwrap() - expected).abs() < 1e-15);
        assert_eq!(f1_one_vs_all(&truth, &predicted, 7).unwrap(), 0.0);
        assert!(accuracy(&truth, &predicted[..2]).is_err());
        assert!(accuracy(&[], &[]).unwrap().is_nan());
    }

    /// provis' own check in `metrics.py` (`__main__`), with its k given here through L/divisor:
    /// 14 residues at divisor 14/6 keep 6, 7 residues keep 3.
    #[test]
    fn pooled_precision_is_provis_example() {
        let p1 = [
            0.8, 0.2, 1.0, 0.9, 0.1, 0.0, 1.0, 0.3, 0.7, 0.2, 1.0, 0.0, 0.0, 0.0,
        ];
        let l1 = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0];
        let p2 = [0.9, 0.1, 0.1, 0.8, 0.9, 0.0, 0.0];
        let l2 = [1, 0, 1, 0, 1, 0, 1];
        let proteins = vec![
            (p1.to_vec(), l1.iter().map(|&l| l == 1).collect()),
            (p2.to_vec(), l2.iter().map(|&l| l == 1).collect()),
        ];
        // 14 / (7/3) = 6, 7 / (7/3) = 3.
        let v = pooled_precision_at_fraction(&proteins, 7.0 / 3.0).unwrap();
        assert!((v - 7.0 / 9.0).abs() < 1e-15, "{v}");
        assert!(pooled_precision_at_fraction(&[], 20.0).unwrap().is_nan());
    }
}
