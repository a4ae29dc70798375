//! Shapiro–Wilk test for normality, Royston's algorithm AS R94 (Applied Statistics 44:547, 1995).

use super::special::{normal_quantile_as111, normal_upper_tail_as66};
use super::TestResult;

/// Below this data range the sample counts as constant (AS R94's "zero range" fault).
const ZERO_RANGE: f64 = 1e-19;
/// AS R94's p-value for n ≤ 11 when log(1 − W) is beyond the approximation's support.
const SMALL_SAMPLE_FLOOR_P: f64 = 1e-19;

/// Shapiro–Wilk W and p-value, as scipy's `stats.shapiro(x)` (Royston's AS R94, uncensored).
///
/// - Coefficients: exact a₁ = √½ for n = 3; otherwise from normal scores
///   mᵢ = Φ⁻¹((i − 3/8)/(n + 1/4)) (AS 111 quantiles) with Royston's polynomial corrections
///   for the one (n ≤ 5) or two (n > 5) most extreme coefficients.
/// - W is the squared correlation between the coefficients and the ordered sample (computed as
///   1 − (1 − ρ²) for precision), after subtracting x[n/2] (of the unsorted input) as scipy does.
/// - p: exact for n = 3 (`1 − (6/π)·acos(√W)`, with W < 3/4 clamped to W = 3/4, p = 0);
///   for 4 ≤ n ≤ 11 a normal approximation of −log(γ − log(1 − W)), γ = −2.273 + 0.459n (and
///   p = 1e-19 when log(1 − W) ≥ γ); for n ≥ 12 a normal approximation of log(1 − W); upper
///   normal tails by AS 66. As in scipy, p is less reliable for n > 5000.
///
/// NaN rules: n < 3, or any NaN / infinite value, gives W = p = NaN (scipy returns NaN for
/// n < 3 too). A constant sample (range < 1e-19) gives W = 1, p = 1, as scipy (which warns).
pub fn shapiro_wilk(x: &[f64]) -> TestResult {
    let n = x.len();
    if n < 3 || x.iter().any(|v| !v.is_finite()) {
        return TestResult::NAN;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    // scipy shifts by a middle element of the *unsorted* input to reduce cancellation.
    let shift = x[n / 2];
    for v in &mut sorted {
        *v -= shift;
    }
    let range = sorted[n - 1] - sorted[0];
    if range < ZERO_RANGE {
        return TestResult {
            statistic: 1.0,
            p_value: 1.0,
        };
    }
    let half = half_coefficients(n);
    // Full antisymmetric coefficient vector: −a_i for the i-th smallest, +a_i for the i-th
    // largest, 0 for the middle value of an odd sample.
    let full: Vec<f64> = (0..n)
        .map(|i| {
            let mirror = n - 1 - i;
            match i.cmp(&mirror) {
                std::cmp::Ordering::Less => -half[i],
                std::cmp::Ordering::Greater => half[mirror],
                std::cmp::Ordering::Equal => 0.0,
            }
        })
        .collect();
    let scaled: Vec<f64> = sorted.iter().map(|v| v / range).collect();
    let n_f = n as f64;
    let coefficient_mean = full.iter().sum::<f64>() / n_f;
    let data_mean = scaled.iter().sum::<f64>() / n_f;
    let (mut ssa, mut ssx, mut sax) = (0.0, 0.0, 0.0);
    for (a, v) in full.iter().zip(&scaled) {
        let da = a - coefficient_mean;
        let dx = v - data_mean;
        ssa += da * da;
        ssx += dx * dx;
        sax += da * dx;
    }
    let root = (ssa * ssx).sqrt();
    let one_minus_w = (root - sax) * (root + sax) / (ssa * ssx);
    let w = 1.0 - one_minus_w;

    if n == 3 {
        // Exact distribution; W ≥ 3/4 in theory, rounding can dip below.
        if w < 0.75 {
            return TestResult {
                statistic: 0.75,
                p_value: 0.0,
            };
        }
        let p = 1.0 - 6.0 / std::f64::consts::PI * w.sqrt().acos();
        return TestResult {
            statistic: w,
            p_value: p,
        };
    }

    let log_one_minus_w = one_minus_w.ln();
    let (transformed, mu, sigma) = if n <= 11 {
        let gamma = polynomial(&[-2.273, 0.459], n_f);
        if log_one_minus_w >= gamma {
            return TestResult {
                statistic: w,
                p_value: SMALL_SAMPLE_FLOOR_P,
            };
        }
        (
            -(gamma - log_one_minus_w).ln(),
            polynomial(&[0.5440, -0.39978, 0.025054, -6.714e-4], n_f),
            polynomial(&[1.3822, -0.77857, 0.062767, -0.0020322], n_f).exp(),
        )
    } else {
        let log_n = n_f.ln();
        (
            log_one_minus_w,
            polynomial(&[-1.5861, -0.31082, -0.083751, 0.0038915], log_n),
            polynomial(&[-0.4803, -0.082676, 0.0030302], log_n).exp(),
        )
    };
    TestResult {
        statistic: w,
        p_value: normal_upper_tail_as66((transformed - mu) / sigma),
    }
}

/// The n/2 positive Shapiro–Wilk coefficients a₁ ≥ a₂ ≥ … for the largest-minus-smallest
/// differences, by Royston's approximation.
fn half_coefficients(n: usize) -> Vec<f64> {
    let half = n / 2;
    if n == 3 {
        return vec![std::f64::consts::FRAC_1_SQRT_2];
    }
    let n_f = n as f64;
    // Expected normal order statistics of the lower half (negative values).
    let scores: Vec<f64> = (1..=half)
        .map(|i| normal_quantile_as111((i as f64 - 0.375) / (n_f + 0.25)))
        .collect();
    let sum_squares = 2.0 * scores.iter().map(|m| m * m).sum::<f64>();
    let norm = sum_squares.sqrt();
    let u = 1.0 / n_f.sqrt();
    let a1 = polynomial(
        &[0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056],
        u,
    ) - scores[0] / norm;
    let mut coefficients = vec![0.0; half];
    let (first_plain, scale) = if n > 5 {
        let a2 = -scores[1] / norm
            + polynomial(
                &[0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633],
                u,
            );
        coefficients[1] = a2;
        let scale = ((sum_squares - 2.0 * scores[0] * scores[0] - 2.0 * scores[1] * scores[1])
            / (1.0 - 2.0 * a1 * a1 - 2.0 * a2 * a2))
            .sqrt();
        (2, scale)
    } else {
        let scale = ((sum_squares - 2.0 * scores[0] * scores[0]) / (1.0 - 2.0 * a1 * a1)).sqrt();
        (1, scale)
    };
    coefficients[0] = a1;
    for (coefficient, score) in coefficients.iter_mut().zip(&scores).skip(first_plain) {
        *coefficient = -score / scale;
    }
    coefficients
}

/// c₀ + c₁x + c₂x² + … by Horner's rule.
fn polynomial(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_degenerate_samples() {
        assert!(shapiro_wilk(&[1.0, 2.0]).statistic.is_nan());
        assert!(shapiro_wilk(&[1.0, f64::NAN, 2.0, 3.0]).p_value.is_nan());
        assert_eq!(
            shapiro_wilk(&[2.0; 5]),
            TestResult {
                statistic: 1.0,
                p_value: 1.0
            }
        );
        // Equally spaced n = 3 is perfectly "normal": W = 1, p = 1.
        let r = shapiro_wilk(&[1.0, 2.0, 3.0]);
        assert!((r.statistic - 1.0).abs() < 1e-12 && (r.p_value - 1.0).abs() < 1e-9);
    }

    #[test]
    fn coefficients_are_unit_length() {
        for n in [4, 5, 6, 11, 12, 50, 1000] {
            let a = half_coefficients(n);
            let norm: f64 = 2.0 * a.iter().map(|v| v * v).sum::<f64>();
            assert!((norm - 1.0).abs() < 1e-12, "n={n}: {norm}");
            assert!(a.windows(2).all(|w| w[0] >= w[1]), "n={n}: not decreasing");
        }
    }

    #[test]
    fn outlier_is_not_normal() {
        let mut x: Vec<f64> = (0..20).map(|i| (i as f64 * 0.7).sin()).collect();
        x.push(50.0);
        let r = shapiro_wilk(&x);
        assert!(r.p_value < 1e-6, "{r:?}");
    }
}
