//! Pieces every model-running subcommand shares: model + device options, reading and encoding
//! FASTA records, progress bars, list parsing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use protscope::frame::shard::Shard;
use protscope::io::read_fasta;
use protscope::model::{EncodedSequence, ProteinModel, SegmentIds};

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Hugging Face model folder (config.json, weights, tokenizer files), or a repository id
    /// ORG/NAME[@REVISION] in the local Hugging Face cache (downloaded first with the `hub`
    /// feature when not cached).
    #[arg(long)]
    pub model: PathBuf,
    /// XLNet only: `none` runs the model on input ids alone (provis, ProtTrans: the default),
    /// `tokenizer` with the segment ids HF's tokenizer returns (`<cls>` in segment 2).
    #[arg(long, value_enum)]
    pub segment_ids: Option<SegmentIdsArg>,
    /// Tokens placed before every sequence's residues, space-separated vocabulary tokens: a
    /// causal model's conditioning, e.g. "[HEAVY] [HUMAN]" for IgLM. Tables leave them out;
    /// positions stay 1-based residues.
    #[arg(long)]
    pub prefix: Option<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Precision of weights and activations: f32, bf16 or f16 (half precision is meant for
    /// GPUs; README states the error it adds).
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: DtypeArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentIdsArg {
    None,
    Tokenizer,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtypeArg {
    F32,
    Bf16,
    F16,
}

impl DtypeArg {
    pub fn dtype(self) -> candle_core::DType {
        match self {
            DtypeArg::F32 => candle_core::DType::F32,
            DtypeArg::Bf16 => candle_core::DType::BF16,
            DtypeArg::F16 => candle_core::DType::F16,
        }
    }
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<ProteinModel> {
        let device = protscope::device::parse_device(&self.device)?;
        let mut model = ProteinModel::load_as(&self.model, &device, self.dtype.dtype())?;
        match self.segment_ids {
            Some(SegmentIdsArg::Tokenizer) => model.set_segment_ids(SegmentIds::Tokenizer)?,
            Some(SegmentIdsArg::None) if model.segment_ids().is_some() => {
                model.set_segment_ids(SegmentIds::None)?
            }
            _ => {}
        }
        if let Some(prefix) = &self.prefix {
            model.set_prefix(prefix)?;
        }
        Ok(model)
    }
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Protein sequences (FASTA, may be gzip-compressed). The id is the header up to the first
    /// whitespace.
    #[arg(long)]
    pub fasta: PathBuf,
    /// Truncate sequences to this many tokens, the two special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Sequences per padded forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

/// `--memory-budget` of the forward-pass commands.
#[derive(Args, Debug, Clone)]
pub struct MemoryArgs {
    /// Memory the forward passes may use, weights included (e.g. 24G, binary units; default
    /// 60 % of RAM): batches shrink to fit, and a sequence that cannot fit alone stops the run
    /// before any runs.
    #[arg(long)]
    pub memory_budget: Option<String>,
}

impl MemoryArgs {
    pub fn bytes(&self) -> anyhow::Result<usize> {
        Ok(match &self.memory_budget {
            Some(text) => protscope::model::memory::parse_bytes(text)?,
            None => protscope::model::memory::default_memory_budget(),
        })
    }
}

impl InputArgs {
    /// Reads and encodes every record; the first bad record stops the run with its name.
    pub fn encode(&self, model: &ProteinModel) -> anyhow::Result<Vec<EncodedSequence>> {
        self.encode_shard(model, None)
    }

    /// [`InputArgs::encode`] for the records of one shard (all records without one).
    pub fn encode_shard(
        &self,
        model: &ProteinModel,
        shard: Option<Shard>,
    ) -> anyhow::Result<Vec<EncodedSequence>> {
        if self.batch_size == 0 {
            anyhow::bail!("--batch-size must be at least 1");
        }
        let mut records = read_fasta(&self.fasta)?;
        if let Some(shard) = shard {
            records = shard.select(records, |r| r.id.as_str());
        }
        records
            .iter()
            .map(|r| {
                model
                    .encode_sequence(&r.id, &r.sequence, self.max_len)
                    .with_context(|| format!("in {}", self.fasta.display()))
            })
            .collect()
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct ShardArgs {
    /// Run only shard I of N (0-based): the proteins whose id hashes (64-bit FNV-1a) to I mod N.
    /// `--out` then names a folder that receives `shard-IIII-of-NNNN.parquet`; `protscope
    /// merge` joins the folder into one table.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

impl ShardArgs {
    pub fn parse(&self) -> anyhow::Result<Option<Shard>> {
        Ok(self.shard.as_deref().map(Shard::parse).transpose()?)
    }

    /// The parsed shard and the table to write: `out` itself without `--shard`, else the
    /// shard's parquet file inside the folder `out`.
    pub fn resolve(&self, out: &Path) -> anyhow::Result<(Option<Shard>, PathBuf)> {
        match self.parse()? {
            Some(shard) => Ok((Some(shard), shard.output_in(out)?)),
            None => Ok((None, out.to_path_buf())),
        }
    }
}

/// A progress bar on stderr for `total` proteins (hidden when there is only one).
pub fn progress(total: usize, what: &str) -> ProgressBar {
    progress_in(total, what, "proteins")
}

/// A progress bar on stderr for `total` things counted in `unit` (hidden when there is only
/// one).
pub fn progress_in(total: usize, what: &str, unit: &str) -> ProgressBar {
    if total <= 1 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Parses `0,3,5-7` into indices.
pub fn parse_index_list(text: &str) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-').filter(|(a, _)| !a.is_empty()) {
            let a: i64 = a
                .trim()
                .parse()
                .with_context(|| format!("`{part}` is not a range"))?;
            let b: i64 = b
                .trim()
                .parse()
                .with_context(|| format!("`{part}` is not a range"))?;
            if b < a {
                anyhow::bail!("range `{part}` is empty");
            }
            out.extend(a..=b);
        } else {
            out.push(
                part.parse()
                    .with_context(|| format!("`{part}` is not an index"))?,
            );
        }
    }
    Ok(out)
}

pub fn to_usize_list(values: &[i64], what: &str) -> anyhow::Result<Vec<usize>> {
    values
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| anyhow::anyhow!("{what} {v} must be >= 0")))
        .collect()
}

pub fn print_written(path: &Path, rows: usize) {
    eprintln!("wrote {rows} rows to {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists() {
        assert_eq!(parse_index_list("0,3, 5-7").unwrap(), vec![0, 3, 5, 6, 7]);
        assert_eq!(parse_index_list("-1,2").unwrap(), vec![-1, 2]);
        assert!(parse_index_list("a").is_err());
        assert!(parse_index_list("5-2").is_err());
    }
}
