//! −log10 p per annotation type or test as horizontal bars, the significance threshold dashed,
//! and n beside each bar.

use super::draw::{self, font, layout, Axes, Canvas, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::columns;
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;

/// One bar: what was tested, its p-value (NaN when untestable) and sample size.
#[derive(Debug, Clone, PartialEq)]
pub struct SignificanceBar {
    pub label: String,
    pub p: f64,
    pub n: usize,
}

/// Bars and the threshold they are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct SignificanceBars {
    pub bars: Vec<SignificanceBar>,
    /// Significance level drawn as the dashed line (0.05).
    pub alpha: f64,
    /// What the p-values are, e.g. "t-test p (FDR)"; names the x axis.
    pub p_label: String,
}

/// p-values below this print as their cap: −log10 of the smallest positive double.
const P_FLOOR: f64 = f64::MIN_POSITIVE;

/// The p-value columns of a relevance-stats table with their axis names.
const STATS_P_COLUMNS: [(&str, &str); 4] = [
    ("t_p", "t-test"),
    ("t_p_fdr", "t-test (FDR)"),
    ("wilcoxon_p", "Wilcoxon"),
    ("wilcoxon_p_fdr", "Wilcoxon (FDR)"),
];

impl SignificanceBars {
    pub fn new(bars: Vec<SignificanceBar>, p_label: &str) -> Self {
        SignificanceBars {
            bars,
            alpha: 0.05,
            p_label: p_label.to_string(),
        }
    }

    /// From a relevance-stats table, the row of one head (`layer`, `head` 0-based; -1, -1 for
    /// the embedding level). With `label_column`, every row of that head is a bar (labelled by
    /// that column, p from `p_column`); without, the head's t-test and Wilcoxon p-values (raw and
    /// FDR) are the bars. n is `n_r` (proteins with a defined correlation).
    pub fn from_relevance_stats(
        df: &DataFrame,
        layer: i64,
        head: i64,
        label_column: Option<&str>,
        p_column: &str,
    ) -> Result<SignificanceBars> {
        const TABLE: &str = "relevance-stats";
        let layers = columns::integers(df, TABLE, "layer")?;
        let heads = columns::integers(df, TABLE, "head")?;
        let n_r = columns::integers(df, TABLE, "n_r")?;
        let rows: Vec<usize> = (0..df.height())
            .filter(|&i| layers[i] == layer && heads[i] == head)
            .collect();
        if rows.is_empty() {
            return Err(Error::invalid(format!(
                "relevance-stats table has no row for layer {layer} head {head}"
            )));
        }
        let n = |i: usize| n_r[i].max(0) as usize;
        let bars = match label_column {
            Some(label_column) => {
                let labels = columns::strings(df, TABLE, label_column)?;
                let p = columns::floats(df, TABLE, p_column)?;
                rows.iter()
                    .map(|&i| SignificanceBar {
                        label: labels[i].clone().unwrap_or_default(),
                        p: p[i],
                        n: n(i),
                    })
                    .collect()
            }
            None => {
                if rows.len() > 1 {
                    return Err(Error::invalid(format!(
                        "relevance-stats table has {} rows for layer {layer} head {head}: name the column that tells them apart",
                        rows.len()
                    )));
                }
                let i = rows[0];
                let mut bars = Vec::new();
                for (column, label) in STATS_P_COLUMNS {
                    let p = columns::floats(df, TABLE, column)?;
                    bars.push(SignificanceBar {
                        label: label.to_string(),
                        p: p[i],
                        n: n(i),
                    });
                }
                bars
            }
        };
        let p_label = if label_column.is_some() {
            p_column.replace('_', " ")
        } else {
            "p".to_string()
        };
        let s = SignificanceBars::new(bars, &p_label);
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if self.bars.is_empty() {
            return Err(Error::invalid("significance bars: nothing to draw"));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::invalid(format!(
                "significance level {} is not in (0, 1)",
                self.alpha
            )));
        }
        if let Some(b) = self
            .bars
            .iter()
            .find(|b| !(b.p.is_nan() || (0.0..=1.0).contains(&b.p)))
        {
            return Err(Error::invalid(format!(
                "significance bars: `{}` has p = {} (not in 0..1)",
                b.label, b.p
            )));
        }
        Ok(())
    }
}

fn minus_log10(p: f64) -> Option<f64> {
    (!p.is_nan()).then(|| -(p.max(P_FLOOR)).log10())
}

