//! `protscope relevance-stats` and `protscope flip`: statistics and a faithfulness check of
//! attribution tables; thin over [`protscope::stats`] and [`protscope::attribution::flip`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::common::{
    parse_index_list, print_written, progress, to_usize_list, ModelArgs, ShardArgs,
};
use super::heads::side_path;
use protscope::annotation::{self, read_entries, read_sites, FeatureSelection};
use protscope::attribution::flip::{
    aopc, aopc_frame, flip_frame, flip_residues, residue_relevance, FlipOptions, Replacement,
};
use protscope::frame::{read_table, write_table};
use protscope::io::read_fasta;
use protscope::model::Level;
use protscope::stats::annotated::{annotated_positions, residues_from_tokens};
use protscope::stats::relevance_statistics;

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("annotation_source").required(true).args(["uniprot", "sites"])
))]
pub struct RelevanceStatsArgs {
    /// Attribution table from `protscope attribute` (protein, layer, head, position, residue,
    /// relevance).
    #[arg(long)]
    pub attributions: PathBuf,
    /// UniProt files (flat, XML, JSON, TSV, GFF) whose accessions are the table's proteins.
    #[arg(long, num_args = 1.., requires = "types")]
    pub uniprot: Vec<PathBuf>,
    /// Comma-separated feature types for --uniprot, e.g. "Binding site,Active site".
    #[arg(long)]
    pub types: Option<String>,
    /// Site sets (JSONL {"id", "sequence", "sites"}, 1-based) keyed by the table's proteins.
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// Name of the --sites property (used in messages only).
    #[arg(long, default_value = "site")]
    pub property: String,
    /// Significance level for the FDR-adjusted p-values.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Output table: one row per (layer, head) (layer = head = −1: embedding level) with layer,
    /// head, n_proteins, n_r, mean_r, median_r, t_statistic, t_p, t_p_fdr, t_p_bonferroni,
    /// mean_rra, wilcoxon_statistic, wilcoxon_p, wilcoxon_p_fdr, wilcoxon_p_bonferroni,
    /// shapiro_w, shapiro_p, significant. Per-protein scores go to <stem>.per_protein.<ext>.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_relevance_stats(args: RelevanceStatsArgs) -> anyhow::Result<()> {
    protscope::frame::TableFormat::from_path(&args.out)?;
    let table = read_table(&args.attributions)?;
    // The embedding-level rows give each protein's residues as the model saw them.
    let sequences: BTreeMap<String, String> = residue_relevance(&table, Level::Embedding)
        .with_context(|| format!("in {}", args.attributions.display()))?
        .into_iter()
        .map(|(protein, (values, residues))| {
            let residues = residues.map(|r| residues_from_tokens(split_tokens(&r)));
            // Without a residue column, positions can only be range-checked.
            (
                protein,
                residues.unwrap_or_else(|| "X".repeat(values.len())),
            )
        })
        .collect();
    let has_residues = table.column("residue").is_ok();
    let (entries, selection) = if let Some(path) = &args.sites {
        let feature_type = annotation::type_from_name("Site");
        let entries: Vec<_> = read_sites(path)?
            .iter()
            .map(|s| {
                let mut e = s.to_entry(&feature_type);
                if !has_residues {
                    e.sequence = None;
                }
                e
            })
            .collect();
        (entries, FeatureSelection::all())
    } else {
        let types = args.types.as_deref().context("--uniprot needs --types")?;
        let mut entries = Vec::new();
        for path in &args.uniprot {
            entries.extend(read_entries(path, None)?);
        }
        if !has_residues {
            for e in &mut entries {
                e.sequence = None;
            }
        }
        (entries, FeatureSelection::with_types(types)?)
    };
    if !has_residues {
        eprintln!(
            "note: {} has no residue column; annotated sequences cannot be compared, only \
             positions range-checked",
            args.attributions.display()
        );
    }
    let annotated = annotated_positions(&sequences, &entries, &selection);
    for note in &annotated.notes {
        eprintln!("note: {note}");
    }
    for problem in &annotated.problems {
        eprintln!("left out: {problem}");
    }
    if annotated.positions.is_empty() {
        bail!(
            "no protein of {} could be annotated ({} left out, see above)",
            args.attributions.display(),
            annotated.problems.len()
        );
    }
    // Only proteins with a checked annotation enter the statistics.
    let keep: Vec<&str> = annotated.positions.keys().map(String::as_str).collect();
    let mask = table
        .column("protein")?
        .cast(&polars::prelude::DataType::String)?
        .str()?
        .iter()
        .map(|p| p.is_some_and(|p| keep.contains(&p)))
        .collect::<polars::prelude::BooleanChunked>();
    let table = table.filter(&mask)?;
    let stats = relevance_statistics(&table, &annotated.positions, args.alpha)?;
    if !stats.skipped_proteins.is_empty() {
        eprintln!(
            "left out (no annotated {} residue): {}",
            args.property,
            stats.skipped_proteins.join(", ")
        );
    }
    eprintln!(
        "{} heads significant at FDR {} ({} proteins; {} of {} heads' r not normal by \
         Shapiro–Wilk)",
        stats.heads.iter().filter(|h| h.significant).count(),
        args.alpha,
        stats.n_proteins_in_table - stats.skipped_proteins.len(),
        stats.non_normal_heads,
        stats.normality_tested_heads
    );
    let mut df = stats.to_frame()?;
    write_table(&mut df, &args.out)?;
    let mut per_protein = stats.per_protein_frame()?;
    write_table(&mut per_protein, &side_path(&args.out, "per_protein"))?;
    print_written(&args.out, df.height());
    Ok(())
}

