//! The drawing layer shared by every figure: a [`Canvas`] over any plotters backend in logical
//! pixels (SVG units at 96 dpi; the PNG backend draws the same calls at a larger scale), the
//! embedded font, font sizes, and tick helpers.

use super::palette;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, FontTransform};
use std::sync::OnceLock;

/// The font family every text element names: the embedded DejaVu Sans draws PNG text (no system
/// fonts needed), and the same name with fallbacks goes into SVG `font-family`.
pub const FONT_FAMILY: &str = "DejaVu Sans, Arial, Helvetica, sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts with plotters once per process.
pub(crate) fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
            && plotters::style::register_font(FONT_FAMILY, FontStyle::Bold, DEJAVU_SANS_BOLD)
                .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot(
            "the embedded DejaVu Sans font did not load".into(),
        ))
    }
}

/// Font sizes in logical pixels (1 px = 0.75 pt at 96 dpi): 7.5–9 pt at paper size.
pub mod font {
    pub const TITLE: f64 = 12.0;
    pub const LABEL: f64 = 11.0;
    pub const TICK: f64 = 10.0;
    pub const SMALL: f64 = 9.0;
}

/// Outer margin of every figure.
pub const MARGIN: f64 = 8.0;

/// The measures every figure shares, in logical pixels, so axes, ticks and labels look the
/// same in every plot.
pub mod layout {
    /// Height of a line of text, as a multiple of its font size.
    pub const LINE: f64 = 1.2;
    /// Height of an axis or panel title line: a little looser than [`LINE`].
    pub const TITLE_LINE: f64 = 1.3;
    /// Length of a tick mark.
    pub const TICK_LEN: f64 = 3.0;
    /// Gap between an axis line and its tick labels.
    pub const TICK_GAP: f64 = 5.0;
    /// Stroke width of axes, outlines and tick marks.
    pub const AXIS_STROKE: f64 = 0.75;
    /// Width of a colour bar's colour strip.
    pub const COLOUR_BAR_W: f64 = 10.0;
    /// Gap between a figure's panels.
    pub const PANEL_GAP: f64 = 12.0;
}

/// plotters' font "size" is 1.24 × the SVG `font-size` it writes; sizes here are the latter.
const PLOTTERS_FONT_SIZE: f64 = 1.24;

/// How one piece of text looks and where its anchor is.
#[derive(Clone, Copy)]
pub struct Txt {
    pub size: f64,
    pub bold: bool,
    pub h: HPos,
    pub v: VPos,
    /// Reads bottom to top (axis titles on the left).
    pub vertical: bool,
    pub color: RGBColor,
}

impl Txt {
    pub fn new(size: f64) -> Self {
        Txt {
            size,
            bold: false,
            h: HPos::Left,
            v: VPos::Top,
            vertical: false,
            color: palette::INK,
        }
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn anchor(mut self, h: HPos, v: VPos) -> Self {
        self.h = h;
        self.v = v;
        self
    }
    pub fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = color;
        self
    }
}

