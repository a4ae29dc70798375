//! The antibody analysis behind `protscope demo`: AntiBERTy's predictions, IMGT regions, which
//! heads attend to CDRs and amino acids, integrated gradients of the species prediction at the
//! embedding level and inside every head, relevance statistics against the CDRs, and one HTML
//! report. Every table lands in the run folder, so `protscope report --from DIR` rebuilds the
//! report, and every stage is a public library function the notebooks call too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;

use super::model_comparison::{compare_model, ComparedModel, ComparisonOptions, MODELS_DIR};
use super::provenance::{ModelProvenance, Provenance};
use super::run_folder::{report_from_dir, FolderReport, ReportOptions, RUN_FILE};
use super::ReportHints;
use crate::annotation::antibody::{
    annotate_regions, antibodies_frame, cdr_sites, has_cdr3, CdrSites, CDR_PROPERTIES,
};
use crate::annotation::secondary::{attention_indicators, ATTENTION_PROPERTIES};
use crate::annotation::{features_frame, Entry};
use crate::attention::analysis::{
    amino_acid_head_statistics, cdr_head_statistics, site_head_statistics,
};
use crate::attention::contacts::{
    contact_example, contact_map, contact_precision_by_layer, contacts_frame,
    layer_precision_frame, ContactFitOptions,
};
use crate::attention::heads::{HeadStatistics, Weighting};
use crate::attention::{attention_frame, attention_maps, AttentionFilter};
use crate::attribution::comparison::compare_methods;
use crate::attribution::flip::{aopc_frame, flip_frame, FlipOptions, Replacement};
use crate::attribution::runner::{run_attribution, summary_path, AttributionJob};
use crate::attribution::sanity::{cascading_randomisation, randomisation_frame};
use crate::attribution::{
    AttributionMethod, Baseline, ExplainOptions, IgOptions, LatentDerivative, Quadrature,
};
use crate::frame::{read_table, side_path, stack_frames, write_table};
use crate::io::{header_fields, spread_sample, FastaRecord};
use crate::model::outputs::{predicted_classes, predictions_in_batches};
use crate::model::{EncodedSequence, ProteinModel};
use crate::probing::contacts::probe_contacts;
use crate::probing::tasks::region_tasks;
use crate::probing::{probe_frame, probe_residues, ProbeOptions};
use crate::stats::relevance::cdr_relevance_statistics;
use crate::structure::dssp::{
    assign_secondary_structure, secondary_structure_frame, sequence_positions,
};
use crate::structure::{
    self, ChainResidues, ContactAtom, ContactOptions, DistanceMatrix, Numbering, StructureFolder,
};
use crate::{Error, Result};

/// Settings of one demo run (the CLI's flags).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub out: PathBuf,
    pub model_dir: PathBuf,
    pub fasta: PathBuf,
    pub device: candle_core::Device,
    /// Integration steps of integrated gradients.
    pub steps: usize,
    /// Use at most this many antibodies, spread evenly over the file (None = all).
    pub limit: Option<usize>,
    /// Integrated gradients for at most this many of them, spread evenly (None = all): IG is
    /// the expensive stage.
    pub ig_limit: Option<usize>,
    /// Cut sequences to this many tokens (the two specials included).
    pub max_len: usize,
    pub min_attn: f32,
    pub min_total: f64,
    pub alpha: f64,
    pub batch_size: usize,
    pub latent_derivative: LatentDerivative,
    /// Record the date in the report.
    pub timestamp: bool,
    pub command_line: Vec<String>,
    /// Antibody structures (chains H and L) for the structure section; None skips it.
    pub structures: Option<PathBuf>,
    /// Structures (the first in name order) a contact head is fitted on; the rest are scored.
    pub structure_train: usize,
    /// Score at most this many of the other structures (None = all).
    pub structure_test: Option<usize>,
    /// Models compared on the same antibodies (attention to CDRs, residue scores per region),
    /// the demo's own model among them when wanted; empty skips the comparison.
    pub compare: Vec<ComparedModel>,
    /// Score at most this many antibodies per compared model, spread evenly (None = all):
    /// pseudo-log-likelihood costs one forward pass per residue.
    pub score_limit: Option<usize>,
    /// Antibodies (of those with integrated gradients, spread evenly) on which the attribution
    /// methods are compared by residue flipping; 0 skips the methods section.
    pub methods_antibodies: usize,
    /// Of those, how many go through the cascading randomisation (a model copy per layer).
    pub randomisation_antibodies: usize,
}

impl DemoOptions {
    pub fn new(out: PathBuf, model_dir: PathBuf, fasta: PathBuf) -> Self {
        DemoOptions {
            out,
            model_dir,
            fasta,
            device: candle_core::Device::Cpu,
            steps: 40,
            limit: None,
            ig_limit: Some(96),
            max_len: 512,
            min_attn: 0.3,
            min_total: 100.0,
            alpha: 0.05,
            batch_size: 4,
            latent_derivative: LatentDerivative::Exact,
            timestamp: false,
            command_line: Vec::new(),
            structures: None,
            structure_train: 20,
            structure_test: None,
            compare: Vec::new(),
            score_limit: Some(48),
            methods_antibodies: 12,
            randomisation_antibodies: 4,
        }
    }
}