/// `residue_relevance` joins residue tokens without a separator; tokens are single letters or
/// bracketed specials such as `[UNK]` / `<unk>`.
fn split_tokens(joined: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = joined;
    while let Some(c) = rest.chars().next() {
        let close = match c {
            '[' => rest.find(']'),
            '<' => rest.find('>'),
            _ => None,
        };
        let len = close.map_or(c.len_utf8(), |i| i + 1);
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

#[derive(Args, Debug)]
pub struct FlipArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Attribution tables from `protscope attribute` for the same output and target, one per
    /// method: `NAME=PATH` (e.g. `ig=ig.parquet attnlrp=lrp.parquet`), or a path (named by its
    /// file stem).
    #[arg(long, num_args = 1.., required = true)]
    pub attributions: Vec<String>,
    /// What a flipped residue becomes.
    #[arg(long, value_enum, default_value = "pad")]
    pub replacement: ReplacementArg,
    /// Also draw the curves (one line per method, random order dashed; .png or .svg).
    #[arg(long)]
    pub figure: Option<PathBuf>,
    /// The sequences the attributions were computed on (FASTA).
    #[arg(long)]
    pub fasta: PathBuf,
    /// Truncate sequences to this many tokens (as for `attribute`).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Prediction output whose logit is watched (e.g. classifier, species).
    #[arg(long)]
    pub output: Option<String>,
    /// Target class: index or label name.
    #[arg(long)]
    pub target: String,
    /// Residue counts to flip, e.g. `1,2,4,8,16,32,64` (0 = nothing flipped, a check), and
    /// shares of the length, e.g. `0.05,0.1` or `5%,10%`.
    #[arg(long, default_value = "1,5,10")]
    pub k: String,
    /// Relevance rows to rank residues by: layer (−1 = embedding level) …
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub layer: i64,
    /// … and attention head within the layer (−1 at the embedding level). Scripts written before
    /// 0.2 passed the prediction output here (`--head species`) and the attention head as
    /// `--head-index`: both still work.
    #[arg(long, allow_hyphen_values = true)]
    pub head: Option<String>,
    /// Former name of `--head` (the attention head).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub head_index: Option<i64>,
    /// Random orders per protein (the first k residues of each are flipped, for every k).
    #[arg(long, default_value_t = 10)]
    pub random_repeats: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Output table: protein, method, replacement, k, fraction, n_flipped, logit_original,
    /// logit_top, logit_random_mean, logit_random_sd, drop_top, drop_random, top_positions;
    /// AOPC per method and protein goes to <stem>.aopc.<ext>. With --shard, a folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shard: ShardArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReplacementArg {
    Alanine,
    Pad,
    Mask,
    Random,
}

impl From<ReplacementArg> for Replacement {
    fn from(arg: ReplacementArg) -> Self {
        match arg {
            ReplacementArg::Alanine => Replacement::Alanine,
            ReplacementArg::Pad => Replacement::Pad,
            ReplacementArg::Mask => Replacement::Mask,
            ReplacementArg::Random => Replacement::Random,
        }
    }
}

/// `--k`: residue counts and shares of the length (`0.1`, `10%`).
fn parse_flip_counts(text: &str) -> anyhow::Result<(Vec<usize>, Vec<f64>)> {
    let (mut ks, mut fractions) = (Vec::new(), Vec::new());
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(percent) = part.strip_suffix('%') {
            let p: f64 = percent
                .trim()
                .parse()
                .with_context(|| format!("--k: `{part}` is not a percentage"))?;
            fractions.push(p / 100.0);
        } else if part.contains('.') {
            fractions.push(
                part.parse()
                    .with_context(|| format!("--k: `{part}` is not a share of the length"))?,
            );
        } else {
            ks.extend(to_usize_list(&parse_index_list(part)?, "k")?);
        }
    }
    if let Some(f) = fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
        bail!("--k: the share {f} is outside 0..1 (e.g. 0.1 or 10%)");
    }
    Ok((ks, fractions))
}

