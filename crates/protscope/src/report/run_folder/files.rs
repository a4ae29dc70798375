//! The closing "Files" section: every table the report was built from.

use polars::prelude::*;

use super::Builder;
use crate::report::TableOptions;

impl Builder<'_> {
    pub(super) fn files(&mut self) {
        let rows: Vec<(String, String, i64)> = self
            .tables
            .iter()
            .map(|t| {
                (
                    t.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    format!("{:?}", t.kind),
                    t.frame.height() as i64,
                )
            })
            .collect();
        let df = df!(
            "file" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            "kind" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            "rows" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        );
        if let Ok(df) = df {
            self.report.section("Files");
            let _ = self.report.table(
                "Tables of the run folder this report was built from.",
                &df,
                &TableOptions {
                    downloadable: false,
                    ..Default::default()
                },
            );
        }
    }
}
