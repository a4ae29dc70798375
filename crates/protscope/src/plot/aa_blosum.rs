//! Do heads that attend between two amino acids treat them as exchangeable? Two 20 × 20 maps
//! (attention correlation r between amino-acid profiles, BLOSUM62 score) in the same order,
//! and the scatter of their pairs with Pearson's r.

use super::draw::{self, font, layout, Axes, Canvas, Txt, MARGIN};
use super::palette;
use super::{num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;
use std::collections::BTreeSet;

/// One unordered pair of amino acids: attention correlation (NaN when undefined) and BLOSUM62.
#[derive(Debug, Clone, PartialEq)]
pub struct AaPair {
    pub aa1: char,
    pub aa2: char,
    pub r: f64,
    pub blosum62: f64,
}

/// Every unordered pair of a set of amino acids (190 for the standard 20).
#[derive(Debug, Clone, PartialEq)]
pub struct AaBlosum {
    pub pairs: Vec<AaPair>,
    /// Heads whose profiles were correlated (shown in the scatter's title when known).
    pub heads_used: Option<usize>,
}

impl AaBlosum {
    /// Reads a `<stem>.aa_blosum` table (`aa1, aa2, r, blosum62`, optional `heads_used`).
    pub fn from_frame(df: &DataFrame) -> Result<AaBlosum> {
        const TABLE: &str = schema::AMINO_ACID_BLOSUM.name;
        schema::AMINO_ACID_BLOSUM.require_columns(df, TABLE, &["aa1", "aa2", "r", "blosum62"])?;
        let aa1 = columns::strings(df, TABLE, "aa1")?;
        let aa2 = columns::strings(df, TABLE, "aa2")?;
        let r = columns::floats(df, TABLE, "r")?;
        let blosum = columns::floats(df, TABLE, "blosum62")?;
        let letter = |v: &Option<String>, row: usize, col: &str| -> Result<char> {
            let s = v.as_deref().unwrap_or("");
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(Error::invalid(format!(
                    "aa_blosum table: `{col}` in row {row} is `{s}`, not one letter"
                ))),
            }
        };
        let mut pairs = Vec::with_capacity(df.height());
        for i in 0..df.height() {
            pairs.push(AaPair {
                aa1: letter(&aa1[i], i, "aa1")?,
                aa2: letter(&aa2[i], i, "aa2")?,
                r: r[i],
                blosum62: blosum[i],
            });
        }
        let heads_used = if df.column("heads_used").is_ok() {
            columns::integers(df, TABLE, "heads_used")?
                .first()
                .map(|&n| n.max(0) as usize)
        } else {
            None
        };
        let a = AaBlosum { pairs, heads_used };
        a.validate()?;
        Ok(a)
    }

    /// The amino acids in alphabetical order (the order of both maps).
    pub fn order(&self) -> Vec<char> {
        self.pairs
            .iter()
            .flat_map(|p| [p.aa1, p.aa2])
            .collect::<BTreeSet<char>>()
            .into_iter()
            .collect()
    }

    /// Pearson's r between attention correlation and BLOSUM62 over pairs with a defined r,
    /// and how many pairs that is.
    pub fn blosum_r(&self) -> (Option<f64>, usize) {
        let defined: Vec<(f64, f64)> = self
            .pairs
            .iter()
            .filter(|p| p.r.is_finite())
            .map(|p| (p.blosum62, p.r))
            .collect();
        (pearson(&defined), defined.len())
    }

    /// Symmetric matrices (order × order) of r and BLOSUM62; the diagonal is None.
    fn matrices(&self) -> (Vec<char>, Vec<Option<f64>>, Vec<Option<f64>>) {
        let order = self.order();
        let n = order.len();
        let idx = |c: char| order.iter().position(|&x| x == c).unwrap_or(0);
        let (mut r, mut b) = (vec![None; n * n], vec![None; n * n]);
        for p in &self.pairs {
            let (i, j) = (idx(p.aa1), idx(p.aa2));
            for (x, y) in [(i, j), (j, i)] {
                r[x * n + y] = Some(p.r);
                b[x * n + y] = Some(p.blosum62);
            }
        }
        (order, r, b)
    }

    fn validate(&self) -> Result<()> {
        let order = self.order();
        let n = order.len();
        if n < 2 {
            return Err(Error::invalid(
                "amino-acid pairs: need at least two amino acids",
            ));
        }
        let mut seen = BTreeSet::new();
        for p in &self.pairs {
            if p.aa1 == p.aa2 {
                return Err(Error::invalid(format!(
                    "amino-acid pairs: `{}` is paired with itself",
                    p.aa1
                )));
            }
            if !seen.insert((p.aa1.min(p.aa2), p.aa1.max(p.aa2))) {
                return Err(Error::invalid(format!(
                    "amino-acid pairs: {}–{} appears twice",
                    p.aa1, p.aa2
                )));
            }
            if !p.blosum62.is_finite() || p.r.is_infinite() {
                return Err(Error::invalid(format!(
                    "amino-acid pairs: {}–{} has a non-finite score",
                    p.aa1, p.aa2
                )));
            }
        }
        if self.pairs.len() != n * (n - 1) / 2 {
            return Err(Error::invalid(format!(
                "amino-acid pairs: {} pairs for {n} amino acids (every unordered pair needs one: {})",
                self.pairs.len(),
                n * (n - 1) / 2
            )));
        }
        if self.pairs.iter().all(|p| p.r.is_nan()) {
            return Err(Error::invalid("amino-acid pairs: every correlation is NaN"));
        }
        Ok(())
    }
}

