//! Relevance statistics of attribution maps against residue annotations, after Wenzel, Grüner &
//! Strodthoff (2024), "Insights into the inner workings of transformer models for protein
//! function prediction" (reference code "xai-proteins").
//!
//! For every protein and every (layer, head), including the embedding level (layer = head = −1):
//! the point-biserial correlation between relevance and the annotation indicator, the relevance
//! rank accuracy (RRA) and the total relevance. Across proteins, per (layer, head): a one-sided
//! t-test that the correlations are > 0, a one-sided Wilcoxon signed-rank test that the total
//! relevance is > 0, Benjamini–Hochberg and Bonferroni corrections over the attention heads, and
//! a Shapiro–Wilk test of the correlations' normality.

use super::{
    benjamini_hochberg, bonferroni, mean, median, point_biserial_r, shapiro_wilk, ttest_1samp,
    wilcoxon_signed_rank, Alternative,
};
use crate::annotation::antibody::{CdrSites, CDR_PROPERTIES};
use crate::{Error, Result};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Layer and head value of the embedding-level rows.
pub const EMBEDDING_LEVEL: i64 = -1;

/// Scores of one protein at one (layer, head).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProteinHeadScore {
    pub protein: String,
    pub layer: i64,
    pub head: i64,
    /// Residue count n (positions 1..=n; 0 and n+1 are the special tokens).
    pub n_residues: usize,
    /// K, the number of distinct annotated residues.
    pub n_annotated: usize,
    /// Point-biserial r between relevance over positions 0..=n+1 and the annotation indicator
    /// (0 at the special tokens); NaN when the relevance is constant over the positions.
    pub r: f64,
    /// Two-sided p-value of `r` (scipy `pointbiserialr`).
    pub r_p: f64,
    /// Relevance rank accuracy: share of the K highest-relevance positions that are annotated.
    pub rra: f64,
    /// Sum of relevance over positions 0..=n+1.
    pub total_relevance: f64,
}

/// Statistics of one (layer, head) across proteins.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeadRelevance {
    pub layer: i64,
    pub head: i64,
    /// Proteins with at least one annotated residue that have this (layer, head).
    pub n_proteins: usize,
    /// Of those, proteins whose r is defined (relevance not constant); the r summaries, the
    /// t-test and Shapiro–Wilk use only these.
    pub n_r: usize,
    pub mean_r: f64,
    pub median_r: f64,
    /// One-sample t statistic of r against 0 (scipy `ttest_1samp(r, 0, alternative="greater")`).
    pub t_statistic: f64,
    pub t_p: f64,
    pub t_p_fdr: f64,
    pub t_p_bonferroni: f64,
    pub mean_rra: f64,
    /// R⁺ of the total relevance (scipy `wilcoxon(total, alternative="greater")`).
    pub wilcoxon_statistic: f64,
    pub wilcoxon_p: f64,
    pub wilcoxon_p_fdr: f64,
    pub wilcoxon_p_bonferroni: f64,
    pub shapiro_w: f64,
    pub shapiro_p: f64,
    /// `t_p_fdr < alpha` and `wilcoxon_p_fdr < alpha` (false when either is NaN).
    pub significant: bool,
}

/// Result of [`relevance_statistics`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RelevanceStats {
    /// One entry per (layer, head), sorted by layer then head (embedding level first).
    pub heads: Vec<HeadRelevance>,
    /// One entry per used protein and (layer, head), sorted by protein, layer, head.
    pub per_protein: Vec<ProteinHeadScore>,
    pub alpha: f64,
    /// Distinct proteins in the attribution table.
    pub n_proteins_in_table: usize,
    /// Proteins of the table without any annotated residue (r undefined), sorted; left out.
    pub skipped_proteins: Vec<String>,
    /// Proteins of the annotation that the attribution table does not have, sorted.
    pub annotated_proteins_not_in_table: Vec<String>,
    /// Rows with a Shapiro–Wilk p-value (at least 3 defined r values).
    pub normality_tested_heads: usize,
    /// Of those, rows whose r distribution is not normal (`shapiro_p < alpha`).
    pub non_normal_heads: usize,
}