/// `NAME=PATH` or `PATH` (named by its file stem).
fn method_and_path(text: &str) -> (String, PathBuf) {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (name.to_string(), PathBuf::from(path))
        }
        _ => {
            let path = PathBuf::from(text);
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| text.to_string());
            (stem, path)
        }
    }
}

/// The prediction output and the attention head index of `flip`, from `--output` and `--head`
/// or from the flags of scripts written before 0.2 (`--head OUTPUT --head-index N`).
fn flip_output_and_head(args: &FlipArgs) -> anyhow::Result<(String, i64)> {
    let head_number = args.head.as_deref().map(|h| h.parse::<i64>());
    let (legacy_output, head) = match (head_number, &args.head) {
        (Some(Ok(n)), _) => (None, Some(n)),
        (Some(Err(_)), Some(name)) => (Some(name.clone()), None),
        _ => (None, None),
    };
    let head = match (head, args.head_index) {
        (Some(_), Some(_)) => {
            bail!("give the attention head once: --head N (--head-index is its old name)")
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => -1,
    };
    let output = match (&args.output, legacy_output) {
        (Some(o), None) => o.clone(),
        (None, Some(o)) => o,
        (Some(_), Some(name)) => bail!(
            "--head {name}: --head is the attention head's index; the prediction output is --output"
        ),
        (None, None) => bail!(
            "--output is required: the prediction output whose logit is watched (e.g. species)"
        ),
    };
    Ok((output, head))
}

pub fn run_flip(args: FlipArgs) -> anyhow::Result<()> {
    let shard = args.shard.parse()?;
    if shard.is_none() {
        protscope::frame::TableFormat::from_path(&args.out)?;
    }
    let (ks, fractions) = parse_flip_counts(&args.k)?;
    if ks.is_empty() && fractions.is_empty() {
        bail!("--k needs at least one residue count or share");
    }
    let (output, head) = flip_output_and_head(&args)?;
    let model = args.model.load()?;
    let target = model.output(&output)?.class_index(&args.target)?;
    let level = Level::from_columns(args.layer, head)?;
    let mut records = read_fasta(&args.fasta)?;
    if let Some(shard) = shard {
        records = shard.select(records, |r| r.id.as_str());
    }
    let mut rows = Vec::new();
    for spec in &args.attributions {
        let (method, path) = method_and_path(spec);
        let table = read_table(&path)?;
        let relevance =
            residue_relevance(&table, level).with_context(|| format!("in {}", path.display()))?;
        let options = FlipOptions {
            ks: ks.clone(),
            fractions: fractions.clone(),
            replacement: args.replacement.into(),
            method: method.clone(),
            random_repeats: args.random_repeats,
            seed: args.seed,
            batch_size: args.batch_size.max(1),
        };
        let mut missing = Vec::new();
        let before = rows.len();
        let bar = progress(records.len(), &format!("flip {method}"));
        for record in &records {
            bar.inc(1);
            let Some((values, residues)) = relevance.get(&record.id) else {
                missing.push(record.id.clone());
                continue;
            };
            let seq = model
                .encode_sequence(&record.id, &record.sequence, args.max_len)
                .with_context(|| format!("in {}", args.fasta.display()))?;
            if let Some(residues) = residues {
                let expected: String = seq.residues.iter().collect();
                let seen = residues_from_tokens(split_tokens(residues));
                if !same_residues(&seen, &expected) {
                    bail!(
                        "{}: the attribution table's residues ({} aa) differ from the FASTA \
                         sequence after --max-len ({} aa); use the FASTA and --max-len of the \
                         attribution run",
                        record.id,
                        seen.len(),
                        expected.len()
                    );
                }
            }
            rows.extend(flip_residues(
                &model, &seq, &output, target, values, &options,
            )?);
        }
        bar.finish_and_clear();
        if !missing.is_empty() {
            eprintln!(
                "not in {} (left out): {}",
                path.display(),
                missing.join(", ")
            );
        }
        // A shard may hold no records at all: it still writes its (empty) table for `merge`.
        if rows.len() == before && !records.is_empty() {
            bail!("no FASTA record has attributions in {}", path.display());
        }
    }
    let (_, out) = args.shard.resolve(&args.out)?;
    let mut df = flip_frame(&rows)?;
    write_table(&mut df, &out)?;
    print_written(&out, df.height());
    let aopc_path = protscope::frame::side_path(&out, "aopc");
    let mut aopc_table = aopc_frame(&aopc(&rows))?;
    write_table(&mut aopc_table, &aopc_path)?;
    print_written(&aopc_path, aopc_table.height());
    if let Some(figure) = &args.figure {
        let curves = protscope::plot::FlipCurves::from_frame(&df)?;
        protscope::plot::flip_curves("flip_curves", "Residue flipping", &curves)?.save(figure)?;
        eprintln!("wrote {}", figure.display());
    }
    Ok(())
}

/// Residue strings equal, with X in the table matching any residue (unknown-token positions).
fn same_residues(table: &str, fasta: &str) -> bool {
    table.len() == fasta.len()
        && table
            .chars()
            .zip(fasta.chars())
            .all(|(a, b)| a == 'X' || a.eq_ignore_ascii_case(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_splitting() {
        assert_eq!(
            split_tokens("A[UNK]C<unk>"),
            vec!["A", "[UNK]", "C", "<unk>"]
        );
        assert!(same_residues("AXC", "ABC"));
        assert!(!same_residues("AXC", "ABD"));
    }
}

#[derive(Args, Debug)]
pub struct SanityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Protein sequences (FASTA).
    #[arg(long)]
    pub fasta: PathBuf,
    /// Truncate sequences to this many tokens, the special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Prediction output whose logit is explained (e.g. classifier, species).
    #[arg(long)]
    pub output: String,
    /// Target class: index or label name.
    #[arg(long)]
    pub target: String,
    /// Methods, comma-separated: ig, attnlrp, grad-input, saliency, smoothgrad, rollout.
    #[arg(long, default_value = "attnlrp,grad-input,saliency,rollout")]
    pub methods: String,
    /// IG: integration steps (Gauss-Legendre, PAD baseline).
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
    /// SmoothGrad: noisy samples.
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Seed of the weight shuffles (and of SmoothGrad's noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the randomised model folders go (one per step; default: <out stem>.models beside
    /// the table). Each is a full copy of the weights.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Also draw the curves (.png or .svg).
    #[arg(long)]
    pub figure: Option<PathBuf>,
    /// Also write a copy of the model with the head and every layer shuffled (embeddings kept)
    /// to this folder: the shuffled-weights control of `jaccard`.
    #[arg(long)]
    pub shuffled_model: Option<PathBuf>,
    /// Output table: method, protein, step, randomised, spearman.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct JaccardArgs {
    /// `relevance-stats` table of the model (e.g. fine-tuned).
    #[arg(long)]
    pub stats: PathBuf,
    /// `relevance-stats` table of the control (the same architecture with shuffled weights).
    #[arg(long)]
    pub control: PathBuf,
    /// p-value column that makes a head significant.
    #[arg(long, default_value = "t_p_fdr")]
    pub column: String,
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Also draw the layer × head grid of significant heads (trained only, control only, both)
    /// to this `.png` or `.svg`.
    #[arg(long)]
    pub figure: Option<PathBuf>,
}

pub fn run_jaccard(args: JaccardArgs) -> anyhow::Result<()> {
    use protscope::attribution::sanity::{head_overlap, jaccard_index, significant_heads};
    let trained = read_table(&args.stats)?;
    let control = read_table(&args.control)?;
    let a = significant_heads(&trained, &args.column, args.alpha)
        .with_context(|| format!("in {}", args.stats.display()))?;
    let b = significant_heads(&control, &args.column, args.alpha)
        .with_context(|| format!("in {}", args.control.display()))?;
    let shared = a.intersection(&b).count();
    println!(
        "jaccard={:.4} significant={} control_significant={} shared={} ({} < {})",
        jaccard_index(&a, &b),
        a.len(),
        b.len(),
        shared,
        args.column,
        args.alpha
    );
    if let Some(figure) = &args.figure {
        let overlap = head_overlap(&trained, &control, &args.column, args.alpha)?;
        protscope::plot::head_overlap(
            "head_overlap",
            &format!("Significant heads ({} < {})", args.column, args.alpha),
            &overlap,
        )?
        .save(figure)?;
        eprintln!("wrote {}", figure.display());
    }
    Ok(())
}

pub fn run_sanity(args: SanityArgs) -> anyhow::Result<()> {
    use protscope::attribution::sanity::{cascading_randomisation, randomisation_frame};
    use protscope::attribution::{AttributionMethod, ExplainOptions, IgOptions, SmoothGradOptions};
    protscope::frame::TableFormat::from_path(&args.out)?;
    let methods = args
        .methods
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(AttributionMethod::parse)
        .collect::<protscope::Result<Vec<_>>>()?;
    if methods.is_empty() {
        bail!("--methods needs at least one method");
    }
    let model = args.model.load()?;
    let target = model.output(&args.output)?.class_index(&args.target)?;
    let seqs = read_fasta(&args.fasta)?
        .iter()
        .map(|r| model.encode_sequence(&r.id, &r.sequence, args.max_len))
        .collect::<protscope::Result<Vec<_>>>()
        .with_context(|| format!("in {}", args.fasta.display()))?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| protscope::frame::side_path(&args.out, "models").with_extension(""));
    let options = ExplainOptions {
        ig: IgOptions {
            steps: args.steps,
            ..Default::default()
        },
        smoothgrad: SmoothGradOptions {
            samples: args.samples,
            seed: args.seed,
            ..Default::default()
        },
        latent: false,
    };
    let rows = cascading_randomisation(
        &model,
        &seqs,
        &args.output,
        &vec![target; seqs.len()],
        &methods,
        &options,
        &work_dir,
        args.seed,
    )?;
    let mut df = randomisation_frame(&rows)?;
    write_table(&mut df, &args.out)?;
    if let Some(dir) = &args.shuffled_model {
        let every_layer = protscope::attribution::sanity::RandomisationStep {
            first_layer: Some(0),
        };
        let n = protscope::attribution::sanity::randomised_copy(
            &model.dir,
            dir,
            every_layer,
            args.seed,
        )?;
        eprintln!("wrote {} ({n} tensors shuffled)", dir.display());
    }
    print_written(&args.out, df.height());
    if let Some(figure) = &args.figure {
        let curves = protscope::plot::RandomisationCurves::from_frame(&df)?;
        protscope::plot::randomisation_curves("randomisation", "Cascading randomisation", &curves)?
            .save(figure)?;
        eprintln!("wrote {}", figure.display());
    }
    Ok(())
}
