//! `protscope probe`: per-layer linear probes (BERTology §5; see [`protscope::probing`]).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use super::annot::AtomArg;
use super::common::ModelArgs;
use protscope::annotation::antibody::annotate_regions;
use protscope::annotation::read_sites;
use protscope::annotation::secondary::read_netsurfp_csv;
use protscope::frame::write_table;
use protscope::model::EncodedSequence;
use protscope::plot::{probing_plot, ProbingPlot};
use protscope::probing::contacts::probe_contacts;
use protscope::probing::tasks::{region_tasks, secondary_structure_task, sites_task};
use protscope::probing::{probe_frame, probe_residues, ProbeOptions, ProbeRow, ResidueTask};
use protscope::structure::{ContactAtom, DistanceMatrix, Numbering, StructureFolder};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTaskArg {
    /// 3-state secondary structure (H, E, C) from --netsurfp.
    Ss3,
    /// 8-state secondary structure from --netsurfp.
    Ss8,
    /// Binding sites (binary) from --sites.
    Sites,
    /// Antibody regions from --fasta: CDR against framework, and the seven IMGT regions.
    Regions,
    /// Contacts (Cβ < --cutoff Å, |i − j| ≥ --min-separation) from attention, on --structures.
    Contacts,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// What to probe.
    #[arg(long, value_enum)]
    pub task: ProbeTaskArg,
    /// ss3, ss8: a NetSurfP-2.0 CSV (CB513_HHblits.csv, TS115_HHblits.csv); the residues its
    /// cb513_mask marks are scored.
    #[arg(long)]
    pub netsurfp: Option<PathBuf>,
    /// sites: JSON Lines {"id", "sequence", "sites": [1-based positions]}.
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// regions: antibody sequences (FASTA); records without a V domain are skipped.
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// contacts: folder of PDB/mmCIF files, one protein per file (its SEQRES sequence, else its
    /// observed residues).
    #[arg(long)]
    pub structures: Option<PathBuf>,
    /// contacts: chain for files whose name gives none (default: each file's first).
    #[arg(long)]
    pub chain: Option<String>,
    /// contacts: a contact is a distance below this many Å.
    #[arg(long, default_value_t = 8.0)]
    pub cutoff: f64,
    /// contacts: atom standing for a residue, cb (Cα for glycine) or ca.
    #[arg(long, value_enum, default_value_t = AtomArg::Cb)]
    pub contact_atom: AtomArg,
    /// contacts: pairs at least this far apart in sequence.
    #[arg(long, default_value_t = 6)]
    pub min_separation: usize,
    /// Seed of the protein split (70 % train, 15 % validation, 15 % test).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use at most this many proteins, spread evenly over the input (memory: every layer's
    /// features are held at once, see docs/analyses.md).
    #[arg(long)]
    pub max_proteins: Option<usize>,
    /// The classifier's C (inverse L2 strength) for every layer; default: per layer, the best
    /// of 0.001, 0.01, 0.1, 1 on the validation split.
    #[arg(long)]
    pub c: Option<f64>,
    /// Truncate sequences to this many tokens, the special tokens included (default: 512, or
    /// the model's limit where lower).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Output table: task, layer, split, metric, value, n_proteins, n_examples, c.
    #[arg(long)]
    pub out: PathBuf,
    /// Also draw the test scores per layer, with their gains and centres of gravity (.svg or
    /// .png).
    #[arg(long)]
    pub figure: Option<PathBuf>,
}

fn need<'a>(
    path: &'a Option<PathBuf>,
    flag: &str,
    task: &str,
    what: &str,
) -> anyhow::Result<&'a PathBuf> {
    path.as_ref()
        .with_context(|| format!("--task {task} needs {flag} ({what})"))
}

