//! The `protscope` command line: thin wrappers around the library.

pub mod annot;
pub mod attribute;
pub mod bench;
pub mod common;
pub mod contacts;
pub mod demo;
pub mod dev;
pub mod heads;
pub mod merge;
pub mod model_cmds;
pub mod probe;
pub mod regions;
pub mod relevance;
pub mod report;
pub mod secondary_structure;
pub mod view;

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
    /// Attention weights per layer and head as a long table.
    Attention(model_cmds::AttentionArgs),
    /// Class logits and probabilities of every sequence-level prediction output.
    Predict(model_cmds::PredictArgs),
    /// Per-residue or pooled hidden states.
    Embed(model_cmds::EmbedArgs),
    /// Integrated gradients at the embedding layer and (with --latent) inside every head.
    Attribute(attribute::AttributeArgs),
    /// The README's main job: AntiBERTy on 171 real antibodies, ending in an HTML report.
    Demo(demo::DemoArgs),
    /// Download and prepare model folders from PyPI wheels: AntiBERTy, Sapiens (two RoBERTa
    /// folders) or IgLM (two GPT-2 folders; licence accepted with --accept-licence).
    Fetch(model_cmds::FetchArgs),
    /// Log-likelihood of each sequence under a language model: causal (decoders such as IgLM)
    /// or pseudo-log-likelihood (masked LMs such as Sapiens, AntiBERTy).
    Score(model_cmds::ScoreArgs),
    /// Print or write UniProt features (or per-residue masks with --residues).
    Features(annot::FeaturesArgs),
    /// IMGT framework/CDR regions of antibody variable domains (FASTA in, feature table out).
    Regions(regions::RegionsArgs),
    /// Contact map of one chain of a PDB/mmCIF structure.
    Contacts(annot::ContactsArgs),
    /// DSSP secondary structure (8 and 3 states) of one chain of a PDB/mmCIF structure, placed
    /// on the chain's sequence positions.
    SecondaryStructure(secondary_structure::SecondaryStructureArgs),
    /// Residue contacts predicted from attention by a contact head (the model's own, ESM-2's, or
    /// one fitted with contacts-fit), or from a masked LM's categorical Jacobian.
    ContactsPredict(model_cmds::ContactsPredictArgs),
    /// Predicted contacts scored against structures as ESM scores them (P@L by range).
    ContactsEval(contacts::ContactsEvalArgs),
    /// Fit a contact head on structures for any model (Rao et al.'s L1 logistic regression over
    /// every layer × head attention map).
    ContactsFit(contacts::ContactsFitArgs),
    /// Where in depth a model knows contacts: a contact head fitted on each layer's heads (and
    /// one on all layers) on some structures, each scored on the others by esm's P@L.
    ContactsLayers(contacts::ContactsLayersArgs),
    /// Which attention heads track a property: sites, UniProt features, contacts, amino acids.
    Heads(heads::HeadsArgs),
    /// Per-layer linear probes (BERTology §5): secondary structure, binding sites, antibody
    /// regions or contacts, one classifier per layer.
    Probe(probe::ProbeArgs),
    /// Relevance statistics of an attribution table against residue annotations.
    RelevanceStats(relevance::RelevanceStatsArgs),
    /// Faithfulness check: flip the most relevant residues (alanine, PAD, MASK or random) and
    /// watch the target logit against random orders; AOPC per method, curves figure.
    Flip(relevance::FlipArgs),
    /// Sanity check (Adebayo et al. 2018): cascading randomisation of the head, then the layers
    /// from the top down; each method's rank correlation with its original map.
    Sanity(relevance::SanityArgs),
    /// xai-proteins' control: the Jaccard overlap of significant heads between two
    /// `relevance-stats` tables (a fine-tuned model against the same architecture with shuffled
    /// weights, `sanity --shuffled-model`).
    Jaccard(relevance::JaccardArgs),
    /// One self-contained HTML report from the tables of a finished run folder.
    Report(report::ReportArgs),
    /// Interactive one-file HTML views of one protein: its structure in 3D with attention drawn
    /// on it (--structure), and its attention as head and model views (bertviz's, for long
    /// proteins).
    View(view::ViewArgs),
    /// The shard tables of a `--shard I/N` run folder as one table (every shard must be there).
    Merge(merge::MergeArgs),
    /// Developer tools: random-weight model folders of real shapes.
    Dev(dev::DevArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    if std::env::var_os("PROTSCOPE_REPORT_PEAK_RSS").is_some() {
        report_peak_rss();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", with_flags(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Attention(a) => model_cmds::run_attention(a),
        Command::Predict(a) => model_cmds::run_predict(a),
        Command::Embed(a) => model_cmds::run_embed(a),
        Command::Attribute(a) => attribute::run_attribute(a),
        Command::Fetch(a) => model_cmds::run_fetch(a),
        Command::Score(a) => model_cmds::run_score(a),
        Command::Demo(a) => demo::run_demo(a),
        Command::Features(args) => annot::run_features(args),
        Command::Regions(args) => regions::run_regions(args),
        Command::Contacts(args) => annot::run_contacts(args),
        Command::SecondaryStructure(args) => secondary_structure::run_secondary_structure(args),
        Command::ContactsPredict(args) => model_cmds::run_contacts_predict(args),
        Command::ContactsEval(args) => contacts::run_contacts_eval(args),
        Command::ContactsFit(args) => contacts::run_contacts_fit(args),
        Command::ContactsLayers(args) => contacts::run_contacts_layers(args),
        Command::Heads(args) => heads::run_heads(args),
        Command::Probe(args) => probe::run_probe(args),
        Command::RelevanceStats(args) => relevance::run_relevance_stats(args),
        Command::Flip(args) => relevance::run_flip(args),
        Command::Sanity(args) => relevance::run_sanity(args),
        Command::Jaccard(args) => relevance::run_jaccard(args),
        Command::Report(args) => report::run_report(args),
        Command::View(args) => view::run_view(args),
        Command::Merge(args) => merge::run_merge(args),
        Command::Dev(args) => dev::run_dev(args),
    }
}

