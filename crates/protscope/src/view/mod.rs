//! Interactive views in one-file HTML: a protein structure in 3D with per-residue values and
//! attention drawn on it ([`StructureView`], provis' figure), and attention as lines between
//! residues, heads and layers at a glance ([`AttentionView`], bertviz's head and model views).
//!
//! Each view is a typed value with `to_html()` (a whole page) and `write_html(path)`; a report
//! places views among its figures ([`ViewScripts`] puts each script on the page once) and a
//! notebook shows them through `Show`. Pages make no request: the molecular viewer (3Dmol.js,
//! vendored by `scripts/vendor-js.sh`) and the views' own scripts are inlined, the data is JSON
//! and base64 inside the page.

mod attention;
mod colourings;
mod structure;

use std::fmt::Write as _;
use std::path::Path;

pub use attention::{decode_attention_block, AttentionView, AttentionViewOptions, DecodedHead};
pub use colourings::{
    contact_degree_colouring, regions_colouring, relevance_colouring, secondary_structure_colouring,
};
pub use structure::{
    b_factor_values, ColourScale, ResidueColouring, StructureAttention, StructureView,
    StructureViewOptions,
};

use crate::Result;

/// 3Dmol.js, minified, as published on npm (see [`MOLECULAR_VIEWER_VERSION`]).
pub const MOLECULAR_VIEWER_JS: &str = include_str!("../../assets/js/3Dmol-min.js");
/// The pinned 3Dmol.js version (`scripts/vendor-js.sh`).
pub const MOLECULAR_VIEWER_VERSION: &str = "2.5.5";
/// 3Dmol.js's licence text (BSD-3-Clause).
pub const MOLECULAR_VIEWER_LICENSE: &str = include_str!("../../assets/js/3Dmol-LICENSE.txt");

const ATTENTION_JS: &str = include_str!("../../assets/js/attention-view.js");
const STRUCTURE_JS: &str = include_str!("../../assets/js/structure-view.js");
/// The views' style: light and dark like the report's.
pub const VIEW_CSS: &str = include_str!("../../assets/js/views.css");

/// An interactive view that can sit on a page.
pub trait View {
    /// The view's element, with its data; `id` is unique on the page.
    fn body_html(&self, id: &str) -> Result<String>;
    /// Which scripts the view needs.
    fn scripts(&self) -> ViewScripts;
    /// A title for a page holding this view alone.
    fn title(&self) -> String;
}

/// The scripts the views of one page need; each goes on the page once, whatever the number of
/// views.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewScripts {
    pub molecular_viewer: bool,
    pub attention: bool,
}

impl ViewScripts {
    /// The scripts of both.
    pub fn union(self, other: ViewScripts) -> ViewScripts {
        ViewScripts {
            molecular_viewer: self.molecular_viewer || other.molecular_viewer,
            attention: self.attention || other.attention,
        }
    }

    /// The `<script>` elements (placed after the views: they start every view on the page).
    pub fn html(&self) -> String {
        let mut out = String::new();
        if self.molecular_viewer {
            // The licence travels with the code (BSD-3-Clause asks for it in redistributions).
            let _ = write!(
                out,
                "<script>/*! 3Dmol.js {MOLECULAR_VIEWER_VERSION}, BSD-3-Clause:\n{}*/\n{}\n</script>\n",
                MOLECULAR_VIEWER_LICENSE.replace("*/", "* /"),
                MOLECULAR_VIEWER_JS
            );
            let _ = writeln!(out, "<script>{STRUCTURE_JS}</script>");
        }
        if self.attention {
            let _ = writeln!(out, "<script>{ATTENTION_JS}</script>");
        }
        out
    }

    /// Bytes of the scripts (the molecular viewer's share of a page).
    pub fn bytes(&self) -> usize {
        self.html().len()
    }
}

/// One page holding `views` (a title, each view's element, the scripts once).
pub fn page_html(title: &str, views: &[&dyn View]) -> Result<String> {
    let mut out = String::with_capacity(1 << 20);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<title>{}</title>\n\
         <style>{VIEW_CSS}</style>\n</head>\n<body class=\"ps-page\">\n<main>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    let mut scripts = ViewScripts::default();
    for (k, view) in views.iter().enumerate() {
        out.push_str(&view.body_html(&format!("view-{}", k + 1))?);
        scripts = scripts.union(view.scripts());
    }
    let _ = write!(
        out,
        "{}</main>\n<footer>Made with protscope {}.</footer>\n{}</body>\n</html>\n",
        credits_html(scripts),
        env!("CARGO_PKG_VERSION"),
        scripts.html()
    );
    Ok(out)
}

/// Views as one HTML fragment (style, elements, credits, scripts), for a notebook cell's output.
/// Each fragment carries its scripts: a notebook has no page to hold them once.
pub fn fragment_html(views: &[&dyn View]) -> Result<String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Ids unique across the cells of one kernel.
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let mut out = format!("<div class=\"ps-fragment\"><style>{VIEW_CSS}</style>\n");
    let mut scripts = ViewScripts::default();
    for view in views {
        let id = format!(
            "ps-view-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        out.push_str(&view.body_html(&id)?);
        scripts = scripts.union(view.scripts());
    }
    out.push_str(&credits_html(scripts));
    out.push_str(&scripts.html());
    out.push_str("</div>\n");
    Ok(out)
}

/// The line naming the inlined libraries, their versions and licences.
pub fn credits_html(scripts: ViewScripts) -> String {
    if scripts.molecular_viewer {
        format!(
            "<p class=\"ps-credits\">3D views drawn by 3Dmol.js {MOLECULAR_VIEWER_VERSION} \
             (BSD-3-Clause; Rego &amp; Koes 2015), inlined in this page with its licence; the \
             attention views by protscope's own script. No network is used.</p>\n"
        )
    } else {
        "<p class=\"ps-credits\">Attention views drawn by protscope's own script; no network is \
         used.</p>\n"
            .to_string()
    }
}

/// Writes a page atomically.
pub(crate) fn write_page(path: &Path, html: &str) -> Result<()> {
    crate::frame::write_atomically(path, html.as_bytes())
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` element: `</` cannot end the element early.
pub(crate) fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace("</", "<\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_viewer_is_the_pinned_one() {
        assert!(MOLECULAR_VIEWER_JS.len() > 100_000);
        assert!(!MOLECULAR_VIEWER_JS.contains("</script"));
        assert!(MOLECULAR_VIEWER_LICENSE.contains("BSD-3-Clause"));
        let pinned = include_str!("../../assets/js/3Dmol-VERSION");
        assert_eq!(pinned.trim(), MOLECULAR_VIEWER_VERSION);
        let both = ViewScripts {
            molecular_viewer: true,
            attention: true,
        };
        assert_eq!(both.html().matches("3Dmol.js 2.5.5").count(), 1);
    }

    #[test]
    fn json_cannot_close_its_script_element() {
        let v = serde_json::json!({"a": "</script><b>"});
        assert!(!script_json(&v).contains("</"));
    }
}
