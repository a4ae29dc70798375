//! The antibody analysis behind `protscope demo`: AntiBERTy's predictions, IMGT regions, which
//! heads attend to CDRs and amino acids, integrated gradients of the species prediction at the
//! embedding level and inside every head, relevance statistics against the CDRs, and one HTML
//! report. Every table lands in the run folder, so `protscope report --from DIR` rebuilds the
//! report, and every stage is a public library function the notebooks call too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use polars::prelude::*;

use super::provenance::{ModelProvenance, Provenance};
use super::run_folder::{report_from_dir, FolderReport, ReportOptions, RUN_FILE};
use super::ReportHints;
use crate::annotation::antibody::{annotate_regions, AntibodyNumbering, RegionKind};
use crate::annotation::{features_frame, Entry};
use crate::attention::analysis::{accumulate_head_statistics, HeadInput, PropertyValues};
use crate::attention::heads::{HeadStatistics, Weighting};
use crate::attention::{attention_frame, attention_maps, AttentionFilter};
use crate::attribution::runner::{run_attribution, summary_path, AttributionJob};
use crate::attribution::{Baseline, IgOptions, LatentDerivative, Quadrature};
use crate::frame::{read_table, side_path, write_table};
use crate::io::FastaRecord;
use crate::model::outputs::predictions_frame;
use crate::model::{EncodedSequence, ProteinModel};
use crate::stats::{relevance_statistics, RelevanceStats};
use crate::{Error, Result};

/// A sequence with its residue indicators of the [`CDR_PROPERTIES`] (see [`cdr_indicators`]).
pub type CdrSites = (EncodedSequence, Vec<Vec<bool>>);

/// The numbered antibodies among `seqs` (in their order) with their CDR indicators; sequences
/// without an entry (IMGT numbering failed) are left out.
pub fn cdr_sites(seqs: &[EncodedSequence], entries: &[Entry]) -> Vec<CdrSites> {
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.accession.as_str(), e)).collect();
    seqs.iter()
        .filter_map(|s| {
            by_id
                .get(s.id.as_str())
                .map(|e| (s.clone(), cdr_indicators(e, s.residues.len() + s.truncated)))
        })
        .collect()
}

/// Attention of every head to each of the [`CDR_PROPERTIES`] over `numbered` (shortest
/// sequences batched together, so batches pad little); `on_protein` after each (progress).
pub fn cdr_head_statistics(
    model: &ProteinModel,
    numbered: &[CdrSites],
    weighting: Weighting,
    batch_size: usize,
    on_protein: impl FnMut(&str),
) -> Result<HeadStatistics> {
    let names: Vec<String> = CDR_PROPERTIES.iter().map(|s| s.to_string()).collect();
    let mut stats = HeadStatistics::new(model.num_layers(), model.num_heads(), weighting, names)?;
    let mut sorted = numbered.to_vec();
    sorted.sort_by_key(|(s, _)| s.len());
    let inputs = sorted.into_iter().map(|(sequence, columns)| {
        Ok(HeadInput {
            sequence,
            values: PropertyValues::Sites(columns),
        })
    });
    accumulate_head_statistics(model, &mut stats, inputs, batch_size, on_protein)?;
    Ok(stats)
}

/// Attention of every head to each amino acid over `seqs` (the `aa_to_X` properties, which
/// [`HeadStatistics::amino_acid_correlations`] compares with BLOSUM62).
pub fn amino_acid_head_statistics(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    weighting: Weighting,
    batch_size: usize,
    on_protein: impl FnMut(&str),
) -> Result<HeadStatistics> {
    let mut stats = HeadStatistics::amino_acids(model.num_layers(), model.num_heads(), weighting)?;
    let mut sorted = seqs.to_vec();
    sorted.sort_by_key(|s| s.len());
    let inputs = sorted.into_iter().map(|sequence| {
        Ok(HeadInput {
            sequence,
            values: PropertyValues::AminoAcids,
        })
    });
    accumulate_head_statistics(model, &mut stats, inputs, batch_size, on_protein)?;
    Ok(stats)
}

