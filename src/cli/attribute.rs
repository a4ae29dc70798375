//! `protscope attribute`: integrated gradients for many proteins, resumable.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::common::{progress, InputArgs, ModelArgs, ShardArgs};
use crate::attribution::runner::{run_attribution, summary_path, AttributionJob};
use crate::attribution::{Baseline, IgOptions, LatentDerivative, Quadrature};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Gausslegendre,
    RiemannLeft,
    RiemannRight,
    RiemannMiddle,
    RiemannTrapezoid,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BaselineArg {
    Pad,
    Mask,
    Zero,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LatentDerivativeArg {
    /// Finite differences over the α-nodes (numpy.gradient), as the paper's code.
    Fd,
    /// Exact derivative at every node (forward-mode pass; about one more forward of work).
    Exact,
}

#[derive(Args, Debug)]
pub struct AttributeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Protein sequences (FASTA).
    #[arg(long)]
    pub fasta: PathBuf,
    /// Truncate sequences to this many tokens, the two special tokens included.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Prediction head whose logit is attributed (e.g. classifier, species, chain).
    #[arg(long)]
    pub head: String,
    /// Target class: index or label name.
    #[arg(long)]
    pub target: String,
    /// Integration steps (the paper uses 500).
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    #[arg(long, value_enum, default_value = "gausslegendre")]
    pub method: MethodArg,
    #[arg(long, value_enum, default_value = "pad")]
    pub baseline: BaselineArg,
    /// Also attribute to every attention head of every layer (one pass).
    #[arg(long)]
    pub latent: bool,
    /// How latent IG gets each context's derivative along the path.
    #[arg(long, value_enum, default_value = "fd", requires = "latent")]
    pub latent_derivative: LatentDerivativeArg,
    /// α-steps per forward/backward pass; default: as many as fit in about 2 GiB of activations.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Compute at most this many new proteins, then stop (re-run to continue).
    #[arg(long)]
    pub max_proteins: Option<usize>,
    /// Output table (.parquet or .csv); the per-protein summary goes to <stem>.summary.<ext>.
    /// With --shard, a folder (shard-IIII-of-NNNN.parquet and .summary.parquet).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shard: ShardArgs,
}

pub fn run_attribute(args: AttributeArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let head = model.head(&args.head)?;
    let target = head.class_index(&args.target)?;
    let input = InputArgs {
        fasta: args.fasta.clone(),
        max_len: args.max_len,
        batch_size: 1,
    };
    let (shard, out) = args.shard.resolve(&args.out)?;
    let seqs = input.encode_shard(&model, shard)?;
    let job = AttributionJob {
        head: args.head.clone(),
        target,
        options: IgOptions {
            steps: args.steps,
            method: match args.method {
                MethodArg::Gausslegendre => Quadrature::GaussLegendre,
                MethodArg::RiemannLeft => Quadrature::RiemannLeft,
                MethodArg::RiemannRight => Quadrature::RiemannRight,
                MethodArg::RiemannMiddle => Quadrature::RiemannMiddle,
                MethodArg::RiemannTrapezoid => Quadrature::RiemannTrapezoid,
            },
            baseline: match args.baseline {
                BaselineArg::Pad => Baseline::Pad,
                BaselineArg::Mask => Baseline::Mask,
                BaselineArg::Zero => Baseline::Zero,
            },
            batch_size: args.batch_size,
            latent: args.latent,
            latent_derivative: match args.latent_derivative {
                LatentDerivativeArg::Fd => LatentDerivative::FiniteDifference,
                LatentDerivativeArg::Exact => LatentDerivative::Exact,
            },
        },
        out: out.clone(),
        max_new_proteins: args.max_proteins,
    };
    job.options.method.nodes(job.options.steps)?;
    let bar = progress(seqs.len(), "attribute");
    let report = run_attribution(&model, &seqs, &job, |_| bar.inc(1))?;
    bar.finish_and_clear();
    if report.finished {
        eprintln!(
            "{} proteins ({} computed now, {} from an earlier run): {} and {}",
            seqs.len(),
            report.computed,
            report.reused,
            out.display(),
            summary_path(&out).display()
        );
    } else {
        eprintln!(
            "stopped after {} new proteins ({} done in all); run the same command again to continue",
            report.computed,
            report.computed + report.reused
        );
    }
    Ok(())
}
