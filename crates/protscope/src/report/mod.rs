//! One-file HTML reports: headings, text, figures (inline SVG) and tables collected by a
//! [`Report`] builder and written as a single `.html` that makes no network request (no CDN, web
//! font or external script; a little inline CSS and JS). The same inputs give the same bytes: no
//! timestamp is written unless [`Provenance::date`] is set.
//!
//! [`run_folder::report_from_dir`] builds a report from the tables of a finished run folder
//! (what `protscope report --from DIR` and `protscope demo` call).

pub mod demo;
mod hints;
mod html;
pub mod model_comparison;
pub mod provenance;
pub mod reading;
pub mod run_folder;
mod table;

use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::DataFrame;

pub use hints::{ReportHints, ViewHints, HINTS_FILE};
pub use provenance::{FileHash, ModelProvenance, Provenance};
pub use table::TableOptions;

/// A DataFrame as an HTML table (sortable, optionally searchable and downloadable).
pub fn table_html(id: &str, frame: &DataFrame, options: &TableOptions) -> Result<String> {
    table::render(id, frame, options)
}

use crate::plot::Figure;
use crate::view::{View, ViewScripts};
use crate::Result;
use html::escape;

/// One block of a report, in document order.
#[derive(Debug, Clone)]
enum Block {
    Heading {
        level: u8,
        id: String,
        text: String,
    },
    Paragraph(String),
    Figure {
        id: String,
        title: String,
        caption: String,
        svg: String,
        data_name: String,
        data_csv: String,
    },
    Table {
        id: String,
        caption: String,
        html: String,
    },
    /// An interactive view (`crate::view`): its element; the scripts go once at the end.
    View {
        id: String,
        caption: String,
        html: String,
    },
}

/// Builder of a one-file HTML report.
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    intro: Option<String>,
    provenance: Option<Provenance>,
    blocks: Vec<Block>,
    figure_count: usize,
    table_count: usize,
    view_scripts: ViewScripts,
}

