//! Pearson, Spearman and point-biserial correlation with scipy's two-sided p-value.

use super::special::pearson_two_sided_p_value;
use super::TestResult;
use crate::{Error, Result};

/// Pearson correlation coefficient and two-sided p-value, as scipy's `stats.pearsonr(x, y)`.
///
/// r is computed as scipy does (centred vectors scaled by their largest deviation before the
/// norm, clipped to [−1, 1]); the p-value is the exact null distribution of r for normal data,
/// Beta(n/2 − 1, n/2 − 1) on [−1, 1] (identical to the t test on `r·sqrt((n−2)/(1−r²))`).
///
/// NaN rules: a NaN or infinite value in either input, or a constant input, gives r = NaN and
/// p = NaN (scipy: NaN propagation / `ConstantInputWarning`). With n = 2, r is exactly ±1 and
/// p = 1, as scipy. With n < 2, r = p = NaN: that is scipy's `pointbiserialr` (scipy's
/// `pearsonr` raises instead). Different lengths are an error.
pub fn pearson_r(x: &[f64], y: &[f64]) -> Result<TestResult> {
    if x.len() != y.len() {
        return Err(Error::invalid(format!(
            "correlation needs inputs of equal length, got {} and {}",
            x.len(),
            y.len()
        )));
    }
    let n = x.len();
    if n < 2 || x.iter().chain(y).any(|v| !v.is_finite()) || is_constant(x) || is_constant(y) {
        return Ok(TestResult::NAN);
    }
    let x_unit = unit_centred(x);
    let y_unit = unit_centred(y);
    let mut r: f64 = x_unit.iter().zip(&y_unit).map(|(a, b)| a * b).sum();
    r = r.clamp(-1.0, 1.0);
    if n == 2 {
        // Two points always lie on a line; scipy returns exactly ±1 with p = 1.
        return Ok(TestResult {
            statistic: r.round(),
            p_value: 1.0,
        });
    }
    Ok(TestResult {
        statistic: r,
        p_value: pearson_two_sided_p_value(r, n),
    })
}

/// Spearman's rank correlation, as scipy's `stats.spearmanr(x, y)`: Pearson's r of the ranks,
/// ties given their average rank; the p-value and NaN rules of [`pearson_r`] on the ranks.
pub fn spearman_r(x: &[f64], y: &[f64]) -> Result<TestResult> {
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Ok(TestResult::NAN);
    }
    pearson_r(&average_ranks(x), &average_ranks(y))
}

/// 1-based ranks with ties sharing their average rank (scipy's `rankdata`, method "average").
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Point-biserial correlation between a binary indicator and a continuous variable, as scipy's
/// `stats.pointbiserialr(indicator, values)`: Pearson's r with the indicator coded 1 / 0, and
/// the same p-value and NaN rules as [`pearson_r`] (an all-true or all-false indicator is a
/// constant input, so r = p = NaN; n < 2 gives NaN like scipy).
pub fn point_biserial_r(indicator: &[bool], values: &[f64]) -> Result<TestResult> {
    let coded: Vec<f64> = indicator
        .iter()
        .map(|&flag| if flag { 1.0 } else { 0.0 })
        .collect();
    pearson_r(&coded, values)
}

fn is_constant(x: &[f64]) -> bool {
    x.iter().all(|&v| v == x[0])
}

/// `x − mean(x)` divided by its Euclidean norm. Scaling by the largest absolute deviation
/// first (as scipy) avoids overflow and underflow in the sum of squares.
fn unit_centred(x: &[f64]) -> Vec<f64> {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let largest = centred.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scaled_norm = centred
        .iter()
        .map(|v| (v / largest) * (v / largest))
        .sum::<f64>()
        .sqrt();
    let norm = largest * scaled_norm;
    centred.iter().map(|v| v / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_edge_cases() {
        let r = pearson_r(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0]).unwrap();
        assert!((r.statistic - 1.0).abs() < 1e-15);
        assert!(r.p_value.abs() < 1e-15);
        let r = pearson_r(&[1.0, 2.0], &[3.0, 1.0]).unwrap();
        assert_eq!((r.statistic, r.p_value), (-1.0, 1.0));
        assert!(pearson_r(&[1.0], &[1.0]).unwrap().statistic.is_nan());
        assert!(pearson_r(&[], &[]).unwrap().p_value.is_nan());
        assert!(pearson_r(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0])
            .unwrap()
            .statistic
            .is_nan());
        assert!(pearson_r(&[1.0, f64::NAN, 2.0], &[1.0, 2.0, 3.0])
            .unwrap()
            .p_value
            .is_nan());
        assert!(pearson_r(&[1.0, 2.0], &[1.0]).is_err());
    }

    #[test]
    fn point_biserial_is_pearson_on_indicator() {
        let flags = [true, false, false, true, false];
        let values = [2.0, 0.5, 0.1, 1.5, 0.7];
        let a = point_biserial_r(&flags, &values).unwrap();
        let b = pearson_r(&[1.0, 0.0, 0.0, 1.0, 0.0], &values).unwrap();
        assert_eq!(a, b);
        assert!(point_biserial_r(&[true; 3], &[1.0, 2.0, 3.0])
            .unwrap()
            .statistic
            .is_nan());
    }
}

#[cfg(test)]
mod spearman_tests {
    use super::*;

    /// scipy.stats.spearmanr on the same inputs (scipy 1.x, computed once).
    #[test]
    fn spearman_matches_scipy() {
        let r = spearman_r(
            &[0.3, 1.2, -0.5, 1.2, 4.0, 0.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        )
        .unwrap()
        .statistic;
        assert!((r - 0.08696565534786727).abs() < 1e-12, "{r}");
        let r = spearman_r(&[5.0, 1.0, 4.0, 2.0, 3.0], &[2.0, 9.0, 1.0, 8.0, 7.0])
            .unwrap()
            .statistic;
        assert!((r + 0.9).abs() < 1e-12, "{r}");
        assert_eq!(average_ranks(&[2.0, 1.0, 2.0]), vec![2.5, 1.0, 2.5]);
    }
}
