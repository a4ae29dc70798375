#!/usr/bin/env python3
"""Write the statistics parity fixtures under tests/fixtures/stats/.

- stats_reference.json: scipy / statsmodels results for pearsonr, pointbiserialr, ttest_1samp,
  wilcoxon, shapiro, multipletests (fdr_bh, bonferroni) on many inputs, edge cases included.
- attributions.csv + annotations.json: a small synthetic attribution table (12 proteins,
  embedding level + 2 layers x 3 heads) with some heads tracking the annotation.
- relevance_expected.csv / relevance_per_protein_expected.csv: the relevance statistics of that
  table computed by a plain numpy / scipy / statsmodels re-implementation of the reference
  metrics (see `relevance_reference`).

Floats in the JSON are strings: Python's shortest round-trip repr ("0.1", "1e-300"), "nan",
"inf", "-inf"; the Rust test parses them with `str::parse::<f64>`, which rounds correctly (a JSON
number parsed by a best-effort float parser can be one ulp off, too much for 1e-9 parity on
inputs like 1e8 + noise).

Usage: python scripts/make_stats_fixtures.py [output_dir]
Requirements: scripts/requirements-stats.txt
"""

import csv
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests

SEED = 20240517
ALTERNATIVES = ("two-sided", "greater", "less")


def enc(value):
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def enc_list(values):
    return [enc(v) for v in values]


