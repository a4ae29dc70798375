//! The "Which explanation to trust" section: residue-flipping curves of every attribution
//! method against random residues (with AOPC per method), how alike the methods rank residues,
//! the cascading randomisation check, and a reading from those numbers. A flip table of one
//! method alone (`protscope flip` on IG) gives the same figure under "Residue flipping".

use polars::prelude::*;

use super::{file_safe, Builder, RunTable, TableKind};
use crate::frame::columns::{floats, strings};
use crate::plot::{flip_curves, randomisation_curves, FlipCurves, RandomisationCurves};
use crate::report::reading::{self, MethodFinding};
use crate::report::TableOptions;
use crate::Result;

impl Builder<'_> {
    pub(super) fn methods(&mut self) -> Result<()> {
        let flips: Vec<&RunTable> = self.of_kind(TableKind::Flip).collect();
        let randomisations: Vec<&RunTable> = self.of_kind(TableKind::Randomisation).collect();
        if flips.is_empty() && randomisations.is_empty() {
            return Ok(());
        }
        let curves: Vec<(&RunTable, FlipCurves)> = flips
            .iter()
            .map(|t| Ok((*t, FlipCurves::from_frame(&t.frame)?)))
            .collect::<Result<_>>()?;
        let several = curves.iter().any(|(_, c)| c.methods.len() > 1) || !randomisations.is_empty();
        self.report.section(if several {
            "Which explanation to trust"
        } else {
            "Residue flipping"
        });
        let params = self.params_text(&["methods"]);
        for (table, c) in &curves {
            let replacement = strings(
                &table.frame,
                &table.path.display().to_string(),
                "replacement",
            )
            .ok()
            .and_then(|r| r.into_iter().flatten().next())
            .unwrap_or_else(|| "pad".into());
            let proteins = c
                .methods
                .first()
                .map_or(0, |m| m.points.iter().map(|p| p.3).max().unwrap_or(0));
            let figure = flip_curves(
                &file_safe(&format!("flip_{}", table.stem)),
                "Residue flipping: logit drop as the most relevant residues go",
                c,
            )?;
            self.add_figure(
                figure,
                format!(
                    "Drop of the target logit when the k most relevant residues are replaced by \
                     {replacement}, most relevant first, one line per method (mean over {proteins} \
                     proteins, band: 95 %), against k random residues (dashed: seeded random \
                     orders, the same for every method). Faithful explanations fall above the \
                     dashed line; the legend gives each method's AOPC (area over the \
                     perturbation curve, k = 0 included).{params}"
                ),
            )?;
            self.report.table(
                "AOPC per method: the mean logit drop over every k, most relevant first and for \
                 the random orders; the gain is the difference.",
                &aopc_summary(c)?,
                &TableOptions::default(),
            )?;
        }
        for t in self.of_kind(TableKind::MethodAgreement) {
            self.report.table(
                "How alike the methods rank each protein's residues: Spearman ρ between two \
                 methods' residue relevances, mean and range over proteins.",
                &agreement_summary(t)?,
                &TableOptions::default(),
            )?;
        }
        // (method, ρ after the head, mean ρ over the layer steps, ρ with everything shuffled).
        let mut rho: Vec<(String, f64, f64, f64)> = Vec::new();
        for t in &randomisations {
            let r = RandomisationCurves::from_frame(&t.frame)?;
            for m in &r.methods {
                let at = |i: usize| m.points.get(i).map_or(f64::NAN, |p| p.0);
                let layers: Vec<f64> = m.points.iter().skip(2).map(|p| p.0).collect();
                let mean = layers.iter().sum::<f64>() / layers.len() as f64;
                rho.push((m.name.clone(), at(1), mean, at(r.steps.len() - 1)));
            }
            let figure = randomisation_curves(
                &file_safe(&format!("randomisation_{}", t.stem)),
                "Cascading randomisation: each method's map against the trained model's",
                &r,
            )?;
            self.add_figure(
                figure,
                "Sanity check (Adebayo et al. 2018): the classifier head, then the layers from the \
                 top down are replaced by shuffled copies of their weights; each line is the mean \
                 Spearman ρ (band: 95 % over proteins) between a method's residue relevance on \
                 the randomised model and on the trained one. An explanation of what the model \
                 learned falls towards 0; one that stays high explains the input."
                    .to_string(),
            )?;
        }
        if let Some((_, c)) = curves.iter().find(|(_, c)| c.methods.len() > 1) {
            let findings: Vec<MethodFinding> = c
                .methods
                .iter()
                .map(|m| {
                    let checked = rho.iter().find(|c| c.0 == m.name);
                    MethodFinding {
                        method: m.name.clone(),
                        aopc: m.aopc,
                        rho_head: checked.map(|c| c.1),
                        rho_layers: checked.map(|c| c.2),
                        rho_all: checked.map(|c| c.3),
                    }
                })
                .collect();
            self.report
                .paragraph(reading::methods_reading(&findings, c.random.aopc));
        }
        Ok(())
    }
}

/// method, proteins, aopc, aopc_random, aopc_gain from the curves (means over proteins).
fn aopc_summary(c: &FlipCurves) -> Result<DataFrame> {
    let proteins = |m: &crate::plot::FlipCurve| m.points.iter().map(|p| p.3).max().unwrap_or(0);
    Ok(df!(
        "method" => c.methods.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "proteins" => c.methods.iter().map(|m| proteins(m) as i64).collect::<Vec<_>>(),
        "aopc" => c.methods.iter().map(|m| m.aopc).collect::<Vec<_>>(),
        "aopc_random" => vec![c.random.aopc; c.methods.len()],
        "aopc_gain" => c.methods.iter().map(|m| m.aopc - c.random.aopc).collect::<Vec<_>>(),
    )?)
}

/// method_a, method_b, proteins, mean_spearman, min_spearman, max_spearman (NaN ρ left out).
fn agreement_summary(t: &RunTable) -> Result<DataFrame> {
    let what = t.path.display().to_string();
    let a = strings(&t.frame, &what, "method_a")?;
    let b = strings(&t.frame, &what, "method_b")?;
    let rho = floats(&t.frame, &what, "spearman")?;
    let mut pairs: Vec<(String, String, Vec<f64>)> = Vec::new();
    for i in 0..rho.len() {
        let key = (
            a[i].clone().unwrap_or_default(),
            b[i].clone().unwrap_or_default(),
        );
        let at = match pairs.iter().position(|p| p.0 == key.0 && p.1 == key.1) {
            Some(at) => at,
            None => {
                pairs.push((key.0, key.1, Vec::new()));
                pairs.len() - 1
            }
        };
        if rho[i].is_finite() {
            pairs[at].2.push(rho[i]);
        }
    }
    let stat = |v: &Vec<f64>, f: fn(&[f64]) -> f64| if v.is_empty() { f64::NAN } else { f(v) };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(df!(
        "method_a" => pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        "method_b" => pairs.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
        "proteins" => pairs.iter().map(|p| p.2.len() as i64).collect::<Vec<_>>(),
        "mean_spearman" => pairs.iter().map(|p| stat(&p.2, mean)).collect::<Vec<_>>(),
        "min_spearman" => pairs.iter().map(|p| stat(&p.2, min)).collect::<Vec<_>>(),
        "max_spearman" => pairs.iter().map(|p| stat(&p.2, max)).collect::<Vec<_>>(),
    )?)
}
