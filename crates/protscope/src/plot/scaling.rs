//! How run time and peak memory grow with sequence length, protscope beside the Python reference
//! (HF transformers, Captum): one row per model, time left and peak memory right, log–log axes,
//! one colour per task, and every run that did not finish (out of memory, timeout, refused,
//! skipped) marked with a cross at the top of its panel at its length, so failures stay visible.

use super::draw::{self, font, layout, Axes, Canvas, Txt, MARGIN};
use super::palette;
use super::{opt_num, DataTable, Figure, Kind, DOUBLE_COLUMN_PX};
use crate::frame::columns;
use crate::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBColor;
use polars::prelude::DataFrame;

/// How one benchmark run ended (the table's `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    /// Out of memory (`oom`).
    OutOfMemory,
    Timeout,
    /// The tool declined the run before starting it (e.g. over a memory budget).
    Refused,
    Skipped,
}

impl RunStatus {
    /// Reads the table's spelling (`ok`, `oom`, `timeout`, `refused`, `skipped`; any case).
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ok" => Some(RunStatus::Ok),
            "oom" => Some(RunStatus::OutOfMemory),
            "timeout" => Some(RunStatus::Timeout),
            "refused" => Some(RunStatus::Refused),
            "skipped" => Some(RunStatus::Skipped),
            _ => None,
        }
    }

    /// The table's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::OutOfMemory => "oom",
            RunStatus::Timeout => "timeout",
            RunStatus::Refused => "refused",
            RunStatus::Skipped => "skipped",
        }
    }

    /// The words drawn beside a failure's cross.
    fn label(self) -> &'static str {
        match self {
            RunStatus::Ok => "",
            RunStatus::OutOfMemory => "OOM",
            RunStatus::Timeout => "timeout",
            RunStatus::Refused => "refused",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// One benchmark cell: a tool running a task on a model at one sequence length.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRun {
    pub model: String,
    pub task: String,
    /// `protscope`, or the reference's name (`reference`, `HF transformers`, `Captum`, …).
    pub tool: String,
    /// Sequence length in residues.
    pub length: u32,
    /// Wall-clock seconds; None when the run did not finish.
    pub seconds: Option<f64>,
    /// Peak resident memory in GB; None when the run did not finish.
    pub peak_rss_gb: Option<f64>,
    pub status: RunStatus,
    pub note: String,
}

impl ScalingRun {
    /// Whether this is protscope's run; every other tool is the reference side.
    pub fn is_protscope(&self) -> bool {
        self.tool.trim().eq_ignore_ascii_case("protscope")
    }

    fn side(&self) -> &'static str {
        if self.is_protscope() {
            "protscope"
        } else {
            "reference"
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} / {} / {} at length {}",
            self.model, self.task, self.tool, self.length
        )
    }
}

/// A benchmark table: protscope and the reference on several models, tasks and lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingPlot {
    pub runs: Vec<ScalingRun>,
}

/// Okabe–Ito has eight colours; more tasks would repeat them.
const MAX_TASKS: usize = 8;
/// Sequence lengths the figure accepts (residues).
const MAX_LENGTH: i64 = 10_000_000;