/// Prints `peak_rss_kb=N` (VmHWM from /proc/self/status) to stderr: used by the memory tests.
fn report_peak_rss() {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
        {
            eprintln!("peak_rss_kb={kb}");
        }
    }
}

/// Library settings the command line sets with a flag of another name than the field's
/// kebab-case (`AttentionOptions::min_weight` is `--min-attn`).
const FIELD_FLAGS: &[(&str, &str)] =
    &[("c", "l1"), ("min_weight", "min-attn"), ("pooling", "pool")];

/// Library fields that have a flag of the same name in kebab-case.
const FIELDS_WITH_FLAGS: &[&str] = &[
    "batch_size",
    "baseline",
    "chain",
    "device",
    "heads",
    "hidden",
    "input",
    "intermediate",
    "latent",
    "layers",
    "max_delta",
    "max_len",
    "max_positions",
    "max_proteins",
    "max_steps",
    "memory_budget",
    "out",
    "seed",
    "shard",
    "steps",
];

/// A library message with the fields it names (`` `max_len` ``, `` `steps` = 0 ``) written as
/// the command line's flags (`--max-len`, `--steps 0`): the library names its own settings, and
/// the command line says which flag sets them.
pub fn with_flags(message: &str) -> String {
    let mut out = message.to_string();
    let fields = FIELD_FLAGS
        .iter()
        .copied()
        .chain(FIELDS_WITH_FLAGS.iter().map(|f| (*f, "")));
    for (field, flag) in fields {
        let flag = if flag.is_empty() {
            field.replace('_', "-")
        } else {
            flag.to_string()
        };
        out = out
            .replace(&format!("`{field}` = "), &format!("--{flag} "))
            .replace(&format!("`{field}`"), &format!("--{flag}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_flags;

    #[test]
    fn library_fields_become_flags() {
        assert_eq!(
            with_flags("`steps` = 0: must be at least 1"),
            "--steps 0: must be at least 1"
        );
        assert_eq!(
            with_flags("raise `memory_budget` or set `min_weight`; record `long`"),
            "raise --memory-budget or set --min-attn; record `long`"
        );
    }
}
