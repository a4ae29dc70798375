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
use protscope::attribution::flip::{flip_frame, flip_residues, residue_relevance, FlipOptions};
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
    /// Attribution table from `protscope attribute` for the same output and target.
    #[arg(long)]
    pub attributions: PathBuf,
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
    /// Residue counts to flip, e.g. `1,5,10` (0 = nothing flipped, a check).
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
    /// Random draws of k residues per protein and k.
    #[arg(long, default_value_t = 10)]
    pub random_repeats: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Output table: protein, k, n_flipped, logit_original, logit_top, logit_random_mean,
    /// logit_random_sd, drop_top, drop_random, top_positions. With --shard, a folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shard: ShardArgs,
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
    let ks = to_usize_list(&parse_index_list(&args.k)?, "k")?;
    if ks.is_empty() {
        bail!("--k needs at least one residue count");
    }
    let (output, head) = flip_output_and_head(&args)?;
    let model = args.model.load()?;
    let target = model.output(&output)?.class_index(&args.target)?;
    let table = read_table(&args.attributions)?;
    let level = Level::from_columns(args.layer, head)?;
    let relevance = residue_relevance(&table, level)
        .with_context(|| format!("in {}", args.attributions.display()))?;
    let mut records = read_fasta(&args.fasta)?;
    if let Some(shard) = shard {
        records = shard.select(records, |r| r.id.as_str());
    }
    let options = FlipOptions {
        ks,
        random_repeats: args.random_repeats,
        seed: args.seed,
        batch_size: args.batch_size.max(1),
    };
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let bar = progress(records.len(), "flip");
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
                    "{}: the attribution table's residues ({} aa) differ from the FASTA sequence \
                     after --max-len ({} aa); use the FASTA and --max-len of the attribution run",
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
            args.attributions.display(),
            missing.join(", ")
        );
    }
    // A shard may hold no records at all: it still writes its (empty) table for `merge`.
    if rows.is_empty() && !records.is_empty() {
        bail!(
            "no FASTA record has attributions in {}",
            args.attributions.display()
        );
    }
    let (_, out) = args.shard.resolve(&args.out)?;
    let mut df = flip_frame(&rows)?;
    write_table(&mut df, &out)?;
    print_written(&out, df.height());
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
