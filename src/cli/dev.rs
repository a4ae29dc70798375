//! `protscope dev`: developer tools (random-weight model folders of real shapes, the benchmark
//! scaling figure).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use protscope::dev::{write_random_model, Preset, RandomHead, ShapeOverrides};

#[derive(Args, Debug)]
pub struct DevArgs {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// A model folder with random weights in a published shape (timing and memory tests
    /// without downloads; never commit one).
    RandomModel(RandomModelArgs),
    /// One timed task (forward with attention maps, embedding IG or all-layer latent IG) on one
    /// sequence, printed as a JSON line: the protscope side of `scripts/bench_scale.py`.
    Bench(super::bench::BenchArgs),
    /// The scaling figure of a benchmark table (`model, task, tool, length, seconds,
    /// peak_rss_gb, status, note`): time and peak memory against sequence length, one row per
    /// model, protscope beside the reference, failed runs marked.
    PlotScaling(PlotScalingArgs),
}

#[derive(Args, Debug)]
pub struct PlotScalingArgs {
    /// The benchmark table (.csv or .parquet).
    #[arg(long)]
    pub table: PathBuf,
    /// The figure (.svg or .png, chosen by the extension).
    #[arg(long)]
    pub out: PathBuf,
    /// Figure title (empty for none).
    #[arg(long, default_value = "Time and peak memory by sequence length")]
    pub title: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PresetArg {
    /// Rostlab/prot_bert: 30 layers x 16 heads, hidden 1024, ff 4096, vocab 30.
    Protbert,
    /// facebook/esm2_t30_150M_UR50D: 30 x 20, hidden 640, ff 2560, vocab 33.
    #[value(name = "esm2-150m")]
    Esm2_150m,
    /// facebook/esm2_t33_650M_UR50D: 33 x 20, hidden 1280, ff 5120, vocab 33.
    #[value(name = "esm2-650m")]
    Esm2_650m,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputArg {
    /// Two-class sequence classifier (what `attribute` needs).
    Classifier,
    /// Masked-LM head, as the published checkpoints.
    Mlm,
}

#[derive(Args, Debug)]
pub struct RandomModelArgs {
    #[arg(long, value_enum)]
    pub preset: PresetArg,
    /// Output folder (config.json, vocab.txt, model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// The prediction output to add (`--head` is its former name).
    #[arg(long, alias = "head", value_enum, default_value = "classifier")]
    pub output: OutputArg,
    /// Override the number of layers (e.g. 2 for a quick test of the shape).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Override the hidden width.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Override the number of attention heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Override the feed-forward width.
    #[arg(long)]
    pub intermediate: Option<usize>,
    /// Override max_position_embeddings (tokens, the two specials included).
    #[arg(long)]
    pub max_positions: Option<usize>,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    match args.command {
        DevCommand::PlotScaling(a) => {
            let table = protscope::frame::read_table(&a.table)?;
            let plot = protscope::plot::ScalingPlot::from_frame(&table)?;
            protscope::plot::scaling_plot("scaling", &a.title, &plot)?.save(&a.out)?;
            println!("{}", a.out.display());
            Ok(())
        }
        DevCommand::Bench(a) => super::bench::run_bench(a),
        DevCommand::RandomModel(a) => {
            let preset = match a.preset {
                PresetArg::Protbert => Preset::ProtBert,
                PresetArg::Esm2_150m => Preset::Esm2_150M,
                PresetArg::Esm2_650m => Preset::Esm2_650M,
            };
            let head = match a.output {
                OutputArg::Classifier => RandomHead::Classifier,
                OutputArg::Mlm => RandomHead::MaskedLm,
            };
            let overrides = ShapeOverrides {
                layers: a.layers,
                hidden: a.hidden,
                heads: a.heads,
                intermediate: a.intermediate,
                max_positions: a.max_positions,
            };
            let report = write_random_model(&a.out, preset, head, &overrides, a.seed)?;
            eprintln!(
                "{} parameters ({:.1} MB of f32 weights), random",
                report.parameters,
                report.bytes as f64 / 1e6
            );
            println!("{}", a.out.display());
            Ok(())
        }
    }
}
