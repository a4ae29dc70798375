//! `protscope attribute`: integrated gradients for many proteins, resumable; or another
//! attribution method (`--attribution`) into the same tables.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::common::{progress, InputArgs, ModelArgs, ShardArgs};
use protscope::attribution::memory::{default_memory_budget, parse_bytes};
use protscope::attribution::runner::{run_attribution, summary_path, AttributionJob};
use protscope::attribution::tables::{explanation_frame, explanation_summary_frame};
use protscope::attribution::{
    explain, AttributionMethod, AutoSteps, Baseline, ExplainOptions, IgOptions, LatentDerivative,
    Quadrature, SmoothGradOptions, SEQUENCE_LOG_LIKELIHOOD,
};
use protscope::frame::write_table;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttributionArg {
    /// Integrated gradients (resumable; --steps, --method, --baseline, --latent).
    Ig,
    /// AttnLRP: one modified backward pass (--latent: every head too, same pass).
    Attnlrp,
    /// Gradient x input at the embedding output.
    GradInput,
    /// |gradient| at the embedding output.
    Saliency,
    /// Saliency averaged over seeded Gaussian noise (--samples, --noise-level, --seed).
    Smoothgrad,
    /// Attention rollout (heads averaged, 0.5 A + 0.5 I, product over layers).
    Rollout,
}

impl From<AttributionArg> for AttributionMethod {
    fn from(arg: AttributionArg) -> Self {
        match arg {
            AttributionArg::Ig => AttributionMethod::IntegratedGradients,
            AttributionArg::Attnlrp => AttributionMethod::AttnLrp,
            AttributionArg::GradInput => AttributionMethod::GradientXInput,
            AttributionArg::Saliency => AttributionMethod::Saliency,
            AttributionArg::Smoothgrad => AttributionMethod::SmoothGrad,
            AttributionArg::Rollout => AttributionMethod::Rollout,
        }
    }
}

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

impl From<LatentDerivativeArg> for LatentDerivative {
    fn from(arg: LatentDerivativeArg) -> Self {
        match arg {
            LatentDerivativeArg::Fd => LatentDerivative::FiniteDifference,
            LatentDerivativeArg::Exact => LatentDerivative::Exact,
        }
    }
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
    /// Prediction output whose logit is attributed (e.g. classifier, species, chain).
    /// `--head` is its former name.
    #[arg(long, alias = "head")]
    pub output: String,
    /// Target class: index or label name. For a causal decoder's `lm` output: `loglik` (or 0),
    /// the sequence log-likelihood, or a residue position k (1-based), log p(residue k | the
    /// tokens before it).
    #[arg(long)]
    pub target: String,
    /// Attribution method. Every method writes the same relevance table; IG's summary has its
    /// completeness check, the others' summary (`attribution`, `relevance_sum`, …) their own.
    #[arg(long, value_enum, default_value = "ig")]
    pub attribution: AttributionArg,
    /// SmoothGrad: noisy copies of the embedding output averaged over.
    #[arg(long, default_value = "50")]
    pub samples: usize,
    /// SmoothGrad: noise sigma as a share of (max - min) of the protein's embedding output.
    #[arg(long, default_value = "0.1")]
    pub noise_level: f64,
    /// SmoothGrad: noise seed (each protein's stream is seeded from it and the protein id).
    #[arg(long, default_value = "0")]
    pub seed: u64,
    /// Integration steps (the paper uses 500), or `auto`: as many as needed for
    /// |delta| <= --max-delta x |F(x) - F(x')|, per protein (recorded in the summary).
    #[arg(long, default_value = "500", value_parser = parse_steps)]
    pub steps: StepsArg,
    /// With --steps auto: the completeness gap allowed, as a share of |F(x) - F(x')|.
    #[arg(long)]
    pub max_delta: Option<f64>,
    /// With --steps auto: the most steps tried; a protein that needs more keeps its result at
    /// this count (a warning, and `converged` = false in the summary).
    #[arg(long)]
    pub max_steps: Option<usize>,
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
    /// α-steps per forward/backward pass; default: as many as fit in about 2 GiB of
    /// activations and under --memory-budget.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Memory for the model and one forward/backward pass (e.g. 24G; K, M, G, T binary).
    /// Default: 60 % of the machine's memory. A protein that cannot fit stops the run before
    /// any protein is computed (README states the estimate).
    #[arg(long, value_parser = parse_memory)]
    pub memory_budget: Option<usize>,
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

fn parse_memory(text: &str) -> Result<usize, String> {
    parse_bytes(text).map_err(|e| e.to_string())
}

/// `--steps`: a number of steps or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepsArg {
    Fixed(usize),
    Auto,
}

