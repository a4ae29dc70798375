//! `protscope features` and `protscope contacts`: thin wrappers over
//! [`protscope::annotation`] and [`protscope::structure`].

use anyhow::bail;
use clap::{Args, ValueEnum};
use polars::prelude::*;
use protscope::annotation::{
    self, features_frame, read_entries, read_sites, residue_frame, residue_mask, Entry,
    FeatureSelection, Format, MaskOptions,
};
use protscope::structure::{
    self, contacts_frame, ContactAtom, ContactOptions, DistanceMatrix, Numbering,
};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    /// UniProt files (flat text, XML, REST JSON, TSV, GFF3; gzip allowed) or JSONL site sets
    /// (`.jsonl`: {"id", "sequence", "sites"}).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Force the format instead of detecting it: flat, xml, json, tsv, gff, fasta.
    #[arg(long)]
    pub format: Option<Format>,
    /// Comma-separated feature types, e.g. "Binding site,Active site" (flat keys such as
    /// ACT_SITE work too). All types when absent.
    #[arg(long)]
    pub types: Option<String>,
    /// Keep only features whose description matches this regular expression.
    #[arg(long)]
    pub description: Option<String>,
    /// Keep only features with one of these ECO codes (comma-separated, e.g. ECO:0000269).
    #[arg(long)]
    pub evidence: Option<String>,
    /// Write the per-residue mask table (protein, position, residue, one column per type).
    #[arg(long)]
    pub residues: bool,
    /// With --residues: the sequences given to the model (FASTA). Entries are matched by
    /// accession; the table is keyed by the FASTA id; sequence differences are reported.
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// With --residues: cut masks to this many residues, as the model input is cut.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Feature type given to JSONL sites.
    #[arg(long, default_value = "Site")]
    pub sites_type: String,
    /// Output table (.parquet or .csv); CSV on stdout when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AtomArg {
    Ca,
    Cb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NumberingArg {
    /// Align residues to the sequence (handles gaps, offsets, insertion codes).
    Align,
    /// Author residue number = sequence position.
    Author,
}

#[derive(Args, Debug)]
pub struct ContactsArgs {
    /// PDB or mmCIF file (gzip allowed).
    #[arg(long)]
    pub structure: PathBuf,
    /// Chain id (author chain); the first protein chain when absent.
    #[arg(long)]
    pub chain: Option<String>,
    /// Model index, from 0 (NMR ensembles).
    #[arg(long, default_value_t = 0)]
    pub model: usize,
    /// Contact distance cutoff in Å.
    #[arg(long, default_value_t = 8.0)]
    pub cutoff: f64,
    /// Minimum sequence separation j - i.
    #[arg(long, default_value_t = 1)]
    pub min_separation: usize,
    /// Atom representing each residue.
    #[arg(long, value_enum, default_value_t = AtomArg::Ca)]
    pub atom: AtomArg,
    /// Sequence to number positions by (FASTA, first record); SEQRES when absent.
    #[arg(long)]
    pub sequence: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = NumberingArg::Align)]
    pub numbering: NumberingArg,
    /// Protein key in the table; `<file stem>.<chain>` when absent.
    #[arg(long)]
    pub protein: Option<String>,
    /// Output table (.parquet or .csv).
    #[arg(long)]
    pub out: PathBuf,
}

fn load_inputs(args: &FeaturesArgs) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in &args.input {
        let is_jsonl = path
            .to_string_lossy()
            .trim_end_matches(".gz")
            .ends_with(".jsonl");
        if is_jsonl && args.format.is_none() {
            let feature_type = annotation::type_from_name(&args.sites_type);
            entries.extend(read_sites(path)?.iter().map(|s| s.to_entry(&feature_type)));
        } else {
            entries.extend(read_entries(path, args.format)?);
        }
    }
    Ok(entries)
}

fn selection(args: &FeaturesArgs) -> anyhow::Result<FeatureSelection> {
    let mut sel = match &args.types {
        Some(t) => FeatureSelection::with_types(t)?,
        None => FeatureSelection::all(),
    };
    if let Some(pattern) = &args.description {
        sel = sel.description_matching(pattern)?;
    }
    if let Some(codes) = &args.evidence {
        let codes: Vec<&str> = codes.split(',').collect();
        sel = sel.with_evidence(&codes);
    }
    Ok(sel)
}

