//! One head's T × T attention matrix (row = attending residue, column = attended residue) on a
//! sequential scale, with an optional contact-map overlay.

use super::draw::{self, font, layout, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};

/// One head's attention over one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMap {
    /// 0-based layer and head (printed 1-based).
    pub layer: usize,
    pub head: usize,
    /// One character per position (residues; special tokens as any placeholder letter).
    pub residues: String,
    /// Row-major T × T weights: `weights[from * T + to]`; NaN is masked.
    pub weights: Vec<f32>,
    /// Row-major T × T contacts to outline (e.g. Cβ–Cβ < 8 Å).
    pub contacts: Option<Vec<bool>>,
    /// Legend text of the contact markers.
    pub contact_label: String,
}

impl AttentionMap {
    pub fn new(layer: usize, head: usize, residues: &str, weights: Vec<f32>) -> Self {
        AttentionMap {
            layer,
            head,
            residues: residues.to_string(),
            weights,
            contacts: None,
            contact_label: "contact".to_string(),
        }
    }

    /// Adds a contact map to overlay, with its legend text.
    pub fn with_contacts(mut self, contacts: Vec<bool>, label: &str) -> Self {
        self.contacts = Some(contacts);
        self.contact_label = label.to_string();
        self
    }

    fn len(&self) -> usize {
        self.residues.chars().count()
    }

    fn validate(&self) -> Result<f64> {
        let t = self.len();
        if t == 0 {
            return Err(Error::invalid("attention map: empty sequence"));
        }
        if t.checked_mul(t) != Some(self.weights.len()) {
            return Err(Error::invalid(format!(
                "attention map: {} weights for {t} residues (needs {t} × {t})",
                self.weights.len(),
            )));
        }
        if let Some(c) = &self.contacts {
            if c.len() != t * t {
                return Err(Error::invalid(format!(
                    "attention map: contact map has {} cells for {t} residues (needs {})",
                    c.len(),
                    t * t
                )));
            }
        }
        let (_, hi) = draw::finite_range(self.weights.iter().map(|&w| w as f64))
            .ok_or_else(|| Error::invalid("attention map: every weight is NaN"))?;
        if self.weights.iter().any(|w| *w < 0.0) {
            return Err(Error::invalid("attention map: negative attention weight"));
        }
        Ok(if hi > 0.0 { hi } else { 1.0 })
    }
}

