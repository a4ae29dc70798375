//! Resumable attribution runs over many proteins.
//!
//! Each finished protein is written at once to a parts folder beside the output
//! (`.<out name>.parts/`, one relevance file and one summary file per protein, each written
//! atomically; the summary last, so its presence marks the protein complete). Re-running the same
//! command skips proteins that are complete in the parts folder or in an existing output; when
//! every protein is done the output and its summary are assembled in FASTA order, written
//! atomically, and the parts folder is removed. A killed run therefore loses at most the protein
//! in flight, and the final tables hold exactly the rows of an uninterrupted run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::memory::plan_batch;
use super::tables::{empty_relevance_frame, empty_summary_frame, relevance_frame, summary_frame};
use super::{integrated_gradients, integrated_gradients_auto, AutoSteps, IgOptions};
use crate::frame::{read_table, read_table_like, write_table, TableFormat, TableSink};
use crate::model::{EncodedSequence, ProteinModel};
use crate::{Error, Result};

/// What one attribution job computes.
#[derive(Debug, Clone)]
pub struct AttributionJob {
    /// The prediction output whose logit is attributed.
    pub output: String,
    pub target: usize,
    pub options: IgOptions,
    /// Output table (.parquet / .csv); the summary goes to `<stem>.summary.<ext>`.
    pub out: PathBuf,
    /// Compute at most this many new proteins in this invocation (time-boxed cluster jobs);
    /// the run is then left resumable. None = all.
    pub max_new_proteins: Option<usize>,
    /// Steps chosen by accuracy per protein ([`integrated_gradients_auto`]; `options.steps` is
    /// then ignored). None = `options.steps` for every protein.
    pub auto_steps: Option<AutoSteps>,
    /// Bytes the model and one forward/backward pass may use: the α-steps per pass come from
    /// it ([`super::memory::plan_batch`]), and a protein that cannot fit fails the run before
    /// any protein is computed. None = `options.batch_size` or the 2 GiB activation default,
    /// unchecked.
    pub memory_budget: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Proteins computed in this invocation.
    pub computed: usize,
    /// Proteins found complete from an earlier invocation.
    pub reused: usize,
    /// Whether the output tables were written (every protein complete).
    pub finished: bool,
    /// Proteins computed in this invocation whose steps chosen by accuracy reached
    /// `--max-steps` before the tolerance (their summary rows say `converged = false`).
    pub not_converged: Vec<NotConverged>,
}

/// A protein whose completeness gap stayed above the tolerance at `--max-steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotConverged {
    pub protein: String,
    /// Steps of the result kept (the cap).
    pub steps: usize,
    /// Its completeness gap.
    pub delta: f64,
    /// max_delta · |F(x) − F(x')|.
    pub tolerance: f64,
}

/// `<stem>.summary.<ext>` beside `out`.
pub fn summary_path(out: &Path) -> PathBuf {
    crate::frame::side_path(out, "summary")
}

fn parts_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.parts"))
}

/// File-name-safe key of a protein id.
fn part_key(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn job_fingerprint(job: &AttributionJob) -> serde_json::Value {
    let mut fp = serde_json::json!({
        "output": job.output,
        "target": job.target,
        "steps": job.options.steps,
        "method": job.options.method.name(),
        "baseline": job.options.baseline.name(),
        "latent": job.options.latent,
        "latent_derivative": latent_derivative_name(job),
    });
    if let Some(auto) = &job.auto_steps {
        fp["steps"] = "auto".into();
        fp["max_delta"] = auto.max_delta.into();
        fp["max_steps"] = auto.max_steps.into();
        fp["start_steps"] = auto.start.into();
    }
    fp
}

/// The summary's `latent_derivative` value for this job.
fn latent_derivative_name(job: &AttributionJob) -> &'static str {
    if job.options.latent {
        job.options.latent_derivative.name()
    } else {
        "none"
    }
}

fn string_column<'a>(df: &'a DataFrame, name: &str, path: &Path) -> Result<&'a StringChunked> {
    df.column(name)
        .map_err(|_| Error::file(path, format!("no `{name}` column")))?
        .str()
        .map_err(|_| Error::file(path, format!("column `{name}` is not text")))
}

