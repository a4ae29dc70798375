//! `protscope view`: one-file HTML views of a protein: its structure in 3D with attention drawn
//! on it and residues coloured (see [`protscope::view::StructureView`]), and its attention as a
//! head and model view (see [`protscope::view::AttentionView`]).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::common::{parse_index_list, to_usize_list, ModelArgs};
use protscope::attention::attention_maps;
use protscope::frame::read_table;
use protscope::structure::{self, ContactAtom, ContactOptions, DistanceMatrix, Numbering};
use protscope::view::{
    b_factor_values, contact_degree_colouring, page_html, regions_colouring, relevance_colouring,
    secondary_structure_colouring, AttentionView, AttentionViewOptions, ResidueColouring,
    StructureAttention, StructureView, StructureViewOptions, View,
};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourArg {
    /// Embedding-level relevance from --relevance (diverging, zero white).
    Relevance,
    /// Attention received in the shown layer and head.
    Attention,
    /// IMGT regions (antibody V domains).
    Regions,
    /// DSSP three-state secondary structure.
    SecondaryStructure,
    /// Expected number of predicted contacts (from --contacts).
    ContactDegree,
}

impl ColourArg {
    fn matches(self, colouring: &ResidueColouring) -> bool {
        let name = colouring.name.as_str();
        match self {
            ColourArg::Relevance => name.starts_with("relevance"),
            ColourArg::Attention => false,
            ColourArg::Regions => name == "IMGT regions",
            ColourArg::SecondaryStructure => name.starts_with("secondary structure"),
            ColourArg::ContactDegree => name == "predicted contact degree",
        }
    }
}

#[derive(Args, Debug)]
pub struct ViewArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// PDB/mmCIF structure: adds the 3D view of one chain, placed on the sequence as
    /// `contacts` places it (alignment; the chain must be the sequence's protein).
    #[arg(long)]
    pub structure: Option<PathBuf>,
    /// Chain of --structure (default: its first chain with amino acids).
    #[arg(long, requires = "structure")]
    pub chain: Option<String>,
    /// The sequence (FASTA: its first record, or --protein); default: the chain's own sequence
    /// (SEQRES, else its observed residues). Needed without --structure.
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// Record of --fasta to view.
    #[arg(long)]
    pub protein: Option<String>,
    /// Truncate the sequence to this many tokens, the special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// The page (.html).
    #[arg(long)]
    pub out: PathBuf,
    /// 3D view: layer and head (0-based) whose attention is drawn first.
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// 3D view: draw pairs whose attention (the larger direction) is at least θ first.
    #[arg(long, default_value_t = 0.3)]
    pub theta: f32,
    /// 3D view: pairs below this weight are not in the page (θ cannot go lower).
    #[arg(long, default_value_t = 0.1)]
    pub min_attn: f32,
    /// An attribution table (from `attribute`): colour by its embedding-level relevance.
    #[arg(long)]
    pub relevance: Option<PathBuf>,
    /// Predicted contacts (protein, i, j, probability, 1-based, as contacts-predict writes them)
    /// drawn against the structure's contacts (Cβ, 8 Å).
    #[arg(long, requires = "structure")]
    pub contacts: Option<PathBuf>,
    /// Colouring shown first (default: relevance if given, else regions for an antibody, else
    /// secondary structure).
    #[arg(long, value_enum)]
    pub colour_by: Option<ColourArg>,
    /// Also write a copy of the structure with the --bfactor value in the B-factor column (.pdb
    /// or .cif), for PyMOL or ChimeraX.
    #[arg(long, requires = "structure")]
    pub bfactor_out: Option<PathBuf>,
    /// Value of the B-factor copy (default: --colour-by's; `attention` is the attention
    /// received in --layer/--head).
    #[arg(long, value_enum)]
    pub bfactor: Option<ColourArg>,
    /// Leave out the attention (head and model) view.
    #[arg(long)]
    pub no_attention_view: bool,
    /// Attention view: each residue's strongest edges, at most this many.
    #[arg(long, default_value_t = 8)]
    pub top_k: usize,
    /// Attention view: edges below this weight are left out.
    #[arg(long, default_value_t = 0.05)]
    pub floor: f32,
    /// Attention view: layers shown (0-based, e.g. `0,3` or `0-2`); default all.
    #[arg(long)]
    pub layers: Option<String>,
    /// Attention view: heads shown (0-based); default all.
    #[arg(long)]
    pub heads: Option<String>,
}

