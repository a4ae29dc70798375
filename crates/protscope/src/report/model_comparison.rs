//! The demo's model comparison (`demo --models antiberty,sapiens,iglm`): every compared model
//! runs the same attention analysis (which heads attend to the CDRs) and scores the same
//! antibodies residue by residue, and the scores are summarised per IMGT region (CDR1/2/3 vs
//! framework: where each model finds the sequence surprising). Each model's tables land in
//! `models/<name>/` of the run folder, where the report's comparison section reads them.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::annotation::antibody::{cdr_indicators, cdr_sites};
use crate::annotation::Entry;
use crate::attention::analysis::cdr_head_statistics;
use crate::attention::heads::Weighting;
use crate::frame::write_table;
use crate::io::{header_fields, FastaRecord};
use crate::model::scoring::{
    residue_scores_frame, score_sequences, scores_frame, ScoreOptions, SequenceScore,
};
use crate::model::{EncodedSequence, ProteinModel};
use crate::{Error, Result};

/// Folder of a run folder that holds one sub-folder of tables per compared model.
pub const MODELS_DIR: &str = "models";

/// Which chains a compared model reads (the `chain=` header field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainScope {
    All,
    Heavy,
    Light,
}

impl ChainScope {
    fn admits(self, record: &FastaRecord) -> bool {
        let chain = header_fields(&record.description).get("chain").cloned();
        match self {
            ChainScope::All => true,
            ChainScope::Heavy => chain.is_some_and(|c| c.eq_ignore_ascii_case("heavy")),
            ChainScope::Light => chain.is_some_and(|c| c.eq_ignore_ascii_case("light")),
        }
    }
}

/// Tokens a compared model wants before the residues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixRule {
    None,
    /// IgLM's conditioning: `[HEAVY]|[LIGHT] [SPECIES]` from the header's `chain=` and
    /// `species=` fields; antibodies without both (or with a species IgLM lacks) are left out.
    ChainSpecies,
}

/// One model of the comparison.
#[derive(Debug, Clone)]
pub struct ComparedModel {
    /// Name in tables and figures, also the folder `models/<name>/`.
    pub name: String,
    pub dir: PathBuf,
    pub chains: ChainScope,
    pub prefix: PrefixRule,
}

/// Settings shared by every compared model (the demo's).
#[derive(Debug, Clone)]
pub struct ComparisonOptions {
    pub device: candle_core::Device,
    pub min_attn: f32,
    pub min_total: f64,
    pub batch_size: usize,
    pub max_len: usize,
    /// Forward passes per scoring batch (masked copies for pseudo-log-likelihood).
    pub score_batch_size: usize,
}

/// What one compared model gave: its name, antibodies analysed and scored, and the mean
/// log-probability of CDR3 and framework residues.
#[derive(Debug, Clone)]
pub struct ModelComparison {
    pub name: String,
    pub analysed: usize,
    pub scored: usize,
    pub cdr3_mean_log_prob: f64,
    pub framework_mean_log_prob: f64,
}

/// IgLM's prefix of one antibody, or None when the header lacks chain or species.
pub fn chain_species_prefix(record: &FastaRecord) -> Option<String> {
    let fields = header_fields(&record.description);
    let chain = fields.get("chain")?.to_ascii_uppercase();
    let species = fields.get("species")?.to_ascii_uppercase();
    (species != "UNKNOWN").then(|| format!("[{chain}] [{species}]"))
}

/// Encodes the records a model reads, each with its prefix (records whose prefix the
/// vocabulary lacks are left out).
fn encode_for(
    model: &mut ProteinModel,
    spec: &ComparedModel,
    records: &[&FastaRecord],
    max_len: usize,
) -> Result<Vec<EncodedSequence>> {
    let mut seqs = Vec::with_capacity(records.len());
    for r in records {
        if spec.prefix == PrefixRule::ChainSpecies {
            let Some(prefix) = chain_species_prefix(r) else {
                continue;
            };
            if model.set_prefix(&prefix).is_err() {
                continue;
            }
        }
        // Room for the prefix (max_len counts residues and specials alike), within the
        // model's own limit (Sapiens: 144 tokens).
        let extra = model.tokenizer.prefix().len();
        let limit = (max_len + extra).min(model.tokenizer.max_tokens());
        seqs.push(model.encode_sequence(&r.id, &r.sequence, Some(limit))?);
    }
    Ok(seqs)
}

