//! `protscope contacts-fit`: a contact head fitted on structures for any model (see
//! [`protscope::attention::contacts::fit_contact_head`]); `protscope contacts-eval`: predicted
//! contacts scored against structures the way ESM scores them (see
//! [`protscope::stats::contacts`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::annot::AtomArg;
use super::common::ModelArgs;
use protscope::attention::contacts::{
    contact_example, contact_precision_by_layer, fit_contact_head, layer_precision_frame,
    ContactExample, ContactFitOptions,
};
use protscope::frame::{read_table, side_path, write_table};
use protscope::stats::contacts::{
    evaluate_contacts, evaluation_frame, mean_frame, ContactEvaluation,
};
use protscope::stats::logistic::L1LogisticOptions;
use protscope::structure::{self, ContactAtom, DistanceMatrix, Numbering, StructureFolder};

#[derive(Args, Debug)]
pub struct ContactsEvalArgs {
    /// Predicted contacts: protein, i, j, probability (1-based, i < j), as contacts-predict
    /// writes them (or `score` instead of `probability`, from --method jacobian).
    #[arg(long)]
    pub predictions: PathBuf,
    /// Folder of PDB/mmCIF files: protein NAME's structure is NAME.pdb/.cif, or NAME.CHAIN /
    /// NAME_CHAIN names file and chain.
    #[arg(long)]
    pub structures: PathBuf,
    /// The sequences the predictions were made for; without it, each structure's own sequence
    /// (SEQRES, else its observed residues).
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// Chain for proteins whose id names none (default: the structure's first chain).
    #[arg(long)]
    pub chain: Option<String>,
    /// Contact: distance below this many Å.
    #[arg(long, default_value_t = 8.0)]
    pub cutoff: f64,
    /// Atom standing for a residue: cb (Cα for glycine) or ca.
    #[arg(long, value_enum, default_value_t = AtomArg::Cb)]
    pub contact_atom: AtomArg,
    /// Output table: protein, range, min_separation, max_separation, length, auc, p_at_l,
    /// p_at_l2, p_at_l5; beside it `<stem>.mean.<ext>` with the means per range.
    #[arg(long)]
    pub out: PathBuf,
    /// Also draw each of the first proteins' predicted (upper triangle) against true (lower
    /// triangle) contacts, top L marked, as SVG and PNG into this folder.
    #[arg(long)]
    pub figures: Option<PathBuf>,
    /// With --figures: how many proteins to draw.
    #[arg(long, default_value_t = 4, requires = "figures")]
    pub max_figures: usize,
}

/// Each protein's residue count and n × n predictions (upper triangle filled, mirrored).
type PredictionMaps = BTreeMap<String, (usize, Vec<f32>)>;

