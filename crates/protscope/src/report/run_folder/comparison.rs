//! The "Models compared" section: the compared models' heads on CDR3 side by side on one colour
//! scale, where in depth each model attends to CDR3, which heads of which model track CDR3, and
//! each model's residue scores per IMGT region, with sentences from the numbers on where the
//! models agree and differ. Reads `models/<name>/` of the run folder
//! ([`crate::report::model_comparison`]) and any further run folders given
//! ([`ReportOptions::compare`](super::ReportOptions)).

use std::path::Path;

use polars::prelude::*;

use super::attention::head_rows;
use super::{file_safe, read_run_tables, Builder, RunTable, TableKind};
use crate::frame::columns::{floats, integers, texts};
use crate::frame::stack_frames;
use crate::plot::{self, LayerSeries};
use crate::report::model_comparison::MODELS_DIR;
use crate::report::reading::{self, ModelFinding};
use crate::report::TableOptions;
use crate::Result;

/// The property the comparison is about: CDR3, the most variable loop.
const PROPERTY: &str = "CDR3";

/// One compared model's tables.
pub(super) struct ComparedRun {
    pub(super) name: String,
    heads: Option<RunTable>,
    layers: Option<RunTable>,
    regions: Option<RunTable>,
}

/// The compared models of `dir` (`models/<name>/`, in name order), then those of each further
/// run folder: its `models/` when it has one, else the folder itself as one model named after
/// it. Folders without a CDR heads table or region scores are left out.
pub(super) fn compared_runs(
    dir: &Path,
    further: &[std::path::PathBuf],
) -> Result<Vec<ComparedRun>> {
    let mut runs = Vec::new();
    for folder in std::iter::once(dir).chain(further.iter().map(|p| p.as_path())) {
        let models = folder.join(MODELS_DIR);
        if models.is_dir() {
            let mut subs: Vec<_> = std::fs::read_dir(&models)
                .map_err(|e| crate::Error::io(&models, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            subs.sort();
            for sub in subs {
                runs.extend(compared_run(&sub, &runs)?);
            }
        } else if folder != dir {
            runs.extend(compared_run(folder, &runs)?);
        }
    }
    Ok(runs)
}

fn compared_run(folder: &Path, earlier: &[ComparedRun]) -> Result<Option<ComparedRun>> {
    let tables = read_run_tables(folder)?;
    let mut name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| folder.display().to_string());
    // Two folders of one name (two runs' `antiberty`): keep both, told apart by their parent.
    if earlier.iter().any(|r| r.name == name) {
        let parent = folder
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name = format!("{parent}/{name}");
    }
    let heads = tables
        .iter()
        .find(|t| {
            t.kind == TableKind::Heads
                && texts(&t.frame, "heads", "property")
                    .is_ok_and(|p| p.iter().any(|p| p == PROPERTY))
        })
        .cloned();
    let layers = heads.as_ref().and_then(|h| {
        tables
            .iter()
            .find(|t| t.kind == TableKind::HeadLayers && t.stem == format!("{}.layers", h.stem))
            .cloned()
    });
    let regions = tables
        .iter()
        .find(|t| t.kind == TableKind::RegionScores)
        .cloned();
    if heads.is_none() && regions.is_none() {
        return Ok(None);
    }
    Ok(Some(ComparedRun {
        name,
        heads,
        layers,
        regions,
    }))
}

impl Builder<'_> {
    pub(super) fn comparison(&mut self, runs: &[ComparedRun]) -> Result<()> {
        if runs.len() < 2 {
            return Ok(());
        }
        self.report.section("Models compared");
        let caption_params = self.params_text(&["attention", "models"]);
        let mut findings = Vec::new();
        for run in runs {
            findings.push(model_finding(run)?);
        }
        self.report
            .paragraph(reading::comparison_reading(&findings));
        self.comparison_heatmaps(runs, &caption_params)?;
        self.comparison_layers(runs, &caption_params)?;
        self.comparison_tables(runs, &findings)?;
        Ok(())
    }

    /// Each model's heads on CDR3, one colour scale for all.
    fn comparison_heatmaps(&mut self, runs: &[ComparedRun], caption_params: &str) -> Result<()> {
        let mut grids = Vec::new();
        for run in runs {
            let Some(heads) = &run.heads else { continue };
            let grid = plot::HeadGrid::from_frame(
                &heads.frame,
                "proportion",
                Some("excluded"),
                Some(PROPERTY),
            )?;
            if grid.values.iter().any(Option::is_some) {
                grids.push((run.name.clone(), grid));
            }
        }
        let hi = grids
            .iter()
            .flat_map(|(_, g)| g.values.iter().flatten().copied())
            .fold(0.0f64, f64::max);
        if hi <= 0.0 {
            return Ok(());
        }
        let names: Vec<&str> = grids.iter().map(|(n, _)| n.as_str()).collect();
        let scale = format!(
            "One colour scale (0–{}) for {}, so colours compare across models.",
            reading::rounded(hi),
            names.join(", ")
        );
        for (name, grid) in grids {
            let grid = grid
                .with_statistic(
                    &format!("{name}: share of edges on {PROPERTY}"),
                    "proportion",
                )
                .with_mask_label("excluded: too few edges")
                .with_range(0.0, hi);
            let figure = plot::head_heatmap(
                &format!("compare_{}_{PROPERTY}_heatmap", file_safe(&name)),
                &format!("{name}: attention to {PROPERTY} per head"),
                &grid,
            )?;
            self.add_figure(
                figure,
                format!(
                    "{name}: share of each head's high-attention edges that point to {PROPERTY} \
                     residues, layer 1 at the bottom. {scale}{caption_params}"
                ),
            )?;
        }
        Ok(())
    }

    /// Where in depth each model's CDR3 attention sits, one line per model.
    fn comparison_layers(&mut self, runs: &[ComparedRun], caption_params: &str) -> Result<()> {
        let mut series = Vec::new();
        for run in runs {
            let Some(layers) = &run.layers else { continue };
            let profile =
                plot::LayerProfile::from_frame(&layers.frame, "property_share", Some(&[PROPERTY]));
            let Ok(profile) = profile else { continue };
            if let Some(s) = profile.series.into_iter().next() {
                if s.values.iter().any(Option::is_some) {
                    series.push(LayerSeries {
                        property: run.name.clone(),
                        values: s.values,
                    });
                }
            }
        }
        if series.len() < 2 || series.len() > 8 {
            return Ok(());
        }
        // Models differ in depth: shallower ones end early.
        let depth = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
        for s in &mut series {
            s.values.resize(depth, None);
        }
        let figure = plot::layer_profile(
            "compare_CDR3_layers",
            "Where in depth each model attends to CDR3",
            &plot::LayerProfile {
                statistic: format!("share of {PROPERTY} attention edges"),
                series,
            },
        )?;
        self.add_figure(
            figure,
            format!(
                "Share of each model's {PROPERTY} attention edges per layer (each line sums to 1 \
                 over its layers; models with fewer layers end early); markers: centre of \
                 gravity.{caption_params}"
            ),
        )
    }

    fn comparison_tables(&mut self, runs: &[ComparedRun], findings: &[ModelFinding]) -> Result<()> {
        let heads = df!(
            "model" => findings.iter().map(|f| f.model.clone()).collect::<Vec<_>>(),
            "best_head" => findings.iter().map(|f| f.best.as_ref().map(|b| reading::head_label(b.layer, b.head))).collect::<Vec<_>>(),
            "proportion" => findings.iter().map(|f| f.best.as_ref().map(|b| b.proportion)).collect::<Vec<_>>(),
            "background" => findings.iter().map(|f| f.best.as_ref().map(|b| b.background)).collect::<Vec<_>>(),
            "heads_above_2x" => findings.iter().map(|f| f.heads_above as i64).collect::<Vec<_>>(),
            "heads_included" => findings.iter().map(|f| f.heads_included as i64).collect::<Vec<_>>(),
        )?;
        self.report.table(
            format!(
                "The head of each model that puts the largest share of its edges on {PROPERTY} \
                 (layer-head, 1-based), that share, {PROPERTY}'s background rate, and how many \
                 heads exceed twice the background."
            ),
            &heads,
            &TableOptions::default(),
        )?;
        let frames: Vec<DataFrame> = runs
            .iter()
            .filter_map(|r| r.regions.as_ref().map(|t| t.frame.clone()))
            .collect();
        if let Some(regions) = stack_frames(&frames)? {
            self.report.table(
                "Residue scores per IMGT region: the mean natural-log probability of the \
                 residues (pseudo-log-likelihood, one residue masked at a time, for masked \
                 models; next-residue log-probability for decoders) and the share of residues \
                 that are the model's most probable amino acid (accuracy)."
                    .to_string(),
                &regions,
                &TableOptions::default(),
            )?;
        }
        Ok(())
    }
}