impl ScalingPlot {
    /// Reads a benchmark table: `model, task, tool, length, seconds, peak_rss_gb, status` and
    /// an optional `note` (free text, kept in the figure's data table).
    pub fn from_frame(df: &DataFrame) -> Result<ScalingPlot> {
        const TABLE: &str = "benchmark";
        let model = columns::strings(df, TABLE, "model")?;
        let task = columns::strings(df, TABLE, "task")?;
        let tool = columns::strings(df, TABLE, "tool")?;
        let length = columns::integers(df, TABLE, "length")?;
        let seconds = columns::floats(df, TABLE, "seconds")?;
        let rss = columns::floats(df, TABLE, "peak_rss_gb")?;
        let status = columns::strings(df, TABLE, "status")?;
        let note = if df.column("note").is_ok() {
            columns::texts(df, TABLE, "note")?
        } else {
            vec![String::new(); df.height()]
        };
        let mut runs = Vec::with_capacity(df.height());
        for i in 0..df.height() {
            let text = |v: &Option<String>, column: &str| -> Result<String> {
                v.as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::invalid(format!("{TABLE} table: `{column}` is missing in row {i}"))
                    })
            };
            let status_text = text(&status[i], "status")?;
            let status = RunStatus::parse(&status_text).ok_or_else(|| {
                Error::invalid(format!(
                    "{TABLE} table: `status` is `{status_text}` in row {i} \
                     (expected ok, oom, timeout, refused or skipped)"
                ))
            })?;
            if !(1..=MAX_LENGTH).contains(&length[i]) {
                return Err(Error::invalid(format!(
                    "{TABLE} table: `length` is {} in row {i} (expected residues, 1 to {MAX_LENGTH})",
                    length[i]
                )));
            }
            let finite = |v: f64| Some(v).filter(|v| v.is_finite());
            runs.push(ScalingRun {
                model: text(&model[i], "model")?,
                task: text(&task[i], "task")?,
                tool: text(&tool[i], "tool")?,
                length: length[i] as u32,
                seconds: finite(seconds[i]),
                peak_rss_gb: finite(rss[i]),
                status,
                note: note[i].trim().to_string(),
            });
        }
        let plot = ScalingPlot { runs };
        plot.check()
            .map_err(|m| Error::invalid(format!("{TABLE} table: {m}")))?;
        Ok(plot)
    }

    /// Models in order of first appearance (the figure's rows).
    pub fn models(&self) -> Vec<&str> {
        first_appearance(self.runs.iter().map(|r| r.model.as_str()))
    }

    /// Tasks in order of first appearance (the colours).
    pub fn tasks(&self) -> Vec<&str> {
        first_appearance(self.runs.iter().map(|r| r.task.as_str()))
    }

    /// The reference side's tool names in order of first appearance.
    pub fn reference_tools(&self) -> Vec<&str> {
        first_appearance(
            self.runs
                .iter()
                .filter(|r| !r.is_protscope())
                .map(|r| r.tool.as_str()),
        )
    }

    /// Runs that did not finish.
    pub fn failures(&self) -> impl Iterator<Item = &ScalingRun> {
        self.runs.iter().filter(|r| r.status != RunStatus::Ok)
    }

    /// "reference", or "reference (HF transformers / Captum)" when the table names the tools.
    fn reference_label(&self) -> String {
        let named: Vec<&str> = self
            .reference_tools()
            .into_iter()
            .filter(|t| !t.eq_ignore_ascii_case("reference"))
            .collect();
        if named.is_empty() {
            "reference".to_string()
        } else {
            format!("reference ({})", named.join(" / "))
        }
    }

    fn validate(&self) -> Result<()> {
        self.check()
            .map_err(|m| Error::invalid(format!("scaling plot: {m}")))
    }

    /// What makes the runs undrawable, if anything.
    fn check(&self) -> std::result::Result<(), String> {
        if self.runs.is_empty() {
            return Err("no runs".to_string());
        }
        let tasks = self.tasks();
        if tasks.len() > MAX_TASKS {
            return Err(format!(
                "{} tasks: at most {MAX_TASKS} stay distinguishable by colour",
                tasks.len()
            ));
        }
        for (i, r) in self.runs.iter().enumerate() {
            if [&r.model, &r.task, &r.tool]
                .iter()
                .any(|s| s.trim().is_empty())
            {
                return Err(format!("run {i} has an empty model, task or tool"));
            }
            if r.length == 0 {
                return Err(format!("{}: length 0", r.describe()));
            }
            if r.status == RunStatus::Ok {
                for (column, v) in [("seconds", r.seconds), ("peak_rss_gb", r.peak_rss_gb)] {
                    if !v.is_some_and(|v| v.is_finite() && v > 0.0) {
                        return Err(format!(
                            "{} has status ok but `{column}` is {} (a finished run needs a \
                             positive value for the log axis)",
                            r.describe(),
                            v.map_or("missing".to_string(), |v| v.to_string())
                        ));
                    }
                }
            }
            if let Some(other) = self.runs[..i].iter().find(|o| {
                o.model == r.model
                    && o.task == r.task
                    && o.length == r.length
                    && o.is_protscope() == r.is_protscope()
            }) {
                return Err(format!(
                    "two {} runs of {} / {} at length {} (tools `{}` and `{}`)",
                    r.side(),
                    r.model,
                    r.task,
                    r.length,
                    other.tool,
                    r.tool
                ));
            }
        }
        if self.runs.iter().all(|r| r.status != RunStatus::Ok) {
            return Err(
                "no run finished (status ok), so there is nothing to scale the axes by".to_string(),
            );
        }
        Ok(())
    }
}

fn first_appearance<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for s in items {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    seen
}

/// Time and memory against sequence length, one row per model.
pub fn scaling_plot(name: &str, title: &str, plot: &ScalingPlot) -> Result<Figure> {
    plot.validate()?;
    let rows = plot.models().len() as u32;
    Figure::new(
        name,
        title,
        (DOUBLE_COLUMN_PX, 90 + 180 * rows),
        Kind::Scaling(plot.clone()),
    )
}

pub(crate) fn caption(p: &ScalingPlot) -> String {
    let models = p.models().len();
    let failures = if p.failures().next().is_some() {
        " Crosses at the top of a panel: runs that did not finish, at their length and in their \
         task's colour, with the status beside (OOM = out of memory; \u{201c}protscope\u{201d} \
         marks a failure of protscope, all others are the reference's)."
    } else {
        ""
    };
    format!(
        "Wall-clock time (left) and peak resident memory (right) against sequence length for {models} \
         model{} (rows) and {} task{}; log–log axes, each shared by all rows. Colour: task; solid \
         lines and filled circles: protscope; dashed lines and open circles: {}.{failures}",
        if models == 1 { "" } else { "s" },
        p.tasks().len(),
        if p.tasks().len() == 1 { "" } else { "s" },
        p.reference_label(),
    )
}

