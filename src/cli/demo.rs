//! `protscope demo`: the README's main job. AntiBERTy on 171 real antibodies, ending in one
//! HTML report; thin over [`protscope::report::demo`].

use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;

use super::common::progress;
use protscope::fetch::{
    default_cache_dir, fetch_antiberty, fetch_iglm, fetch_sapiens, IGLM_LICENCE,
};
use protscope::report::demo::{run_antibody_demo, DemoOptions, DemoProgress};
use protscope::report::model_comparison::{ChainScope, ComparedModel, PrefixRule};

use super::attribute::LatentDerivativeArg;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder: tables, figures/, run.json and report.html.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Antibody sequences; `species=` / `chain=` header fields are compared with predictions.
    #[arg(long, default_value = "data/antibodies_171.fasta")]
    pub fasta: PathBuf,
    /// Model folder; default: AntiBERTy, fetched into the cache on first use.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Integration steps (Gauss–Legendre nodes) of integrated gradients [default: 40].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Use at most this many antibodies, spread evenly over the file.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Integrated gradients for at most this many antibodies, spread evenly (0 = all).
    #[arg(long, default_value_t = 96)]
    pub ig_limit: usize,
    /// A small, fast run (12 antibodies, 8 steps, contact heads on 6 structures scored on 3,
    /// 6 antibodies scored per compared model, methods on 3 and randomisation on 1) that
    /// exercises every stage.
    #[arg(long)]
    pub quick: bool,
    /// How latent IG gets each head's dh/dα.
    #[arg(long, value_enum, default_value = "exact")]
    pub latent_derivative: LatentDerivativeArg,
    /// Record the date in the report (otherwise identical runs give identical files).
    #[arg(long)]
    pub timestamp: bool,
    /// Attention threshold θ of the head statistics (edges with attention ≥ θ).
    #[arg(long, default_value_t = 0.3)]
    pub min_attn: f32,
    /// Heads with fewer edges than this are excluded from the attention figures.
    #[arg(long, default_value_t = 100.0)]
    pub min_total: f64,
    /// Cut sequences to this many tokens (the two specials included).
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Antibody structures (heavy chain H) for the structure section: contact heads fitted on
    /// the first --structure-train files, scored on the rest. An empty value skips the section.
    #[arg(long, default_value = "data/structures/antibodies")]
    pub structures: PathBuf,
    /// Structures a contact head is fitted on (the first in name order; Rao et al.: 20).
    #[arg(long, default_value_t = 20)]
    pub structure_train: usize,
    /// Models compared on the same antibodies (attention to CDRs, residue scores per region):
    /// any of antiberty, sapiens (VH model on heavy chains, VL on light), iglm (needs
    /// --accept-licence); default: the freely licensed antiberty,sapiens. An empty value
    /// skips the comparison.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Accept IgLM's licence (non-commercial academic research only) for `--models …,iglm`.
    #[arg(long)]
    pub accept_licence: bool,
    /// Score at most this many antibodies per compared model, spread evenly (0 = all).
    #[arg(long, default_value_t = 48)]
    pub score_limit: usize,
    /// Antibodies on which IG, AttnLRP, gradient × input and attention rollout are compared
    /// (residue flipping, agreement); 0 skips the methods section.
    #[arg(long, default_value_t = 12)]
    pub methods_antibodies: usize,
    /// Of those, how many go through the cascading randomisation check.
    #[arg(long, default_value_t = 4)]
    pub randomisation_antibodies: usize,
}