/// Relevance statistics of an attribution table (see [`relevance_statistics`]) against each of
/// the [`CDR_PROPERTIES`], over the antibodies of `numbered` that the table has; properties
/// without any annotated residue are left out.
pub fn cdr_relevance_statistics(
    attributions: &DataFrame,
    numbered: &[CdrSites],
    alpha: f64,
) -> Result<Vec<(String, RelevanceStats)>> {
    let mut out = Vec::new();
    for (k, property) in CDR_PROPERTIES.iter().enumerate() {
        let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
        for (s, columns) in numbered {
            let n = s.residues.len();
            let p: Vec<usize> = (0..n).filter(|&i| columns[k][i]).map(|i| i + 1).collect();
            if !p.is_empty() {
                positions.insert(s.id.clone(), p);
            }
        }
        if positions.is_empty() {
            continue;
        }
        // A set: the table has a row per protein, level and position (≈ 750 k in the demo).
        let keep: HashSet<&str> = positions.keys().map(String::as_str).collect();
        let mask: BooleanChunked = attributions
            .column("protein")?
            .str()?
            .iter()
            .map(|p| p.is_some_and(|p| keep.contains(p)))
            .collect();
        let subset = attributions.filter(&mask)?;
        out.push((
            property.to_string(),
            relevance_statistics(&subset, &positions, alpha)?,
        ));
    }
    Ok(out)
}

/// CDR properties of the demo, in report order: each CDR and all CDRs together.
pub const CDR_PROPERTIES: [&str; 4] = ["CDR1", "CDR2", "CDR3", "CDRs"];

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

/// Records spread evenly over the file (every k-th), so a small run still covers each source
/// group (the file is ordered by source and species).
pub fn spread_sample<T: Clone>(records: Vec<T>, limit: Option<usize>) -> Vec<T> {
    match limit {
        Some(k) if k > 0 && k < records.len() => {
            let n = records.len();
            (0..k).map(|i| records[i * n / k].clone()).collect()
        }
        _ => records,
    }
}

