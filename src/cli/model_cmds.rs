//! `attention`, `predict`, `embed`, `fetch`, `score`.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use clap::{Args, ValueEnum};

use super::common::{
    parse_index_list, print_written, progress, progress_in, to_usize_list, InputArgs, MemoryArgs,
    ModelArgs, ShardArgs,
};
use protscope::attention::contacts::{contacts_frame, predict_contacts_with, require_contact_head};
use protscope::attention::{
    attention_frame_by_layer, attention_maps, empty_attention_frame, AttentionFilter,
};
use protscope::attribution::categorical_jacobian::{
    couplings_frame, jacobian_contacts, AMINO_ACIDS,
};
use protscope::fetch::{
    default_cache_dir, fetch_antiberty, fetch_iglm, fetch_sapiens, IGLM_LICENCE,
};
use protscope::frame::{write_table, TableSink};
use protscope::model::memory::{forward_batches, forward_batches_in_input_order};
use protscope::model::outputs::{
    embeddings_frame, empty_embeddings_frame, empty_predictions_frame, frame_in_batches,
    predictions_frame, Pooling,
};
use protscope::model::scoring::{
    residue_scores_frame, score_sequences, scores_frame, ScoreMethod, ScoreOptions,
};
use protscope::model::ContactHead;
use protscope::model::{EncodedSequence, ProteinModel};

#[derive(Args, Debug)]
pub struct AttentionArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output table (.parquet or .csv): protein, layer, head, from, to, weight.
    #[arg(long)]
    pub out: PathBuf,
    /// Layers to keep (0-based, e.g. `0,3` or `0-2`); default all.
    #[arg(long)]
    pub layers: Option<String>,
    /// Heads to keep (0-based); default all.
    #[arg(long)]
    pub heads: Option<String>,
    /// Keep only rows with weight >= this.
    #[arg(long)]
    pub min_attn: Option<f32>,
}

pub fn run_attention(args: AttentionArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let filter = AttentionFilter {
        layers: match &args.layers {
            Some(l) => to_usize_list(&parse_index_list(l)?, "layer")?,
            None => Vec::new(),
        },
        heads: match &args.heads {
            Some(h) => to_usize_list(&parse_index_list(h)?, "head")?,
            None => Vec::new(),
        },
        min_weight: args.min_attn,
    };
    filter.validate(model.num_layers(), model.num_heads())?;
    let (shard, out) = args.shard.resolve(&args.out)?;
    let seqs = args.input.encode_shard(&model, shard)?;
    // Proteins in input order, each one's rows written a layer at a time: a long protein's table
    // is far larger than its maps (16 M rows per ProtBert layer at 1,000 residues).
    let ids: Vec<&str> = seqs.iter().map(|s| s.id.as_str()).collect();
    let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    let batches = forward_batches_in_input_order(
        &model,
        &ids,
        &lengths,
        args.input.batch_size,
        true,
        args.memory.bytes()?,
    )?;
    let mut sink = TableSink::create(&out, &empty_attention_frame())?;
    let bar = progress(seqs.len(), "attention");
    for batch in batches {
        let refs: Vec<&EncodedSequence> = batch.iter().map(|&i| &seqs[i]).collect();
        for maps in attention_maps(&model, &refs)? {
            attention_frame_by_layer(&maps, &filter, |mut part| {
                sink.write(&mut part)
                    .map_err(|e| protscope::Error::invalid(format!("{e:#}")))
            })?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let rows = sink.finish()?;
    print_written(&out, rows);
    Ok(())
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output table: protein, head, class, label, logit, prob.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_predict(args: PredictArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    if !model
        .outputs()
        .iter()
        .any(|h| h.level == protscope::model::OutputLevel::Sequence)
    {
        anyhow::bail!(
            "{} has no sequence-level prediction head (architecture `{}`)",
            model.dir.display(),
            model.config.architecture()
        );
    }
    let (shard, out) = args.shard.resolve(&args.out)?;
    let seqs = args.input.encode_shard(&model, shard)?;
    write_in_batches(
        &model,
        &seqs,
        args.input.batch_size,
        args.memory.bytes()?,
        false,
        &out,
        "predict",
        empty_predictions_frame(),
        |refs| Ok(predictions_frame(&model, refs)?),
    )
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("sequences").required(true).args(["fasta", "structures"])))]
pub struct ContactsPredictArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Protein sequences (FASTA).
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// Or a folder of PDB/mmCIF files: one protein `NAME.CHAIN` per file (its SEQRES sequence,
    /// else its observed residues), ready for contacts-eval.
    #[arg(long)]
    pub structures: Option<PathBuf>,
    /// With --structures: the chain to read (default: each file's first).
    #[arg(long, requires = "structures")]
    pub chain: Option<String>,
    /// How contacts are predicted: `head`, a logistic regression over the attention maps (the
    /// model's own, ESM-2's, or --contact-head); `jacobian`, the categorical Jacobian of a
    /// masked language model (Zhang et al. 2024: no training, no structures; 20 · n forward
    /// passes per protein), written as a `score` column instead of `probability`.
    #[arg(long, value_enum, default_value_t = ContactMethod::Head)]
    pub method: ContactMethod,
    /// A contact head fitted with contacts-fit (default: the model's own, ESM-2's).
    #[arg(long, conflicts_with = "method")]
    pub contact_head: Option<PathBuf>,
    /// Truncate sequences to this many tokens, the special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Sequences per padded forward pass (with --method jacobian: substituted sequences per
    /// pass).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output table: protein, i, j, probability (`score` with --method jacobian) for every
    /// residue pair i < j (1-based).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContactMethod {
    /// A logistic regression over every layer × head attention map.
    Head,
    /// The categorical Jacobian of the masked-LM output.
    Jacobian,
}

