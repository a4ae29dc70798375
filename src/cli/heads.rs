//! `protscope heads`: which attention heads track a property (Vig et al. 2021), in one
//! streaming pass over proteins; thin over [`protscope::attention::analysis`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, ValueEnum};

use super::common::{progress, ModelArgs};
use protscope::annotation::secondary::{
    attention_indicators, read_netsurfp_csv, ATTENTION_PROPERTIES,
};
use protscope::annotation::{
    read_entries, read_sites, residue_mask, FeatureSelection, MaskOptions,
};
use protscope::attention::analysis::{
    accumulate_head_statistics_within, site_indicator, ContactMap, HeadInput, PropertyValues,
};
use protscope::attention::heads::{HeadStatistics, Weighting};
use protscope::io::read_fasta;
use protscope::structure::{self, ContactAtom, DistanceMatrix, Numbering};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WeightingArg {
    /// Count edges with attention ≥ --min-attn (the paper's formula).
    Threshold,
    /// Sum attention weights (no threshold).
    Weight,
    /// Sum attention weights above --min-attn (provis' code with --min-attn).
    WeightAbove,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ContactAtomArg {
    Ca,
    Cb,
}

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("property_source")
        .required(true)
        .args(["sites", "uniprot", "structures", "amino_acids", "secondary_structure"])
))]
pub struct HeadsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Protein sequences (FASTA). Optional with --sites / --uniprot / --structures, whose files
    /// carry sequences; when given, records are matched by id and only these proteins are used.
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// Site sets (JSONL {"id", "sequence", "sites"}, 1-based): f(i, j) = site(j).
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// Property name for --sites.
    #[arg(long, default_value = "site")]
    pub property: String,
    /// UniProt files (flat, XML, JSON, TSV, GFF): f(i, j) = residue j has a feature of a
    /// --types type; one property per type.
    #[arg(long, num_args = 1.., requires = "types")]
    pub uniprot: Vec<PathBuf>,
    /// Comma-separated feature types for --uniprot, e.g. "Binding site,Active site".
    #[arg(long)]
    pub types: Option<String>,
    /// Folder of PDB/mmCIF files: f(i, j) = residues i and j in contact. With --fasta, a record
    /// `NAME` or `NAME.CHAIN` / `NAME_CHAIN` uses DIR/NAME.{pdb,cif,ent,mmcif}[.gz] (chain, or
    /// the first protein chain); without, every structure file's first protein chain with its
    /// SEQRES sequence.
    #[arg(long)]
    pub structures: Option<PathBuf>,
    /// Contact cutoff in Å (with --structures).
    #[arg(long, default_value_t = 8.0)]
    pub contact_cutoff: f64,
    /// Minimum sequence separation |i − j| of a contact (TAPE / provis: 6).
    #[arg(long, default_value_t = 6)]
    pub min_separation: usize,
    #[arg(long, value_enum, default_value = "ca")]
    pub contact_atom: ContactAtomArg,
    /// Secondary structure (BERTology): f(i, j) = residue j is in a helix (DSSP H, G, I), a
    /// strand (E, B) or a turn/bend (T, S); properties helix, strand, turn_bend. PATH is a
    /// NetSurfP-2.0 CSV (CB513, TS115: the 8-state labels; proteins `<stem>_<line>`) or a
    /// folder of PDB/mmCIF files (DSSP of each file's first protein chain, or --chain, on its
    /// SEQRES sequence).
    #[arg(long, value_name = "PATH")]
    pub secondary_structure: Option<PathBuf>,
    /// Chain of the --secondary-structure structures (default: each file's first protein chain).
    #[arg(long, requires = "secondary_structure")]
    pub chain: Option<String>,
    /// f(i, j) = [amino acid of j is X] for the 20 amino acids (properties aa_to_X); also writes
    /// the amino-acid correlation / BLOSUM62 analysis.
    #[arg(long)]
    pub amino_acids: bool,
    /// Attention threshold θ (threshold and weight-above forms).
    #[arg(long, default_value_t = 0.3)]
    pub min_attn: f32,
    #[arg(long, value_enum, default_value = "threshold")]
    pub weighting: WeightingArg,
    /// Cut sequences to this many tokens (special tokens included) before running the model.
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// Heads with fewer edges (or less attention mass) than this are marked excluded.
    #[arg(long, default_value_t = 100.0)]
    pub min_total: f64,
    /// Heads per property in the <stem>.top.<ext> table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Sequences per padded forward pass (proteins are sorted by length first).
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    #[command(flatten)]
    pub memory: super::common::MemoryArgs,
    /// Output table (.parquet or .csv): property, layer, head, n_edges, n_property_edges,
    /// proportion, background, excluded. Beside it: <stem>.layers.<ext>, <stem>.top.<ext> and,
    /// with --amino-acids, <stem>.aa_blosum.<ext>.
    #[arg(long)]
    pub out: PathBuf,
}