/// Runs one model's attention analysis on `analysed` and scores `scored` (both filtered by the
/// model's chains), writing into `out` (`models/<name>/`): `heads_regions.parquet` (with
/// `.layers` and `.top`), `sequence_scores.csv`, `residue_scores.parquet` and
/// `region_scores.csv`.
pub fn compare_model(
    spec: &ComparedModel,
    analysed: &[FastaRecord],
    scored: &[FastaRecord],
    entries: &[Entry],
    options: &ComparisonOptions,
    out: &Path,
) -> Result<ModelComparison> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut model = ProteinModel::load(&spec.dir, &options.device)?;
    let in_scope = |records: &[FastaRecord]| -> Vec<FastaRecord> {
        records
            .iter()
            .filter(|r| spec.chains.admits(r))
            .cloned()
            .collect()
    };
    let analysed = in_scope(analysed);
    let refs: Vec<&FastaRecord> = analysed.iter().collect();
    let seqs = encode_for(&mut model, spec, &refs, options.max_len)?;
    let numbered = cdr_sites(&seqs, entries);
    let stats = cdr_head_statistics(
        &model,
        &numbered,
        Weighting::Threshold(options.min_attn),
        options.batch_size,
        |_| {},
    )?;
    stats.write_tables(&out.join("heads_regions.parquet"), options.min_total, 10)?;

    let scored = in_scope(scored);
    let refs: Vec<&FastaRecord> = scored.iter().collect();
    let seqs = encode_for(&mut model, spec, &refs, options.max_len)?;
    let scores = score_sequences(
        &model,
        &seqs,
        &ScoreOptions {
            batch_size: options.score_batch_size,
        },
    )?;
    write_table(
        &mut scores_frame(&scores)?,
        &out.join("sequence_scores.csv"),
    )?;
    write_table(
        &mut residue_scores_frame(&scores)?,
        &out.join("residue_scores.parquet"),
    )?;
    let regions = region_scores(&spec.name, &scores, entries);
    write_table(
        &mut region_scores_frame(&regions)?,
        &out.join("region_scores.csv"),
    )?;
    let mean_of = |region: &str| {
        regions
            .iter()
            .find(|r| r.region == region)
            .map_or(f64::NAN, |r| r.mean_log_prob)
    };
    Ok(ModelComparison {
        name: spec.name.clone(),
        analysed: numbered.len(),
        scored: scores.len(),
        cdr3_mean_log_prob: mean_of("CDR3"),
        framework_mean_log_prob: mean_of(FRAMEWORK),
    })
}

/// Region of residues outside every CDR.
pub const FRAMEWORK: &str = "framework";

/// Regions of the `region_scores` table, in reading order.
pub const SCORE_REGIONS: [&str; 5] = ["CDR1", "CDR2", "CDR3", FRAMEWORK, "all"];

/// One model's residue scores summed up over one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionScore {
    pub model: String,
    pub region: String,
    pub proteins: usize,
    pub n_residues: usize,
    /// Mean natural-log probability of the region's residues.
    pub mean_log_prob: f64,
    /// Share of the region's residues that are the model's most probable amino acid
    /// (masked-residue accuracy for masked LMs, next-residue accuracy for decoders).
    pub accuracy: f64,
}