pub fn run_probe(args: ProbeArgs) -> anyhow::Result<()> {
    if let Some(c) = args.c {
        if !(c > 0.0 && c.is_finite()) {
            bail!("--c {c}: the inverse penalty strength must be a positive number");
        }
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.max_proteins == Some(0) {
        bail!("--max-proteins must be at least 1");
    }
    let options = ProbeOptions {
        seed: args.seed,
        c: args.c,
        batch_size: args.batch_size,
        ..Default::default()
    };
    // Inputs are read (and their errors reported) before the model loads.
    let (proteins, tasks): (Vec<(String, String)>, Vec<ResidueTask>) = match args.task {
        ProbeTaskArg::Ss3 | ProbeTaskArg::Ss8 => {
            let eight = args.task == ProbeTaskArg::Ss8;
            let name = if eight { "ss8" } else { "ss3" };
            let path = need(&args.netsurfp, "--netsurfp", name, "a NetSurfP-2.0 CSV")?;
            let records = protscope::io::spread_sample(read_netsurfp_csv(path)?, args.max_proteins);
            let (p, t) = secondary_structure_task(&records, eight);
            (p, vec![t])
        }
        ProbeTaskArg::Sites => {
            let path = need(&args.sites, "--sites", "sites", "a JSONL site set")?;
            let sets = protscope::io::spread_sample(read_sites(path)?, args.max_proteins);
            let (p, t) = sites_task(&sets)?;
            (p, vec![t])
        }
        ProbeTaskArg::Regions => {
            let path = need(&args.fasta, "--fasta", "regions", "antibody sequences")?;
            let records =
                protscope::io::spread_sample(protscope::io::read_fasta(path)?, args.max_proteins);
            let result =
                annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
            for skipped in &result.skipped {
                eprintln!("skipped: {skipped}");
            }
            if result.numbered.is_empty() {
                bail!("no antibody variable domain found in {}", path.display());
            }
            let (p, t) = region_tasks(&result.numbered);
            (p, t.to_vec())
        }
        ProbeTaskArg::Contacts => {
            let dir = need(
                &args.structures,
                "--structures",
                "contacts",
                "a folder of PDB/mmCIF files",
            )?;
            return run_contacts(&args, dir, &options);
        }
    };
    let model = args.model.load()?;
    let max_len = max_len(&args, &model);
    let seqs: Vec<EncodedSequence> = proteins
        .iter()
        .map(|(id, seq)| model.encode_sequence(id, seq, Some(max_len)))
        .collect::<protscope::Result<_>>()?;
    let truncated = seqs.iter().filter(|s| s.truncated > 0).count();
    if truncated > 0 {
        eprintln!(
            "note: {truncated} sequences cut to --max-len {max_len}; their later residues are not \
             scored"
        );
    }
    let scored: usize = seqs
        .iter()
        .zip(&tasks[0].labels)
        .map(|(s, l)| l[..s.residues.len()].iter().flatten().count())
        .sum();
    eprintln!(
        "{} proteins, {scored} scored residues: features of {} layers take {:.0} MB",
        seqs.len(),
        model.num_layers() + 1,
        (scored * (model.num_layers() + 1) * model.hidden_size() * 4) as f64 / 1e6
    );
    let (split, rows) = probe_residues(&model, &seqs, &tasks, &options, |m| eprintln!("{m}"))?;
    finish(&args, &split, rows)
}

/// `--max-len`, else 512 tokens or the model's limit where lower.
fn max_len(args: &ProbeArgs, model: &protscope::model::ProteinModel) -> usize {
    args.max_len
        .unwrap_or(512.min(model.tokenizer.max_tokens()))
}

/// At most `limit` items spread evenly over `items` (`io::spread_sample` without `Clone`).
fn spread<T>(items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    let n = items.len();
    match limit {
        Some(k) if k > 0 && k < n => {
            let keep: std::collections::BTreeSet<usize> = (0..k).map(|i| i * n / k).collect();
            items
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, t)| t)
                .collect()
        }
        _ => items,
    }
}

fn run_contacts(
    args: &ProbeArgs,
    dir: &std::path::Path,
    options: &ProbeOptions,
) -> anyhow::Result<()> {
    let folder = StructureFolder::open(dir)?;
    let chains = spread(folder.chains(args.chain.as_deref())?, args.max_proteins);
    if chains.is_empty() {
        bail!("{}: no PDB or mmCIF files", dir.display());
    }
    let atom = match args.contact_atom {
        AtomArg::Ca => ContactAtom::Alpha,
        AtomArg::Cb => ContactAtom::Beta,
    };
    let model = args.model.load()?;
    let max_len = max_len(args, &model);
    let mut examples = Vec::with_capacity(chains.len());
    for (id, path, chain) in &chains {
        let sequence = chain.sequence();
        let encoded = model.encode_sequence(id, &sequence, Some(max_len))?;
        let mapping = chain
            .map_to(Some(&sequence), Numbering::Align)
            .with_context(|| format!("{}: chain residues", path.display()))?;
        let full = DistanceMatrix::from_chain(chain, &mapping, atom).contact_targets(args.cutoff);
        let (len, n) = (mapping.sequence_len, encoded.residues.len());
        let targets: Vec<i8> = (0..n)
            .flat_map(|i| full[i * len..i * len + n].iter().copied())
            .collect();
        examples.push((encoded, targets));
    }
    let (split, rows) = probe_contacts(&model, &examples, args.min_separation, options, |m| {
        if !m.starts_with("attention of") {
            eprintln!("{m}")
        }
    })?;
    finish(args, &split, rows)
}

/// Writes the table (and figure) and prints each task's test scores with their centre of
/// gravity.
fn finish(
    args: &ProbeArgs,
    split: &protscope::probing::ProteinSplit,
    rows: Vec<ProbeRow>,
) -> anyhow::Result<()> {
    let mut frame = probe_frame(&rows)?;
    write_table(&mut frame, &args.out)?;
    eprintln!(
        "wrote {}: {} train, {} validation, {} test proteins (seed {})",
        args.out.display(),
        split.train.len(),
        split.validation.len(),
        split.test.len(),
        args.seed
    );
    let plot = ProbingPlot::from_frame(&frame, "test", None)?;
    for s in &plot.series {
        let values: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{}:{}",
                    s.first_layer + i,
                    v.map_or("n/a".into(), |v| format!("{v:.3}"))
                )
            })
            .collect();
        let centre = s
            .centre_of_gravity()
            .map_or("n/a".into(), |g| format!("{g:.2}"));
        eprintln!(
            "test {}: {} (centre of gravity {centre})",
            s.label,
            values.join(" ")
        );
    }
    if let Some(path) = &args.figure {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "probing".into());
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let figure = probing_plot(&safe, "Probing per layer (test split)", &plot)?;
        figure.save(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
