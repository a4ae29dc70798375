//! Figures for papers and reports, drawn with plotters: SVG and PNG from the same drawing code,
//! text in the embedded DejaVu Sans, colour-blind-safe colours ([`palette`]), and the numbers
//! drawn as tidy CSV beside each figure.
//!
//! Each figure kind has a typed input (built directly or from the library's tables) and a
//! constructor returning a [`Figure`]:
//!
//! | figure | input | constructor |
//! | --- | --- | --- |
//! | head heatmap + per-layer maximum | [`HeadGrid`] | [`head_heatmap`] |
//! | top-k heads with Wilson intervals | [`TopHeads`] | [`top_heads`] |
//! | per-layer profile, centres of gravity | [`LayerProfile`] | [`layer_profile`] |
//! | residue-flipping curves per attribution method, AOPC | [`FlipCurves`] | [`flip_curves`] |
//! | cascading-randomisation rank correlations per method | [`RandomisationCurves`] | [`randomisation_curves`] |
//! | amino-acid attention correlation vs BLOSUM62 | [`AaBlosum`] | [`aa_blosum`] |
//! | one protein's residue track | [`ResidueTrack`] | [`residue_track`] |
//! | one head's attention map, contacts | [`AttentionMap`] | [`attention_map`] |
//! | predicted against true contacts, top L marked | [`ContactMapPlot`] | [`contact_map_plot`] |
//! | −log10 p bars | [`SignificanceBar`]s | [`significance_bars`] |
//! | time and memory vs sequence length (benchmarks; feature `dev`) | `ScalingPlot` | `scaling_plot` |
//!
//! Sizes are logical pixels at 96 dpi (SVG units); PNG draws the same figure at
//! [`Figure::png_scale`] (300 dpi by default) and records that resolution in the file.

mod aa_blosum;
mod attention_map;
mod contact_map;
mod draw;
mod flip_curves;
mod head_overlap;
mod heatmap;
mod layer_profile;
pub mod palette;
mod probing;
mod randomisation;
mod residue_track;
#[cfg(feature = "dev")]
mod scaling;
mod significance;
mod top_heads;

#[cfg(test)]
mod test_support;

pub use aa_blosum::{aa_blosum, AaBlosum, AaPair};
pub use attention_map::{attention_map, AttentionMap};
pub use contact_map::{contact_map_plot, ContactMapPlot};
pub use draw::{capitalise, FONT_FAMILY};
pub use flip_curves::{flip_curves, FlipCurve, FlipCurves};
pub use head_overlap::{head_overlap, HeadOverlap};
pub use heatmap::{head_heatmap, HeadGrid};
pub use layer_profile::{layer_profile, LayerProfile, LayerSeries};
pub use probing::{probing_plot, ProbeSeries, ProbingPlot};
pub use randomisation::{randomisation_curves, RandomisationCurves};
pub use residue_track::{residue_track, AnnotationLane, ResidueTrack, Span};
#[cfg(feature = "dev")]
pub use scaling::{scaling_plot, RunStatus, ScalingPlot, ScalingRun};
pub use significance::{significance_bars, SignificanceBar, SignificanceBars};
pub use top_heads::{top_heads, wilson_interval, TopHead, TopHeads};

use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// Logical pixels per inch of SVG output (the CSS pixel).
pub const SVG_DPI: f64 = 96.0;
/// Default PNG resolution: print quality.
pub const PNG_DPI: f64 = 300.0;
/// Width of one journal column (3.5 in) in logical pixels.
pub const SINGLE_COLUMN_PX: u32 = 336;
/// Width of a full page (two columns, 7.2 in) in logical pixels.
pub const DOUBLE_COLUMN_PX: u32 = 691;

/// Logical pixels for a length in inches at [`SVG_DPI`].
pub fn inches_to_px(inches: f64) -> u32 {
    (inches * SVG_DPI).round().max(0.0) as u32
}

/// Smallest figure any kind can lay out; smaller sizes are an error, not a squashed drawing.
const MIN_SIZE: (u32, u32) = (200, 120);
/// Largest PNG side in device pixels (memory guard: 3 bytes per pixel).
const MAX_PNG_SIDE: u32 = 20_000;