/// Each protein's n × n predictions (upper triangle filled, mirrored), and whether they are
/// couplings (`score`) rather than probabilities.
fn read_predictions(args: &ContactsEvalArgs) -> anyhow::Result<(PredictionMaps, bool)> {
    let path = &args.predictions;
    let table = read_table(path)?;
    let column = |name: &str| {
        table.column(name).with_context(|| {
            format!(
                "{}: no column `{name}` (protein, i, j, probability)",
                path.display()
            )
        })
    };
    let protein = column("protein")?.cast(&polars::prelude::DataType::String)?;
    let protein = protein.str()?;
    let i = column("i")?.cast(&polars::prelude::DataType::Int64)?;
    let j = column("j")?.cast(&polars::prelude::DataType::Int64)?;
    // Probabilities from a contact head, or couplings (`score`) from the categorical Jacobian:
    // only their order counts.
    let value = if table.column("probability").is_ok() {
        "probability"
    } else {
        "score"
    };
    let p = table
        .column(value)
        .with_context(|| {
            format!(
                "{}: no column `probability` or `score` (protein, i, j, probability as \
                 contacts-predict writes it)",
                path.display()
            )
        })?
        .cast(&polars::prelude::DataType::Float64)?;
    let (i, j, p) = (i.i64()?, j.i64()?, p.f64()?);
    let mut pairs: BTreeMap<String, Vec<(usize, usize, f32)>> = BTreeMap::new();
    for row in 0..table.height() {
        let (Some(name), Some(a), Some(b), Some(prob)) =
            (protein.get(row), i.get(row), j.get(row), p.get(row))
        else {
            anyhow::bail!("{}: row {} has an empty field", path.display(), row + 1);
        };
        if a < 1 || b <= a {
            anyhow::bail!(
                "{}: row {} (protein {name}): positions must be 1-based with i < j, got i {a}, j {b}",
                path.display(),
                row + 1
            );
        }
        pairs.entry(name.to_string()).or_default().push((
            a as usize - 1,
            b as usize - 1,
            prob as f32,
        ));
    }
    let maps = pairs
        .into_iter()
        .map(|(name, pairs)| {
            let n = pairs.iter().map(|p| p.1 + 1).max().unwrap_or(0);
            let mut matrix = vec![0f32; n * n];
            for (a, b, prob) in pairs {
                matrix[a * n + b] = prob;
                matrix[b * n + a] = prob;
            }
            (name, (n, matrix))
        })
        .collect();
    Ok((maps, value == "score"))
}