/// Progress of a demo run: one stage at a time, with a count where it has one.
pub trait DemoProgress {
    fn stage(&mut self, name: &str, total: usize);
    fn advance(&mut self);
    fn finish_stage(&mut self, message: &str);
}

/// Progress that reports nothing (tests, notebooks).
pub struct Quiet;

impl DemoProgress for Quiet {
    fn stage(&mut self, _: &str, _: usize) {}
    fn advance(&mut self) {}
    fn finish_stage(&mut self, _: &str) {}
}

/// What a demo run produced.
pub struct DemoOutcome {
    pub report_path: PathBuf,
    pub report: FolderReport,
    pub antibodies: usize,
    pub numbered: usize,
    pub seconds_per_stage: Vec<(String, f64)>,
}

/// Runs the whole demo into `options.out` and writes `report.html` there: a pipeline of
/// stages, each a few library calls whose tables land in the run folder.
pub fn run_antibody_demo(
    options: &DemoOptions,
    progress: &mut dyn DemoProgress,
) -> Result<DemoOutcome> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut run = DemoRun {
        options,
        progress,
        times: Vec::new(),
        clock: Instant::now(),
    };
    let (model, records, seqs) = load_stage(&mut run)?;
    let predictions = predict_stage(&mut run, &model, &records, &seqs)?;
    let (entries, skipped) = regions_stage(&mut run, &records)?;
    let numbered = cdr_sites(&seqs, &entries);
    let cdr_stats = attention_stage(&mut run, &model, &seqs, &numbered)?;
    let (rows, ig_seqs) = attribution_stage(&mut run, &model, &seqs, &predictions)?;
    relevance_stage(&mut run, &rows, &numbered)?;
    // Featured antibodies come from those with attributions, so their residue tracks exist.
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.accession.as_str(), e)).collect();
    let attributed: Vec<FastaRecord> = records
        .iter()
        .filter(|r| ig_seqs.iter().any(|s| s.id == r.id))
        .cloned()
        .collect();
    let featured = featured_antibodies(&attributed, &by_id);
    let attention_note = attention_maps_stage(&mut run, &model, &seqs, &featured, &cdr_stats)?;
    let structure = structure_stage(&mut run, &model)?;
    let contact_examples = structure
        .as_ref()
        .map_or(&[][..], |s| s.contacts.as_slice());
    probing_stage(&mut run, &model, &records, contact_examples)?;
    models_stage(&mut run, &records, &entries)?;
    methods_stage(&mut run, &model, &ig_seqs, &predictions)?;
    let structure_chains = structure.as_ref().map(|s| (s.train, s.test));
    let views = views_stage(&mut run, &model, &cdr_stats)?;
    let hints = ReportHints {
        title: Some("AntiBERTy on real antibodies: attention, attribution, CDRs".into()),
        overview: Some(overview_text(
            &model,
            &records,
            entries.len(),
            skipped,
            ig_seqs.len(),
        )),
        tracks: featured,
        attention_maps: attention_note,
        views,
    };
    let (report_path, report) =
        report_stage(&mut run, &records, ig_seqs.len(), structure_chains, &hints)?;
    Ok(DemoOutcome {
        report_path,
        report,
        antibodies: records.len(),
        numbered: entries.len(),
        seconds_per_stage: run.times,
    })
}

/// A demo run in progress: its settings, where progress goes and the stage clock.
struct DemoRun<'a> {
    options: &'a DemoOptions,
    progress: &'a mut dyn DemoProgress,
    times: Vec<(String, f64)>,
    clock: Instant,
}

impl DemoRun<'_> {
    fn out(&self) -> &Path {
        &self.options.out
    }

    /// Ends a stage: its message and its wall time.
    fn finish(&mut self, name: &str, message: &str) {
        self.progress.finish_stage(message);
        self.times
            .push((name.to_string(), self.clock.elapsed().as_secs_f64()));
        self.clock = Instant::now();
    }
}

/// The model, the antibodies (spread over the file when limited) and their encodings.
fn load_stage(run: &mut DemoRun) -> Result<(ProteinModel, Vec<FastaRecord>, Vec<EncodedSequence>)> {
    let options = run.options;
    let model = ProteinModel::load(&options.model_dir, &options.device)?;
    let records = spread_sample(crate::io::read_fasta(&options.fasta)?, options.limit);
    let seqs: Vec<EncodedSequence> = records
        .iter()
        .map(|r| model.encode_sequence(&r.id, &r.sequence, Some(options.max_len)))
        .collect::<Result<_>>()?;
    run.times
        .push(("load".into(), run.clock.elapsed().as_secs_f64()));
    run.clock = Instant::now();
    Ok((model, records, seqs))
}

/// Predictions of every output, and the labels the FASTA headers state.
fn predict_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    records: &[FastaRecord],
    seqs: &[EncodedSequence],
) -> Result<DataFrame> {
    run.progress.stage("predict", seqs.len());
    let progress = &mut *run.progress;
    let mut predictions = predictions_in_batches(model, seqs, run.options.batch_size, |n| {
        (0..n).for_each(|_| progress.advance())
    })?;
    write_table(&mut predictions, &run.out().join("predictions.csv"))?;
    let mut labels = labels_frame(records)?;
    if labels.height() > 0 {
        write_table(&mut labels, &run.out().join("labels.csv"))?;
    }
    run.finish(
        "predict",
        &format!("predictions for {} antibodies", seqs.len()),
    );
    Ok(predictions)
}

