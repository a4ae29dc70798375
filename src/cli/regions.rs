//! `protscope regions`: IMGT framework/CDR regions of the antibody V domains in a FASTA file, as
//! a feature table (the columns of `protscope features`).

use crate::annotation::antibody::{annotate_regions, positions_frame};
use crate::annotation::features_frame;
use anyhow::bail;
use clap::Args;
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
    /// residue, chain, imgt ("111A"), imgt_number, imgt_insertion, region.
    #[arg(long)]
    pub positions: Option<PathBuf>,
}

pub fn run_regions(args: RegionsArgs) -> anyhow::Result<()> {
    let records = crate::io::read_fasta(&args.fasta)?;
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
    if result.numbered.is_empty() {
        bail!(
            "no antibody variable domain found in {}",
            args.fasta.display()
        );
    }
    let mut df = features_frame(&result.entries())?;
    crate::frame::write_table(&mut df, &args.out)?;
    if let Some(path) = &args.positions {
        let mut positions = positions_frame(&result.numbered)?;
        crate::frame::write_table(&mut positions, path)?;
    }
    Ok(())
}
