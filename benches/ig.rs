//! Integrated gradients on AntiBERTy, protscope against Captum on PyTorch CPU, same proteins,
//! steps and head, side by side in one run.
//!
//!     cargo bench --bench ig -- [--steps 50] [--proteins 2] [--repeat 1] [--python /path/to/python3]
//!
//! Needs AntiBERTy (`protscope fetch antiberty`) and, for the Captum side, a Python with
//! scripts/requirements.txt installed. Prints a Markdown table for BENCHMARKS.md.

mod common;
use common::arg;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use protscope::attribution::{integrated_gradients, IgOptions, LatentDerivative, Quadrature};
use protscope::fetch::{default_cache_dir, fetch_antiberty};
use protscope::model::ProteinModel;

// Same allocator as the `protscope` binary.
#[global_allocator]
static GLOBAL: protscope_cli::allocator::MiMalloc = protscope_cli::allocator::MiMalloc;

fn main() -> anyhow::Result<()> {
    protscope_cli::allocator::keep_freed_memory();
    let steps: usize = arg("--steps").map(|s| s.parse()).transpose()?.unwrap_or(50);
    let proteins: usize = arg("--proteins")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2);
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let threads_arg = arg("--threads");
    let threads = threads_arg
        .or_else(|| std::env::var("RAYON_NUM_THREADS").ok())
        .unwrap_or_else(|| num_threads().to_string());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir = fetch_antiberty(&default_cache_dir())?;
    let model = ProteinModel::load(&model_dir, &Device::Cpu)?;
    let records = protscope::io::read_fasta(&root.join("data/antibodies.fasta"))?;
    let records = &records[..proteins.min(records.len())];
    let fasta = std::env::temp_dir().join("protscope-bench.fasta");
    std::fs::write(
        &fasta,
        records
            .iter()
            .map(|r| format!(">{}\n{}\n", r.id, r.sequence))
            .collect::<String>(),
    )?;

    // Each protein is timed `--repeat` times and the fastest run kept: on a shared machine the
    // minimum is the least disturbed measurement (the Python side does the same).
    let repeat: usize = arg("--repeat").map(|s| s.parse()).transpose()?.unwrap_or(1);
    // None = embedding level only; Some(rule) = embedding + every head with that derivative.
    let time = |latent: Option<LatentDerivative>| -> anyhow::Result<f64> {
        let mut total = 0.0;
        for r in records {
            let seq = model.encode_sequence(&r.id, &r.sequence, None)?;
            let options = IgOptions {
                steps,
                method: Quadrature::GaussLegendre,
                latent: latent.is_some(),
                latent_derivative: latent.unwrap_or(LatentDerivative::FiniteDifference),
                ..Default::default()
            };
            let mut best = f64::INFINITY;
            for _ in 0..repeat.max(1) {
                let start = Instant::now();
                let res = integrated_gradients(&model, &seq, "species", 1, &options)?;
                std::hint::black_box(res);
                best = best.min(start.elapsed().as_secs_f64());
            }
            total += best;
        }
        Ok(total / records.len() as f64)
    };
    // Warm-up (allocator, thread pool).
    let seq = model.encode_sequence(&records[0].id, &records[0].sequence, None)?;
    integrated_gradients(
        &model,
        &seq,
        "species",
        1,
        &IgOptions {
            steps: 4,
            ..Default::default()
        },
    )?;
    let ours_embedding = time(None)?;
    let ours_latent = time(Some(LatentDerivative::FiniteDifference))?;
    let ours_exact = time(Some(LatentDerivative::Exact))?;

    println!(
        "proteins {}, steps {steps}, gausslegendre, pad baseline, head species target 1, fastest of {repeat}",
        records.len()
    );
    println!("protscope: embedding IG {ours_embedding:.2} s/protein; embedding + all-layer latent IG {ours_latent:.2} s/protein (finite-difference derivative), {ours_exact:.2} s/protein (exact derivative)");

    let captum = Command::new(&python)
        .arg(root.join("scripts/bench_captum.py"))
        .args(["--model", model_dir.to_str().unwrap_or_default(), "--fasta"])
        .arg(&fasta)
        .args([
            "--head",
            "species",
            "--target",
            "1",
            "--steps",
            &steps.to_string(),
            "--threads",
            &threads,
            "--repeat",
            &repeat.to_string(),
        ])
        // The per-layer reference costs the same for every layer: time one, scale to all.
        .args(["--latent-layers", "1"])
        .output();
    match captum {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            // Libraries may print notices before the JSON object.
            let start = text.find('{').unwrap_or(0);
            let json: serde_json::Value = serde_json::from_str(text[start..].trim())?;
            println!("captum: {json}");
            let emb = json["embedding_ig"]["seconds_per_protein"]
                .as_f64()
                .unwrap_or(f64::NAN);
            let lat = json["latent_ig_xai_proteins"]["seconds_per_protein_all_layers"]
                .as_f64()
                .unwrap_or(f64::NAN);
            println!();
            println!("| task | protscope s/protein | Captum s/protein | speed-up |");
            println!("|---|---|---|---|");
            println!(
                "| embedding IG | {ours_embedding:.2} | {emb:.2} | {:.1}× |",
                emb / ours_embedding
            );
            println!(
                "| all-layer latent IG (reference: one IG pass per layer) | {ours_latent:.2} | {lat:.2} | {:.1}× |",
                lat / ours_latent
            );
            println!(
                "| all-layer latent IG, exact derivative (no reference counterpart) | {ours_exact:.2} | – | – |"
            );
        }
        Ok(out) => eprintln!(
            "Captum side failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("Captum side not run ({e}); pass --python with torch and captum installed")
        }
    }
    Ok(())
}

fn num_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