impl RelevanceStats {
    /// Per-(layer, head) table: `layer`, `head`, `n_proteins`, `n_r`, `mean_r`, `median_r`,
    /// `t_statistic`, `t_p`, `t_p_fdr`, `t_p_bonferroni`, `mean_rra`, `wilcoxon_statistic`,
    /// `wilcoxon_p`, `wilcoxon_p_fdr`, `wilcoxon_p_bonferroni`, `shapiro_w`, `shapiro_p`,
    /// `significant`; sorted by layer then head.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let h = &self.heads;
        let ints = |f: fn(&HeadRelevance) -> i64| h.iter().map(f).collect::<Vec<i64>>();
        let floats = |f: fn(&HeadRelevance) -> f64| h.iter().map(f).collect::<Vec<f64>>();
        let df = df!(
            "layer" => ints(|x| x.layer),
            "head" => ints(|x| x.head),
            "n_proteins" => ints(|x| x.n_proteins as i64),
            "n_r" => ints(|x| x.n_r as i64),
            "mean_r" => floats(|x| x.mean_r),
            "median_r" => floats(|x| x.median_r),
            "t_statistic" => floats(|x| x.t_statistic),
            "t_p" => floats(|x| x.t_p),
            "t_p_fdr" => floats(|x| x.t_p_fdr),
            "t_p_bonferroni" => floats(|x| x.t_p_bonferroni),
            "mean_rra" => floats(|x| x.mean_rra),
            "wilcoxon_statistic" => floats(|x| x.wilcoxon_statistic),
            "wilcoxon_p" => floats(|x| x.wilcoxon_p),
            "wilcoxon_p_fdr" => floats(|x| x.wilcoxon_p_fdr),
            "wilcoxon_p_bonferroni" => floats(|x| x.wilcoxon_p_bonferroni),
            "shapiro_w" => floats(|x| x.shapiro_w),
            "shapiro_p" => floats(|x| x.shapiro_p),
            "significant" => h.iter().map(|x| x.significant).collect::<Vec<bool>>(),
        )?;
        Ok(df)
    }

    /// Per-protein table: `protein`, `layer`, `head`, `n_residues`, `n_annotated`, `r`, `r_p`,
    /// `rra`, `total_relevance`; sorted by protein, layer, head.
    pub fn per_protein_frame(&self) -> Result<DataFrame> {
        let s = &self.per_protein;
        let df = df!(
            "protein" => s.iter().map(|x| x.protein.as_str()).collect::<Vec<&str>>(),
            "layer" => s.iter().map(|x| x.layer).collect::<Vec<i64>>(),
            "head" => s.iter().map(|x| x.head).collect::<Vec<i64>>(),
            "n_residues" => s.iter().map(|x| x.n_residues as i64).collect::<Vec<i64>>(),
            "n_annotated" => s.iter().map(|x| x.n_annotated as i64).collect::<Vec<i64>>(),
            "r" => s.iter().map(|x| x.r).collect::<Vec<f64>>(),
            "r_p" => s.iter().map(|x| x.r_p).collect::<Vec<f64>>(),
            "rra" => s.iter().map(|x| x.rra).collect::<Vec<f64>>(),
            "total_relevance" => s.iter().map(|x| x.total_relevance).collect::<Vec<f64>>(),
        )?;
        Ok(df)
    }
}

