//! The "Attention" section: heads that attend to each annotated property (BERTology's
//! proportion of attention), their layer profile and significance, and amino-acid attention
//! against BLOSUM62.

use std::collections::HashMap;

use polars::prelude::*;

use super::{file_safe, Builder, RunTable, TableKind};
use crate::frame::columns::{booleans, floats, integers, texts};
use crate::report::reading::HeadFinding;
use crate::report::{reading, TableOptions};
use crate::{plot, Result};

impl Builder<'_> {
    pub(super) fn attention(&mut self) -> Result<()> {
        let mut heads_tables: Vec<&RunTable> = self.of_kind(TableKind::Heads).collect();
        // Properties of the run first, the amino-acid analysis after them.
        heads_tables.sort_by_key(|t| {
            texts(&t.frame, "heads table", "property")
                .map(|p| p.iter().all(|p| p.starts_with("aa_to_")))
                .unwrap_or(false)
        });
        if heads_tables.is_empty() {
            return Ok(());
        }
        self.report.section("Attention");
        let caption_params = self.params_text(&["attention"]);
        for table in heads_tables {
            self.heads_table(table, &caption_params)?;
        }
        Ok(())
    }

    /// One heads table: a subsection per property set, or the amino-acid analysis.
    fn heads_table(&mut self, table: &RunTable, caption_params: &str) -> Result<()> {
        let what = table.path.display().to_string();
        let df = &table.frame;
        let property = texts(df, &what, "property")?;
        let mut properties: Vec<String> = Vec::new();
        for p in &property {
            if !properties.contains(p) {
                properties.push(p.clone());
            }
        }
        if properties.iter().all(|p| p.starts_with("aa_to_")) {
            return self.amino_acids(table, caption_params);
        }
        let layers = self.side(&table.stem, "layers", TableKind::HeadLayers);
        let centres = match layers {
            Some(l) => centres_of_gravity(&l.frame, &l.path.display().to_string())?,
            None => HashMap::new(),
        };
        self.report
            .subsection(format!("Attention to {}", properties.join(", ")));
        for prop in &properties {
            self.property_heads(table, prop, centres.get(prop).copied(), caption_params)?;
        }
        if let Some(layers) = layers {
            self.layer_profile(table, layers, caption_params)?;
        }
        self.report.table(
            format!(
                "Attention statistics per head ({}; layer and head from 1, as in the \
                 figures).",
                table.stem
            ),
            &df.clone(),
            &TableOptions::default(),
        )?;
        Ok(())
    }

    /// The reading, heatmap and top heads of one property.
    fn property_heads(
        &mut self,
        table: &RunTable,
        prop: &str,
        centre: Option<f64>,
        caption_params: &str,
    ) -> Result<()> {
        let what = table.path.display().to_string();
        let df = &table.frame;
        let rows = head_rows(df, prop, &what)?;
        let grid = plot::HeadGrid::from_frame(df, "proportion", Some("excluded"), Some(prop))?
            .with_statistic(&format!("share of edges on {prop}"), "proportion")
            .with_mask_label(&format!(
                "excluded: too few edges{}",
                self.params
                    .get("attention.min_total")
                    .map(|m| format!(" (< {m})"))
                    .unwrap_or_default()
            ));
        // A grid with every head excluded has nothing to draw; the reading says so.
        let figure = grid
            .values
            .iter()
            .any(Option::is_some)
            .then(|| {
                plot::head_heatmap(
                    &format!("{}_{}_heatmap", table.stem, file_safe(prop)),
                    &format!("Attention to {prop} per head"),
                    &grid,
                )
            })
            .transpose()?;
        let included: Vec<&HeadRow> = rows
            .iter()
            .filter(|r| !r.excluded && r.proportion.is_finite())
            .collect();
        let best = included
            .iter()
            .max_by(|a, b| a.proportion.total_cmp(&b.proportion))
            .map(|r| HeadFinding {
                layer: r.layer,
                head: r.head,
                proportion: r.proportion,
                background: r.background,
                n_edges: r.n_edges,
            });
        let above = included
            .iter()
            .filter(|r| r.proportion > 2.0 * r.background)
            .count();
        let reading =
            reading::attention_reading(prop, best.as_ref(), above, included.len(), centre);
        self.report.paragraph(reading);
        let Some(figure) = figure else {
            return Ok(());
        };
        self.add_figure(
            figure,
            format!(
                "Share of each head's high-attention edges that point to {prop} residues \
                 (proportion), layer 1 at the bottom; bars: the best head of each layer. Grey: \
                 heads excluded for having too few edges.{caption_params}"
            ),
        )?;
        if let Some(top) = self.side(&table.stem, "top", TableKind::TopHeads) {
            let figure = plot::top_heads(
                &format!("{}_{}_top", table.stem, file_safe(prop)),
                &format!("Top heads for {prop}"),
                &plot::TopHeads::from_frame(&top.frame, prop)?,
            )?;
            self.add_figure(
                figure,
                format!(
                    "Heads (layer-head, 1-based) with the highest share of attention to \
                     {prop}, with 95% Wilson intervals over their edges; dashed: the \
                     background rate of {prop} residues.{caption_params}"
                ),
            )?;
        }
        Ok(())
    }

    /// Where in depth each property's attention sits, when the layers table has any share.
    fn layer_profile(
        &mut self,
        table: &RunTable,
        layers: &RunTable,
        caption_params: &str,
    ) -> Result<()> {
        let defined = floats(
            &layers.frame,
            &layers.path.display().to_string(),
            "property_share",
        )?
        .iter()
        .any(|v| v.is_finite());
        if !defined {
            return Ok(());
        }
        let figure = plot::layer_profile(
            &format!("{}_layers", table.stem),
            "Where in depth attention to each property sits",
            &plot::LayerProfile::from_frame(&layers.frame, "property_share", None)?,
        )?;
        self.add_figure(
            figure,
            format!(
                "Share of each property's attention edges per layer (each line sums to \
                 1 over layers); markers: centre of gravity.{caption_params}"
            ),
        )
    }

    pub(super) fn amino_acids(&mut self, table: &RunTable, caption_params: &str) -> Result<()> {
        let Some(aa) = self.side(&table.stem, "aa_blosum", TableKind::AminoAcidBlosum) else {
            return Ok(());
        };
        let what = aa.path.display().to_string();
        let r = floats(&aa.frame, &what, "r")?;
        let blosum_r = floats(&aa.frame, &what, "blosum_r")?
            .first()
            .copied()
            .unwrap_or(f64::NAN);
        let heads_used = integers(&aa.frame, &what, "heads_used")?
            .first()
            .copied()
            .unwrap_or(0);
        let pairs = r.iter().filter(|v| v.is_finite()).count();
        self.report.subsection("Amino acids and BLOSUM62");
        self.report.paragraph(reading::blosum_reading(
            blosum_r,
            pairs,
            heads_used as usize,
        ));
        if pairs == 0 {
            // Nothing to draw: every head was excluded or every amino acid missing.
            return Ok(());
        }
        let figure = plot::aa_blosum(
            &format!("{}_blosum", table.stem),
            "Attention similarity of amino acids vs BLOSUM62",
            &plot::AaBlosum::from_frame(&aa.frame)?,
        )?;
        self.add_figure(
            figure,
            format!(
                "Left: Pearson r across heads between the attention proportions to two amino \
                 acids (aa_to_X); middle: BLOSUM62; right: one point per pair.{caption_params}"
            ),
        )
    }
}