/// A drawing area in logical pixels: every coordinate and size is multiplied by `scale` on the
/// way to the backend, so SVG (scale 1) and PNG (scale > 1) come from the same calls.
pub struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    scale: f64,
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    pub fn new(area: &'a DrawingArea<DB, Shift>, scale: f64) -> Self {
        Canvas { area, scale }
    }

    /// Width of the whole drawing area in logical pixels.
    pub fn width_logical(&self) -> f64 {
        self.area.dim_in_pixel().0 as f64 / self.scale
    }

    fn px(&self, v: f64) -> i32 {
        (v * self.scale).round() as i32
    }

    fn point(&self, (x, y): (f64, f64)) -> (i32, i32) {
        (self.px(x), self.px(y))
    }

    fn stroke(&self, color: RGBColor, width: f64) -> ShapeStyle {
        ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: ((width * self.scale).round() as u32).max(1),
        }
    }

    fn text_style(&self, t: &Txt) -> TextStyle<'static> {
        let style = if t.bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        let mut desc = FontDesc::new(
            FontFamily::Name(FONT_FAMILY),
            t.size * PLOTTERS_FONT_SIZE * self.scale,
            style,
        );
        if t.vertical {
            desc = desc.transform(FontTransform::Rotate270);
        }
        TextStyle {
            font: desc,
            color: t.color.to_backend_color(),
            pos: Pos::new(t.h, t.v),
        }
    }

    /// Width of `text` (unrotated) in logical pixels.
    pub fn text_width(&self, text: &str, t: Txt) -> Result<f64> {
        let (w, _) = self
            .area
            .estimate_text_size(text, &self.text_style(&t))
            .map_err(plot_error)?;
        Ok(w as f64 / self.scale)
    }

    /// The widest of `texts` in logical pixels (0 when there are none).
    pub fn max_text_width<S: AsRef<str>>(&self, texts: &[S], t: Txt) -> Result<f64> {
        let mut widest = 0.0f64;
        for s in texts {
            widest = widest.max(self.text_width(s.as_ref(), t)?);
        }
        Ok(widest)
    }

    pub fn text(&self, text: &str, x: f64, y: f64, t: Txt) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.area
            .draw(&Text::new(
                text.to_string(),
                self.point((x, y)),
                self.text_style(&t),
            ))
            .map_err(plot_error)
    }

    /// A filled rectangle between two corners; edges are rounded to whole device pixels, so
    /// rectangles sharing an edge in logical pixels share it on the device too.
    pub fn fill_rect(&self, x0: f64, y0: f64, x1: f64, y1: f64, color: RGBColor) -> Result<()> {
        self.area
            .draw(&Rectangle::new(
                [self.point((x0, y0)), self.point((x1, y1))],
                color.filled(),
            ))
            .map_err(plot_error)
    }

    pub fn outline_rect(
        &self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        color: RGBColor,
        width: f64,
    ) -> Result<()> {
        self.area
            .draw(&Rectangle::new(
                [self.point((x0, y0)), self.point((x1, y1))],
                self.stroke(color, width),
            ))
            .map_err(plot_error)
    }

    pub fn line(&self, points: &[(f64, f64)], color: RGBColor, width: f64) -> Result<()> {
        let pts: Vec<(i32, i32)> = points.iter().map(|&p| self.point(p)).collect();
        self.area
            .draw(&PathElement::new(pts, self.stroke(color, width)))
            .map_err(plot_error)
    }

    /// A dashed polyline (reference lines: background rate, p = 0.05).
    pub fn dashed(&self, points: &[(f64, f64)], color: RGBColor, width: f64) -> Result<()> {
        let pts: Vec<(i32, i32)> = points.iter().map(|&p| self.point(p)).collect();
        self.area
            .draw(&plotters::element::DashedPathElement::new(
                pts,
                self.px(4.0),
                self.px(3.0),
                self.stroke(color, width),
            ))
            .map_err(plot_error)
    }

    pub fn circle(
        &self,
        x: f64,
        y: f64,
        radius: f64,
        fill: Option<RGBColor>,
        stroke: Option<(RGBColor, f64)>,
    ) -> Result<()> {
        let centre = self.point((x, y));
        let r = self.px(radius).max(1);
        if let Some(color) = fill {
            self.area
                .draw(&Circle::new(centre, r, color.filled()))
                .map_err(plot_error)?;
        }
        if let Some((color, width)) = stroke {
            self.area
                .draw(&Circle::new(centre, r, self.stroke(color, width)))
                .map_err(plot_error)?;
        }
        Ok(())
    }

    pub fn polygon(&self, points: &[(f64, f64)], color: RGBColor) -> Result<()> {
        let pts: Vec<(i32, i32)> = points.iter().map(|&p| self.point(p)).collect();
        self.area
            .draw(&Polygon::new(pts, color.filled()))
            .map_err(plot_error)
    }

    /// A masked cell: grey with one diagonal hatch stroke (two when the cell is large), so it
    /// never reads as a low value of the colour scale.
    pub fn masked_cell(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> Result<()> {
        self.fill_rect(x0, y0, x1, y1, palette::MASKED)?;
        let (w, h) = (x1 - x0, y1 - y0);
        self.line(
            &[(x0, y1), (x1, y0)],
            palette::MASK_HATCH,
            layout::AXIS_STROKE,
        )?;
        if w.min(h) >= 14.0 {
            self.line(
                &[(x0, y0 + h / 2.0), (x0 + w / 2.0, y0)],
                palette::MASK_HATCH,
                0.75,
            )?;
            self.line(
                &[(x0 + w / 2.0, y1), (x1, y0 + h / 2.0)],
                palette::MASK_HATCH,
                0.75,
            )?;
        }
        Ok(())
    }
}

