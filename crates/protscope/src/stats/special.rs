//! Distribution tails used by the tests, with NaN-safe wrappers around statrs (whose functions
//! panic on arguments outside their domain), and the two small approximations that the
//! Shapiro–Wilk algorithm AS R94 is defined with.

use super::Alternative;
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::checked_beta_reg;

/// Regularised incomplete beta `I_x(a, b)`; NaN outside its domain instead of a panic.
pub(crate) fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    if a.is_nan() || b.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    checked_beta_reg(a, b, x).unwrap_or(f64::NAN)
}

fn standard_normal() -> Normal {
    // Mean 0, sd 1 is always a valid normal.
    Normal::standard()
}

/// p-value of a standard-normal statistic `z` (scipy `_get_pvalue` with a normal null).
pub(crate) fn normal_p_value(z: f64, alternative: Alternative) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let normal = standard_normal();
    match alternative {
        Alternative::Greater => normal.sf(z),
        Alternative::Less => normal.cdf(z),
        Alternative::TwoSided => (2.0 * normal.sf(z.abs())).min(1.0),
    }
}

/// Upper tail `P(T >= |t|)` of Student's t with `df` degrees of freedom, from the incomplete
/// beta identity `P(T >= |t|) = I_{df/(df+t²)}(df/2, 1/2) / 2`, which keeps full relative precision
/// far in the tail (no `1 - cdf` cancellation).
fn student_t_upper_tail_abs(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    0.5 * beta_reg(df / 2.0, 0.5, df / (df + t * t))
}

/// p-value of a Student-t statistic (scipy `ttest_1samp`'s `_get_pvalue` with a t null).
pub(crate) fn student_t_p_value(t: f64, df: f64, alternative: Alternative) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let tail = student_t_upper_tail_abs(t, df);
    let p = match alternative {
        Alternative::Greater if t > 0.0 => tail,
        Alternative::Greater => 1.0 - tail,
        Alternative::Less if t < 0.0 => tail,
        Alternative::Less => 1.0 - tail,
        Alternative::TwoSided => 2.0 * tail,
    };
    p.clamp(0.0, 1.0)
}

/// Two-sided p-value of a Pearson correlation `r` from `n` pairs (n ≥ 3): scipy's exact null
/// distribution of r, Beta(n/2 − 1, n/2 − 1) on [−1, 1], so `p = 2 · I_{(1−|r|)/2}(a, a)`.
pub(crate) fn pearson_two_sided_p_value(r: f64, n: usize) -> f64 {
    if r.is_nan() || n < 3 {
        return f64::NAN;
    }
    let a = n as f64 / 2.0 - 1.0;
    let x = ((1.0 - r.abs()) / 2.0).clamp(0.0, 0.5);
    (2.0 * beta_reg(a, a, x)).clamp(0.0, 1.0)
}

/// Normal quantile by algorithm AS 111 (Beasley & Springer 1977, Applied Statistics 26:118),
/// which is what Royston's AS R94 uses for the Shapiro–Wilk coefficients; using the same
/// approximation (accurate to about 1e-9) keeps W equal to scipy's to rounding.
pub(crate) fn normal_quantile_as111(p: f64) -> f64 {
    const SPLIT: f64 = 0.42;
    // Central rational approximation, numerator a0..a3 and denominator b1..b4.
    const A: [f64; 4] = [
        2.50662823884,
        -18.61500062529,
        41.39119773534,
        -25.44106049637,
    ];
    const B: [f64; 4] = [
        -8.47351093090,
        23.08336743743,
        -21.06224101826,
        3.13082909833,
    ];
    // Tail approximation in r = sqrt(-ln(min(p, 1-p))).
    const C: [f64; 4] = [-2.78718931138, -2.29796479134, 4.85014127135, 2.32121276858];
    const D: [f64; 2] = [3.54388924762, 1.63706781897];

    let q = p - 0.5;
    if q.abs() <= SPLIT {
        let r = q * q;
        let numerator = q * (((A[3] * r + A[2]) * r + A[1]) * r + A[0]);
        let denominator = (((B[3] * r + B[2]) * r + B[1]) * r + B[0]) * r + 1.0;
        return numerator / denominator;
    }
    let tail = if q > 0.0 { 1.0 - p } else { p };
    if tail <= 0.0 {
        // AS 111 reports a fault and returns 0 here; callers only pass p in (0, 1).
        return 0.0;
    }
    let r = (-tail.ln()).sqrt();
    let value = (((C[3] * r + C[2]) * r + C[1]) * r + C[0]) / ((D[1] * r + D[0]) * r + 1.0);
    if q < 0.0 {
        -value
    } else {
        value
    }
}