/// A model's CDR3 heads and region scores, for the reading.
fn model_finding(run: &ComparedRun) -> Result<ModelFinding> {
    let mut finding = ModelFinding {
        model: run.name.clone(),
        best: None,
        heads_above: 0,
        heads_included: 0,
        centre_of_gravity: None,
        num_layers: 0,
        regions: Vec::new(),
    };
    if let Some(heads) = &run.heads {
        let what = heads.path.display().to_string();
        let rows = head_rows(&heads.frame, PROPERTY, &what)?;
        finding.num_layers = rows.iter().map(|r| r.layer + 1).max().unwrap_or(0) as usize;
        let included: Vec<_> = rows
            .iter()
            .filter(|r| !r.excluded && r.proportion.is_finite())
            .collect();
        finding.heads_included = included.len();
        finding.heads_above = included
            .iter()
            .filter(|r| r.proportion > 2.0 * r.background)
            .count();
        finding.best = included
            .iter()
            .max_by(|a, b| a.proportion.total_cmp(&b.proportion))
            .map(|r| reading::HeadFinding {
                layer: r.layer,
                head: r.head,
                proportion: r.proportion,
                background: r.background,
                n_edges: r.n_edges,
            });
    }
    if let Some(layers) = &run.layers {
        finding.centre_of_gravity = super::attention::centres_of_gravity(
            &layers.frame,
            &layers.path.display().to_string(),
        )?
        .get(PROPERTY)
        .copied();
    }
    if let Some(regions) = &run.regions {
        let what = regions.path.display().to_string();
        let region = texts(&regions.frame, &what, "region")?;
        let mean = floats(&regions.frame, &what, "mean_log_prob")?;
        let accuracy = floats(&regions.frame, &what, "accuracy")?;
        let n = integers(&regions.frame, &what, "n_residues")?;
        for i in 0..regions.frame.height() {
            if n[i] > 0 {
                finding
                    .regions
                    .push((region[i].clone(), mean[i], accuracy[i]));
            }
        }
    }
    Ok(finding)
}
