//! Multiple-testing corrections.

use crate::{Error, Result};

fn check_p_values(p_values: &[f64]) -> Result<()> {
    match p_values
        .iter()
        .find(|p| !p.is_nan() && !(0.0..=1.0).contains(*p))
    {
        Some(p) => Err(Error::invalid(format!("p-value {p} is outside [0, 1]"))),
        None => Ok(()),
    }
}

/// Benjamini–Hochberg false-discovery-rate adjusted p-values, as statsmodels'
/// `multipletests(p, method="fdr_bh")[1]`: p₍ᵢ₎·m/i for the i-th smallest of m p-values, made
/// monotone by a running minimum from the largest down, capped at 1, in input order.
///
/// NaN rule: NaN p-values (tests that could not be run) are left out of the family, so m counts
/// only the others, and their adjusted value is NaN. (statsmodels would instead turn every
/// adjusted value NaN.) A value outside [0, 1] is an error.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>> {
    check_p_values(p_values)?;
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len() as f64;
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut running_min = f64::INFINITY;
    for (rank0, &i) in order.iter().enumerate().rev() {
        // statsmodels divides by the ECDF value i/m; same expression for the same rounding.
        let raw = p_values[i] / ((rank0 + 1) as f64 / m);
        running_min = running_min.min(raw);
        adjusted[i] = running_min.min(1.0);
    }
    Ok(adjusted)
}

/// Bonferroni adjusted p-values, as statsmodels' `multipletests(p, method="bonferroni")[1]`:
/// min(1, p·m). Same NaN rule as [`benjamini_hochberg`]: m counts the non-NaN p-values and NaN
/// stays NaN. A value outside [0, 1] is an error.
pub fn bonferroni(p_values: &[f64]) -> Result<Vec<f64>> {
    check_p_values(p_values)?;
    let m = p_values.iter().filter(|p| !p.is_nan()).count() as f64;
    // f64::min would turn NaN into 1, hence the explicit branch.
    Ok(p_values
        .iter()
        .map(|&p| {
            if p.is_nan() {
                f64::NAN
            } else {
                (p * m).min(1.0)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bh_by_hand() {
        // m = 4: raw 0.04, 0.02, 0.0133, 0.01 by rank → running min from the top.
        let adjusted = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]).unwrap();
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adjusted:?}");
        }
        assert!(benjamini_hochberg(&[]).unwrap().is_empty());
    }

    #[test]
    fn nan_left_out_of_family() {
        let with_nan = benjamini_hochberg(&[0.01, f64::NAN, 0.04]).unwrap();
        let without = benjamini_hochberg(&[0.01, 0.04]).unwrap();
        assert_eq!(with_nan[0], without[0]);
        assert!(with_nan[1].is_nan());
        assert_eq!(with_nan[2], without[1]);
        let b = bonferroni(&[0.01, f64::NAN, 0.6]).unwrap();
        assert_eq!(b[0], 0.02);
        assert!(b[1].is_nan());
        assert_eq!(b[2], 1.0);
        assert!(bonferroni(&[1.5]).is_err());
        assert!(benjamini_hochberg(&[-0.1]).is_err());
    }
}