def quiet(fn, *args, **kwargs):
    # scipy warns on constant / tiny / NaN inputs; the values are what we record.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def correlation_cases(rng):
    cases = []

    def add(function, name, x, y):
        fn = stats.pearsonr if function == "pearsonr" else stats.pointbiserialr
        res = quiet(fn, np.asarray(x, float), np.asarray(y, float))
        cases.append({"function": function, "name": name, "x": enc_list(x), "y": enc_list(y),
                      "statistic": enc(res.statistic), "pvalue": enc(res.pvalue)})

    for n in (3, 4, 5, 10, 50, 200):
        x = rng.standard_normal(n)
        add("pearsonr", f"independent n={n}", x, rng.standard_normal(n))
        add("pearsonr", f"correlated n={n}", x, 0.6 * x + 0.4 * rng.standard_normal(n))
    add("pearsonr", "n=2", [1.0, 2.5], [3.0, -1.0])
    add("pearsonr", "perfect", [1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    add("pearsonr", "perfect negative", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    add("pearsonr", "constant x", [2.0] * 6, rng.standard_normal(6))
    add("pearsonr", "constant y", rng.standard_normal(6), [0.0] * 6)
    add("pearsonr", "nan in x", [1.0, float("nan"), 3.0, 4.0], [1.0, 2.0, 2.0, 5.0])
    add("pearsonr", "large offset", 1e8 + rng.standard_normal(30), rng.standard_normal(30))
    add("pearsonr", "tiny scale", 1e-200 * rng.standard_normal(30), rng.standard_normal(30))
    add("pearsonr", "ties", [1, 1, 2, 2, 3, 3, 3], [0, 1, 1, 2, 2, 2, 5])
    for n in (3, 8, 30, 120):
        flags = (rng.random(n) < 0.3).astype(float)
        flags[0], flags[-1] = 1.0, 0.0
        add("pointbiserialr", f"random n={n}", flags, rng.standard_normal(n) + 0.8 * flags)
    add("pointbiserialr", "n=1", [1.0], [0.4])
    add("pointbiserialr", "n=2", [1.0, 0.0], [0.4, 0.9])
    add("pointbiserialr", "all zero indicator", [0.0] * 5, [0.1, 0.5, 0.2, 0.3, 0.9])
    add("pointbiserialr", "nan in values", [1, 0, 1, 0], [0.5, float("nan"), 0.2, 0.3])
    add("pointbiserialr", "constant values", [1, 0, 1, 0], [0.5] * 4)
    return cases


def ttest_cases(rng):
    cases = []

    def add(name, x, popmean=0.0):
        for alternative in ALTERNATIVES:
            res = quiet(stats.ttest_1samp, np.asarray(x, float), popmean, alternative=alternative)
            cases.append({"function": "ttest_1samp", "name": name, "x": enc_list(x),
                          "popmean": enc(popmean), "alternative": alternative,
                          "statistic": enc(res.statistic), "pvalue": enc(res.pvalue)})

    for n in (2, 3, 5, 10, 60, 200):
        add(f"normal n={n}", rng.standard_normal(n) + 0.3)
    add("popmean 1.5", rng.standard_normal(12) + 1.2, popmean=1.5)
    add("strong effect", rng.standard_normal(8) * 0.01 + 1.0)
    add("n=1", [0.7])
    add("empty", [])
    add("constant nonzero", [1.0, 1.0, 1.0])
    add("constant negative", [-2.0] * 4)
    add("constant zero", [0.0, 0.0, 0.0])
    add("nan", [1.0, float("nan"), 2.0])
    add("ties", [0.1, 0.1, 0.2, -0.3, 0.2, 0.2])
    return cases


def wilcoxon_cases(rng):
    cases = []

    def add(name, x):
        for alternative in ALTERNATIVES:
            res = quiet(stats.wilcoxon, np.asarray(x, float), alternative=alternative)
            cases.append({"function": "wilcoxon", "name": name, "x": enc_list(x),
                          "alternative": alternative,
                          "statistic": enc(res.statistic), "pvalue": enc(res.pvalue)})

    # Exact null distribution: no ties, no zeros, n <= 50.
    for n in (1, 2, 3, 5, 8, 13, 20, 50):
        add(f"exact n={n}", rng.standard_normal(n) + 0.2)
    add("exact all positive n=10", np.abs(rng.standard_normal(10)) + 0.01)
    add("exact all negative n=30", -np.abs(rng.standard_normal(30)) - 0.01)
    # Ties or zeros with n <= 13: exhaustive sign-flip permutation test.
    add("ties n=5", [1.0, 2.0, 2.0, -3.0, 0.0])
    add("ties n=13", np.round(rng.standard_normal(13), 1))
    add("zeros n=10", np.where(rng.random(10) < 0.3, 0.0, rng.standard_normal(10)))
    add("one zero n=4", [0.0, 1.5, -0.5, 2.0])
    add("all zero n=3", [0.0, 0.0, 0.0])
    add("tied magnitudes opposite signs", [1.0, -1.0, 2.0, -2.0, 3.0, 3.0])
    # Ties or zeros with 13 < n <= 50: normal approximation.
    add("ties n=14", np.round(rng.standard_normal(14), 1))
    add("zeros n=20", np.where(rng.random(20) < 0.2, 0.0, rng.standard_normal(20) + 0.3))
    add("all zero n=20", [0.0] * 20)
    add("ties n=50", np.round(rng.standard_normal(50) + 0.2, 1))
    # n > 50: normal approximation always.
    add("no ties n=51", rng.standard_normal(51) + 0.1)
    add("no ties n=60", rng.standard_normal(60) + 0.2)
    add("ties n=200", np.round(rng.standard_normal(200) + 0.1, 1))
    add("zeros n=200", np.where(rng.random(200) < 0.1, 0.0, rng.standard_normal(200)))
    add("empty", [])
    add("nan", [1.0, float("nan"), -2.0, 3.0])
    return cases


def shapiro_cases(rng):
    cases = []

    def add(name, x):
        res = quiet(stats.shapiro, np.asarray(x, float))
        cases.append({"function": "shapiro", "name": name, "x": enc_list(x),
                      "statistic": enc(res.statistic), "pvalue": enc(res.pvalue)})

    for n in (3, 4, 5, 6, 7, 8, 11, 12, 20, 50, 100, 500, 2000):
        add(f"normal n={n}", rng.standard_normal(n) * 2.0 + 5.0)
        add(f"exponential n={n}", rng.exponential(size=n))
    for n in (4, 9, 30):
        add(f"uniform n={n}", rng.random(n))
    add("ties", [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 4.0])
    add("outlier n=4", [0.0, 0.0, 0.0, 1.0])
    add("outlier n=7", [0.0] * 6 + [1.0])
    add("n=3 tie", [1.0, 1.0, 2.0])
    add("n=3 equally spaced", [1.0, 2.0, 3.0])
    add("n=2", [1.0, 2.0])
    add("constant", [3.0] * 6)
    add("nan", [1.0, float("nan"), 2.0, 3.0])
    add("large offset", 1e6 + rng.standard_normal(40))
    return cases


def multitest_cases(rng):
    cases = []

    def add(name, p):
        p = np.asarray(p, float)
        for method in ("fdr_bh", "bonferroni"):
            finite = ~np.isnan(p)
            adjusted = np.full(p.shape, np.nan)
            if finite.any():
                # Documented rule: NaN p-values are left out of the family.
                adjusted[finite] = multipletests(p[finite], method=method)[1]
            cases.append({"function": method, "name": name, "p": enc_list(p),
                          "adjusted": enc_list(adjusted)})

    for m in (1, 2, 5, 20, 100):
        add(f"uniform m={m}", rng.random(m))
    add("small p m=30", rng.random(30) ** 4)
    add("ties", [0.01, 0.01, 0.02, 0.02, 0.5, 0.5, 0.04])
    add("zeros and ones", [0.0, 1.0, 0.03, 0.0, 1.0])
    add("nan excluded", [0.01, float("nan"), 0.04, 0.2])
    add("empty", [])
    return cases


# ---------------------------------------------------------------- relevance statistics

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
HEADS = [(-1, -1)] + [(layer, head) for layer in range(2) for head in range(3)]
# Strength with which a head's relevance tracks the annotation, and its relevance offset.
SIGNAL = {(-1, -1): 0.6, (0, 1): 1.5, (1, 2): 0.8, (1, 0): 0.3}
OFFSET = {(-1, -1): 0.02, (0, 1): 0.05, (1, 2): 0.08, (0, 0): -0.03}


def synthetic_attributions(rng):
    rows, annotations = [], {}
    for index in range(12):
        protein = f"P{index + 1:02d}"
        n = int(rng.integers(8, 31))
        sequence = "".join(rng.choice(list(AMINO_ACIDS), n))
        if protein == "P12":
            annotated = []  # no annotated residue: skipped by the statistics
        else:
            k = max(1, int(round(n * rng.uniform(0.15, 0.35))))
            annotated = sorted(int(p) for p in rng.choice(np.arange(1, n + 1), k, replace=False))
        annotations[protein] = annotated
        indicator = np.zeros(n + 2)
        indicator[annotated] = 1.0
        for layer, head in HEADS:
            relevance = (rng.standard_normal(n + 2) * 0.2 + OFFSET.get((layer, head), 0.0)
                         + SIGNAL.get((layer, head), 0.0) * 0.2 * indicator)
            if (protein, layer, head) == ("P03", 1, 0):
                relevance = np.full(n + 2, 0.25)  # constant: r undefined for this protein/head
            if (protein, layer, head) in {("P05", 0, 0), ("P07", 1, 1)}:
                relevance = np.round(relevance, 1)  # many ties
            if (protein, layer, head) == ("P06", 0, 2):
                # A tie at the K-th rank between the last annotated residue and the final
                # special token: the reversed stable argsort ranks the later position first,
                # so RRA = (K-1)/K here (K/K under an earlier-position-first rule).
                relevance = np.where(indicator == 1.0, 1.0, -1.0) + 0.01 * rng.standard_normal(n + 2)
                relevance[annotated[-1]] = 0.5
                relevance[n + 1] = 0.5
            residues = ["<cls>"] + list(sequence) + ["<eos>"]
            for position in range(n + 2):
                rows.append((protein, layer, head, position, residues[position],
                             float(relevance[position])))
    order = rng.permutation(len(rows))  # the library must not rely on row order
    return [rows[i] for i in order], annotations


def relevance_reference(rows, annotations, alpha=0.05):
    """Plain re-implementation of the reference metrics, per protein then per head."""
    groups = {}
    for protein, layer, head, position, _residue, relevance in rows:
        groups.setdefault((protein, layer, head), {})[position] = relevance
    per_protein = []
    for (protein, layer, head), by_position in sorted(groups.items()):
        rel = np.array([by_position[p] for p in range(len(by_position))])
        indicator = np.zeros(len(rel))
        indicator[annotations.get(protein, [])] = 1.0
        k = int(indicator.sum())
        if k == 0:
            continue
        r, r_p = quiet(stats.pointbiserialr, indicator, rel)
        top = np.argsort(rel, kind="stable")[::-1][:k]
        per_protein.append({"protein": protein, "layer": layer, "head": head,
                            "n_residues": len(rel) - 2, "n_annotated": k, "r": r, "r_p": r_p,
                            "rra": indicator[top].mean(), "total_relevance": rel.sum()})
    heads = []
    for layer, head in sorted({(s["layer"], s["head"]) for s in per_protein}):
        scores = [s for s in per_protein if (s["layer"], s["head"]) == (layer, head)]
        r = np.array([s["r"] for s in scores])
        r = r[~np.isnan(r)]
        totals = np.array([s["total_relevance"] for s in scores])
        t = quiet(stats.ttest_1samp, r, 0.0, alternative="greater")
        w = quiet(stats.wilcoxon, totals, alternative="greater")
        sw = quiet(stats.shapiro, r) if len(r) >= 3 else (np.nan, np.nan)
        heads.append({"layer": layer, "head": head, "n_proteins": len(scores), "n_r": len(r),
                      "mean_r": np.mean(r), "median_r": np.median(r),
                      "t_statistic": t.statistic, "t_p": t.pvalue, "mean_rra":
                      np.mean([s["rra"] for s in scores]), "wilcoxon_statistic": w.statistic,
                      "wilcoxon_p": w.pvalue, "shapiro_w": sw[0], "shapiro_p": sw[1]})
    for test in ("t_p", "wilcoxon_p"):
        family = [h for h in heads if h["layer"] >= 0]
        for method, column in (("fdr_bh", "_fdr"), ("bonferroni", "_bonferroni")):
            adjusted = multipletests([h[test] for h in family], method=method)[1]
            for h, value in zip(family, adjusted):
                h[test + column] = value
        for h in heads:
            if h["layer"] < 0:  # embedding level: a family of its own
                h[test + "_fdr"] = h[test]
                h[test + "_bonferroni"] = h[test]
    for h in heads:
        h["significant"] = bool(h["t_p_fdr"] < alpha and h["wilcoxon_p_fdr"] < alpha)
    return heads, per_protein


HEAD_COLUMNS = ["layer", "head", "n_proteins", "n_r", "mean_r", "median_r", "t_statistic", "t_p",
                "t_p_fdr", "t_p_bonferroni", "mean_rra", "wilcoxon_statistic", "wilcoxon_p",
                "wilcoxon_p_fdr", "wilcoxon_p_bonferroni", "shapiro_w", "shapiro_p",
                "significant"]
PROTEIN_COLUMNS = ["protein", "layer", "head", "n_residues", "n_annotated", "r", "r_p", "rra",
                   "total_relevance"]


def csv_value(value):
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, str):
        return value
    value = float(value)
    return "NaN" if math.isnan(value) else repr(value)  # repr: shortest exact round trip


def write_csv(path, columns, records):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([csv_value(record[c]) for c in columns])


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/fixtures/stats"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    cases = (correlation_cases(rng) + ttest_cases(rng) + wilcoxon_cases(rng)
             + shapiro_cases(rng) + multitest_cases(rng))
    reference = {"generator": "scripts/make_stats_fixtures.py", "seed": SEED,
                 "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                              "statsmodels": statsmodels.__version__},
                 "cases": cases}
    (out / "stats_reference.json").write_text(json.dumps(reference, indent=1) + "\n")

    rows, annotations = synthetic_attributions(rng)
    write_csv(out / "attributions.csv",
              ["protein", "layer", "head", "position", "residue", "relevance"],
              [dict(zip(["protein", "layer", "head", "position", "residue", "relevance"], row))
               for row in rows])
    (out / "annotations.json").write_text(json.dumps(annotations, indent=1) + "\n")
    heads, per_protein = relevance_reference(rows, annotations)
    write_csv(out / "relevance_expected.csv", HEAD_COLUMNS, heads)
    write_csv(out / "relevance_per_protein_expected.csv", PROTEIN_COLUMNS, per_protein)
    print(f"{len(cases)} reference cases, {len(rows)} attribution rows, {len(heads)} heads "
          f"-> {out}")


if __name__ == "__main__":
    main()
