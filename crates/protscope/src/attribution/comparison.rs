//! Attribution methods side by side on the same proteins and targets: each method's
//! explanation, residue flipping of each ranking (most relevant first, against the same seeded
//! random orders, so the random curve is shared), AOPC per method and protein, and how much the
//! methods agree with each other (Spearman's ρ between their residue maps).

use polars::prelude::*;

use super::flip::{aopc, flip_residues, Aopc, FlipOptions, FlipRow};
use super::methods::{explain, AttributionMethod, ExplainOptions, Explanation};
use crate::model::{EncodedSequence, ProteinModel};
use crate::stats::spearman_r;
use crate::{Error, Result};

/// Every method's explanations and faithfulness on the same proteins.
#[derive(Debug, Clone)]
pub struct MethodComparison {
    pub methods: Vec<AttributionMethod>,
    /// Per method (in `methods` order), one explanation per protein (in input order).
    pub explanations: Vec<Vec<Explanation>>,
    /// Flip rows of every method (`method` names it).
    pub flips: Vec<FlipRow>,
    /// AOPC per method and protein.
    pub aopc: Vec<Aopc>,
}

/// Mean AOPC of one method over proteins, and of the random orders on the same proteins.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodFaithfulness {
    pub method: String,
    pub aopc_top: f64,
    pub aopc_random: f64,
    pub proteins: usize,
}

/// Explains each sequence with each method (target `targets[i]` for sequence i, e.g. its
/// predicted class) and flips every method's ranking with `flip` (its `method` is replaced by
/// each method's name). `progress` is called once per (method, protein).
#[allow(clippy::too_many_arguments)]
pub fn compare_methods(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    output: &str,
    targets: &[usize],
    methods: &[AttributionMethod],
    options: &ExplainOptions,
    flip: &FlipOptions,
    mut progress: impl FnMut(),
) -> Result<MethodComparison> {
    if targets.len() != seqs.len() {
        return Err(Error::invalid(format!(
            "comparing methods: {} targets for {} sequences (give one per sequence)",
            targets.len(),
            seqs.len()
        )));
    }
    let mut explanations = Vec::with_capacity(methods.len());
    let mut flips: Vec<FlipRow> = Vec::new();
    // The first method's rows per sequence: its random-order columns serve every method.
    let mut first_rows: Vec<Vec<FlipRow>> = Vec::with_capacity(seqs.len());
    for (mi, &method) in methods.iter().enumerate() {
        // The random orders depend on the seed and the protein only: the first method flips
        // them, the others reuse its results (a third of the forward passes for four methods).
        let flip = FlipOptions {
            method: method.name().to_string(),
            random_repeats: if mi == 0 { flip.random_repeats } else { 0 },
            ..flip.clone()
        };
        let mut explained = Vec::with_capacity(seqs.len());
        for (si, (seq, &target)) in seqs.iter().zip(targets).enumerate() {
            let x = explain(model, seq, output, target, method, options)?;
            let mut rows = flip_residues(model, seq, output, target, x.residue_embedding(), &flip)?;
            if mi == 0 {
                first_rows.push(rows.clone());
            } else {
                // Same protein and the same ks, so the rows line up one to one.
                for (row, first) in rows.iter_mut().zip(&first_rows[si]) {
                    row.logit_random_mean = first.logit_random_mean;
                    row.logit_random_sd = first.logit_random_sd;
                    row.drop_random = first.drop_random;
                }
            }
            flips.extend(rows);
            explained.push(x);
            progress();
        }
        explanations.push(explained);
    }
    let aopc = aopc(&flips);
    Ok(MethodComparison {
        methods: methods.to_vec(),
        explanations,
        flips,
        aopc,
    })
}

impl MethodComparison {
    /// Mean AOPC per method (in `methods` order), most-relevant-first and random.
    pub fn faithfulness(&self) -> Vec<MethodFaithfulness> {
        self.methods
            .iter()
            .map(|m| {
                let of: Vec<&Aopc> = self.aopc.iter().filter(|a| a.method == m.name()).collect();
                let n = of.len().max(1) as f64;
                MethodFaithfulness {
                    method: m.name().to_string(),
                    aopc_top: of.iter().map(|a| a.aopc_top).sum::<f64>() / n,
                    aopc_random: of.iter().map(|a| a.aopc_random).sum::<f64>() / n,
                    proteins: of.len(),
                }
            })
            .collect()
    }

    /// Spearman's ρ between every pair of methods' residue maps, per protein: columns protein,
    /// method_a, method_b, spearman (NaN where a map is constant).
    pub fn agreement_frame(&self) -> Result<DataFrame> {
        let (mut protein, mut a, mut b, mut rho) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..self.methods.len() {
            for j in i + 1..self.methods.len() {
                for (x, y) in self.explanations[i].iter().zip(&self.explanations[j]) {
                    protein.push(x.protein.clone());
                    a.push(self.methods[i].name());
                    b.push(self.methods[j].name());
                    rho.push(spearman_r(x.residue_embedding(), y.residue_embedding())?.statistic);
                }
            }
        }
        Ok(df!(
            "protein" => protein,
            "method_a" => a,
            "method_b" => b,
            "spearman" => rho,
        )?)
    }

    /// One row per protein and residue, one relevance column per method: columns protein,
    /// position (1-based), residue, then each method's name.
    pub fn residue_frame(&self) -> Result<DataFrame> {
        let Some(first) = self.explanations.first() else {
            return Ok(DataFrame::empty());
        };
        let (mut protein, mut position, mut residue) = (Vec::new(), Vec::new(), Vec::new());
        for x in first {
            let tokens = &x.tokens[x.residue_start..x.residue_start + x.residue_count];
            for (i, t) in tokens.iter().enumerate() {
                protein.push(x.protein.clone());
                position.push(i as i64 + 1);
                residue.push(t.clone());
            }
        }
        let mut columns = vec![
            Column::new("protein".into(), protein),
            Column::new("position".into(), position),
            Column::new("residue".into(), residue),
        ];
        for (m, explained) in self.methods.iter().zip(&self.explanations) {
            let values: Vec<f64> = explained
                .iter()
                .flat_map(|x| x.residue_embedding().iter().copied())
                .collect();
            columns.push(Column::new(m.name().into(), values));
        }
        let height = columns.first().map_or(0, |c| c.len());
        Ok(DataFrame::new(height, columns)?)
    }
}