impl Report {
    pub fn new(title: impl Into<String>) -> Self {
        Report {
            title: title.into(),
            intro: None,
            provenance: None,
            blocks: Vec::new(),
            figure_count: 0,
            table_count: 0,
            view_scripts: ViewScripts::default(),
        }
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Provenance block shown under the title (version, commit, command, model, inputs,
    /// parameters).
    pub fn provenance(&mut self, provenance: Provenance) -> &mut Self {
        self.provenance = Some(provenance);
        self
    }

    /// Introductory text shown under the title, before the provenance block.
    pub fn intro(&mut self, text: impl Into<String>) -> &mut Self {
        self.intro = Some(text.into());
        self
    }

    /// A section heading (listed in the table of contents).
    pub fn section(&mut self, text: impl Into<String>) -> &mut Self {
        self.heading(2, text.into())
    }

    /// A subsection heading (listed, indented, in the table of contents).
    pub fn subsection(&mut self, text: impl Into<String>) -> &mut Self {
        self.heading(3, text.into())
    }

    fn heading(&mut self, level: u8, text: String) -> &mut Self {
        let id = self.unique_id(&slug(&text));
        self.blocks.push(Block::Heading { level, id, text });
        self
    }

    /// A paragraph of plain text (escaped; blank lines are not interpreted).
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// A numbered figure with its caption (which should carry the run's parameters) and a link
    /// that downloads the figure's data as CSV from the page itself.
    pub fn figure(&mut self, figure: &Figure, caption: impl Into<String>) -> Result<&mut Self> {
        let svg = figure.to_svg()?;
        self.figure_count += 1;
        let id = self.unique_id(&format!("fig-{}", slug(figure.name())));
        self.blocks.push(Block::Figure {
            id,
            title: figure.title().to_string(),
            caption: caption.into(),
            svg: html::inline_svg(&svg),
            data_name: format!("{}.csv", figure.name()),
            data_csv: figure.data_csv(),
        });
        Ok(self)
    }

    /// A table from a DataFrame: sortable by clicking a column header and searchable, with the
    /// whole table downloadable as CSV.
    pub fn table(
        &mut self,
        caption: impl Into<String>,
        frame: &DataFrame,
        options: &TableOptions,
    ) -> Result<&mut Self> {
        self.table_count += 1;
        let caption = caption.into();
        let id = self.unique_id(&format!("table-{}", slug(&caption)));
        let html = table::render(&id, frame, options)?;
        self.blocks.push(Block::Table { id, caption, html });
        Ok(self)
    }

    /// An interactive view (a structure in 3D, an attention view) with its caption. Without
    /// JavaScript the page shows the caption only, so the figures around it must tell the story;
    /// the views' scripts (3Dmol.js among them) are placed once, whatever the number of views.
    pub fn view(&mut self, view: &dyn View, caption: impl Into<String>) -> Result<&mut Self> {
        let id = self.unique_id(&format!("view-{}", slug(&view.title())));
        let html = view.body_html(&id)?;
        self.view_scripts = self.view_scripts.union(view.scripts());
        self.blocks.push(Block::View {
            id,
            caption: caption.into(),
            html,
        });
        Ok(self)
    }

    /// Bytes of the views' scripts on the page (the molecular viewer's share of its size).
    pub fn view_script_bytes(&self) -> usize {
        self.view_scripts.bytes()
    }

    /// Number of figures added so far.
    pub fn figures(&self) -> usize {
        self.figure_count
    }

    /// Number of tables added so far.
    pub fn tables(&self) -> usize {
        self.table_count
    }

    fn unique_id(&self, base: &str) -> String {
        let taken = |id: &str| {
            self.blocks.iter().any(|b| match b {
                Block::Heading { id: i, .. }
                | Block::Figure { id: i, .. }
                | Block::Table { id: i, .. }
                | Block::View { id: i, .. } => i == id,
                Block::Paragraph(_) => false,
            })
        };
        if !taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|id| !taken(id))
            .expect("an unused id exists")
    }

    /// The whole document.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(1 << 20);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light dark\">\n<title>{}</title>\n\
             <style>{}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            escape(&self.title),
            html::CSS,
            escape(&self.title)
        );
        if let Some(text) = &self.intro {
            let _ = writeln!(out, "<p class=\"intro\">{}</p>", escape(text));
        }
        if let Some(p) = &self.provenance {
            out.push_str(&p.to_html());
        }
        self.write_contents(&mut out);
        let mut figure_number = 0;
        let mut table_number = 0;
        for block in &self.blocks {
            match block {
                Block::Heading { level, id, text } => {
                    let _ = writeln!(out, "<h{level} id=\"{id}\">{}</h{level}>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::Figure {
                    id,
                    title,
                    caption,
                    svg,
                    data_name,
                    data_csv,
                } => {
                    figure_number += 1;
                    let _ = writeln!(
                        out,
                        "<figure id=\"{id}\">\n<div class=\"plot\">{svg}</div>\n<figcaption>\
                         <b>Figure {figure_number}. {}</b> {} <a class=\"data\" download=\"{}\" \
                         href=\"{}\">Data (CSV)</a></figcaption>\n</figure>",
                        escape(title),
                        escape(caption),
                        escape(data_name),
                        html::csv_data_uri(data_csv),
                    );
                }
                Block::View { id, caption, html } => {
                    let _ = writeln!(
                        out,
                        "<figure class=\"view\" id=\"{id}-figure\">\n{html}<figcaption>{}\
                         </figcaption>\n</figure>",
                        escape(caption)
                    );
                }
                Block::Table { id, caption, html } => {
                    table_number += 1;
                    let _ = writeln!(
                        out,
                        "<section class=\"table\" id=\"{id}\">\n<p class=\"caption\"><b>Table \
                         {table_number}.</b> {}</p>\n{html}</section>",
                        escape(caption)
                    );
                }
            }
        }
        let _ = write!(
            out,
            "</main>\n<footer>Made with protscope {}.</footer>\n<script>{}</script>\n{}</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            html::SCRIPT,
            self.view_scripts_html()
        );
        out
    }

    /// The views' style, credits and scripts, once (nothing without views).
    fn view_scripts_html(&self) -> String {
        if self.view_scripts == ViewScripts::default() {
            return String::new();
        }
        format!(
            "<style>{}</style>\n<footer>{}</footer>\n{}",
            crate::view::VIEW_CSS,
            crate::view::credits_html(self.view_scripts),
            self.view_scripts.html()
        )
    }