/// An existing summary. Summaries written before the `max_delta` and `converged` columns
/// existed came from a fixed number of steps: they are read with both null. Older ones, from
/// before the `latent_derivative` column, came from finite differences only: that column is
/// filled in too (`fd` when `rows` holds head-level relevance, `none` otherwise). Their runs can
/// thus be resumed.
/// [`read_table_like`], also accepting summaries written before 0.2, whose `output` column was
/// called `head`.
fn read_summary_like(path: &Path, template: &DataFrame) -> Result<DataFrame> {
    let error = match read_table_like(path, template) {
        Ok(df) => return Ok(df),
        Err(e) => e,
    };
    let mut legacy = template.clone();
    legacy.rename("output", "head".into())?;
    match read_table_like(path, &legacy) {
        Ok(mut df) => {
            df.rename("head", "output".into())?;
            Ok(df)
        }
        Err(_) => Err(error),
    }
}

fn read_summary(path: &Path, rows: &DataFrame) -> Result<DataFrame> {
    let current = empty_summary_frame();
    let error = match read_summary_like(path, &current) {
        Ok(df) => return Ok(df),
        Err(e) => e,
    };
    let mut without_auto = current.clone();
    let _ = without_auto.drop_in_place("max_delta");
    let _ = without_auto.drop_in_place("converged");
    let mut oldest = without_auto.clone();
    let _ = oldest.drop_in_place("latent_derivative");
    let mut df = if let Ok(df) = read_summary_like(path, &without_auto) {
        df
    } else if let Ok(mut df) = read_summary_like(path, &oldest) {
        let derivative = if has_latent_rows(rows) { "fd" } else { "none" };
        let column = Column::new("latent_derivative".into(), vec![derivative; df.height()]);
        df.with_column(column)?;
        df
    } else {
        return Err(error);
    };
    let n = df.height();
    df.with_column(Column::new("max_delta".into(), vec![None::<f64>; n]))?;
    df.with_column(Column::new("converged".into(), vec![None::<bool>; n]))?;
    Ok(df)
}

fn has_latent_rows(rows: &DataFrame) -> bool {
    rows.column("layer")
        .ok()
        .and_then(|c| c.i64().ok().and_then(|c| c.max()))
        .is_some_and(|m| m >= 0)
}

/// Proteins complete in an existing output (from its summary), after checking the summary was
/// made with the same settings.
fn existing_output(job: &AttributionJob) -> Result<Option<(DataFrame, DataFrame)>> {
    let summary_file = summary_path(&job.out);
    if !job.out.is_file() || !summary_file.is_file() {
        return Ok(None);
    }
    let rows = read_table_like(&job.out, &empty_relevance_frame())?;
    let summary = read_summary(&summary_file, &rows)?;
    let fp = job_fingerprint(job);
    for r in 0..summary.height() {
        let output = string_column(&summary, "output", &summary_file)?
            .get(r)
            .unwrap_or_default();
        let method = string_column(&summary, "method", &summary_file)?
            .get(r)
            .unwrap_or_default();
        let baseline = string_column(&summary, "baseline", &summary_file)?
            .get(r)
            .unwrap_or_default();
        let derivative = string_column(&summary, "latent_derivative", &summary_file)?
            .get(r)
            .unwrap_or_default();
        let target = summary
            .column("target")?
            .get(r)?
            .try_extract::<i64>()
            .unwrap_or(-1);
        let steps = summary
            .column("steps")?
            .get(r)?
            .try_extract::<i64>()
            .unwrap_or(-1);
        let max_delta = match summary.column("max_delta")?.get(r)? {
            AnyValue::Null => None,
            v => v.try_extract::<f64>().ok(),
        };
        let same_steps = match &job.auto_steps {
            None => max_delta.is_none() && steps == job.options.steps as i64,
            Some(auto) => max_delta == Some(auto.max_delta) && steps <= auto.max_steps as i64,
        };
        if output != fp["output"]
            || method != fp["method"]
            || baseline != fp["baseline"]
            || derivative != fp["latent_derivative"]
            || target != job.target as i64
            || !same_steps
        {
            return Err(Error::file(
                &summary_file,
                "was written with other settings (output, target, steps, max_delta, method, \
                 baseline or latent derivative); \
                 choose another `out` or delete the old output",
            ));
        }
    }
    if summary.height() > 0 && has_latent_rows(&rows) != job.options.latent {
        return Err(Error::file(
            &job.out,
            "was written with a different `latent` setting; choose another `out` or delete it",
        ));
    }
    Ok(Some((rows, summary)))
}

fn rows_of(df: &DataFrame, protein: &str, path: &Path) -> Result<DataFrame> {
    let mask = string_column(df, "protein", path)?.equal(protein);
    Ok(df.filter(&mask)?)
}

