//! Faithfulness curves of residue flipping: the mean drop of the target logit over proteins
//! against the number of residues flipped, one line per attribution method (most relevant
//! first) with a 95 % band (mean ± 1.96 standard errors over proteins), and the random order
//! as a dashed line with its band. The legend gives each method's mean AOPC.

use super::draw::{self, font, Axes, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::RGBColor;
use polars::prelude::{DataFrame, DataType};

/// One curve: per perturbation step, mean drop and its band.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipCurve {
    /// The method (or `random`).
    pub name: String,
    /// Per step (as [`FlipCurves::steps`]): (mean, lower, upper, proteins).
    pub points: Vec<(f64, f64, f64, usize)>,
    /// Mean AOPC over proteins: the mean of the curve with the k = 0 step (drop 0) included.
    pub aopc: f64,
}

/// Every method's curve over the same steps, and the random order's.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipCurves {
    /// Step labels on the x axis: `k` for counts, `p %` for shares of the length.
    pub steps: Vec<String>,
    pub methods: Vec<FlipCurve>,
    pub random: FlipCurve,
}

/// Okabe–Ito has eight colours.
const MAX_METHODS: usize = 7;

/// Mean and the 95 % normal band (mean ± 1.96 · sd / √n) of `values`.
fn band(values: &[f64]) -> (f64, f64, f64, usize) {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (mean, mean, mean, n);
    }
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let half = 1.96 * sd / (n as f64).sqrt();
    (mean, mean - half, mean + half, n)
}

impl FlipCurves {
    /// From a `flip` table with a `method` column (tables without one count as method `ig`):
    /// steps are the distinct (k, fraction) in order of appearance; the random curve pools the
    /// proteins of the first method (every method's random orders are the same draws when the
    /// seed and proteins are).
    pub fn from_frame(df: &DataFrame) -> Result<FlipCurves> {
        const TABLE: &str = schema::FLIP.name;
        schema::FLIP.require_columns(df, TABLE, &["protein", "k", "drop_top", "drop_random"])?;
        let proteins = columns::strings(df, TABLE, "protein")?;
        let ks = columns::integers(df, TABLE, "k")?;
        let tops = columns::floats(df, TABLE, "drop_top")?;
        let randoms = columns::floats(df, TABLE, "drop_random")?;
        let methods = match df.column("method") {
            Ok(_) => columns::strings(df, TABLE, "method")?,
            Err(_) => vec![Some("ig".to_string()); df.height()],
        };
        let fractions: Vec<Option<f64>> = match df.column("fraction") {
            Ok(c) => c.cast(&DataType::Float64)?.f64()?.iter().collect(),
            Err(_) => vec![None; df.height()],
        };
        let step_of = |i: usize| match fractions[i] {
            Some(f) => format!("{} %", num(100.0 * f)),
            None => ks[i].to_string(),
        };
        let mut steps: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for i in 0..df.height() {
            // k = 0 is the unperturbed start of every curve, drawn at the origin.
            if ks[i] == 0 {
                continue;
            }
            let s = step_of(i);
            if !steps.contains(&s) {
                steps.push(s);
            }
            let m = methods[i].clone().unwrap_or_default();
            if !names.contains(&m) {
                names.push(m);
            }
        }
        if steps.is_empty() || names.is_empty() {
            return Err(Error::invalid(format!(
                "{TABLE} table has no rows with k > 0 to draw"
            )));
        }
        if names.len() > MAX_METHODS {
            return Err(Error::invalid(format!(
                "{TABLE} table has {} methods: at most {MAX_METHODS} stay distinguishable",
                names.len()
            )));
        }
        let curve = |name: &str, method: &str, values: &[f64]| -> Result<FlipCurve> {
            let mut points = Vec::with_capacity(steps.len());
            let mut per_protein: std::collections::BTreeMap<&str, (f64, usize)> =
                Default::default();
            for s in &steps {
                let drops: Vec<f64> = (0..df.height())
                    .filter(|&i| {
                        ks[i] != 0
                            && methods[i].as_deref().unwrap_or("") == method
                            && &step_of(i) == s
                    })
                    .map(|i| {
                        let entry = per_protein
                            .entry(proteins[i].as_deref().unwrap_or(""))
                            .or_insert((0.0, 0));
                        entry.0 += values[i];
                        entry.1 += 1;
                        values[i]
                    })
                    .collect();
                if drops.iter().any(|v| !v.is_finite()) {
                    return Err(Error::invalid(format!(
                        "{TABLE} table: `{method}` has a non-finite drop at k = {s}"
                    )));
                }
                points.push(band(&drops));
            }
            let aopcs: Vec<f64> = per_protein
                .values()
                .map(|(sum, k)| sum / (k + 1) as f64)
                .collect();
            Ok(FlipCurve {
                name: name.to_string(),
                points,
                aopc: band(&aopcs).0,
            })
        };
        let methods_curves = names
            .iter()
            .map(|m| curve(m, m, &tops))
            .collect::<Result<Vec<_>>>()?;
        let random = curve("random", &names[0], &randoms)?;
        Ok(FlipCurves {
            steps,
            methods: methods_curves,
            random,
        })
    }

