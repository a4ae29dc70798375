//! DataFrames as HTML tables: sortable by column, searchable, downloadable as CSV.

use std::fmt::Write as _;

use polars::prelude::*;

use super::html::{csv_data_uri, escape};
use crate::Result;

/// How a table is shown.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Rows shown (the downloadable CSV always holds every row); the rest is counted.
    pub max_rows: usize,
    /// A search box that filters rows by their text.
    pub searchable: bool,
    /// A link that downloads the whole table as CSV.
    pub downloadable: bool,
    /// The "N of M rows shown" line (the notebook view prints its own shape line instead).
    pub row_count: bool,
    /// Integer `layer` and `head` columns shown counting from 1, as figures and sentences name
    /// heads ("head 4-8"), with −1 (the embedding level) shown as "emb."; the files and the
    /// CSV download keep protscope's 0-based indices.
    pub count_from_one: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            max_rows: 500,
            searchable: true,
            downloadable: true,
            row_count: true,
            count_from_one: true,
        }
    }
}

/// Text of one cell and, for numbers, the value the sort uses.
fn cell(value: AnyValue) -> (String, Option<String>) {
    match value {
        AnyValue::Null => (String::new(), None),
        AnyValue::Boolean(b) => (if b { "yes" } else { "no" }.into(), None),
        AnyValue::Float32(v) => (format_float(v as f64), Some(sort_key(v as f64))),
        AnyValue::Float64(v) => (format_float(v), Some(sort_key(v))),
        AnyValue::String(s) => (s.to_string(), None),
        AnyValue::StringOwned(s) => (s.to_string(), None),
        v if v.is_integer() => {
            let text = v.to_string();
            (text.clone(), Some(text))
        }
        v => (v.to_string().trim_matches('"').to_string(), None),
    }
}

/// Columns shown counting from 1 with [`TableOptions::count_from_one`].
const INDEX_COLUMNS: [&str; 2] = ["layer", "head"];

/// A 0-based layer or head index as people read it: 1-based, −1 as the embedding level.
fn index_cell(value: AnyValue) -> (String, Option<String>) {
    match value.extract::<i64>() {
        Some(-1) => ("emb.".into(), Some("0".into())),
        Some(i) => ((i + 1).to_string(), Some((i + 1).to_string())),
        None => cell(value),
    }
}

fn sort_key(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v:e}")
    }
}

/// Four significant digits; scientific notation for very small or large magnitudes.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞" } else { "−∞" }.into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).clamp(0, 6) as usize
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn is_empty_column(column: &Column) -> bool {
    if column.is_empty() {
        return false;
    }
    if column.null_count() == column.len() {
        return true;
    }
    match column.str() {
        Ok(s) => s.iter().all(|v| v.is_none_or(str::is_empty)),
        Err(_) => false,
    }
}

pub fn frame_to_csv(frame: &DataFrame) -> Result<String> {
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes)
        .include_header(true)
        .finish(&mut frame.clone())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn render(id: &str, frame: &DataFrame, options: &TableOptions) -> Result<String> {
    let mut out = String::new();
    let shown = frame.height().min(options.max_rows);
    let count_id = format!("{id}-count");
    out.push_str("<div class=\"tools\">");
    if options.searchable {
        let _ = write!(
            out,
            "<label>Search <input class=\"search\" type=\"search\" data-table=\"{id}-t\" \
             data-count=\"{count_id}\"></label>"
        );
    }
    if options.row_count {
        let _ = write!(
            out,
            "<span id=\"{count_id}\">{shown} of {} rows shown</span>",
            frame.height()
        );
    }
    if options.downloadable {
        let _ = write!(
            out,
            "<a class=\"data\" download=\"{id}.csv\" href=\"{}\">Download all rows (CSV)</a>",
            csv_data_uri(&frame_to_csv(frame)?)
        );
    }
    let from_one = |c: &Column| {
        options.count_from_one
            && INDEX_COLUMNS.contains(&c.name().as_str())
            && c.dtype().is_integer()
    };
    if frame.columns().iter().any(from_one) {
        out.push_str(
            "<span class=\"note\">layers and heads count from 1 here, as in the figures; \
             the tables on disk count from 0</span>",
        );
    }
    out.push_str("</div>\n");
    let _ = write!(
        out,
        "<div class=\"tablewrap\"><table class=\"sortable\" id=\"{id}-t\">\n<thead><tr>"
    );
    // Columns with no value at all (e.g. a feature table's empty evidence) are left out of the
    // view; the download keeps them.
    let columns: Vec<&Column> = frame
        .columns()
        .iter()
        .filter(|c| !is_empty_column(c))
        .collect();
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", escape(c.name()));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in 0..shown {
        out.push_str("<tr>");
        for column in &columns {
            let (text, key) = if from_one(column) {
                index_cell(column.get(row)?)
            } else {
                cell(column.get(row)?)
            };
            match key {
                Some(key) => {
                    let _ = write!(
                        out,
                        "<td class=\"n\" data-v=\"{key}\">{}</td>",
                        escape(&text)
                    );
                }
                None => {
                    let _ = write!(out, "<td>{}</td>", escape(&text));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_four_significant_digits() {
        assert_eq!(format_float(0.123456), "0.1235");
        assert_eq!(format_float(12.0), "12");
        assert_eq!(format_float(1234.5678), "1235");
        assert_eq!(format_float(2.5e-7), "2.500e-7");
        assert_eq!(format_float(f64::NAN), "–");
        assert_eq!(format_float(0.0), "0");
    }

    #[test]
    fn layers_and_heads_are_shown_from_one() {
        let df = df!("layer" => [-1i64, 3], "head" => [-1i64, 7], "value" => [0.5, 1.0]).unwrap();
        let html = render("t", &df, &TableOptions::default()).unwrap();
        assert!(
            html.contains(">emb.</td><td class=\"n\" data-v=\"0\">emb.</td>"),
            "{html}"
        );
        assert!(
            html.contains("data-v=\"4\">4</td><td class=\"n\" data-v=\"8\">8</td>"),
            "{html}"
        );
        assert!(html.contains("count from 1"));
        let raw = render(
            "t",
            &df,
            &TableOptions {
                count_from_one: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            raw.contains(">3</td>") && !raw.contains("count from 1"),
            "{raw}"
        );
    }

    #[test]
    fn renders_every_column_and_bounded_rows() {
        let df =
            df!("name" => ["a<b", "c"], "value" => [1.5f64, f64::NAN], "n" => [3i64, 4]).unwrap();
        let html = render(
            "t",
            &df,
            &TableOptions {
                max_rows: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(html.contains("<th>name</th><th>value</th><th>n</th>"));
        assert!(html.contains("<td>a&lt;b</td>"));
        assert!(html.contains("data-v=\"3\""));
        assert!(!html.contains("<td>c</td>"), "only max_rows rows are shown");
        assert!(html.contains("1 of 2 rows shown"));
        let with_empty = df!("a" => [1i64], "b" => [""], "c" => [None::<f64>]).unwrap();
        let html = render("e", &with_empty, &TableOptions::default()).unwrap();
        assert!(
            html.contains("<th>a</th></tr>"),
            "empty columns are not shown: {html}"
        );
    }
}