/// About `target` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]; values inside
/// the range only.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || target == 0 {
        return if lo.is_finite() { vec![lo] } else { vec![] };
    }
    let raw = (hi - lo) / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| {
            // Rounded to the step's precision: 3 × 0.2 is 0.6, not 0.6000000000000001.
            let digits = 10f64.powi(2 - step.log10().floor() as i32);
            let v = (i as f64 * step * digits).round() / digits;
            // -0 prints as "-0".
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Tick labels with as many decimals as the spacing of `ticks` needs, all alike.
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let step = ticks
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(f64::INFINITY, f64::min);
    let decimals = if step.is_finite() && step > 0.0 {
        let mut d = 0usize;
        while d < 6
            && ((step * 10f64.powi(d as i32)).round() - step * 10f64.powi(d as i32)).abs() > 1e-6
        {
            d += 1;
        }
        d
    } else {
        2
    };
    ticks.iter().map(|v| format!("{v:.decimals$}")).collect()
}

/// Which 1-based category labels to print so that neighbours are at least `min_gap` logical
/// pixels apart when categories are `spacing` apart: all, every 2nd (1, 3, 5, …), or 1 and
/// multiples of 5, 10, 20, … (1 dropped when it would crowd the first multiple).
pub fn thinned_labels(count: usize, spacing: f64, min_gap: f64) -> Vec<usize> {
    if count == 0 {
        return vec![];
    }
    let step = [1usize, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|&k| k as f64 * spacing >= min_gap)
        .unwrap_or(count.max(1));
    match step {
        1 => (1..=count).collect(),
        2 => (1..=count).step_by(2).collect(),
        k => {
            let mut labels: Vec<usize> = (k..=count).step_by(k).collect();
            if (k - 1) as f64 * spacing >= min_gap || labels.is_empty() {
                labels.insert(0, 1);
            }
            labels
        }
    }
}

/// A vertical colour bar in `[x0, x1] × [y0, y1]` for values lo (bottom) … hi (top), with
/// ticks and labels on the right and `label` (rotated) beyond them. Returns the right edge used.
#[allow(clippy::too_many_arguments)]
pub fn vertical_colour_bar<DB: DrawingBackend>(
    c: &Canvas<DB>,
    (x0, y0, x1, y1): (f64, f64, f64, f64),
    lo: f64,
    hi: f64,
    color: &dyn Fn(f64) -> RGBColor,
    ticks: &[f64],
    label: &str,
) -> Result<f64> {
    // Steps of about one logical pixel: smooth in both backends, and few enough elements.
    let steps = ((y1 - y0).round() as usize).clamp(8, 256);
    let h = (y1 - y0) / steps as f64;
    for i in 0..steps {
        let v = lo + (hi - lo) * (i as f64 + 0.5) / steps as f64;
        let top = y1 - (i + 1) as f64 * h;
        c.fill_rect(x0, top, x1, y1 - i as f64 * h, color(v))?;
    }
    c.outline_rect(x0, y0, x1, y1, palette::INK, layout::AXIS_STROKE)?;
    let labels = tick_labels(ticks);
    let tick = Txt::new(font::TICK).anchor(HPos::Left, VPos::Center);
    for (v, text) in ticks.iter().zip(&labels) {
        let y = y1 - (v - lo) / (hi - lo) * (y1 - y0);
        c.line(
            &[(x1, y), (x1 + layout::TICK_LEN, y)],
            palette::INK,
            layout::AXIS_STROKE,
        )?;
        c.text(text, x1 + layout::TICK_GAP, y, tick)?;
    }
    let label_x = x1 + 7.0 + c.max_text_width(&labels, tick)? + 3.0;
    let t = fitted(c, label, Txt::new(font::LABEL), (y1 - y0) + 40.0)?;
    c.text(
        label,
        label_x,
        (y0 + y1) / 2.0,
        t.vertical().anchor(HPos::Center, VPos::Top),
    )?;
    Ok(label_x + font::LABEL * layout::TITLE_LINE)
}

/// Width a [`vertical_colour_bar`] needs right of its bar for these tick labels and a label.
pub fn colour_bar_extra_width<DB: DrawingBackend>(c: &Canvas<DB>, ticks: &[f64]) -> Result<f64> {
    let tick = Txt::new(font::TICK);
    Ok(7.0 + c.max_text_width(&tick_labels(ticks), tick)? + 3.0 + font::LABEL * layout::TITLE_LINE)
}