pub use protscope::frame::side_path;

/// A protein before encoding: its sequence and how to get its property values.
struct Candidate {
    id: String,
    sequence: String,
    source: Source,
}

enum Source {
    Sites(Vec<Vec<bool>>),
    Structure {
        path: PathBuf,
        chain: Option<String>,
        /// Full sequence: residues are aligned to it before the max-len cut.
        sequence: String,
    },
    AminoAcids,
}

pub fn run_heads(args: HeadsArgs) -> anyhow::Result<()> {
    protscope::frame::TableFormat::from_path(&args.out)?;
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !(args.contact_cutoff > 0.0 && args.contact_cutoff.is_finite()) {
        bail!("--contact-cutoff must be a positive number of Å");
    }
    let weighting = match args.weighting {
        WeightingArg::Threshold => Weighting::Threshold(args.min_attn),
        WeightingArg::Weight => Weighting::Weight,
        WeightingArg::WeightAbove => Weighting::WeightAbove(args.min_attn),
    };
    let fasta = match &args.fasta {
        Some(path) => Some(read_fasta(path)?),
        None => None,
    };
    let mut skipped: Vec<String> = Vec::new();
    let (names, candidates) = if let Some(path) = &args.sites {
        (
            vec![args.property.clone()],
            site_candidates(path, fasta.as_deref(), &mut skipped)?,
        )
    } else if !args.uniprot.is_empty() {
        uniprot_candidates(&args, fasta.as_deref(), &mut skipped)?
    } else if let Some(path) = &args.secondary_structure {
        (
            ATTENTION_PROPERTIES.iter().map(|p| p.to_string()).collect(),
            secondary_structure_candidates(
                path,
                args.chain.as_deref(),
                fasta.as_deref(),
                &mut skipped,
            )?,
        )
    } else if let Some(dir) = &args.structures {
        (
            vec!["contact".to_string()],
            structure_candidates(dir, fasta.as_deref())?,
        )
    } else {
        let Some(records) = &fasta else {
            bail!("--amino-acids needs --fasta");
        };
        let candidates = records
            .iter()
            .map(|r| Candidate {
                id: r.id.clone(),
                sequence: r.sequence.clone(),
                source: Source::AminoAcids,
            })
            .collect();
        (Vec::new(), candidates)
    };

    let model = args.model.load()?;
    let mut stats = if args.amino_acids {
        HeadStatistics::amino_acids(model.num_layers(), model.num_heads(), weighting)?
    } else {
        HeadStatistics::new(model.num_layers(), model.num_heads(), weighting, names)?
    };
    // Encode everything first (cheap) so bad records are reported before the long pass, and
    // sort by length so padded batches waste little.
    let mut encoded = Vec::new();
    for c in candidates {
        match model.encode_sequence(&c.id, &c.sequence, Some(args.max_len)) {
            Ok(seq) => encoded.push((seq, c.source)),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    if encoded.is_empty() {
        bail!("no protein left to analyse ({} skipped)", skipped.len());
    }
    encoded.sort_by_key(|(s, _)| s.len());
    // Every protein must fit the memory budget before the long pass starts.
    let budget = args.memory.bytes()?;
    {
        let ids: Vec<&str> = encoded.iter().map(|(s, _)| s.id.as_str()).collect();
        let lengths: Vec<usize> = encoded.iter().map(|(s, _)| s.len()).collect();
        protscope::model::memory::forward_batches(
            &model,
            &ids,
            &lengths,
            args.batch_size,
            // The pass reads each layer's maps as they are computed and keeps none.
            false,
            budget,
        )?;
    }

    let contact_atom = match args.contact_atom {
        ContactAtomArg::Ca => ContactAtom::Alpha,
        ContactAtomArg::Cb => ContactAtom::Beta,
    };
    let bar = progress(encoded.len(), "heads");
    let inputs = encoded.into_iter().map(|(sequence, source)| {
        let values = match source {
            Source::Sites(columns) => PropertyValues::Sites(columns),
            Source::AminoAcids => PropertyValues::AminoAcids,
            Source::Structure {
                path,
                chain,
                sequence: full,
            } => PropertyValues::Contacts(structure_contacts(
                &path,
                chain.as_deref(),
                &full,
                args.contact_cutoff,
                args.min_separation,
                contact_atom,
            )?),
        };
        Ok(HeadInput { sequence, values })
    });
    let times = accumulate_head_statistics_within(
        &model,
        &mut stats,
        inputs,
        args.batch_size,
        budget,
        |_| bar.inc(1),
    )?;
    bar.finish_and_clear();
    eprintln!(
        "time: model forward {:.2} s, head statistics {:.3} s",
        times.model_seconds, times.statistics_seconds
    );

    let rows = stats.write_tables(&args.out, args.min_total, args.top)?;
    eprintln!(
        "{} proteins, {} skipped; wrote {rows} rows to {} (+ .layers, .top)",
        stats.proteins,
        skipped.len(),
        args.out.display()
    );
    if args.amino_acids {
        let aa = stats.amino_acid_correlations(args.min_total)?;
        let mut df = aa.to_frame()?;
        protscope::frame::write_table(&mut df, &side_path(&args.out, "aa_blosum"))?;
        eprintln!(
            "amino-acid correlations over {} heads; Pearson r with BLOSUM62 over {} pairs: {:.3}",
            aa.heads_used, aa.pairs_used, aa.blosum_r
        );
    }
    Ok(())
}

/// Proteins with secondary-structure indicators per residue, from a NetSurfP-2.0 CSV or from
/// DSSP on a folder of structures; with --fasta, only the records named there (sequences must
/// match).
fn secondary_structure_candidates(
    path: &Path,
    chain: Option<&str>,
    fasta: Option<&[protscope::io::FastaRecord]>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Vec<Candidate>> {
    let labelled: Vec<LabelledProtein> = if path.is_dir() {
        dssp_states(path, chain, skipped)?
    } else {
        read_netsurfp_csv(path)?
            .into_iter()
            .map(|p| {
                let states = p
                    .ss8
                    .iter()
                    .map(|&c| {
                        protscope::annotation::secondary::SS8_CLASSES
                            .get(c as usize)
                            .copied()
                    })
                    .collect();
                (p.id, p.sequence, states)
            })
            .collect()
    };
    let wanted: Option<HashMap<&str, &str>> = fasta.map(|records| {
        records
            .iter()
            .map(|r| (r.id.as_str(), r.sequence.as_str()))
            .collect()
    });
    let mut candidates = Vec::new();
    for (id, sequence, states) in labelled {
        if let Some(wanted) = &wanted {
            match wanted.get(id.as_str()) {
                None => continue,
                Some(s) if !s.eq_ignore_ascii_case(&sequence) => {
                    skipped.push(format!(
                        "{id}: the FASTA sequence differs from the one in {}",
                        path.display()
                    ));
                    continue;
                }
                Some(_) => {}
            }
        }
        candidates.push(Candidate {
            id,
            sequence,
            source: Source::Sites(attention_indicators(&states)),
        });
    }
    if candidates.is_empty() {
        bail!(
            "{}: no protein with secondary structure{}",
            path.display(),
            if fasta.is_some() {
                " among the --fasta records"
            } else {
                ""
            }
        );
    }
    Ok(candidates)
}

fn site_candidates(
    path: &Path,
    fasta: Option<&[protscope::io::FastaRecord]>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Vec<Candidate>> {
    let sets = read_sites(path)?;
    let by_id: HashMap<&str, &protscope::annotation::SiteSet> =
        sets.iter().map(|s| (s.id.as_str(), s)).collect();
    let pairs: Vec<(String, String, &protscope::annotation::SiteSet)> = match fasta {
        None => sets
            .iter()
            .map(|s| (s.id.clone(), s.sequence.clone(), s))
            .collect(),
        Some(records) => {
            let mut out = Vec::new();
            for r in records {
                match by_id.get(r.id.as_str()) {
                    None => skipped.push(format!("{}: not in {}", r.id, path.display())),
                    Some(s) if !s.sequence.eq_ignore_ascii_case(&r.sequence) => {
                        skipped.push(format!(
                            "{}: the FASTA sequence differs from the one in {}",
                            r.id,
                            path.display()
                        ))
                    }
                    Some(s) => out.push((r.id.clone(), r.sequence.clone(), *s)),
                }
            }
            out
        }
    };
    let mut candidates = Vec::new();
    for (id, sequence, set) in pairs {
        match site_indicator(&id, sequence.chars().count(), &set.sites) {
            Ok(indicator) => candidates.push(Candidate {
                id,
                sequence,
                source: Source::Sites(vec![indicator]),
            }),
            Err(e) => skipped.push(format!("{e} (in {})", path.display())),
        }
    }
    Ok(candidates)
}

fn uniprot_candidates(
    args: &HeadsArgs,
    fasta: Option<&[protscope::io::FastaRecord]>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<(Vec<String>, Vec<Candidate>)> {
    let types = args.types.as_deref().context("--uniprot needs --types")?;
    let selection = FeatureSelection::with_types(types)?;
    let mut entries = Vec::new();
    for path in &args.uniprot {
        entries.extend(read_entries(path, None)?);
    }
    let names = selection.types.clone();
    let mut candidates = Vec::new();
    let mut problems = Vec::new();
    let mut unmatched = Vec::new();
    let mut add = |id: &str, entry: &protscope::annotation::Entry, sequence: Option<&str>| {
        match residue_mask(entry, &selection, sequence, &MaskOptions::default()) {
            Ok(mask) => {
                if let Some(note) = mask.summary() {
                    eprintln!("note: {note}");
                }
                let columns = names
                    .iter()
                    .map(|t| mask.column(t).map(<[bool]>::to_vec))
                    .collect::<Option<Vec<_>>>();
                match columns {
                    Some(columns) => candidates.push(Candidate {
                        id: id.to_string(),
                        sequence: mask.sequence.clone(),
                        source: Source::Sites(columns),
                    }),
                    None => problems.push(format!("{id}: mask lacks a selected type")),
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    };
    match fasta {
        Some(records) => {
            for r in records {
                let found = entries
                    .iter()
                    .find(|e| e.accession == r.accession() || e.accession == r.id);
                match found {
                    Some(entry) => add(&r.id, entry, Some(&r.sequence)),
                    None => {
                        unmatched.push(format!("{}: no UniProt entry with this accession", r.id))
                    }
                }
            }
        }
        None => {
            for entry in &entries {
                add(&entry.accession, entry, None);
            }
        }
    }
    skipped.extend(problems);
    skipped.extend(unmatched);
    Ok((names, candidates))
}

fn structure_candidates(
    dir: &Path,
    fasta: Option<&[protscope::io::FastaRecord]>,
) -> anyhow::Result<Vec<Candidate>> {
    if !dir.is_dir() {
        bail!("{}: --structures must be a folder", dir.display());
    }
    let folder = structure::StructureFolder::open(dir)?;
    let mut candidates = Vec::new();
    match fasta {
        Some(records) => {
            for r in records {
                let (path, chain) = folder.find(&r.id).with_context(|| {
                    format!(
                        "{}: no structure file for this record in {} (expected NAME.pdb/.cif for \
                         a record NAME, NAME.CHAIN or NAME_CHAIN)",
                        r.id,
                        dir.display()
                    )
                })?;
                candidates.push(Candidate {
                    id: r.id.clone(),
                    sequence: r.sequence.clone(),
                    source: Source::Structure {
                        path,
                        chain,
                        sequence: r.sequence.clone(),
                    },
                });
            }
        }
        None => {
            for (id, path, chain) in folder.chains(None)? {
                let sequence = chain.sequence();
                candidates.push(Candidate {
                    id,
                    sequence: sequence.clone(),
                    source: Source::Structure {
                        path,
                        chain: Some(chain.chain.clone()),
                        sequence,
                    },
                });
            }
        }
    }
    Ok(candidates)
}

fn structure_contacts(
    path: &Path,
    chain: Option<&str>,
    sequence: &str,
    cutoff: f64,
    min_separation: usize,
    atom: ContactAtom,
) -> protscope::Result<ContactMap> {
    let s = structure::read_structure(path)?;
    let chain = s.chain(chain, Some(0))?;
    let mapping = chain.map_to(Some(sequence), Numbering::Align)?;
    mapping.require_same_protein(&format!("{} chain {}", path.display(), chain.chain))?;
    if mapping.mismatches > 0 {
        eprintln!(
            "note: {}: {} structure residue(s) differ from the sequence",
            path.display(),
            mapping.mismatches
        );
    }
    let distances = DistanceMatrix::from_chain(&chain, &mapping, atom);
    Ok(ContactMap::from_distances(
        &distances,
        cutoff,
        min_separation,
    ))
}

/// A protein's id, sequence and 8-state secondary-structure letter per residue (None where
/// unknown).
type LabelledProtein = (String, String, Vec<Option<char>>);

/// DSSP 8-state letters on the SEQRES sequence of each structure file's chain.
fn dssp_states(
    dir: &Path,
    chain: Option<&str>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Vec<LabelledProtein>> {
    let folder = structure::StructureFolder::open(dir)?;
    let mut out = Vec::new();
    for (stem, path) in folder.files() {
        let result = (|| -> protscope::Result<LabelledProtein> {
            let parsed = structure::read_structure(path)?;
            let residues = structure::dssp::assign_secondary_structure(&parsed, chain)?;
            let chain_residues = parsed.chain(chain, Some(0))?;
            let sequence = chain_residues.sequence();
            let positions =
                structure::dssp::sequence_positions(&residues, &chain_residues, Some(&sequence))?;
            let mut states = vec![None; sequence.chars().count()];
            for (r, p) in residues.iter().zip(positions) {
                if let Some(p) = p {
                    states[p - 1] = Some(r.dssp8.letter());
                }
            }
            Ok((format!("{stem}.{}", chain_residues.chain), sequence, states))
        })();
        match result {
            Ok(row) => out.push(row),
            Err(e) => skipped.push(format!("{}: {e}", path.display())),
        }
    }
    Ok(out)
}
