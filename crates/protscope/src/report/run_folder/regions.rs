//! The "Annotations" section: the annotated regions and sites of the run's proteins.

use std::collections::{BTreeMap, BTreeSet};

use super::{Builder, RunTable, TableKind};
use crate::frame::columns::texts;
use crate::report::TableOptions;
use crate::Result;

impl Builder<'_> {
    pub(super) fn regions(&mut self) -> Result<()> {
        let Some(table) = self.region_features() else {
            return Ok(());
        };
        let what = table.path.display().to_string();
        let accession = texts(&table.frame, &what, "accession")?;
        let description = texts(&table.frame, &what, "description")?;
        let proteins: BTreeSet<&String> = accession.iter().collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &description {
            *counts.entry(d.as_str()).or_default() += 1;
        }
        self.report.section("Annotations");
        let skipped: Vec<&RunTable> = self.of_kind(TableKind::Skipped).collect();
        let n_skipped: usize = skipped.iter().map(|t| t.frame.height()).sum();
        self.report.paragraph(format!(
            "{} annotated features on {} proteins ({}){}.",
            table.frame.height(),
            proteins.len(),
            counts
                .iter()
                .map(|(d, n)| format!("{d}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            if n_skipped > 0 {
                format!("; {n_skipped} records were skipped (table below)")
            } else {
                String::new()
            }
        ));
        for t in self.of_kind(TableKind::Antibodies) {
            self.report.table(
                "Numbered antibodies: chain type (IMGT), the variable domain's span in the given \
                 sequence, and the CDR sequences (IMGT definitions; empty where the sequence \
                 ends before the region, as in germline V-REGIONs).",
                &t.frame,
                &TableOptions::default(),
            )?;
        }
        self.report.table(
            "Annotated features (1-based, inclusive positions in the given sequences).",
            &table.frame,
            &TableOptions::default(),
        )?;
        for t in skipped.into_iter().filter(|t| t.frame.height() > 0) {
            self.report.table(
                "Records skipped, with the reason.",
                &t.frame,
                &TableOptions::default(),
            )?;
        }
        Ok(())
    }
}
