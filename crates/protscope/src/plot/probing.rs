//! Per-layer probing (BERTology §5, provis `probing/report.py`): above, each task's test score
//! per layer, one line per task and metric, with its centre of gravity Σ l·s_l / Σ s_l marked
//! on the layer axis; below, the layer-to-layer gain s_l − s_{l−1} as bars, grouped by layer.
//! Layers are numbered as the probing table numbers them: 0 = embedding output, l = block l.

use super::draw::{self, font, layout, Axes, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, opt_num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;

/// One task's score per layer: `values[i]` is layer `first_layer + i`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSeries {
    /// e.g. `ss3 accuracy`.
    pub label: String,
    pub first_layer: usize,
    pub values: Vec<Option<f64>>,
}

impl ProbeSeries {
    /// Σ layer · score / Σ score over the defined layers (layer numbers as in the table); None
    /// when the scores do not sum to a positive number.
    pub fn centre_of_gravity(&self) -> Option<f64> {
        super::layer_profile::centre_of_gravity(&self.values, self.first_layer)
    }

    /// s_l − s_{l−1} for each layer after the first (None where either is undefined).
    pub fn gains(&self) -> Vec<Option<f64>> {
        self.values
            .windows(2)
            .map(|w| Some(w[1]? - w[0]?))
            .collect()
    }
}

/// Probing scores of several tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbingPlot {
    pub series: Vec<ProbeSeries>,
}

const MAX_SERIES: usize = 8;

impl ProbingPlot {
    /// From a probing table (`task, layer, split, metric, value, …`): the `split` rows of each
    /// (task, metric) in `metrics` (pairs; all of the table's tasks' headline metrics when None:
    /// `accuracy` and `macro_f1` for multi-class tasks, `f1` for binary ones and the precision
    /// for sites and contacts).
    pub fn from_frame(
        df: &DataFrame,
        split: &str,
        metrics: Option<&[(&str, &str)]>,
    ) -> Result<ProbingPlot> {
        const TABLE: &str = schema::PROBE.name;
        schema::PROBE.require_columns(df, TABLE, &["task", "layer", "split", "metric", "value"])?;
        let tasks = columns::strings(df, TABLE, "task")?;
        let layers = columns::integers(df, TABLE, "layer")?;
        let splits = columns::strings(df, TABLE, "split")?;
        let names = columns::strings(df, TABLE, "metric")?;
        let values = columns::floats(df, TABLE, "value")?;
        let wanted: Vec<(String, String)> = match metrics {
            Some(list) => list
                .iter()
                .map(|(t, m)| (t.to_string(), m.to_string()))
                .collect(),
            None => {
                let mut seen: Vec<(String, String)> = Vec::new();
                for i in 0..df.height() {
                    let (Some(t), Some(m)) = (&tasks[i], &names[i]) else {
                        continue;
                    };
                    let headline = matches!(
                        m.as_str(),
                        "accuracy" | "macro_f1" | "precision_at_l20" | "precision_at_l5"
                    ) || (m == "f1" && t != "sites");
                    let key = (t.clone(), m.clone());
                    if headline && !seen.contains(&key) {
                        seen.push(key);
                    }
                }
                seen
            }
        };
        let mut series = Vec::new();
        for (task, metric) in wanted {
            let mut points: Vec<(usize, f64)> = Vec::new();
            for i in 0..df.height() {
                if tasks[i].as_deref() == Some(task.as_str())
                    && names[i].as_deref() == Some(metric.as_str())
                    && splits[i].as_deref() == Some(split)
                {
                    if layers[i] < 0 {
                        return Err(Error::invalid(format!(
                            "probing table: layer {} of `{task}` is negative",
                            layers[i]
                        )));
                    }
                    points.push((layers[i] as usize, values[i]));
                }
            }
            if points.is_empty() {
                return Err(Error::invalid(format!(
                    "probing table has no {split} rows of task `{task}`, metric `{metric}`"
                )));
            }
            let first = points.iter().map(|p| p.0).min().unwrap_or(0);
            let last = points.iter().map(|p| p.0).max().unwrap_or(0);
            let mut v = vec![None; last - first + 1];
            for (l, x) in points {
                if v[l - first].is_some() {
                    return Err(Error::invalid(format!(
                        "probing table has two {split} rows for `{task}` `{metric}` layer {l}"
                    )));
                }
                v[l - first] = Some(x).filter(|x| x.is_finite());
            }
            series.push(ProbeSeries {
                label: format!("{task} {}", metric.replace('_', " ")),
                first_layer: first,
                values: v,
            });
        }
        let plot = ProbingPlot { series };
        plot.validate()?;
        Ok(plot)
    }