/// The compared models named by `--models`, fetched into the cache. A default model that cannot
/// be fetched (no network) is left out with a printed reason; a named one is an error.
fn compared_models(
    args: &DemoArgs,
    model_dir: &std::path::Path,
) -> anyhow::Result<Vec<ComparedModel>> {
    let named = args.models.is_some();
    let names: Vec<String> = args
        .models
        .clone()
        .unwrap_or_else(|| vec!["antiberty".into(), "sapiens".into()])
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let cache = default_cache_dir();
    let one = |name: &str, dir: std::path::PathBuf, chains, prefix| ComparedModel {
        name: name.into(),
        dir,
        chains,
        prefix,
    };
    let mut models = Vec::new();
    for name in &names {
        let fetched: anyhow::Result<Vec<ComparedModel>> = match name.as_str() {
            "antiberty" => Ok(vec![one(
                "antiberty",
                model_dir.to_path_buf(),
                ChainScope::All,
                PrefixRule::None,
            )]),
            "sapiens" => fetch_sapiens(&cache).map_err(Into::into).map(|f| {
                vec![
                    one("sapiens-vh", f.heavy, ChainScope::Heavy, PrefixRule::None),
                    one("sapiens-vl", f.light, ChainScope::Light, PrefixRule::None),
                ]
            }),
            "iglm" => {
                eprintln!("{IGLM_LICENCE}");
                fetch_iglm(&cache, args.accept_licence)
                    .map_err(Into::into)
                    .map(|f| {
                        vec![one(
                            "iglm",
                            f.iglm,
                            ChainScope::All,
                            PrefixRule::ChainSpecies,
                        )]
                    })
            }
            other => anyhow::bail!(
                "--models: unknown model `{other}` (choose from antiberty, sapiens, iglm)"
            ),
        };
        match fetched {
            Ok(m) => models.extend(m),
            Err(e) if !named => eprintln!("· {name} left out of the comparison: {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(models)
}

struct Bars {
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl DemoProgress for Bars {
    fn stage(&mut self, name: &str, total: usize) {
        self.started = std::time::Instant::now();
        eprintln!("· {name} …");
        self.bar = (total > 0).then(|| progress(total, name));
    }
    fn advance(&mut self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
    fn finish_stage(&mut self, message: &str) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!(
            "  {message} ({:.1} s)",
            self.started.elapsed().as_secs_f64()
        );
    }
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let model_dir = match args.model.clone() {
        Some(dir) => dir,
        None => {
            eprintln!("· model: AntiBERTy (fetched into the cache on first use) …");
            fetch_antiberty(&default_cache_dir())?
        }
    };
    let compare = compared_models(&args, &model_dir)?;
    let mut options = DemoOptions::new(args.out.clone(), model_dir, args.fasta.clone());
    options.compare = compare;
    options.score_limit = (args.score_limit > 0).then_some(args.score_limit);
    options.device = protscope::device::parse_device(&args.device)?;
    options.ig_limit = (args.ig_limit > 0).then_some(args.ig_limit);
    options.structures = (!args.structures.as_os_str().is_empty()).then(|| args.structures.clone());
    options.structure_train = args.structure_train;
    if args.quick {
        options.limit = Some(12);
        options.steps = 8;
        options.structure_train = args.structure_train.min(6);
        options.structure_test = Some(3);
        // Pseudo-log-likelihood costs a pass per residue: score a few to keep CI's run short.
        options.score_limit = Some(args.score_limit.clamp(1, 6));
        options.methods_antibodies = args.methods_antibodies.min(3);
        options.randomisation_antibodies = args.randomisation_antibodies.min(1);
    } else {
        options.methods_antibodies = args.methods_antibodies;
        options.randomisation_antibodies = args.randomisation_antibodies;
    }
    if let Some(steps) = args.steps {
        options.steps = steps;
    }
    if args.limit.is_some() {
        options.limit = args.limit;
    }
    options.latent_derivative = args.latent_derivative.into();
    options.timestamp = args.timestamp;
    options.max_len = args.max_len;
    options.min_attn = args.min_attn;
    options.min_total = args.min_total;
    options.command_line = std::env::args().collect();
    let mut bars = Bars {
        bar: None,
        started: std::time::Instant::now(),
    };
    let outcome = run_antibody_demo(&options, &mut bars)?;
    eprintln!(
        "done in {:.0} s: {} antibodies ({} with IMGT regions), {} figures",
        started.elapsed().as_secs_f64(),
        outcome.antibodies,
        outcome.numbered,
        outcome.report.figures.len()
    );
    println!("{}", outcome.report_path.display());
    Ok(())
}