pub(crate) fn data(p: &ScalingPlot) -> DataTable {
    let mut t = DataTable::new(&[
        "model",
        "task",
        "tool",
        "side",
        "length",
        "status",
        "seconds",
        "peak_rss_gb",
        "note",
    ]);
    for r in &p.runs {
        t.row(vec![
            r.model.clone(),
            r.task.clone(),
            r.tool.clone(),
            r.side().to_string(),
            r.length.to_string(),
            r.status.as_str().to_string(),
            opt_num(r.seconds),
            opt_num(r.peak_rss_gb),
            r.note.clone(),
        ]);
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Drawing

/// The two panels of a row.
#[derive(Clone, Copy)]
enum Metric {
    Time,
    Memory,
}

impl Metric {
    fn value(self, r: &ScalingRun) -> Option<f64> {
        match self {
            Metric::Time => r.seconds,
            Metric::Memory => r.peak_rss_gb,
        }
    }
    fn title(self) -> &'static str {
        match self {
            Metric::Time => "Time (s)",
            Metric::Memory => "Peak memory (GB)",
        }
    }
}

/// The x axis title, under the last row.
const X_TITLE: &str = "Sequence length (residues)";
/// Marker radius of a finished run.
const MARKER_R: f64 = 2.5;
/// Half the width of a failure cross.
const CROSS_HALF: f64 = 2.75;
/// Centre-to-centre distance of crosses side by side (several tasks failing alike).
const CROSS_STEP: f64 = 7.5;
/// Height of one line of failure marks.
const STRIP_ROW: f64 = 12.0;
/// Space between the failure marks and the plot below them.
const STRIP_GAP: f64 = 4.0;
/// Closest two labelled ticks may come (logical pixels), on either axis.
const MIN_TICK_GAP: f64 = 16.0;

/// A log10 range with some room around the data: at least one decade (so that 1-2-5 ticks
/// always label it), padded by 6 % on each side.
fn log_range(lo: f64, hi: f64, min_span: f64, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo.log10(), hi.log10());
    if hi - lo < min_span {
        let mid = (lo + hi) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    let p = (hi - lo) * pad;
    (lo - p, hi + p)
}

/// Log-axis ticks over the log10 range `(lo, hi)` drawn `px` logical pixels long: decades when
/// at least three fall inside (every second or fifth decade when they would crowd), else
/// 1-2-5 × 10^k. Returns the tick values and whether minor ticks (2…9 × 10^k) fit between.
fn log_ticks((lo, hi): (f64, f64), px: f64) -> (Vec<f64>, bool) {
    let per_decade = px / (hi - lo);
    let inside = |v: &f64| {
        let l = v.log10();
        l >= lo - 1e-9 && l <= hi + 1e-9
    };
    let (k0, k1) = (lo.floor() as i32 - 1, hi.ceil() as i32 + 1);
    let decades: Vec<i32> = (k0..=k1).filter(|k| inside(&10f64.powi(*k))).collect();
    let one_two_five: Vec<f64> = (k0..=k1)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(inside)
        .collect();
    let fits_125 = one_two_five.len() >= 2 && per_decade * 2f64.log10() >= MIN_TICK_GAP;
    if decades.len() >= 3 || !fits_125 {
        let step = [1, 2, 5, 10]
            .into_iter()
            .find(|s| *s as f64 * per_decade >= MIN_TICK_GAP)
            .unwrap_or(10);
        let mut kept: Vec<i32> = decades
            .iter()
            .copied()
            .filter(|k| k.rem_euclid(step) == 0)
            .collect();
        if kept.len() < 2 {
            kept = decades.clone();
        }
        if kept.len() >= 2 || one_two_five.is_empty() {
            let minor = step == 1 && per_decade >= 25.0;
            return (kept.into_iter().map(|k| 10f64.powi(k)).collect(), minor);
        }
    }
    (one_two_five, false)
}

/// A tick value as people write it: 0.05, 0.5, 2, 250, 1000, 20000; 1e+06 beyond.
fn value_label(v: f64) -> String {
    if !(v.is_finite() && v > 0.0) {
        return String::new();
    }
    if v >= 1e6 {
        return format!("{v:.0e}");
    }
    if v >= 1.0 {
        return format!("{}", v.round() as i64);
    }
    // Enough decimals for the first significant digit (ticks are 1, 2 or 5 × 10^k).
    let decimals = (-v.log10()).ceil().max(1.0) as usize;
    let s = format!("{v:.decimals$}");
    // 0.25-like values need one more.
    if (s.parse::<f64>().unwrap_or(v) - v).abs() > v * 1e-9 {
        format!("{v:.prec$}", prec = decimals + 1)
    } else {
        s
    }
}

/// The lengths to label on the x axis: all distinct lengths, dropping any whose label would
/// touch the previous one.
fn length_ticks<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    lengths: &[u32],
) -> Result<(Vec<f64>, Vec<String>)> {
    let t = Txt::new(font::TICK);
    let (mut ticks, mut labels) = (Vec::new(), Vec::new());
    let mut right_edge = f64::NEG_INFINITY;
    for &l in lengths {
        let label = l.to_string();
        let half = c.text_width(&label, t)? / 2.0;
        let x = a.x((l as f64).log10());
        if x - half >= right_edge + 6.0 {
            ticks.push((l as f64).log10());
            labels.push(label);
            right_edge = x + half;
        }
    }
    Ok((ticks, labels))
}

/// Left axis of a log-scale panel: grid, ticks, labels, minor ticks, rotated title.
fn log_y_axis<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    (ticks, minor): &(Vec<f64>, bool),
    title_x: f64,
    title: &str,
) -> Result<()> {
    if *minor {
        let (k0, k1) = (a.y_range.0.floor() as i32, a.y_range.1.ceil() as i32);
        for k in k0..=k1 {
            for m in 2..=9 {
                let l = (m as f64 * 10f64.powi(k)).log10();
                if l > a.y_range.0 && l < a.y_range.1 {
                    let y = a.y(l);
                    c.line(
                        &[(a.x0 - 2.0, y), (a.x0, y)],
                        palette::INK,
                        layout::AXIS_STROKE,
                    )?;
                }
            }
        }
    }
    for v in ticks {
        let y = a.y(v.log10());
        c.line(&[(a.x0, y), (a.x1, y)], palette::GRID, layout::AXIS_STROKE)?;
        draw::left_tick(c, a.x0, y, &value_label(*v))?;
    }
    c.line(
        &[(a.x0, a.y0), (a.x0, a.y1)],
        palette::INK,
        layout::AXIS_STROKE,
    )?;
    let t = draw::fitted(c, title, Txt::new(font::LABEL), (a.y1 - a.y0) + 20.0)?;
    c.text(
        title,
        title_x,
        (a.y0 + a.y1) / 2.0,
        t.vertical().anchor(HPos::Center, VPos::Top),
    )
}

