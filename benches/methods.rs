//! Attribution methods side by side in one run: time per protein of every method of
//! `attribute --attribution` on the same proteins, target and model, and IG at the Gauss–Legendre
//! step count that first reaches |delta| ≤ 1 % of F(x) − F(x′) on each protein (found with
//! `integrated_gradients_auto`, then timed at that count alone).
//!
//!     cargo bench --bench methods -- [--model antiberty|protbert] [--proteins 4] [--repeat 3]
//!
//! `antiberty`: the real model (`protscope fetch antiberty`), output `species`, each protein's
//! predicted class. `protbert`: random weights of ProtBert's shape (30 layers × 16 heads,
//! hidden 1024; `protscope dev random-model --preset protbert --head classifier`), written
//! once into the cache, output `classifier`, target 1. Proteins: `--proteins` spread evenly over
//! data/antibodies_171.fasta. Prints a Markdown table for BENCHMARKS.md.

mod common;
use common::arg;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use protscope::attribution::{
    explain, integrated_gradients_auto, AttributionMethod, AutoSteps, ExplainOptions, IgOptions,
    MethodCheck,
};
use protscope::dev::{write_random_model, Preset, RandomHead, ShapeOverrides};
use protscope::fetch::{default_cache_dir, fetch_antiberty};
use protscope::model::outputs::{predicted_classes, predictions_frame};
use protscope::model::ProteinModel;

// Same allocator as the `protscope` binary.
#[global_allocator]
static GLOBAL: protscope_cli::allocator::MiMalloc = protscope_cli::allocator::MiMalloc;

/// The fastest of `repeat` runs of `f`, in seconds, and its last value.
fn fastest<T>(repeat: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut value = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let v = f()?;
        best = best.min(start.elapsed().as_secs_f64());
        value = Some(v);
    }
    Ok((best, value.expect("at least one run")))
}

fn main() -> anyhow::Result<()> {
    protscope_cli::allocator::keep_freed_memory();
    let which = arg("--model").unwrap_or_else(|| "antiberty".into());
    let proteins: usize = arg("--proteins")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(4);
    let repeat: usize = arg("--repeat").map(|s| s.parse()).transpose()?.unwrap_or(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (model_dir, output) = match which.as_str() {
        "antiberty" => (fetch_antiberty(&default_cache_dir())?, "species"),
        "protbert" => {
            let dir = default_cache_dir().join("bench-protbert-classifier");
            if !dir.join("model.safetensors").is_file() {
                eprintln!(
                    "writing random ProtBert-shaped weights into {}",
                    dir.display()
                );
                std::fs::create_dir_all(&dir)?;
                write_random_model(
                    &dir,
                    Preset::ProtBert,
                    RandomHead::Classifier,
                    &ShapeOverrides::default(),
                    0,
                )?;
            }
            (dir, "classifier")
        }
        other => anyhow::bail!("--model {other}: use antiberty or protbert"),
    };
    let model = ProteinModel::load(&model_dir, &Device::Cpu)?;
    let records = protscope::io::spread_sample(
        protscope::io::read_fasta(&root.join("data/antibodies_171.fasta"))?,
        Some(proteins),
    );
    let seqs = records
        .iter()
        .map(|r| model.encode_sequence(&r.id, &r.sequence, None))
        .collect::<protscope::Result<Vec<_>>>()?;
    let targets: Vec<usize> = if output == "species" {
        let predicted = predicted_classes(&predictions_frame(&model, &seqs)?, output)?;
        seqs.iter().map(|s| predicted[&s.id]).collect()
    } else {
        vec![1; seqs.len()]
    };
    let tokens = seqs.iter().map(|s| s.ids.len()).sum::<usize>() as f64 / seqs.len() as f64;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_else(|_| "1".into())
    });
    println!(
        "{which}: {} layers × {} heads, {} proteins (mean {tokens:.1} tokens), output {output}, \
         {threads} threads, fastest of {repeat}",
        model.num_layers(),
        model.num_heads(),
        seqs.len()
    );

    // Warm-up: allocator, thread pool, transposed weights.
    explain(
        &model,
        &seqs[0],
        output,
        targets[0],
        AttributionMethod::GradientXInput,
        &ExplainOptions::default(),
    )?;

    // IG's step count per protein: the first Gauss–Legendre count (8, 16, 32, …) that reaches
    // |delta| ≤ 1 %, then IG timed at exactly that count.
    let auto = AutoSteps::default();
    let mut ig_steps = Vec::new();
    let mut ig_seconds = 0.0;
    let mut ig_latent_seconds = 0.0;
    for (seq, &target) in seqs.iter().zip(&targets) {
        let found =
            integrated_gradients_auto(&model, seq, output, target, &IgOptions::default(), &auto)?;
        ig_steps.push(found.steps);
        for latent in [false, true] {
            let options = ExplainOptions {
                ig: IgOptions {
                    steps: found.steps,
                    latent,
                    ..Default::default()
                },
                ..Default::default()
            };
            let (s, _) = fastest(repeat, || {
                Ok(explain(
                    &model,
                    seq,
                    output,
                    target,
                    AttributionMethod::IntegratedGradients,
                    &options,
                )?)
            })?;
            if latent {
                ig_latent_seconds += s;
            } else {
                ig_seconds += s;
            }
        }
    }
    let n = seqs.len() as f64;
    let mut rows = vec![
        (
            format!(
                "ig, embedding (steps to \\|delta\\| ≤ 1 %: {})",
                ig_steps
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ig_seconds / n,
        ),
        (
            "ig, embedding + every head (same steps)".to_string(),
            ig_latent_seconds / n,
        ),
    ];
    for (method, latent) in [
        (AttributionMethod::AttnLrp, false),
        (AttributionMethod::AttnLrp, true),
        (AttributionMethod::GradientXInput, false),
        (AttributionMethod::Saliency, false),
        (AttributionMethod::SmoothGrad, false),
        (AttributionMethod::Rollout, false),
    ] {
        let options = ExplainOptions {
            latent,
            ..Default::default()
        };
        let mut total = 0.0;
        let mut note = String::new();
        for (seq, &target) in seqs.iter().zip(&targets) {
            let (s, x) = fastest(repeat, || {
                Ok(explain(&model, seq, output, target, method, &options)?)
            })?;
            total += s;
            if let MethodCheck::Noise { samples, .. } = x.check {
                note = format!(" ({samples} samples)");
            }
        }
        let label = match (method, latent) {
            (AttributionMethod::AttnLrp, true) => "attnlrp, embedding + every head".to_string(),
            _ => format!("{}{note}", method.name()),
        };
        rows.push((label, total / n));
    }
    let ig = rows[0].1;
    let lrp = rows[2].1;
    println!();
    println!("| method ({which}) | s/protein | × IG at \\|delta\\| ≤ 1 % |");
    println!("|---|---|---|");
    for (label, s) in &rows {
        println!("| {label} | {s:.3} | {:.2} |", s / ig);
    }
    println!();
    println!(
        "AttnLRP (one pass) is {:.0}× faster than IG at the steps reaching |delta| ≤ 1 %.",
        ig / lrp
    );
    Ok(())
}
