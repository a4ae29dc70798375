//! The "Integrated gradients" section: residue tracks of relevance at the embedding and at
//! the hinted heads, with the run's annotations as lanes.

use polars::prelude::*;

use super::{file_safe, Builder, RunTable, TableKind};
use crate::frame::columns::{floats, integers, texts};
use crate::plot::Figure;
use crate::report::reading;
use crate::{plot, Result};

impl Builder<'_> {
    pub(super) fn attribution(&mut self) -> Result<()> {
        let tables: Vec<&RunTable> = self.of_kind(TableKind::Attribution).collect();
        if tables.is_empty() {
            return Ok(());
        }
        self.report.section("Integrated gradients");
        let caption_params = self.params_text(&["ig"]);
        let wanted: Vec<String> = self.hints.tracks.clone();
        for table in tables {
            let what = table.path.display().to_string();
            if let Some(summary) = self.side(&table.stem, "summary", TableKind::AttributionSummary)
            {
                let sw = summary.path.display().to_string();
                let f_in = floats(&summary.frame, &sw, "f_input")?;
                let f_base = floats(&summary.frame, &sw, "f_baseline")?;
                let delta = floats(&summary.frame, &sw, "delta")?;
                let mut relative: Vec<f64> = (0..delta.len())
                    .map(|i| (delta[i] / (f_in[i] - f_base[i])).abs())
                    .filter(|v| v.is_finite())
                    .collect();
                relative.sort_by(f64::total_cmp);
                if let (Some(max), false) = (relative.last(), relative.is_empty()) {
                    let within = relative.iter().filter(|&&r| r <= 0.01).count();
                    self.report.paragraph(format!(
                        "Completeness of {} attributions: the relevance sums to F(x) − F(x′) up \
                         to a median of {}% and at most {}% of that difference (|delta|); {within} \
                         are within 1%. More integration steps reduce |delta|.",
                        relative.len(),
                        reading::rounded(100.0 * relative[relative.len() / 2]),
                        reading::rounded(100.0 * max)
                    ));
                }
            }
            let proteins = texts(&table.frame, &what, "protein")?;
            let mut order: Vec<String> = Vec::new();
            for p in &proteins {
                if !order.contains(p) {
                    order.push(p.clone());
                }
            }
            let mut chosen: Vec<String> = wanted
                .iter()
                .filter(|w| order.contains(w))
                .cloned()
                .collect();
            for p in &order {
                if chosen.len() >= self.options.max_tracks {
                    break;
                }
                if !chosen.contains(p) {
                    chosen.push(p.clone());
                }
            }
            chosen.truncate(self.options.max_tracks);
            self.report
                .subsection(format!("Residue relevance ({})", table.stem));
            for protein in chosen {
                let figure = self.track_figure(table, &protein, -1, -1)?;
                self.add_figure(
                    figure,
                    format!(
                        "Embedding-level integrated-gradients relevance of each residue of \
                         {protein} (red: for the target class, blue: against; colour scale \
                         symmetric around 0), with annotated regions below.{caption_params}"
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// Residue track of one protein's relevance at one level (layer = head = −1: embedding),
    /// with the run's annotations as lanes.
    pub(super) fn track_figure(
        &self,
        attribution: &RunTable,
        protein: &str,
        layer: i64,
        head: i64,
    ) -> Result<Figure> {
        let what = attribution.path.display().to_string();
        let residues = embedding_residues(&attribution.frame, protein, &what)?;
        let lanes = match self.region_features() {
            Some(f) => Some(region_lanes(features_within(&f.frame, protein, residues)?)?),
            None => None,
        };
        let mut track = plot::ResidueTrack::from_frames(
            &attribution.frame,
            protein,
            crate::model::Level::from_columns(layer, head)?,
            lanes.as_ref(),
        )?;
        let (name, title) = if layer < 0 {
            (
                format!("{}_{}_track", attribution.stem, file_safe(protein)),
                format!("{protein}: relevance per residue"),
            )
        } else {
            let label = reading::head_label(layer, head);
            track.relevance_label = format!("Relevance (head {label})");
            (
                format!(
                    "{}_{}_head_{label}_track",
                    attribution.stem,
                    file_safe(protein)
                ),
                format!("{protein}: relevance inside head {label}"),
            )
        };
        plot::residue_track(&name, &title, &track)
    }

    /// The protein whose tracks come first: the run's first hinted track present in
    /// the attribution table, else the table's first protein.
    pub(super) fn first_track_protein(&self, attribution: &RunTable) -> Result<Option<String>> {
        let proteins = texts(
            &attribution.frame,
            &attribution.path.display().to_string(),
            "protein",
        )?;
        let wanted = self
            .hints
            .tracks
            .iter()
            .find(|w| proteins.iter().any(|p| p == *w))
            .cloned();
        Ok(wanted.or_else(|| proteins.first().cloned()))
    }
}

/// Residues of `protein` in an attribution table (embedding-level positions minus the two
/// special tokens).
pub(super) fn embedding_residues(df: &DataFrame, protein: &str, what: &str) -> Result<usize> {
    let proteins = texts(df, what, "protein")?;
    let layer = integers(df, what, "layer")?;
    let rows = (0..df.height())
        .filter(|&i| layer[i] == -1 && proteins[i] == protein)
        .count();
    Ok(rows.saturating_sub(2))
}

/// Antibody regions drawn as two lanes, CDRs and frameworks, so loops stand out; other feature
/// types keep their own lane.
pub(super) fn region_lanes(df: DataFrame) -> Result<DataFrame> {
    let kinds = texts(&df, "features table", "type")?;
    let descriptions = texts(&df, "features table", "description")?;
    let lane: Vec<String> = kinds
        .iter()
        .zip(&descriptions)
        .map(|(t, d)| match (t.as_str(), d) {
            ("Region", d) if d.starts_with("CDR") => "CDR".to_string(),
            ("Region", d) if d.starts_with("FR") => "Framework".to_string(),
            (t, _) => t.to_string(),
        })
        .collect();
    let mut df = df;
    df.with_column(Column::new("type".into(), lane))?;
    Ok(df)
}

/// The features of `protein`, cut to its first `residues` residues: a `--max-len` cut shortens
/// what the model saw, and features beyond it have no relevance to show.
pub(super) fn features_within(df: &DataFrame, protein: &str, residues: usize) -> Result<DataFrame> {
    let what = "features table";
    let accession = texts(df, what, "accession")?;
    let start = floats(df, what, "start")?;
    let keep: BooleanChunked = (0..df.height())
        .map(|i| accession[i] == protein && start[i] <= residues as f64)
        .collect();
    let mut kept = df.filter(&keep)?;
    let end: Vec<Option<i64>> = floats(&kept, what, "end")?
        .iter()
        .map(|&e| e.is_finite().then(|| e.min(residues as f64) as i64))
        .collect();
    kept.with_column(Column::new("end".into(), end))?;
    Ok(kept)
}