/// Relevance statistics of an attribution table against residue annotations.
///
/// `attributions` needs columns `protein` (string), `layer`, `head`, `position` (integers) and
/// `relevance` (float); other columns (such as `residue`) are ignored. Layer = head = −1 marks
/// the embedding level; attention heads have layer ≥ 0 and head ≥ 0. For each protein and
/// (layer, head) the positions must be exactly 0..=n+1 (0 and n+1 the special tokens, n ≥ 1 the
/// same for every (layer, head) of the protein), each once. `annotated` maps a protein to its
/// annotated 1-based residue positions (each in 1..=n; repeats count once).
///
/// Per protein and (layer, head):
/// - `r`: scipy `pointbiserialr(indicator, relevance)` over positions 0..=n+1;
/// - `rra`: with K annotated residues, the share of annotated positions among the first K of
///   `np.argsort(relevance, kind="stable")[::-1]`, i.e. relevance descending with ties broken
///   in favour of the *later* position (a reversed stable ascending sort); the special positions
///   take part in the ranking.
///
/// Per (layer, head), over proteins with K ≥ 1 (proteins with K = 0 are skipped and listed in
/// `skipped_proteins`): mean and median of the defined r values and scipy
/// `ttest_1samp(r, 0, alternative="greater")` over them (r is undefined, NaN, when a protein's
/// relevance is constant across positions; such r values are left out and `n_r` counts the
/// rest); mean RRA; scipy `wilcoxon(total_relevance, alternative="greater")` (defaults, see
/// [`wilcoxon_signed_rank`]); Shapiro–Wilk of the r values.
///
/// Multiple testing: statsmodels `multipletests(method="fdr_bh")` and `"bonferroni"` over all
/// rows with layer ≥ 0, separately for the t and the Wilcoxon p-values; the embedding-level row
/// is a family of its own, so its adjusted p-values equal its raw ones. NaN p-values stay NaN and
/// are left out of the family (see [`benjamini_hochberg`]). A head is `significant` when both
/// FDR-adjusted p-values are below `alpha`.
///
/// Errors (never panics): missing columns, wrong dtypes, nulls, non-finite relevance, a
/// layer/head pair mixing −1 and ≥ 0 or below −1, positions that are negative, repeated
/// (duplicate rows), missing, or of inconsistent length across a protein's heads, annotated
/// positions outside 1..=n, `alpha` outside (0, 1).
pub fn relevance_statistics(
    attributions: &DataFrame,
    annotated: &HashMap<String, Vec<usize>>,
    alpha: f64,
) -> Result<RelevanceStats> {
    if alpha.is_nan() || alpha <= 0.0 || alpha >= 1.0 {
        return Err(Error::invalid(format!(
            "alpha must be in (0, 1), got {alpha}"
        )));
    }
    let table = AttributionColumns::read(attributions)?;
    let groups = group_rows(&table)?;

    let mut proteins: Vec<&str> = groups.keys().map(|k| k.protein).collect();
    proteins.sort_unstable();
    proteins.dedup();
    let n_proteins_in_table = proteins.len();

    let mut residue_counts: HashMap<&str, (usize, i64)> = HashMap::new();
    let mut per_protein = Vec::new();
    let mut skipped_proteins = Vec::new();
    let mut skipped: HashSet<&str> = HashSet::new();
    for (key, rows) in &groups {
        let (first, positions) = ordered_relevance(key, rows)?;
        let n_residues = positions.len() - 1 - usize::from(first == 0);
        let protein = key.protein;
        match residue_counts.insert(protein, (n_residues, first)) {
            Some((previous, _)) if previous != n_residues => {
                return Err(Error::invalid(format!(
                    "protein `{protein}`: layer {} head {} has {n_residues} residues but another \
                     layer/head has {previous}",
                    key.layer, key.head
                )));
            }
            // Tables without a leading special token (T5, XLNet) start at 1 throughout.
            Some((_, previous_first)) if previous_first != first => {
                return Err(Error::invalid(format!(
                    "protein `{protein}`: position 0 is missing for layer {} head {} or for \
                     another layer/head (a leading special token is there for some rows only)",
                    key.layer, key.head
                )));
            }
            _ => {}
        }
        let indicator = annotation_indicator(
            protein,
            annotated.get(protein).map(Vec::as_slice),
            n_residues,
            first,
        )?;
        let n_annotated = indicator.iter().filter(|&&a| a).count();
        if n_annotated == 0 {
            if skipped.insert(protein) {
                skipped_proteins.push(protein.to_string());
            }
            continue;
        }
        let correlation = point_biserial_r(&indicator, &positions)?;
        per_protein.push(ProteinHeadScore {
            protein: protein.to_string(),
            layer: key.layer,
            head: key.head,
            n_residues,
            n_annotated,
            r: correlation.statistic,
            r_p: correlation.p_value,
            rra: relevance_rank_accuracy(&positions, &indicator, n_annotated),
            total_relevance: positions.iter().sum(),
        });
    }
    skipped_proteins.sort_unstable();
    let in_table: HashSet<&str> = proteins.iter().copied().collect();
    let mut annotated_proteins_not_in_table: Vec<String> = annotated
        .keys()
        .filter(|p| !in_table.contains(p.as_str()))
        .cloned()
        .collect();
    annotated_proteins_not_in_table.sort_unstable();

    let mut by_head: BTreeMap<(i64, i64), Vec<&ProteinHeadScore>> = BTreeMap::new();
    for score in &per_protein {
        by_head
            .entry((score.layer, score.head))
            .or_default()
            .push(score);
    }
    let mut heads: Vec<HeadRelevance> = by_head
        .into_iter()
        .map(|((layer, head), scores)| head_statistics(layer, head, &scores))
        .collect();
    adjust_p_values(&mut heads, alpha)?;

    let normality_tested_heads = heads.iter().filter(|h| !h.shapiro_p.is_nan()).count();
    let non_normal_heads = heads.iter().filter(|h| h.shapiro_p < alpha).count();
    Ok(RelevanceStats {
        heads,
        per_protein,
        alpha,
        n_proteins_in_table,
        skipped_proteins,
        annotated_proteins_not_in_table,
        normality_tested_heads,
        non_normal_heads,
    })
}

