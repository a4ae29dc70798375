//! `protscope report --from DIR`: one HTML report from the tables of a finished run folder;
//! thin over [`protscope::report::run_folder`].

use std::path::PathBuf;

use clap::Args;

use protscope::report::run_folder::{report_from_dir, ReportOptions};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folder: tables written by protscope commands (recognised by their columns) and,
    /// when present, run.json.
    #[arg(long)]
    pub from: PathBuf,
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
        ..Default::default()
    };
    let built = report_from_dir(&args.from, &options)?;
    match &args.figures {
        Some(dir) => built.save(&args.out, dir)?,
        None => built.report.save(&args.out)?,
    }
    eprintln!(
        "{} figures, {} tables from {} tables in {}",
        built.report.figures(),
        built.report.tables(),
        built.tables.len(),
        args.from.display()
    );
    println!("{}", args.out.display());
    Ok(())
}
