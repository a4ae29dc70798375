//! Wilcoxon signed-rank test (one sample, or paired differences computed by the caller).

use super::special::normal_p_value;
use super::Alternative;

/// Sample size above which scipy's `method="auto"` always uses the normal approximation
/// (scipy 1.17: `if method == "auto" and d.shape[-1] > 50`; the count includes zeros).
pub const WILCOXON_EXACT_MAX_N: usize = 50;

/// Sample size up to which scipy's `method="auto"` runs an exhaustive sign-flip permutation
/// test when ties or zeros rule out the exact table (2¹³ ≤ its 9999 default resamples).
pub const WILCOXON_PERMUTATION_MAX_N: usize = 13;

/// Which null distribution gave the p-value, following scipy 1.17's `method="auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact null distribution of the signed-rank sum: n ≤ 50, no ties, no zeros.
    Exact,
    /// All 2ⁿ sign flips of the observed (tied, average) ranks: n ≤ 13 with ties or zeros.
    /// This is what scipy's `PermutationMethod()` computes exhaustively at that size.
    SignFlipPermutation,
    /// Normal approximation with tie correction and no continuity correction: n > 50, or
    /// 13 < n ≤ 50 with ties or zeros.
    Asymptotic,
}

/// Result of [`wilcoxon_signed_rank`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WilcoxonResult {
    /// scipy's statistic: min(R⁺, R⁻) for a two-sided test, R⁺ for a one-sided one.
    pub statistic: f64,
    pub p_value: f64,
    /// R⁺, the sum of the ranks of |x| over positive values (zeros dropped).
    pub rank_sum_positive: f64,
    /// None when no test ran (empty input, or a NaN in it).
    pub method: Option<WilcoxonMethod>,
}

