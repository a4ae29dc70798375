//! xai-proteins' shuffled-weights control as a figure: a layer × head grid marking the heads
//! significant in the trained model only, in the control only, in both, or in neither, with the
//! Jaccard overlap of the two sets in the legend.

use super::draw::{self, font, layout, Canvas, Key, Txt, MARGIN};
use super::heatmap::{grid_axes, GridBox};
use super::palette;
use super::{DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::RGBColor;
use std::collections::BTreeSet;

/// Significant heads (`(layer, head)`, 0-based) of a trained model and of its control.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadOverlap {
    pub num_layers: usize,
    pub num_heads: usize,
    pub trained: BTreeSet<(i64, i64)>,
    pub control: BTreeSet<(i64, i64)>,
    /// Legend names of the two sets, e.g. "fine-tuned" and "shuffled weights".
    pub trained_label: String,
    pub control_label: String,
}

/// Where a head is significant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Membership {
    Neither,
    TrainedOnly,
    ControlOnly,
    Both,
}

// Both sets in black so shared heads stand out; each set alone in its own Okabe–Ito hue.
const TRAINED_ONLY: RGBColor = palette::CATEGORICAL[0];
const CONTROL_ONLY: RGBColor = palette::CATEGORICAL[1];
const BOTH: RGBColor = palette::CATEGORICAL[6];

impl HeadOverlap {
    /// Jaccard overlap |A ∩ B| / |A ∪ B| (NaN when neither set has a head).
    pub fn jaccard(&self) -> f64 {
        crate::stats::jaccard_index(&self.trained, &self.control)
    }

