//! A report from the tables of a finished run folder (`protscope report --from DIR`, and the
//! last step of `protscope demo`). Tables are recognised by their columns, not their names, so
//! any folder of protscope outputs works; `run.json` (a [`Provenance`]) adds the command,
//! model, inputs and parameters when present.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::provenance::{FileHash, Provenance};
use super::reading::{self, HeadFinding};
use super::{Report, TableOptions};
use crate::frame::columns::{booleans, floats, integers, texts};
use crate::frame::read_table;
use crate::plot::{self, Figure};
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
    Flip,
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
            "flip" => TableKind::Flip,
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
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            title: None,
            command_line: Vec::new(),
            timestamp: false,
            max_tracks: 3,
            max_attention_maps: 3,
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
    builder.flips()?;
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

    fn predictions(&mut self) -> Result<()> {
        let Some(table) = self.of_kind(TableKind::Predictions).next() else {
            return Ok(());
        };
        let what = table.path.display().to_string();
        let df = &table.frame;
        let protein = texts(df, &what, "protein")?;
        let output = texts(df, &what, "output")?;
        let label = texts(df, &what, "label")?;
        let class = integers(df, &what, "class")?;
        let prob = floats(df, &what, "prob")?;
        // Best class per (protein, output), in the table's protein order.
        let mut order: Vec<String> = Vec::new();
        let mut outputs: Vec<String> = Vec::new();
        let mut best: HashMap<(String, String), (String, f64)> = HashMap::new();
        for i in 0..df.height() {
            if !order.contains(&protein[i]) {
                order.push(protein[i].clone());
            }
            if !outputs.contains(&output[i]) {
                outputs.push(output[i].clone());
            }
            let name = if label[i].is_empty() {
                class[i].to_string()
            } else {
                label[i].clone()
            };
            let key = (protein[i].clone(), output[i].clone());
            if best.get(&key).is_none_or(|(_, p)| prob[i] > *p) {
                best.insert(key, (name, prob[i]));
            }
        }
        let mut known: HashMap<(String, String), String> = HashMap::new();
        for t in self.of_kind(TableKind::Labels) {
            let what = t.path.display().to_string();
            let (p, h, l) = (
                texts(&t.frame, &what, "protein")?,
                texts(&t.frame, &what, "output")?,
                texts(&t.frame, &what, "label")?,
            );
            for i in 0..t.frame.height() {
                known.insert((p[i].clone(), h[i].clone()), l[i].clone());
            }
        }
        let mut columns: Vec<Column> = vec![Column::new("protein".into(), order.clone())];
        let mut readings = Vec::new();
        let mut confusions: Vec<(String, DataFrame)> = Vec::new();
        for h in &outputs {
            let get = |p: &String| best.get(&(p.clone(), h.clone()));
            let predicted: Vec<String> = order
                .iter()
                .map(|p| get(p).map(|b| b.0.clone()).unwrap_or_default())
                .collect();
            let probability: Vec<f64> = order
                .iter()
                .map(|p| get(p).map_or(f64::NAN, |b| b.1))
                .collect();
            let truth: Vec<Option<String>> = order
                .iter()
                .map(|p| known.get(&(p.clone(), h.clone())).cloned())
                .collect();
            let with_truth: Vec<usize> = (0..order.len()).filter(|&i| truth[i].is_some()).collect();
            if !with_truth.is_empty() {
                let correct = with_truth
                    .iter()
                    .filter(|&&i| truth[i].as_deref() == Some(predicted[i].as_str()))
                    .count();
                readings.push(format!(
                    "{} output: the predicted class matches the source's label for {correct} \
                     of {} proteins ({}%).",
                    plot::capitalise(h),
                    with_truth.len(),
                    reading::rounded(100.0 * correct as f64 / with_truth.len() as f64),
                ));
            }
            if !with_truth.is_empty() {
                confusions.push((h.clone(), confusion(&truth, &predicted)?));
            }
            columns.push(Column::new(h.as_str().into(), predicted));
            columns.push(Column::new(format!("{h}_prob").into(), probability));
            if !with_truth.is_empty() {
                columns.push(Column::new(format!("{h}_known").into(), truth));
            }
        }
        let summary = DataFrame::new(order.len(), columns)?;
        self.report.section("Predictions");
        self.report.paragraph(format!(
            "The most probable class of every sequence-level prediction output for {} proteins.",
            order.len()
        ));
        for r in readings {
            self.report.paragraph(r);
        }
        for (h, table) in &confusions {
            self.report.table(
                format!(
                    "{} output: proteins per known label (rows) and predicted class (columns).",
                    plot::capitalise(h)
                ),
                table,
                &TableOptions {
                    searchable: false,
                    ..Default::default()
                },
            )?;
        }
        self.report.table(
            "Most probable class and its probability per head (softmax); `_known` is the label \
             the input file states.",
            &summary,
            &TableOptions::default(),
        )?;
        Ok(())
    }

    fn region_features(&self) -> Option<&'a RunTable> {
        self.of_kind(TableKind::Features).next()
    }

    fn regions(&mut self) -> Result<()> {
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

    fn attention(&mut self) -> Result<()> {
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
            let what = table.path.display().to_string();
            let df = &table.frame;
            let property = texts(df, &what, "property")?;
            let mut properties: Vec<String> = Vec::new();
            for p in &property {
                if !properties.contains(p) {
                    properties.push(p.clone());
                }
            }
            let amino_acids = properties.iter().all(|p| p.starts_with("aa_to_"));
            if amino_acids {
                self.amino_acids(table, &caption_params)?;
                continue;
            }
            let layers = self.side(&table.stem, "layers", TableKind::HeadLayers);
            let centres = match layers {
                Some(l) => centres_of_gravity(&l.frame, &l.path.display().to_string())?,
                None => HashMap::new(),
            };
            self.report
                .subsection(format!("Attention to {}", properties.join(", ")));
            for prop in &properties {
                let rows = head_rows(df, prop, &what)?;
                let grid =
                    plot::HeadGrid::from_frame(df, "proportion", Some("excluded"), Some(prop))?
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
                let reading = reading::attention_reading(
                    prop,
                    best.as_ref(),
                    above,
                    included.len(),
                    centres.get(prop).copied(),
                );
                self.report.paragraph(reading);
                let Some(figure) = figure else { continue };
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
            }
            let profile_defined = match layers {
                Some(l) => floats(&l.frame, &l.path.display().to_string(), "property_share")?
                    .iter()
                    .any(|v| v.is_finite()),
                None => false,
            };
            if let (Some(layers), true) = (layers, profile_defined) {
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
                )?;
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
        }
        Ok(())
    }

    fn amino_acids(&mut self, table: &RunTable, caption_params: &str) -> Result<()> {
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

    fn attribution(&mut self) -> Result<()> {
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
    fn track_figure(
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
    fn first_track_protein(&self, attribution: &RunTable) -> Result<Option<String>> {
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

    fn relevance(&mut self) -> Result<()> {
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
        let mut bars = Vec::new();
        let mut combined: Vec<DataFrame> = Vec::new();
        for table in &tables {
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
        for table in tables {
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
            if significant == 0 {
                self.report.paragraph(format!(
                    "No head passes both tests at FDR {alpha}, so no significance map is drawn; \
                     the table below has every head's statistics."
                ));
            } else {
                let mut frame = table.frame.clone();
                let q = floats(&frame, &table.path.display().to_string(), "t_p_fdr")?;
                let score: Vec<f64> = q.iter().map(|q| -q.log10()).collect();
                frame.with_column(Column::new("neg_log10_q".into(), score))?;
                let grid =
                    plot::HeadGrid::from_frame(&frame, "neg_log10_q", Some("!significant"), None)?
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
                let attribution = self.of_kind(TableKind::Attribution).next();
                if let (Some((layer, head, _, _)), Some(attribution)) = (strongest, attribution) {
                    if let Some(protein) = self.first_track_protein(attribution)? {
                        let figure = self.track_figure(attribution, &protein, layer, head)?;
                        self.add_figure(
                            figure,
                            format!(
                                "Relevance of each residue of {protein} inside head {} (latent \
                                 integrated gradients: the head's share of the attribution), the \
                                 strongest head for {label}.{caption_params}",
                                reading::head_label(layer, head)
                            ),
                        )?;
                    }
                }
            }
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

    fn attention_maps(&mut self) -> Result<()> {
        let tables: Vec<&RunTable> = self.of_kind(TableKind::AttentionEdges).collect();
        if tables.is_empty() {
            return Ok(());
        }
        let residues = self.residues_by_protein()?;
        let contacts: Vec<&RunTable> = self.of_kind(TableKind::Contacts).collect();
        self.report.section("Attention maps");
        if let Some(text) = self.hints.attention_maps.clone() {
            self.report.paragraph(text);
        }
        let mut drawn = 0;
        for table in tables {
            let what = table.path.display().to_string();
            let df = &table.frame;
            let protein = texts(df, &what, "protein")?;
            let layer = integers(df, &what, "layer")?;
            let head = integers(df, &what, "head")?;
            let from = integers(df, &what, "from")?;
            let to = integers(df, &what, "to")?;
            let weight = floats(df, &what, "weight")?;
            let mut groups: BTreeMap<(String, i64, i64), Vec<usize>> = BTreeMap::new();
            let mut order = Vec::new();
            for i in 0..df.height() {
                let key = (protein[i].clone(), layer[i], head[i]);
                if !groups.contains_key(&key) {
                    order.push(key.clone());
                }
                groups.entry(key).or_default().push(i);
            }
            for key in order {
                if drawn >= self.options.max_attention_maps {
                    break;
                }
                let rows = &groups[&key];
                let n = rows
                    .iter()
                    .map(|&i| from[i].max(to[i]))
                    .max()
                    .unwrap_or(0)
                    .max(0) as usize;
                let sequence = residues
                    .get(&key.0)
                    .cloned()
                    .filter(|s| s.chars().count() >= n)
                    .unwrap_or_else(|| "X".repeat(n));
                let n = sequence.chars().count();
                let mut matrix = vec![0f32; n * n];
                for &i in rows {
                    let (f, t) = (from[i] - 1, to[i] - 1);
                    if f >= 0 && t >= 0 && (f as usize) < n && (t as usize) < n {
                        matrix[f as usize * n + t as usize] = weight[i] as f32;
                    }
                }
                let contact_map = contact_matrix(&contacts, &key.0, n)?;
                let mut map = plot::AttentionMap::new(
                    key.1.max(0) as usize,
                    key.2.max(0) as usize,
                    &sequence,
                    matrix,
                );
                if let Some(contacts) = contact_map {
                    map = map.with_contacts(contacts, "contact (from the structure)");
                }
                let figure = plot::attention_map(
                    &format!(
                        "attention_{}_{}",
                        file_safe(&key.0),
                        reading::head_label(key.1, key.2)
                    ),
                    &format!(
                        "{}: attention of head {}",
                        key.0,
                        reading::head_label(key.1, key.2)
                    ),
                    &map,
                )?;
                self.add_figure(
                    figure,
                    format!(
                        "Attention weights of layer {} head {} (row: attending residue, column: \
                         attended residue; special tokens removed, not renormalised).{}",
                        key.1 + 1,
                        key.2 + 1,
                        self.params_text(&["attention"])
                    ),
                )?;
                drawn += 1;
            }
        }
        Ok(())
    }

    /// Residue letters of each protein, from the embedding-level rows of attribution tables.
    fn residues_by_protein(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for t in self.of_kind(TableKind::Attribution) {
            if t.frame.column("residue").is_err() {
                continue;
            }
            let what = t.path.display().to_string();
            let protein = texts(&t.frame, &what, "protein")?;
            let layer = integers(&t.frame, &what, "layer")?;
            let position = integers(&t.frame, &what, "position")?;
            let residue = texts(&t.frame, &what, "residue")?;
            let mut letters: HashMap<String, BTreeMap<i64, String>> = HashMap::new();
            for i in 0..t.frame.height() {
                if layer[i] == -1 {
                    letters
                        .entry(protein[i].clone())
                        .or_default()
                        .insert(position[i], residue[i].clone());
                }
            }
            for (p, by_pos) in letters {
                let n = by_pos.len().saturating_sub(2) as i64;
                let seq: String = (1..=n)
                    .map(|i| {
                        by_pos
                            .get(&i)
                            .and_then(|r| r.chars().next().filter(|c| c.is_ascii_alphabetic()))
                            .unwrap_or('X')
                    })
                    .collect();
                out.entry(p).or_insert(seq);
            }
        }
        Ok(out)
    }

    fn flips(&mut self) -> Result<()> {
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

    fn files(&mut self) {
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

/// `relevance_CDR3` → `CDR3`; other stems unchanged.
fn annotation_label(stem: &str) -> String {
    stem.strip_prefix("relevance_")
        .or_else(|| stem.strip_prefix("relevance-"))
        .unwrap_or(stem)
        .to_string()
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

/// One row of a heads table.
struct HeadRow {
    layer: i64,
    head: i64,
    n_edges: f64,
    proportion: f64,
    background: f64,
    excluded: bool,
}

fn head_rows(df: &DataFrame, property: &str, what: &str) -> Result<Vec<HeadRow>> {
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
fn centres_of_gravity(df: &DataFrame, what: &str) -> Result<HashMap<String, f64>> {
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

struct RelevanceRow {
    layer: i64,
    head: i64,
    n_proteins: usize,
    mean_r: f64,
    t_p: f64,
    t_p_fdr: f64,
    significant: bool,
}

fn relevance_rows(df: &DataFrame, what: &str) -> Result<Vec<RelevanceRow>> {
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

/// Contact matrix (n × n, row-major) of a protein from contacts tables, if one has it.
fn contact_matrix(tables: &[&RunTable], protein: &str, n: usize) -> Result<Option<Vec<bool>>> {
    for t in tables {
        let what = t.path.display().to_string();
        let p = texts(&t.frame, &what, "protein")?;
        if !p.iter().any(|x| x == protein) {
            continue;
        }
        let i = integers(&t.frame, &what, "i")?;
        let j = integers(&t.frame, &what, "j")?;
        let mut m = vec![false; n * n];
        for k in 0..t.frame.height() {
            if p[k] != protein {
                continue;
            }
            let (a, b) = (i[k] - 1, j[k] - 1);
            if a >= 0 && b >= 0 && (a as usize) < n && (b as usize) < n {
                m[a as usize * n + b as usize] = true;
                m[b as usize * n + a as usize] = true;
            }
        }
        return Ok(Some(m));
    }
    Ok(None)
}

/// Residues of `protein` in an attribution table (embedding-level positions minus the two
/// special tokens).
fn embedding_residues(df: &DataFrame, protein: &str, what: &str) -> Result<usize> {
    let proteins = texts(df, what, "protein")?;
    let layer = integers(df, what, "layer")?;
    let rows = (0..df.height())
        .filter(|&i| layer[i] == -1 && proteins[i] == protein)
        .count();
    Ok(rows.saturating_sub(2))
}

/// Antibody regions drawn as two lanes, CDRs and frameworks, so loops stand out; other feature
/// types keep their own lane.
fn region_lanes(df: DataFrame) -> Result<DataFrame> {
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
fn features_within(df: &DataFrame, protein: &str, residues: usize) -> Result<DataFrame> {
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

/// Counts of (known label, predicted class) over proteins with a known label.
fn confusion(known: &[Option<String>], predicted: &[String]) -> Result<DataFrame> {
    let rows: BTreeSet<&str> = known.iter().flatten().map(String::as_str).collect();
    let cols: BTreeSet<&str> = predicted
        .iter()
        .zip(known)
        .filter(|(_, k)| k.is_some())
        .map(|(p, _)| p.as_str())
        .collect();
    let mut columns = vec![Column::new(
        "known".into(),
        rows.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    )];
    for c in &cols {
        let counts: Vec<i64> = rows
            .iter()
            .map(|r| {
                known
                    .iter()
                    .zip(predicted)
                    .filter(|(k, p)| k.as_deref() == Some(*r) && p.as_str() == *c)
                    .count() as i64
            })
            .collect();
        columns.push(Column::new(format!("predicted {c}").into(), counts));
    }
    Ok(DataFrame::new(rows.len(), columns)?)
}