/// One row of a heads table.
pub(super) struct HeadRow {
    pub(super) layer: i64,
    pub(super) head: i64,
    pub(super) n_edges: f64,
    pub(super) proportion: f64,
    pub(super) background: f64,
    pub(super) excluded: bool,
}

pub(super) fn head_rows(df: &DataFrame, property: &str, what: &str) -> Result<Vec<HeadRow>> {
    let prop = texts(df, what, "property")?;
    let layer = integers(df, what, "layer")?;
    let head = integers(df, what, "head")?;
    let n_edges = floats(df, what, "n_edges")?;
    let proportion = floats(df, what, "proportion")?;
    let background = floats(df, what, "background")?;
    let excluded = booleans(df, what, "excluded")?;
    Ok((0..df.height())
        .filter(|&i| prop[i] == property)
        .map(|i| HeadRow {
            layer: layer[i],
            head: head[i],
            n_edges: n_edges[i],
            proportion: proportion[i],
            background: background[i],
            excluded: excluded[i],
        })
        .collect())
}

/// Centre of gravity (1-based layer) of `property_share` per property.
pub(super) fn centres_of_gravity(df: &DataFrame, what: &str) -> Result<HashMap<String, f64>> {
    let property = texts(df, what, "property")?;
    let layer = integers(df, what, "layer")?;
    let share = floats(df, what, "property_share")?;
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    for i in 0..df.height() {
        if share[i].is_finite() {
            let e = sums.entry(property[i].clone()).or_default();
            e.0 += (layer[i] + 1) as f64 * share[i];
            e.1 += share[i];
        }
    }
    Ok(sums
        .into_iter()
        .filter(|(_, (_, total))| *total > 0.0)
        .map(|(p, (weighted, total))| (p, weighted / total))
        .collect())
}