pub fn run_contacts_predict(args: ContactsPredictArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let head = match (args.method, &args.contact_head) {
        (ContactMethod::Jacobian, _) => None,
        (ContactMethod::Head, Some(path)) => Some(fitted_contact_head(&model, path)?),
        (ContactMethod::Head, None) => Some(
            require_contact_head(&model)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e}; fit one with `protscope contacts-fit` and pass --contact-head, or \
                         use --method jacobian (masked language models)"
                    )
                })?
                .clone(),
        ),
    };
    let (shard, out) = args.shard.resolve(&args.out)?;
    let mut records: Vec<(String, String)> = match (&args.fasta, &args.structures) {
        (Some(fasta), _) => protscope::io::read_fasta(fasta)?
            .into_iter()
            .map(|r| (r.id, r.sequence))
            .collect(),
        (None, Some(dir)) => protscope::structure::StructureFolder::open(dir)?
            .chains(args.chain.as_deref())?
            .into_iter()
            .map(|(id, _, chain)| (id, chain.sequence()))
            .collect(),
        (None, None) => anyhow::bail!("pass --fasta or --structures"),
    };
    if let Some(shard) = shard {
        records = shard.select(records, |r| r.0.as_str());
    }
    let seqs = records
        .iter()
        .map(|(id, sequence)| model.encode_sequence(id, sequence, args.max_len))
        .collect::<protscope::Result<Vec<_>>>()?;
    let Some(head) = head else {
        return write_jacobian_contacts(&model, &seqs, args.batch_size, &out);
    };
    write_in_batches(
        &model,
        &seqs,
        args.batch_size,
        args.memory.bytes()?,
        // The contact head reads each layer's maps as they are computed and keeps none.
        false,
        &out,
        "contacts",
        contacts_frame(&[])?,
        |refs| {
            Ok(contacts_frame(&predict_contacts_with(
                &model, &head, refs,
            )?)?)
        },
    )
}

