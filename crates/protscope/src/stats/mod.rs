//! Statistics: correlations, one-sample tests, normality, multiple-testing corrections, and the
//! relevance statistics of attribution studies.
//!
//! Every test mirrors a named scipy / statsmodels function (versions pinned in
//! `scripts/requirements-stats.txt`) and is checked against it by `tests/integration/stats.rs` with fixtures
//! written by `scripts/make_stats_fixtures.py`.
//!
//! NaN rules, common to all tests unless a function says otherwise: an input containing NaN
//! (or, where stated, any non-finite value) gives a NaN statistic and a NaN p-value, as scipy's
//! default `nan_policy="propagate"` does; so does a sample too small for the test. Mismatched
//! input lengths are an [`Error::Invalid`](crate::Error::Invalid), never a panic.

pub mod annotated;
pub mod classification;
pub mod classifier;
pub mod contacts;
mod correlation;
pub mod logistic;
mod multitest;
pub mod relevance;
mod shapiro;
mod special;
mod ttest;
mod wilcoxon;

pub use correlation::{pearson_r, point_biserial_r, spearman_r};
pub use multitest::{benjamini_hochberg, bonferroni};
pub use relevance::{relevance_statistics, HeadRelevance, ProteinHeadScore, RelevanceStats};
pub use shapiro::shapiro_wilk;
pub use ttest::ttest_1samp;
pub use wilcoxon::{
    wilcoxon_signed_rank, WilcoxonMethod, WilcoxonResult, WILCOXON_EXACT_MAX_N,
    WILCOXON_PERMUTATION_MAX_N,
};

use crate::{Error, Result};
use std::str::FromStr;

/// Direction of the alternative hypothesis, as scipy's `alternative=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    /// `"two-sided"`: the statistic differs from its null value in either direction.
    TwoSided,
    /// `"greater"`: the statistic is larger than under the null.
    Greater,
    /// `"less"`: the statistic is smaller than under the null.
    Less,
}

impl FromStr for Alternative {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "two-sided" => Ok(Alternative::TwoSided),
            "greater" => Ok(Alternative::Greater),
            "less" => Ok(Alternative::Less),
            other => Err(Error::invalid(format!(
                "alternative `{other}`: use `two-sided`, `greater` or `less`"
            ))),
        }
    }
}

impl std::fmt::Display for Alternative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Alternative::TwoSided => "two-sided",
            Alternative::Greater => "greater",
            Alternative::Less => "less",
        })
    }
}

/// A test statistic and its p-value (either may be NaN, see the module's NaN rules).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

impl TestResult {
    pub(crate) const NAN: TestResult = TestResult {
        statistic: f64::NAN,
        p_value: f64::NAN,
    };
}

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Median as numpy's `median`: the mean of the two middle values for an even count; NaN for an
/// empty slice or when any value is NaN.
pub fn median(x: &[f64]) -> f64 {
    if x.is_empty() || x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Jaccard overlap |A ∩ B| / |A ∪ B| of two sets of (layer, head) pairs; NaN when both are
/// empty.
pub fn jaccard_index(
    a: &std::collections::BTreeSet<(i64, i64)>,
    b: &std::collections::BTreeSet<(i64, i64)>,
) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return f64::NAN;
    }
    a.intersection(b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_parses_scipy_spelling() {
        assert_eq!(
            "greater".parse::<Alternative>().unwrap(),
            Alternative::Greater
        );
        assert_eq!(
            "two-sided".parse::<Alternative>().unwrap(),
            Alternative::TwoSided
        );
        assert!("two_sided".parse::<Alternative>().is_err());
        assert_eq!(Alternative::Less.to_string(), "less");
    }

    #[test]
    fn median_even_odd_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert!(median(&[1.0, f64::NAN]).is_nan());
        assert!(mean(&[]).is_nan());
        assert_eq!(mean(&[1.0, 2.0]), 1.5);
    }
}
