//! A report from the tables of a finished run folder (`protscope report --from DIR`, and the
//! last step of `protscope demo`). Tables are recognised by their columns, not their names, so
//! any folder of protscope outputs works; `run.json` (a [`Provenance`]) adds the command,
//! model, inputs and parameters when present.

// One file per section of the report, called in reading order by `report_from_dir`; the
// sections share `Builder` (the report so far, the run's tables and parameters).
mod attention;
mod attention_maps;
mod attribution;
mod comparison;
mod files;
mod methods;
mod predictions;
mod regions;
mod relevance;
mod structure;
mod views;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::provenance::{FileHash, Provenance};
use super::Report;
use crate::frame::read_table;
use crate::plot::Figure;
use crate::{Error, Result};

/// File of a run folder that describes the run.
pub const RUN_FILE: &str = "run.json";

/// What a table of a run folder holds, by its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableKind {
    Predictions,
    /// `protein, output, label`: known classes to compare predictions with.
    Labels,
    Features,
    /// `protein, chain, cdr1, cdr2, cdr3`: numbered antibodies.
    Antibodies,
    Skipped,
    Heads,
    HeadLayers,
    TopHeads,
    AminoAcidBlosum,
    Attribution,
    AttributionSummary,
    RelevanceStats,
    RelevancePerProtein,
    AttentionEdges,
    Contacts,
    /// `protein, i, j, probability`: contacts predicted from attention.
    ContactPredictions,
    /// Contact P@L of a head fitted on each layer (`contacts-layers`).
    ContactLayers,
    /// Scores of linear probes per layer (`probe`).
    Probe,
    /// DSSP states per residue (`secondary-structure`).
    SecondaryStructure,
    Flip,
    /// AOPC per method and protein (`<flip stem>.aopc`).
    FlipAopc,
    /// Cascading randomisation of attribution methods (`sanity`).
    Randomisation,
    /// How alike methods rank residues (`methods_agreement`).
    MethodAgreement,
    /// Residue scores per IMGT region of one compared model (`demo --models`).
    RegionScores,
    Other,
}

impl TableKind {
    /// Recognises a table by its columns ([`crate::frame::schema::recognise`]).
    pub fn of(frame: &DataFrame) -> TableKind {
        let Some(found) = crate::frame::schema::recognise(frame) else {
            return TableKind::Other;
        };
        match found.name {
            "predictions" => TableKind::Predictions,
            "amino_acid_blosum" => TableKind::AminoAcidBlosum,
            "top_heads" => TableKind::TopHeads,
            "head_layers" => TableKind::HeadLayers,
            "heads" => TableKind::Heads,
            "attribution" => TableKind::Attribution,
            "attribution_summary" => TableKind::AttributionSummary,
            "relevance_stats" => TableKind::RelevanceStats,
            "relevance_per_protein" => TableKind::RelevancePerProtein,
            "attention_edges" => TableKind::AttentionEdges,
            "contacts" => TableKind::Contacts,
            "contact_predictions" => TableKind::ContactPredictions,
            "contact_layers" => TableKind::ContactLayers,
            "probe" => TableKind::Probe,
            "secondary_structure" => TableKind::SecondaryStructure,
            "flip" => TableKind::Flip,
            "flip_aopc" => TableKind::FlipAopc,
            "randomisation" => TableKind::Randomisation,
            "method_agreement" => TableKind::MethodAgreement,
            "region_scores" => TableKind::RegionScores,
            "antibodies" => TableKind::Antibodies,
            "features" => TableKind::Features,
            "labels" => TableKind::Labels,
            "skipped" => TableKind::Skipped,
            // Tables the report has no section for.
            _ => TableKind::Other,
        }
    }
}

/// One table of a run folder.
#[derive(Debug, Clone)]
pub struct RunTable {
    pub path: PathBuf,
    /// File name without its table extension, e.g. `heads_regions.top`.
    pub stem: String,
    pub kind: TableKind,
    pub frame: DataFrame,
}

/// How to build the report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub title: Option<String>,
    /// Command line recorded when the folder has no `run.json`.
    pub command_line: Vec<String>,
    /// Record the date (reports then differ between runs).
    pub timestamp: bool,
    /// Residue tracks drawn per attribution table (proteins named by the run's
    /// [`super::ReportHints::tracks`] first, then in table order).
    pub max_tracks: usize,
    /// Attention maps drawn at most.
    pub max_attention_maps: usize,
    /// Further run folders whose models join the comparison section (beside the folder's own
    /// `models/`).
    pub compare: Vec<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            title: None,
            command_line: Vec::new(),
            timestamp: false,
            max_tracks: 3,
            max_attention_maps: 3,
            compare: Vec::new(),
        }
    }
}

/// A report and the figures drawn for it (to save as files beside it).
pub struct FolderReport {
    pub report: Report,
    pub figures: Vec<Figure>,
    pub tables: Vec<RunTable>,
}