/// The attention matrix of one head, contacts outlined when given.
pub fn attention_map(name: &str, title: &str, map: &AttentionMap) -> Result<Figure> {
    map.validate()?;
    Figure::new(name, title, (560, 500), Kind::AttentionMap(map.clone()))
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    m: &AttentionMap,
) -> Result<()> {
    let hi = m.validate()?;
    let t = m.len();
    let residues: Vec<char> = m.residues.chars().collect();
    let top = draw::title(c, title)?;
    let tick = Txt::new(font::TICK);
    let colour_ticks = draw::nice_ticks(0.0, hi, 5);
    let bar_w = layout::COLOUR_BAR_W;
    let colour_w = bar_w + draw::colour_bar_extra_width(c, &colour_ticks)?;
    let widest_pos = c.text_width(&t.to_string(), tick)?;
    let label_w = widest_pos.max(c.text_width("W", tick)?) + 6.0;
    let x_title_h = font::LABEL * layout::TITLE_LINE;
    let legend_rows = m.contacts.is_some() as usize + m.weights.iter().any(|w| w.is_nan()) as usize;
    let legend_h = if legend_rows > 0 {
        font::TICK * 1.5 * legend_rows as f64 + 6.0
    } else {
        0.0
    };
    let avail_w = w - 2.0 * MARGIN - x_title_h - label_w - 14.0 - colour_w;
    let avail_h = h - top - MARGIN - font::TICK * layout::LINE - 6.0 - x_title_h - legend_h;
    let side = avail_w.min(avail_h);
    let cell = side / t as f64;
    if cell < 0.5 {
        return Err(Error::invalid(format!(
            "figure is too small for a {t} × {t} attention map"
        )));
    }
    let mx0 = MARGIN + x_title_h + label_w;
    let my0 = top;
    let (mx1, my1) = (mx0 + side, my0 + side);
    let colour = |v: f64| palette::sequential(v / hi);

    for from in 0..t {
        for to in 0..t {
            let v = m.weights[from * t + to] as f64;
            // Each edge from one formula, so neighbours share it exactly.
            let (x0, x1) = (mx0 + to as f64 * cell, mx0 + (to + 1) as f64 * cell);
            let (y0, y1) = (my0 + from as f64 * cell, my0 + (from + 1) as f64 * cell);
            if v.is_finite() {
                c.fill_rect(x0, y0, x1, y1, colour(v))?;
            } else {
                c.masked_cell(x0, y0, x1, y1)?;
            }
        }
    }
    if let Some(contacts) = &m.contacts {
        let r = (cell * 0.3).max(0.8);
        for from in 0..t {
            for to in 0..t {
                if contacts[from * t + to] {
                    let (x, y) = (
                        mx0 + (to as f64 + 0.5) * cell,
                        my0 + (from as f64 + 0.5) * cell,
                    );
                    if cell >= 6.0 {
                        c.circle(x, y, r, None, Some((palette::OVERLAY, 1.0)))?;
                    } else {
                        c.circle(x, y, r, Some(palette::OVERLAY), None)?;
                    }
                }
            }
        }
    }
    c.outline_rect(mx0, my0, mx1, my1, palette::INK, layout::AXIS_STROKE)?;

    // Letters when every one fits, else thinned 1-based positions.
    let letters = cell >= font::SMALL * 0.95;
    let positions: Vec<usize> = if letters {
        (1..=t).collect()
    } else {
        draw::thinned_labels(t, cell, widest_pos + 8.0)
    };
    let axis_txt = if letters { Txt::new(font::SMALL) } else { tick };
    for p in positions {
        let text = if letters {
            residues[p - 1].to_string()
        } else {
            p.to_string()
        };
        let centre = (p as f64 - 0.5) * cell;
        c.text(
            &text,
            mx0 - 4.0,
            my0 + centre,
            axis_txt.anchor(HPos::Right, VPos::Center),
        )?;
        c.text(
            &text,
            mx0 + centre,
            my1 + 4.0,
            axis_txt.anchor(HPos::Center, VPos::Top),
        )?;
        if !letters {
            c.line(
                &[(mx0 - 2.0, my0 + centre), (mx0, my0 + centre)],
                palette::INK,
                0.75,
            )?;
            c.line(
                &[(mx0 + centre, my1), (mx0 + centre, my1 + 2.0)],
                palette::INK,
                0.75,
            )?;
        }
    }
    let axis_name = if letters { "residue" } else { "position" };
    c.text(
        &format!("Attended {axis_name} (to)"),
        (mx0 + mx1) / 2.0,
        my1 + font::TICK * layout::LINE + 6.0,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
    )?;
    c.text(
        &format!("Attending {axis_name} (from)"),
        MARGIN,
        (my0 + my1) / 2.0,
        Txt::new(font::LABEL)
            .vertical()
            .anchor(HPos::Center, VPos::Top),
    )?;
    let cx0 = mx1 + 14.0;
    draw::vertical_colour_bar(
        c,
        (cx0, my0, cx0 + bar_w, my1),
        0.0,
        hi,
        &colour,
        &colour_ticks,
        &format!(
            "Attention weight (layer {}, head {})",
            m.layer + 1,
            m.head + 1
        ),
    )?;
    let mut entries = Vec::new();
    if m.contacts.is_some() {
        entries.push((Key::Ring(palette::OVERLAY), m.contact_label.clone()));
    }
    if m.weights.iter().any(|w| w.is_nan()) {
        entries.push((Key::Masked, "undefined (NaN)".to_string()));
    }
    // Legend (contacts, masked cells) under the map, right-aligned with it.
    draw::legend(c, mx1, h - MARGIN - legend_h, &entries)
}