/// Horizontal −log10 p bars with the `alpha` line.
pub fn significance_bars(name: &str, title: &str, bars: &SignificanceBars) -> Result<Figure> {
    bars.validate()?;
    let height = (80.0 + 22.0 * bars.bars.len() as f64).clamp(160.0, 2000.0) as u32;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, height),
        Kind::Significance(bars.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    s: &SignificanceBars,
) -> Result<()> {
    s.validate()?;
    let y0 = draw::title(c, title)?;
    let threshold = -s.alpha.log10();
    let values: Vec<Option<f64>> = s.bars.iter().map(|b| minus_log10(b.p)).collect();
    let max = values.iter().flatten().fold(threshold, |m, v| m.max(*v));
    let ticks = draw::nice_ticks(0.0, max * 1.12, 5);
    let x_hi = ticks.last().copied().unwrap_or(max).max(max * 1.12);
    let tick = Txt::new(font::TICK);
    let labels: Vec<&str> = s.bars.iter().map(|b| b.label.as_str()).collect();
    let x0 = MARGIN + c.max_text_width(&labels, tick)? + 8.0;
    // Room right of the longest bar for its n.
    let n_w = c.max_text_width(
        &s.bars
            .iter()
            .map(|b| format!("n = {}", b.n))
            .collect::<Vec<_>>(),
        Txt::new(font::SMALL),
    )? + 6.0;
    let x1 = w - MARGIN - n_w;
    let y1 = h - MARGIN - draw::X_AXIS_HEIGHT;
    let slot = (y1 - y0 - font::SMALL * 1.5) / s.bars.len() as f64;
    if x1 - x0 < 60.0 || slot < 6.0 {
        return Err(Error::invalid(format!(
            "figure is too small for {} significance bars",
            s.bars.len()
        )));
    }
    // The threshold's label sits in a strip above the bars.
    let bars_top = y0 + font::SMALL * 1.5;
    let a = Axes {
        x0,
        y0: bars_top,
        x1,
        y1,
        x_range: (0.0, x_hi),
        y_range: (0.0, 1.0),
    };
    for v in &ticks {
        c.line(
            &[(a.x(*v), a.y0), (a.x(*v), a.y1)],
            palette::GRID,
            layout::AXIS_STROKE,
        )?;
    }
    let labels_txt: Vec<String> = draw::tick_labels(&ticks);
    draw::x_axis(c, &a, &ticks, &labels_txt, &format!("−log10 {}", s.p_label))?;
    c.line(
        &[(a.x0, a.y0), (a.x0, a.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    // The threshold goes under bars and labels, so n labels stay readable where they cross it.
    c.dashed(
        &[(a.x(threshold), a.y0), (a.x(threshold), a.y1)],
        palette::OVERLAY,
        1.25,
    )?;
    let small = Txt::new(font::SMALL).color(palette::MUTED);
    let tx = a.x(threshold);
    // A label that would cross the threshold line starts just right of it instead.
    let n_label = |text: &str, x: f64, y: f64| -> Result<()> {
        let tw = c.text_width(text, small)?;
        let x = if x < tx + 3.0 && x + tw > tx - 3.0 {
            tx + 4.0
        } else {
            x
        };
        c.text(text, x, y, small.anchor(HPos::Left, VPos::Center))
    };
    for (i, (b, v)) in s.bars.iter().zip(&values).enumerate() {
        let yc = a.y0 + (i as f64 + 0.5) * slot;
        let half = (slot * 0.35).min(9.0);
        c.text(
            &b.label,
            x0 - 6.0,
            yc,
            tick.anchor(HPos::Right, VPos::Center),
        )?;
        let n_text = format!("n = {}", b.n);
        match v {
            Some(v) => {
                let color = if *v >= threshold {
                    palette::BAR
                } else {
                    palette::MASKED
                };
                let end = a.x(*v).max(a.x0 + 1.0);
                c.fill_rect(a.x0, yc - half, end, yc + half, color)?;
                n_label(&n_text, end + 4.0, yc)?;
            }
            None => n_label(&format!("not tested ({n_text})"), a.x0 + 4.0, yc)?,
        }
    }
    // Key for the bar colours, right-aligned in the strip above the bars.
    let key = Txt::new(font::SMALL).anchor(HPos::Left, VPos::Center);
    let key_y = y0 + font::SMALL * 0.6;
    let mut kx = a.x1;
    for (color, text) in [
        (palette::MASKED, format!("p ≥ {}", s.alpha)),
        (palette::BAR, format!("p < {}", s.alpha)),
    ] {
        kx -= c.text_width(&text, key)? + 14.0;
        c.fill_rect(kx, key_y - 4.0, kx + 8.0, key_y + 4.0, color)?;
        c.text(&text, kx + 11.0, key_y, key)?;
        kx -= 8.0;
    }
    c.text(
        &format!("p = {}", s.alpha),
        tx,
        y0,
        Txt::new(font::SMALL)
            .color(palette::OVERLAY)
            .anchor(HPos::Center, VPos::Top),
    )
}

pub(crate) fn data(s: &SignificanceBars) -> DataTable {
    let mut t = DataTable::new(&["label", "p", "minus_log10_p", "n", "alpha", "significant"]);
    for b in &s.bars {
        t.row(vec![
            b.label.clone(),
            num(b.p),
            minus_log10(b.p).map_or_else(String::new, num),
            b.n.to_string(),
            num(s.alpha),
            if b.p.is_nan() {
                String::new()
            } else {
                (b.p < s.alpha).to_string()
            },
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    fn fixture() -> SignificanceBars {
        SignificanceBars::new(
            vec![
                SignificanceBar {
                    label: "Binding site".into(),
                    p: 1e-6,
                    n: 42,
                },
                SignificanceBar {
                    label: "Disulfide bond".into(),
                    p: 0.2,
                    n: 17,
                },
                SignificanceBar {
                    label: "CDR-H3".into(),
                    p: f64::NAN,
                    n: 3,
                },
                SignificanceBar {
                    label: "Active site".into(),
                    p: 0.0,
                    n: 8,
                },
            ],
            "t-test p (FDR)",
        )
    }

    #[test]
    fn bars_threshold_and_n_labels() {
        let fig = significance_bars("sig", "Relevance on annotations", &fixture()).unwrap();
        let el = render_checked(&fig);
        // Significant bars blue, the non-significant one grey, the NaN one none (+1 key each).
        assert_eq!(rects_filled(&el, palette::BAR), 3);
        assert_eq!(rects_filled(&el, palette::MASKED), 2);
        assert_eq!(count_text(&el, "p ≥ 0.05"), 1);
        for t in [
            "n = 42",
            "n = 17",
            "n = 8",
            "not tested (n = 3)",
            "p = 0.05",
            "Binding site",
        ] {
            assert_eq!(count_text(&el, t), 1, "{t}: {:?}", texts(&el));
        }
        let csv = fig.data_csv();
        assert!(
            csv.contains("Binding site,0.000001,6,42,0.05,true"),
            "{csv}"
        );
        assert!(csv.contains("CDR-H3,,,3,0.05,\n"), "{csv}");
    }

    #[test]
    fn rejects_bad_p_values_and_empty_input() {
        let mut s = fixture();
        s.bars[0].p = 1.5;
        assert!(significance_bars("s", "", &s).is_err());
        let mut s = fixture();
        s.bars.clear();
        assert!(significance_bars("s", "", &s).is_err());
        let mut s = fixture();
        s.alpha = 0.0;
        assert!(significance_bars("s", "", &s).is_err());
    }

    #[test]
    fn from_relevance_stats_takes_one_heads_tests() {
        let df = df!(
            "layer" => [-1i64, 0],
            "head" => [-1i64, 3],
            "n_r" => [20i64, 18],
            "t_p" => [0.01, 0.5],
            "t_p_fdr" => [0.02, 0.6],
            "wilcoxon_p" => [0.03, 0.7],
            "wilcoxon_p_fdr" => [0.04, 0.8],
        )
        .unwrap();
        let s = SignificanceBars::from_relevance_stats(&df, -1, -1, None, "t_p").unwrap();
        assert_eq!(s.bars.len(), 4);
        assert_eq!(
            (s.bars[2].label.as_str(), s.bars[2].p, s.bars[2].n),
            ("Wilcoxon", 0.03, 20)
        );
        assert!(SignificanceBars::from_relevance_stats(&df, 5, 5, None, "t_p").is_err());
        assert!(SignificanceBars::from_relevance_stats(&df, 0, 3, Some("nope"), "t_p").is_err());
    }
}