/// A figure: owned data + how to draw it; renders to SVG or PNG on demand.
#[derive(Debug, Clone)]
pub struct Figure {
    name: String,
    title: String,
    size: (u32, u32),
    png_scale: f64,
    kind: Kind,
}

/// The owned input of one figure kind.
#[derive(Debug, Clone)]
enum Kind {
    HeadHeatmap(HeadGrid),
    HeadOverlap(HeadOverlap),
    TopHeads(TopHeads),
    LayerProfile(LayerProfile),
    FlipCurves(FlipCurves),
    Randomisation(RandomisationCurves),
    AaBlosum(AaBlosum),
    ResidueTrack(ResidueTrack),
    AttentionMap(AttentionMap),
    ContactMap(ContactMapPlot),
    Significance(SignificanceBars),
    Probing(ProbingPlot),
    #[cfg(feature = "dev")]
    Scaling(ScalingPlot),
}

impl Figure {
    fn new(name: &str, title: &str, size: (u32, u32), kind: Kind) -> Result<Self> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with('.');
        if !valid {
            return Err(Error::invalid(format!(
                "figure name `{name}` is not a file stem (letters, digits, `_`, `-`, `.`)"
            )));
        }
        Ok(Figure {
            name: name.to_string(),
            title: title.to_string(),
            size,
            png_scale: PNG_DPI / SVG_DPI,
            kind,
        })
    }

    /// File stem, e.g. `heads_cdr3`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Size in logical pixels (SVG units at 96 dpi).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    pub fn with_size(mut self, w: u32, h: u32) -> Self {
        self.size = (w, h);
        self
    }

    /// Size from inches, e.g. `(7.2, 4.0)` for a full-width figure.
    pub fn with_size_inches(self, w: f64, h: f64) -> Self {
        self.with_size(inches_to_px(w), inches_to_px(h))
    }

    /// Device pixels per logical pixel in PNG output (default 300/96: 300 dpi).
    pub fn png_scale(&self) -> f64 {
        self.png_scale
    }

    pub fn with_png_dpi(mut self, dpi: f64) -> Self {
        self.png_scale = dpi / SVG_DPI;
        self
    }

    fn check_size(&self) -> Result<()> {
        let (w, h) = self.size;
        if w < MIN_SIZE.0 || h < MIN_SIZE.1 {
            return Err(Error::invalid(format!(
                "figure `{}`: {w}×{h} px is too small (at least {}×{})",
                self.name, MIN_SIZE.0, MIN_SIZE.1
            )));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, c: &draw::Canvas<DB>) -> Result<()> {
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
        let title = self.title.as_str();
        match &self.kind {
            Kind::HeadHeatmap(x) => heatmap::draw(c, w, h, title, x).map(|_| ()),
            Kind::HeadOverlap(x) => head_overlap::draw(c, w, h, title, x),
            Kind::TopHeads(x) => top_heads::draw(c, w, h, title, x),
            Kind::LayerProfile(x) => layer_profile::draw(c, w, h, title, x),
            Kind::FlipCurves(x) => flip_curves::draw(c, w, h, title, x),
            Kind::Randomisation(x) => randomisation::draw(c, w, h, title, x),
            Kind::AaBlosum(x) => aa_blosum::draw(c, w, h, title, x),
            Kind::ResidueTrack(x) => residue_track::draw(c, w, h, title, x),
            Kind::AttentionMap(x) => attention_map::draw(c, w, h, title, x),
            Kind::ContactMap(x) => contact_map::draw(c, w, h, title, x),
            Kind::Significance(x) => significance::draw(c, w, h, title, x),
            Kind::Probing(x) => probing::draw(c, w, h, title, x),
            #[cfg(feature = "dev")]
            Kind::Scaling(x) => scaling::draw(c, w, h, title, x),
        }
    }

    /// The figure as an SVG document (deterministic: same input, same bytes).
    pub fn to_svg(&self) -> Result<String> {
        self.check_size()?;
        draw::register_fonts()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            root.fill(&palette::WHITE)
                .map_err(|e| Error::Plot(e.to_string()))?;
            self.draw(&draw::Canvas::new(&root, 1.0))?;
            root.present().map_err(|e| Error::Plot(e.to_string()))?;
        }
        // A <title> names the figure for screen readers and as a tooltip in an HTML report.
        if !self.title.is_empty() {
            if let Some(end) = svg.find('>') {
                let escaped = self
                    .title
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                svg.insert_str(end + 1, &format!("\n<title>{escaped}</title>"));
            }
        }
        Ok(svg)
    }

    /// The figure as PNG bytes at [`Figure::png_scale`] × its size, with the resolution recorded.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.check_size()?;
        draw::register_fonts()?;
        let scale = self.png_scale;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::invalid(format!(
                "figure `{}`: PNG scale {scale} is not a positive number",
                self.name
            )));
        }
        let w = (self.size.0 as f64 * scale).round() as u32;
        let h = (self.size.1 as f64 * scale).round() as u32;
        if w > MAX_PNG_SIDE || h > MAX_PNG_SIDE {
            return Err(Error::invalid(format!(
                "figure `{}`: PNG of {w}×{h} px is larger than {MAX_PNG_SIDE} px a side",
                self.name
            )));
        }
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&palette::WHITE)
                .map_err(|e| Error::Plot(e.to_string()))?;
            self.draw(&draw::Canvas::new(&root, scale))?;
            root.present().map_err(|e| Error::Plot(e.to_string()))?;
        }
        encode_png(&rgb, w, h, SVG_DPI * scale)
    }

    /// Writes `.svg` or `.png` (chosen by the extension) through a temporary file in the same
    /// folder and a rename, so a reader never sees half a figure.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => self.to_svg()?.into_bytes(),
            Some("png") => self.to_png()?,
            _ => {
                return Err(Error::file(
                    path,
                    "unknown figure format: use a `.svg` or `.png` extension",
                ))
            }
        };
        crate::frame::write_atomically(path, &bytes)
    }

    /// A caption for reports: what is drawn, how to read colours and marks, and which
    /// interval or test the figure shows.
    pub fn caption(&self) -> String {
        match &self.kind {
            Kind::HeadHeatmap(g) => {
                let signed = g.values.iter().flatten().any(|v| *v < 0.0)
                    && g.values.iter().flatten().any(|v| *v > 0.0);
                let scale = if signed {
                    "diverging colour scale, white at 0"
                } else {
                    "viridis colour scale"
                };
                let unit = if g.unit.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", g.unit)
                };
                format!(
                    "{}{unit} per attention head ({} layers × {} heads, 1-based, layer 1 at the bottom; {scale}). \
                     Hatched grey: {}. Right: each layer's maximum.",
                    draw::capitalise(&g.statistic),
                    g.num_layers,
                    g.num_heads,
                    g.mask_label
                )
            }
            Kind::TopHeads(t) => format!(
                "The {} heads with the largest proportion of attention to {} (labels layer-head, 1-based). \
                 Whiskers: 95 % Wilson score interval with n = the head's attention edges{}.",
                t.heads.len(),
                t.property,
                t.background
                    .map_or(String::new(), |b| format!("; dashed line: background rate {b:.3}"))
            ),
            Kind::LayerProfile(p) => format!(
                "{} per layer (1-based) for {} properties. Triangles and dashed lines: each \
                 property's centre of gravity, Σ layer · value / Σ value.",
                draw::capitalise(&p.statistic),
                p.series.len()
            ),
            Kind::AaBlosum(a) => {
                let (r, n) = a.blosum_r();
                let heads = a
                    .heads_used
                    .map_or(String::new(), |h| format!(" over {h} heads"));
                format!(
                    "Left: Pearson correlation between the attention profiles of two amino acids{heads}; \
                     middle: BLOSUM62 score, same order (diagonal blank). Right: one point per pair; \
                     Pearson r = {} over {n} pairs with a defined correlation.",
                    r.map_or("undefined".to_string(), |r| format!("{r:.3}"))
                )
            }
            Kind::ResidueTrack(t) => format!(
                "{} ({} residues): {} per residue (red positive, blue negative, symmetric scale){}; \
                 annotation lanes: {}. Positions 1-based.",
                t.protein,
                t.sequence.chars().count(),
                t.relevance_label,
                if t.attention_received.is_some() {
                    "; attention received per residue"
                } else {
                    ""
                },
                if t.lanes.is_empty() {
                    "none".to_string()
                } else {
                    t.lanes
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            Kind::AttentionMap(m) => format!(
                "Attention of layer {} head {} (1-based) over {} residues: row = attending, \
                 column = attended residue; viridis from 0 to the largest weight{}.",
                m.layer + 1,
                m.head + 1,
                m.residues.chars().count(),
                if m.contacts.is_some() {
                    format!("; circles: {}", m.contact_label)
                } else {
                    String::new()
                }
            ),
            Kind::ContactMap(x) => contact_map::caption(x),
            Kind::HeadOverlap(x) => head_overlap::caption(x),
            Kind::FlipCurves(x) => flip_curves::caption(x),
            Kind::Randomisation(x) => randomisation::caption(x),
            Kind::Probing(x) => probing::caption(x),
            Kind::Significance(s) => format!(
                "−log10 {} for {} tests; dashed line: p = {}; blue bars p < {}, grey bars p ≥ {}; \
                 n beside each bar.",
                s.p_label,
                s.bars.len(),
                s.alpha,
                s.alpha,
                s.alpha
            ),
            #[cfg(feature = "dev")]
            Kind::Scaling(x) => scaling::caption(x),
        }
    }

    /// Tidy CSV (header + one row per drawn value) of exactly the numbers in the figure.
    pub fn data_csv(&self) -> String {
        let table = match &self.kind {
            Kind::HeadHeatmap(x) => heatmap::data(x),
            Kind::HeadOverlap(x) => head_overlap::data(x),
            Kind::TopHeads(x) => top_heads::data(x),
            Kind::LayerProfile(x) => layer_profile::data(x),
            Kind::FlipCurves(x) => flip_curves::data(x),
            Kind::Randomisation(x) => randomisation::data(x),
            Kind::AaBlosum(x) => aa_blosum::data(x),
            Kind::ResidueTrack(x) => residue_track::data(x),
            Kind::AttentionMap(x) => attention_map::data(x),
            Kind::ContactMap(x) => contact_map::data(x),
            Kind::Significance(x) => significance::data(x),
            Kind::Probing(x) => probing::data(x),
            #[cfg(feature = "dev")]
            Kind::Scaling(x) => scaling::data(x),
        };
        table.to_csv()
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32, dpi: f64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let per_metre = (dpi / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: per_metre,
            yppu: per_metre,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::Plot(format!("PNG header: {e}")))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| Error::Plot(format!("PNG data: {e}")))?;
        writer
            .finish()
            .map_err(|e| Error::Plot(format!("PNG end: {e}")))?;
    }
    Ok(out)
}

