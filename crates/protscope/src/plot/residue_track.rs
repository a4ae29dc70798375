//! One protein along its sequence: a ruler, the residues, per-residue relevance (diverging,
//! zero at the centre), optionally attention received, and one lane per annotation type, all on
//! one position axis.

use super::draw::{self, font, layout, Canvas, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::model::Level;
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;

/// A 1-based inclusive range with its label (e.g. "CDR-H1").
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

/// One annotation type: ranges drawn as bars, single positions as ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationLane {
    pub name: String,
    pub spans: Vec<Span>,
    /// 1-based positions.
    pub sites: Vec<usize>,
}

/// Everything known about one protein, per residue.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidueTrack {
    pub protein: String,
    pub sequence: String,
    /// One value per residue (NaN is masked).
    pub relevance: Vec<f64>,
    /// Attention each residue receives (one per residue), drawn when given.
    pub attention_received: Option<Vec<f64>>,
    pub lanes: Vec<AnnotationLane>,
    /// Name of the relevance lane, e.g. "IG relevance (L3 H6)".
    pub relevance_label: String,
}

// Lane heights in logical pixels.
const RULER_H: f64 = 22.0;
const RESIDUES_H: f64 = 14.0;
const RELEVANCE_H: f64 = 64.0;
const ATTENTION_H: f64 = 40.0;
const ANNOTATION_H: f64 = 17.0;
/// Lanes with labelled spans print the labels under the bars (spans are often narrower than
/// their labels: an 8-residue CDR is ~35 px at page width).
const LABELLED_H: f64 = ANNOTATION_H + font::SMALL * layout::LINE + 2.0;
const LANE_GAP: f64 = 6.0;
/// The position-axis title under the lanes.
const AXIS_TITLE_H: f64 = 6.0 + font::LABEL * layout::TITLE_LINE;

impl AnnotationLane {
    fn labelled(&self) -> bool {
        self.spans.iter().any(|s| !s.label.is_empty())
    }
    fn height(&self) -> f64 {
        if self.labelled() {
            LABELLED_H
        } else {
            ANNOTATION_H
        }
    }
}