/// Failures of one model that share a length and a label: crosses side by side, one label.
struct FailureGroup {
    length: u32,
    colours: Vec<RGBColor>,
    label: String,
}

/// Where a [`FailureGroup`] went: its strip line and whether the label is left of the crosses.
struct Placed {
    row: usize,
    label_left: bool,
}

fn failure_groups(p: &ScalingPlot, model: &str, tasks: &[&str]) -> Vec<FailureGroup> {
    let mut groups: Vec<FailureGroup> = Vec::new();
    let mut failures: Vec<&ScalingRun> = p.failures().filter(|r| r.model == model).collect();
    let task_index = |r: &ScalingRun| tasks.iter().position(|t| *t == r.task).unwrap_or(0);
    failures.sort_by_key(|r| (r.length, r.is_protscope(), task_index(r)));
    for r in failures {
        let label = if r.is_protscope() {
            format!("protscope {}", r.status.label())
        } else {
            r.status.label().to_string()
        };
        let colour = palette::categorical(task_index(r));
        match groups
            .iter_mut()
            .find(|g| g.length == r.length && g.label == label)
        {
            Some(g) => g.colours.push(colour),
            None => groups.push(FailureGroup {
                length: r.length,
                colours: vec![colour],
                label,
            }),
        }
    }
    groups
}

/// Half the width of a group's crosses.
fn crosses_half_width(g: &FailureGroup) -> f64 {
    (g.colours.len() as f64 - 1.0) * CROSS_STEP / 2.0 + CROSS_HALF
}

/// Lays the groups out in strip lines, left to right: each in the first line where its
/// crosses and label stay inside the panel and clear of what is already there. Labels go left
/// of their crosses where they can: failures gather at the longest lengths, where the right
/// side is the panel's edge, and a label on the left leaves the next length's room free.
fn place_failures<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    groups: &[FailureGroup],
) -> Result<Vec<Placed>> {
    let t = Txt::new(font::SMALL);
    let mut taken: Vec<(usize, f64, f64)> = Vec::new();
    let mut placed = Vec::with_capacity(groups.len());
    for g in groups {
        let x = a.x((g.length as f64).log10());
        let half = crosses_half_width(g);
        let tw = c.text_width(&g.label, t)?;
        let right = (x - half, x + half + 3.0 + tw);
        let left = (x - half - 3.0 - tw, x + half);
        let fits = |(l, r): (f64, f64), row: usize| {
            l >= a.x0 + 1.0
                && r <= a.x1
                && taken
                    .iter()
                    .all(|&(tr, tl, tt)| tr != row || r + 4.0 <= tl || l >= tt + 4.0)
        };
        let mut row = 0;
        let (row, label_left, span) = loop {
            if fits(left, row) {
                break (row, true, left);
            }
            if fits(right, row) {
                break (row, false, right);
            }
            // Wider than the panel either way: its own line, label on the roomier side.
            if row > groups.len() {
                let label_left = x - a.x0 > a.x1 - x;
                let row = taken.iter().map(|t| t.0 + 1).max().unwrap_or(0);
                break (row, label_left, if label_left { left } else { right });
            }
            row += 1;
        };
        taken.push((row, span.0, span.1));
        placed.push(Placed { row, label_left });
    }
    Ok(placed)
}

/// Draws the failure marks in the strip above the plot `a`, line 0 nearest the plot.
fn draw_failures<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    groups: &[FailureGroup],
    placed: &[Placed],
) -> Result<()> {
    for (g, p) in groups.iter().zip(placed) {
        let x = a.x((g.length as f64).log10());
        let y = a.y0 - STRIP_GAP - STRIP_ROW * (p.row as f64 + 0.5);
        let half = crosses_half_width(g);
        for (i, colour) in g.colours.iter().enumerate() {
            let cx = x - half + CROSS_HALF + i as f64 * CROSS_STEP;
            cross(c, cx, y, *colour)?;
        }
        let (tx, anchor) = if p.label_left {
            (x - half - 3.0, HPos::Right)
        } else {
            (x + half + 3.0, HPos::Left)
        };
        // One pixel down: short labels ("OOM") have no descenders and would sit high.
        c.text(
            &g.label,
            tx,
            y + 1.0,
            Txt::new(font::SMALL).anchor(anchor, VPos::Center),
        )?;
    }
    Ok(())
}

fn cross<DB: DrawingBackend>(c: &Canvas<DB>, x: f64, y: f64, colour: RGBColor) -> Result<()> {
    let d = CROSS_HALF;
    c.line(&[(x - d, y - d), (x + d, y + d)], colour, 1.5)?;
    c.line(&[(x - d, y + d), (x + d, y - d)], colour, 1.5)
}