    fn range(&self) -> (f64, f64) {
        let all = self
            .methods
            .iter()
            .chain(std::iter::once(&self.random))
            .flat_map(|c| c.points.iter().flat_map(|p| [p.1, p.2]));
        all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)))
    }
}

/// The flipping curves of every method beside the random order.
pub fn flip_curves(name: &str, title: &str, curves: &FlipCurves) -> Result<Figure> {
    if curves.steps.is_empty() || curves.methods.is_empty() {
        return Err(Error::invalid(
            "flip curves need at least one method and step",
        ));
    }
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 340),
        Kind::FlipCurves(curves.clone()),
    )
}

/// `color` mixed with white: the band behind its line.
fn tint(color: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (c as f64 + (255.0 - c as f64) * share).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    p: &FlipCurves,
) -> Result<()> {
    let (lo, hi) = p.range();
    let y0 = draw::title(c, title)?;
    let (y_lo, y_hi) = (
        lo,
        if hi > lo {
            hi + 0.05 * (hi - lo)
        } else {
            lo + 1.0
        },
    );
    let ticks = draw::nice_ticks(y_lo, y_hi, 5);
    let x0 = MARGIN + draw::y_axis_width(c, &draw::tick_labels(&ticks))?;
    let entries: Vec<(Key, String)> = p
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                Key::Line(palette::categorical(i)),
                format!("{} (AOPC {:.3})", m.name, m.aopc),
            )
        })
        .chain(std::iter::once((
            Key::Dashed(palette::MUTED),
            format!("random order (AOPC {:.3})", p.random.aopc),
        )))
        .collect();
    let labels: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    let legend_w = 6.0 + 18.0 + 5.0 + c.max_text_width(&labels, Txt::new(font::TICK))? + 6.0;
    let x1 = w - MARGIN - legend_w - 10.0;
    let y1 = h - MARGIN - draw::X_AXIS_HEIGHT;
    if x1 - x0 < 60.0 || y1 - y0 < 40.0 {
        return Err(Error::invalid("figure is too small for the flip curves"));
    }
    let n = p.steps.len();
    // Step 0 (nothing flipped) at x = 0, then one evenly spaced slot per step.
    let a = Axes {
        x0,
        y0,
        x1,
        y1,
        x_range: (-0.3, n as f64 + 0.3),
        y_range: (ticks.first().copied().unwrap_or(y_lo).min(y_lo), y_hi),
    };
    draw::y_axis(c, &a, &ticks, MARGIN, "Drop of the target logit")?;
    let xs: Vec<f64> = (0..=n).map(|i| i as f64).collect();
    let x_labels: Vec<String> = std::iter::once("0".to_string())
        .chain(p.steps.iter().cloned())
        .collect();
    draw::x_axis(c, &a, &xs, &x_labels, "Residues flipped")?;
    let draw_curve = |curve: &FlipCurve, color: RGBColor, dashed: bool| -> Result<()> {
        let mut upper: Vec<(f64, f64)> = vec![(a.x(0.0), a.y(0.0))];
        let mut lower: Vec<(f64, f64)> = Vec::new();
        let mut line: Vec<(f64, f64)> = vec![(a.x(0.0), a.y(0.0))];
        for (i, (mean, l, u, _)) in curve.points.iter().enumerate() {
            let x = a.x((i + 1) as f64);
            upper.push((x, a.y(*u)));
            lower.push((x, a.y(*l)));
            line.push((x, a.y(*mean)));
        }
        lower.reverse();
        upper.extend(lower);
        c.polygon(&upper, tint(color, 0.8))?;
        if dashed {
            c.dashed(&line, color, 1.5)
        } else {
            c.line(&line, color, 1.5)
        }
    };
    draw_curve(&p.random, palette::MUTED, true)?;
    for (i, m) in p.methods.iter().enumerate() {
        draw_curve(m, palette::categorical(i), false)?;
    }
    // The lines again over every band, so that no band hides another method's line.
    for (i, m) in p.methods.iter().enumerate() {
        let line: Vec<(f64, f64)> = std::iter::once((a.x(0.0), a.y(0.0)))
            .chain(
                m.points
                    .iter()
                    .enumerate()
                    .map(|(j, pt)| (a.x((j + 1) as f64), a.y(pt.0))),
            )
            .collect();
        c.line(&line, palette::categorical(i), 1.5)?;
    }
    draw::legend(c, w - MARGIN, a.y0, &entries)
}

