//! The top-k heads of one property: proportion of attention as bars labelled `L-H` (1-based),
//! 95 % Wilson score intervals, and the background rate as a dashed line.

use super::draw::{self, font, layout, Axes, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for a proportion `p` observed over `n` trials (here: attention edges,
/// possibly weighted, so `n` need not be whole). None when `n` ≤ 0 or `p` is outside [0, 1].
pub fn wilson_interval(p: f64, n: f64, z: f64) -> Option<(f64, f64)> {
    if !(n.is_finite() && n > 0.0 && (0.0..=1.0).contains(&p) && z.is_finite()) {
        return None;
    }
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// One head: 0-based layer and head, its proportion and the edges it was computed over.
#[derive(Debug, Clone, PartialEq)]
pub struct TopHead {
    pub layer: usize,
    pub head: usize,
    pub proportion: f64,
    pub n_edges: f64,
}

/// The best heads of one property, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopHeads {
    pub property: String,
    pub heads: Vec<TopHead>,
    /// The property's share of all attention (the rate a head without preference would show).
    pub background: Option<f64>,
}

impl TopHeads {
    /// Reads a `<stem>.top` table (`property, rank, layer, head, proportion, background,
    /// n_edges`), keeping `property`'s rows in rank order.
    pub fn from_frame(df: &DataFrame, property: &str) -> Result<TopHeads> {
        const TABLE: &str = schema::TOP_HEADS.name;
        schema::TOP_HEADS.require_columns(
            df,
            TABLE,
            &[
                "property",
                "rank",
                "layer",
                "head",
                "proportion",
                "background",
                "n_edges",
            ],
        )?;
        let props = columns::strings(df, TABLE, "property")?;
        let rank = columns::integers(df, TABLE, "rank")?;
        let layer = columns::integers(df, TABLE, "layer")?;
        let head = columns::integers(df, TABLE, "head")?;
        let proportion = columns::floats(df, TABLE, "proportion")?;
        let background = columns::floats(df, TABLE, "background")?;
        let n_edges = columns::floats(df, TABLE, "n_edges")?;
        let mut rows: Vec<usize> = (0..df.height())
            .filter(|&i| props[i].as_deref() == Some(property))
            .collect();
        if rows.is_empty() {
            return Err(Error::invalid(format!(
                "top-heads table has no rows for property `{property}`"
            )));
        }
        rows.sort_by_key(|&i| rank[i]);
        let mut heads = Vec::with_capacity(rows.len());
        for &i in &rows {
            if layer[i] < 0 || head[i] < 0 {
                return Err(Error::invalid(format!(
                    "top-heads table: negative layer/head {}/{} in row {i}",
                    layer[i], head[i]
                )));
            }
            heads.push(TopHead {
                layer: layer[i] as usize,
                head: head[i] as usize,
                proportion: proportion[i],
                n_edges: n_edges[i],
            });
        }
        let background = Some(background[rows[0]]).filter(|b| b.is_finite());
        let top = TopHeads {
            property: property.to_string(),
            heads,
            background,
        };
        top.validate()?;
        Ok(top)
    }

    fn validate(&self) -> Result<()> {
        if self.heads.is_empty() {
            return Err(Error::invalid(format!(
                "top heads of `{}`: no head to draw",
                self.property
            )));
        }
        for h in &self.heads {
            if !(0.0..=1.0).contains(&h.proportion) {
                return Err(Error::invalid(format!(
                    "top heads of `{}`: layer {} head {} has proportion {} (not in 0..1)",
                    self.property, h.layer, h.head, h.proportion
                )));
            }
            if !(h.n_edges.is_finite() && h.n_edges > 0.0) {
                return Err(Error::invalid(format!(
                    "top heads of `{}`: layer {} head {} has n_edges {} (needs > 0 for its interval)",
                    self.property, h.layer, h.head, h.n_edges
                )));
            }
        }
        if let Some(b) = self.background {
            if !(0.0..=1.0).contains(&b) {
                return Err(Error::invalid(format!(
                    "top heads of `{}`: background {b} is not in 0..1",
                    self.property
                )));
            }
        }
        Ok(())
    }
}

fn label(h: &TopHead) -> String {
    format!("{}-{}", h.layer + 1, h.head + 1)
}

/// Bars of the top heads with 95 % Wilson intervals and the background rate.
pub fn top_heads(name: &str, title: &str, top: &TopHeads) -> Result<Figure> {
    top.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 300),
        Kind::TopHeads(top.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    top: &TopHeads,
) -> Result<()> {
    top.validate()?;
    let y0 = draw::title(c, title)?;
    let intervals: Vec<(f64, f64)> = top
        .heads
        .iter()
        .map(|h| wilson_interval(h.proportion, h.n_edges, Z95).unwrap_or((0.0, 0.0)))
        .collect();
    let y_max = intervals
        .iter()
        .map(|i| i.1)
        .chain(top.background)
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let labels: Vec<String> = top.heads.iter().map(label).collect();
    let tick = Txt::new(font::TICK);
    let widest = c.max_text_width(&labels, tick)?;

    // Tick labels lie in 0 … 1 with at most three decimals: none is wider than "0.000".
    let x0 = MARGIN + draw::y_axis_width(c, &["0.000".to_string()])?;
    let x1 = w - MARGIN;
    let slot = (x1 - x0) / top.heads.len() as f64;
    let vertical_labels = widest + 4.0 > slot;
    let labels_h = if vertical_labels {
        widest + 6.0
    } else {
        font::TICK * layout::LINE + 6.0
    };
    let y1 = h - MARGIN - labels_h - font::LABEL * layout::TITLE_LINE - 3.0;
    // Headroom for the legend: the tallest interval ends below it.
    let legend_rows = 2 + top.background.is_some() as usize;
    let free = (y1 - y0) - draw::legend_height(legend_rows) - 6.0;
    if slot < 3.0 || free < 30.0 {
        return Err(Error::invalid(format!(
            "figure is too small for {} bars",
            top.heads.len()
        )));
    }
    let y_hi = (y_max * (y1 - y0) / free).max(y_max * 1.08);
    let ticks = draw::nice_ticks(0.0, y_hi, 5);
    let a = Axes {
        x0,
        y0,
        x1,
        y1,
        x_range: (0.0, top.heads.len() as f64),
        y_range: (0.0, y_hi),
    };
    draw::y_axis(c, &a, &ticks, MARGIN, "Proportion of attention")?;

    for (i, (hd, (lo, hi))) in top.heads.iter().zip(&intervals).enumerate() {
        let xm = a.x(i as f64 + 0.5);
        let half = slot * 0.32;
        c.fill_rect(xm - half, a.y(hd.proportion), xm + half, a.y1, palette::BAR)?;
        let cap = (half * 0.5).min(5.0);
        c.line(&[(xm, a.y(*lo)), (xm, a.y(*hi))], palette::INK, 1.0)?;
        c.line(
            &[(xm - cap, a.y(*lo)), (xm + cap, a.y(*lo))],
            palette::INK,
            1.0,
        )?;
        c.line(
            &[(xm - cap, a.y(*hi)), (xm + cap, a.y(*hi))],
            palette::INK,
            1.0,
        )?;
        if vertical_labels {
            c.text(
                &labels[i],
                xm,
                a.y1 + 4.0,
                tick.vertical().anchor(HPos::Right, VPos::Center),
            )?;
        } else {
            c.text(
                &labels[i],
                xm,
                a.y1 + layout::TICK_GAP,
                tick.anchor(HPos::Center, VPos::Top),
            )?;
        }
    }
    c.line(
        &[(a.x0, a.y1), (a.x1, a.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    c.text(
        "Head (layer-head, 1-based)",
        (a.x0 + a.x1) / 2.0,
        a.y1 + labels_h + 2.0,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
    )?;

    let mut entries = vec![
        (Key::Bar(palette::BAR), top.property.replace('_', " ")),
        (
            Key::Whisker(palette::INK),
            "95 % Wilson interval".to_string(),
        ),
    ];
    if let Some(b) = top.background {
        c.dashed(&[(a.x0, a.y(b)), (a.x1, a.y(b))], palette::OVERLAY, 1.25)?;
        entries.push((
            Key::Dashed(palette::OVERLAY),
            format!("background rate ({b:.3})"),
        ));
    }
    draw::legend(c, a.x1 - 2.0, a.y0, &entries)
}

pub(crate) fn data(top: &TopHeads) -> DataTable {
    let mut t = DataTable::new(&[
        "property",
        "rank",
        "label",
        "layer",
        "head",
        "proportion",
        "n_edges",
        "ci_low",
        "ci_high",
        "interval",
        "background",
    ]);
    for (i, h) in top.heads.iter().enumerate() {
        let ci = wilson_interval(h.proportion, h.n_edges, Z95);
        t.row(vec![
            top.property.clone(),
            (i + 1).to_string(),
            label(h),
            (h.layer + 1).to_string(),
            (h.head + 1).to_string(),
            num(h.proportion),
            num(h.n_edges),
            ci.map_or_else(String::new, |c| num(c.0)),
            ci.map_or_else(String::new, |c| num(c.1)),
            "Wilson score 95%".into(),
            top.background.map_or_else(String::new, num),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    fn fixture() -> TopHeads {
        TopHeads {
            property: "binding_site".into(),
            heads: (0..5)
                .map(|i| TopHead {
                    layer: 10 + i,
                    head: i,
                    proportion: 0.5 - i as f64 * 0.05,
                    n_edges: 200.0 + 50.0 * i as f64,
                })
                .collect(),
            background: Some(0.1),
        }
    }

    #[test]
    fn wilson_interval_matches_the_textbook_value() {
        // p = 0.5, n = 100: 0.4038 – 0.5962.
        let (lo, hi) = wilson_interval(0.5, 100.0, Z95).unwrap();
        assert!((lo - 0.4038).abs() < 1e-4 && (hi - 0.5962).abs() < 1e-4);
        // Never outside [0, 1], even at p = 0.
        let (lo, hi) = wilson_interval(0.0, 10.0, Z95).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 0.35);
        assert!(wilson_interval(0.5, 0.0, Z95).is_none());
        assert!(wilson_interval(1.5, 10.0, Z95).is_none());
    }

    #[test]
    fn top_heads_draws_one_bar_and_label_per_head_and_the_background() {
        let fig = top_heads("top", "Top heads", &fixture()).unwrap();
        let el = render_checked(&fig);
        // Five bars plus the legend key.
        assert_eq!(rects_filled(&el, palette::BAR), 6);
        for l in ["11-1", "12-2", "13-3", "14-4", "15-5"] {
            assert_eq!(count_text(&el, l), 1, "{l}");
        }
        assert_eq!(count_text(&el, "95 % Wilson interval"), 1);
        assert_eq!(
            count_text(&el, "background rate (0.100)"),
            1,
            "{:?}",
            texts(&el)
        );
        assert!(fig.caption().contains("95 % Wilson score interval"));
        let csv = fig.data_csv();
        assert_eq!(csv.lines().count(), 6);
        assert!(csv.lines().nth(1).unwrap().contains("Wilson score 95%"));
    }

    #[test]
    fn top_heads_rejects_bad_input() {
        let mut t = fixture();
        t.heads.clear();
        assert!(top_heads("t", "", &t).is_err());
        let mut t = fixture();
        t.heads[0].proportion = f64::NAN;
        assert!(top_heads("t", "", &t).is_err());
        let mut t = fixture();
        t.heads[1].n_edges = 0.0;
        assert!(top_heads("t", "", &t).is_err());
    }

    #[test]
    fn from_frame_keeps_one_property_in_rank_order() {
        let df = df!(
            "property" => ["a", "a", "b"],
            "rank" => [2i64, 1, 1],
            "layer" => [0i64, 3, 1],
            "head" => [1i64, 2, 0],
            "proportion" => [0.2, 0.4, 0.9],
            "background" => [0.05, 0.05, 0.3],
            "enrichment" => [4.0, 8.0, 3.0],
            "n_edges" => [100.0, 150.0, 10.0],
        )
        .unwrap();
        let t = TopHeads::from_frame(&df, "a").unwrap();
        assert_eq!(t.heads.len(), 2);
        assert_eq!((t.heads[0].layer, t.heads[0].head), (3, 2));
        assert_eq!(t.background, Some(0.05));
        assert!(TopHeads::from_frame(&df, "zzz").is_err());
        assert!(TopHeads::from_frame(&df.drop("n_edges").unwrap(), "a").is_err());
    }
}
