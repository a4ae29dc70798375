//! A statistic per layer (by default `property_share`: where in depth a property's attention
//! sits), one line per property, each with its centre of gravity marked on the layer axis.

use super::draw::{self, font, layout, Axes, Canvas, Key, Txt, MARGIN};
use super::palette;
use super::{num, opt_num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::{columns, schema};
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use polars::prelude::DataFrame;

/// One property's values per layer (index 0 = layer 1); None where undefined.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSeries {
    pub property: String,
    pub values: Vec<Option<f64>>,
}

impl LayerSeries {
    /// Σ layer · value / Σ value over defined layers, 1-based; None when the sum is not
    /// positive (a centre of gravity needs non-negative weights with some mass).
    pub fn centre_of_gravity(&self) -> Option<f64> {
        centre_of_gravity(&self.values, 1)
    }
}

/// Σ layer · value / Σ value over the defined values, the first value being layer
/// `first_layer`; None when the sum is not positive.
pub(crate) fn centre_of_gravity(values: &[Option<f64>], first_layer: usize) -> Option<f64> {
    let (mut weighted, mut total) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            weighted += (first_layer + i) as f64 * v;
            total += v;
        }
    }
    (total > 0.0).then(|| weighted / total)
}

/// Several properties' per-layer profiles of one statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerProfile {
    /// What the y axis shows, e.g. "share of property attention".
    pub statistic: String,
    pub series: Vec<LayerSeries>,
}

/// Okabe–Ito has eight colours; more lines would repeat them.
const MAX_SERIES: usize = 8;

impl LayerProfile {
    /// Reads a `<stem>.layers` table: `value_column` per (`property`, 0-based `layer`), for
    /// `properties` in that order (all, in order of first appearance, when None).
    pub fn from_frame(
        df: &DataFrame,
        value_column: &str,
        properties: Option<&[&str]>,
    ) -> Result<LayerProfile> {
        const TABLE: &str = schema::HEAD_LAYERS.name;
        schema::HEAD_LAYERS.require_columns(df, TABLE, &["property", "layer", value_column])?;
        let props = columns::strings(df, TABLE, "property")?;
        let layers = columns::integers(df, TABLE, "layer")?;
        let values = columns::floats(df, TABLE, value_column)?;
        let names: Vec<String> = match properties {
            Some(list) => list.iter().map(|s| s.to_string()).collect(),
            None => {
                let mut seen: Vec<String> = Vec::new();
                for p in props.iter().flatten() {
                    if !seen.contains(p) {
                        seen.push(p.clone());
                    }
                }
                seen
            }
        };
        let max_layer = layers.iter().copied().max().unwrap_or(-1);
        if !(0..10_000).contains(&max_layer) || layers.iter().any(|&l| l < 0) {
            return Err(Error::invalid(format!(
                "layers table has no rows, a negative layer, or layer {max_layer} (not a model's)"
            )));
        }
        let num_layers = max_layer + 1;
        let mut series = Vec::with_capacity(names.len());
        for name in names {
            let mut v: Vec<Option<Option<f64>>> = vec![None; num_layers as usize];
            for i in 0..df.height() {
                if props[i].as_deref() == Some(name.as_str()) {
                    let slot = &mut v[layers[i] as usize];
                    if slot.is_some() {
                        return Err(Error::invalid(format!(
                            "layers table has two rows for `{name}` layer {}",
                            layers[i]
                        )));
                    }
                    *slot = Some(Some(values[i]).filter(|x| x.is_finite()));
                }
            }
            if v.iter().all(Option::is_none) {
                return Err(Error::invalid(format!(
                    "layers table has no rows for property `{name}`"
                )));
            }
            series.push(LayerSeries {
                property: name,
                values: v.into_iter().map(Option::flatten).collect(),
            });
        }
        let profile = LayerProfile {
            statistic: value_column.replace('_', " "),
            series,
        };
        profile.validate()?;
        Ok(profile)
    }