/// IMGT numbering: the numbered antibodies' regions as feature entries, and how many could not
/// be numbered.
fn regions_stage(run: &mut DemoRun, records: &[FastaRecord]) -> Result<(Vec<Entry>, usize)> {
    run.progress.stage("IMGT regions", 0);
    let out = run.out().to_path_buf();
    let regions = annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    write_table(
        &mut antibodies_frame(&regions.numbered)?,
        &out.join("antibodies.csv"),
    )?;
    let entries = regions.entries();
    let skipped = regions.skipped;
    write_table(&mut features_frame(&entries)?, &out.join("regions.csv"))?;
    let mut skipped_frame = df!(
        "protein" => skipped.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "reason" => skipped.iter().map(|s| s.reason.clone()).collect::<Vec<_>>(),
    )?;
    write_table(&mut skipped_frame, &out.join("regions.skipped.csv"))?;
    run.finish(
        "regions",
        &format!(
            "IMGT regions for {} antibodies ({} skipped)",
            entries.len(),
            skipped.len()
        ),
    );
    Ok((entries, skipped.len()))
}

/// Which heads attend to each CDR, then to each amino acid (against BLOSUM62); returns the CDR
/// statistics.
fn attention_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    numbered: &[CdrSites],
) -> Result<HeadStatistics> {
    let (min_total, batch_size) = (run.options.min_total, run.options.batch_size);
    let weighting = Weighting::Threshold(run.options.min_attn);
    run.progress.stage("attention to CDRs", numbered.len());
    let progress = &mut *run.progress;
    let cdr_stats = cdr_head_statistics(model, numbered, weighting, batch_size, |_| {
        progress.advance()
    })?;
    cdr_stats.write_tables(&run.out().join("heads_regions.parquet"), min_total, 10)?;
    run.finish(
        "attention to CDRs",
        &format!("attention to CDRs over {} antibodies", cdr_stats.proteins),
    );

    run.progress.stage("attention to amino acids", seqs.len());
    let progress = &mut *run.progress;
    let aa_stats =
        amino_acid_head_statistics(model, seqs, weighting, batch_size, |_| progress.advance())?;
    let aa_path = run.out().join("heads_amino_acids.parquet");
    write_table(&mut aa_stats.to_frame(min_total)?, &aa_path)?;
    let aa = aa_stats.amino_acid_correlations(min_total)?;
    write_table(&mut aa.to_frame()?, &side_path(&aa_path, "aa_blosum"))?;
    run.finish(
        "attention to amino acids",
        &format!(
            "amino-acid correlation with BLOSUM62: r = {:.3}",
            aa.blosum_r
        ),
    );
    Ok(cdr_stats)
}

/// Integrated gradients of each antibody's predicted species (one resumable job per predicted
/// class), embedding level and every head; returns the attribution rows and the antibodies
/// attributed.
fn attribution_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    predictions: &DataFrame,
) -> Result<(DataFrame, Vec<EncodedSequence>)> {
    let options = run.options;
    let ig = IgOptions {
        steps: options.steps,
        method: Quadrature::GaussLegendre,
        baseline: Baseline::Pad,
        batch_size: None,
        latent: true,
        latent_derivative: options.latent_derivative,
        recompute_layers: false,
    };
    let predicted = predicted_classes(predictions, "species")?;
    let ig_seqs = spread_sample(seqs.to_vec(), options.ig_limit);
    let mut by_class: BTreeMap<usize, Vec<EncodedSequence>> = BTreeMap::new();
    for s in &ig_seqs {
        if let Some(&c) = predicted.get(&s.id) {
            by_class.entry(c).or_default().push(s.clone());
        }
    }
    run.progress.stage("integrated gradients", ig_seqs.len());
    let parts_dir = run.out().join("ig_by_target");
    let mut tables = Vec::new();
    for (class, group) in &by_class {
        let job = AttributionJob {
            output: "species".into(),
            target: *class,
            options: ig.clone(),
            // Settings in the name: a rerun with other settings starts afresh instead of
            // reusing proteins computed with the old ones.
            out: parts_dir.join(format!(
                "species_{class}_{}steps_{}.parquet",
                options.steps,
                derivative_name(options.latent_derivative)
            )),
            max_new_proteins: None,
            auto_steps: None,
            memory_budget: None,
        };
        let progress = &mut *run.progress;
        run_attribution(model, group, &job, |_| progress.advance())?;
        tables.push(job.out.clone());
    }
    let attribution_path = run.out().join("attribution_species.parquet");
    let (mut rows, mut summary) = concat_attributions(&tables, &ig_seqs)?;
    write_table(&mut rows, &attribution_path)?;
    write_table(&mut summary, &summary_path(&attribution_path))?;
    run.finish(
        "integrated gradients",
        &format!(
            "integrated gradients ({} steps, embedding + every head) for {} antibodies",
            options.steps,
            ig_seqs.len()
        ),
    );
    Ok((rows, ig_seqs))
}

/// Relevance statistics of the attributions against each CDR property.
fn relevance_stage(run: &mut DemoRun, rows: &DataFrame, numbered: &[CdrSites]) -> Result<()> {
    run.progress
        .stage("relevance statistics", CDR_PROPERTIES.len());
    for (property, stats) in cdr_relevance_statistics(rows, numbered, run.options.alpha)? {
        let path = run.out().join(format!("relevance_{property}.parquet"));
        write_table(&mut stats.to_frame()?, &path)?;
        write_table(
            &mut stats.per_protein_frame()?,
            &side_path(&path, "per_protein"),
        )?;
        run.progress.advance();
    }
    run.finish(
        "relevance statistics",
        "relevance statistics against CDR1, CDR2, CDR3 and all CDRs",
    );
    Ok(())
}