/// The figure title, top-left; returns the y where content may start.
pub fn title<DB: DrawingBackend>(c: &Canvas<DB>, text: &str) -> Result<f64> {
    if text.is_empty() {
        return Ok(MARGIN);
    }
    let width = c.width_logical() - 2.0 * MARGIN;
    let t = fitted(c, text, Txt::new(font::TITLE).bold(), width)?;
    c.text(text, MARGIN, MARGIN, t)?;
    Ok(MARGIN + font::TITLE * layout::LINE + 8.0)
}

/// `t` with its font shrunk (down to 7 px, about 5 pt) until `text` fits in `max_width`
/// logical pixels, so long titles and labels are not clipped at the figure's edge.
pub fn fitted<DB: DrawingBackend>(
    c: &Canvas<DB>,
    text: &str,
    t: Txt,
    max_width: f64,
) -> Result<Txt> {
    let width = c.text_width(text, t)?;
    if width <= max_width || width <= 0.0 {
        return Ok(t);
    }
    let mut smaller = t;
    smaller.size = (t.size * max_width / width).max(7.0);
    Ok(smaller)
}

/// `s` with its first letter in upper case (axis and colour-bar titles).
pub fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Minimum and maximum of the finite values (None when there are none).
pub fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// The range of per-layer series values (None: an undefined layer), refusing NaN or infinite
/// values and series with no value at all; `what` names the figure in the errors.
pub fn series_range(values: &[&[Option<f64>]], what: &str) -> Result<(f64, f64)> {
    let defined = || values.iter().flat_map(|s| s.iter().flatten().copied());
    if defined().any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "{what} has a NaN or infinite value: use None for undefined layers"
        )));
    }
    finite_range(defined()).ok_or_else(|| Error::invalid(format!("{what} has no defined value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(-3.0, 11.0, 4), vec![0.0, 5.0, 10.0]);
        assert_eq!(tick_labels(&[0.0, 0.25, 0.5]), vec!["0.00", "0.25", "0.50"]);
        assert_eq!(tick_labels(&[0.0, 5.0, 10.0]), vec!["0", "5", "10"]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn thinned_labels_keep_one_and_round_multiples() {
        assert_eq!(thinned_labels(8, 30.0, 12.0), (1..=8).collect::<Vec<_>>());
        assert_eq!(thinned_labels(8, 10.0, 12.0), vec![1, 3, 5, 7]);
        assert_eq!(
            thinned_labels(33, 5.0, 20.0),
            vec![1, 5, 10, 15, 20, 25, 30]
        );
        assert_eq!(thinned_labels(33, 3.0, 20.0), vec![1, 10, 20, 30]);
        assert_eq!(thinned_labels(33, 2.2, 20.0), vec![10, 20, 30]);
    }
}

/// A plotting rectangle in logical pixels with linear data ranges on both axes.
#[derive(Debug, Clone, Copy)]
pub struct Axes {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
}

impl Axes {
    pub fn x(&self, v: f64) -> f64 {
        self.x0 + (v - self.x_range.0) / (self.x_range.1 - self.x_range.0) * (self.x1 - self.x0)
    }
    pub fn y(&self, v: f64) -> f64 {
        self.y1 - (v - self.y_range.0) / (self.y_range.1 - self.y_range.0) * (self.y1 - self.y0)
    }
}

/// Width the left axis needs: rotated title plus the widest tick label.
pub fn y_axis_width<DB: DrawingBackend>(c: &Canvas<DB>, labels: &[String]) -> Result<f64> {
    Ok(font::LABEL * layout::TITLE_LINE
        + 2.0
        + c.max_text_width(labels, Txt::new(font::TICK))?
        + 6.0)
}

/// Left axis: light horizontal grid lines, ticks, labels, rotated title at the figure margin.
pub fn y_axis<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    ticks: &[f64],
    title_x: f64,
    title: &str,
) -> Result<()> {
    for (v, text) in ticks.iter().zip(tick_labels(ticks)) {
        let y = a.y(*v);
        c.line(&[(a.x0, y), (a.x1, y)], palette::GRID, layout::AXIS_STROKE)?;
        left_tick(c, a.x0, y, &text)?;
    }
    c.line(
        &[(a.x0, a.y0), (a.x0, a.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let t = fitted(c, title, Txt::new(font::LABEL), (a.y1 - a.y0) + 30.0)?;
    c.text(
        title,
        title_x,
        (a.y0 + a.y1) / 2.0,
        t.vertical().anchor(HPos::Center, VPos::Top),
    )
}

/// Bottom axis with numeric ticks and a title below; returns the y below the title.
pub fn x_axis<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    ticks: &[f64],
    labels: &[String],
    title: &str,
) -> Result<f64> {
    for (v, text) in ticks.iter().zip(labels) {
        let x = a.x(*v);
        bottom_tick(c, x, a.y1, text)?;
    }
    c.line(
        &[(a.x0, a.y1), (a.x1, a.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let title_y = a.y1 + layout::TICK_GAP + font::TICK * layout::LINE + 3.0;
    c.text(
        title,
        (a.x0 + a.x1) / 2.0,
        title_y,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
    )?;
    Ok(title_y + font::LABEL * layout::TITLE_LINE)
}

/// A tick mark left of an axis at `x` (height `y`) with its label right-aligned before it.
pub fn left_tick<DB: DrawingBackend>(c: &Canvas<DB>, x: f64, y: f64, label: &str) -> Result<()> {
    c.line(
        &[(x - layout::TICK_LEN, y), (x, y)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let right = Txt::new(font::TICK).anchor(HPos::Right, VPos::Center);
    c.text(label, x - layout::TICK_GAP, y, right)
}

/// A tick mark below an axis at `y` (position `x`) with its label centred under it.
pub fn bottom_tick<DB: DrawingBackend>(c: &Canvas<DB>, x: f64, y: f64, label: &str) -> Result<()> {
    c.line(
        &[(x, y), (x, y + layout::TICK_LEN)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let below = Txt::new(font::TICK).anchor(HPos::Center, VPos::Top);
    c.text(label, x, y + layout::TICK_GAP, below)
}

/// Height an [`x_axis`] takes below the plot rectangle.
pub const X_AXIS_HEIGHT: f64 =
    layout::TICK_GAP + font::TICK * layout::LINE + 3.0 + font::LABEL * layout::TITLE_LINE;

/// One legend entry's symbol.
#[derive(Clone, Copy)]
pub enum Key {
    Bar(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
    /// A whisker with caps (error bars).
    Whisker(RGBColor),
    Ring(RGBColor),
    Masked,
}

/// Height of a [`legend`] with `entries` rows.
pub fn legend_height(entries: usize) -> f64 {
    4.0 + font::TICK * 1.5 * entries as f64 + 2.0
}

/// A legend of `entries` in one column, its top-right corner at (`x1`, `y0`), on a white box.
pub fn legend<DB: DrawingBackend>(
    c: &Canvas<DB>,
    x1: f64,
    y0: f64,
    entries: &[(Key, String)],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let t = Txt::new(font::TICK).anchor(HPos::Left, VPos::Center);
    let labels: Vec<&str> = entries.iter().map(|(_, s)| s.as_str()).collect();
    let key_w = 18.0;
    let row = font::TICK * 1.5;
    let w = 6.0 + key_w + 5.0 + c.max_text_width(&labels, t)? + 6.0;
    let h = legend_height(entries.len());
    let x0 = x1 - w;
    c.fill_rect(x0, y0, x1, y0 + h, palette::WHITE)?;
    c.outline_rect(x0, y0, x1, y0 + h, palette::GRID, layout::AXIS_STROKE)?;
    for (i, (key, label)) in entries.iter().enumerate() {
        let y = y0 + 4.0 + row * (i as f64 + 0.5);
        let (kx0, kx1) = (x0 + 6.0, x0 + 6.0 + key_w);
        match *key {
            Key::Bar(color) => c.fill_rect(kx0 + 3.0, y - 4.0, kx1 - 3.0, y + 4.0, color)?,
            Key::Line(color) => c.line(&[(kx0, y), (kx1, y)], color, 1.5)?,
            Key::Dashed(color) => c.dashed(&[(kx0, y), (kx1, y)], color, 1.25)?,
            Key::Whisker(color) => {
                let xm = (kx0 + kx1) / 2.0;
                c.line(&[(xm, y - 5.0), (xm, y + 5.0)], color, 1.0)?;
                c.line(&[(xm - 3.0, y - 5.0), (xm + 3.0, y - 5.0)], color, 1.0)?;
                c.line(&[(xm - 3.0, y + 5.0), (xm + 3.0, y + 5.0)], color, 1.0)?;
            }
            Key::Ring(color) => c.circle((kx0 + kx1) / 2.0, y, 3.0, None, Some((color, 1.0)))?,
            Key::Masked => c.masked_cell(kx0 + 4.0, y - 5.0, kx1 - 4.0, y + 5.0)?,
        }
        c.text(label, kx1 + 5.0, y, t)?;
    }
    Ok(())
}