fn head_statistics(layer: i64, head: i64, scores: &[&ProteinHeadScore]) -> HeadRelevance {
    let correlations: Vec<f64> = scores.iter().map(|s| s.r).filter(|r| !r.is_nan()).collect();
    let rra: Vec<f64> = scores.iter().map(|s| s.rra).collect();
    let totals: Vec<f64> = scores.iter().map(|s| s.total_relevance).collect();
    let t = ttest_1samp(&correlations, 0.0, Alternative::Greater);
    let wilcoxon = wilcoxon_signed_rank(&totals, Alternative::Greater);
    let shapiro = shapiro_wilk(&correlations);
    HeadRelevance {
        layer,
        head,
        n_proteins: scores.len(),
        n_r: correlations.len(),
        mean_r: mean(&correlations),
        median_r: median(&correlations),
        t_statistic: t.statistic,
        t_p: t.p_value,
        t_p_fdr: t.p_value,
        t_p_bonferroni: t.p_value,
        mean_rra: mean(&rra),
        wilcoxon_statistic: wilcoxon.statistic,
        wilcoxon_p: wilcoxon.p_value,
        wilcoxon_p_fdr: wilcoxon.p_value,
        wilcoxon_p_bonferroni: wilcoxon.p_value,
        shapiro_w: shapiro.statistic,
        shapiro_p: shapiro.p_value,
        significant: false,
    }
}