pub(crate) fn data(m: &AttentionMap) -> DataTable {
    let t = m.residues.chars().count();
    let residues: Vec<char> = m.residues.chars().collect();
    let mut table = DataTable::new(&[
        "layer",
        "head",
        "from_position",
        "from_residue",
        "to_position",
        "to_residue",
        "weight",
        "contact",
    ]);
    for from in 0..t {
        for to in 0..t {
            let i = from * t + to;
            table.row(vec![
                (m.layer + 1).to_string(),
                (m.head + 1).to_string(),
                (from + 1).to_string(),
                residues[from].to_string(),
                (to + 1).to_string(),
                residues[to].to_string(),
                m.weights
                    .get(i)
                    .map_or_else(String::new, |w| num(*w as f64)),
                m.contacts
                    .as_ref()
                    .and_then(|c| c.get(i))
                    .map_or_else(String::new, |c| c.to_string()),
            ]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn fixture(t: usize) -> AttentionMap {
        let residues: String = "ACDEFGHIKLMNPQRSTVWY".chars().cycle().take(t).collect();
        let weights = (0..t * t)
            .map(|i| {
                if i % t == (i / t + 1) % t {
                    0.8
                } else {
                    0.2 / t as f32
                }
            })
            .collect();
        let contacts = (0..t * t).map(|i| (i / t).abs_diff(i % t) == 3).collect();
        AttentionMap::new(2, 5, &residues, weights).with_contacts(contacts, "Cβ–Cβ < 8 Å")
    }

    #[test]
    fn small_map_has_letters_cells_and_contact_markers() {
        let fig = attention_map("attn", "Layer 3 head 6", &fixture(12)).unwrap();
        let el = render_checked(&fig);
        // 2 × 12 letters on the axes; 'A' is residue 1 only.
        assert_eq!(count_text(&el, "A"), 2, "{:?}", texts(&el));
        assert_eq!(count_text(&el, "Cβ–Cβ < 8 Å"), 1);
        assert_eq!(count_text(&el, "Attention weight (layer 3, head 6)"), 1);
        // Contacts |i − j| = 3: 2 × 9 cells, drawn as rings (+1 legend ring).
        assert_eq!(el.iter().filter(|e| e.tag == "circle").count(), 19);
        assert_eq!(fig.data_csv().lines().count(), 1 + 144);
    }

    #[test]
    fn nan_weights_are_masked_and_named_in_the_legend() {
        let mut m = fixture(6);
        m.weights[7] = f32::NAN;
        let el = render_checked(&attention_map("attn", "", &m).unwrap());
        // The masked cell plus its legend key.
        assert_eq!(rects_filled(&el, palette::MASKED), 2);
        assert_eq!(count_text(&el, "undefined (NaN)"), 1);
    }

    #[test]
    fn long_map_uses_position_ticks() {
        let fig = attention_map("attn", "", &fixture(120)).unwrap();
        let el = parse_svg(&fig.to_svg().unwrap());
        assert_eq!(count_text(&el, "A"), 0, "no letters at 120 residues");
        assert_eq!(count_text(&el, "100"), 2);
        assert_eq!(count_text(&el, "Attended position (to)"), 1);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let mut m = fixture(5);
        m.weights.pop();
        assert!(attention_map("a", "", &m).is_err());
        let mut m = fixture(5);
        m.contacts = Some(vec![false; 3]);
        assert!(attention_map("a", "", &m).is_err());
        let mut m = fixture(5);
        m.weights = vec![f32::NAN; 25];
        assert!(attention_map("a", "", &m).is_err());
        assert!(attention_map("a", "", &AttentionMap::new(0, 0, "", vec![])).is_err());
    }
}