/// A small CSV table: the data behind a figure.
pub(crate) struct DataTable {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl DataTable {
    pub(crate) fn new(header: &[&'static str]) -> Self {
        DataTable {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, fields: Vec<String>) {
        self.rows.push(fields);
    }

    fn to_csv(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, fields: &mut dyn Iterator<Item = &str>| {
            let quoted: Vec<String> = fields.map(csv_field).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        };
        line(&mut out, &mut self.header.iter().copied());
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(String::as_str));
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number for CSV: shortest round-trip form; NaN and infinities as an empty field.
pub(crate) fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

/// An optional number for CSV (None → empty field).
pub(crate) fn opt_num(v: Option<f64>) -> String {
    v.map_or_else(String::new, num)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reader of a library table names only columns its schema states: fed the
    /// schema's empty table, a reader may find no rows, never a missing or unknown column.
    #[test]
    fn table_readers_read_only_their_schemas_columns() {
        use crate::frame::schema;
        use crate::model::Level;
        let outcomes: Vec<(&str, crate::Result<()>)> = vec![
            (
                "AaBlosum",
                AaBlosum::from_frame(&schema::AMINO_ACID_BLOSUM.empty_frame()).map(|_| ()),
            ),
            (
                "TopHeads",
                TopHeads::from_frame(&schema::TOP_HEADS.empty_frame(), "p").map(|_| ()),
            ),
            (
                "LayerProfile",
                LayerProfile::from_frame(
                    &schema::HEAD_LAYERS.empty_frame(),
                    "property_share",
                    None,
                )
                .map(|_| ()),
            ),
            (
                "LayerProfile::from_contact_layers",
                LayerProfile::from_contact_layers(&schema::CONTACT_LAYERS.empty_frame(), "p_at_l")
                    .map(|_| ()),
            ),
            (
                "ResidueTrack",
                ResidueTrack::from_frames(
                    &schema::ATTRIBUTION.empty_frame(),
                    "P1",
                    Level::Embedding,
                    Some(&schema::FEATURES.empty_frame()),
                )
                .map(|_| ()),
            ),
        ];
        for (reader, outcome) in outcomes {
            if let Err(e) = outcome {
                let text = e.to_string();
                assert!(
                    !matches!(e, crate::Error::MissingColumn { .. })
                        && !text.contains("not a column of"),
                    "{reader}: {text}"
                );
            }
        }
        // And the check itself refuses a column the schema does not state.
        let frame = schema::TOP_HEADS.empty_frame();
        let err = schema::TOP_HEADS
            .require_columns(&frame, "t.csv", &["rank", "enrichment_ratio"])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`enrichment_ratio` is not a column"),
            "{err}"
        );
        let err = schema::TOP_HEADS
            .require_columns(&frame.drop("rank").unwrap(), "t.csv", &["rank"])
            .unwrap_err();
        assert!(matches!(err, crate::Error::MissingColumn { .. }), "{err}");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut t = DataTable::new(&["label", "value"]);
        t.row(vec!["CDR-H1, loop".into(), num(0.5)]);
        t.row(vec!["say \"hi\"".into(), num(f64::NAN)]);
        assert_eq!(
            t.to_csv(),
            "label,value\n\"CDR-H1, loop\",0.5\n\"say \"\"hi\"\"\",\n"
        );
    }

    #[test]
    fn figure_names_must_be_file_stems() {
        let grid = test_support::small_grid();
        assert!(head_heatmap("heads_cdr3", "t", &grid).is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "with space"] {
            assert!(head_heatmap(bad, "t", &grid).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paper_sizes_and_png_resolution() {
        assert_eq!(inches_to_px(3.5), SINGLE_COLUMN_PX);
        assert_eq!(inches_to_px(7.2), DOUBLE_COLUMN_PX);
        let fig = head_heatmap("h", "t", &test_support::small_grid())
            .unwrap()
            .with_size_inches(3.5, 2.5)
            .with_png_dpi(192.0);
        assert_eq!(fig.size(), (336, 240));
        assert_eq!(fig.png_scale(), 2.0);
        test_support::render_checked(&fig);
        let bad = fig.with_png_dpi(0.0);
        assert!(bad.to_png().is_err());
    }

    #[test]
    fn a_title_wider_than_the_figure_is_shrunk_to_fit() {
        let long =
            "A very long title that would never fit in a single journal column at nine points";
        let fig = head_heatmap("h", long, &test_support::small_grid())
            .unwrap()
            .with_size(SINGLE_COLUMN_PX, 260);
        let el = test_support::render_checked(&fig);
        let title = el
            .iter()
            .find(|e| e.tag == "text" && e.text == long)
            .unwrap();
        assert!(title.num("font-size") < draw::font::TITLE, "{title:?}");
    }

    #[test]
    fn captions_say_how_to_read_the_figure() {
        let fig = head_heatmap("h", "t", &test_support::small_grid()).unwrap();
        let caption = fig.caption();
        assert!(caption.starts_with("Proportion of attention (fraction) per attention head"));
        assert!(caption.contains("3 layers × 4 heads"));
        assert!(caption.contains("Hatched grey: excluded: < 100 edges."));
    }

    #[test]
    fn too_small_a_size_is_an_error_not_a_panic() {
        let fig = head_heatmap("h", "t", &test_support::small_grid())
            .unwrap()
            .with_size(50, 20);
        assert!(fig.to_svg().is_err());
        assert!(fig.to_png().is_err());
    }

    #[test]
    fn save_picks_the_format_from_the_extension_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let fig = head_heatmap("h", "t", &test_support::small_grid()).unwrap();
        fig.save(&dir.path().join("h.svg")).unwrap();
        fig.save(&dir.path().join("h.png")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("h.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        let elements = test_support::parse_svg(&svg);
        assert_eq!(
            elements[1].tag, "title",
            "the figure's title is the SVG's <title>"
        );
        let png = std::fs::read(dir.path().join("h.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(fig.save(&dir.path().join("h.pdf")).is_err());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