/// Attention maps of the head that attends most to CDR3, for two featured antibodies; returns
/// the report's note on them (none when no head had enough attention).
fn attention_maps_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    featured: &[String],
    cdr_stats: &HeadStatistics,
) -> Result<Option<String>> {
    let Some((layer, head)) = cdr_stats.best_head("CDR3", run.options.min_total) else {
        return Ok(None);
    };
    let filter = AttentionFilter {
        layers: vec![layer],
        heads: vec![head],
        min_weight: None,
    };
    let mut frames = Vec::new();
    for s in seqs.iter().filter(|s| featured.contains(&s.id)).take(2) {
        for maps in attention_maps(model, &[s])? {
            frames.push(attention_frame(&maps, &filter)?);
        }
    }
    if let Some(mut all) = stack_frames(&frames)? {
        write_table(&mut all, &run.out().join("attention_maps.parquet"))?;
    }
    Ok(Some(format!(
        "Head {} is the head with the largest share of attention on CDR3 residues; its maps for \
         two of the antibodies shown above.",
        super::reading::head_label(layer as i64, head as i64)
    )))
}

/// The heavy chain of each demo structure.
const STRUCTURE_CHAIN: &str = "H";
/// Contacts: Cβ (Cα for glycine) closer than this many Å.
const CONTACT_CUTOFF: f64 = 8.0;

/// What the attention knows about structure, on the antibody structures' heavy chains: a
/// contact head per layer and one on all layers fitted on the first `structure_train` chains
/// and scored on the rest (`contacts_by_layer.csv`), and the all-layer head's prediction for
/// the first scored chain beside its true contacts (`contacts_predicted.csv`,
/// `contacts_true.csv`). Returns the numbers of chains fitted on and scored.
/// The chains the structure stage fitted on and scored, and each chain's encoded sequence with
/// its contact targets (the probing stage's contact examples).
struct StructureChains {
    train: usize,
    test: usize,
    contacts: Vec<(EncodedSequence, Vec<i8>)>,
}