pub fn run_view(args: ViewArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let record = match &args.fasta {
        Some(path) => {
            let records = protscope::io::read_fasta(path)?;
            let found = match &args.protein {
                Some(id) => records.into_iter().find(|r| &r.id == id),
                None => records.into_iter().next(),
            };
            Some(found.with_context(|| {
                format!(
                    "{}: no record {}",
                    path.display(),
                    args.protein.as_deref().unwrap_or("at all")
                )
            })?)
        }
        None => None,
    };
    let loaded = match &args.structure {
        Some(path) => {
            let s = structure::read_structure(path)?;
            let chain = s.chain(args.chain.as_deref(), Some(0))?;
            Some((s, chain))
        }
        None => None,
    };
    let (protein, sequence) = match (&record, &loaded) {
        (Some(r), _) => (r.id.clone(), r.sequence.clone()),
        (None, Some((s, chain))) => {
            let stem = s
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                format!("{}.{}", stem.split('.').next().unwrap_or(""), chain.chain),
                chain.sequence(),
            )
        }
        (None, None) => bail!("give --structure, --fasta or both"),
    };
    let encoded = model.encode_sequence(&protein, &sequence, args.max_len)?;
    let residues: String = encoded.residues.iter().collect();
    let maps = attention_maps(&model, &[&encoded])?
        .pop()
        .context("the model gave no attention")?;
    let mut views: Vec<Box<dyn View>> = Vec::new();
    if let Some((s, chain)) = &loaded {
        let mapping = chain.map_to(Some(&residues), Numbering::Align)?;
        mapping.require_same_protein(&format!(
            "{protein} ({}, chain {})",
            s.path().display(),
            chain.chain
        ))?;
        let mut view = StructureView::new(&protein, &residues, s, chain, &mapping)?;
        let n = residues.chars().count();
        if let Some(path) = &args.relevance {
            view = view.colour_by(relevance_colouring(&read_table(path)?, &protein, n)?)?;
        }
        if let Some(regions) = regions_colouring(&protein, &residues) {
            view = view.colour_by(regions)?;
        }
        match secondary_structure_colouring(s, chain, &residues) {
            Ok(c) => view = view.colour_by(c)?,
            Err(e) => eprintln!("no secondary structure colouring: {e}"),
        }
        let contacts = DistanceMatrix::from_chain(chain, &mapping, ContactAtom::Beta).contacts(
            &ContactOptions {
                cutoff: 8.0,
                min_separation: 6,
                atom: ContactAtom::Beta,
            },
        );
        let truth: Vec<(usize, usize)> = contacts.iter().map(|c| (c.i - 1, c.j - 1)).collect();
        let predicted = match &args.contacts {
            Some(path) => read_predicted(path, &protein, n)?,
            None => Vec::new(),
        };
        if !predicted.is_empty() {
            view = view.colour_by(contact_degree_colouring(&predicted, n))?;
        }
        let first = args.colour_by.or_else(|| {
            [
                ColourArg::Relevance,
                ColourArg::Regions,
                ColourArg::SecondaryStructure,
            ]
            .into_iter()
            .find(|c| view.colourings.iter().any(|v| c.matches(v)))
        });
        let colouring = match first {
            Some(ColourArg::Attention) => Some("attention received (shown head)".to_string()),
            Some(c) => Some(
                view.colourings
                    .iter()
                    .find(|v| c.matches(v))
                    .with_context(|| format!("no {c:?} colouring: give its input"))?
                    .name
                    .clone(),
            ),
            None => None,
        };
        let attention = StructureAttention::from_maps(&maps, args.min_attn)?;
        if let (Some(path), Some(value)) = (&args.bfactor_out, args.bfactor.or(first)) {
            let values = match value {
                ColourArg::Attention => {
                    let k = args.layer * maps.num_heads + args.head;
                    let received = attention.received.get(k).with_context(|| {
                        format!("layer {} head {} does not exist", args.layer, args.head)
                    })?;
                    mapping
                        .positions
                        .iter()
                        .map(|p| p.map(|p| f64::from(received[p - 1])))
                        .collect()
                }
                c => b_factor_values(
                    view.colourings
                        .iter()
                        .find(|v| c.matches(v))
                        .with_context(|| format!("no {c:?} values for --bfactor"))?,
                    &mapping,
                ),
            };
            s.save_with_b_factors(chain, &values, path)?;
            eprintln!("wrote {}", path.display());
        }
        view = view.with_contacts(truth, predicted)?.with_attention(
            attention,
            StructureViewOptions {
                layer: args.layer,
                head: args.head,
                theta: args.theta.max(args.min_attn),
                colouring,
            },
        )?;
        views.push(Box::new(view));
    }
    if !args.no_attention_view {
        let list = |text: &Option<String>, what: &str| -> anyhow::Result<Vec<usize>> {
            match text {
                Some(t) => to_usize_list(&parse_index_list(t)?, what),
                None => Ok(Vec::new()),
            }
        };
        let layers = list(&args.layers, "layer")?;
        let heads = list(&args.heads, "head")?;
        // With a structure, the head drawn on it (when shown); else the first layer, all heads.
        let shown = |given: &[usize], i: usize| given.is_empty() || given.contains(&i);
        let open =
            (args.structure.is_some() && shown(&layers, args.layer) && shown(&heads, args.head))
                .then_some((args.layer, args.head));
        let options = AttentionViewOptions {
            floor: args.floor,
            top_k: args.top_k,
            layers,
            heads,
            open,
        };
        views.push(Box::new(AttentionView::from_maps(
            &maps, &residues, &options,
        )?));
    }
    if views.is_empty() {
        bail!("nothing to show: give --structure or leave out --no-attention-view");
    }
    let refs: Vec<&dyn View> = views.iter().map(|v| v.as_ref()).collect();
    let html = page_html(&format!("{protein}: protscope views"), &refs)?;
    protscope::frame::write_atomically(&args.out, html.as_bytes())?;
    eprintln!(
        "wrote {} ({:.1} MB)",
        args.out.display(),
        html.len() as f64 / 1e6
    );
    Ok(())
}