/// `key=value` fields of a FASTA description (`species=Human chain=Heavy ...`).
pub fn header_fields(description: &str) -> BTreeMap<String, String> {
    description
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Residue indicators of the CDR properties of one numbered antibody (length = sequence).
pub fn cdr_indicators(entry: &Entry, len: usize) -> Vec<Vec<bool>> {
    let mut columns = vec![vec![false; len]; CDR_PROPERTIES.len()];
    for f in &entry.features {
        let Some(d) = f.description.as_deref() else {
            continue;
        };
        let Some(k) = cdr_number(d) else { continue };
        let (Some(start), Some(end)) = (f.start.value, f.end.value) else {
            continue;
        };
        for pos in start.max(1)..=end.min(len) {
            columns[k - 1][pos - 1] = true;
            columns[3][pos - 1] = true;
        }
    }
    columns
}

/// 1, 2 or 3 for `CDR-H1` … `CDR-L3`.
fn cdr_number(description: &str) -> Option<usize> {
    let rest = description.strip_prefix("CDR-")?;
    let digit = rest.chars().nth(1)?.to_digit(10)? as usize;
    (1..=3).contains(&digit).then_some(digit)
}

/// Runs the whole demo into `options.out` and writes `report.html` there.
pub fn run_antibody_demo(
    options: &DemoOptions,
    progress: &mut dyn DemoProgress,
) -> Result<DemoOutcome> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut times = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str, times: &mut Vec<(String, f64)>| {
        times.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };

    let model = ProteinModel::load(&options.model_dir, &options.device)?;
    let records = spread_sample(crate::io::read_fasta(&options.fasta)?, options.limit);
    let seqs: Vec<EncodedSequence> = records
        .iter()
        .map(|r| model.encode_sequence(&r.id, &r.sequence, Some(options.max_len)))
        .collect::<Result<_>>()?;
    lap("load", &mut times);

    // Predictions, and the labels the FASTA headers state.
    progress.stage("predict", seqs.len());
    let mut predictions = predict_in_batches(&model, &seqs, options.batch_size, progress)?;
    write_table(&mut predictions, &out.join("predictions.csv"))?;
    let mut labels = labels_frame(&records)?;
    if labels.height() > 0 {
        write_table(&mut labels, &out.join("labels.csv"))?;
    }
    progress.finish_stage(&format!("predictions for {} antibodies", seqs.len()));
    lap("predict", &mut times);

    // IMGT regions.
    progress.stage("IMGT regions", 0);
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
    progress.finish_stage(&format!(
        "IMGT regions for {} antibodies ({} skipped)",
        entries.len(),
        skipped.len()
    ));
    lap("regions", &mut times);
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.accession.as_str(), e)).collect();

    // Attention to CDRs, then to amino acids.
    let weighting = Weighting::Threshold(options.min_attn);
    let numbered = cdr_sites(&seqs, &entries);
    progress.stage("attention to CDRs", numbered.len());
    let cdr_stats = cdr_head_statistics(&model, &numbered, weighting, options.batch_size, |_| {
        progress.advance()
    })?;
    let heads_path = out.join("heads_regions.parquet");
    write_table(&mut cdr_stats.to_frame(options.min_total)?, &heads_path)?;
    write_table(
        &mut cdr_stats.layer_frame(options.min_total)?,
        &side_path(&heads_path, "layers"),
    )?;
    write_table(
        &mut cdr_stats.top_heads_frame(options.min_total, 10)?,
        &side_path(&heads_path, "top"),
    )?;
    progress.finish_stage(&format!(
        "attention to CDRs over {} antibodies",
        cdr_stats.proteins
    ));
    lap("attention to CDRs", &mut times);

    progress.stage("attention to amino acids", seqs.len());
    let aa_stats =
        amino_acid_head_statistics(&model, &seqs, weighting, options.batch_size, |_| {
            progress.advance()
        })?;
    let aa_path = out.join("heads_amino_acids.parquet");
    write_table(&mut aa_stats.to_frame(options.min_total)?, &aa_path)?;
    let aa = aa_stats.amino_acid_correlations(options.min_total)?;
    write_table(&mut aa.to_frame()?, &side_path(&aa_path, "aa_blosum"))?;
    progress.finish_stage(&format!(
        "amino-acid correlation with BLOSUM62: r = {:.3}",
        aa.blosum_r
    ));
    lap("attention to amino acids", &mut times);

    // Integrated gradients of each antibody's predicted species, one job per predicted class.
    let ig = IgOptions {
        steps: options.steps,
        method: Quadrature::GaussLegendre,
        baseline: Baseline::Pad,
        batch_size: None,
        latent: true,
        latent_derivative: options.latent_derivative,
        recompute_layers: false,
    };
    let predicted = predicted_classes(&predictions, "species")?;
    let ig_seqs = spread_sample(seqs.clone(), options.ig_limit);
    let mut by_class: BTreeMap<usize, Vec<EncodedSequence>> = BTreeMap::new();
    for s in &ig_seqs {
        if let Some(&c) = predicted.get(&s.id) {
            by_class.entry(c).or_default().push(s.clone());
        }
    }
    progress.stage("integrated gradients", ig_seqs.len());
    let parts_dir = out.join("ig_by_target");
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
        run_attribution(&model, group, &job, |_| progress.advance())?;
        tables.push(job.out.clone());
    }
    let attribution_path = out.join("attribution_species.parquet");
    let (mut rows, mut summary) = concat_attributions(&tables, &ig_seqs)?;
    write_table(&mut rows, &attribution_path)?;
    write_table(&mut summary, &summary_path(&attribution_path))?;
    progress.finish_stage(&format!(
        "integrated gradients ({} steps, embedding + every head) for {} antibodies",
        options.steps,
        ig_seqs.len()
    ));
    lap("integrated gradients", &mut times);

    // Relevance against each CDR property.
    progress.stage("relevance statistics", CDR_PROPERTIES.len());
    for (property, stats) in cdr_relevance_statistics(&rows, &numbered, options.alpha)? {
        let path = out.join(format!("relevance_{property}.parquet"));
        write_table(&mut stats.to_frame()?, &path)?;
        write_table(
            &mut stats.per_protein_frame()?,
            &side_path(&path, "per_protein"),
        )?;
        progress.advance();
    }
    progress.finish_stage("relevance statistics against CDR1, CDR2, CDR3 and all CDRs");
    lap("relevance statistics", &mut times);

    // Attention maps of the head that attends most to CDR3, for the featured antibodies.
    // Featured antibodies come from those with attributions, so their residue tracks exist.
    let attributed: Vec<FastaRecord> = records
        .iter()
        .filter(|r| ig_seqs.iter().any(|s| s.id == r.id))
        .cloned()
        .collect();
    let featured = featured_antibodies(&attributed, &by_id);
    let mut attention_note = None;
    if let Some((layer, head)) = best_head(&cdr_stats, "CDR3", options.min_total) {
        attention_note = Some(format!(
            "Head {}-{} is the head with the largest share of attention on CDR3 residues; its maps \
             for two of the antibodies shown above.",
            layer + 1,
            head + 1
        ));
        let filter = AttentionFilter {
            layers: vec![layer],
            heads: vec![head],
            min_weight: None,
        };
        let chosen: Vec<&EncodedSequence> =
            seqs.iter().filter(|s| featured.contains(&s.id)).collect();
        let mut frames = Vec::new();
        for s in chosen.iter().take(2) {
            for maps in attention_maps(&model, &[*s])? {
                frames.push(attention_frame(&maps, &filter)?);
            }
        }
        if let Some(first) = frames.first() {
            let mut all = first.clone();
            for f in &frames[1..] {
                all.vstack_mut(f)?;
            }
            write_table(&mut all, &out.join("attention_maps.parquet"))?;
        }
    }

    // Provenance and the report.
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
        .parameter("ig.antibodies", ig_seqs.len())
        .parameter("stats.alpha", options.alpha)
        .parameter("stats.correction", "Benjamini–Hochberg over heads")
        .parameter("antibodies", records.len());
    let hints = ReportHints {
        title: Some("AntiBERTy on real antibodies: attention, attribution, CDRs".into()),
        overview: Some(overview_text(
            &model,
            &records,
            entries.len(),
            skipped.len(),
            ig_seqs.len(),
        )),
        tracks: featured.clone(),
        attention_maps: attention_note,
    };
    if let Some(k) = options.limit {
        provenance.parameter("limit", k);
    }
    provenance.write(&out.join(RUN_FILE))?;
    hints.write(out)?;
    let report = report_from_dir(
        out,
        &ReportOptions {
            timestamp: options.timestamp,
            ..Default::default()
        },
    )?;
    let report_path = out.join("report.html");
    report.save(&report_path, &out.join("figures"))?;
    lap("report", &mut times);
    Ok(DemoOutcome {
        report_path,
        report,
        antibodies: records.len(),
        numbered: entries.len(),
        seconds_per_stage: times,
    })
}