impl ResidueTrack {
    /// From an attribution table (`protein, layer, head, position, residue, relevance`; the
    /// embedding level is layer = head = -1; positions 0 and n + 1 are the special tokens) and,
    /// optionally, a features table (`accession, type, start, end, description`, 1-based
    /// inclusive): one lane per feature type, in order of first appearance.
    pub fn from_frames(
        attribution: &DataFrame,
        protein: &str,
        level: Level,
        features: Option<&DataFrame>,
    ) -> Result<ResidueTrack> {
        const TABLE: &str = schema::ATTRIBUTION.name;
        schema::ATTRIBUTION.require_columns(
            attribution,
            TABLE,
            &[
                "protein",
                "layer",
                "head",
                "position",
                "residue",
                "relevance",
            ],
        )?;
        let (layer, head) = level.columns();
        let proteins = columns::strings(attribution, TABLE, "protein")?;
        let layers = columns::integers(attribution, TABLE, "layer")?;
        let heads = columns::integers(attribution, TABLE, "head")?;
        let positions = columns::integers(attribution, TABLE, "position")?;
        let residues = columns::strings(attribution, TABLE, "residue")?;
        let relevance = columns::floats(attribution, TABLE, "relevance")?;
        let mut rows: Vec<usize> = (0..attribution.height())
            .filter(|&i| {
                proteins[i].as_deref() == Some(protein) && layers[i] == layer && heads[i] == head
            })
            .collect();
        if rows.is_empty() {
            return Err(Error::invalid(format!(
                "attribution table has no rows for `{protein}` at {level}"
            )));
        }
        rows.sort_by_key(|&i| positions[i]);
        // 0 = a leading special token (none in T5), n+1 = the final one.
        let first = positions[rows[0]];
        if !(0..=1).contains(&first)
            || rows
                .iter()
                .enumerate()
                .any(|(k, &i)| positions[i] != first + k as i64)
            || rows.len() < 2 + (first == 0) as usize
        {
            return Err(Error::invalid(format!(
                "attribution table: `{protein}` positions are not 0..=n+1 (or 1..=n+1) once each"
            )));
        }
        // One final special token, or XLNet's two (`<sep> <cls>`, multi-letter token texts).
        let mut end = rows.len() - 1;
        while end > 1
            && residues[rows[end - 1]]
                .as_deref()
                .is_some_and(|r| r.chars().count() > 1)
        {
            end -= 1;
        }
        let inner = &rows[(first == 0) as usize..end];
        let mut sequence = String::with_capacity(inner.len());
        for &i in inner {
            let r = residues[i].as_deref().unwrap_or("");
            let mut chars = r.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => sequence.push(c),
                _ => {
                    let p = positions[i];
                    return Err(Error::invalid(format!(
                        "attribution table: `{protein}` position {p}: residue `{r}` is not one letter"
                    )));
                }
            }
        }
        let relevance: Vec<f64> = inner.iter().map(|&i| relevance[i]).collect();
        let lanes = match features {
            Some(f) => lanes_from_features(f, protein, inner.len())?,
            None => Vec::new(),
        };
        let relevance_label = if layer < 0 {
            "Relevance (embedding)".to_string()
        } else {
            format!("Relevance (L{} H{})", layer + 1, head + 1)
        };
        let track = ResidueTrack {
            protein: protein.to_string(),
            sequence,
            relevance,
            attention_received: None,
            lanes,
            relevance_label,
        };
        track.validate()?;
        Ok(track)
    }

    fn len(&self) -> usize {
        self.sequence.chars().count()
    }

    fn validate(&self) -> Result<f64> {
        let n = self.len();
        if n == 0 {
            return Err(Error::invalid(format!(
                "residue track `{}`: empty sequence",
                self.protein
            )));
        }
        if self.relevance.len() != n {
            return Err(Error::invalid(format!(
                "residue track `{}`: {} relevance values for {n} residues",
                self.protein,
                self.relevance.len()
            )));
        }
        if let Some(a) = &self.attention_received {
            if a.len() != n {
                return Err(Error::invalid(format!(
                    "residue track `{}`: {} attention values for {n} residues",
                    self.protein,
                    a.len()
                )));
            }
        }
        for lane in &self.lanes {
            for s in &lane.spans {
                if s.start < 1 || s.end < s.start || s.end > n {
                    return Err(Error::invalid(format!(
                        "residue track `{}`: {} span {}–{} is outside 1..={n}",
                        self.protein, lane.name, s.start, s.end
                    )));
                }
            }
            if let Some(p) = lane.sites.iter().find(|&&p| p < 1 || p > n) {
                return Err(Error::invalid(format!(
                    "residue track `{}`: {} site {p} is outside 1..={n}",
                    self.protein, lane.name
                )));
            }
        }
        let m = self
            .relevance
            .iter()
            .filter(|v| v.is_finite())
            .fold(None, |m: Option<f64>, v| {
                Some(m.unwrap_or(0.0).max(v.abs()))
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "residue track `{}`: every relevance is NaN",
                    self.protein
                ))
            })?;
        Ok(if m > 0.0 { m } else { 1.0 })
    }

    fn height(&self) -> f64 {
        let title = MARGIN + font::TITLE * layout::LINE + 8.0;
        let attention = if self.attention_received.is_some() {
            ATTENTION_H + LANE_GAP
        } else {
            0.0
        };
        title
            + RULER_H
            + RESIDUES_H
            + LANE_GAP
            + RELEVANCE_H
            + LANE_GAP
            + attention
            + self
                .lanes
                .iter()
                .map(|l| l.height() + LANE_GAP)
                .sum::<f64>()
            + AXIS_TITLE_H
            + MARGIN
    }
}

