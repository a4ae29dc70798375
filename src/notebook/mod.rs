//! Rich output in the evcxr Jupyter kernel. evcxr shows a cell's value through a method named
//! `evcxr_display` that prints `EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT`; bring
//! [`Show`] into scope (`use protscope::notebook::Show;`) and figures render inline as SVG and
//! DataFrames as bounded HTML tables with their shape. A value that cannot be drawn shows its
//! error as text instead of panicking the cell.

use polars::prelude::DataFrame;

use crate::plot::Figure;
use crate::report::TableOptions;
use crate::Result;

/// Rows of a DataFrame shown inline (the shape line tells the rest).
pub const INLINE_ROWS: usize = 20;

/// One evcxr display block.
pub fn content(mime: &str, body: &str) -> String {
    format!(
        "EVCXR_BEGIN_CONTENT {mime}\n{}\nEVCXR_END_CONTENT\n",
        body.trim_end()
    )
}

/// Values with an inline notebook view.
pub trait Show {
    /// The display blocks (mime type and body) of this value.
    fn evcxr_content(&self) -> Result<String>;

    /// Called by evcxr for a cell's final value: prints the blocks, or the error as text.
    fn evcxr_display(&self) {
        match self.evcxr_content() {
            Ok(text) => print!("{text}"),
            Err(e) => print!("{}", content("text/plain", &format!("cannot display: {e}"))),
        }
    }
}

impl Show for Figure {
    fn evcxr_content(&self) -> Result<String> {
        Ok(content("image/svg+xml", &self.to_svg()?))
    }
}

impl Show for DataFrame {
    fn evcxr_content(&self) -> Result<String> {
        let shape = format!(
            "<p style=\"margin:2px 0;font-size:12px\">shape: ({} rows, {} columns){}</p>",
            self.height(),
            self.width(),
            if self.height() > INLINE_ROWS {
                format!(", first {INLINE_ROWS} shown")
            } else {
                String::new()
            }
        );
        let table = crate::report::table_html(
            "frame",
            self,
            &TableOptions {
                max_rows: INLINE_ROWS,
                searchable: false,
                downloadable: false,
            },
        )?;
        Ok(content("text/html", &format!("{shape}{table}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn figures_show_as_inline_svg() {
        let grid = crate::plot::HeadGrid {
            num_layers: 1,
            num_heads: 2,
            values: vec![Some(0.2), Some(0.5)],
            statistic: "share".into(),
            unit: String::new(),
            mask_label: "excluded".into(),
            value_range: None,
        };
        let figure = crate::plot::head_heatmap("g", "Grid", &grid).unwrap();
        let text = figure.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
        assert!(text.ends_with("</svg>\nEVCXR_END_CONTENT\n"));
        // A figure that cannot be drawn is an error value, shown as text by evcxr_display.
        let too_small = figure.with_size(10, 10);
        assert!(too_small.evcxr_content().is_err());
    }

    #[test]
    fn frames_show_as_bounded_html_with_their_shape() {
        let df = df!("layer" => (0..50i64).collect::<Vec<_>>()).unwrap();
        let text = df.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT text/html\n"));
        assert!(text.ends_with("EVCXR_END_CONTENT\n"));
        assert!(text.contains("shape: (50 rows, 1 columns), first 20 shown"));
        assert_eq!(text.matches("<tr>").count(), 1 + INLINE_ROWS);
    }
}
