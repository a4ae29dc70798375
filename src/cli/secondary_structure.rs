//! `protscope secondary-structure`: DSSP states of one chain of a structure, per residue and
//! placed on the chain's sequence positions (see [`protscope::structure::dssp`]).

use std::path::PathBuf;

use clap::Args;

use protscope::structure::dssp::{
    assign_secondary_structure, secondary_structure_frame, sequence_positions, Dssp8,
};
use protscope::structure::read_structure;

#[derive(Args, Debug)]
pub struct SecondaryStructureArgs {
    /// PDB or mmCIF file (gzip allowed).
    #[arg(long)]
    pub structure: PathBuf,
    /// Chain id (author chain); the first protein chain when absent. H-bonds to the other chains
    /// count, as in mkdssp.
    #[arg(long)]
    pub chain: Option<String>,
    /// Protein key in the table; `<file stem>.<chain>` when absent.
    #[arg(long)]
    pub protein: Option<String>,
    /// Output table (.parquet or .csv): protein, position, auth_seq, icode, residue, dssp8,
    /// dssp3.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_secondary_structure(args: SecondaryStructureArgs) -> anyhow::Result<()> {
    let structure = read_structure(&args.structure)?;
    let residues = assign_secondary_structure(&structure, args.chain.as_deref())?;
    let chain = structure.chain(Some(&residues[0].chain), Some(0))?;
    let positions = sequence_positions(&residues, &chain, None)?;
    let protein = args.protein.clone().unwrap_or_else(|| {
        let name = args
            .structure
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.split('.').next().unwrap_or("");
        format!("{stem}.{}", chain.chain)
    });
    let count = |states: &[Dssp8]| {
        residues
            .iter()
            .filter(|r| states.contains(&r.dssp8))
            .count()
    };
    eprintln!(
        "{protein}: {} residues assigned ({} helix, {} strand), {} placed on the {} sequence \
         positions",
        residues.len(),
        count(&[Dssp8::AlphaHelix, Dssp8::Helix310, Dssp8::PiHelix]),
        count(&[Dssp8::Strand, Dssp8::Bridge]),
        positions.iter().flatten().count(),
        chain.sequence().chars().count(),
    );
    let mut df = secondary_structure_frame(&protein, &residues, &positions)?;
    protscope::frame::write_table(&mut df, &args.out)?;
    Ok(())
}
