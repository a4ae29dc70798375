//! `protscope regions`: IMGT framework/CDR regions of the antibody V domains in a FASTA file, as
//! a feature table (the columns of `protscope features`).

use anyhow::bail;
use clap::Args;
use protscope::annotation::antibody::{annotate_regions, positions_frame};
use protscope::annotation::features_frame;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RegionsArgs {
    /// Antibody sequences (FASTA; gzip allowed). Tags, signal peptides and constant regions
    /// around the V domain are allowed; records that hold no antibody V domain are skipped.
    #[arg(long)]
    pub fasta: PathBuf,
    /// Output table (.csv or .parquet): accession (FASTA id), type "Region", 1-based start/end
    /// in the given sequence, description FR1..FR4 / CDR-H1..CDR-H3 / CDR-L1..CDR-L3.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the per-residue IMGT numbering (.csv or .parquet): protein, position,
    /// residue, chain, imgt ("111A"), imgt_number, imgt_insertion, region. With --shard, a
    /// folder of its own (merged separately).
    #[arg(long)]
    pub positions: Option<PathBuf>,
    #[command(flatten)]
    pub shard: super::common::ShardArgs,
}

pub fn run_regions(args: RegionsArgs) -> anyhow::Result<()> {
    let shard = args.shard.parse()?;
    let mut records = protscope::io::read_fasta(&args.fasta)?;
    if let Some(shard) = shard {
        records = shard.select(records, |r| r.id.as_str());
    }
    let result = annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    for skipped in &result.skipped {
        eprintln!("skipped: {skipped}");
    }
    let count = |code: &str| {
        result
            .numbered
            .iter()
            .filter(|n| n.chain.code() == code)
            .count()
    };
    eprintln!(
        "{} of {} records numbered (IMGT): {} heavy, {} kappa, {} lambda; {} skipped",
        result.numbered.len(),
        records.len(),
        count("H"),
        count("K"),
        count("L"),
        result.skipped.len()
    );
    // A shard may hold no records at all: it still writes its (empty) table for `merge`.
    if result.numbered.is_empty() && !records.is_empty() {
        bail!(
            "no antibody variable domain found in {}",
            args.fasta.display()
        );
    }
    if shard.is_some() && args.positions.as_deref() == Some(args.out.as_path()) {
        bail!(
            "with --shard, --out and --positions name two folders (each receives \
             shard-IIII-of-NNNN.parquet); give --positions a folder of its own"
        );
    }
    let (_, out) = args.shard.resolve(&args.out)?;
    let mut df = features_frame(&result.entries())?;
    protscope::frame::write_table(&mut df, &out)?;
    if let Some(path) = &args.positions {
        let (_, path) = args.shard.resolve(path)?;
        let mut positions = positions_frame(&result.numbered)?;
        protscope::frame::write_table(&mut positions, &path)?;
    }
    Ok(())
}
