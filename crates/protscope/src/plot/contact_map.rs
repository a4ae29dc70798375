//! Predicted against true contacts of one protein (Rao et al. 2020's figure): the predicted
//! probabilities in the upper triangle, the structure's contacts in the lower one, and the top
//! L predictions marked (filled: a true contact; ring: not one).

use super::draw::{self, font, layout, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};

/// One protein's predicted and true contacts.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactMapPlot {
    pub protein: String,
    pub residues: usize,
    /// Row-major n × n predicted probabilities (0-based residues; the upper triangle is drawn).
    pub predicted: Vec<f32>,
    /// Row-major n × n targets: 1 contact, 0 none, −1 unresolved (the lower triangle is drawn).
    pub targets: Vec<i8>,
    /// Pairs closer than this in sequence are neither drawn nor ranked (esm's short range
    /// starts at 6).
    pub min_separation: usize,
    /// What `predicted` holds, for the colour bar and caption ("contact probability").
    pub value_name: String,
    /// The values at the two ends of the colour scale ((0, 1) for probabilities).
    pub value_range: (f64, f64),
}

impl ContactMapPlot {
    pub fn new(protein: &str, residues: usize, predicted: Vec<f32>, targets: Vec<i8>) -> Self {
        ContactMapPlot {
            protein: protein.to_string(),
            residues,
            predicted,
            targets,
            min_separation: 6,
            value_name: "contact probability".to_string(),
            value_range: (0.0, 1.0),
        }
    }

    /// Scores that rank contacts but are not probabilities (e.g. categorical-Jacobian
    /// couplings, named by `value_name`): the colour scale spans the 1st to the 99th percentile
    /// of the drawn pairs (a few very large couplings would otherwise darken the rest).
    pub fn with_scores(
        protein: &str,
        residues: usize,
        scores: Vec<f32>,
        targets: Vec<i8>,
        value_name: &str,
    ) -> Self {
        let mut map = ContactMapPlot::new(protein, residues, scores, targets);
        let n = residues;
        let mut drawn: Vec<f64> = (0..n)
            .flat_map(|i| (i + map.min_separation..n).map(move |j| i * n + j))
            .filter_map(|k| map.predicted.get(k).map(|&v| v as f64))
            .filter(|v| v.is_finite())
            .collect();
        drawn.sort_by(f64::total_cmp);
        let quantile = |q: f64| drawn[((drawn.len() - 1) as f64 * q).round() as usize];
        map.value_name = value_name.to_string();
        map.value_range = match drawn.len() {
            0 => (0.0, 1.0),
            _ if quantile(0.01) < quantile(0.99) => (quantile(0.01), quantile(0.99)),
            _ => (drawn[0], drawn[0] + 1.0),
        };
        map
    }

    /// Where `value` sits on the colour scale, 0 to 1.
    fn scaled(&self, value: f64) -> f64 {
        let (lo, hi) = self.value_range;
        ((value - lo) / (hi - lo)).clamp(0.0, 1.0)
    }

    fn validate(&self) -> Result<()> {
        let n = self.residues;
        if n < 2 {
            return Err(Error::invalid(format!(
                "contact map `{}`: {n} residues, needs at least 2",
                self.protein
            )));
        }
        if self.predicted.len() != n * n || self.targets.len() != n * n {
            return Err(Error::invalid(format!(
                "contact map `{}`: {} predictions and {} targets for {n} residues (needs {n} × {n})",
                self.protein,
                self.predicted.len(),
                self.targets.len()
            )));
        }
        Ok(())
    }

    /// The L most probable pairs i < j at least `min_separation` apart with a known target,
    /// most probable first (L = residues with a known target, as esm counts it).
    pub fn top_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.residues;
        let known = (0..n)
            .filter(|&i| (0..n).any(|j| self.targets[i * n + j] >= 0))
            .count();
        let mut pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + self.min_separation.max(1)..n).map(move |j| (i, j)))
            .filter(|&(i, j)| self.targets[i * n + j] >= 0)
            .collect();
        pairs.sort_by(|a, b| {
            let (pa, pb) = (self.predicted[a.0 * n + a.1], self.predicted[b.0 * n + b.1]);
            pb.total_cmp(&pa).then(a.cmp(b))
        });
        pairs.truncate(known);
        pairs
    }

    /// Share of the top-L pairs that are contacts.
    pub fn top_l_precision(&self) -> f64 {
        self.precision_of(&self.top_pairs())
    }

    fn precision_of(&self, top: &[(usize, usize)]) -> f64 {
        let n = self.residues;
        let hits = top
            .iter()
            .filter(|&&(i, j)| self.targets[i * n + j] == 1)
            .count();
        hits as f64 / top.len().max(1) as f64
    }
}