/// Predicted contacts of `protein` (0-based i < j < n, probability) from a contacts-predict
/// table.
fn read_predicted(
    path: &std::path::Path,
    protein: &str,
    n: usize,
) -> anyhow::Result<Vec<(usize, usize, f32)>> {
    use polars::prelude::DataType;
    let table = read_table(path)?;
    let column = |name: &str| {
        table
            .column(name)
            .with_context(|| format!("{}: no column `{name}`", path.display()))
    };
    let names = column("protein")?.cast(&DataType::String)?;
    let i = column("i")?.cast(&DataType::Int64)?;
    let j = column("j")?.cast(&DataType::Int64)?;
    let p = column("probability")?.cast(&DataType::Float64)?;
    let (names, i, j, p) = (names.str()?, i.i64()?, j.i64()?, p.f64()?);
    let mut out = Vec::new();
    for row in 0..table.height() {
        if names.get(row) != Some(protein) {
            continue;
        }
        let (Some(a), Some(b), Some(prob)) = (i.get(row), j.get(row), p.get(row)) else {
            bail!("{}: row {} has an empty field", path.display(), row + 1);
        };
        if a < 1 || b <= a || b as usize > n {
            bail!(
                "{}: row {}: positions must be 1-based with i < j <= {n}, got {a}, {b}",
                path.display(),
                row + 1
            );
        }
        out.push((a as usize - 1, b as usize - 1, prob as f32));
    }
    if out.is_empty() {
        bail!("{}: no predicted contacts of {protein}", path.display());
    }
    Ok(out)
}
