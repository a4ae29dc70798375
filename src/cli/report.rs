//! `protscope report --from DIR [--from DIR2 …]`: one HTML report from the tables of a finished
//! run folder (further folders join its model comparison);
//! thin over [`protscope::report::run_folder`].

use std::path::PathBuf;

use clap::Args;

use protscope::report::run_folder::{report_from_dir, ReportOptions};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folder: tables written by protscope commands (recognised by their columns) and,
    /// when present, run.json. Given several times, the first is the report's and the others'
    /// models (their `models/` folders, or each folder as one model) join the "Models
    /// compared" section beside the first folder's own.
    #[arg(long, required = true, num_args = 1)]
    pub from: Vec<PathBuf>,
    /// Report file (.html); one self-contained file.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every figure as SVG and PNG into this folder.
    #[arg(long)]
    pub figures: Option<PathBuf>,
    #[arg(long)]
    pub title: Option<String>,
    /// Record the date (otherwise rebuilding gives identical bytes).
    #[arg(long)]
    pub timestamp: bool,
    /// Residue tracks drawn per attribution table.
    #[arg(long, default_value_t = 3)]
    pub tracks: usize,
}

pub fn run_report(args: ReportArgs) -> anyhow::Result<()> {
    let options = ReportOptions {
        title: args.title,
        command_line: std::env::args().collect(),
        timestamp: args.timestamp,
        max_tracks: args.tracks,
        compare: args.from[1..].to_vec(),
        ..Default::default()
    };
    let from = &args.from[0];
    let built = report_from_dir(from, &options)?;
    match &args.figures {
        Some(dir) => built.save(&args.out, dir)?,
        None => built.report.save(&args.out)?,
    }
    eprintln!(
        "{} figures, {} tables from {} tables in {}",
        built.report.figures(),
        built.report.tables(),
        built.tables.len(),
        from.display()
    );
    println!("{}", args.out.display());
    Ok(())
}
