//! The `protscope` command line: thin wrappers around the library.

pub mod annot;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "protscope",
    version,
    about = "Look inside protein language models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print or write UniProt features (or per-residue masks with --residues).
    Features(annot::FeaturesArgs),
    /// Contact map of one chain of a PDB/mmCIF structure.
    Contacts(annot::ContactsArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Features(args) => annot::run_features(args),
        Command::Contacts(args) => annot::run_contacts(args),
    }
}