    fn membership(&self, layer: usize, head: usize) -> Membership {
        let key = (layer as i64, head as i64);
        match (self.trained.contains(&key), self.control.contains(&key)) {
            (true, true) => Membership::Both,
            (true, false) => Membership::TrainedOnly,
            (false, true) => Membership::ControlOnly,
            (false, false) => Membership::Neither,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.num_layers == 0 || self.num_heads == 0 {
            return Err(Error::invalid("a head overlap needs at least one head"));
        }
        let inside = |&(l, h): &(i64, i64)| {
            (0..self.num_layers as i64).contains(&l) && (0..self.num_heads as i64).contains(&h)
        };
        if let Some((l, h)) = self
            .trained
            .iter()
            .chain(&self.control)
            .find(|x| !inside(x))
        {
            return Err(Error::invalid(format!(
                "head ({l}, {h}) lies outside {} layers × {} heads",
                self.num_layers, self.num_heads
            )));
        }
        Ok(())
    }
}

/// The overlap grid of `overlap`.
pub fn head_overlap(name: &str, title: &str, overlap: &HeadOverlap) -> Result<Figure> {
    overlap.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 400),
        Kind::HeadOverlap(overlap.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    o: &HeadOverlap,
) -> Result<()> {
    let top = draw::title(c, title)?;
    let count = |m: Membership| {
        (0..o.num_layers)
            .flat_map(|l| (0..o.num_heads).map(move |hd| (l, hd)))
            .filter(|&(l, hd)| o.membership(l, hd) == m)
            .count()
    };
    let entries = vec![
        (
            Key::Bar(TRAINED_ONLY),
            format!(
                "{} only ({})",
                o.trained_label,
                count(Membership::TrainedOnly)
            ),
        ),
        (
            Key::Bar(CONTROL_ONLY),
            format!(
                "{} only ({})",
                o.control_label,
                count(Membership::ControlOnly)
            ),
        ),
        (
            Key::Bar(BOTH),
            format!("both ({})", count(Membership::Both)),
        ),
        (
            Key::Bar(palette::GRID),
            format!("neither ({})", count(Membership::Neither)),
        ),
    ];
    let jaccard = o.jaccard();
    let jaccard_text = if jaccard.is_finite() {
        format!("Jaccard overlap {jaccard:.2}")
    } else {
        "Jaccard overlap undefined (no significant head)".to_string()
    };
    let tick = Txt::new(font::TICK);
    let labels: Vec<String> = entries
        .iter()
        .map(|(_, s)| s.clone())
        .chain([jaccard_text.clone()])
        .collect();
    let legend_w = 6.0 + 18.0 + 5.0 + c.max_text_width(&labels, tick)? + 6.0;

    let layer_labels: Vec<String> = (1..=o.num_layers).map(|l| l.to_string()).collect();
    let gx0 =
        MARGIN + font::LABEL * layout::TITLE_LINE + c.max_text_width(&layer_labels, tick)? + 6.0;
    let gx1 = w - MARGIN - legend_w - layout::PANEL_GAP;
    let x_labels_h = font::TICK * layout::LINE + 6.0;
    let x_title_h = font::LABEL * layout::TITLE_LINE + 2.0;
    let gy0 = top + 4.0;
    let gy1 = h - MARGIN - x_title_h - x_labels_h;
    let (cell_w, cell_h) = (
        (gx1 - gx0) / o.num_heads as f64,
        (gy1 - gy0) / o.num_layers as f64,
    );
    if cell_w < 2.0 || cell_h < 2.0 {
        return Err(Error::invalid(format!(
            "figure is too small for {} layers × {} heads",
            o.num_layers, o.num_heads
        )));
    }
    for l in 0..o.num_layers {
        for hd in 0..o.num_heads {
            let colour = match o.membership(l, hd) {
                Membership::Neither => palette::GRID,
                Membership::TrainedOnly => TRAINED_ONLY,
                Membership::ControlOnly => CONTROL_ONLY,
                Membership::Both => BOTH,
            };
            let (x0, x1) = (gx0 + hd as f64 * cell_w, gx0 + (hd + 1) as f64 * cell_w);
            let (y0, y1) = (gy1 - (l + 1) as f64 * cell_h, gy1 - l as f64 * cell_h);
            c.fill_rect(x0, y0, x1, y1, colour)?;
            // White separators: neighbouring heads of one colour stay countable.
            c.outline_rect(x0, y0, x1, y1, palette::WHITE, 1.0)?;
        }
    }
    c.outline_rect(gx0, gy0, gx1, gy1, palette::INK, layout::AXIS_STROKE)?;
    let cells = GridBox {
        x0: gx0,
        y0: gy0,
        x1: gx1,
        y1: gy1,
        cell_w,
        cell_h,
    };
    grid_axes(c, (o.num_layers, o.num_heads), &cells, gy1 + x_labels_h)?;
    draw::legend(c, w - MARGIN, gy0, &entries)?;
    c.text(
        &jaccard_text,
        w - MARGIN - legend_w,
        gy0 + draw::legend_height(entries.len()) + 8.0,
        tick,
    )?;
    Ok(())
}

pub(crate) fn caption(o: &HeadOverlap) -> String {
    format!(
        "Shuffled-weights control (xai-proteins): heads significant for the {} model and for the \
         {} one, of {} layers × {} heads; Jaccard overlap |A ∩ B| / |A ∪ B| = {}. An overlap \
         near 0 says the significant heads come from what the model learned.",
        o.trained_label,
        o.control_label,
        o.num_layers,
        o.num_heads,
        super::num(o.jaccard())
    )
}

pub(crate) fn data(o: &HeadOverlap) -> DataTable {
    let mut t = DataTable::new(&["layer", "head", "trained", "control"]);
    for l in 0..o.num_layers {
        for hd in 0..o.num_heads {
            let key = (l as i64, hd as i64);
            t.row(vec![
                (l + 1).to_string(),
                (hd + 1).to_string(),
                o.trained.contains(&key).to_string(),
                o.control.contains(&key).to_string(),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{count_text, rects_filled, render_checked};

    fn overlap() -> HeadOverlap {
        HeadOverlap {
            num_layers: 3,
            num_heads: 4,
            trained: [(0, 0), (1, 2), (2, 3)].into_iter().collect(),
            control: [(1, 2), (0, 1)].into_iter().collect(),
            trained_label: "trained".into(),
            control_label: "shuffled".into(),
        }
    }

    #[test]
    fn cells_take_the_colour_of_their_sets_and_the_legend_counts_them() {
        let fig = head_overlap("overlap", "Significant heads", &overlap()).unwrap();
        let svg = render_checked(&fig);
        // Cells plus one legend swatch each.
        assert_eq!(rects_filled(&svg, TRAINED_ONLY), 2 + 1);
        assert_eq!(rects_filled(&svg, CONTROL_ONLY), 1 + 1);
        assert_eq!(rects_filled(&svg, BOTH), 1 + 1);
        assert_eq!(count_text(&svg, "trained only (2)"), 1);
        assert_eq!(count_text(&svg, "shuffled only (1)"), 1);
        assert_eq!(count_text(&svg, "both (1)"), 1);
        assert_eq!(count_text(&svg, "neither (8)"), 1);
        // |{(1,2)}| / |{(0,0),(0,1),(1,2),(2,3)}| = 0.25.
        assert_eq!(count_text(&svg, "Jaccard overlap 0.25"), 1);
        assert!(fig.caption().contains("= 0.25"));
        assert_eq!(fig.data_csv().lines().count(), 1 + 12);
    }

    #[test]
    fn heads_outside_the_grid_are_refused() {
        let mut o = overlap();
        o.control.insert((3, 0));
        let err = head_overlap("x", "x", &o).unwrap_err().to_string();
        assert!(
            err.contains("(3, 0) lies outside 3 layers × 4 heads"),
            "{err}"
        );
    }
}