    fn layer_range(&self) -> (usize, usize) {
        let lo = self.series.iter().map(|s| s.first_layer).min().unwrap_or(0);
        let hi = self
            .series
            .iter()
            .map(|s| s.first_layer + s.values.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        (lo, hi)
    }

    fn validate(&self) -> Result<(f64, f64)> {
        if self.series.is_empty() {
            return Err(Error::invalid("probing plot has no series"));
        }
        if self.series.len() > MAX_SERIES {
            return Err(Error::invalid(format!(
                "probing plot has {} series: at most {MAX_SERIES} stay distinguishable; choose \
                 metrics",
                self.series.len()
            )));
        }
        let values: Vec<&[Option<f64>]> = self.series.iter().map(|s| s.values.as_slice()).collect();
        draw::series_range(&values, "probing plot")
    }
}

/// Score per layer (lines, centres of gravity marked) over the layer-to-layer gains (bars).
pub fn probing_plot(name: &str, title: &str, plot: &ProbingPlot) -> Result<Figure> {
    plot.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 480),
        Kind::Probing(plot.clone()),
    )
}

pub(crate) fn caption(p: &ProbingPlot) -> String {
    format!(
        "Probing: a linear classifier's test score per layer (0 = embedding output, l = output \
         of block l; attention-based contact probes start at layer 1) for {} task metrics. \
         Triangles and dashed lines: each score's centre of gravity Σ l·s_l / Σ s_l. Below: the \
         gain over the previous layer, s_l − s_(l−1).",
        p.series.len()
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    p: &ProbingPlot,
) -> Result<()> {
    let (lo, hi) = p.validate()?;
    let (first, last) = p.layer_range();
    let y0 = draw::title(c, title)?;
    let (y_lo, y_hi) = (lo.min(0.0), if hi > lo.min(0.0) { hi * 1.05 } else { 1.0 });
    let ticks = draw::nice_ticks(y_lo, y_hi, 5);
    let gains: Vec<f64> = p.series.iter().flat_map(|s| s.gains()).flatten().collect();
    let (g_lo, g_hi) = draw::finite_range(gains.iter().copied()).unwrap_or((0.0, 0.0));
    let (g_lo, g_hi) = (g_lo.min(0.0), g_hi.max(0.0));
    let (g_lo, g_hi) = if g_hi > g_lo {
        (g_lo * 1.1, g_hi * 1.1)
    } else {
        (-0.01, 0.01)
    };
    let gain_ticks = draw::nice_ticks(g_lo, g_hi, 4);
    let axis_w = draw::y_axis_width(c, &draw::tick_labels(&ticks))?
        .max(draw::y_axis_width(c, &draw::tick_labels(&gain_ticks))?);
    let x0 = MARGIN + axis_w;

    let entries: Vec<(Key, String)> = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let centre = s
                .centre_of_gravity()
                .map_or("centre n/a".to_string(), |g| format!("centre {g:.1}"));
            (
                Key::Line(palette::categorical(i)),
                format!("{} ({centre})", s.label),
            )
        })
        .collect();
    let labels: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    let legend_w = 6.0 + 18.0 + 5.0 + c.max_text_width(&labels, Txt::new(font::TICK))? + 6.0;
    let x1 = w - MARGIN - legend_w - 10.0;
    let marker_h = 7.0;
    let bottom = h - MARGIN - draw::X_AXIS_HEIGHT;
    // Scores take 60 % of the height, gains the rest.
    let split_y = y0 + (bottom - y0) * 0.6;
    let score_y1 = split_y - marker_h - 14.0;
    let gain_y0 = split_y + 8.0;
    if x1 - x0 < 60.0 || score_y1 - y0 < 40.0 || bottom - gain_y0 < 30.0 {
        return Err(Error::invalid("figure is too small for the probing plot"));
    }
    let x_range = (first as f64 - 0.5, last as f64 + 0.5);
    let a = Axes {
        x0,
        y0,
        x1,
        y1: score_y1,
        x_range,
        y_range: (y_lo, y_hi),
    };
    draw::y_axis(c, &a, &ticks, MARGIN, "Test score")?;
    c.line(
        &[(a.x0, a.y1), (a.x0, a.y1 + marker_h)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    c.line(
        &[(a.x0, a.y1 + marker_h), (a.x1, a.y1 + marker_h)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    for (i, s) in p.series.iter().enumerate() {
        let color = palette::categorical(i);
        let mut run: Vec<(f64, f64)> = Vec::new();
        for (k, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => run.push((a.x((s.first_layer + k) as f64), a.y(*v))),
                None => {
                    if run.len() > 1 {
                        c.line(&run, color, 1.5)?;
                    }
                    run.clear();
                }
            }
        }
        if run.len() > 1 {
            c.line(&run, color, 1.5)?;
        }
        for (k, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                c.circle(
                    a.x((s.first_layer + k) as f64),
                    a.y(*v),
                    2.0,
                    Some(color),
                    None,
                )?;
            }
        }
        if let Some(g) = s.centre_of_gravity() {
            let x = a.x(g);
            c.polygon(
                &[
                    (x, a.y1 + 1.0),
                    (x - 4.0, a.y1 + marker_h),
                    (x + 4.0, a.y1 + marker_h),
                ],
                color,
            )?;
            c.dashed(&[(x, a.y0), (x, a.y1)], color, 0.75)?;
        }
    }

    // Gains: bars grouped by layer, one per series.
    let b = Axes {
        x0,
        y0: gain_y0,
        x1,
        y1: bottom,
        x_range,
        y_range: (g_lo, g_hi),
    };
    draw::y_axis(c, &b, &gain_ticks, MARGIN, "Gain")?;
    c.line(&[(b.x0, b.y(0.0)), (b.x1, b.y(0.0))], palette::MUTED, 0.75)?;
    let slot = (b.x1 - b.x0) / (last - first + 1) as f64;
    let bar_w = (slot * 0.8 / p.series.len() as f64).max(1.0);
    for (i, s) in p.series.iter().enumerate() {
        let color = palette::categorical(i);
        for (k, g) in s.gains().iter().enumerate() {
            let Some(g) = g else { continue };
            let layer = (s.first_layer + k + 1) as f64;
            let left = b.x(layer) - slot * 0.4 + i as f64 * bar_w;
            let (top, base) = (b.y(g.max(0.0)), b.y(g.min(0.0)));
            c.fill_rect(left, top, left + bar_w, base.max(top + 0.5), color)?;
        }
    }
    let layer_ticks: Vec<f64> = draw::thinned_labels(last - first + 1, slot, 22.0)
        .into_iter()
        .map(|l| (first + l - 1) as f64)
        .collect();
    let layer_labels: Vec<String> = layer_ticks.iter().map(|l| format!("{l}")).collect();
    draw::x_axis(c, &b, &layer_ticks, &layer_labels, "Layer (0 = embeddings)")?;
    draw::legend(c, w - MARGIN, a.y0, &entries)?;
    c.text(
        "▲ centre of gravity",
        w - MARGIN - legend_w,
        a.y0 + 4.0 + font::TICK * 1.5 * (entries.len() as f64) + 12.0,
        Txt::new(font::SMALL)
            .color(palette::MUTED)
            .anchor(HPos::Left, VPos::Top),
    )
}

pub(crate) fn data(p: &ProbingPlot) -> DataTable {
    let mut t = DataTable::new(&["series", "layer", "score", "gain", "centre_of_gravity"]);
    for s in &p.series {
        let g = s.centre_of_gravity();
        let gains = s.gains();
        for (k, v) in s.values.iter().enumerate() {
            let gain = if k == 0 { None } else { gains[k - 1] };
            t.row(vec![
                s.label.clone(),
                (s.first_layer + k).to_string(),
                opt_num(*v),
                opt_num(gain),
                g.map_or_else(String::new, num),
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

    fn fixture() -> ProbingPlot {
        ProbingPlot {
            series: vec![
                ProbeSeries {
                    label: "ss3 accuracy".into(),
                    first_layer: 0,
                    values: vec![Some(0.5), Some(0.6), Some(0.7), Some(0.65)],
                },
                ProbeSeries {
                    label: "contacts precision at l5".into(),
                    first_layer: 1,
                    values: vec![Some(0.1), Some(0.3), Some(0.2)],
                },
            ],
        }
    }

    #[test]
    fn centre_of_gravity_and_gains() {
        let p = fixture();
        // (0·0.5 + 1·0.6 + 2·0.7 + 3·0.65) / 2.45
        let g = p.series[0].centre_of_gravity().unwrap();
        assert!((g - 3.95 / 2.45).abs() < 1e-12, "{g}");
        let g = p.series[1].centre_of_gravity().unwrap();
        assert!((g - (0.1 + 0.6 + 0.6) / 0.6).abs() < 1e-12, "{g}");
        let gains = p.series[0].gains();
        assert_eq!(gains.len(), 3);
        assert!((gains[2].unwrap() + 0.05).abs() < 1e-12);
    }

    #[test]
    fn draws_lines_markers_and_gain_bars() {
        let fig = probing_plot("probing", "Probing", &fixture()).unwrap();
        let el = render_checked(&fig);
        assert_eq!(
            count_text(&el, "ss3 accuracy (centre 1.6)"),
            1,
            "{:?}",
            texts(&el)
        );
        assert_eq!(count_text(&el, "Layer (0 = embeddings)"), 1);
        assert_eq!(el.iter().filter(|e| e.tag == "circle").count(), 7);
        assert_eq!(el.iter().filter(|e| e.tag == "polygon").count(), 2);
        assert_eq!(fig.data_csv().lines().count(), 1 + 7);
        assert!(fig.caption().contains("centre of gravity"));
    }

    #[test]
    fn from_frame_reads_a_probing_table() {
        let df = df!(
            "task" => ["ss3", "ss3", "ss3", "ss3"],
            "layer" => [0i64, 1, 0, 1],
            "split" => ["test", "test", "train", "train"],
            "metric" => ["accuracy", "accuracy", "accuracy", "accuracy"],
            "value" => [0.5, 0.7, 0.9, 0.95],
        )
        .unwrap();
        let p = ProbingPlot::from_frame(&df, "test", None).unwrap();
        assert_eq!(p.series.len(), 1);
        assert_eq!(p.series[0].values, vec![Some(0.5), Some(0.7)]);
        assert!(ProbingPlot::from_frame(&df, "test", Some(&[("ss3", "f1")])).is_err());
        let empty = ProbingPlot { series: vec![] };
        assert!(probing_plot("p", "", &empty).is_err());
    }
}