fn pearson(xy: &[(f64, f64)]) -> Option<f64> {
    let n = xy.len() as f64;
    if xy.len() < 3 {
        return None;
    }
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xy {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Attention correlation and BLOSUM62 maps side by side, and their scatter.
pub fn aa_blosum(name: &str, title: &str, data: &AaBlosum) -> Result<Figure> {
    data.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 320),
        Kind::AaBlosum(data.clone()),
    )
}

/// Symmetric limit for a diverging scale: the largest |value|, rounded up to a tick step.
fn symmetric_limit(values: &[Option<f64>]) -> f64 {
    let m = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if m <= 0.0 {
        return 1.0;
    }
    let step = 10f64.powf(m.log10().floor()) / 2.0;
    (m / step).ceil() * step
}

/// One order × order map with letters on both axes and a horizontal colour bar below.
#[allow(clippy::too_many_arguments)]
fn matrix_panel<DB: DrawingBackend>(
    c: &Canvas<DB>,
    x0: f64,
    y0: f64,
    side: f64,
    order: &[char],
    values: &[Option<f64>],
    limit: f64,
    label: &str,
) -> Result<()> {
    let n = order.len();
    let cell = side / n as f64;
    let color = |v: f64| palette::diverging(v / limit);
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue; // the diagonal stays blank: no pair
            }
            // Each edge from one formula, so neighbours share it exactly.
            let (cx0, cx1) = (x0 + j as f64 * cell, x0 + (j + 1) as f64 * cell);
            let (cy0, cy1) = (y0 + i as f64 * cell, y0 + (i + 1) as f64 * cell);
            match values[i * n + j] {
                Some(v) if v.is_finite() => c.fill_rect(cx0, cy0, cx1, cy1, color(v))?,
                _ => c.masked_cell(cx0, cy0, cx1, cy1)?,
            }
        }
    }
    c.outline_rect(
        x0,
        y0,
        x0 + side,
        y0 + side,
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let letters = Txt::new(font::SMALL);
    for (k, aa) in order.iter().enumerate() {
        let centre = (k as f64 + 0.5) * cell;
        let s = aa.to_string();
        c.text(
            &s,
            x0 - 3.0,
            y0 + centre,
            letters.anchor(HPos::Right, VPos::Center),
        )?;
        c.text(
            &s,
            x0 + centre,
            y0 + side + 3.0,
            letters.anchor(HPos::Center, VPos::Top),
        )?;
    }
    // Horizontal colour bar.
    let by0 = y0 + side + font::SMALL * layout::LINE + 8.0;
    let (bx0, bx1) = (x0 + side * 0.1, x0 + side * 0.9);
    let steps = ((bx1 - bx0).round() as usize).clamp(8, 256);
    let step_w = (bx1 - bx0) / steps as f64;
    for s in 0..steps {
        let v = -limit + 2.0 * limit * (s as f64 + 0.5) / steps as f64;
        let xs = bx0 + s as f64 * step_w;
        c.fill_rect(xs, by0, xs + step_w, by0 + 7.0, color(v))?;
    }
    c.outline_rect(bx0, by0, bx1, by0 + 7.0, palette::INK, 0.5)?;
    let ticks = [-limit, 0.0, limit];
    let tick_txt = Txt::new(font::SMALL).anchor(HPos::Center, VPos::Top);
    for (v, t) in ticks.iter().zip(draw::tick_labels(&ticks)) {
        let x = bx0 + (v + limit) / (2.0 * limit) * (bx1 - bx0);
        c.line(&[(x, by0 + 7.0), (x, by0 + 9.0)], palette::INK, 0.5)?;
        c.text(&t, x, by0 + 10.0, tick_txt)?;
    }
    c.text(
        label,
        x0 + side / 2.0,
        y0 - 4.0,
        Txt::new(font::LABEL).anchor(HPos::Center, VPos::Bottom),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    d: &AaBlosum,
) -> Result<()> {
    d.validate()?;
    let (order, r, b) = d.matrices();
    let top = draw::title(c, title)? + font::LABEL * layout::TITLE_LINE + 2.0;
    let letter_w = font::SMALL + 4.0;
    let below = font::SMALL * layout::LINE
        + 8.0
        + 7.0
        + 10.0
        + font::SMALL * layout::LINE
        + font::SMALL * 1.6;
    let scatter_min = 190.0;
    let gap = 22.0;
    let side = (h - top - MARGIN - below)
        .min((w - 2.0 * MARGIN - scatter_min - 2.0 * gap) / 2.0 - letter_w);
    if side < 4.0 * order.len() as f64 {
        return Err(Error::invalid(format!(
            "figure is too small for {} × {} amino-acid maps",
            order.len(),
            order.len()
        )));
    }
    let p1 = MARGIN + letter_w;
    matrix_panel(
        c,
        p1,
        top,
        side,
        &order,
        &r,
        symmetric_limit(&r),
        "Attention correlation r",
    )?;
    let p2 = p1 + side + gap + letter_w;
    matrix_panel(
        c,
        p2,
        top,
        side,
        &order,
        &b,
        symmetric_limit(&b),
        "BLOSUM62 score",
    )?;

    // Scatter: x = BLOSUM62, y = r.
    let (blosum_r, n_pairs) = d.blosum_r();
    let xs: Vec<f64> = d.pairs.iter().map(|p| p.blosum62).collect();
    let ys: Vec<f64> = d
        .pairs
        .iter()
        .filter(|p| p.r.is_finite())
        .map(|p| p.r)
        .collect();
    let (xlo, xhi) = draw::finite_range(xs.iter().copied()).unwrap_or((-4.0, 4.0));
    let (ylo, yhi) = draw::finite_range(ys.iter().copied()).unwrap_or((-1.0, 1.0));
    let pad = |lo: f64, hi: f64| {
        let p = ((hi - lo) * 0.06).max(0.05);
        (lo - p, hi + p)
    };
    let (xr, yr) = (pad(xlo, xhi), pad(ylo, yhi));
    let y_ticks = draw::nice_ticks(yr.0, yr.1, 4);
    let sx0 = p2 + side + gap + draw::y_axis_width(c, &draw::tick_labels(&y_ticks))?;
    let a = Axes {
        x0: sx0,
        y0: top,
        x1: w - MARGIN,
        y1: top + side,
        x_range: xr,
        y_range: yr,
    };
    draw::y_axis(
        c,
        &a,
        &y_ticks,
        sx0 - draw::y_axis_width(c, &draw::tick_labels(&y_ticks))?,
        "Attention correlation r",
    )?;
    let x_ticks = draw::nice_ticks(xr.0, xr.1, 4);
    draw::x_axis(
        c,
        &a,
        &x_ticks,
        &draw::tick_labels(&x_ticks),
        "BLOSUM62 score",
    )?;
    if let Some(z) = draw::nice_ticks(yr.0, yr.1, 1).iter().find(|v| **v == 0.0) {
        c.line(&[(a.x0, a.y(*z)), (a.x1, a.y(*z))], palette::MUTED, 0.5)?;
    }
    for p in d.pairs.iter().filter(|p| p.r.is_finite()) {
        c.circle(
            a.x(p.blosum62),
            a.y(p.r),
            2.2,
            None,
            Some((palette::BAR, 0.9)),
        )?;
    }
    let r_text = blosum_r.map_or("Pearson r undefined".to_string(), |r| {
        format!("Pearson r = {r:.2}, {n_pairs} pairs")
    });
    c.text(
        &r_text,
        a.x1,
        top - 4.0,
        Txt::new(font::LABEL).anchor(HPos::Right, VPos::Bottom),
    )?;
    // Notes row under the maps: what blank and hatched cells mean, and the heads used.
    let note = Txt::new(font::SMALL)
        .color(palette::MUTED)
        .anchor(HPos::Left, VPos::Center);
    let ny = h - MARGIN - font::SMALL * 0.7;
    let mut x = MARGIN;
    if d.pairs.iter().any(|p| p.r.is_nan()) {
        c.masked_cell(x, ny - 5.0, x + 10.0, ny + 5.0)?;
        c.outline_rect(x, ny - 5.0, x + 10.0, ny + 5.0, palette::MUTED, 0.5)?;
        c.text("r undefined", x + 14.0, ny, note)?;
        x += 14.0 + c.text_width("r undefined", note)? + 14.0;
    }
    let mut tail = "diagonal blank (no pair)".to_string();
    if let Some(n) = d.heads_used {
        tail.push_str(&format!("; r over {n} heads"));
    }
    c.text(&tail, x, ny, note)?;
    Ok(())
}

pub(crate) fn data(d: &AaBlosum) -> DataTable {
    let mut t = DataTable::new(&["aa1", "aa2", "r", "blosum62", "blosum_r", "pairs_used"]);
    let (blosum_r, used) = d.blosum_r();
    for p in &d.pairs {
        t.row(vec![
            p.aa1.to_string(),
            p.aa2.to_string(),
            num(p.r),
            num(p.blosum62),
            blosum_r.map_or_else(String::new, num),
            used.to_string(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    fn fixture(n: usize) -> AaBlosum {
        let letters: Vec<char> = "ACDEFGHIKLMNPQRSTVWY".chars().take(n).collect();
        let mut pairs = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let b = ((i * 7 + j * 3) % 9) as f64 - 4.0;
                pairs.push(AaPair {
                    aa1: letters[i],
                    aa2: letters[j],
                    r: if i == 0 && j == 1 {
                        f64::NAN
                    } else {
                        b / 10.0 + 0.05
                    },
                    blosum62: b,
                });
            }
        }
        AaBlosum {
            pairs,
            heads_used: Some(64),
        }
    }

    #[test]
    fn draws_two_symmetric_maps_and_the_scatter() {
        let d = fixture(20);
        let fig = aa_blosum("aa", "Amino acids", &d).unwrap();
        let el = render_checked(&fig);
        // Every letter labels two axes in each of the two maps.
        assert_eq!(count_text(&el, "W"), 4);
        // 189 defined pairs as scatter points (one r is NaN).
        assert_eq!(el.iter().filter(|e| e.tag == "circle").count(), 189);
        let (r, used) = d.blosum_r();
        assert_eq!(used, 189);
        assert!(r.unwrap() > 0.99, "r is linear in BLOSUM here");
        assert_eq!(
            count_text(&el, "Pearson r = 1.00, 189 pairs"),
            1,
            "{:?}",
            texts(&el)
        );
        assert_eq!(count_text(&el, "r undefined"), 1);
        assert_eq!(
            count_text(&el, "diagonal blank (no pair); r over 64 heads"),
            1
        );
        // The NaN pair is masked on both sides of the diagonal (+1 legend key).
        assert_eq!(rects_filled(&el, palette::MASKED), 3);
        assert_eq!(fig.data_csv().lines().count(), 1 + 190);
    }

    #[test]
    fn incomplete_or_duplicate_pairs_are_errors() {
        let mut d = fixture(5);
        d.pairs.pop();
        assert!(aa_blosum("a", "", &d).is_err());
        let mut d = fixture(5);
        d.pairs[1] = d.pairs[0].clone();
        assert!(aa_blosum("a", "", &d).is_err());
        let mut d = fixture(5);
        d.pairs[0].aa2 = d.pairs[0].aa1;
        assert!(aa_blosum("a", "", &d).is_err());
        let mut d = fixture(5);
        for p in &mut d.pairs {
            p.r = f64::NAN;
        }
        assert!(aa_blosum("a", "", &d).is_err());
    }

    #[test]
    fn from_frame_reads_the_aa_blosum_table() {
        let df = df!(
            "aa1" => ["A", "A", "C"],
            "aa2" => ["C", "D", "D"],
            "r" => [0.1, f64::NAN, -0.2],
            "blosum62" => [0.0, -2.0, -3.0],
            "blosum_r" => [0.5, 0.5, 0.5],
            "heads_used" => [12i64, 12, 12],
        )
        .unwrap();
        let d = AaBlosum::from_frame(&df).unwrap();
        assert_eq!(d.order(), vec!['A', 'C', 'D']);
        assert_eq!(d.heads_used, Some(12));
        let bad = df!("aa1" => ["AC"], "aa2" => ["D"], "r" => [0.1], "blosum62" => [1.0]).unwrap();
        assert!(AaBlosum::from_frame(&bad).is_err());
        assert!(AaBlosum::from_frame(&df.drop("r").unwrap()).is_err());
    }
}
