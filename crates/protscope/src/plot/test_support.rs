//! Test helpers: parse an SVG back into its elements, check PNG headers, small fixtures.

use super::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;

/// One SVG element: tag, attributes, and (for `<text>`) its text.
#[derive(Debug, Clone)]
pub struct Element {
    pub tag: String,
    pub attrs: BTreeMap<String, String>,
    pub text: String,
}

impl Element {
    pub fn num(&self, attr: &str) -> f64 {
        self.attrs
            .get(attr)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
    pub fn attr(&self, attr: &str) -> &str {
        self.attrs.get(attr).map_or("", String::as_str)
    }
}

/// Parses `svg` as XML (panicking on malformed XML: that is a test failure) into its elements.
pub fn parse_svg(svg: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(svg);
    let mut out: Vec<Element> = Vec::new();
    let mut open_text: Option<usize> = None;
    let element = |e: &quick_xml::events::BytesStart| Element {
        tag: e.local_name().into_inner().to_string(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    a.key.into_inner().to_string(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("attribute value")
                        .into_owned(),
                )
            })
            .collect(),
        text: String::new(),
    };
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) => {
                let el = element(&e);
                if el.tag == "text" {
                    open_text = Some(out.len());
                }
                out.push(el);
            }
            Event::Empty(e) => out.push(element(&e)),
            Event::End(_) => {
                // plotters writes text content on its own line.
                if let Some(i) = open_text.take() {
                    out[i].text = out[i].text.trim().to_string();
                }
            }
            Event::Text(t) => {
                if let Some(i) = open_text {
                    out[i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(i) = open_text {
                    let c = match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unexpected entity &{other};"),
                    };
                    out[i].text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(out.first().map(|e| e.tag.as_str()), Some("svg"));
    out
}

/// The texts of all `<text>` elements, in drawing order.
pub fn texts(elements: &[Element]) -> Vec<String> {
    elements
        .iter()
        .filter(|e| e.tag == "text")
        .map(|e| e.text.clone())
        .collect()
}

/// How many `<text>` elements read exactly `label`.
pub fn count_text(elements: &[Element], label: &str) -> usize {
    elements
        .iter()
        .filter(|e| e.tag == "text" && e.text == label)
        .count()
}

/// `<rect>` elements filled with `fill` (`#RRGGBB`).
pub fn rects_filled(elements: &[Element], fill: plotters::style::RGBColor) -> usize {
    let hex = format!("#{:02X}{:02X}{:02X}", fill.0, fill.1, fill.2);
    elements
        .iter()
        .filter(|e| e.tag == "rect" && e.attr("fill") == hex)
        .count()
}

/// Checks the PNG signature and IHDR size, and returns (width, height).
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

/// Renders SVG twice (must be byte-identical) and PNG once (signature, size at the PNG scale);
/// returns the parsed SVG.
pub fn render_checked(fig: &Figure) -> Vec<Element> {
    let svg = fig.to_svg().expect("SVG renders");
    assert_eq!(svg, fig.to_svg().unwrap(), "SVG is deterministic");
    let png = fig.to_png().expect("PNG renders");
    assert!(png == fig.to_png().unwrap(), "PNG is deterministic");
    let (w, h) = fig.size();
    let expected = (
        (w as f64 * fig.png_scale()).round() as u32,
        (h as f64 * fig.png_scale()).round() as u32,
    );
    assert_eq!(png_size(&png), expected);
    // The resolution is recorded: pixels per metre for the PNG scale's dpi.
    let phys = png
        .windows(4)
        .position(|w| w == b"pHYs")
        .expect("pHYs chunk");
    let per_metre = u32::from_be_bytes(png[phys + 4..phys + 8].try_into().unwrap());
    let dpi = SVG_DPI * fig.png_scale();
    assert_eq!(per_metre, (dpi / 0.0254).round() as u32);
    assert!(svg.contains(FONT_FAMILY), "SVG text names the font family");
    parse_svg(&svg)
}

/// A 3-layer × 4-head grid with two masked cells.
pub fn small_grid() -> HeadGrid {
    let mut values: Vec<Option<f64>> = (0..12).map(|i| Some(i as f64 / 20.0)).collect();
    values[1] = None;
    values[6] = None;
    HeadGrid {
        num_layers: 3,
        num_heads: 4,
        values,
        statistic: "proportion of attention".into(),
        unit: "fraction".into(),
        mask_label: "excluded: < 100 edges".into(),
        value_range: None,
    }
}