/// Couplings from the categorical Jacobian, one protein at a time (its 20 · n substituted
/// sequences in passes of `batch_size`), streamed into the table.
fn write_jacobian_contacts(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    batch_size: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let mut sink = TableSink::create(out, &couplings_frame(&[])?)?;
    let passes: usize = seqs
        .iter()
        .map(|s| s.residues.len() * AMINO_ACIDS.len())
        .sum();
    let bar = progress_in(passes, "jacobian", "substituted sequences");
    for seq in seqs {
        let map = jacobian_contacts(model, seq, batch_size, &mut |done| bar.inc(done as u64))?;
        sink.write(&mut couplings_frame(&[map])?)?;
    }
    bar.finish_and_clear();
    let rows = sink.finish()?;
    print_written(out, rows);
    Ok(())
}

/// A head file from contacts-fit, refused for a model of another shape; a note when it was
/// fitted on other weights.
fn fitted_contact_head(model: &ProteinModel, path: &Path) -> anyhow::Result<ContactHead> {
    let (head, metadata) = ContactHead::read(path)?;
    let (layers, heads) = (model.num_layers(), model.num_heads());
    if (head.num_layers(), head.num_heads()) != (layers, heads) {
        anyhow::bail!(
            "{}: a contact head for {} layers × {} heads (fitted on {}); this model has {layers} × \
             {heads}: fit one for it with `protscope contacts-fit`",
            path.display(),
            head.num_layers(),
            head.num_heads(),
            metadata.get("model").map_or("an unrecorded model", String::as_str)
        );
    }
    if let Some(fitted_on) = metadata.get(super::contacts::MODEL_SHA256) {
        if *fitted_on != super::contacts::model_sha256(&model.dir)? {
            eprintln!(
                "note: {} was fitted on other weights of the same shape ({}); its predictions \
                 may not carry over",
                path.display(),
                metadata.get("model").map_or("?", String::as_str)
            );
        }
    }
    Ok(head)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PoolArg {
    None,
    Mean,
    Cls,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output table: protein, layer, position, embedding (list of f32).
    #[arg(long)]
    pub out: PathBuf,
    /// Layers: -1 = embedding output, 0..L-1 = block outputs; `all` for every one. Default: the
    /// last layer.
    #[arg(long, allow_hyphen_values = true)]
    pub layers: Option<String>,
    /// none = one row per residue; mean = average over residues; cls = first special token.
    #[arg(long, value_enum, default_value = "none")]
    pub pool: PoolArg,
}

pub fn run_embed(args: EmbedArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let last = model.num_layers() as i64 - 1;
    let layers = match args.layers.as_deref() {
        None => vec![last],
        Some("all") => (-1..=last).collect(),
        Some(l) => parse_index_list(l)?,
    };
    let pooling = match args.pool {
        PoolArg::None => Pooling::None,
        PoolArg::Mean => Pooling::Mean,
        PoolArg::Cls => Pooling::Cls,
    };
    let (shard, out) = args.shard.resolve(&args.out)?;
    let seqs = args.input.encode_shard(&model, shard)?;
    write_in_batches(
        &model,
        &seqs,
        args.input.batch_size,
        args.memory.bytes()?,
        false,
        &out,
        "embed",
        empty_embeddings_frame(),
        |refs| Ok(embeddings_frame(&model, refs, &layers, pooling)?),
    )
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FetchModel {
    /// AntiBERTy (antiberty==0.1.3, MIT): DIR/antiberty.
    Antiberty,
    /// Sapiens (sapiens==1.0.5, MIT): its fairseq RoBERTa checkpoints as HF folders
    /// DIR/sapiens-vh (heavy chains) and DIR/sapiens-vl (light chains).
    Sapiens,
    /// IgLM (iglm==0.1.0; JHU academic licence, non-commercial only; needs --accept-licence):
    /// DIR/iglm and DIR/iglm-s.
    Iglm,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The model to fetch (these ship inside PyPI wheels, without a model hub).
    #[arg(value_enum)]
    pub model: FetchModel,
    /// Cache folder (default: $PROTSCOPE_CACHE or ~/.cache/protscope); the model folders land
    /// in it, the wheels in DIR/wheels.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Accept IgLM's licence (JHU Academic Software License: non-commercial academic research
    /// only), which `fetch iglm` shows on stderr.
    #[arg(long)]
    pub accept_licence: bool,
}

pub fn run_fetch(args: FetchArgs) -> anyhow::Result<()> {
    let cache = args.dir.unwrap_or_else(default_cache_dir);
    let dirs = match args.model {
        FetchModel::Antiberty => vec![fetch_antiberty(&cache)?],
        FetchModel::Sapiens => {
            let folders = fetch_sapiens(&cache)?;
            vec![folders.heavy, folders.light]
        }
        FetchModel::Iglm => {
            eprintln!("{IGLM_LICENCE}");
            if !args.accept_licence {
                anyhow::bail!(
                    "IgLM was not fetched: its licence must be accepted first; rerun with \
                     --accept-licence to accept it"
                );
            }
            let folders = fetch_iglm(&cache, true)?;
            vec![folders.iglm, folders.iglm_s]
        }
    };
    // stdout carries just the folders, one per line, so scripts can capture them.
    for dir in dirs {
        println!("{}", dir.display());
    }
    Ok(())
}

/// Runs `table` on padded batches of at most `--batch-size` sequences of similar length that
/// fit `budget` bytes (bucketed within windows of 16 batches, rows kept in input order; every
/// sequence is checked against the budget before the first batch runs) and streams the rows to
/// `out` (written atomically when complete), with a progress bar.
/// Counts every layer's attention maps in the budget where `attentions`.
#[allow(clippy::too_many_arguments)]
fn write_in_batches(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    batch_size: usize,
    budget: usize,
    attentions: bool,
    out: &Path,
    what: &str,
    template: DataFrame,
    mut table: impl FnMut(&[&EncodedSequence]) -> anyhow::Result<DataFrame>,
) -> anyhow::Result<()> {
    let plan = |window: &[EncodedSequence]| {
        let ids: Vec<&str> = window.iter().map(|s| s.id.as_str()).collect();
        let lengths: Vec<usize> = window.iter().map(|s| s.len()).collect();
        forward_batches(model, &ids, &lengths, batch_size, attentions, budget)
    };
    plan(seqs)?;
    let mut sink = TableSink::create(out, &template)?;
    let bar = progress(seqs.len(), what);
    for window in seqs.chunks(batch_size * 16) {
        let mut rows = frame_in_batches(window, &plan(window)?, |batch| {
            let rows = table(batch).map_err(|e| protscope::Error::invalid(format!("{e:#}")))?;
            bar.inc(batch.len() as u64);
            Ok(rows)
        })?;
        sink.write(&mut rows)?;
    }
    bar.finish_and_clear();
    let rows = sink.finish()?;
    print_written(out, rows);
    Ok(())
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Output table: protein, n_scored, log_likelihood, mean_log_likelihood, perplexity,
    /// method (`causal` for decoders, `pseudo`-log-likelihood for masked LMs).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write each scored residue's log-probability and the most probable amino acid at
    /// its position (protein, position, residue, log_prob, predicted, predicted_log_prob,
    /// method).
    #[arg(long)]
    pub per_residue: Option<PathBuf>,
}

pub fn run_score(args: ScoreArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let method = ScoreMethod::for_model(&model)?;
    let seqs = args.input.encode(&model)?;
    let bar = progress(seqs.len(), "score");
    let mut scores = Vec::with_capacity(seqs.len());
    let options = ScoreOptions {
        batch_size: args.input.batch_size,
    };
    for chunk in seqs.chunks(args.input.batch_size.max(1)) {
        scores.extend(score_sequences(&model, chunk, &options)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!("· method: {}", method.name());
    write_table(&mut scores_frame(&scores)?, &args.out)?;
    print_written(&args.out, scores.len());
    if let Some(path) = &args.per_residue {
        let mut residues = residue_scores_frame(&scores)?;
        let rows = residues.height();
        write_table(&mut residues, path)?;
        print_written(path, rows);
    }
    Ok(())
}
