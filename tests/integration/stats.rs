//! Parity of `protscope::stats` with scipy / statsmodels, on fixtures written by
//! `scripts/make_stats_fixtures.py` (versions recorded in the JSON).
//!
//! Tolerances: statistics within 1e-9 relative (plus 1e-14 absolute, for values that are zero up
//! to rounding), p-values within 1e-6 absolute; NaN must match NaN, infinities must match.

use polars::prelude::*;
use protscope::frame::read_table;
use protscope::stats::{
    benjamini_hochberg, bonferroni, pearson_r, point_biserial_r, relevance_statistics,
    shapiro_wilk, ttest_1samp, wilcoxon_signed_rank, Alternative, TestResult,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const STAT_REL_TOL: f64 = 1e-9;
const STAT_ABS_FLOOR: f64 = 1e-14;
const P_ABS_TOL: f64 = 1e-6;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stats")
        .join(name)
}

/// Floats are stored as strings (shortest round-trip repr, "nan", "inf", "-inf"), parsed with
/// Rust's correctly rounded `str::parse` so that the inputs are bit-exact.
fn decode(value: &Value) -> f64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not an encoded float: {value}"));
    text.parse::<f64>()
        .unwrap_or_else(|e| panic!("bad float {text}: {e}"))
}

fn decode_list(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(decode)
        .collect()
}

/// Largest deviations seen, printed at the end of each test (run with `--nocapture`).
#[derive(Default)]
struct Worst {
    stat_rel: f64,
    p_abs: f64,
    failures: Vec<String>,
}

impl Worst {
    fn statistic(&mut self, what: &str, got: f64, expected: f64) {
        if !same_special(got, expected) {
            self.failures
                .push(format!("{what}: statistic {got} vs {expected}"));
            return;
        }
        if expected.is_finite() {
            let err = (got - expected).abs();
            // Reported relative error: only where the value is not zero up to rounding.
            if expected.abs() > 1e-6 {
                self.stat_rel = self.stat_rel.max(err / expected.abs());
            }
            if err > STAT_REL_TOL * expected.abs() + STAT_ABS_FLOOR {
                self.failures
                    .push(format!("{what}: statistic {got} vs {expected}"));
            }
        }
    }

    fn p_value(&mut self, what: &str, got: f64, expected: f64) {
        if !same_special(got, expected) {
            self.failures.push(format!("{what}: p {got} vs {expected}"));
            return;
        }
        if expected.is_finite() {
            let err = (got - expected).abs();
            self.p_abs = self.p_abs.max(err);
            if err > P_ABS_TOL {
                self.failures.push(format!("{what}: p {got} vs {expected}"));
            }
        }
    }

