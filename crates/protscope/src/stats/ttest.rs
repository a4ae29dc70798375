//! One-sample t-test.

use super::special::student_t_p_value;
use super::{Alternative, TestResult};

/// One-sample t-test of `mean(x) = popmean`, as scipy's
/// `stats.ttest_1samp(x, popmean, alternative=...)`: t = (mean − popmean) / (s / √n) with the
/// n − 1 sample standard deviation, p from Student's t with n − 1 degrees of freedom.
///
/// NaN rules: n < 2 or any NaN / infinite value gives t = p = NaN. A constant sample equal to
/// `popmean` gives NaN (0 / 0); a constant sample different from `popmean` gives t = ±∞ with
/// p = 0 (or 1 for the opposite one-sided alternative), as scipy.
pub fn ttest_1samp(x: &[f64], popmean: f64, alternative: Alternative) -> TestResult {
    let n = x.len();
    if n < 2 || !popmean.is_finite() || x.iter().any(|v| !v.is_finite()) {
        return TestResult::NAN;
    }
    let n_f = n as f64;
    let mean = x.iter().sum::<f64>() / n_f;
    let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n_f - 1.0);
    let standard_error = (variance / n_f).sqrt();
    let difference = mean - popmean;
    // 0/0 is NaN and d/0 is ±∞, matching scipy for constant samples.
    let t = difference / standard_error;
    TestResult {
        statistic: t,
        p_value: student_t_p_value(t, n_f - 1.0, alternative),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_and_constants() {
        // x = [1, 2]: mean 1.5, s = 0.7071, se = 0.5, t = 3, df = 1.
        let r = ttest_1samp(&[1.0, 2.0], 0.0, Alternative::TwoSided);
        assert!((r.statistic - 3.0).abs() < 1e-14);
        let expected = 1.0 - 2.0 * 3f64.atan() / std::f64::consts::PI;
        assert!((r.p_value - expected).abs() < 1e-14);
        let r = ttest_1samp(&[1.0, 1.0, 1.0], 0.0, Alternative::Greater);
        assert_eq!((r.statistic, r.p_value), (f64::INFINITY, 0.0));
        assert!(ttest_1samp(&[0.0; 3], 0.0, Alternative::Less)
            .p_value
            .is_nan());
        assert!(ttest_1samp(&[5.0], 0.0, Alternative::Less)
            .statistic
            .is_nan());
        assert!(ttest_1samp(&[], 0.0, Alternative::Less).statistic.is_nan());
    }
}