    /// Reads a `contacts-layers` table: `metric` (`p_at_l`, `p_at_l2`, `p_at_l5` or `auc`) of
    /// the head fitted on each layer, one line per separation range (local left out); the
    /// all-layer head's value is given in the line's name.
    pub fn from_contact_layers(df: &DataFrame, metric: &str) -> Result<LayerProfile> {
        const TABLE: &str = schema::CONTACT_LAYERS.name;
        schema::CONTACT_LAYERS.require_columns(df, TABLE, &["layer", "range", metric])?;
        let layers = columns::optional_integers(df, TABLE, "layer")?;
        let ranges = columns::strings(df, TABLE, "range")?;
        let values = columns::floats(df, TABLE, metric)?;
        let num_layers = layers.iter().flatten().max().map_or(0, |l| l + 1);
        if !(1..10_000).contains(&num_layers) {
            return Err(Error::invalid(format!(
                "{TABLE} table has no per-layer rows (or layer {num_layers}, not a model's)"
            )));
        }
        let mut series = Vec::new();
        for range in ["short", "medium", "long"] {
            let mut per_layer = vec![None; num_layers as usize];
            let mut all_layers = None;
            for i in 0..df.height() {
                if ranges[i].as_deref() != Some(range) {
                    continue;
                }
                let value = Some(values[i]).filter(|v| v.is_finite());
                match layers[i] {
                    Some(l) if l >= 0 => per_layer[l as usize] = value,
                    Some(_) => {
                        return Err(Error::invalid(format!(
                            "{TABLE} table has a negative layer"
                        )))
                    }
                    None => all_layers = value,
                }
            }
            if per_layer.iter().all(Option::is_none) {
                continue;
            }
            let name = match all_layers {
                Some(v) => format!("{range}: all layers {v:.2}"),
                None => range.to_string(),
            };
            series.push(LayerSeries {
                property: name,
                values: per_layer,
            });
        }
        let profile = LayerProfile {
            statistic: metric.replace("p_at_l", "P@L").replace('_', " "),
            series,
        };
        profile.validate()?;
        Ok(profile)
    }

    fn num_layers(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.values.len())
            .max()
            .unwrap_or(0)
    }

    fn validate(&self) -> Result<(f64, f64)> {
        if self.series.is_empty() {
            return Err(Error::invalid("layer profile has no series"));
        }
        if self.series.len() > MAX_SERIES {
            return Err(Error::invalid(format!(
                "layer profile has {} series: at most {MAX_SERIES} stay distinguishable; choose properties",
                self.series.len()
            )));
        }
        let n = self.num_layers();
        if let Some(s) = self.series.iter().find(|s| s.values.len() != n) {
            return Err(Error::invalid(format!(
                "layer profile: `{}` has {} layers, others {n}",
                s.property,
                s.values.len()
            )));
        }
        let values: Vec<&[Option<f64>]> = self.series.iter().map(|s| s.values.as_slice()).collect();
        draw::series_range(&values, "layer profile")
    }
}

