//! `protscope dev bench`: one timed task on one sequence, for side-by-side runs against the
//! Python reference (`scripts/bench_scale.py`): the model load and the task are timed
//! separately and printed as one JSON line; peak memory is measured from outside the process.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::attribute::LatentDerivativeArg;
use super::common::MemoryArgs;
use protscope::attention::attention_maps;
use protscope::attribution::memory::plan_batch;
use protscope::attribution::{integrated_gradients, IgOptions, LatentDerivative};
use protscope::model::{OutputLevel, ProteinModel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTask {
    /// One forward pass keeping every layer's attention maps (host copies, as `attention_maps`).
    Forward,
    /// Integrated gradients at the embedding layer.
    EmbeddingIg,
    /// Integrated gradients at the embedding layer and in every head of every layer (one pass).
    LatentIg,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Model folder (e.g. one written by `protscope dev random-model`).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum)]
    pub task: BenchTask,
    /// The protein sequence (one letter per residue).
    #[arg(long)]
    pub sequence: String,
    /// α-nodes (Gauss–Legendre) for the IG tasks.
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    /// α-nodes per pass; default: chosen from the memory budget as `attribute` does.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// As `attribute --memory-budget` (default 60 % of RAM).
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// How latent IG gets dh/dα (`fd` is the reference procedure's).
    #[arg(long, value_enum, default_value = "fd")]
    pub latent_derivative: LatentDerivativeArg,
    /// Runs the task this many times in the process; `run_s` is the first run (what a command
    /// pays), `runs_s` lists every run.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

/// Minor page faults of this process so far (Linux; 0 elsewhere): each is a fresh page the
/// kernel zeroed, the cost that separates a first run from later ones.
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start at its closing ')'.
            let rest = &s[s.rfind(')')? + 2..];
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

pub fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let model = ProteinModel::load(&args.model, &candle_core::Device::Cpu)?;
    let load_s = start.elapsed().as_secs_f64();
    let seq = model.encode_sequence("bench", &args.sequence, None)?;
    let tokens = seq.ids.len();
    let mut runs = Vec::new();
    let mut faults = Vec::new();
    let mut extra = String::new();
    for _ in 0..args.repeat.max(1) {
        let faults_before = minor_faults();
        let start = Instant::now();
        extra = run_task(&model, &seq, tokens, &args)?;
        runs.push(start.elapsed().as_secs_f64());
        faults.push(minor_faults() - faults_before);
    }
    let runs_s: Vec<String> = runs.iter().map(|s| format!("{s:.3}")).collect();
    let faults: Vec<String> = faults.iter().map(u64::to_string).collect();
    println!(
        r#"{{"tool":"protscope","task":"{:?}","tokens":{tokens},"load_s":{load_s:.3},"run_s":{:.3},"runs_s":[{}],"minor_faults":[{}]{extra}}}"#,
        args.task,
        runs[0],
        runs_s.join(","),
        faults.join(",")
    );
    Ok(())
}

fn run_task(
    model: &ProteinModel,
    seq: &protscope::model::EncodedSequence,
    tokens: usize,
    args: &BenchArgs,
) -> anyhow::Result<String> {
    Ok(match args.task {
        BenchTask::Forward => {
            let maps = attention_maps(model, &[seq])?;
            let values: usize = maps.iter().map(|m| m.weights.elem_count()).sum();
            format!(r#","attention_values":{values}"#)
        }
        BenchTask::EmbeddingIg | BenchTask::LatentIg => {
            let head = model
                .outputs()
                .iter()
                .find(|h| h.level == OutputLevel::Sequence)
                .context("the model has no sequence-level output to attribute")?
                .name
                .clone();
            let derivative: LatentDerivative = args.latent_derivative.into();
            let budget = args.memory.bytes()?;
            let plan = plan_batch(
                model,
                "bench",
                tokens,
                args.steps,
                args.batch_size,
                budget,
                (args.task == BenchTask::LatentIg).then_some(derivative),
            )?;
            let options = IgOptions {
                steps: args.steps,
                batch_size: Some(plan.batch_size),
                recompute_layers: plan.recompute_layers,
                latent: args.task == BenchTask::LatentIg,
                latent_derivative: derivative,
                ..Default::default()
            };
            let result = integrated_gradients(model, seq, &head, 0, &options)?;
            format!(
                r#","batch_size":{},"recompute_layers":{},"delta":{}"#,
                plan.batch_size, plan.recompute_layers, result.delta
            )
        }
    })
}