fn structure_stage(run: &mut DemoRun, model: &ProteinModel) -> Result<Option<StructureChains>> {
    let Some(dir) = run.options.structures.clone() else {
        return Ok(None);
    };
    let folder = StructureFolder::open(&dir)?;
    let mut chains = folder.chains(Some(STRUCTURE_CHAIN))?;
    let train_count = run.options.structure_train;
    if train_count == 0 || chains.len() <= train_count {
        return Err(Error::file(
            &dir,
            format!(
                "{} structures; fitting on {train_count} leaves none to score: add structures \
                 or fit on fewer",
                chains.len()
            ),
        ));
    }
    let mut test_chains = chains.split_off(train_count);
    if let Some(max) = run.options.structure_test {
        test_chains.truncate(max.max(1));
    }
    run.progress
        .stage("attention on structures", chains.len() + test_chains.len());
    let mut examples = |chains: &[(String, PathBuf, ChainResidues)]| -> Result<Vec<_>> {
        let mut out = Vec::with_capacity(chains.len());
        for (id, _, chain) in chains {
            out.push(contact_example(
                model,
                id,
                chain,
                ContactAtom::Beta,
                CONTACT_CUTOFF,
                Some(run.options.max_len),
            )?);
            run.progress.advance();
        }
        Ok(out)
    };
    let train = examples(&chains)?;
    let test = examples(&test_chains)?;
    let options = ContactFitOptions::default();
    let by_layer = contact_precision_by_layer(&train, &test, &options, &mut |_| {})?;
    write_table(
        &mut layer_precision_frame(&by_layer)?,
        &run.out().join("contacts_by_layer.csv"),
    )?;
    // The all-layer head's prediction for the first scored chain, beside its true contacts.
    let head = by_layer
        .last()
        .filter(|all| all.layer.is_none())
        .map(|all| all.head.clone())
        .ok_or_else(|| Error::invalid("contact precision by layer gave no all-layer head"))?;
    let shown = &test[0];
    write_table(
        &mut contacts_frame(&[contact_map(&shown.maps, &head)?])?,
        &run.out().join("contacts_predicted.csv"),
    )?;
    let (id, _, chain) = &test_chains[0];
    let mapping = chain.map_to(Some(&chain.sequence()), Numbering::Align)?;
    let distances = DistanceMatrix::from_chain(chain, &mapping, ContactAtom::Beta);
    let true_contacts = distances.contacts(&ContactOptions {
        cutoff: CONTACT_CUTOFF,
        min_separation: options.min_separation,
        atom: ContactAtom::Beta,
    });
    write_table(
        &mut structure::contacts_frame(id, &true_contacts)?,
        &run.out().join("contacts_true.csv"),
    )?;
    secondary_structure_step(run, model, &chains, &test_chains)?;
    let all_layers = by_layer.last().map_or(0.0, |l| {
        let long: Vec<f64> = l
            .evaluations
            .iter()
            .filter(|e| e.range == "long")
            .map(|e| e.precisions.p_at_l)
            .collect();
        long.iter().sum::<f64>() / long.len().max(1) as f64
    });
    run.finish(
        "structure",
        &format!(
            "contact heads fitted on {} heavy chains, scored on {} (long-range P@L {:.2})",
            train.len(),
            test.len(),
            all_layers
        ),
    );
    let contacts = chains
        .iter()
        .chain(&test_chains)
        .zip(train.iter().chain(&test))
        .map(|((id, _, chain), example)| {
            let seq = model.encode_sequence(id, &chain.sequence(), Some(run.options.max_len))?;
            Ok((seq, example.targets.clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(StructureChains {
        train: train.len(),
        test: test.len(),
        contacts,
    }))
}

/// DSSP of the structures' heavy chains (`secondary_structure.csv`) and which heads attend to
/// helices, strands and turns/bends (`heads_secondary_structure.parquet`, BERTology's
/// secondary-structure analysis).
fn secondary_structure_step(
    run: &mut DemoRun,
    model: &ProteinModel,
    train: &[(String, PathBuf, ChainResidues)],
    test: &[(String, PathBuf, ChainResidues)],
) -> Result<()> {
    let mut frames = Vec::new();
    let mut proteins = Vec::new();
    for (id, path, chain) in train.iter().chain(test) {
        let parsed = structure::read_structure(path)?;
        let residues = assign_secondary_structure(&parsed, Some(STRUCTURE_CHAIN))?;
        let sequence = chain.sequence();
        let positions = sequence_positions(&residues, chain, Some(&sequence))?;
        frames.push(secondary_structure_frame(id, &residues, &positions)?);
        let mut states = vec![None; sequence.chars().count()];
        for (r, p) in residues.iter().zip(&positions) {
            if let Some(p) = p {
                states[p - 1] = Some(r.dssp8.letter());
            }
        }
        let seq = model.encode_sequence(id, &sequence, Some(run.options.max_len))?;
        proteins.push((seq, attention_indicators(&states)));
    }
    if let Some(mut all) = stack_frames(&frames)? {
        write_table(&mut all, &run.out().join("secondary_structure.csv"))?;
    }
    let stats = site_head_statistics(
        model,
        &ATTENTION_PROPERTIES,
        &proteins,
        Weighting::Threshold(run.options.min_attn),
        run.options.batch_size,
        |_| {},
    )?;
    stats.write_tables(
        &run.out().join("heads_secondary_structure.parquet"),
        run.options.min_total,
        10,
    )?;
    Ok(())
}

/// The attention table of the viewed chain keeps weights at or above this (the views draw
/// nothing weaker: the 3D view's pairs start at 0.1, the head view's edges at 0.05).
const VIEW_ATTENTION_FLOOR: f32 = 0.01;

/// The interactive views' inputs, in `views/` of the run folder (out of the tables the other
/// sections read): the heavy chain of the first structure (name order), copied with its
/// provenance line, its attention in every layer and head (`views/attention.parquet`) and the
/// integrated gradients of its predicted species at the embedding level
/// (`views/relevance.parquet`); the views open on the head that attends most to CDR3.
fn views_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    cdr_stats: &HeadStatistics,
) -> Result<Option<super::ViewHints>> {
    let Some(dir) = run.options.structures.clone() else {
        return Ok(None);
    };
    let Some((layer, head)) = cdr_stats.best_head("CDR3", run.options.min_total) else {
        return Ok(None);
    };
    run.progress.stage("interactive views", 0);
    let folder = StructureFolder::open(&dir)?;
    let Some((id, path, chain)) = folder.chains(Some(STRUCTURE_CHAIN))?.into_iter().next() else {
        return Ok(None);
    };
    let views_dir = run.out().join("views");
    std::fs::create_dir_all(&views_dir).map_err(|e| Error::io(&views_dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{id}.pdb"));
    let copy = views_dir.join(&file_name);
    std::fs::copy(&path, &copy).map_err(|e| Error::io(&path, e))?;
    let seq = model.encode_sequence(&id, &chain.sequence(), Some(run.options.max_len))?;
    let maps = attention_maps(model, &[&seq])?
        .pop()
        .ok_or_else(|| Error::invalid(format!("{id}: the model gave no attention")))?;
    let filter = AttentionFilter {
        layers: Vec::new(),
        heads: Vec::new(),
        min_weight: Some(VIEW_ATTENTION_FLOOR),
    };
    write_table(
        &mut attention_frame(&maps, &filter)?,
        &views_dir.join("attention.parquet"),
    )?;
    // Relevance toward the species the model predicts for this chain, with the demo's IG
    // settings at the embedding level only (a few seconds).
    let predictions = predictions_in_batches(model, std::slice::from_ref(&seq), 1, |_| {})?;
    let class = predicted_classes(&predictions, "species")?
        .get(&id)
        .copied();
    let relevance = match class {
        Some(class) => {
            let job = AttributionJob {
                output: "species".into(),
                target: class,
                options: IgOptions {
                    steps: run.options.steps,
                    method: Quadrature::GaussLegendre,
                    baseline: Baseline::Pad,
                    batch_size: None,
                    latent: false,
                    latent_derivative: run.options.latent_derivative,
                    recompute_layers: false,
                },
                out: views_dir.join(format!(
                    "relevance_species_{class}_{}steps.parquet",
                    run.options.steps
                )),
                max_new_proteins: None,
                auto_steps: None,
                memory_budget: None,
            };
            run_attribution(model, std::slice::from_ref(&seq), &job, |_| {})?;
            let label = model
                .output("species")?
                .label(class)
                .map_or_else(|| format!("class {class}"), str::to_string);
            Some((job.out, format!("species = {label}")))
        }
        None => None,
    };
    let relative = |p: &Path| {
        p.strip_prefix(run.out())
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let hints = super::ViewHints {
        protein: id.clone(),
        residues: seq.residues.iter().collect(),
        structure: relative(&copy),
        chain: chain.chain.clone(),
        attention: relative(&views_dir.join("attention.parquet")),
        attention_floor: VIEW_ATTENTION_FLOOR,
        num_layers: maps.num_layers,
        num_heads: maps.num_heads,
        relevance: relevance.as_ref().map(|(p, _)| relative(p)),
        relevance_target: relevance.map(|(_, t)| t),
        layer,
        head,
        head_reason: "the head with the largest share of attention on CDR3 residues".into(),
        theta: run.options.min_attn,
    };
    run.finish("views", &format!("3D and attention views of {id}"));
    Ok(Some(hints))
}

/// The C of the demo's probes (fixed, to keep the demo's time bounded; `protscope probe` picks
/// it on a validation split).
const PROBE_C: f64 = 0.1;

/// Where in depth AntiBERTy makes regions and contacts linearly readable (BERTology's probing):
/// linear probes per layer for CDR against framework and the seven IMGT regions on the
/// antibodies, and for contacts on the structures' heavy chains (`contact_examples`, from the
/// structure stage), into `probing.csv`.
fn probing_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    records: &[FastaRecord],
    contact_examples: &[(EncodedSequence, Vec<i8>)],
) -> Result<()> {
    let options = ProbeOptions {
        c: Some(PROBE_C),
        batch_size: run.options.batch_size,
        ..Default::default()
    };
    run.progress.stage("probing", 0);
    let regions = annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    let mut rows = Vec::new();
    if regions.numbered.len() >= 3 {
        let (proteins, tasks) = region_tasks(&regions.numbered);
        let seqs = proteins
            .iter()
            .map(|(id, seq)| model.encode_sequence(id, seq, Some(run.options.max_len)))
            .collect::<Result<Vec<_>>>()?;
        rows.extend(probe_residues(model, &seqs, &tasks, &options, |_| {})?.1);
    }
    if contact_examples.len() >= 3 {
        rows.extend(probe_contacts(model, contact_examples, 6, &options, |_| {})?.1);
    }
    if rows.is_empty() {
        run.finish("probing", "nothing to probe");
        return Ok(());
    }
    write_table(&mut probe_frame(&rows)?, &run.out().join("probing.csv"))?;
    run.finish(
        "probing",
        &format!("linear probes per layer: {} scores", rows.len()),
    );
    Ok(())
}

/// Every compared model's attention to the CDRs and residue scores per region on the same
/// antibodies, into `models/<name>/` ([`super::model_comparison`]).
fn models_stage(run: &mut DemoRun, records: &[FastaRecord], entries: &[Entry]) -> Result<()> {
    let options = run.options;
    if options.compare.is_empty() {
        return Ok(());
    }
    run.progress.stage("models compared", options.compare.len());
    let scored = spread_sample(records.to_vec(), options.score_limit);
    let settings = ComparisonOptions {
        device: options.device.clone(),
        min_attn: options.min_attn,
        min_total: options.min_total,
        batch_size: options.batch_size,
        max_len: options.max_len,
        score_batch_size: 32,
    };
    let mut done = Vec::new();
    for spec in &options.compare {
        let out = run.out().join(MODELS_DIR).join(&spec.name);
        let c = compare_model(spec, records, &scored, entries, &settings, &out)?;
        done.push(format!(
            "{} ({} analysed, {} scored, CDR3 {:.2} vs framework {:.2})",
            c.name, c.analysed, c.scored, c.cdr3_mean_log_prob, c.framework_mean_log_prob
        ));
        run.progress.advance();
    }
    run.finish(
        "models compared",
        &format!("models compared: {}", done.join("; ")),
    );
    Ok(())
}

/// The methods compared: flip steps (xai-proteins' `ec/flip.py`: n = 1, 2, 4, …, 64, alanine,
/// 10 random repeats).
const METHOD_FLIP_KS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const COMPARED_METHODS: [AttributionMethod; 4] = [
    AttributionMethod::IntegratedGradients,
    AttributionMethod::AttnLrp,
    AttributionMethod::GradientXInput,
    AttributionMethod::Rollout,
];

/// Which explanation to trust on this model: IG, AttnLRP, gradient × input and attention
/// rollout of the predicted species on the same antibodies, residue flipping of each
/// (`methods_flip` with its `.aopc`), how alike they rank residues (`methods_agreement`) and
/// the cascading randomisation (`methods_randomisation`; the model copies are removed after).
fn methods_stage(
    run: &mut DemoRun,
    model: &ProteinModel,
    ig_seqs: &[EncodedSequence],
    predictions: &DataFrame,
) -> Result<()> {
    let options = run.options;
    if options.methods_antibodies == 0 || ig_seqs.is_empty() {
        return Ok(());
    }
    let predicted = predicted_classes(predictions, "species")?;
    let seqs: Vec<EncodedSequence> =
        spread_sample(ig_seqs.to_vec(), Some(options.methods_antibodies))
            .into_iter()
            .filter(|s| predicted.contains_key(&s.id))
            .collect();
    let targets: Vec<usize> = seqs.iter().map(|s| predicted[&s.id]).collect();
    let explain_options = ExplainOptions {
        ig: IgOptions {
            steps: options.steps,
            method: Quadrature::GaussLegendre,
            baseline: Baseline::Pad,
            latent: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let flip = FlipOptions {
        ks: METHOD_FLIP_KS.to_vec(),
        replacement: Replacement::Alanine,
        random_repeats: 10,
        batch_size: options.batch_size.max(16),
        ..Default::default()
    };
    run.progress
        .stage("attribution methods", COMPARED_METHODS.len() * seqs.len());
    let progress = &mut *run.progress;
    let compared = compare_methods(
        model,
        &seqs,
        "species",
        &targets,
        &COMPARED_METHODS,
        &explain_options,
        &flip,
        || progress.advance(),
    )?;
    let flip_path = run.out().join("methods_flip.parquet");
    write_table(&mut flip_frame(&compared.flips)?, &flip_path)?;
    write_table(
        &mut aopc_frame(&compared.aopc)?,
        &side_path(&flip_path, "aopc"),
    )?;
    write_table(
        &mut compared.agreement_frame()?,
        &run.out().join("methods_agreement.parquet"),
    )?;
    let randomised = seqs.len().min(options.randomisation_antibodies);
    if randomised > 0 {
        let work_dir = run.out().join(".methods_randomised");
        let rows = cascading_randomisation(
            model,
            &seqs[..randomised],
            "species",
            &targets[..randomised],
            &COMPARED_METHODS,
            &explain_options,
            &work_dir,
            0,
        );
        // The copies are a full model each: gone whether or not the check succeeded.
        let _ = std::fs::remove_dir_all(&work_dir);
        write_table(
            &mut randomisation_frame(&rows?)?,
            &run.out().join("methods_randomisation.parquet"),
        )?;
    }
    let best = compared
        .faithfulness()
        .into_iter()
        .max_by(|a, b| a.aopc_top.total_cmp(&b.aopc_top));
    run.finish(
        "attribution methods",
        &format!(
            "{} methods on {} antibodies (randomisation on {randomised}); highest AOPC: {}",
            COMPARED_METHODS.len(),
            seqs.len(),
            best.map_or("none".into(), |b| format!("{} {:.2}", b.method, b.aopc_top))
        ),
    );
    Ok(())
}

/// The run's provenance (`run.json`), its report hints (`report.json`) and the report built
/// from the run folder, as `protscope report --from` builds it.
fn report_stage(
    run: &mut DemoRun,
    records: &[FastaRecord],
    attributed: usize,
    structure_chains: Option<(usize, usize)>,
    hints: &ReportHints,
) -> Result<(PathBuf, FolderReport)> {
    let options = run.options;
    let out = run.out().to_path_buf();
    let mut provenance = Provenance::new(options.command_line.clone());
    provenance.model = Some(ModelProvenance::of(&options.model_dir)?);
    provenance.input(&options.fasta)?;
    provenance
        .parameter("attention.min_attn", options.min_attn)
        .parameter(
            "attention.weighting",
            "threshold (edges with attention ≥ min_attn)",
        )
        .parameter("attention.min_total", options.min_total)
        .parameter("attention.max_len", options.max_len)
        .parameter("ig.output", "species")
        .parameter("ig.target", "each antibody's predicted species")
        .parameter("ig.steps", options.steps)
        .parameter("ig.method", "Gauss–Legendre")
        .parameter("ig.baseline", "PAD")
        .parameter(
            "ig.latent_derivative",
            derivative_name(options.latent_derivative),
        )
        .parameter("ig.antibodies", attributed)
        .parameter("stats.alpha", options.alpha)
        .parameter("stats.correction", "Benjamini–Hochberg over heads")
        .parameter("antibodies", records.len());
    if let Some(k) = options.limit {
        provenance.parameter("limit", k);
    }
    if !options.compare.is_empty() {
        let names: Vec<&str> = options.compare.iter().map(|m| m.name.as_str()).collect();
        provenance.parameter("models.compared", names.join(", "));
        if let Some(k) = options.score_limit {
            provenance.parameter("models.scored_antibodies", k);
        }
    }
    if let (Some(dir), Some((train, test))) = (&options.structures, structure_chains) {
        provenance
            .parameter("contacts.structures", dir.display())
            .parameter("contacts.chain", STRUCTURE_CHAIN)
            .parameter("contacts.train", train)
            .parameter("contacts.test", test)
            .parameter("contacts.l1", ContactFitOptions::default().regression.c)
            .parameter(
                "contacts.cutoff",
                format!("{CONTACT_CUTOFF} Å (Cβ, Cα for glycine)"),
            );
    }
    if options.methods_antibodies > 0 {
        let names: Vec<&str> = COMPARED_METHODS.iter().map(|m| m.name()).collect();
        provenance
            .parameter("methods.compared", names.join(", "))
            .parameter("methods.antibodies", options.methods_antibodies)
            .parameter(
                "methods.flip",
                "alanine, k = 1, 2, 4, …, 64, 10 random orders",
            )
            .parameter(
                "methods.randomisation",
                format!(
                    "{} antibodies, weights shuffled (seed 0)",
                    options.randomisation_antibodies
                ),
            );
    }
    provenance
        .parameter("probing.c", PROBE_C)
        .parameter("probing.split", "proteins 70 / 15 / 15 %, seed 0");
    provenance.write(&out.join(RUN_FILE))?;
    hints.write(&out)?;
    let report = report_from_dir(
        &out,
        &ReportOptions {
            timestamp: options.timestamp,
            ..Default::default()
        },
    )?;
    let report_path = out.join("report.html");
    report.save(&report_path, &out.join("figures"))?;
    run.times
        .push(("report".into(), run.clock.elapsed().as_secs_f64()));
    Ok((report_path, report))
}

/// `protein, output, label` from `species=` / `chain=` header fields (AntiBERTy's class names).
fn labels_frame(records: &[FastaRecord]) -> Result<DataFrame> {
    let (mut protein, mut output, mut label) = (Vec::new(), Vec::new(), Vec::new());
    for r in records {
        let fields = header_fields(&r.description);
        for key in ["species", "chain"] {
            if let Some(v) = fields.get(key).filter(|v| v.as_str() != "unknown") {
                protein.push(r.id.clone());
                output.push(key.to_string());
                label.push(v.clone());
            }
        }
    }
    Ok(df!("protein" => protein, "output" => output, "label" => label)?)
}

/// The per-class attribution tables joined, rows in input order.
fn concat_attributions(
    tables: &[PathBuf],
    seqs: &[EncodedSequence],
) -> Result<(DataFrame, DataFrame)> {
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for t in tables {
        rows.push(read_table(t)?);
        summaries.push(read_table(&summary_path(t))?);
    }
    let (rows, summaries) = stack_frames(&rows)?
        .zip(stack_frames(&summaries)?)
        .ok_or_else(|| Error::invalid("no attribution was computed"))?;
    // Order by the input file so tables read like the FASTA.
    let order: HashMap<&str, u32> = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i as u32))
        .collect();
    let sort = |df: DataFrame| -> Result<DataFrame> {
        let rank: Vec<u32> = df
            .column("protein")?
            .str()?
            .iter()
            .map(|p| p.and_then(|p| order.get(p).copied()).unwrap_or(u32::MAX))
            .collect();
        let mut df = df;
        df.with_column(Column::new("__order".into(), rank))?;
        let sorted = df.sort(
            ["__order"],
            SortMultipleOptions::default().with_maintain_order(true),
        )?;
        Ok(sorted.drop("__order")?)
    };
    Ok((sort(rows)?, sort(summaries)?))
}

/// Three antibodies with regions for residue tracks: a heavy chain, a light chain and a
/// single-domain (VHH) chain where the set has them, else the first numbered ones.
fn featured_antibodies(records: &[FastaRecord], numbered: &HashMap<&str, &Entry>) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::new();
    for wanted in ["heavy", "kappa", "VHH", "lambda", "light"] {
        if chosen.len() >= 3 {
            break;
        }
        if let Some(r) = records.iter().find(|r| {
            numbered.contains_key(r.id.as_str())
                && header_fields(&r.description)
                    .get("chain_type")
                    .is_some_and(|c| c == wanted)
                && has_cdr3(numbered[r.id.as_str()])
        }) {
            chosen.push(r.id.clone());
        }
    }
    for r in records {
        if chosen.len() >= 3 {
            break;
        }
        if numbered.contains_key(r.id.as_str()) && !chosen.contains(&r.id) {
            chosen.push(r.id.clone());
        }
    }
    chosen
}

fn overview_text(
    model: &ProteinModel,
    records: &[FastaRecord],
    numbered: usize,
    skipped: usize,
    attributed: usize,
) -> String {
    let mut species: BTreeMap<String, usize> = BTreeMap::new();
    let mut chains: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        let f = header_fields(&r.description);
        *species
            .entry(
                f.get("species")
                    .cloned()
                    .unwrap_or_else(|| "unknown".into()),
            )
            .or_default() += 1;
        *chains
            .entry(f.get("chain").cloned().unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
    }
    let list = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "AntiBERTy ({} layers × {} attention heads) on {} real antibody sequences (species as \
         the sources state them: {}; chains: {}). {} were numbered in the IMGT scheme to locate \
         their CDRs ({} could not be numbered and take no part in the CDR analyses); integrated \
         gradients ran on {attributed} of them, spread evenly over the set. The report asks: does AntiBERTy recognise species and chain type, which attention heads look at \
         the CDRs, does attention reflect amino-acid similarity, and which residues and heads \
         carry the species prediction.",
        model.num_layers(),
        model.num_heads(),
        records.len(),
        list(&species),
        list(&chains),
        numbered,
        skipped
    )
}

fn derivative_name(rule: LatentDerivative) -> &'static str {
    match rule {
        LatentDerivative::Exact => "exact",
        LatentDerivative::FiniteDifference => "fd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, description: &str) -> FastaRecord {
        FastaRecord {
            id: id.into(),
            description: description.into(),
            sequence: "ACDE".into(),
        }
    }

    #[test]
    fn labels_come_from_header_fields() {
        let records = [
            record("a", "species=Human chain=Heavy source=x"),
            record("b", "species=unknown chain=Light"),
        ];
        let df = labels_frame(&records).unwrap();
        assert_eq!(df.height(), 3);
    }
}
