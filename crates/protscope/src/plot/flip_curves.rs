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
pub(crate) fn band(values: &[f64]) -> (f64, f64, f64, usize) {
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
    let labels: Vec<String> = std::iter::once("0".to_string())
        .chain(p.steps.iter().cloned())
        .collect();
    let legend: Vec<String> = p
        .methods
        .iter()
        .map(|m| format!("{} (AOPC {:.3})", m.name, m.aopc))
        .collect();
    draw_curves(
        c,
        (w, h),
        title,
        Curves {
            labels: &labels,
            origin: Some(0.0),
            lines: &p.methods,
            legend: &legend,
            dashed: Some((
                &p.random,
                format!("random order (AOPC {:.3})", p.random.aopc),
            )),
            x_title: "Residues flipped",
            y_title: "Drop of the target logit",
        },
    )
}

/// What [`draw_curves`] draws: lines over evenly spaced labelled steps, each with its band.
pub(crate) struct Curves<'a> {
    /// One label per x position (with the origin first, when there is one).
    pub labels: &'a [String],
    /// A value every line starts from at the first position (flip curves: drop 0 at k = 0).
    pub origin: Option<f64>,
    pub lines: &'a [FlipCurve],
    pub legend: &'a [String],
    /// A reference line drawn dashed in grey, with its legend entry.
    pub dashed: Option<(&'a FlipCurve, String)>,
    pub x_title: &'a str,
    pub y_title: &'a str,
}

pub(crate) fn draw_curves<DB: DrawingBackend>(
    c: &Canvas<DB>,
    (w, h): (f64, f64),
    title: &str,
    k: Curves<'_>,
) -> Result<()> {
    let all = k
        .lines
        .iter()
        .chain(k.dashed.as_ref().map(|d| d.0))
        .flat_map(|c| c.points.iter().flat_map(|p| [p.1, p.2]));
    let start = k.origin.unwrap_or(f64::NAN);
    let (lo, hi) = all.fold(
        if start.is_finite() {
            (start, start)
        } else {
            (f64::INFINITY, f64::NEG_INFINITY)
        },
        |(lo, hi), v| (lo.min(v), hi.max(v)),
    );
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(Error::invalid("curves have no finite values to draw"));
    }
    let y0 = draw::title(c, title)?;
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    let (y_lo, y_hi) = (lo - if lo < 0.0 { pad } else { 0.0 }, hi + pad);
    let ticks = draw::nice_ticks(y_lo, y_hi, 5);
    let x0 = MARGIN + draw::y_axis_width(c, &draw::tick_labels(&ticks))?;
    let entries: Vec<(Key, String)> = k
        .legend
        .iter()
        .enumerate()
        .map(|(i, l)| (Key::Line(palette::categorical(i)), l.clone()))
        .chain(
            k.dashed
                .as_ref()
                .map(|(_, l)| (Key::Dashed(palette::MUTED), l.clone())),
        )
        .collect();
    let labels: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    let legend_w = 6.0 + 18.0 + 5.0 + c.max_text_width(&labels, Txt::new(font::TICK))? + 6.0;
    let x1 = w - MARGIN - legend_w - 10.0;
    let y1 = h - MARGIN - draw::X_AXIS_HEIGHT;
    if x1 - x0 < 60.0 || y1 - y0 < 40.0 {
        return Err(Error::invalid("figure is too small for the curves"));
    }
    let n = k.labels.len();
    let a = Axes {
        x0,
        y0,
        x1,
        y1,
        x_range: (-0.3, n as f64 - 0.7),
        y_range: (
            ticks.first().copied().unwrap_or(y_lo).min(y_lo),
            ticks.last().copied().unwrap_or(y_hi).max(y_hi),
        ),
    };
    draw::y_axis(c, &a, &ticks, MARGIN, k.y_title)?;
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    // At most about 16 labels: every `every`-th step.
    let every = n.div_ceil(16).max(1);
    let (tick_x, tick_labels): (Vec<f64>, Vec<String>) = xs
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, x)| (*x, k.labels[i].clone()))
        .unzip();
    draw::x_axis(c, &a, &tick_x, &tick_labels, k.x_title)?;
    let first = usize::from(k.origin.is_some());
    let path = |curve: &FlipCurve, pick: fn(&(f64, f64, f64, usize)) -> f64| -> Vec<(f64, f64)> {
        k.origin
            .map(|o| (a.x(0.0), a.y(o)))
            .into_iter()
            .chain(
                curve
                    .points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (a.x((i + first) as f64), a.y(pick(p)))),
            )
            .collect()
    };
    let band = |curve: &FlipCurve, color: RGBColor| -> Result<()> {
        let mut outline = path(curve, |p| p.2);
        let mut lower = path(curve, |p| p.1);
        lower.reverse();
        outline.extend(lower);
        c.polygon(&outline, tint(color, 0.8))
    };
    if let Some((d, _)) = &k.dashed {
        band(d, palette::MUTED)?;
    }
    for (i, line) in k.lines.iter().enumerate() {
        band(line, palette::categorical(i))?;
    }
    // Lines over every band, so that no band hides another method's line.
    if let Some((d, _)) = &k.dashed {
        c.dashed(&path(d, |p| p.0), palette::MUTED, 1.5)?;
    }
    for (i, line) in k.lines.iter().enumerate() {
        c.line(&path(line, |p| p.0), palette::categorical(i), 1.5)?;
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
