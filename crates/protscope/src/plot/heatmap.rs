//! Layer × head heatmap of one statistic (e.g. the proportion of attention on a property), with
//! masked heads hatched grey and, beside it, each layer's maximum as horizontal bars sharing the
//! layer axis (the BERTology figure).

use super::draw::{self, font, layout, Canvas, Txt, MARGIN};
use super::palette;
use super::{num, opt_num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::columns;
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;
use std::collections::BTreeSet;

/// Largest layer or head count a table may describe (a guard against corrupt indices).
const MAX_AXIS: i64 = 10_000;

/// One value per (layer, head), row-major by layer; `None` is masked (excluded, not
/// significant, undefined).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadGrid {
    pub num_layers: usize,
    pub num_heads: usize,
    /// `values[layer * num_heads + head]`, both 0-based.
    pub values: Vec<Option<f64>>,
    /// What the colour shows, e.g. "proportion of attention to CDR3".
    pub statistic: String,
    /// Unit of the statistic, e.g. "fraction" (empty when it has none).
    pub unit: String,
    /// What a masked cell means, e.g. "excluded: < 100 edges".
    pub mask_label: String,
    /// Fixed colour-scale range; `None` spans the unmasked values.
    pub value_range: Option<(f64, f64)>,
}

impl HeadGrid {
    /// Builds the grid from a per-head table (`layer`, `head` 0-based, `value_column`), keeping
    /// the rows of `property` when given (the table's `property` column must then exist).
    /// Rows with a negative layer or head (embedding level) are skipped. Cells are masked where
    /// `mask_column` is true, or false when it is written `!name` (e.g. `!significant`), and
    /// where the value is NaN or missing.
    pub fn from_frame(
        df: &DataFrame,
        value_column: &str,
        mask_column: Option<&str>,
        property: Option<&str>,
    ) -> Result<HeadGrid> {
        const TABLE: &str = "heads";
        let layers = columns::integers(df, TABLE, "layer")?;
        let heads = columns::integers(df, TABLE, "head")?;
        let values = columns::floats(df, TABLE, value_column)?;
        let mask = match mask_column {
            Some(name) => {
                let (column, masked_when) = match name.strip_prefix('!') {
                    Some(rest) => (rest, false),
                    None => (name, true),
                };
                let flags = columns::booleans(df, TABLE, column)?;
                flags.into_iter().map(|f| f == masked_when).collect()
            }
            None => vec![false; df.height()],
        };
        let keep: Vec<bool> = match property {
            Some(p) => columns::strings(df, TABLE, "property")?
                .into_iter()
                .map(|v| v.as_deref() == Some(p))
                .collect(),
            None => {
                if df.column("property").is_ok() {
                    let distinct: BTreeSet<Option<String>> =
                        columns::strings(df, TABLE, "property")?
                            .into_iter()
                            .collect();
                    if distinct.len() > 1 {
                        return Err(Error::invalid(format!(
                            "heads table holds {} properties: choose one",
                            distinct.len()
                        )));
                    }
                }
                vec![true; df.height()]
            }
        };
        let rows: Vec<usize> = (0..df.height())
            .filter(|&i| keep[i] && layers[i] >= 0 && heads[i] >= 0)
            .collect();
        if rows.is_empty() {
            return Err(Error::invalid(match property {
                Some(p) => format!("heads table has no per-head rows for property `{p}`"),
                None => "heads table has no per-head rows".to_string(),
            }));
        }
        let max_layer = rows.iter().map(|&i| layers[i]).max().unwrap_or(0);
        let max_head = rows.iter().map(|&i| heads[i]).max().unwrap_or(0);
        if max_layer >= MAX_AXIS || max_head >= MAX_AXIS {
            return Err(Error::invalid(format!(
                "heads table has layer {max_layer} / head {max_head}: not a model's grid (< {MAX_AXIS})"
            )));
        }
        let (num_layers, num_heads) = (max_layer as usize + 1, max_head as usize + 1);
        let mut grid: Vec<Option<Option<f64>>> = vec![None; num_layers * num_heads];
        for &i in &rows {
            let cell = layers[i] as usize * num_heads + heads[i] as usize;
            if grid[cell].is_some() {
                return Err(Error::invalid(format!(
                    "heads table has two rows for layer {} head {}{}",
                    layers[i],
                    heads[i],
                    property.map_or(String::new(), |p| format!(" of `{p}`"))
                )));
            }
            let v = values[i];
            grid[cell] = Some((!mask[i] && v.is_finite()).then_some(v));
        }
        let values = grid
            .into_iter()
            .enumerate()
            .map(|(cell, v)| {
                v.ok_or_else(|| {
                    Error::invalid(format!(
                        "heads table has no row for layer {} head {} (0-based)",
                        cell / num_heads,
                        cell % num_heads
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mask_label = match mask_column {
            Some(name) if name.starts_with('!') => format!("not {}", &name[1..]),
            Some(name) => name.to_string(),
            None => "undefined".to_string(),
        };
        Ok(HeadGrid {
            num_layers,
            num_heads,
            values,
            statistic: value_column.replace('_', " "),
            unit: String::new(),
            mask_label,
            value_range: None,
        })
    }

    /// Sets what the colour shows and its unit.
    pub fn with_statistic(mut self, statistic: &str, unit: &str) -> Self {
        self.statistic = statistic.to_string();
        self.unit = unit.to_string();
        self
    }

    /// Sets the legend text of masked cells.
    pub fn with_mask_label(mut self, label: &str) -> Self {
        self.mask_label = label.to_string();
        self
    }

    /// Fixes the colour scale (e.g. 0–1 for proportions, or one scale across figures).
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.value_range = Some((lo, hi));
        self
    }

    fn value(&self, layer: usize, head: usize) -> Option<f64> {
        self.values
            .get(layer * self.num_heads + head)
            .copied()
            .flatten()
    }

    /// Largest unmasked value of each layer (None when the whole layer is masked).
    pub fn layer_maxima(&self) -> Vec<Option<f64>> {
        (0..self.num_layers)
            .map(|l| {
                draw::finite_range((0..self.num_heads).filter_map(|h| self.value(l, h)))
                    .map(|(_, hi)| hi)
            })
            .collect()
    }

    fn validate(&self) -> Result<(f64, f64)> {
        if self.num_layers == 0 || self.num_heads == 0 {
            return Err(Error::invalid(format!(
                "head grid is empty ({} layers × {} heads)",
                self.num_layers, self.num_heads
            )));
        }
        if self.num_layers.checked_mul(self.num_heads) != Some(self.values.len()) {
            return Err(Error::invalid(format!(
                "head grid has {} values for {} layers × {} heads",
                self.values.len(),
                self.num_layers,
                self.num_heads
            )));
        }
        if self.values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "head grid has a NaN or infinite value: mask it (None) instead",
            ));
        }
        let data = draw::finite_range(self.values.iter().flatten().copied()).ok_or_else(|| {
            Error::invalid("head grid has no unmasked value: every cell is masked or NaN")
        })?;
        let (lo, hi) = match self.value_range {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            Some((lo, hi)) => {
                return Err(Error::invalid(format!(
                    "head grid colour range {lo}..{hi} is not an increasing finite range"
                )))
            }
            None if data.0 < data.1 => data,
            // One value everywhere: centre it in a unit-wide scale.
            None => (data.0 - 0.5, data.1 + 0.5),
        };
        Ok((lo, hi))
    }
}

/// A layer × head heatmap of `grid` with the per-layer maximum beside it.
pub fn head_heatmap(name: &str, title: &str, grid: &HeadGrid) -> Result<Figure> {
    grid.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 432),
        Kind::HeadHeatmap(grid.clone()),
    )
}