/// Wilcoxon signed-rank test that the distribution of `x` is symmetric about zero, as scipy's
/// `stats.wilcoxon(x, alternative=...)` with its defaults (`zero_method="wilcox"`,
/// `correction=False`, `method="auto"`) in scipy 1.17:
///
/// - zeros are dropped before ranking ("wilcox"), but the n that picks the method counts them;
/// - |x| is ranked with average ranks for ties;
/// - n > 50: normal approximation, z = (R⁺ − m(m+1)/4) / σ with m the non-zero count and
///   σ² = (m(m+1)(2m+1) − Σ(t³ − t)/2) / 24 (t = tie-group sizes), no continuity correction;
/// - n ≤ 50 without ties and zeros: exact distribution of R⁺;
/// - n ≤ 13 with ties or zeros: exhaustive sign-flip permutation distribution of R⁺ (p is the
///   share of the 2ᵐ sign patterns at least as extreme; with every value zero this is 1);
/// - 13 < n ≤ 50 with ties or zeros: normal approximation as above (with every value zero,
///   σ = 0 and p is NaN, as scipy).
///
/// Two-sided p-values are `min(1, 2·min(P(R⁺ ≥ obs), P(R⁺ ≤ obs)))` for the exact methods.
///
/// NaN rules: empty input or any NaN gives statistic = p = NaN and `method = None`.
pub fn wilcoxon_signed_rank(x: &[f64], alternative: Alternative) -> WilcoxonResult {
    let n = x.len();
    if n == 0 || x.iter().any(|v| v.is_nan()) {
        return WilcoxonResult {
            statistic: f64::NAN,
            p_value: f64::NAN,
            rank_sum_positive: f64::NAN,
            method: None,
        };
    }
    let nonzero: Vec<f64> = x.iter().copied().filter(|&v| v != 0.0).collect();
    let has_zeros = nonzero.len() < n;
    let ranked = rank_absolute_values(&nonzero);
    let rank_sum_positive: f64 = nonzero
        .iter()
        .zip(&ranked.ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let rank_sum_negative: f64 = nonzero
        .iter()
        .zip(&ranked.ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();
    let has_ties = ranked.tie_sizes.iter().any(|&t| t > 1);

    let method = if n > WILCOXON_EXACT_MAX_N {
        WilcoxonMethod::Asymptotic
    } else if !has_ties && !has_zeros {
        WilcoxonMethod::Exact
    } else if n <= WILCOXON_PERMUTATION_MAX_N {
        WilcoxonMethod::SignFlipPermutation
    } else {
        WilcoxonMethod::Asymptotic
    };

    let p_value = match method {
        WilcoxonMethod::Asymptotic => {
            let m = nonzero.len() as f64;
            let tie_term: f64 = ranked
                .tie_sizes
                .iter()
                .map(|&t| {
                    let t = t as f64;
                    t * t * t - t
                })
                .sum();
            let mean = m * (m + 1.0) / 4.0;
            let sd = ((m * (m + 1.0) * (2.0 * m + 1.0) - tie_term / 2.0) / 24.0).sqrt();
            normal_p_value((rank_sum_positive - mean) / sd, alternative)
        }
        WilcoxonMethod::Exact | WilcoxonMethod::SignFlipPermutation => {
            exact_sign_flip_p_value(&ranked.ranks, rank_sum_positive, alternative)
        }
    };
    let statistic = match alternative {
        Alternative::TwoSided => rank_sum_positive.min(rank_sum_negative),
        Alternative::Greater | Alternative::Less => rank_sum_positive,
    };
    WilcoxonResult {
        statistic,
        p_value,
        rank_sum_positive,
        method: Some(method),
    }
}

struct RankedAbs {
    /// Average rank of |x_i| (1-based), in input order.
    ranks: Vec<f64>,
    /// Sizes of the groups of equal |x|.
    tie_sizes: Vec<usize>,
}

fn rank_absolute_values(values: &[f64]) -> RankedAbs {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
    let mut ranks = vec![0.0; values.len()];
    let mut tie_sizes = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let magnitude = values[order[start]].abs();
        let mut end = start + 1;
        while end < order.len() && values[order[end]].abs() == magnitude {
            end += 1;
        }
        // Ranks start..end (0-based) share their mean, (start + 1 + end) / 2 in 1-based terms.
        let average = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        tie_sizes.push(end - start);
        start = end;
    }
    RankedAbs { ranks, tie_sizes }
}

/// p-value of R⁺ under the null that every sign is + or − with probability ½ independently,
/// counted exactly over all 2ᵐ sign patterns. Average ranks are multiples of ½, so doubled
/// ranks are integers and a subset-sum count gives the distribution without rounding.
/// m ≤ 50 here, so the counts (≤ 2⁵⁰) are exact in u64 and in f64.
fn exact_sign_flip_p_value(ranks: &[f64], rank_sum_positive: f64, alternative: Alternative) -> f64 {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let total: usize = doubled.iter().sum();
    let mut counts = vec![0u64; total + 1];
    counts[0] = 1;
    let mut reachable = 0;
    for &d in &doubled {
        for s in (0..=reachable).rev() {
            if counts[s] > 0 {
                counts[s + d] += counts[s];
            }
        }
        reachable += d;
    }
    let patterns = 2f64.powi(ranks.len() as i32);
    let observed = (2.0 * rank_sum_positive).round() as usize;
    let at_least: u64 = counts[observed.min(total + 1)..].iter().sum();
    let at_most: u64 = counts[..=observed.min(total)].iter().sum();
    let p_greater = at_least as f64 / patterns;
    let p_less = at_most as f64 / patterns;
    match alternative {
        Alternative::Greater => p_greater,
        Alternative::Less => p_less,
        Alternative::TwoSided => (2.0 * p_greater.min(p_less)).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_exact_by_hand() {
        // x = [1]: R+ = 1 of {0, 1}: P(R+ >= 1) = 1/2.
        let r = wilcoxon_signed_rank(&[1.0], Alternative::Greater);
        assert_eq!((r.statistic, r.p_value), (1.0, 0.5));
        assert_eq!(r.method, Some(WilcoxonMethod::Exact));
        // x = [1, -2]: R+ = 1; sums over sign patterns {0, 1, 2, 3}.
        let r = wilcoxon_signed_rank(&[1.0, -2.0], Alternative::Greater);
        assert_eq!(r.p_value, 0.75);
        let r = wilcoxon_signed_rank(&[1.0, -2.0], Alternative::Less);
        assert_eq!(r.p_value, 0.5);
    }

    #[test]
    fn ties_zeros_and_nan() {
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 2.0, -3.0, 0.0], Alternative::Greater);
        assert_eq!(r.method, Some(WilcoxonMethod::SignFlipPermutation));
        assert_eq!((r.statistic, r.p_value), (6.0, 0.4375));
        let r = wilcoxon_signed_rank(&[0.0; 3], Alternative::TwoSided);
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        let r = wilcoxon_signed_rank(&[0.0; 20], Alternative::TwoSided);
        assert_eq!(r.method, Some(WilcoxonMethod::Asymptotic));
        assert!(r.p_value.is_nan());
        let r = wilcoxon_signed_rank(&[f64::NAN, 1.0], Alternative::TwoSided);
        assert!(r.p_value.is_nan() && r.method.is_none());
        assert!(wilcoxon_signed_rank(&[], Alternative::Less)
            .statistic
            .is_nan());
    }

    #[test]
    fn method_thresholds() {
        let distinct: Vec<f64> = (1..=51).map(|i| i as f64 * 0.37).collect();
        assert_eq!(
            wilcoxon_signed_rank(&distinct[..50], Alternative::Greater).method,
            Some(WilcoxonMethod::Exact)
        );
        assert_eq!(
            wilcoxon_signed_rank(&distinct, Alternative::Greater).method,
            Some(WilcoxonMethod::Asymptotic)
        );
        let mut tied = distinct[..14].to_vec();
        tied[0] = tied[1];
        assert_eq!(
            wilcoxon_signed_rank(&tied, Alternative::Greater).method,
            Some(WilcoxonMethod::Asymptotic)
        );
        assert_eq!(
            wilcoxon_signed_rank(&tied[..13], Alternative::Greater).method,
            Some(WilcoxonMethod::SignFlipPermutation)
        );
    }
}
