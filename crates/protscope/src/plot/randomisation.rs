//! The cascading-randomisation sanity check (Adebayo et al. 2018) as a figure: per method, the
//! mean Spearman ρ between the explanation of the randomised model and the original's, over
//! proteins, as the head and then the layers from the top down are randomised; 95 % bands.

use super::draw::Canvas;
use super::flip_curves::{draw_curves, Curves, FlipCurve};
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use polars::prelude::DataFrame;

/// Every method's mean rank correlation with its original map per randomisation step.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomisationCurves {
    /// Step labels: `none`, `head`, then the lowest layer randomised (1-based): 12, 11, …
    pub steps: Vec<String>,
    /// Per method: (mean ρ, lower, upper, proteins) per step; `aopc` unused (NaN).
    pub methods: Vec<FlipCurve>,
}

impl RandomisationCurves {
    /// From a `randomisation` table (method, protein, step, randomised, spearman).
    pub fn from_frame(df: &DataFrame) -> Result<RandomisationCurves> {
        const TABLE: &str = schema::RANDOMISATION.name;
        schema::RANDOMISATION.require(df, TABLE)?;
        let methods = columns::strings(df, TABLE, "method")?;
        let steps = columns::integers(df, TABLE, "step")?;
        let labels = columns::strings(df, TABLE, "randomised")?;
        if labels.iter().any(Option::is_none) {
            return Err(Error::invalid(format!(
                "{TABLE} table has a null `randomised`"
            )));
        }
        let rho = columns::floats(df, TABLE, "spearman")?;
        let max_step = steps.iter().copied().max().unwrap_or(-1);
        if max_step < 0 || steps.iter().any(|&s| s < 0) {
            return Err(Error::invalid(format!("{TABLE} table has no steps")));
        }
        // Short axis labels: `none`, `head`, then the lowest layer randomised so far (the
        // table's `randomised` column spells each step out).
        let num_layers = (max_step - 1).max(0);
        let step_labels: Vec<String> = (0..=max_step)
            .map(|s| match s {
                0 => "none".to_string(),
                1 => "head".to_string(),
                s => format!("{}", num_layers - (s - 2)),
            })
            .collect();
        let mut names: Vec<String> = Vec::new();
        for m in methods.iter().map(|m| m.clone().unwrap_or_default()) {
            if !names.contains(&m) {
                names.push(m);
            }
        }
        let curves = names
            .iter()
            .map(|m| {
                let points = (0..=max_step)
                    .map(|s| {
                        let values: Vec<f64> = (0..df.height())
                            .filter(|&i| steps[i] == s && methods[i].as_deref() == Some(m))
                            .map(|i| rho[i])
                            .filter(|v| v.is_finite())
                            .collect();
                        super::flip_curves::band(&values)
                    })
                    .collect();
                FlipCurve {
                    name: m.clone(),
                    points,
                    aopc: f64::NAN,
                }
            })
            .collect();
        Ok(RandomisationCurves {
            steps: step_labels,
            methods: curves,
        })
    }
}

/// The randomisation curves of every method.
pub fn randomisation_curves(
    name: &str,
    title: &str,
    curves: &RandomisationCurves,
) -> Result<Figure> {
    if curves.steps.is_empty() || curves.methods.is_empty() {
        return Err(Error::invalid(
            "randomisation curves need a method and a step",
        ));
    }
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 340),
        Kind::Randomisation(curves.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    p: &RandomisationCurves,
) -> Result<()> {
    let legend: Vec<String> = p.methods.iter().map(|m| m.name.clone()).collect();
    draw_curves(
        c,
        (w, h),
        title,
        Curves {
            labels: &p.steps,
            origin: None,
            lines: &p.methods,
            legend: &legend,
            dashed: None,
            x_title:
                "Shuffled: none, the head, then every layer from the top down to the one named",
            y_title: "Spearman ρ with the original map",
        },
    )
}

pub(crate) fn caption(p: &RandomisationCurves) -> String {
    format!(
        "Cascading model randomisation (Adebayo et al. 2018) for {} method(s): the head's, then \
         the layers' weights shuffled from the top down; Spearman ρ between each method's \
         residue relevance on the randomised model and on the original, mean over proteins with \
         95 % bands. An explanation that depends on what the model learned falls towards 0.",
        p.methods.len()
    )
}

pub(crate) fn data(p: &RandomisationCurves) -> DataTable {
    let mut t = DataTable::new(&[
        "method",
        "step",
        "randomised",
        "mean_spearman",
        "lower",
        "upper",
    ]);
    for m in &p.methods {
        for (s, (label, (mean, l, u, _))) in p.steps.iter().zip(&m.points).enumerate() {
            t.row(vec![
                m.name.clone(),
                s.to_string(),
                label.clone(),
                num(*mean),
                num(*l),
                num(*u),
            ]);
        }
    }
    t
}