/// Corrects the attention heads (layer ≥ 0) as one family per test; the embedding level keeps
/// its raw p-values (a family of one), which `head_statistics` already stored.
fn adjust_p_values(heads: &mut [HeadRelevance], alpha: f64) -> Result<()> {
    let family: Vec<usize> = (0..heads.len()).filter(|&i| heads[i].layer >= 0).collect();
    let t_raw: Vec<f64> = family.iter().map(|&i| heads[i].t_p).collect();
    let wilcoxon_raw: Vec<f64> = family.iter().map(|&i| heads[i].wilcoxon_p).collect();
    let t_fdr = benjamini_hochberg(&t_raw)?;
    let t_bonferroni = bonferroni(&t_raw)?;
    let wilcoxon_fdr = benjamini_hochberg(&wilcoxon_raw)?;
    let wilcoxon_bonferroni = bonferroni(&wilcoxon_raw)?;
    for (k, &i) in family.iter().enumerate() {
        heads[i].t_p_fdr = t_fdr[k];
        heads[i].t_p_bonferroni = t_bonferroni[k];
        heads[i].wilcoxon_p_fdr = wilcoxon_fdr[k];
        heads[i].wilcoxon_p_bonferroni = wilcoxon_bonferroni[k];
    }
    for head in heads.iter_mut() {
        head.significant = head.t_p_fdr < alpha && head.wilcoxon_p_fdr < alpha;
    }
    Ok(())
}

/// RRA: of the K positions ranked highest (relevance descending; ties: later position first,
/// as `np.argsort(rel, kind="stable")[::-1]`), the share that are annotated.
fn relevance_rank_accuracy(relevance: &[f64], indicator: &[bool], k: usize) -> f64 {
    let mut ascending: Vec<usize> = (0..relevance.len()).collect();
    // Relevance is finite (checked on input), so partial_cmp always orders; -0.0 == 0.0 as numpy.
    ascending.sort_by(|&a, &b| {
        relevance[a]
            .partial_cmp(&relevance[b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let hits = ascending
        .iter()
        .rev()
        .take(k)
        .filter(|&&i| indicator[i])
        .count();
    hits as f64 / k as f64
}

/// Annotation indicator over positions 0..=n+1 (false at the special positions 0 and n+1).
fn annotation_indicator(
    protein: &str,
    annotated: Option<&[usize]>,
    n_residues: usize,
    first_position: i64,
) -> Result<Vec<bool>> {
    // Over the table's positions: first_position (0, or 1 without a leading special) ..= n+1.
    let offset = first_position as usize;
    let mut indicator = vec![false; n_residues + 2 - offset];
    for &position in annotated.into_iter().flatten() {
        if position == 0 || position > n_residues {
            return Err(Error::invalid(format!(
                "protein `{protein}`: annotated residue {position} is outside 1..={n_residues}"
            )));
        }
        indicator[position - offset] = true;
    }
    Ok(indicator)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct GroupKey<'a> {
    protein: &'a str,
    layer: i64,
    head: i64,
}

struct AttributionColumns<'a> {
    protein: Vec<&'a str>,
    layer: Vec<i64>,
    head: Vec<i64>,
    position: Vec<i64>,
    relevance: Vec<f64>,
}

impl<'a> AttributionColumns<'a> {
    fn read(df: &'a DataFrame) -> Result<Self> {
        let protein_column = column(df, "protein")?;
        if protein_column.dtype() != &DataType::String {
            return Err(wrong_dtype("protein", "string", protein_column.dtype()));
        }
        let protein = protein_column
            .str()?
            .iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| null_error("protein"))?;
        let relevance = float_column(df, "relevance")?;
        if let Some(i) = relevance.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "attribution table row {i}: relevance {} is not finite",
                relevance[i]
            )));
        }
        Ok(AttributionColumns {
            protein,
            layer: integer_column(df, "layer")?,
            head: integer_column(df, "head")?,
            position: integer_column(df, "position")?,
            relevance,
        })
    }
}

fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column> {
    let found = df
        .column(name)
        .map_err(|_| Error::invalid(format!("attribution table has no `{name}` column")))?;
    if found.null_count() > 0 {
        return Err(null_error(name));
    }
    Ok(found)
}