/// Upper normal tail `P(Z > z)` by algorithm AS 66 (Hill 1973, Applied Statistics 22:424), with
/// the extended upper cut-off (38) of its later revision; AS R94 uses it for the W p-value.
pub(crate) fn normal_upper_tail_as66(z: f64) -> f64 {
    const LOWER_TAIL_CUTOFF: f64 = 7.0;
    const UPPER_TAIL_CUTOFF: f64 = 38.0;
    const SERIES_LIMIT: f64 = 1.28;
    if z.is_nan() {
        return f64::NAN;
    }
    // Work with |z| and the tail on its side; `upper` says whether that is the requested one.
    let (upper, x) = if z > 0.0 { (true, z) } else { (false, -z) };
    if x > LOWER_TAIL_CUTOFF && (!upper || x > UPPER_TAIL_CUTOFF) {
        return if upper { 0.0 } else { 1.0 };
    }
    let y = 0.5 * x * x;
    let tail = if x <= SERIES_LIMIT {
        0.5 - x
            * (0.398942280444
                - 0.399903438504 * y
                    / (y + 5.75885480458
                        - 29.8213557808
                            / (y + 2.62433121679 + 48.6959930692 / (y + 5.92885724438))))
    } else {
        0.398942280385 * (-y).exp()
            / (x - 3.8052e-8
                + 1.00000615302
                    / (x + 3.98064794e-4
                        + 1.98615381364
                            / (x - 0.151679116635
                                + 5.29330324926
                                    / (x + 4.8385912808
                                        - 15.1508972451
                                            / (x + 0.742380924027
                                                + 30.789933034 / (x + 3.99019417011))))))
    };
    if upper {
        tail
    } else {
        1.0 - tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_tail_matches_known_values() {
        // t = 3, df = 1: P(T > 3) = 1/2 - atan(3)/pi.
        let expected = 0.5 - 3f64.atan() / std::f64::consts::PI;
        let p = student_t_p_value(3.0, 1.0, Alternative::Greater);
        assert!((p - expected).abs() < 1e-14, "{p} vs {expected}");
        assert!((student_t_p_value(-3.0, 1.0, Alternative::Less) - expected).abs() < 1e-14);
        assert_eq!(
            student_t_p_value(f64::INFINITY, 2.0, Alternative::Greater),
            0.0
        );
        assert_eq!(
            student_t_p_value(f64::INFINITY, 2.0, Alternative::Less),
            1.0
        );
        assert!(student_t_p_value(f64::NAN, 2.0, Alternative::Less).is_nan());
        assert!(student_t_p_value(1.0, 0.0, Alternative::Less).is_nan());
    }

    #[test]
    fn as111_and_as66_are_close_to_exact() {
        let normal = standard_normal();
        // AS 111 is good to ~1e-8 relative in the body, weaker far in the tails (Shapiro–Wilk
        // only asks for p ≥ 0.625/(n + 0.25)).
        for &(p, relative) in &[
            (1e-6, 1e-4),
            (1e-4, 1e-5),
            (0.01, 1e-8),
            (0.2, 1e-8),
            (0.5, 1e-15),
            (0.7, 1e-8),
            (0.95, 1e-8),
            (0.999, 1e-8),
        ] {
            let q = normal_quantile_as111(p);
            assert!((normal.cdf(q) - p).abs() <= relative * p, "p={p}");
        }
        for &z in &[-9.0, -3.0, -1.0, 0.0, 0.5, 1.28, 2.0, 6.0, 12.0] {
            let upper = normal_upper_tail_as66(z);
            // AS 66 is good to ~1e-10 relative over the whole range.
            let exact = normal.sf(z);
            assert!((upper - exact).abs() <= 1e-10 * exact, "z={z}");
        }
        assert!(normal_upper_tail_as66(f64::NAN).is_nan());
        assert_eq!(normal_upper_tail_as66(40.0), 0.0);
        assert_eq!(normal_upper_tail_as66(-40.0), 1.0);
    }

    #[test]
    fn beta_reg_outside_domain_is_nan() {
        assert!(beta_reg(1.0, 1.0, 1.5).is_nan());
        assert!(beta_reg(0.0, 1.0, 0.5).is_nan());
        assert!(beta_reg(1.0, 1.0, f64::NAN).is_nan());
        assert!((beta_reg(1.0, 1.0, 0.25) - 0.25).abs() < 1e-15);
    }
}