fn parse_steps(text: &str) -> Result<StepsArg, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(StepsArg::Auto);
    }
    text.parse().map(StepsArg::Fixed).map_err(|_| {
        format!("`{text}` is neither a number of steps nor `auto` (e.g. --steps 500, --steps auto)")
    })
}

/// The fixed step count and the accuracy rule of `--steps`, `--max-delta`, `--max-steps`.
fn steps_rule(args: &AttributeArgs) -> anyhow::Result<(usize, Option<AutoSteps>)> {
    match args.steps {
        StepsArg::Fixed(steps) => {
            if args.max_delta.is_some() || args.max_steps.is_some() {
                anyhow::bail!(
                    "--max-delta and --max-steps apply to --steps auto; drop them or use --steps auto"
                );
            }
            Ok((steps, None))
        }
        StepsArg::Auto => {
            let defaults = AutoSteps::default();
            let auto = AutoSteps {
                max_delta: args.max_delta.unwrap_or(defaults.max_delta),
                max_steps: args.max_steps.unwrap_or(defaults.max_steps),
                ..defaults
            };
            Ok((auto.max_steps, Some(auto)))
        }
    }
}

/// A causal decoder's `lm` target: `loglik` → the sequence log-likelihood, k → residue k
/// (checked against each sequence's length when it runs).
fn decoder_target(text: &str) -> anyhow::Result<usize> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("loglik") {
        return Ok(SEQUENCE_LOG_LIKELIHOOD);
    }
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "--target `{text}`: a causal decoder's `lm` output takes `loglik` (the sequence \
             log-likelihood) or a 1-based residue position"
        )
    })
}

pub fn run_attribute(args: AttributeArgs) -> anyhow::Result<()> {
    let (steps, auto_steps) = steps_rule(&args)?;
    let model = args.model.load()?;
    let head = model.output(&args.output)?;
    let target = if model.is_causal() && head.level == protscope::model::OutputLevel::Token {
        decoder_target(&args.target)?
    } else {
        head.class_index(&args.target)?
    };
    let input = InputArgs {
        fasta: args.fasta.clone(),
        max_len: args.max_len,
        batch_size: 1,
    };
    let (shard, out) = args.shard.resolve(&args.out)?;
    let seqs = input.encode_shard(&model, shard)?;
    let method = AttributionMethod::from(args.attribution);
    if method != AttributionMethod::IntegratedGradients {
        return run_other_method(&args, &model, &seqs, target, method, &out);
    }
    let job = AttributionJob {
        output: args.output.clone(),
        target,
        options: IgOptions {
            steps,
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
            latent_derivative: args.latent_derivative.into(),
            // Chosen per protein from the memory budget.
            recompute_layers: false,
        },
        out: out.clone(),
        max_new_proteins: args.max_proteins,
        auto_steps,
        memory_budget: Some(args.memory_budget.unwrap_or_else(default_memory_budget)),
    };
    match &job.auto_steps {
        Some(auto) => auto.validate()?,
        None => {
            job.options.method.nodes(job.options.steps)?;
        }
    }
    let bar = progress(seqs.len(), "attribute");
    let report = run_attribution(&model, &seqs, &job, |_| bar.inc(1))?;
    bar.finish_and_clear();
    for p in &report.not_converged {
        eprintln!(
            "warning: {}: |delta| = {:.3e} is above the tolerance {:.3e} at --max-steps {}; \
             kept that result (summary: converged = false)",
            p.protein,
            p.delta.abs(),
            p.tolerance,
            p.steps
        );
    }
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

/// A method other than IG: one pass (or a few) per protein, all proteins in one table.
fn run_other_method(
    args: &AttributeArgs,
    model: &protscope::model::ProteinModel,
    seqs: &[protscope::model::EncodedSequence],
    target: usize,
    method: AttributionMethod,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    if args.latent && !method.has_latent() {
        anyhow::bail!(
            "--latent: {} gives no per-head relevance; drop --latent",
            method.name()
        );
    }
    let options = ExplainOptions {
        smoothgrad: SmoothGradOptions {
            samples: args.samples,
            noise_level: args.noise_level,
            seed: args.seed,
            ..Default::default()
        },
        latent: args.latent,
        ..Default::default()
    };
    let bar = progress(seqs.len(), "attribute");
    let mut table = protscope::attribution::tables::empty_relevance_frame();
    let mut explained = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let x = explain(model, seq, &args.output, target, method, &options)?;
        table.vstack_mut(&explanation_frame(&x)?)?;
        explained.push(x);
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_table(&mut table, out)?;
    write_table(
        &mut explanation_summary_frame(&explained)?,
        &summary_path(out),
    )?;
    eprintln!(
        "{} proteins ({}): {} and {}",
        seqs.len(),
        method.name(),
        out.display(),
        summary_path(out).display()
    );
    Ok(())
}