fn integer_column(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    let found = column(df, name)?;
    if !found.dtype().is_integer() {
        return Err(wrong_dtype(name, "integer", found.dtype()));
    }
    // Strict cast: a u64 beyond i64 fails instead of wrapping.
    let cast = found
        .strict_cast(&DataType::Int64)
        .map_err(|e| Error::invalid(format!("attribution column `{name}`: {e}")))?;
    Ok(cast.i64()?.into_no_null_iter().collect())
}

fn float_column(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let found = column(df, name)?;
    if !found.dtype().is_float() {
        return Err(wrong_dtype(name, "float", found.dtype()));
    }
    let cast = found.cast(&DataType::Float64)?;
    Ok(cast.f64()?.into_no_null_iter().collect())
}

fn wrong_dtype(name: &str, expected: &str, found: &DataType) -> Error {
    Error::invalid(format!(
        "attribution column `{name}` must be {expected}, found {found}"
    ))
}

fn null_error(name: &str) -> Error {
    Error::invalid(format!("attribution column `{name}` has null values"))
}

/// Rows of each (protein, layer, head) as (position, relevance), after checking layer/head.
fn group_rows<'a>(
    table: &AttributionColumns<'a>,
) -> Result<BTreeMap<GroupKey<'a>, Vec<(i64, f64)>>> {
    let mut groups: BTreeMap<GroupKey<'a>, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..table.protein.len() {
        let (layer, head) = (table.layer[i], table.head[i]);
        let embedding = layer == EMBEDDING_LEVEL && head == EMBEDDING_LEVEL;
        if !(embedding || (layer >= 0 && head >= 0)) {
            return Err(Error::invalid(format!(
                "attribution table row {i}: layer {layer} head {head}: use -1/-1 for the \
                 embedding level, values >= 0 for attention heads"
            )));
        }
        groups
            .entry(GroupKey {
                protein: table.protein[i],
                layer,
                head,
            })
            .or_default()
            .push((table.position[i], table.relevance[i]));
    }
    Ok(groups)
}

/// The first position and the relevance in position order, checking the positions are exactly
/// 0..=n+1 (or 1..=n+1 for models without a leading special token, T5) with n ≥ 1.
fn ordered_relevance(key: &GroupKey<'_>, rows: &[(i64, f64)]) -> Result<(i64, Vec<f64>)> {
    let where_ = || {
        format!(
            "protein `{}` layer {} head {}",
            key.protein, key.layer, key.head
        )
    };
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|&(position, _)| position);
    let first = sorted.first().map_or(0, |&(p, _)| p).clamp(0, 1);
    for (expected, &(position, _)) in sorted.iter().enumerate() {
        let expected = expected as i64 + first;
        if position < 0 {
            return Err(Error::invalid(format!(
                "{}: position {position} is negative",
                where_()
            )));
        }
        if position < expected {
            return Err(Error::invalid(format!(
                "{}: duplicate rows for position {position}",
                where_()
            )));
        }
        if position > expected {
            return Err(Error::invalid(format!(
                "{}: position {expected} is missing (positions must be 0..=n+1)",
                where_()
            )));
        }
    }
    if sorted.len() < 3 - first as usize {
        return Err(Error::invalid(format!(
            "{}: {} positions, need the two special tokens and at least one residue",
            where_(),
            sorted.len()
        )));
    }
    Ok((
        first,
        sorted.into_iter().map(|(_, relevance)| relevance).collect(),
    ))
}