impl FolderReport {
    /// Writes `report.html`-style output to `html` and every figure as SVG and PNG into
    /// `figures_dir`.
    pub fn save(&self, html: &Path, figures_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(figures_dir).map_err(|e| Error::io(figures_dir, e))?;
        for f in &self.figures {
            f.save(&figures_dir.join(format!("{}.svg", f.name())))?;
            f.save(&figures_dir.join(format!("{}.png", f.name())))?;
        }
        self.report.save(html)
    }
}

/// Reads every table (`.csv`, `.parquet`) directly inside `dir`, sorted by file name.
pub fn read_run_tables(dir: &Path) -> Result<Vec<RunTable>> {
    if !dir.is_dir() {
        return Err(Error::file(
            dir,
            "not a folder (give the output folder of a run)",
        ));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            let table = p.extension().is_some_and(|x| x == "csv" || x == "parquet");
            p.is_file() && table && !hidden
        })
        .collect();
    paths.sort();
    let mut tables = Vec::new();
    for path in paths {
        let frame = read_table(&path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        tables.push(RunTable {
            kind: TableKind::of(&frame),
            path,
            stem,
            frame,
        });
    }
    Ok(tables)
}

/// Builds the report of a run folder.
pub fn report_from_dir(dir: &Path, options: &ReportOptions) -> Result<FolderReport> {
    let tables = read_run_tables(dir)?;
    if tables.is_empty() {
        return Err(Error::file(
            dir,
            "holds no .csv or .parquet table to report on",
        ));
    }
    let run_file = dir.join(RUN_FILE);
    let mut provenance = if run_file.is_file() {
        Provenance::read(&run_file)?
    } else {
        let mut p = Provenance::new(options.command_line.clone());
        for t in &tables {
            p.inputs.push(FileHash::of(&t.path)?);
        }
        p
    };
    if options.timestamp && provenance.date.is_none() {
        provenance.stamp_date();
    }
    let hints = super::ReportHints::read(dir)?;
    let title = options
        .title
        .clone()
        .or_else(|| hints.title.clone())
        .unwrap_or_else(|| format!("protscope report: {}", dir.display()));
    let mut builder = Builder {
        report: Report::new(title),
        figures: Vec::new(),
        params: provenance.parameters.clone(),
        hints,
        tables: &tables,
        options,
    };
    builder.report.provenance(provenance);
    builder.overview();
    builder.predictions()?;
    builder.regions()?;
    builder.attention()?;
    builder.attribution()?;
    builder.relevance()?;
    builder.attention_maps()?;
    builder.structure()?;
    builder.views(dir)?;
    builder.methods()?;
    builder.comparison(&comparison::compared_runs(dir, &options.compare)?)?;
    builder.files();
    let Builder {
        report, figures, ..
    } = builder;
    Ok(FolderReport {
        report,
        figures,
        tables,
    })
}

struct Builder<'a> {
    report: Report,
    figures: Vec<Figure>,
    params: BTreeMap<String, String>,
    hints: super::ReportHints,
    tables: &'a [RunTable],
    options: &'a ReportOptions,
}

impl<'a> Builder<'a> {
    fn of_kind(&self, kind: TableKind) -> impl Iterator<Item = &'a RunTable> + 'a {
        let tables: &'a [RunTable] = self.tables;
        tables.iter().filter(move |t| t.kind == kind)
    }

    /// The table `<stem>.<side>` of a main table, when the folder has it.
    fn side(&self, stem: &str, side: &str, kind: TableKind) -> Option<&'a RunTable> {
        let wanted = format!("{stem}.{side}");
        let tables: &'a [RunTable] = self.tables;
        tables.iter().find(|t| t.kind == kind && t.stem == wanted)
    }

    /// Parameters whose name starts with one of `prefixes` (`ig` matches `ig.steps`), as
    /// `name = value` text for captions.
    fn params_text(&self, prefixes: &[&str]) -> String {
        let items: Vec<String> = self
            .params
            .iter()
            .filter_map(|(k, v)| {
                prefixes.iter().find_map(|p| {
                    k.strip_prefix(p)
                        .and_then(|k| k.strip_prefix('.'))
                        .map(|k| format!("{k} = {v}"))
                })
            })
            .collect();
        if items.is_empty() {
            String::new()
        } else {
            format!(" Parameters: {}.", items.join(", "))
        }
    }

    fn add_figure(&mut self, figure: Figure, caption: String) -> Result<()> {
        self.report.figure(&figure, caption)?;
        self.figures.push(figure);
        Ok(())
    }

    fn overview(&mut self) {
        if let Some(text) = self.hints.overview.clone() {
            self.report.intro(text);
        }
    }

    fn region_features(&self) -> Option<&'a RunTable> {
        self.of_kind(TableKind::Features).next()
    }
}

fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