fn emit(df: &mut DataFrame, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => protscope::frame::write_table(df, path)?,
        None => {
            let stdout = std::io::stdout();
            CsvWriter::new(stdout.lock())
                .include_header(true)
                .finish(df)
                .map_err(|e| anyhow::anyhow!("writing CSV to stdout: {e}"))?;
        }
    }
    Ok(())
}

pub fn run_features(args: FeaturesArgs) -> anyhow::Result<()> {
    let mut entries = load_inputs(&args)?;
    let sel = selection(&args)?;
    if !args.residues {
        for e in &mut entries {
            e.features.retain(|f| sel.matches(f));
        }
        let mut df = features_frame(&entries)?;
        return emit(&mut df, args.out.as_deref());
    }
    let options = MaskOptions {
        max_len: args.max_len,
    };
    let mut masks = Vec::new();
    let mut failures = Vec::new();
    match &args.fasta {
        Some(fasta) => {
            for record in protscope::io::read_fasta(fasta)? {
                let found = entries
                    .iter()
                    .find(|e| e.accession == record.accession() || e.accession == record.id);
                let Some(entry) = found else {
                    failures.push(format!(
                        "{}: no annotation entry with this accession",
                        record.id
                    ));
                    continue;
                };
                match residue_mask(entry, &sel, Some(&record.sequence), &options) {
                    Ok(mut m) => {
                        m.protein = record.id.clone();
                        masks.push(m);
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
        None => {
            for entry in &entries {
                match residue_mask(entry, &sel, None, &options) {
                    Ok(m) => masks.push(m),
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
    }
    for m in &masks {
        if let Some(summary) = m.summary() {
            eprintln!("note: {summary}");
        }
    }
    for f in &failures {
        eprintln!("skipped: {f}");
    }
    if masks.is_empty() {
        bail!(
            "no protein could be masked ({} skipped, see above)",
            failures.len()
        );
    }
    let mut df = residue_frame(&masks)?;
    emit(&mut df, args.out.as_deref())
}

pub fn run_contacts(args: ContactsArgs) -> anyhow::Result<()> {
    if !(args.cutoff > 0.0 && args.cutoff.is_finite()) {
        bail!(
            "--cutoff must be a positive number of Å, got {}",
            args.cutoff
        );
    }
    let s = structure::read_structure(&args.structure)?;
    let chain = s.chain(args.chain.as_deref(), Some(args.model))?;
    let sequence = match &args.sequence {
        Some(path) => {
            let records = protscope::io::read_fasta(path)?;
            records.into_iter().next().map(|r| r.sequence)
        }
        None => None,
    };
    let numbering = match args.numbering {
        NumberingArg::Align => Numbering::Align,
        NumberingArg::Author => Numbering::Author,
    };
    let mapping = chain.map_to(sequence.as_deref(), numbering)?;
    let atom = match args.atom {
        AtomArg::Ca => ContactAtom::Alpha,
        AtomArg::Cb => ContactAtom::Beta,
    };
    let matrix = DistanceMatrix::from_chain(&chain, &mapping, atom);
    let contacts = matrix.contacts(&ContactOptions {
        cutoff: args.cutoff,
        min_separation: args.min_separation,
        atom,
    });
    let protein = args.protein.clone().unwrap_or_else(|| {
        let stem = args
            .structure
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = stem.split('.').next().unwrap_or("").to_string();
        format!("{stem}.{}", chain.chain)
    });
    let unplaced = mapping.positions.iter().filter(|p| p.is_none()).count();
    eprintln!(
        "{protein}: {} residues observed, {} sequence positions, {} missing, {} unplaced, {} \
         mismatched; {} contacts",
        chain.residues.len(),
        mapping.sequence_len,
        mapping.missing.len(),
        unplaced,
        mapping.mismatches,
        contacts.len()
    );
    let mut df = contacts_frame(&protein, &contacts)?;
    protscope::frame::write_table(&mut df, &args.out)?;
    Ok(())
}