/// Per-region means of residue scores: CDR1, CDR2, CDR3, framework (outside the CDRs) and all,
/// over the antibodies with IMGT regions in `entries` (others are left out).
pub fn region_scores(model: &str, scores: &[SequenceScore], entries: &[Entry]) -> Vec<RegionScore> {
    // (proteins, residues, Σ log p, correct) per region.
    let mut sums = [(0usize, 0usize, 0.0f64, 0usize); SCORE_REGIONS.len()];
    for s in scores {
        let Some(entry) = entries.iter().find(|e| e.accession == s.protein) else {
            continue;
        };
        let len = s.residues.iter().map(|r| r.position).max().unwrap_or(0);
        // [CDR1, CDR2, CDR3, CDRs][residue]
        let cdr = cdr_indicators(entry, len);
        let mut touched = [false; SCORE_REGIONS.len()];
        for r in &s.residues {
            let i = r.position - 1;
            let in_region = [cdr[0][i], cdr[1][i], cdr[2][i], !cdr[3][i], true];
            for (k, inside) in in_region.into_iter().enumerate() {
                if inside {
                    touched[k] = true;
                    sums[k].1 += 1;
                    sums[k].2 += r.log_prob;
                    sums[k].3 += usize::from(r.predicted == r.residue);
                }
            }
        }
        for (k, t) in touched.into_iter().enumerate() {
            sums[k].0 += usize::from(t);
        }
    }
    SCORE_REGIONS
        .iter()
        .zip(sums)
        .map(|(region, (proteins, n, log_prob, correct))| RegionScore {
            model: model.to_string(),
            region: region.to_string(),
            proteins,
            n_residues: n,
            mean_log_prob: if n > 0 { log_prob / n as f64 } else { f64::NAN },
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                f64::NAN
            },
        })
        .collect()
}

/// The `region_scores` table.
pub fn region_scores_frame(rows: &[RegionScore]) -> Result<DataFrame> {
    Ok(df!(
        "model" => rows.iter().map(|r| r.model.clone()).collect::<Vec<_>>(),
        "region" => rows.iter().map(|r| r.region.clone()).collect::<Vec<_>>(),
        "proteins" => rows.iter().map(|r| r.proteins as i64).collect::<Vec<_>>(),
        "n_residues" => rows.iter().map(|r| r.n_residues as i64).collect::<Vec<_>>(),
        "mean_log_prob" => rows.iter().map(|r| r.mean_log_prob).collect::<Vec<_>>(),
        "accuracy" => rows.iter().map(|r| r.accuracy).collect::<Vec<_>>(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::{Feature, Position};
    use crate::model::scoring::{ResidueScore, ScoreMethod};

    fn record(description: &str) -> FastaRecord {
        FastaRecord {
            id: "a".into(),
            description: description.into(),
            sequence: "ACDE".into(),
        }
    }

    #[test]
    fn iglm_prefix_comes_from_chain_and_species() {
        assert_eq!(
            chain_species_prefix(&record("species=Human chain=Heavy")).as_deref(),
            Some("[HEAVY] [HUMAN]")
        );
        assert_eq!(
            chain_species_prefix(&record("species=unknown chain=Light")),
            None
        );
        assert_eq!(chain_species_prefix(&record("chain=Light")), None);
        assert!(ChainScope::Light.admits(&record("chain=Light")));
        assert!(!ChainScope::Heavy.admits(&record("chain=Light")));
        assert!(ChainScope::All.admits(&record("")));
    }

    #[test]
    fn region_scores_average_each_region() {
        let mut cdr3 = Feature::new("Region", Position::exact(3), Position::exact(4));
        cdr3.description = Some("CDR-H3".into());
        let entry = Entry {
            accession: "p".into(),
            features: vec![cdr3],
            ..Default::default()
        };
        let residue = |position, log_prob: f64, predicted| ResidueScore {
            position,
            residue: 'A',
            log_prob,
            predicted,
            predicted_log_prob: 0.0,
        };
        let score = SequenceScore {
            protein: "p".into(),
            method: ScoreMethod::Pseudo,
            n_scored: 4,
            log_likelihood: -10.0,
            residues: vec![
                residue(1, -1.0, 'A'),
                residue(2, -2.0, 'C'),
                residue(3, -3.0, 'A'),
                residue(4, -4.0, 'C'),
            ],
        };
        let rows = region_scores("m", &[score], &[entry]);
        let get = |name: &str| rows.iter().find(|r| r.region == name).unwrap().clone();
        assert_eq!(get("CDR3").mean_log_prob, -3.5);
        assert_eq!(get("CDR3").accuracy, 0.5);
        assert_eq!(get(FRAMEWORK).mean_log_prob, -1.5);
        assert_eq!(get("all").n_residues, 4);
        assert_eq!(get("CDR1").proteins, 0);
        assert!(get("CDR1").mean_log_prob.is_nan());
        assert_eq!(region_scores_frame(&rows).unwrap().height(), 5);
    }
}