/// Runs `job` over `seqs`, resuming earlier work. `on_protein` is called after each protein
/// (for progress bars).
pub fn run_attribution(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    job: &AttributionJob,
    mut on_protein: impl FnMut(&str),
) -> Result<RunReport> {
    TableFormat::from_path(&job.out)?;
    let parts = parts_dir(&job.out);
    let fp = job_fingerprint(job);
    let params_file = parts.join("params.json");
    if parts.is_dir() && params_file.is_file() {
        let text = std::fs::read_to_string(&params_file).map_err(|e| Error::io(&params_file, e))?;
        let old: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(&params_file, format!("not valid JSON: {e}")))?;
        if old != fp {
            return Err(Error::file(
                &parts,
                format!("holds an unfinished run with other settings ({old}); choose another `out` or delete this folder"),
            ));
        }
    } else {
        std::fs::create_dir_all(&parts).map_err(|e| Error::io(&parts, e))?;
        std::fs::write(&params_file, fp.to_string()).map_err(|e| Error::io(&params_file, e))?;
    }
    let existing = existing_output(job)?;
    let done_before: HashMap<String, ()> = match &existing {
        Some((_, summary)) => string_column(summary, "protein", &summary_path(&job.out))?
            .iter()
            .flatten()
            .map(|p| (p.to_string(), ()))
            .collect(),
        None => HashMap::new(),
    };
    let part_files = |id: &str| {
        let key = part_key(id);
        (
            parts.join(format!("{key}.parquet")),
            parts.join(format!("{key}.summary.parquet")),
        )
    };

    // Every protein's pass must fit before the first one runs (not hours into a run).
    let steps = job
        .auto_steps
        .map_or(job.options.steps, |auto| auto.max_steps);
    let mut batches = Vec::with_capacity(seqs.len());
    for seq in seqs {
        batches.push(match job.memory_budget {
            Some(budget) => Some(plan_batch(
                model,
                &seq.id,
                seq.ids.len(),
                steps,
                job.options.batch_size,
                budget,
                job.options.latent.then_some(job.options.latent_derivative),
            )?),
            None => None,
        });
    }
    let mut report = RunReport {
        computed: 0,
        reused: 0,
        finished: false,
        not_converged: Vec::new(),
    };
    for (seq, plan) in seqs.iter().zip(batches) {
        let (rel_file, sum_file) = part_files(&seq.id);
        if done_before.contains_key(&seq.id) || sum_file.is_file() {
            report.reused += 1;
            on_protein(&seq.id);
            continue;
        }
        if job.max_new_proteins.is_some_and(|m| report.computed >= m) {
            return Ok(report);
        }
        let options = match plan {
            Some(plan) => IgOptions {
                batch_size: Some(plan.batch_size),
                recompute_layers: plan.recompute_layers,
                ..job.options.clone()
            },
            None => job.options.clone(),
        };
        let result = match &job.auto_steps {
            Some(auto) => {
                integrated_gradients_auto(model, seq, &job.output, job.target, &options, auto)?
            }
            None => integrated_gradients(model, seq, &job.output, job.target, &options)?,
        };
        if result.converged == Some(false) {
            report.not_converged.push(NotConverged {
                protein: seq.id.clone(),
                steps: result.steps,
                delta: result.delta,
                tolerance: result.max_delta.unwrap_or_default()
                    * (result.f_input - result.f_baseline).abs(),
            });
        }
        write_table(&mut relevance_frame(&result)?, &rel_file)?;
        write_table(&mut summary_frame(&result)?, &sum_file)?;
        report.computed += 1;
        on_protein(&seq.id);
    }

    // Assemble in input order.
    let summary_file = summary_path(&job.out);
    let mut rows_sink = TableSink::create(&job.out, &empty_relevance_frame())?;
    let mut summary_all = empty_summary_frame();
    for seq in seqs {
        let (rel_file, sum_file) = part_files(&seq.id);
        let (mut rows, summary) = if sum_file.is_file() {
            (read_table(&rel_file)?, read_table(&sum_file)?)
        } else {
            let (old_rows, old_summary) = existing.as_ref().expect("complete before");
            (
                rows_of(old_rows, &seq.id, &job.out)?,
                rows_of(old_summary, &seq.id, &summary_file)?,
            )
        };
        rows_sink.write(&mut rows)?;
        summary_all.vstack_mut(&summary)?;
    }
    // Rows first: if we stop between the two, the parts folder still holds everything.
    rows_sink.finish()?;
    write_table(&mut summary_all, &summary_file)?;
    std::fs::remove_dir_all(&parts).map_err(|e| Error::io(&parts, e))?;
    report.finished = true;
    Ok(report)
}
