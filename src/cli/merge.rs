//! `protscope merge`: the shard tables of a `--shard I/N` run folder as one table.

use std::path::PathBuf;

use clap::Args;

use super::common::print_written;
use protscope::frame::shard::merge_shards;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Folder the `--shard I/N --out FOLDER` runs wrote into (shard-IIII-of-NNNN.parquet files).
    #[arg(long)]
    pub input: PathBuf,
    /// Merged table (.parquet or .csv); side tables (e.g. the attribution summary) go to
    /// <stem>.<what>.<ext> beside it.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_merge(args: MergeArgs) -> anyhow::Result<()> {
    let report = merge_shards(&args.input, &args.out)?;
    eprintln!(
        "merged {} shards of {}",
        report.shards,
        args.input.display()
    );
    for (path, rows) in &report.tables {
        print_written(path, *rows);
    }
    Ok(())
}