    fn write_contents(&self, out: &mut String) {
        let headings: Vec<_> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading { level, id, text } => Some((*level, id, text)),
                _ => None,
            })
            .collect();
        if headings.is_empty() {
            return;
        }
        out.push_str("<nav class=\"toc\"><h2>Contents</h2>\n<ol>\n");
        let mut open_sub = false;
        for (i, (level, id, text)) in headings.iter().enumerate() {
            if *level == 3 && !open_sub {
                out.push_str("<ol>\n");
                open_sub = true;
            }
            if *level == 2 && open_sub {
                out.push_str("</ol></li>\n");
                open_sub = false;
            } else if *level == 2 && i > 0 {
                out.push_str("</li>\n");
            }
            let _ = write!(out, "<li><a href=\"#{id}\">{}</a>", escape(text));
            if *level == 3 {
                out.push_str("</li>\n");
            }
        }
        if open_sub {
            out.push_str("</ol>");
        }
        out.push_str("</li>\n</ol></nav>\n");
    }

    /// Writes the document atomically (temporary file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::frame::write_atomically(path, self.to_html().as_bytes())
    }
}

/// Lower-case ASCII id from a heading (letters, digits, dashes).
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{head_heatmap, HeadGrid};
    use polars::prelude::*;

    #[test]
    fn views_share_one_copy_of_their_scripts() {
        use crate::view::{AttentionView, AttentionViewOptions};
        let (l, h, t) = (1, 2, 4);
        let w = vec![0.25f32; l * h * t * t];
        let maps = crate::attention::AttentionMaps {
            protein: "p".into(),
            causal: false,
            num_layers: l,
            num_heads: h,
            tokens: t,
            residue_start: 1,
            residue_count: 2,
            weights: candle_core::Tensor::from_vec(w, (l, h, t, t), &candle_core::Device::Cpu)
                .unwrap(),
        };
        let view = AttentionView::from_maps(&maps, "AC", &AttentionViewOptions::default()).unwrap();
        let mut report = Report::new("r");
        report
            .view(&view, "one")
            .unwrap()
            .view(&view, "two")
            .unwrap();
        let html = report.to_html();
        assert_eq!(html.matches("ps-attention-view\"").count(), 2);
        assert_eq!(
            html.matches("protscope's attention view (bertviz").count(),
            1
        );
        assert!(report.view_script_bytes() > 1000);
        assert!(!Report::new("plain").to_html().contains("ps-view"));
    }

    fn grid() -> HeadGrid {
        HeadGrid {
            num_layers: 2,
            num_heads: 2,
            values: vec![Some(0.1), None, Some(0.3), Some(0.4)],
            statistic: "share".into(),
            unit: "proportion".into(),
            mask_label: "excluded".into(),
            value_range: None,
        }
    }

    fn report() -> Report {
        let mut r = Report::new("Test <report>");
        r.intro("Why & how.");
        r.provenance(Provenance::new(vec!["protscope".into(), "report".into()]));
        r.section("Attention");
        r.subsection("Heads");
        let figure = head_heatmap("heads", "Heads", &grid()).unwrap();
        r.figure(&figure, "Caption with θ = 0.3.").unwrap();
        r.section("Tables");
        let df = df!("layer" => [0i64, 1], "value" => [0.5f64, 0.25]).unwrap();
        r.table("Values.", &df, &TableOptions::default()).unwrap();
        r
    }

    #[test]
    fn sections_figures_and_tables_are_numbered_and_listed() {
        let html = report().to_html();
        assert!(html.contains("<title>Test &lt;report&gt;</title>"));
        assert!(html.contains("<p class=\"intro\">Why &amp; how.</p>"));
        assert!(html.contains("<a href=\"#attention\">Attention</a><ol>"));
        assert!(html.contains("<li><a href=\"#heads\">Heads</a></li>"));
        assert!(html.contains("<b>Figure 1. Heads</b> Caption with θ = 0.3."));
        assert!(html.contains("download=\"heads.csv\""));
        assert!(html.contains("<b>Table 1.</b> Values."));
        assert_eq!(html.matches("<svg").count(), 1, "the figure is inline");
        assert!(!html.contains("<?xml"));
    }

    #[test]
    fn the_same_report_gives_the_same_bytes() {
        assert_eq!(report().to_html(), report().to_html());
    }

    #[test]
    fn repeated_headings_get_distinct_ids() {
        let mut r = Report::new("t");
        r.section("Same").section("Same");
        let html = r.to_html();
        assert!(html.contains("id=\"same\"") && html.contains("id=\"same-2\""));
    }
}