pub fn run_contacts_eval(args: ContactsEvalArgs) -> anyhow::Result<()> {
    let (predictions, couplings) = read_predictions(&args)?;
    let folder = StructureFolder::open(&args.structures)?;
    let sequences: BTreeMap<String, String> = match &args.fasta {
        Some(fasta) => protscope::io::read_fasta(fasta)?
            .into_iter()
            .map(|r| (r.id, r.sequence))
            .collect(),
        None => BTreeMap::new(),
    };
    let atom = match args.contact_atom {
        AtomArg::Ca => ContactAtom::Alpha,
        AtomArg::Cb => ContactAtom::Beta,
    };
    let mut rows = Vec::new();
    let mut drawn = 0;
    if let Some(dir) = &args.figures {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (protein, (n, matrix)) in &predictions {
        let (path, chain) = folder.find(protein).with_context(|| {
            format!(
                "{protein}: no structure file in {} (expected NAME.pdb/.cif, NAME.CHAIN or NAME_CHAIN)",
                args.structures.display()
            )
        })?;
        let s = structure::read_structure(&path)?;
        let chain = s.chain(chain.as_deref().or(args.chain.as_deref()), Some(0))?;
        let sequence = match sequences.get(protein) {
            Some(seq) => seq.clone(),
            None if args.fasta.is_some() => {
                anyhow::bail!(
                    "{protein}: not in {}",
                    args.fasta.as_ref().unwrap().display()
                )
            }
            None => chain
                .reference
                .clone()
                .unwrap_or_else(|| chain.observed_sequence()),
        };
        // The predictions cover the residues up to the last pair's j; longer sequences were
        // truncated (--max-len) and are scored on the predicted part.
        if sequence.chars().count() < *n {
            anyhow::bail!(
                "{protein}: predictions reach residue {n}, the sequence has {} residues; pass the \
                 FASTA the predictions were made from (--fasta)",
                sequence.chars().count()
            );
        }
        let sequence: String = sequence.chars().take(*n).collect();
        let mapping = chain.map_to(Some(&sequence), Numbering::Align)?;
        mapping.require_same_protein(&format!(
            "{protein} ({}, chain {})",
            path.display(),
            chain.chain
        ))?;
        let targets =
            DistanceMatrix::from_chain(&chain, &mapping, atom).contact_targets(args.cutoff);
        if let Some(dir) = &args.figures {
            if drawn < args.max_figures {
                draw_contact_map(dir, protein, *n, matrix, &targets, couplings)?;
                drawn += 1;
            }
        }
        match evaluate_contacts(matrix, &targets, *n) {
            Ok(ranges) => {
                let length = protscope::stats::contacts::resolved_residues(&targets, *n);
                rows.extend(
                    ranges
                        .into_iter()
                        .map(|(range, precisions)| ContactEvaluation {
                            protein: protein.clone(),
                            range,
                            length,
                            precisions,
                        }),
                );
            }
            Err(e) => eprintln!("note: {protein} left out: {e}"),
        }
    }
    if rows.is_empty() {
        anyhow::bail!("no protein could be scored (each needs at least 10 resolved residues)");
    }
    write_table(&mut evaluation_frame(&rows)?, &args.out)?;
    let mean_path = side_path(&args.out, "mean");
    write_table(&mut mean_frame(&rows)?, &mean_path)?;
    eprintln!(
        "wrote {} ({} proteins) and {}",
        args.out.display(),
        rows.len() / protscope::stats::contacts::CONTACT_RANGES.len(),
        mean_path.display()
    );
    Ok(())
}

/// Predicted against true contacts of one protein, as `contacts_<protein>.svg` and `.png`.
fn draw_contact_map(
    dir: &std::path::Path,
    protein: &str,
    n: usize,
    predicted: &[f32],
    targets: &[i8],
    couplings: bool,
) -> anyhow::Result<()> {
    use protscope::plot::{contact_map_plot, ContactMapPlot};
    let safe: String = protein
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let map = if couplings {
        ContactMapPlot::with_scores(
            protein,
            n,
            predicted.to_vec(),
            targets.to_vec(),
            "coupling (categorical Jacobian)",
        )
    } else {
        ContactMapPlot::new(protein, n, predicted.to_vec(), targets.to_vec())
    };
    let figure = contact_map_plot(
        &format!("contacts_{safe}"),
        &format!("Contacts of {protein}: predicted (above) and true (below)"),
        &map,
    )?;
    for ext in ["svg", "png"] {
        figure.save(&dir.join(format!("contacts_{safe}.{ext}")))?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ContactsFitArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of PDB/mmCIF training structures: one protein per file (NAME.CHAIN / NAME_CHAIN
    /// name the chain), its SEQRES sequence, else its observed residues.
    #[arg(long)]
    pub structures: PathBuf,
    /// Chain for files whose name gives none (default: each file's first).
    #[arg(long)]
    pub chain: Option<String>,
    /// Train on at most this many structures: the first in file-name order (Rao et al.: 20).
    #[arg(long, default_value_t = 20)]
    pub max_structures: usize,
    /// Inverse strength of the L1 penalty, scikit-learn's C (Rao et al.: 0.15): smaller keeps
    /// fewer heads.
    #[arg(long, default_value_t = 0.15)]
    pub l1: f64,
    /// Train on residue pairs at least this far apart in sequence (Rao et al.: 6).
    #[arg(long, default_value_t = 6)]
    pub min_separation: usize,
    /// Contact: distance below this many Å.
    #[arg(long, default_value_t = 8.0)]
    pub cutoff: f64,
    /// Atom standing for a residue: cb (Cα for glycine) or ca.
    #[arg(long, value_enum, default_value_t = AtomArg::Cb)]
    pub contact_atom: AtomArg,
    /// Fit on these layers' heads only (0-based: `3`, `0,2`, `4-7`), e.g. one layer at a time to
    /// see where in depth the model knows contacts. Default: every layer.
    #[arg(long)]
    pub layers: Option<String>,
    /// Truncate sequences to this many tokens, the special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// The fitted head (safetensors; pass it to `contacts-predict --contact-head`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Header key of a contact head file: the SHA-256 of the weights it was fitted on.
pub const MODEL_SHA256: &str = "model_sha256";

/// SHA-256 of a model folder's weights files, joined (one per shard).
pub fn model_sha256(folder: &std::path::Path) -> anyhow::Result<String> {
    let model = protscope::report::ModelProvenance::of(folder)?;
    Ok(model
        .weights
        .iter()
        .map(|w| w.sha256.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

pub fn run_contacts_fit(args: ContactsFitArgs) -> anyhow::Result<()> {
    if args.max_structures == 0 {
        anyhow::bail!("--max-structures must be at least 1");
    }
    let model = args.model.load()?;
    let folder = StructureFolder::open(&args.structures)?;
    let mut chains = folder.chains(args.chain.as_deref())?;
    if chains.is_empty() {
        anyhow::bail!("{}: no PDB or mmCIF files", args.structures.display());
    }
    chains.truncate(args.max_structures);
    let atom = match args.contact_atom {
        AtomArg::Ca => ContactAtom::Alpha,
        AtomArg::Cb => ContactAtom::Beta,
    };
    let examples = contact_examples(
        &model,
        &chains,
        atom,
        args.cutoff,
        args.max_len,
        "attention of the training structures",
    )?;
    let layers = match args.layers.as_deref() {
        Some(text) => Some(super::common::to_usize_list(
            &super::common::parse_index_list(text)?,
            "--layers",
        )?),
        None => None,
    };
    let options = ContactFitOptions {
        layers: layers.clone(),
        min_separation: args.min_separation,
        regression: L1LogisticOptions {
            c: args.l1,
            ..Default::default()
        },
    };
    let refs: Vec<(&protscope::attention::AttentionMaps, &[i8])> = examples
        .iter()
        .map(|e| (&e.maps, e.targets.as_slice()))
        .collect();
    let fit = fit_contact_head(&refs, &options)?;
    if !fit.regression.converged {
        eprintln!(
            "warning: the regression stopped after {} steps with optimality violated by {:.1e}",
            fit.regression.iterations, fit.regression.violation
        );
    }
    let kept = fit.regression.weights.iter().filter(|w| **w != 0.0).count();
    let metadata: BTreeMap<String, String> = [
        ("format", "protscope contact head 1".to_string()),
        ("model", model.dir.display().to_string()),
        (MODEL_SHA256, model_sha256(&model.dir)?),
        ("c", args.l1.to_string()),
        ("min_separation", args.min_separation.to_string()),
        ("cutoff", args.cutoff.to_string()),
        (
            "contact_atom",
            format!("{:?}", args.contact_atom).to_lowercase(),
        ),
        (
            "structures",
            chains
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("pairs", fit.pairs.to_string()),
        ("contacts", fit.contacts.to_string()),
        ("iterations", fit.regression.iterations.to_string()),
        ("nonzero_weights", kept.to_string()),
        (
            "fitted_layers",
            match &layers {
                Some(l) => l
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                None => "all".to_string(),
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    fit.head.write(&args.out, &metadata)?;
    eprintln!(
        "wrote {}: {kept} of {} heads kept, fitted on {} pairs ({} contacts) of {} structures",
        args.out.display(),
        fit.regression.weights.len(),
        fit.pairs,
        fit.contacts,
        chains.len()
    );
    Ok(())
}

/// Attention maps and contact targets of structure chains, with a progress bar.
fn contact_examples(
    model: &protscope::model::ProteinModel,
    chains: &[(String, PathBuf, protscope::structure::ChainResidues)],
    atom: ContactAtom,
    cutoff: f64,
    max_len: Option<usize>,
    what: &str,
) -> anyhow::Result<Vec<ContactExample>> {
    let bar = super::common::progress(chains.len(), what);
    let mut examples = Vec::with_capacity(chains.len());
    for (id, path, chain) in chains {
        let example = contact_example(model, id, chain, atom, cutoff, max_len)
            .with_context(|| format!("{}", path.display()))?;
        examples.push(example);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(examples)
}

#[derive(Args, Debug)]
pub struct ContactsLayersArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of PDB/mmCIF structures: one protein per file (NAME.CHAIN / NAME_CHAIN name the
    /// chain). The first --train files in name order are fitted on, the rest scored.
    #[arg(long)]
    pub structures: PathBuf,
    /// Chain for files whose name gives none (default: each file's first).
    #[arg(long)]
    pub chain: Option<String>,
    /// Structures to fit on (the first in file-name order; Rao et al.: 20).
    #[arg(long, default_value_t = 20)]
    pub train: usize,
    /// Score at most this many of the remaining structures (default: all).
    #[arg(long)]
    pub max_test: Option<usize>,
    /// Inverse strength of the L1 penalty, scikit-learn's C (Rao et al.: 0.15).
    #[arg(long, default_value_t = 0.15)]
    pub l1: f64,
    /// Contact: distance below this many Å.
    #[arg(long, default_value_t = 8.0)]
    pub cutoff: f64,
    /// Atom standing for a residue: cb (Cα for glycine) or ca.
    #[arg(long, value_enum, default_value_t = AtomArg::Cb)]
    pub contact_atom: AtomArg,
    /// Truncate sequences to this many tokens, the special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Output table: layer (0-based; empty for the head on every layer), nonzero_weights,
    /// range, proteins, auc, p_at_l, p_at_l2, p_at_l5 (means over the scored structures).
    #[arg(long)]
    pub out: PathBuf,
    /// Also draw P@L per layer and range as SVG and PNG (FILE.svg, FILE.png).
    #[arg(long)]
    pub figure: Option<PathBuf>,
}

/// `protscope contacts-layers`: a contact head per layer (and one on all layers) fitted on some
/// structures and scored on the others: where in depth the model knows contacts.
pub fn run_contacts_layers(args: ContactsLayersArgs) -> anyhow::Result<()> {
    if args.train == 0 {
        anyhow::bail!("--train must be at least 1");
    }
    let model = args.model.load()?;
    let folder = StructureFolder::open(&args.structures)?;
    let mut chains = folder.chains(args.chain.as_deref())?;
    if chains.len() <= args.train {
        anyhow::bail!(
            "{}: {} structures; --train {} leaves none to score: add structures or lower --train",
            args.structures.display(),
            chains.len(),
            args.train
        );
    }
    let mut test_chains = chains.split_off(args.train);
    if let Some(max) = args.max_test {
        test_chains.truncate(max.max(1));
    }
    let atom = match args.contact_atom {
        AtomArg::Ca => ContactAtom::Alpha,
        AtomArg::Cb => ContactAtom::Beta,
    };
    let train = contact_examples(
        &model,
        &chains,
        atom,
        args.cutoff,
        args.max_len,
        "attention of the training structures",
    )?;
    let test = contact_examples(
        &model,
        &test_chains,
        atom,
        args.cutoff,
        args.max_len,
        "attention of the test structures",
    )?;
    let options = ContactFitOptions {
        regression: L1LogisticOptions {
            c: args.l1,
            ..Default::default()
        },
        ..Default::default()
    };
    let bar = super::common::progress_in(model.num_layers() + 1, "fitting", "heads");
    let rows = contact_precision_by_layer(&train, &test, &options, &mut |_| bar.inc(1))?;
    bar.finish_and_clear();
    let mut table = layer_precision_frame(&rows)?;
    write_table(&mut table, &args.out)?;
    eprintln!(
        "wrote {}: heads fitted on {} structures, scored on {}",
        args.out.display(),
        train.len(),
        test.len()
    );
    if let Some(figure) = &args.figure {
        let model_name = model.dir.file_name().map_or_else(
            || model.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let profile = protscope::plot::LayerProfile::from_contact_layers(&table, "p_at_l")?;
        let figure_value = protscope::plot::layer_profile(
            "contacts_by_layer",
            &format!("{model_name}: contact P@L of a head fitted on one layer's heads"),
            &profile,
        )?;
        for ext in ["svg", "png"] {
            figure_value.save(&figure.with_extension(ext))?;
        }
        eprintln!("wrote {}", figure.with_extension("svg").display());
    }
    Ok(())
}