/// Where the cells lie (logical pixels); tests check drawn cells against it.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct GridBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub cell_w: f64,
    pub cell_h: f64,
}

fn colour_label(grid: &HeadGrid) -> String {
    let statistic = draw::capitalise(&grid.statistic);
    if grid.unit.is_empty() {
        statistic
    } else {
        format!("{statistic} ({})", grid.unit)
    }
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    grid: &HeadGrid,
) -> Result<GridBox> {
    let (data_lo, data_hi) = grid.validate()?;
    // Signed statistics (values on both sides of zero) get the diverging map, symmetric about
    // zero so white means 0; magnitudes get viridis. Judged on the values, not the scale range
    // (one repeated value widens that range across zero).
    let signed = grid.values.iter().flatten().any(|v| *v < 0.0)
        && grid.values.iter().flatten().any(|v| *v > 0.0);
    let (lo, hi) = if signed {
        let m = data_lo.abs().max(data_hi.abs());
        (-m, m)
    } else {
        (data_lo, data_hi)
    };
    let top = draw::title(c, title)?;
    let tick = Txt::new(font::TICK);
    let any_masked = grid.values.iter().any(Option::is_none);

    // Columns from the left: axis title, layer labels, grid, gap, maxima panel, gap, colour bar.
    let layer_labels: Vec<String> = (1..=grid.num_layers).map(|l| l.to_string()).collect();
    let y_title_w = font::LABEL * layout::TITLE_LINE;
    let y_labels_w = c.max_text_width(&layer_labels, tick)? + 6.0;
    let gx0 = MARGIN + y_title_w + y_labels_w;
    let colour_ticks = draw::nice_ticks(lo, hi, 5);
    let bar_w = layout::COLOUR_BAR_W;
    let colour_w = bar_w + draw::colour_bar_extra_width(c, &colour_ticks)?;
    let panel_w = (w * 0.17).clamp(60.0, 140.0);
    let gap = layout::PANEL_GAP;
    // Wider between grid and panel: their bottom tick labels must not meet.
    let panel_gap = 20.0;
    let gx1 = w - MARGIN - colour_w - gap - panel_w - panel_gap;

    // Rows from the bottom: legend, axis title, head labels.
    let legend_h = if any_masked {
        font::TICK * layout::LINE + 8.0
    } else {
        0.0
    };
    let x_labels_h = font::TICK * layout::LINE + 6.0;
    let x_title_h = font::LABEL * layout::TITLE_LINE + 2.0;
    let gy0 = top + 4.0;
    let gy1 = h - MARGIN - legend_h - x_title_h - x_labels_h;

    let (cell_w, cell_h) = (
        (gx1 - gx0) / grid.num_heads as f64,
        (gy1 - gy0) / grid.num_layers as f64,
    );
    if cell_w < 2.0 || cell_h < 2.0 {
        return Err(Error::invalid(format!(
            "figure is too small for {} layers × {} heads (cells would be {cell_w:.1}×{cell_h:.1} px)",
            grid.num_layers, grid.num_heads
        )));
    }
    let colour = |v: f64| {
        if signed {
            palette::diverging(v / hi)
        } else {
            palette::sequential((v - lo) / (hi - lo))
        }
    };
    let row_y = |l: usize| gy1 - (l + 1) as f64 * cell_h;

    for l in 0..grid.num_layers {
        for hd in 0..grid.num_heads {
            // Each edge from one formula, so neighbours share it exactly (no hairline gaps
            // after rounding to device pixels).
            let (x0, x1) = (gx0 + hd as f64 * cell_w, gx0 + (hd + 1) as f64 * cell_w);
            let (y0, y1) = (row_y(l), gy1 - l as f64 * cell_h);
            match grid.value(l, hd) {
                Some(v) => c.fill_rect(x0, y0, x1, y1, colour(v))?,
                None => c.masked_cell(x0, y0, x1, y1)?,
            }
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
    let x_title_y = gy1 + x_labels_h;
    grid_axes(c, (grid.num_layers, grid.num_heads), &cells, x_title_y)?;
    let px0 = gx1 + panel_gap;
    let px1 = px0 + panel_w;
    layer_maxima_panel(c, grid, &cells, (px0, px1), x_title_y, (lo, hi))?;

    // Colour bar, as tall as the grid.
    let cx0 = px1 + gap;
    draw::vertical_colour_bar(
        c,
        (cx0, gy0, cx0 + bar_w, gy1),
        lo,
        hi,
        &colour,
        &colour_ticks,
        &colour_label(grid),
    )?;

    if any_masked {
        mask_legend(c, &grid.mask_label, gx0, h - MARGIN - legend_h + 6.0)?;
    }
    Ok(cells)
}

/// Layer (left, 1-based, layer 1 at the bottom) and head (below, 1-based) axes of the grid.
pub(super) fn grid_axes<DB: DrawingBackend>(
    c: &Canvas<DB>,
    (num_layers, num_heads): (usize, usize),
    cells: &GridBox,
    x_title_y: f64,
) -> Result<()> {
    let GridBox {
        x0: gx0,
        y0: gy0,
        x1: gx1,
        y1: gy1,
        cell_w,
        cell_h,
    } = *cells;
    let tick = Txt::new(font::TICK);
    let label = Txt::new(font::LABEL);
    let row_y = |l: usize| gy1 - (l + 1) as f64 * cell_h;
    for l in draw::thinned_labels(num_layers, cell_h, font::TICK * layout::TITLE_LINE) {
        let y = row_y(l - 1) + cell_h / 2.0;
        draw::left_tick(c, gx0, y, &l.to_string())?;
    }
    c.text(
        "Layer",
        MARGIN,
        (gy0 + gy1) / 2.0,
        label.vertical().anchor(HPos::Center, VPos::Top),
    )?;
    let widest_head = c.text_width(&num_heads.to_string(), tick)?;
    for hd in draw::thinned_labels(num_heads, cell_w, widest_head + 6.0) {
        let x = gx0 + (hd as f64 - 0.5) * cell_w;
        draw::bottom_tick(c, x, gy1, &hd.to_string())?;
    }
    c.text(
        "Head",
        (gx0 + gx1) / 2.0,
        x_title_y,
        label.anchor(HPos::Center, VPos::Top),
    )?;
    Ok(())
}

/// Per-layer maximum beside the grid (between `px0` and `px1`), sharing its layer axis;
/// `fallback` is the value range when no layer has a maximum.
fn layer_maxima_panel<DB: DrawingBackend>(
    c: &Canvas<DB>,
    grid: &HeadGrid,
    cells: &GridBox,
    (px0, px1): (f64, f64),
    x_title_y: f64,
    fallback: (f64, f64),
) -> Result<()> {
    let (gy0, gy1, cell_h) = (cells.y0, cells.y1, cells.cell_h);
    let row_y = |l: usize| gy1 - (l + 1) as f64 * cell_h;
    let label = Txt::new(font::LABEL);
    let maxima = grid.layer_maxima();
    // The panel spans zero and the maxima (not the colour range: a signed map's negative half
    // would be empty here).
    let (m_lo, m_hi) = draw::finite_range(maxima.iter().flatten().copied()).unwrap_or(fallback);
    let (p_lo, p_hi) = (m_lo.min(0.0), m_hi.max(0.0));
    let (p_lo, p_hi) = if p_hi > p_lo {
        (p_lo, p_hi)
    } else {
        (0.0, 1.0)
    };
    let to_x = |v: f64| px0 + (v - p_lo) / (p_hi - p_lo) * (px1 - px0);
    let bar_h = (cell_h * 0.7).max(1.0);
    for (l, m) in maxima.iter().enumerate() {
        if let Some(v) = m {
            let y = row_y(l) + (cell_h - bar_h) / 2.0;
            let (a, b) = (to_x(0.0).min(to_x(*v)), to_x(0.0).max(to_x(*v)));
            c.fill_rect(a, y, b.max(a + 1.0), y + bar_h, palette::BAR)?;
        }
    }
    c.line(
        &[(to_x(0.0), gy0), (to_x(0.0), gy1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    c.line(&[(px0, gy1), (px1, gy1)], palette::INK, layout::AXIS_STROKE)?;
    let panel_ticks = draw::nice_ticks(p_lo, p_hi, 3);
    for (v, text) in panel_ticks.iter().zip(draw::tick_labels(&panel_ticks)) {
        let x = to_x(*v);
        draw::bottom_tick(c, x, gy1, &text)?;
    }
    c.text(
        "Layer maximum",
        (px0 + px1) / 2.0,
        x_title_y,
        label.anchor(HPos::Center, VPos::Top),
    )?;
    Ok(())
}

/// The legend of masked cells: one swatch and its label, from (`x`, `y`).
fn mask_legend<DB: DrawingBackend>(c: &Canvas<DB>, text: &str, x: f64, y: f64) -> Result<()> {
    let s = font::TICK;
    c.masked_cell(x, y, x + s, y + s)?;
    c.outline_rect(x, y, x + s, y + s, palette::MUTED, 0.5)?;
    c.text(
        text,
        x + s + 5.0,
        y + s / 2.0,
        Txt::new(font::TICK).anchor(HPos::Left, VPos::Center),
    )?;
    Ok(())
}

pub(crate) fn data(grid: &HeadGrid) -> DataTable {
    let mut t = DataTable::new(&["layer", "head", "value", "masked", "statistic", "unit"]);
    for l in 0..grid.num_layers {
        for hd in 0..grid.num_heads {
            let v = grid.values.get(l * grid.num_heads + hd).copied().flatten();
            t.row(vec![
                (l + 1).to_string(),
                (hd + 1).to_string(),
                opt_num(v),
                v.is_none().to_string(),
                grid.statistic.clone(),
                grid.unit.clone(),
            ]);
        }
    }
    for (l, m) in grid.layer_maxima().into_iter().enumerate() {
        t.row(vec![
            (l + 1).to_string(),
            "max".into(),
            m.map_or_else(String::new, num),
            m.is_none().to_string(),
            format!("layer maximum of {}", grid.statistic),
            grid.unit.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;
    use std::collections::BTreeMap;

    fn cells(elements: &[Element], b: &GridBox) -> usize {
        elements
            .iter()
            .filter(|e| {
                e.tag == "rect"
                    && (e.num("width") - b.cell_w).abs() <= 1.0
                    && (e.num("height") - b.cell_h).abs() <= 1.0
                    && e.num("x") >= b.x0 - 1.0
                    && e.num("x") <= b.x1
                    && e.num("y") >= b.y0 - 1.0
                    && e.num("y") <= b.y1
            })
            .count()
    }

    fn layout(fig: &Figure, grid: &HeadGrid) -> GridBox {
        let mut svg = String::new();
        use plotters::prelude::IntoDrawingArea;
        let root =
            plotters::prelude::SVGBackend::with_string(&mut svg, fig.size()).into_drawing_area();
        draw::register_fonts().unwrap();
        let (w, h) = fig.size();
        super::draw(&Canvas::new(&root, 1.0), w as f64, h as f64, "t", grid).unwrap()
    }

    #[test]
    fn heatmap_draws_every_cell_labels_and_masked_legend() {
        let grid = small_grid();
        let fig = head_heatmap("heads_cdr3", "CDR3 heads", &grid).unwrap();
        let el = render_checked(&fig);
        let b = layout(&fig, &grid);
        assert_eq!(cells(&el, &b), 12, "3 × 4 cells");
        // Two masked cells plus the legend swatch.
        assert_eq!(rects_filled(&el, palette::MASKED), 3);
        assert_eq!(
            count_text(&el, "excluded: < 100 edges"),
            1,
            "{:?}",
            texts(&el)
        );
        assert_eq!(count_text(&el, "Proportion of attention (fraction)"), 1);
        for label in ["Layer", "Head", "Layer maximum", "CDR3 heads"] {
            assert_eq!(count_text(&el, label), 1, "{label}");
        }
        // Layer labels 1–3 and head labels 1–4 (the per-layer panel adds numeric ticks too).
        assert!(count_text(&el, "4") >= 1 && count_text(&el, "3") >= 2);
    }

    #[test]
    fn layer_one_is_at_the_bottom() {
        let grid = small_grid();
        let fig = head_heatmap("h", "", &grid).unwrap();
        let el = parse_svg(&fig.to_svg().unwrap());
        let y_of = |label: &str| {
            el.iter()
                .filter(|e| e.tag == "text" && e.text == label && e.attr("text-anchor") == "end")
                .map(|e| e.num("y"))
                .next()
                .unwrap()
        };
        assert!(y_of("1") > y_of("3"), "layer 1 below layer 3");
    }

    #[test]
    fn dense_grid_thins_labels_and_keeps_all_cells() {
        let values = (0..33 * 20).map(|i| Some((i % 17) as f64)).collect();
        let grid = HeadGrid {
            num_layers: 33,
            num_heads: 20,
            values,
            statistic: "proportion".into(),
            unit: String::new(),
            mask_label: "x".into(),
            value_range: None,
        };
        let fig = head_heatmap("esm", "ESM-2", &grid).unwrap();
        let el = render_checked(&fig);
        let b = layout(&fig, &grid);
        assert_eq!(cells(&el, &b), 660);
        // Cells of a row tile it: each starts where its left neighbour ends (no hairlines).
        let mut rows: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
        for e in el.iter().filter(|e| {
            e.tag == "rect"
                && (e.num("height") - b.cell_h).abs() <= 1.0
                && (e.num("width") - b.cell_w).abs() <= 1.0
        }) {
            rows.entry(e.num("y") as i64)
                .or_default()
                .push((e.num("x") as i64, e.num("width") as i64));
        }
        assert_eq!(rows.len(), 33);
        for cells in rows.values_mut() {
            cells.sort();
            assert!(
                cells.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0),
                "{cells:?}"
            );
        }
        // No masked cell, so no legend entry and no grey.
        assert_eq!(rects_filled(&el, palette::MASKED), 0);
        let layer_labels = el
            .iter()
            .filter(|e| e.tag == "text" && e.attr("text-anchor") == "end")
            .count();
        assert!(layer_labels < 33, "layer labels thinned: {layer_labels}");
    }

    #[test]
    fn signed_values_get_the_diverging_map_white_at_zero() {
        let mut grid = small_grid();
        grid.values = vec![Some(0.0); 12];
        grid.values[0] = Some(-0.4);
        grid.values[11] = Some(0.2);
        let el = parse_svg(&head_heatmap("h", "", &grid).unwrap().to_svg().unwrap());
        // Ten zero cells in the map's white, and the colour bar's middle steps near it.
        assert!(rects_filled(&el, palette::diverging(0.0)) >= 10);
        assert!(
            rects_filled(&el, palette::diverging(-1.0)) >= 1,
            "-0.4 is the far end"
        );
    }

    #[test]
    fn one_repeated_value_stays_on_viridis() {
        let mut grid = small_grid();
        grid.values = vec![Some(0.3); 12];
        let el = parse_svg(&head_heatmap("h", "", &grid).unwrap().to_svg().unwrap());
        assert_eq!(
            rects_filled(&el, palette::sequential(0.5)),
            12,
            "mid-scale viridis"
        );
    }

    #[test]
    fn heatmap_rejects_wrong_shapes_and_all_masked() {
        let mut g = small_grid();
        g.values.pop();
        assert!(head_heatmap("h", "t", &g).is_err());
        let mut g = small_grid();
        g.values = vec![None; 12];
        assert!(head_heatmap("h", "t", &g).is_err());
        let mut g = small_grid();
        g.values[0] = Some(f64::NAN);
        assert!(head_heatmap("h", "t", &g).is_err());
        let mut g = small_grid();
        g.num_layers = 0;
        g.values.clear();
        assert!(head_heatmap("h", "t", &g).is_err());
        assert!(head_heatmap("h", "t", &small_grid().with_range(1.0, 0.0)).is_err());
    }

    fn heads_frame() -> DataFrame {
        let n = 2 * 2 * 3;
        let property: Vec<&str> = (0..n)
            .map(|i| if i < 6 { "cdr3" } else { "helix" })
            .collect();
        let layer: Vec<i64> = (0..n as i64).map(|i| (i % 6) / 3).collect();
        let head: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        let proportion: Vec<f64> = (0..n).map(|i| i as f64 / 20.0).collect();
        let mut proportion = proportion;
        proportion[2] = f64::NAN;
        let excluded: Vec<bool> = (0..n).map(|i| i == 4).collect();
        df!(
            "property" => property,
            "layer" => layer,
            "head" => head,
            "proportion" => proportion,
            "excluded" => excluded,
        )
        .unwrap()
    }

    #[test]
    fn from_frame_filters_a_property_and_masks_excluded_and_nan() {
        let g = HeadGrid::from_frame(&heads_frame(), "proportion", Some("excluded"), Some("cdr3"))
            .unwrap();
        assert_eq!((g.num_layers, g.num_heads), (2, 3));
        assert_eq!(g.values[0], Some(0.0));
        assert_eq!(g.values[2], None, "NaN is masked");
        assert_eq!(g.values[4], None, "excluded is masked");
        assert_eq!(g.values[5], Some(0.25));
        assert_eq!(g.mask_label, "excluded");
        let inverse = HeadGrid::from_frame(
            &heads_frame(),
            "proportion",
            Some("!excluded"),
            Some("helix"),
        )
        .unwrap();
        assert_eq!(inverse.values.iter().filter(|v| v.is_some()).count(), 0);
        assert_eq!(inverse.mask_label, "not excluded");
    }

    #[test]
    fn from_frame_rejects_missing_columns_mixed_properties_and_duplicates() {
        let df = heads_frame();
        assert!(HeadGrid::from_frame(&df, "nope", None, Some("cdr3")).is_err());
        assert!(HeadGrid::from_frame(&df, "proportion", Some("nope"), Some("cdr3")).is_err());
        assert!(HeadGrid::from_frame(&df, "proportion", None, None).is_err());
        assert!(HeadGrid::from_frame(&df, "proportion", None, Some("absent")).is_err());
        let dup = df!("layer" => [0i64, 0], "head" => [0i64, 0], "v" => [1.0, 2.0]).unwrap();
        assert!(HeadGrid::from_frame(&dup, "v", None, None).is_err());
        let hole = df!("layer" => [0i64, 1], "head" => [0i64, 1], "v" => [1.0, 2.0]).unwrap();
        assert!(HeadGrid::from_frame(&hole, "v", None, None).is_err());
        let huge = df!("layer" => [i64::MAX], "head" => [0i64], "v" => [1.0]).unwrap();
        assert!(HeadGrid::from_frame(&huge, "v", None, None).is_err());
    }

    #[test]
    fn data_csv_lists_cells_and_layer_maxima() {
        let fig = head_heatmap("h", "t", &small_grid()).unwrap();
        let csv = fig.data_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "layer,head,value,masked,statistic,unit");
        assert_eq!(lines.len(), 1 + 12 + 3);
        assert_eq!(lines[2], "1,2,,true,proportion of attention,fraction");
        assert!(lines[13].starts_with("1,max,0.15,false"));
    }
}