/// One series' line and markers: solid with filled circles for protscope, dashed with open
/// circles for the reference; lines break at runs that did not finish.
fn draw_series<DB: DrawingBackend>(
    c: &Canvas<DB>,
    a: &Axes,
    runs: &[&ScalingRun],
    metric: Metric,
    colour: RGBColor,
    protscope: bool,
) -> Result<()> {
    let stroke = |c: &Canvas<DB>, pts: &[(f64, f64)]| {
        if pts.len() < 2 {
            Ok(())
        } else if protscope {
            c.line(pts, colour, 1.5)
        } else {
            c.dashed(pts, colour, 1.25)
        }
    };
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut points: Vec<(f64, f64)> = Vec::new();
    for r in runs {
        match (r.status, metric.value(r)) {
            (RunStatus::Ok, Some(v)) => {
                let p = (a.x((r.length as f64).log10()), a.y(v.log10()));
                run.push(p);
                points.push(p);
            }
            _ => {
                stroke(c, &run)?;
                run.clear();
            }
        }
    }
    stroke(c, &run)?;
    for (x, y) in points {
        if protscope {
            c.circle(x, y, MARKER_R, Some(colour), None)?;
        } else {
            c.circle(x, y, MARKER_R, Some(palette::WHITE), Some((colour, 1.0)))?;
        }
    }
    Ok(())
}

/// A legend entry's symbol.
#[derive(Clone, Copy)]
enum Key {
    Task(RGBColor),
    Protscope,
    Reference,
    Failure,
}

const KEY_W: f64 = 26.0;
const LEGEND_ROW: f64 = font::TICK * 1.5;

/// Legend entries placed left to right, a new line for each group and wherever the next entry
/// would pass `width`: (line, x offset, key, label).
type LegendLayout = Vec<(usize, f64, Key, String)>;

fn legend_layout<DB: DrawingBackend>(
    c: &Canvas<DB>,
    groups: &[Vec<(Key, String)>],
    width: f64,
) -> Result<(LegendLayout, usize)> {
    let t = Txt::new(font::TICK);
    let mut out = Vec::new();
    let mut line = 0usize;
    for (gi, group) in groups.iter().enumerate() {
        if group.is_empty() {
            continue;
        }
        if gi > 0 && !out.is_empty() {
            line += 1;
        }
        let mut x = 0.0;
        for (key, label) in group {
            let w = KEY_W + 5.0 + c.text_width(label, t)?;
            if x > 0.0 && x + w > width {
                line += 1;
                x = 0.0;
            }
            out.push((line, x, *key, label.clone()));
            x += w + 16.0;
        }
    }
    Ok((out, line + 1))
}

fn draw_legend<DB: DrawingBackend>(
    c: &Canvas<DB>,
    x0: f64,
    y0: f64,
    layout: &LegendLayout,
) -> Result<()> {
    let t = Txt::new(font::TICK).anchor(HPos::Left, VPos::Center);
    for (line, dx, key, label) in layout {
        let y = y0 + LEGEND_ROW * (*line as f64 + 0.5);
        let (kx0, kx1) = (x0 + dx, x0 + dx + KEY_W);
        let xm = (kx0 + kx1) / 2.0;
        match *key {
            Key::Task(colour) => c.line(&[(kx0 + 2.0, y), (kx1 - 2.0, y)], colour, 3.0)?,
            Key::Protscope => {
                c.line(&[(kx0, y), (kx1, y)], palette::INK, 1.5)?;
                c.circle(xm, y, MARKER_R, Some(palette::INK), None)?;
            }
            Key::Reference => {
                c.dashed(&[(kx0, y), (kx1, y)], palette::INK, 1.25)?;
                c.circle(
                    xm,
                    y,
                    MARKER_R,
                    Some(palette::WHITE),
                    Some((palette::INK, 1.0)),
                )?;
            }
            Key::Failure => cross(c, xm, y, palette::INK)?,
        }
        c.text(label, kx1 + 5.0, y, t)?;
    }
    Ok(())
}

