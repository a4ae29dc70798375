//! The "Residue flipping" section: how predictions fall as the most relevant residues go.

use super::{Builder, RunTable, TableKind};
use crate::report::TableOptions;
use crate::Result;

impl Builder<'_> {
    pub(super) fn flips(&mut self) -> Result<()> {
        let tables: Vec<&RunTable> = self.of_kind(TableKind::Flip).collect();
        if tables.is_empty() {
            return Ok(());
        }
        self.report.section("Residue flipping");
        for t in tables {
            self.report.table(
                "Logit drop when the k most relevant residues are replaced by PAD, against k \
                 random residues.",
                &t.frame,
                &TableOptions::default(),
            )?;
        }
        Ok(())
    }
}