/// One line per property over layers, centres of gravity marked on the layer axis.
pub fn layer_profile(name: &str, title: &str, profile: &LayerProfile) -> Result<Figure> {
    profile.validate()?;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 320),
        Kind::LayerProfile(profile.clone()),
    )
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    p: &LayerProfile,
) -> Result<()> {
    let (lo, hi) = p.validate()?;
    let n = p.num_layers();
    let y0 = draw::title(c, title)?;
    let (y_lo, y_hi) = (lo.min(0.0), if hi > lo.min(0.0) { hi * 1.05 } else { 1.0 });
    let ticks = draw::nice_ticks(y_lo, y_hi, 5);
    let x0 = MARGIN + draw::y_axis_width(c, &draw::tick_labels(&ticks))?;

    // Legend to the right of the plot: property and its centre of gravity.
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
                format!("{} ({centre})", s.property.replace('_', " ")),
            )
        })
        .collect();
    let labels: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    let legend_w = 6.0 + 18.0 + 5.0 + c.max_text_width(&labels, Txt::new(font::TICK))? + 6.0;
    let x1 = w - MARGIN - legend_w - 10.0;
    // Room under the axis for the centre-of-gravity markers.
    let marker_h = 7.0;
    let y1 = h - MARGIN - draw::X_AXIS_HEIGHT - marker_h;
    if x1 - x0 < 60.0 || y1 - y0 < 40.0 {
        return Err(Error::invalid("figure is too small for the layer profile"));
    }
    let a = Axes {
        x0,
        y0,
        x1,
        y1,
        x_range: (0.5, n as f64 + 0.5),
        y_range: (y_lo, y_hi),
    };
    draw::y_axis(c, &a, &ticks, MARGIN, &draw::capitalise(&p.statistic))?;
    let layer_ticks: Vec<f64> = draw::thinned_labels(n, (x1 - x0) / n as f64, 22.0)
        .into_iter()
        .map(|l| l as f64)
        .collect();
    let layer_labels: Vec<String> = layer_ticks.iter().map(|l| format!("{l}")).collect();
    // The axis sits below the markers' strip.
    let axis = Axes {
        y1: y1 + marker_h,
        ..a
    };
    draw::x_axis(c, &axis, &layer_ticks, &layer_labels, "Layer (1-based)")?;
    c.line(
        &[(a.x0, a.y1), (a.x0, axis.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;

    for (i, s) in p.series.iter().enumerate() {
        let color = palette::categorical(i);
        // Lines break at undefined layers.
        let mut run: Vec<(f64, f64)> = Vec::new();
        for (l, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => run.push((a.x((l + 1) as f64), a.y(*v))),
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
        for (l, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                c.circle(a.x((l + 1) as f64), a.y(*v), 2.0, Some(color), None)?;
            }
        }
        if let Some(g) = s.centre_of_gravity() {
            // An upward triangle under the plot, tip at the centre of gravity.
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

pub(crate) fn data(p: &LayerProfile) -> DataTable {
    let mut t = DataTable::new(&[
        "property",
        "layer",
        "value",
        "statistic",
        "centre_of_gravity",
    ]);
    for s in &p.series {
        let g = s.centre_of_gravity();
        for (l, v) in s.values.iter().enumerate() {
            t.row(vec![
                s.property.clone(),
                (l + 1).to_string(),
                opt_num(*v),
                p.statistic.clone(),
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

    fn fixture() -> LayerProfile {
        LayerProfile {
            statistic: "property share".into(),
            series: vec![
                LayerSeries {
                    property: "binding_site".into(),
                    values: vec![Some(0.1), Some(0.2), Some(0.7), None],
                },
                LayerSeries {
                    property: "helix".into(),
                    values: vec![Some(0.5), Some(0.3), Some(0.1), Some(0.1)],
                },
            ],
        }
    }

    #[test]
    fn centre_of_gravity_is_the_share_weighted_mean_layer() {
        let p = fixture();
        assert!((p.series[0].centre_of_gravity().unwrap() - 2.6).abs() < 1e-12);
        let empty = LayerSeries {
            property: "x".into(),
            values: vec![None, Some(0.0)],
        };
        assert_eq!(empty.centre_of_gravity(), None);
    }

    #[test]
    fn profile_draws_a_legend_entry_and_marker_per_series() {
        let fig = layer_profile("layers", "Where attention sits", &fixture()).unwrap();
        let el = render_checked(&fig);
        assert_eq!(
            count_text(&el, "binding site (centre 2.6)"),
            1,
            "{:?}",
            texts(&el)
        );
        assert_eq!(count_text(&el, "helix (centre 1.8)"), 1);
        assert_eq!(count_text(&el, "Layer (1-based)"), 1);
        // Points: 3 + 4 defined values, each a filled circle.
        assert_eq!(el.iter().filter(|e| e.tag == "circle").count(), 7);
        // One centre-of-gravity triangle per series.
        assert_eq!(el.iter().filter(|e| e.tag == "polygon").count(), 2);
        assert_eq!(fig.data_csv().lines().count(), 1 + 8);
    }

    #[test]
    fn profile_rejects_bad_input() {
        let mut p = fixture();
        p.series[1].values.pop();
        assert!(layer_profile("l", "", &p).is_err(), "ragged series");
        let mut p = fixture();
        p.series[0].values[0] = Some(f64::NAN);
        assert!(layer_profile("l", "", &p).is_err());
        let p = LayerProfile {
            statistic: "s".into(),
            series: vec![],
        };
        assert!(layer_profile("l", "", &p).is_err());
        let mut p = fixture();
        p.series = (0..9).map(|_| fixture().series[1].clone()).collect();
        assert!(layer_profile("l", "", &p).is_err(), "too many series");
    }

    #[test]
    fn from_frame_reads_the_layers_table() {
        let df = df!(
            "property" => ["a", "a", "b", "b"],
            "layer" => [0i64, 1, 0, 1],
            "property_share" => [0.25, 0.75, f64::NAN, 1.0],
        )
        .unwrap();
        let p = LayerProfile::from_frame(&df, "property_share", None).unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(p.series[1].values, vec![None, Some(1.0)]);
        assert!(LayerProfile::from_frame(&df, "nope", None).is_err());
        assert!(LayerProfile::from_frame(&df, "property_share", Some(&["c"])).is_err());
    }
}