pub(crate) fn caption(p: &FlipCurves) -> String {
    format!(
        "Mean drop of the target logit over proteins as residues are flipped, most relevant \
         first, for {} method(s), beside a random order (dashed). Bands: mean ± 1.96 standard \
         errors over proteins. AOPC: the mean drop over the steps, the unperturbed step \
         included; a faithful method lies above the random order.",
        p.methods.len()
    )
}

pub(crate) fn data(p: &FlipCurves) -> DataTable {
    let mut t = DataTable::new(&["curve", "step", "mean_drop", "lower", "upper", "proteins"]);
    for curve in p.methods.iter().chain(std::iter::once(&p.random)) {
        for (s, (mean, l, u, n)) in p.steps.iter().zip(&curve.points) {
            t.row(vec![
                curve.name.clone(),
                s.clone(),
                num(*mean),
                num(*l),
                num(*u),
                n.to_string(),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    fn table() -> DataFrame {
        df!(
            "protein" => ["a", "a", "b", "b", "a", "a", "b", "b"],
            "method" => ["ig", "ig", "ig", "ig", "rollout", "rollout", "rollout", "rollout"],
            "k" => [1i64, 2, 1, 2, 1, 2, 1, 2],
            "drop_top" => [1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0],
            "drop_random" => [0.5, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 1.0],
        )
        .unwrap()
    }

    #[test]
    fn curves_average_over_proteins_and_aopc_counts_the_start() {
        let c = FlipCurves::from_frame(&table()).unwrap();
        assert_eq!(c.steps, vec!["1", "2"]);
        assert_eq!(c.methods.len(), 2);
        assert_eq!(c.methods[0].points[0].0, 2.0);
        assert_eq!(c.methods[0].points[1].0, 3.0);
        // AOPC of a: (1 + 2) / 3 = 1; of b: (3 + 4) / 3 = 7/3; mean 5/3.
        assert!((c.methods[0].aopc - 5.0 / 3.0).abs() < 1e-12);
        assert!((c.random.aopc - 0.5).abs() < 1e-12);
        // Two proteins: the band is ±1.96 · sd / √2 = ±1.96 around 2 at k = 1.
        assert!((c.methods[0].points[0].2 - (2.0 + 1.96)).abs() < 1e-12);
    }

    #[test]
    fn figure_has_a_legend_entry_per_method_and_the_random_order() {
        let c = FlipCurves::from_frame(&table()).unwrap();
        let fig = flip_curves("flip", "Faithfulness", &c).unwrap();
        let el = render_checked(&fig);
        assert_eq!(count_text(&el, "ig (AOPC 1.667)"), 1, "{:?}", texts(&el));
        assert_eq!(count_text(&el, "random order (AOPC 0.500)"), 1);
        assert_eq!(fig.data_csv().lines().count(), 1 + 3 * 2);
    }
}