fn lanes_from_features(df: &DataFrame, protein: &str, n: usize) -> Result<Vec<AnnotationLane>> {
    const TABLE: &str = schema::FEATURES.name;
    schema::FEATURES.require_columns(
        df,
        TABLE,
        &["accession", "type", "start", "end", "description"],
    )?;
    let accession = columns::strings(df, TABLE, "accession")?;
    let kind = columns::strings(df, TABLE, "type")?;
    let start = columns::optional_integers(df, TABLE, "start")?;
    let end = columns::optional_integers(df, TABLE, "end")?;
    let description = columns::strings(df, TABLE, "description")?;
    let mut lanes: Vec<AnnotationLane> = Vec::new();
    for i in 0..df.height() {
        if accession[i].as_deref() != Some(protein) {
            continue;
        }
        // Features with an unknown end cannot be placed.
        let (Some(s), Some(e)) = (start[i], end[i]) else {
            continue;
        };
        if s < 1 || e < s || e as usize > n {
            return Err(Error::invalid(format!(
                "features table: `{protein}` feature {s}–{e} is outside the sequence (1..={n})"
            )));
        }
        let name = kind[i].clone().unwrap_or_else(|| "feature".to_string());
        let lane = match lanes.iter().position(|l| l.name == name) {
            Some(k) => &mut lanes[k],
            None => {
                lanes.push(AnnotationLane {
                    name,
                    spans: vec![],
                    sites: vec![],
                });
                lanes.last_mut().expect("just pushed")
            }
        };
        if s == e {
            lane.sites.push(s as usize);
        } else {
            lane.spans.push(Span {
                start: s as usize,
                end: e as usize,
                label: description[i].clone().unwrap_or_default(),
            });
        }
    }
    Ok(lanes)
}

