//! `protscope demo`: the README's main job on the default model, AntiBERTy.

use std::path::PathBuf;

use clap::Args;

use super::common::progress;
use crate::attention::{attention_frame, attention_maps, empty_attention_frame, AttentionFilter};
use crate::attribution::runner::{run_attribution, AttributionJob};
use crate::attribution::{IgOptions, Quadrature};
use crate::frame::{write_table, TableSink};
use crate::io::read_fasta;
use crate::model::fetch::{default_cache_dir, fetch_antiberty};
use crate::model::outputs::predictions_frame;
use crate::model::ProteinModel;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Input proteins.
    #[arg(long, default_value = "data/antibodies.fasta")]
    pub fasta: PathBuf,
    /// Model folder; default: AntiBERTy, fetched into the cache on first use.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Integration steps of the attribution part.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let model_dir = match args.model {
        Some(dir) => dir,
        None => fetch_antiberty(&default_cache_dir())?,
    };
    let device = crate::device::parse_device(&args.device)?;
    let model = ProteinModel::load(&model_dir, &device)?;
    let records = read_fasta(&args.fasta)?;
    let seqs = records
        .iter()
        .map(|r| model.encode_sequence(&r.id, &r.sequence, None))
        .collect::<crate::Result<Vec<_>>>()?;
    let refs: Vec<_> = seqs.iter().collect();
    std::fs::create_dir_all(&args.out)?;

    let predictions_path = args.out.join("predictions.csv");
    let mut predictions = predictions_frame(&model, &refs)?;
    write_table(&mut predictions, &predictions_path)?;
    eprintln!("predictions → {}", predictions_path.display());

    let attention_path = args.out.join("attention.parquet");
    let mut sink = TableSink::create(&attention_path, &empty_attention_frame())?;
    let bar = progress(seqs.len(), "attention");
    for s in &refs {
        for maps in attention_maps(&model, &[s])? {
            sink.write(&mut attention_frame(&maps, &AttentionFilter::default())?)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rows = sink.finish()?;
    eprintln!("attention ({rows} rows) → {}", attention_path.display());

    if model.head("species").is_ok() {
        let job = AttributionJob {
            head: "species".into(),
            target: model.head("species")?.class_index("Human")?,
            options: IgOptions {
                steps: args.steps,
                method: Quadrature::GaussLegendre,
                latent: true,
                ..Default::default()
            },
            out: args.out.join("attribution_species_human.parquet"),
            max_new_proteins: None,
        };
        let bar = progress(seqs.len(), "attribute");
        run_attribution(&model, &seqs, &job, |_| bar.inc(1))?;
        bar.finish_and_clear();
        eprintln!(
            "attribution (species = Human, embedding + every head) → {}",
            job.out.display()
        );
    }
    println!("{}", predictions);
    Ok(())
}