pub(crate) fn draw<DB: DrawingBackend>(
    c: &Canvas<DB>,
    w: f64,
    h: f64,
    title: &str,
    p: &ScalingPlot,
) -> Result<()> {
    p.validate()?;
    let models = p.models();
    let tasks = p.tasks();
    let mut top = draw::title(c, title)?;

    // Shared legend: task colours on the first line(s), the tools' styles below.
    let mut styles = vec![
        (Key::Protscope, "protscope".to_string()),
        (Key::Reference, p.reference_label()),
    ];
    if p.failures().next().is_some() {
        styles.push((Key::Failure, "did not finish (status beside)".to_string()));
    }
    let task_keys: Vec<(Key, String)> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (Key::Task(palette::categorical(i)), t.to_string()))
        .collect();
    let (legend, legend_lines) = legend_layout(c, &[task_keys, styles], w - 2.0 * MARGIN)?;
    draw_legend(c, MARGIN, top, &legend)?;
    top += LEGEND_ROW * legend_lines as f64 + 10.0;

    // Vertical layout: per row a header (the model), the failure strip, the plot, tick labels;
    // the axis title under the last row only.
    let n = models.len() as f64;
    let header_h = font::LABEL * layout::TITLE_LINE + 4.0;
    let ticks_h = 5.0 + font::TICK * layout::LINE + 3.0;
    let x_title_h = draw::X_AXIS_HEIGHT - ticks_h;
    let row_gap = 10.0;
    let fixed = n * (header_h + ticks_h) + (n - 1.0) * row_gap + x_title_h + MARGIN;
    let plot_h_max = (h - top - fixed) / n;

    // Axis ranges, shared by every row: x over all lengths, y per metric over finished runs.
    let mut lengths: Vec<u32> = p.runs.iter().map(|r| r.length).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let x_range = log_range(
        lengths[0] as f64,
        lengths[lengths.len() - 1] as f64,
        0.3,
        0.07,
    );
    let metrics = [Metric::Time, Metric::Memory];
    let y_ranges = metrics.map(|m| {
        let (lo, hi) = draw::finite_range(
            p.runs
                .iter()
                .filter(|r| r.status == RunStatus::Ok)
                .filter_map(|r| m.value(r)),
        )
        .unwrap_or((1.0, 10.0));
        log_range(lo, hi, 1.0, 0.06)
    });
    // Tick labels at the tallest the plots can be: the final ticks are these or fewer.
    let widest_ticks = y_ranges.map(|r| log_ticks(r, plot_h_max.max(1.0)).0);
    let y_axis_w = [
        draw::y_axis_width(
            c,
            &widest_ticks[0]
                .iter()
                .map(|v| value_label(*v))
                .collect::<Vec<_>>(),
        )?,
        draw::y_axis_width(
            c,
            &widest_ticks[1]
                .iter()
                .map(|v| value_label(*v))
                .collect::<Vec<_>>(),
        )?,
    ];
    let panel_gap = 22.0;
    let right_pad = 4.0;
    let plot_w = (w - 2.0 * MARGIN - y_axis_w[0] - y_axis_w[1] - panel_gap - right_pad) / 2.0;
    let left_x0 = MARGIN + y_axis_w[0];
    let right_title_x = left_x0 + plot_w + panel_gap;
    let panel_x = [
        (MARGIN, left_x0),
        (right_title_x, right_title_x + y_axis_w[1]),
    ];
    if plot_w < 80.0 {
        return Err(Error::invalid(
            "figure is too narrow for the scaling panels",
        ));
    }

    // Failure strips: as many lines as the busiest panel needs, the same in every row.
    let probe = Axes {
        x0: 0.0,
        y0: 0.0,
        x1: plot_w,
        y1: 1.0,
        x_range,
        y_range: (0.0, 1.0),
    };
    let mut strips = Vec::with_capacity(models.len());
    let mut strip_lines = 0usize;
    for m in &models {
        let groups = failure_groups(p, m, &tasks);
        let placed = place_failures(c, &probe, &groups)?;
        strip_lines = strip_lines.max(placed.iter().map(|q| q.row + 1).max().unwrap_or(0));
        strips.push((groups, placed));
    }
    let strip_h = if strip_lines > 0 {
        STRIP_ROW * strip_lines as f64 + STRIP_GAP
    } else {
        0.0
    };
    let plot_h = plot_h_max - strip_h;
    if plot_h < 50.0 {
        return Err(Error::invalid(format!(
            "figure is too small for {} rows of scaling panels",
            models.len()
        )));
    }
    let y_ticks = y_ranges.map(|r| log_ticks(r, plot_h));

    let x_title_each = c.text_width(X_TITLE, Txt::new(font::LABEL))? <= plot_w;
    let row_h = header_h + strip_h + plot_h + ticks_h + row_gap;
    for (ri, model) in models.iter().enumerate() {
        let row_top = top + ri as f64 * row_h;
        let header = draw::fitted(c, model, Txt::new(font::LABEL).bold(), w - 2.0 * MARGIN)?;
        c.text(model, MARGIN, row_top, header)?;
        let strip_top = row_top + header_h;
        let last = ri + 1 == models.len();
        let runs: Vec<&ScalingRun> = {
            let mut v: Vec<&ScalingRun> = p.runs.iter().filter(|r| r.model == *model).collect();
            v.sort_by_key(|r| r.length);
            v
        };
        for (mi, metric) in metrics.iter().enumerate() {
            let (title_x, x0) = panel_x[mi];
            let a = Axes {
                x0,
                y0: strip_top + strip_h,
                x1: x0 + plot_w,
                y1: strip_top + strip_h + plot_h,
                x_range,
                y_range: y_ranges[mi],
            };
            log_y_axis(c, &a, &y_ticks[mi], title_x, metric.title())?;
            let (ticks, labels) = length_ticks(c, &a, &lengths)?;
            let x_title = if last && x_title_each { X_TITLE } else { "" };
            draw::x_axis(c, &a, &ticks, &labels, x_title)?;
            if last && !x_title_each && mi == 1 {
                // One title centred under both panels where one per panel would not fit.
                c.text(
                    X_TITLE,
                    (left_x0 + a.x1) / 2.0,
                    a.y1 + ticks_h,
                    Txt::new(font::LABEL).anchor(HPos::Center, VPos::Top),
                )?;
            }
            for (ti, task) in tasks.iter().enumerate() {
                let colour = palette::categorical(ti);
                for protscope in [false, true] {
                    let series: Vec<&ScalingRun> = runs
                        .iter()
                        .copied()
                        .filter(|r| r.task == *task && r.is_protscope() == protscope)
                        .collect();
                    draw_series(c, &a, &series, *metric, colour, protscope)?;
                }
            }
            let (groups, placed) = &strips[ri];
            draw_failures(c, &a, groups, placed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use polars::prelude::*;

    /// Two models, two tasks; the reference runs out of memory at 1000 on the second model.
    fn frame() -> DataFrame {
        let mut model = Vec::new();
        let mut task = Vec::new();
        let mut tool = Vec::new();
        let mut length = Vec::new();
        let mut seconds: Vec<Option<f64>> = Vec::new();
        let mut rss: Vec<Option<f64>> = Vec::new();
        let mut status = Vec::new();
        for (mi, m) in ["ESM-2 150M", "ESM-2 650M"].iter().enumerate() {
            for (ti, t) in ["forward", "embedding IG"].iter().enumerate() {
                for tl in ["protscope", "Captum"] {
                    for l in [100i64, 250, 1000] {
                        let fail = mi == 1 && tl == "Captum" && l == 1000;
                        model.push(m.to_string());
                        task.push(t.to_string());
                        tool.push(tl.to_string());
                        length.push(l);
                        let s = (l as f64 / 100.0) * (1.0 + ti as f64) * (1.0 + mi as f64);
                        seconds.push((!fail).then_some(s));
                        rss.push((!fail).then_some(0.5 + s / 10.0));
                        status.push(if fail { "oom" } else { "ok" });
                    }
                }
            }
        }
        let n = model.len();
        df!(
            "model" => model,
            "task" => task,
            "tool" => tool,
            "length" => length,
            "seconds" => seconds,
            "peak_rss_gb" => rss,
            "status" => status,
            "note" => vec![""; n],
        )
        .unwrap()
    }

    #[test]
    fn from_frame_reads_every_run_and_keeps_failures() {
        let p = ScalingPlot::from_frame(&frame()).unwrap();
        assert_eq!(p.runs.len(), 24);
        assert_eq!(p.models(), vec!["ESM-2 150M", "ESM-2 650M"]);
        assert_eq!(p.tasks(), vec!["forward", "embedding IG"]);
        assert_eq!(p.reference_tools(), vec!["Captum"]);
        let failed: Vec<&ScalingRun> = p.failures().collect();
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|r| r.status == RunStatus::OutOfMemory
            && r.length == 1000
            && r.model == "ESM-2 650M"
            && !r.is_protscope()
            && r.seconds.is_none()
            && r.peak_rss_gb.is_none()));
        let first = &p.runs[0];
        assert_eq!((first.length, first.seconds), (100, Some(1.0)));
        assert!(first.is_protscope());
        assert_eq!(p.reference_label(), "reference (Captum)");
    }

    #[test]
    fn from_frame_reads_a_csv_with_empty_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.csv");
        std::fs::write(
            &path,
            "model,task,tool,length,seconds,peak_rss_gb,status,note\n\
             ProtBert (420 M),forward + attentions,protscope,100,0.5,1.25,ok,\n\
             ProtBert (420 M),forward + attentions,HF transformers,100,0.75,2,ok,warm\n\
             ProtBert (420 M),forward + attentions,HF transformers,1000,,,TIMEOUT,\"after 1 h, killed\"\n",
        )
        .unwrap();
        let p = ScalingPlot::from_frame(&crate::frame::read_table(&path).unwrap()).unwrap();
        assert_eq!(p.runs.len(), 3);
        assert_eq!(p.runs[2].status, RunStatus::Timeout);
        assert_eq!(p.runs[2].note, "after 1 h, killed");
        assert_eq!(p.runs[1].peak_rss_gb, Some(2.0));
        let fig = scaling_plot("scaling", "t", &p).unwrap();
        let csv = fig.data_csv();
        assert!(
            csv.contains("HF transformers,reference,1000,timeout,,,\"after 1 h, killed\""),
            "{csv}"
        );
    }

    #[test]
    fn bad_tables_are_errors_naming_the_column() {
        let err = |df: DataFrame| ScalingPlot::from_frame(&df).unwrap_err().to_string();
        let e = err(frame().drop("peak_rss_gb").unwrap());
        assert!(
            e.contains("benchmark table has no `peak_rss_gb` column"),
            "{e}"
        );
        let e = err(frame().drop("status").unwrap());
        assert!(e.contains("`status`"), "{e}");

        let mut df = frame();
        let mut status: Vec<&str> = vec!["ok"; df.height()];
        status[3] = "crashed";
        df.with_column(Column::new("status".into(), status))
            .unwrap();
        let e = err(df);
        assert!(e.contains("`status` is `crashed` in row 3"), "{e}");

        let mut df = frame();
        let mut length = vec![100i64; df.height()];
        length[0] = 0;
        df.with_column(Column::new("length".into(), length))
            .unwrap();
        let e = err(df);
        assert!(e.contains("`length` is 0 in row 0"), "{e}");

        // A finished run without its time is not silently dropped.
        let mut df = frame();
        let mut seconds: Vec<Option<f64>> = vec![Some(1.0); df.height()];
        seconds[5] = None;
        df.with_column(Column::new("seconds".into(), seconds))
            .unwrap();
        let e = err(df);
        assert!(e.contains("status ok but `seconds` is missing"), "{e}");
    }

    #[test]
    fn runs_the_figure_cannot_draw_are_rejected() {
        let p = ScalingPlot::from_frame(&frame()).unwrap();
        let mut twice = p.clone();
        twice.runs.push(twice.runs[0].clone());
        assert!(scaling_plot("s", "", &twice).is_err(), "duplicate cell");
        let mut zero = p.clone();
        zero.runs[0].seconds = Some(0.0);
        assert!(scaling_plot("s", "", &zero).is_err(), "0 s on a log axis");
        let mut all_failed = p.clone();
        for r in &mut all_failed.runs {
            r.status = RunStatus::Skipped;
        }
        assert!(scaling_plot("s", "", &all_failed).is_err());
        assert!(scaling_plot("s", "", &ScalingPlot { runs: vec![] }).is_err());
        let mut many = p.clone();
        for i in 0..8 {
            let mut r = p.runs[0].clone();
            r.task = format!("task {i}");
            many.runs.push(r);
        }
        assert!(
            scaling_plot("s", "", &many).is_err(),
            "more tasks than colours"
        );
    }

    #[test]
    fn svg_has_a_row_per_model_and_marks_failures() {
        let p = ScalingPlot::from_frame(&frame()).unwrap();
        let fig = scaling_plot("scaling", "Scaling", &p).unwrap();
        let el = render_checked(&fig);
        let all = texts(&el);
        for model in ["ESM-2 150M", "ESM-2 650M"] {
            assert_eq!(count_text(&el, model), 1, "{all:?}");
        }
        assert_eq!(count_text(&el, "Time (s)"), 2);
        assert_eq!(count_text(&el, "Peak memory (GB)"), 2);
        // The axis title under the last row only; lengths labelled as lengths in every panel.
        assert_eq!(count_text(&el, "Sequence length (residues)"), 2);
        assert_eq!(count_text(&el, "250"), 4, "{all:?}");
        assert_eq!(count_text(&el, "1000"), 4);
        // Both tasks failed alike at 1000 on the second model: one label per panel.
        assert_eq!(count_text(&el, "OOM"), 2, "{all:?}");
        for label in [
            "forward",
            "embedding IG",
            "protscope",
            "reference (Captum)",
            "did not finish (status beside)",
        ] {
            assert_eq!(count_text(&el, label), 1, "{label}: {all:?}");
        }
        // Markers: 12 protscope + 10 finished reference runs in 2 panels each, + legend keys.
        assert_eq!(
            el.iter().filter(|e| e.tag == "circle").count(),
            12 * 2 + 10 * 2 * 2 + 3,
            "a filled protscope circle is one element, an open reference circle two (fill, stroke)"
        );
        assert!(fig.caption().contains("OOM = out of memory"));
        assert!(fig
            .caption()
            .contains("dashed lines and open circles: reference (Captum)"));
        assert_eq!(fig.data_csv().lines().count(), 1 + 24);
    }

    #[test]
    fn failure_labels_stay_inside_the_panel_and_apart() {
        let mut p = ScalingPlot::from_frame(&frame()).unwrap();
        // Failures at neighbouring lengths and of both tools, with different statuses.
        for r in &mut p.runs {
            if r.model == "ESM-2 650M" && r.length >= 250 {
                r.status = if r.is_protscope() {
                    RunStatus::Refused
                } else if r.length == 250 {
                    RunStatus::Timeout
                } else {
                    RunStatus::OutOfMemory
                };
            }
        }
        let fig = scaling_plot("scaling", "", &p).unwrap();
        let el = render_checked(&fig);
        let (w, _) = fig.size();
        let labels: Vec<&Element> = el
            .iter()
            .filter(|e| {
                e.tag == "text"
                    && ["OOM", "timeout", "protscope refused"].contains(&e.text.as_str())
            })
            .collect();
        assert_eq!(labels.len(), 2 * 4, "{:?}", texts(&el));
        for l in &labels {
            assert!(l.num("x") > 0.0 && l.num("x") < w as f64, "{l:?}");
        }
        // No two labels of one panel share a line and overlap: distinct (x, y) per label at
        // least, and the strip grew a line for the crowding.
        let mut spots: Vec<(i64, i64)> = labels
            .iter()
            .map(|l| (l.num("x") as i64, l.num("y") as i64))
            .collect();
        spots.sort_unstable();
        spots.dedup();
        assert_eq!(spots.len(), labels.len());
        let ys: std::collections::BTreeSet<i64> =
            labels.iter().map(|l| l.num("y") as i64).collect();
        assert!(ys.len() >= 2, "{ys:?}");
    }

    #[test]
    fn a_narrow_figure_thins_length_labels_and_shares_the_axis_title() {
        let runs: Vec<ScalingRun> = [100u32, 110, 120, 130, 1000]
            .iter()
            .map(|&length| ScalingRun {
                model: "m".into(),
                task: "forward".into(),
                tool: "protscope".into(),
                length,
                seconds: Some(length as f64 / 100.0),
                peak_rss_gb: Some(1.0),
                status: RunStatus::Ok,
                note: String::new(),
            })
            .collect();
        let fig = scaling_plot("s", "", &ScalingPlot { runs })
            .unwrap()
            .with_size(super::super::SINGLE_COLUMN_PX, 300);
        let el = render_checked(&fig);
        let all = texts(&el);
        assert_eq!(count_text(&el, "100"), 2, "{all:?}");
        assert_eq!(count_text(&el, "1000"), 2, "{all:?}");
        let crowded: usize = ["110", "120", "130"]
            .iter()
            .map(|l| count_text(&el, l))
            .sum();
        assert!(crowded < 6, "labels 10 residues apart are thinned: {all:?}");
        assert_eq!(count_text(&el, X_TITLE), 1, "one title under both panels");
        assert!(
            !fig.caption().contains("Crosses"),
            "no failures, no word of them"
        );
    }

    #[test]
    fn log_ticks_and_labels_read_like_numbers() {
        assert_eq!(value_label(0.5), "0.5");
        assert_eq!(value_label(0.05), "0.05");
        assert_eq!(value_label(0.25), "0.25");
        assert_eq!(value_label(2000.0), "2000");
        assert_eq!(value_label(1e7), "1e7");
        // Four decades over 300 px: decades, with minor ticks.
        let (t, minor) = log_ticks((-0.5, 3.6), 300.0);
        assert_eq!(t, vec![1.0, 10.0, 100.0, 1000.0]);
        assert!(minor);
        // Less than two decades: 1-2-5.
        let (t, minor) = log_ticks(((0.4f64).log10(), (20f64).log10()), 200.0);
        assert_eq!(t, vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert!(!minor);
        // Ten decades in 60 px: every fifth decade.
        let (t, _) = log_ticks((-4.5, 5.5), 60.0);
        assert_eq!(t, vec![1e-0, 1e5]);
    }
}