/// The residue track of one protein; its height follows the number of lanes.
pub fn residue_track(name: &str, title: &str, track: &ResidueTrack) -> Result<Figure> {
    track.validate()?;
    let h = track.height().round() as u32;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, h),
        Kind::ResidueTrack(track.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    t: &ResidueTrack,
) -> Result<()> {
    let rel_max = t.validate()?;
    let n = t.len();
    let mut y = draw::title(c, title)?;
    let tick = Txt::new(font::TICK);
    let small = Txt::new(font::SMALL);
    let mut lane_names: Vec<String> = vec![t.relevance_label.clone(), "Attention received".into()];
    lane_names.extend(t.lanes.iter().map(|l| l.name.clone()));
    let x0 = MARGIN + c.max_text_width(&lane_names, tick)? + 10.0;
    // Right margin for the lanes' scale labels.
    let scale_labels = [format!("{:+.2}", rel_max), format!("{:+.2}", -rel_max)];
    let x1 = w - MARGIN - c.max_text_width(&scale_labels, small)? - 6.0;
    let cell = (x1 - x0) / n as f64;
    if cell < 0.3 || h < t.height() - 1.0 {
        return Err(Error::invalid(format!(
            "figure is too small for the residue track of `{}` ({n} residues, {} lanes)",
            t.protein,
            t.lanes.len()
        )));
    }
    let x_of = |pos: f64| x0 + (pos - 1.0) * cell; // left edge of 1-based position
    let lane_label = |c: &Canvas<DB>, text: &str, yc: f64| {
        c.text(text, x0 - 8.0, yc, tick.anchor(HPos::Right, VPos::Center))
    };

    // Ruler: 1-based positions.
    let step = [1usize, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|&s| s as f64 * cell >= c.text_width(&n.to_string(), tick).unwrap_or(20.0) + 10.0)
        .unwrap_or(1000);
    let ruler_y = y + RULER_H - 4.0;
    c.line(
        &[(x0, ruler_y), (x1, ruler_y)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let mut marks: Vec<usize> = (step..=n).step_by(step).collect();
    if step > 1 && (step - 1) as f64 * cell >= 24.0 {
        marks.insert(0, 1);
    }
    for p in marks {
        let x = x_of(p as f64) + cell / 2.0;
        c.line(
            &[(x, ruler_y - 4.0), (x, ruler_y)],
            palette::INK,
            layout::AXIS_STROKE,
        )?;
        c.text(
            &p.to_string(),
            x,
            ruler_y - 5.0,
            tick.anchor(HPos::Center, VPos::Bottom),
        )?;
    }
    y += RULER_H;

    // Residues, when letters fit.
    // Without letters the relevance lane takes the residue lane's room.
    let letters = cell >= 6.0;
    let relevance_h = if letters {
        RELEVANCE_H
    } else {
        RELEVANCE_H + RESIDUES_H + LANE_GAP
    };
    if letters {
        for (i, aa) in t.sequence.chars().enumerate() {
            c.text(
                &aa.to_string(),
                x_of(i as f64 + 1.0) + cell / 2.0,
                y + RESIDUES_H / 2.0,
                small.anchor(HPos::Center, VPos::Center),
            )?;
        }
        lane_label(c, "Residue", y + RESIDUES_H / 2.0)?;
        y += RESIDUES_H + LANE_GAP;
    }

    // Relevance: bars from zero, diverging colours, symmetric scale.
    let zero = y + relevance_h / 2.0;
    let half = relevance_h / 2.0;
    c.fill_rect(x0, y, x1, y + relevance_h, RGBA_BACKGROUND)?;
    for (i, v) in t.relevance.iter().enumerate() {
        let (bx0, bx1) = (x_of(i as f64 + 1.0), x_of(i as f64 + 2.0));
        let gap = if cell >= 4.0 { cell * 0.1 } else { 0.0 };
        if v.is_finite() {
            let top = zero - v / rel_max * half;
            let (a, b) = (top.min(zero), top.max(zero));
            c.fill_rect(
                bx0 + gap,
                a,
                bx1 - gap,
                b.max(a + 0.5),
                palette::diverging(v / rel_max),
            )?;
        } else {
            c.fill_rect(bx0 + gap, y, bx1 - gap, y + relevance_h, palette::MASKED)?;
        }
    }
    c.line(&[(x0, zero), (x1, zero)], palette::MUTED, 0.5)?;
    c.outline_rect(
        x0,
        y,
        x1,
        y + relevance_h,
        palette::GRID,
        layout::AXIS_STROKE,
    )?;
    let right = small.color(palette::MUTED).anchor(HPos::Left, VPos::Center);
    c.text(&scale_labels[0], x1 + 4.0, y + 4.0, right)?;
    c.text("0", x1 + 4.0, zero, right)?;
    c.text(&scale_labels[1], x1 + 4.0, y + relevance_h - 4.0, right)?;
    lane_label(c, &t.relevance_label, zero)?;
    y += relevance_h + LANE_GAP;

    if let Some(att) = &t.attention_received {
        let a_max = draw::finite_range(att.iter().copied())
            .map_or(1.0, |r| r.1)
            .max(1e-12);
        c.fill_rect(x0, y, x1, y + ATTENTION_H, RGBA_BACKGROUND)?;
        for (i, v) in att.iter().enumerate() {
            let (bx0, bx1) = (x_of(i as f64 + 1.0), x_of(i as f64 + 2.0));
            let gap = if cell >= 4.0 { cell * 0.1 } else { 0.0 };
            if v.is_finite() && *v > 0.0 {
                let top = y + ATTENTION_H - v / a_max * ATTENTION_H;
                c.fill_rect(bx0 + gap, top, bx1 - gap, y + ATTENTION_H, palette::BAR)?;
            }
        }
        c.outline_rect(
            x0,
            y,
            x1,
            y + ATTENTION_H,
            palette::GRID,
            layout::AXIS_STROKE,
        )?;
        c.text(&format!("{a_max:.2}"), x1 + 4.0, y + 4.0, right)?;
        c.text("0", x1 + 4.0, y + ATTENTION_H - 4.0, right)?;
        lane_label(c, "Attention received", y + ATTENTION_H / 2.0)?;
        y += ATTENTION_H + LANE_GAP;
    }

    for (k, lane) in t.lanes.iter().enumerate() {
        // Lane colours skip blue (relevance/attention bars) and vermillion.
        let color = palette::categorical(2 + k % 6);
        let yc = y + ANNOTATION_H / 2.0;
        c.line(&[(x0, yc), (x1, yc)], palette::GRID, layout::AXIS_STROKE)?;
        let mut spans: Vec<&Span> = lane.spans.iter().collect();
        spans.sort_by_key(|s| (s.start, s.end));
        // Right edge of the last label drawn: a label that would overlap it is left out (it
        // is still in the figure's data).
        let mut last_label_end = f64::NEG_INFINITY;
        for s in spans {
            let (sx0, sx1) = (x_of(s.start as f64), x_of(s.end as f64 + 1.0));
            c.fill_rect(sx0, y + 2.0, sx1, y + ANNOTATION_H - 2.0, color)?;
            if s.label.is_empty() {
                continue;
            }
            let tw = c.text_width(&s.label, small)?;
            let centre = ((sx0 + sx1) / 2.0).clamp(x0 + tw / 2.0, w - MARGIN - tw / 2.0);
            if centre - tw / 2.0 >= last_label_end + 4.0 {
                c.text(
                    &s.label,
                    centre,
                    y + ANNOTATION_H,
                    small.anchor(HPos::Center, VPos::Top),
                )?;
                last_label_end = centre + tw / 2.0;
            }
        }
        for &p in &lane.sites {
            let x = x_of(p as f64) + cell / 2.0;
            c.line(&[(x, y), (x, y + ANNOTATION_H)], color, 1.5)?;
        }
        lane_label(c, &lane.name, yc)?;
        y += lane.height() + LANE_GAP;
    }

    // Shared position axis at the bottom.
    let axis_y = y - LANE_GAP + 2.0;
    c.line(
        &[(x0, axis_y), (x1, axis_y)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    c.text(
        &format!("Residue position in {} (1-based)", t.protein),
        (x0 + x1) / 2.0,
        axis_y + 6.0,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
    )
}

/// Faint lane background, so the lanes' extents read without heavy frames.
const RGBA_BACKGROUND: plotters::style::RGBColor = plotters::style::RGBColor(0xF7, 0xF7, 0xF7);

pub(crate) fn data(t: &ResidueTrack) -> DataTable {
    let mut table = DataTable::new(&[
        "protein",
        "position",
        "residue",
        "relevance",
        "attention_received",
        "annotations",
    ]);
    for (i, aa) in t.sequence.chars().enumerate() {
        let p = i + 1;
        let notes: Vec<String> = t
            .lanes
            .iter()
            .flat_map(|l| {
                l.spans
                    .iter()
                    .filter(move |s| s.start <= p && p <= s.end)
                    .map(move |s| {
                        if s.label.is_empty() {
                            l.name.clone()
                        } else {
                            format!("{}: {}", l.name, s.label)
                        }
                    })
                    .chain(
                        l.sites
                            .iter()
                            .filter(move |&&q| q == p)
                            .map(move |_| l.name.clone()),
                    )
            })
            .collect();
        table.row(vec![
            t.protein.clone(),
            p.to_string(),
            aa.to_string(),
            t.relevance.get(i).map_or_else(String::new, |v| num(*v)),
            t.attention_received
                .as_ref()
                .and_then(|a| a.get(i))
                .map_or_else(String::new, |v| num(*v)),
            notes.join("; "),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    fn fixture(n: usize) -> ResidueTrack {
        let sequence: String = "EVQLVESGGGLVQPGGSLRLSCAASGFTFS"
            .chars()
            .cycle()
            .take(n)
            .collect();
        ResidueTrack {
            protein: "VH1".into(),
            sequence,
            relevance: (0..n).map(|i| ((i as f64) * 0.7).sin() * 0.1).collect(),
            attention_received: Some((0..n).map(|i| (i % 5) as f64 / 10.0).collect()),
            lanes: vec![
                AnnotationLane {
                    name: "Region".into(),
                    spans: vec![
                        Span {
                            start: 3,
                            end: 12,
                            label: "CDR-H1".into(),
                        },
                        Span {
                            start: 15,
                            end: 16,
                            label: "a label too long".into(),
                        },
                        Span {
                            start: 17,
                            end: 18,
                            label: "overlapping neighbour".into(),
                        },
                    ],
                    sites: vec![],
                },
                AnnotationLane {
                    name: "Disulfide bond".into(),
                    spans: vec![],
                    sites: vec![2, 20],
                },
            ],
            relevance_label: "Relevance (L3 H6)".into(),
        }
    }

    #[test]
    fn track_draws_letters_bars_lanes_and_labels() {
        let t = fixture(30);
        let fig = residue_track("track", "VH1", &t).unwrap();
        let el = render_checked(&fig);
        // 30 residue letters: 'E' occurs at positions 1 and 6 of the cycle.
        assert_eq!(count_text(&el, "E"), 2, "{:?}", texts(&el));
        for label in [
            "Region",
            "Disulfide bond",
            "Relevance (L3 H6)",
            "Attention received",
            "CDR-H1",
            "Residue",
        ] {
            assert_eq!(count_text(&el, label), 1, "{label}");
        }
        // Labels go under their bars; one that would overlap its neighbour is left out.
        assert_eq!(count_text(&el, "a label too long"), 1);
        assert_eq!(count_text(&el, "overlapping neighbour"), 0);
        let csv = fig.data_csv();
        assert_eq!(csv.lines().count(), 31);
        assert!(
            csv.lines().nth(3).unwrap().ends_with("Region: CDR-H1"),
            "{csv}"
        );
        assert!(csv.lines().nth(2).unwrap().ends_with("Disulfide bond"));
    }

    #[test]
    fn long_track_omits_letters() {
        let fig = residue_track("track", "", &fixture(400)).unwrap();
        let el = parse_svg(&fig.to_svg().unwrap());
        assert_eq!(count_text(&el, "E"), 0);
        assert_eq!(count_text(&el, "Residue"), 0);
        assert_eq!(count_text(&el, "400"), 1, "ruler reaches the end");
    }

    #[test]
    fn mismatched_lengths_and_out_of_range_features_are_errors() {
        let mut t = fixture(30);
        t.relevance.pop();
        assert!(residue_track("t", "", &t).is_err());
        let mut t = fixture(30);
        t.attention_received = Some(vec![0.0; 3]);
        assert!(residue_track("t", "", &t).is_err());
        let mut t = fixture(30);
        t.lanes[0].spans[0].end = 31;
        assert!(residue_track("t", "", &t).is_err());
        let mut t = fixture(30);
        t.lanes[1].sites.push(0);
        assert!(residue_track("t", "", &t).is_err());
        let mut t = fixture(30);
        t.relevance = vec![f64::NAN; 30];
        assert!(residue_track("t", "", &t).is_err());
    }

    #[test]
    fn from_frames_drops_special_tokens_and_groups_features_by_type() {
        let attribution = df!(
            "protein" => ["P1"; 5],
            "layer" => [2i64; 5],
            "head" => [5i64; 5],
            "position" => [4i64, 0, 1, 2, 3],
            "residue" => ["<eos>", "<cls>", "M", "K", "V"],
            "relevance" => [0.0f32, 0.0, 0.5, -0.25, 0.125],
        )
        .unwrap();
        let features = df!(
            "accession" => ["P1", "P1", "P2", "P1"],
            "type" => ["Region", "Binding site", "Region", "Region"],
            "start" => [Some(1u32), Some(2), Some(1), None],
            "end" => [Some(2u32), Some(2), Some(9), Some(3)],
            "description" => [Some("CDR-H1"), None, Some("other protein"), Some("unknown start")],
        )
        .unwrap();
        let t = ResidueTrack::from_frames(
            &attribution,
            "P1",
            Level::Head { layer: 2, head: 5 },
            Some(&features),
        )
        .unwrap();
        assert_eq!(t.sequence, "MKV");
        assert_eq!(t.relevance, vec![0.5, -0.25, 0.125]);
        assert_eq!(t.relevance_label, "Relevance (L3 H6)");
        assert_eq!(t.lanes.len(), 2);
        assert_eq!(
            t.lanes[0].spans,
            vec![Span {
                start: 1,
                end: 2,
                label: "CDR-H1".into()
            }]
        );
        assert_eq!(t.lanes[1].sites, vec![2]);
        assert!(ResidueTrack::from_frames(
            &attribution,
            "P1",
            Level::Head { layer: 0, head: 0 },
            None
        )
        .is_err());
        let gap = attribution.slice(0, 4);
        assert!(
            ResidueTrack::from_frames(&gap, "P1", Level::Head { layer: 2, head: 5 }, None).is_err(),
            "missing position"
        );
        let too_long = df!(
            "accession" => ["P1"], "type" => ["Region"], "start" => [2i64], "end" => [9i64],
            "description" => ["x"],
        )
        .unwrap();
        assert!(ResidueTrack::from_frames(
            &attribution,
            "P1",
            Level::Head { layer: 2, head: 5 },
            Some(&too_long)
        )
        .is_err());
    }
}