/// One row per numbered antibody: chain type and the CDR sequences (empty where absent).
pub fn antibodies_frame(numbered: &[AntibodyNumbering]) -> Result<DataFrame> {
    let cdr = |kind: RegionKind| -> Vec<String> {
        numbered
            .iter()
            .map(|n| n.region_sequence(kind).unwrap_or_default().to_string())
            .collect()
    };
    Ok(df!(
        "protein" => numbered.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        "chain" => numbered.iter().map(|n| n.chain.to_string()).collect::<Vec<_>>(),
        "domain" => numbered.iter().map(|n| format!("{}–{}", n.domain_start, n.domain_end)).collect::<Vec<_>>(),
        "cdr1" => cdr(RegionKind::Cdr1),
        "cdr2" => cdr(RegionKind::Cdr2),
        "cdr3" => cdr(RegionKind::Cdr3),
    )?)
}

fn predict_in_batches(
    model: &ProteinModel,
    seqs: &[EncodedSequence],
    batch_size: usize,
    progress: &mut dyn DemoProgress,
) -> Result<DataFrame> {
    let mut all: Option<DataFrame> = None;
    for chunk in seqs.chunks(batch_size.max(1)) {
        let refs: Vec<&EncodedSequence> = chunk.iter().collect();
        let df = predictions_frame(model, &refs)?;
        match &mut all {
            Some(a) => {
                a.vstack_mut(&df)?;
            }
            None => all = Some(df),
        }
        for _ in chunk {
            progress.advance();
        }
    }
    all.ok_or_else(|| Error::invalid("no antibody to analyse"))
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

/// Most probable class of `output` per protein (from [`predictions_frame`]).
pub fn predicted_classes(predictions: &DataFrame, output: &str) -> Result<HashMap<String, usize>> {
    use crate::frame::columns::{floats, integers, texts};
    let what = "predictions";
    let protein = texts(predictions, what, "protein")?;
    let outputs = texts(predictions, what, "output")?;
    let class = integers(predictions, what, "class")?;
    let prob = floats(predictions, what, "prob")?;
    let mut best: HashMap<String, (usize, f64)> = HashMap::new();
    for i in 0..predictions.height() {
        if outputs[i] != output {
            continue;
        }
        let e = best
            .entry(protein[i].clone())
            .or_insert((class[i] as usize, prob[i]));
        if prob[i] > e.1 {
            *e = (class[i] as usize, prob[i]);
        }
    }
    Ok(best.into_iter().map(|(p, (c, _))| (p, c)).collect())
}

/// The per-class attribution tables joined, rows in input order.
fn concat_attributions(
    tables: &[PathBuf],
    seqs: &[EncodedSequence],
) -> Result<(DataFrame, DataFrame)> {
    let mut rows: Option<DataFrame> = None;
    let mut summaries: Option<DataFrame> = None;
    for t in tables {
        let r = read_table(t)?;
        let s = read_table(&summary_path(t))?;
        match (&mut rows, &mut summaries) {
            (Some(a), Some(b)) => {
                a.vstack_mut(&r)?;
                b.vstack_mut(&s)?;
            }
            _ => {
                rows = Some(r);
                summaries = Some(s);
            }
        }
    }
    let (rows, summaries) = rows
        .zip(summaries)
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

fn has_cdr3(entry: &Entry) -> bool {
    entry.features.iter().any(|f| {
        f.description
            .as_deref()
            .and_then(cdr_number)
            .is_some_and(|k| k == 3)
    })
}

/// (layer, head), 0-based, of the head with the highest proportion for `property`.
/// Among heads with at least `min_total` attention.
pub fn best_head(stats: &HeadStatistics, property: &str, min_total: f64) -> Option<(usize, usize)> {
    stats
        .rows(min_total)
        .into_iter()
        .filter(|r| r.property == property && !r.excluded && r.proportion.is_finite())
        .max_by(|a, b| a.proportion.total_cmp(&b.proportion))
        .map(|r| (r.layer, r.head))
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
    use crate::annotation::{Feature, Position};

    fn record(id: &str, description: &str) -> FastaRecord {
        FastaRecord {
            id: id.into(),
            description: description.into(),
            sequence: "ACDE".into(),
        }
    }

    #[test]
    fn spread_sample_takes_evenly_spaced_records() {
        let records: Vec<_> = (0..10).map(|i| record(&format!("r{i}"), "")).collect();
        let ids: Vec<String> = spread_sample(records.clone(), Some(3))
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["r0", "r3", "r6"]);
        assert_eq!(spread_sample(records.clone(), None).len(), 10);
        assert_eq!(spread_sample(records, Some(50)).len(), 10);
    }

    #[test]
    fn cdr_indicators_mark_each_cdr_and_their_union() {
        let mut entry = Entry {
            accession: "ab".into(),
            ..Default::default()
        };
        for (d, s, e) in [("FR1", 1, 2), ("CDR-H1", 3, 4), ("CDR-L3", 6, 7)] {
            let mut f = Feature::new("Region", Position::exact(s), Position::exact(e));
            f.description = Some(d.into());
            entry.features.push(f);
        }
        let c = cdr_indicators(&entry, 8);
        assert_eq!(c[0], [false, false, true, true, false, false, false, false]);
        assert!(c[1].iter().all(|&v| !v));
        assert_eq!(c[2], [false, false, false, false, false, true, true, false]);
        assert_eq!(c[3], [false, false, true, true, false, true, true, false]);
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