/// Predicted (upper triangle) against true (lower triangle) contacts, top L marked.
pub fn contact_map_plot(name: &str, title: &str, map: &ContactMapPlot) -> Result<Figure> {
    map.validate()?;
    Figure::new(name, title, (520, 500), Kind::ContactMap(map.clone()))
}

pub(crate) fn caption(m: &ContactMapPlot) -> String {
    let top = m.top_pairs();
    format!(
        "{}: predicted {} above the diagonal, the structure's contacts below it (black; \
         hatched: unresolved); pairs at least {} apart. Marked: the top L = {} predictions, \
         filled where they are contacts (precision {:.2}).",
        m.protein,
        m.value_name,
        m.min_separation,
        top.len(),
        m.precision_of(&top)
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    m: &ContactMapPlot,
) -> Result<()> {
    m.validate()?;
    let n = m.residues;
    let top = draw::title(c, title)?;
    let tick = Txt::new(font::TICK);
    let colour_ticks = draw::nice_ticks(m.value_range.0, m.value_range.1, 5);
    let bar_w = layout::COLOUR_BAR_W;
    let colour_w = bar_w + draw::colour_bar_extra_width(c, &colour_ticks)?;
    let widest = c.text_width(&n.to_string(), tick)?;
    let label_w = widest + layout::TICK_GAP + 2.0;
    let x_title_h = font::LABEL * layout::TITLE_LINE;
    let legend_h = draw::legend_height(3);
    let avail_w = w - 2.0 * MARGIN - x_title_h - label_w - layout::PANEL_GAP - colour_w;
    let avail_h = h - top - MARGIN - font::TICK * layout::LINE - 8.0 - x_title_h - legend_h;
    let side = avail_w.min(avail_h);
    let cell = side / n as f64;
    if cell < 0.5 {
        return Err(Error::invalid(format!(
            "figure is too small for a {n} × {n} contact map"
        )));
    }
    let (mx0, my0) = (MARGIN + x_title_h + label_w, top);
    let (mx1, my1) = (mx0 + side, my0 + side);
    let rect = |i: usize, j: usize| {
        (
            mx0 + j as f64 * cell,
            my0 + i as f64 * cell,
            mx0 + (j + 1) as f64 * cell,
            my0 + (i + 1) as f64 * cell,
        )
    };
    let far = |i: usize, j: usize| i.abs_diff(j) >= m.min_separation.max(1);
    for i in 0..n {
        for j in 0..n {
            let (x0, y0, x1, y1) = rect(i, j);
            if i < j && far(i, j) {
                let p = m.scaled(m.predicted[i * n + j] as f64);
                c.fill_rect(x0, y0, x1, y1, palette::sequential(p))?;
            } else if i > j && far(i, j) {
                match m.targets[i * n + j] {
                    1 => c.fill_rect(x0, y0, x1, y1, palette::INK)?,
                    -1 => c.masked_cell(x0, y0, x1, y1)?,
                    _ => {}
                }
            }
        }
    }
    let r = (cell * 0.35).max(1.0);
    for (i, j) in m.top_pairs() {
        let (x0, y0, x1, y1) = rect(i, j);
        let (x, y) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        if m.targets[i * n + j] == 1 {
            c.circle(x, y, r, Some(palette::OVERLAY), None)?;
        } else {
            c.circle(x, y, r, None, Some((palette::OVERLAY, 1.0)))?;
        }
    }
    c.line(
        &[(mx0, my0), (mx1, my1)],
        palette::MUTED,
        layout::AXIS_STROKE,
    )?;
    c.outline_rect(mx0, my0, mx1, my1, palette::INK, layout::AXIS_STROKE)?;

    axes_and_keys(c, m, (mx0, my0, mx1, my1), widest, h - MARGIN - legend_h)
}

/// Residue axes on the left and below the map (`x0, y0, x1, y1`), the colour bar beside it and
/// the legend at `legend_y`.
fn axes_and_keys<DB: DrawingBackend>(
    c: &Canvas<DB>,
    m: &ContactMapPlot,
    (mx0, my0, mx1, my1): (f64, f64, f64, f64),
    widest: f64,
    legend_y: f64,
) -> Result<()> {
    let n = m.residues;
    let cell = (mx1 - mx0) / n as f64;
    let (lo, hi) = m.value_range;
    let colour_ticks = draw::nice_ticks(lo, hi, 5);
    for p in draw::thinned_labels(n, cell, widest + 8.0) {
        let centre = (p as f64 - 0.5) * cell;
        draw::left_tick(c, mx0, my0 + centre, &p.to_string())?;
        draw::bottom_tick(c, mx0 + centre, my1, &p.to_string())?;
    }
    c.text(
        "Residue (1-based)",
        (mx0 + mx1) / 2.0,
        my1 + layout::TICK_GAP + font::TICK * layout::LINE + 2.0,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
    )?;
    c.text(
        "Residue (1-based)",
        MARGIN,
        (my0 + my1) / 2.0,
        Txt::new(font::LABEL)
            .vertical()
            .anchor(HPos::Center, VPos::Top),
    )?;
    let cx0 = mx1 + layout::PANEL_GAP;
    draw::vertical_colour_bar(
        c,
        (cx0, my0, cx0 + layout::COLOUR_BAR_W, my1),
        lo,
        hi,
        &|v: f64| palette::sequential(m.scaled(v)),
        &colour_ticks,
        &format!("Predicted {}", m.value_name),
    )?;
    let entries = vec![
        (
            Key::Bar(palette::INK),
            "contact in the structure".to_string(),
        ),
        (
            Key::Ring(palette::OVERLAY),
            "top-L prediction (filled: a contact)".to_string(),
        ),
        (Key::Masked, "unresolved residue".to_string()),
    ];
    draw::legend(c, mx1, legend_y, &entries)
}

pub(crate) fn data(m: &ContactMapPlot) -> DataTable {
    let n = m.residues;
    let top: std::collections::HashSet<(usize, usize)> = m.top_pairs().into_iter().collect();
    let mut table = DataTable::new(&["protein", "i", "j", "probability", "target", "top_l"]);
    for i in 0..n {
        for j in i + m.min_separation.max(1)..n {
            table.row(vec![
                m.protein.clone(),
                (i + 1).to_string(),
                (j + 1).to_string(),
                num(m.predicted[i * n + j] as f64),
                m.targets[i * n + j].to_string(),
                top.contains(&(i, j)).to_string(),
            ]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn couplings_colour_between_their_percentiles() {
        let n = 40;
        // Scores 0..1 by pair, plus one huge outlier that must not stretch the scale.
        let mut scores: Vec<f32> = (0..n * n).map(|k| (k % 97) as f32 / 97.0).collect();
        scores[3 * n + 30] = 1000.0;
        let map = ContactMapPlot::with_scores("p", n, scores, vec![0; n * n], "coupling");
        let (lo, hi) = map.value_range;
        assert!((0.0..0.05).contains(&lo), "{lo}");
        assert!(hi > 0.9 && hi <= 1.0, "{hi}");
        assert_eq!(map.scaled(1000.0), 1.0);
        assert_eq!(map.scaled(-5.0), 0.0);
        let figure = contact_map_plot("c", "couplings", &map).unwrap();
        assert!(figure.caption().contains("predicted coupling"));
    }

    fn example(n: usize) -> ContactMapPlot {
        let mut predicted = vec![0f32; n * n];
        let mut targets = vec![0i8; n * n];
        for i in 0..n {
            for j in 0..n {
                let d = i.abs_diff(j) as f32;
                predicted[i * n + j] = 1.0 / (1.0 + d);
                targets[i * n + j] = i8::from(d < 9.0);
            }
        }
        targets[2 * n + 20] = -1;
        targets[20 * n + 2] = -1;
        ContactMapPlot::new("p", n, predicted, targets)
    }

    #[test]
    fn top_l_ranks_known_pairs_far_enough_apart() {
        let m = example(30);
        let top = m.top_pairs();
        assert_eq!(top.len(), 30);
        assert!(top.iter().all(|&(i, j)| j >= i + 6));
        assert_eq!(top[0], (0, 6));
        // Separation 6, 7 and 8 (24 + 23 + 22 pairs) fill the top 30, all contacts.
        assert_eq!(m.top_l_precision(), 1.0);
    }

    #[test]
    fn draws_and_refuses_bad_input() {
        let m = example(30);
        let figure = contact_map_plot("contacts_p", "Contacts of p", &m).unwrap();
        assert!(figure
            .to_svg()
            .unwrap()
            .contains("Predicted contact probability"));
        assert!(figure.caption().contains("top L = 30"));
        assert!(figure.data_csv().lines().count() > 1);
        let mut bad = m.clone();
        bad.targets.pop();
        assert!(contact_map_plot("x", "x", &bad).is_err());
    }
}
