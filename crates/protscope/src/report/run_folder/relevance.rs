//! The "Relevance and annotations" section: whether relevance concentrates on annotated
//! residues, per level, with its tests.

use polars::prelude::*;

use super::{Builder, RunTable, TableKind};
use crate::frame::columns::{booleans, floats, integers};
use crate::report::{reading, TableOptions};
use crate::{plot, Result};

impl Builder<'_> {
    pub(super) fn relevance(&mut self) -> Result<()> {
        let tables: Vec<&RunTable> = self.of_kind(TableKind::RelevanceStats).collect();
        if tables.is_empty() {
            return Ok(());
        }
        self.report.section("Relevance and annotations");
        let alpha: f64 = self
            .params
            .get("stats.alpha")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0.05);
        let caption_params = self.params_text(&["ig", "stats"]);
        let combined = self.embedding_significance(&tables, alpha, &caption_params)?;
        for table in tables {
            self.annotation_relevance(table, alpha, &caption_params)?;
        }
        if let Some(all) = crate::frame::stack_frames(&combined)? {
            self.report.table(
                "Relevance statistics per annotation and head (layer and head from 1; emb.: the embedding level).",
                &all,
                &TableOptions::default(),
            )?;
        }
        Ok(())
    }

    /// One bar per annotation for the embedding level; returns the tables with their
    /// annotation as a first column, for the combined table.
    fn embedding_significance(
        &mut self,
        tables: &[&RunTable],
        alpha: f64,
        caption_params: &str,
    ) -> Result<Vec<DataFrame>> {
        let mut bars = Vec::new();
        let mut combined: Vec<DataFrame> = Vec::new();
        for table in tables {
            let label = annotation_label(&table.stem);
            let rows = relevance_rows(&table.frame, &table.path.display().to_string())?;
            if let Some(e) = rows.iter().find(|r| r.layer < 0) {
                bars.push(plot::SignificanceBar {
                    label: label.clone(),
                    p: e.t_p,
                    n: e.n_proteins,
                });
            }
            let mut with_label = table.frame.clone();
            with_label.insert_column(
                0,
                Column::new(
                    "annotation".into(),
                    vec![label.clone(); table.frame.height()],
                ),
            )?;
            combined.push(with_label);
        }
        if !bars.is_empty() {
            let mut bars = plot::SignificanceBars::new(bars, "one-sided t-test on r");
            bars.alpha = alpha;
            let figure = plot::significance_bars(
                "relevance_embedding_significance",
                "Embedding-level relevance vs annotations",
                &bars,
            )?;
            self.add_figure(
                figure,
                format!(
                    "−log10 p of the one-sided t-test that the per-protein point-biserial \
                     correlation between embedding-level relevance and the annotation is \
                     positive; n = proteins with the annotation; dashed: p = 0.05.{caption_params}"
                ),
            )?;
        }
        Ok(combined)
    }

    /// The reading of one annotation, and its significant heads when there are any.
    fn annotation_relevance(
        &mut self,
        table: &RunTable,
        alpha: f64,
        caption_params: &str,
    ) -> Result<()> {
        let label = annotation_label(&table.stem);
        let rows = relevance_rows(&table.frame, &table.path.display().to_string())?;
        let head_rows: Vec<&RelevanceRow> = rows.iter().filter(|r| r.layer >= 0).collect();
        let significant = head_rows.iter().filter(|r| r.significant).count();
        let strongest = head_rows
            .iter()
            .filter(|r| r.significant)
            .max_by(|a, b| a.mean_r.total_cmp(&b.mean_r))
            .map(|r| (r.layer, r.head, r.mean_r, r.t_p_fdr));
        let embedding = rows
            .iter()
            .find(|r| r.layer < 0)
            .map(|r| (r.mean_r, r.t_p, r.n_proteins));
        self.report.subsection(format!("Relevance vs {label}"));
        self.report.paragraph(reading::relevance_reading(
            &label,
            significant,
            head_rows.len(),
            strongest,
            embedding,
            alpha,
        ));
        match strongest {
            None => {
                self.report.paragraph(format!(
                    "No head passes both tests at FDR {alpha}, so no significance map is drawn; \
                     the table below has every head's statistics."
                ));
                Ok(())
            }
            Some((layer, head, _, _)) => {
                self.significant_heads(table, &label, (layer, head), alpha, caption_params)
            }
        }
    }

    /// The map of significant heads, and the strongest head's relevance on one protein.
    fn significant_heads(
        &mut self,
        table: &RunTable,
        label: &str,
        (layer, head): (i64, i64),
        alpha: f64,
        caption_params: &str,
    ) -> Result<()> {
        let mut frame = table.frame.clone();
        let q = floats(&frame, &table.path.display().to_string(), "t_p_fdr")?;
        let score: Vec<f64> = q.iter().map(|q| -q.log10()).collect();
        frame.with_column(Column::new("neg_log10_q".into(), score))?;
        let grid = plot::HeadGrid::from_frame(&frame, "neg_log10_q", Some("!significant"), None)?
            .with_statistic("−log10 FDR-adjusted p (t-test on r)", "")
            .with_mask_label(&format!("not significant at FDR {alpha}"));
        let figure = plot::head_heatmap(
            &format!("{}_heads", table.stem),
            &format!("Heads whose relevance tracks {label}"),
            &grid,
        )?;
        self.add_figure(
            figure,
            format!(
                "Per head: −log10 of the Benjamini–Hochberg-adjusted p of the one-sided \
                 t-test that relevance correlates positively with {label}; grey: not \
                 significant (both tests at FDR {alpha}); bars: the strongest head per \
                 layer.{caption_params}"
            ),
        )?;
        // What the strongest head's relevance looks like on one antibody.
        let Some(attribution) = self.of_kind(TableKind::Attribution).next() else {
            return Ok(());
        };
        let Some(protein) = self.first_track_protein(attribution)? else {
            return Ok(());
        };
        let figure = self.track_figure(attribution, &protein, layer, head)?;
        self.add_figure(
            figure,
            format!(
                "Relevance of each residue of {protein} inside head {} (latent \
                 integrated gradients: the head's share of the attribution), the \
                 strongest head for {label}.{caption_params}",
                reading::head_label(layer, head)
            ),
        )
    }
}

/// `relevance_CDR3` → `CDR3`; other stems unchanged.
pub(super) fn annotation_label(stem: &str) -> String {
    stem.strip_prefix("relevance_")
        .or_else(|| stem.strip_prefix("relevance-"))
        .unwrap_or(stem)
        .to_string()
}

pub(super) struct RelevanceRow {
    pub(super) layer: i64,
    pub(super) head: i64,
    pub(super) n_proteins: usize,
    pub(super) mean_r: f64,
    pub(super) t_p: f64,
    pub(super) t_p_fdr: f64,
    pub(super) significant: bool,
}

pub(super) fn relevance_rows(df: &DataFrame, what: &str) -> Result<Vec<RelevanceRow>> {
    let layer = integers(df, what, "layer")?;
    let head = integers(df, what, "head")?;
    let n = integers(df, what, "n_proteins")?;
    let mean_r = floats(df, what, "mean_r")?;
    let t_p = floats(df, what, "t_p")?;
    let t_p_fdr = floats(df, what, "t_p_fdr")?;
    let significant = booleans(df, what, "significant")?;
    Ok((0..df.height())
        .map(|i| RelevanceRow {
            layer: layer[i],
            head: head[i],
            n_proteins: n[i].max(0) as usize,
            mean_r: mean_r[i],
            t_p: t_p[i],
            t_p_fdr: t_p_fdr[i],
            significant: significant[i],
        })
        .collect())
}