    fn finish(self, label: &str, checked: usize) {
        println!(
            "{label}: {checked} checks, max statistic rel err {:.3e}, max p abs err {:.3e}",
            self.stat_rel, self.p_abs
        );
        assert!(
            self.failures.is_empty(),
            "{} mismatches:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// NaN matches only NaN, an infinity only the same infinity.
fn same_special(got: f64, expected: f64) -> bool {
    if expected.is_nan() || got.is_nan() {
        return expected.is_nan() && got.is_nan();
    }
    if expected.is_infinite() || got.is_infinite() {
        return expected == got;
    }
    true
}

#[test]
fn scalar_tests_match_scipy_and_statsmodels() {
    let text = std::fs::read_to_string(fixture("stats_reference.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    let mut worst = Worst::default();
    let mut per_function: HashMap<String, usize> = HashMap::new();
    for case in cases {
        let function = case["function"].as_str().unwrap();
        let what = format!("{function} [{}] {}", case["name"], case["alternative"]);
        *per_function.entry(function.to_string()).or_default() += 1;
        let alternative =
            || -> Alternative { case["alternative"].as_str().unwrap().parse().unwrap() };
        let result: TestResult = match function {
            "pearsonr" => pearson_r(&decode_list(&case["x"]), &decode_list(&case["y"])).unwrap(),
            "pointbiserialr" => {
                let flags: Vec<bool> = decode_list(&case["x"]).iter().map(|&v| v == 1.0).collect();
                point_biserial_r(&flags, &decode_list(&case["y"])).unwrap()
            }
            "ttest_1samp" => ttest_1samp(
                &decode_list(&case["x"]),
                decode(&case["popmean"]),
                alternative(),
            ),
            "wilcoxon" => {
                let r = wilcoxon_signed_rank(&decode_list(&case["x"]), alternative());
                TestResult {
                    statistic: r.statistic,
                    p_value: r.p_value,
                }
            }
            "shapiro" => shapiro_wilk(&decode_list(&case["x"])),
            "fdr_bh" | "bonferroni" => {
                let p = decode_list(&case["p"]);
                let adjusted = if function == "fdr_bh" {
                    benjamini_hochberg(&p).unwrap()
                } else {
                    bonferroni(&p).unwrap()
                };
                let expected = decode_list(&case["adjusted"]);
                assert_eq!(adjusted.len(), expected.len(), "{what}");
                for (i, (got, want)) in adjusted.iter().zip(&expected).enumerate() {
                    // Adjusted p-values are deterministic arithmetic: hold them to the
                    // statistic tolerance.
                    worst.statistic(&format!("{what} #{i}"), *got, *want);
                }
                continue;
            }
            other => panic!("unknown function {other}"),
        };
        worst.statistic(&what, result.statistic, decode(&case["statistic"]));
        worst.p_value(&what, result.p_value, decode(&case["pvalue"]));
    }
    for function in [
        "pearsonr",
        "pointbiserialr",
        "ttest_1samp",
        "wilcoxon",
        "shapiro",
        "fdr_bh",
        "bonferroni",
    ] {
        assert!(
            per_function.get(function).copied().unwrap_or(0) >= 5,
            "too few {function} cases"
        );
    }
    println!("reference versions: {}", reference["versions"]);
    worst.finish("scalar tests", cases.len());
}

fn annotations() -> HashMap<String, Vec<usize>> {
    let text = std::fs::read_to_string(fixture("annotations.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f64_column(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .unwrap_or_else(|_| panic!("column {name}"))
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn i64_column(df: &DataFrame, name: &str) -> Vec<i64> {
    df.column(name)
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

#[test]
fn relevance_statistics_match_python_reference() {
    let attributions = read_table(&fixture("attributions.csv")).unwrap();
    let stats = relevance_statistics(&attributions, &annotations(), 0.05).unwrap();
    let got = stats.to_frame().unwrap();
    let expected = read_table(&fixture("relevance_expected.csv")).unwrap();
    assert_eq!(got.height(), expected.height());
    assert_eq!(stats.skipped_proteins, vec!["P12".to_string()]);
    assert_eq!(stats.n_proteins_in_table, 12);

    let mut worst = Worst::default();
    for name in ["layer", "head", "n_proteins", "n_r"] {
        assert_eq!(
            i64_column(&got, name),
            i64_column(&expected, name),
            "{name}"
        );
    }
    let got_significant: Vec<bool> = got
        .column("significant")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls"))
        .collect();
    let expected_significant: Vec<bool> = expected
        .column("significant")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls"))
        .collect();
    assert_eq!(got_significant, expected_significant);
    // The fixture is built so that both outcomes occur.
    assert!(got_significant.iter().any(|&s| s) && got_significant.iter().any(|&s| !s));

    let statistics = [
        "mean_r",
        "median_r",
        "t_statistic",
        "mean_rra",
        "wilcoxon_statistic",
        "shapiro_w",
    ];
    let p_values = [
        "t_p",
        "t_p_fdr",
        "t_p_bonferroni",
        "wilcoxon_p",
        "wilcoxon_p_fdr",
        "wilcoxon_p_bonferroni",
        "shapiro_p",
    ];
    let mut checked = 0;
    for name in statistics {
        for (i, (g, e)) in f64_column(&got, name)
            .into_iter()
            .zip(f64_column(&expected, name))
            .enumerate()
        {
            worst.statistic(&format!("{name} row {i}"), g, e);
            checked += 1;
        }
    }
    for name in p_values {
        for (i, (g, e)) in f64_column(&got, name)
            .into_iter()
            .zip(f64_column(&expected, name))
            .enumerate()
        {
            worst.p_value(&format!("{name} row {i}"), g, e);
            checked += 1;
        }
    }
    worst.finish("relevance per head", checked);
}

#[test]
fn relevance_per_protein_scores_match_python_reference() {
    let attributions = read_table(&fixture("attributions.csv")).unwrap();
    let stats = relevance_statistics(&attributions, &annotations(), 0.05).unwrap();
    let got = stats.per_protein_frame().unwrap();
    let expected = read_table(&fixture("relevance_per_protein_expected.csv")).unwrap();
    assert_eq!(got.height(), expected.height());
    let got_proteins: Vec<String> = got
        .column("protein")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls").to_string())
        .collect();
    let expected_proteins: Vec<String> = expected
        .column("protein")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls").to_string())
        .collect();
    assert_eq!(got_proteins, expected_proteins);
    for name in ["layer", "head", "n_residues", "n_annotated"] {
        assert_eq!(
            i64_column(&got, name),
            i64_column(&expected, name),
            "{name}"
        );
    }
    let mut worst = Worst::default();
    let mut checked = 0;
    for name in ["r", "rra", "total_relevance"] {
        for (i, (g, e)) in f64_column(&got, name)
            .into_iter()
            .zip(f64_column(&expected, name))
            .enumerate()
        {
            worst.statistic(&format!("{name} row {i}"), g, e);
            checked += 1;
        }
    }
    for (i, (g, e)) in f64_column(&got, "r_p")
        .into_iter()
        .zip(f64_column(&expected, "r_p"))
        .enumerate()
    {
        worst.p_value(&format!("r_p row {i}"), g, e);
        checked += 1;
    }
    // The fixture has one constant-relevance protein/head (undefined r).
    assert_eq!(
        f64_column(&got, "r").iter().filter(|r| r.is_nan()).count(),
        1
    );
    worst.finish("relevance per protein", checked);
}