/// Relevance statistics of an attribution table (see [`relevance_statistics`]) against each of
/// the [`CDR_PROPERTIES`], over the antibodies of `numbered` that the table has; properties
/// without any annotated residue are left out.
pub fn cdr_relevance_statistics(
    attributions: &DataFrame,
    numbered: &[CdrSites],
    alpha: f64,
) -> Result<Vec<(String, RelevanceStats)>> {
    let mut out = Vec::new();
    for (k, property) in CDR_PROPERTIES.iter().enumerate() {
        let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
        for (s, columns) in numbered {
            let n = s.residues.len();
            let p: Vec<usize> = (0..n).filter(|&i| columns[k][i]).map(|i| i + 1).collect();
            if !p.is_empty() {
                positions.insert(s.id.clone(), p);
            }
        }
        if positions.is_empty() {
            continue;
        }
        // A set: the table has a row per protein, level and position (≈ 750 k in the demo).
        let keep: HashSet<&str> = positions.keys().map(String::as_str).collect();
        let mask: BooleanChunked = attributions
            .column("protein")?
            .str()?
            .iter()
            .map(|p| p.is_some_and(|p| keep.contains(p)))
            .collect();
        let subset = attributions.filter(&mask)?;
        out.push((
            property.to_string(),
            relevance_statistics(&subset, &positions, alpha)?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One protein, n = 3 residues, embedding level + one head.
    fn small_table() -> DataFrame {
        let relevance_embedding = [0.1, 0.9, 0.2, 0.8, 0.0];
        let relevance_head = [0.0, 0.5, 0.5, 0.1, 0.3];
        let mut protein = Vec::new();
        let mut layer = Vec::new();
        let mut head = Vec::new();
        let mut position = Vec::new();
        let mut relevance = Vec::new();
        for (l, values) in [(-1i64, relevance_embedding), (0, relevance_head)] {
            for (p, v) in values.iter().enumerate() {
                protein.push("P1");
                layer.push(l);
                head.push(if l < 0 { -1i64 } else { 0 });
                position.push(p as i64);
                relevance.push(*v);
            }
        }
        df!("protein" => protein, "layer" => layer, "head" => head,
            "position" => position, "relevance" => relevance)
        .unwrap()
    }

    fn annotation(positions: &[usize]) -> HashMap<String, Vec<usize>> {
        HashMap::from([("P1".to_string(), positions.to_vec())])
    }

    /// A model without a leading special token (T5, XLNet): positions 1..=n+1 in every group.
    #[test]
    fn tables_without_position_zero_are_read() {
        let table = small_table();
        let mask = table.column("position").unwrap().i64().unwrap().gt(0);
        let shifted = table.filter(&mask).unwrap();
        let stats = relevance_statistics(&shifted, &annotation(&[1, 3]), 0.05).unwrap();
        assert_eq!(stats.per_protein.len(), 2);
        assert_eq!(stats.per_protein[0].n_residues, 3);
        // Embedding relevance over positions 1..=4: [.9, .2, .8, 0], annotated 1 and 3: the
        // top-2 are exactly the annotated residues.
        assert_eq!(stats.per_protein[0].rra, 1.0);
        // An annotation past the residues (position n+1 is the final special token) is refused.
        assert!(relevance_statistics(&shifted, &annotation(&[4]), 0.05).is_err());
    }

    #[test]
    fn rra_ties_prefer_later_position() {
        // Head relevance [0, .5, .5, .1, .3]: top-1 among the tied .5 is position 2.
        let stats = relevance_statistics(&small_table(), &annotation(&[2]), 0.05).unwrap();
        let head = &stats.per_protein[1];
        assert_eq!((head.layer, head.rra), (0, 1.0));
        let stats = relevance_statistics(&small_table(), &annotation(&[1]), 0.05).unwrap();
        assert_eq!(stats.per_protein[1].rra, 0.0);
        // Embedding: top-2 are positions 1 and 3.
        let stats = relevance_statistics(&small_table(), &annotation(&[1, 3]), 0.05).unwrap();
        assert_eq!(stats.per_protein[0].rra, 1.0);
        assert_eq!(stats.per_protein[0].n_annotated, 2);
        assert!((stats.per_protein[0].total_relevance - 2.0).abs() < 1e-12);
    }

    #[test]
    fn unannotated_protein_is_skipped() {
        let stats = relevance_statistics(&small_table(), &HashMap::new(), 0.05).unwrap();
        assert_eq!(stats.skipped_proteins, vec!["P1".to_string()]);
        assert!(stats.heads.is_empty());
        assert_eq!(stats.n_proteins_in_table, 1);
        let other = HashMap::from([("P9".to_string(), vec![1])]);
        let stats = relevance_statistics(&small_table(), &other, 0.05).unwrap();
        assert_eq!(
            stats.annotated_proteins_not_in_table,
            vec!["P9".to_string()]
        );
        let frame = stats.to_frame().unwrap();
        assert_eq!(frame.height(), 0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let table = small_table();
        assert!(relevance_statistics(&table, &annotation(&[4]), 0.05).is_err());
        assert!(relevance_statistics(&table, &annotation(&[0]), 0.05).is_err());
        assert!(relevance_statistics(&table, &annotation(&[1]), 1.5).is_err());
        let mut missing = table.clone();
        missing.drop_in_place("relevance").unwrap();
        let err = relevance_statistics(&missing, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("relevance"), "{err}");

        let mut wrong = table.clone();
        let as_float = wrong
            .column("layer")
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap();
        wrong.with_column(as_float).unwrap();
        let err = relevance_statistics(&wrong, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("integer"), "{err}");

        let duplicated = table.vstack(&table.head(Some(1))).unwrap();
        let err = relevance_statistics(&duplicated, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");

        let gap = table.slice(1, 9);
        let err = relevance_statistics(&gap, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");

        let shorter = table.slice(0, 9);
        let err = relevance_statistics(&shorter, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("residues"), "{err}");

        let mut nonfinite = table.clone();
        let mut values: Vec<f64> = nonfinite
            .column("relevance")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        values[3] = f64::NAN;
        nonfinite
            .with_column(Column::new("relevance".into(), values))
            .unwrap();
        let err = relevance_statistics(&nonfinite, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");

        let mut mixed = table.clone();
        let heads: Vec<i64> = vec![0; 10];
        mixed
            .with_column(Column::new("head".into(), heads))
            .unwrap();
        let err = relevance_statistics(&mixed, &annotation(&[1]), 0.05).unwrap_err();
        assert!(err.to_string().contains("embedding"), "{err}");
    }

    #[test]
    fn narrower_numeric_dtypes_are_accepted() {
        let table = small_table();
        let expected = relevance_statistics(&table, &annotation(&[1, 3]), 0.05).unwrap();
        let mut narrow = table.clone();
        for (name, dtype) in [
            ("layer", DataType::Int32),
            ("head", DataType::Int32),
            ("position", DataType::UInt32),
            ("relevance", DataType::Float32),
        ] {
            let cast = narrow.column(name).unwrap().cast(&dtype).unwrap();
            narrow.with_column(cast).unwrap();
        }
        let got = relevance_statistics(&narrow, &annotation(&[1, 3]), 0.05).unwrap();
        assert_eq!(got.per_protein.len(), expected.per_protein.len());
        for (a, b) in got.per_protein.iter().zip(&expected.per_protein) {
            // f32 relevance is rounded, so compare loosely; the ranking is unchanged.
            assert!((a.r - b.r).abs() < 1e-6);
            assert_eq!(a.rra, b.rra);
        }
    }

    #[test]
    fn frame_has_documented_columns() {
        let stats = relevance_statistics(&small_table(), &annotation(&[1]), 0.05).unwrap();
        let frame = stats.to_frame().unwrap();
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for required in [
            "layer",
            "head",
            "n_proteins",
            "mean_r",
            "median_r",
            "t_p",
            "t_p_fdr",
            "mean_rra",
            "wilcoxon_p",
            "wilcoxon_p_fdr",
            "significant",
        ] {
            assert!(names.iter().any(|n| n == required), "missing {required}");
        }
        assert_eq!(frame.height(), 2);
        // One protein: the t-test has n = 1, so NaN p, and nothing is significant.
        assert!(stats.heads.iter().all(|h| h.t_p.is_nan() && !h.significant));
        assert_eq!(stats.per_protein_frame().unwrap().height(), 2);
    }
}
