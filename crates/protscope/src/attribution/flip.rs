//! Residue flipping, a faithfulness check of attributions (after `ec/flip.py` of Wenzel, Grüner
//! & Strodthoff's xai-proteins): replace the k most relevant residues (alanine, PAD, MASK or a
//! random amino acid) and compare the drop of the target logit with the drop from replacing the
//! first k residues of a random order (seeded repeats). A faithful attribution drops the logit
//! more than chance; AOPC (area over the perturbation curve, Samek et al. 2017) sums it up per
//! method.

use std::collections::{BTreeMap, HashMap};

use candle_core::DType;
use polars::prelude::*;

use crate::model::{EncodedSequence, ForwardOptions, Level, OutputLevel, ProteinModel};
use crate::{Error, Result};

/// What a flipped residue becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// Alanine (`A`), as xai-proteins' `ec/flip.py`.
    Alanine,
    /// The PAD token (IG's baseline token).
    Pad,
    /// The MASK token (vocabularies without one are an error).
    Mask,
    /// One of the 20 standard amino acids drawn at random (seeded) for each flipped residue.
    Random,
}

impl Replacement {
    pub fn name(&self) -> &'static str {
        match self {
            Replacement::Alanine => "alanine",
            Replacement::Pad => "pad",
            Replacement::Mask => "mask",
            Replacement::Random => "random",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "alanine" => Ok(Replacement::Alanine),
            "pad" => Ok(Replacement::Pad),
            "mask" => Ok(Replacement::Mask),
            "random" => Ok(Replacement::Random),
            other => Err(Error::invalid(format!(
                "unknown replacement `{other}`: use alanine, pad, mask or random"
            ))),
        }
    }
}

/// The 20 standard amino acids [`Replacement::Random`] draws from.
const AMINO_ACIDS: &str = "ACDEFGHIKLMNPQRSTVWY";

/// Settings of a flipping run.
#[derive(Debug, Clone)]
pub struct FlipOptions {
    /// Residue counts to flip; a k above the residue count flips every residue.
    pub ks: Vec<usize>,
    /// Shares of the residue count to flip (k = round(fraction · n)), after `ks`.
    pub fractions: Vec<f64>,
    pub replacement: Replacement,
    /// The attribution method the relevance came from (a label for the table).
    pub method: String,
    /// Random draws per k.
    pub random_repeats: usize,
    /// Base seed; each protein's stream is seeded from it and the protein id, so results do not
    /// depend on protein order.
    pub seed: u64,
    /// Sequences per forward pass.
    pub batch_size: usize,
}

impl Default for FlipOptions {
    fn default() -> Self {
        FlipOptions {
            ks: vec![1, 5, 10],
            fractions: Vec::new(),
            replacement: Replacement::Pad,
            method: "ig".into(),
            random_repeats: 10,
            seed: 0,
            batch_size: 16,
        }
    }
}

/// One (protein, k) result.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipRow {
    pub protein: String,
    /// The attribution method the ranking came from.
    pub method: String,
    pub replacement: Replacement,
    pub k: usize,
    /// The share of the residue count asked for, when k came from one.
    pub fraction: Option<f64>,
    /// min(k, residues).
    pub n_flipped: usize,
    pub logit_original: f64,
    /// Target logit with the top-k residues flipped.
    pub logit_top: f64,
    /// Mean target logit over the random orders (NaN without draws).
    pub logit_random_mean: f64,
    /// Sample standard deviation over the draws (NaN with fewer than two).
    pub logit_random_sd: f64,
    /// logit_original − logit_top.
    pub drop_top: f64,
    /// logit_original − logit_random_mean.
    pub drop_random: f64,
    /// 1-based residue positions flipped for `logit_top`, ascending.
    pub top_positions: Vec<usize>,
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small, well-mixed generator; enough for drawing
/// residue positions reproducibly without another dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..bound (bound > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % bound) as usize;
            }
        }
    }

    /// k distinct values of 0..n (partial Fisher–Yates), in draw order.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

/// FNV-1a of the protein id, mixed into the seed.
pub(crate) fn protein_seed(seed: u64, protein: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in protein.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ h
}

/// 0-based residue indices of the k largest relevances; ties go to the earlier residue.
pub fn top_k_residues(relevance: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..relevance.len()).collect();
    order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]).then(a.cmp(&b)));
    order.truncate(k.min(relevance.len()));
    order
}

/// Flips residues of one protein. `relevance` has one value per residue (positions 1..=n, the
/// special tokens excluded) of the encoded sequence.
pub fn flip_residues(
    model: &ProteinModel,
    seq: &EncodedSequence,
    output: &str,
    target: usize,
    relevance: &[f64],
    options: &FlipOptions,
) -> Result<Vec<FlipRow>> {
    let head = model.output(output)?;
    if head.level != OutputLevel::Sequence {
        return Err(Error::invalid(format!(
            "output `{output}` predicts per token; flipping needs a sequence-level output"
        )));
    }
    if target >= head.num_classes {
        return Err(Error::invalid(format!(
            "target {target} is outside output `{output}` ({} classes)",
            head.num_classes
        )));
    }
    let n = seq.residues.len();
    if relevance.len() != n {
        return Err(Error::sequence(
            &seq.id,
            format!(
                "{} relevance values for {n} residues; the attributions must come from the same \
                 sequence and `max_len`",
                relevance.len()
            ),
        ));
    }
    if let Some(bad) = relevance.iter().position(|v| !v.is_finite()) {
        return Err(Error::sequence(
            &seq.id,
            format!("relevance of residue {} is not finite", bad + 1),
        ));
    }
    let filler = match options.replacement {
        Replacement::Alanine | Replacement::Random => None,
        Replacement::Pad => Some(model.tokenizer.pad_id()),
        Replacement::Mask => Some(model.tokenizer.mask_id().ok_or_else(|| {
            Error::file(
                model.tokenizer.source(),
                "flipping to MASK needs a mask token, and this vocabulary has none; use \
                 `replacement` alanine, pad or random",
            )
        })?),
    };
    let residue_id = |aa: char| -> Result<u32> {
        let ids = model.encode_sequence("replacement", &aa.to_string(), None)?;
        Ok(ids.ids[ids.residue_start])
    };
    let alphabet: Vec<u32> = AMINO_ACIDS.chars().map(residue_id).collect::<Result<_>>()?;
    let alanine = residue_id('A')?;
    let mut rng = SplitMix64::new(protein_seed(options.seed, &seq.id));
    // Random replacements: one draw per residue position, shared by every flip of the protein,
    // so the top-k and random orders replace a residue by the same amino acid.
    let random_fill: Vec<u32> = (0..n)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect();
    let flipped = |residues: &[usize]| -> Vec<u32> {
        let mut ids = seq.ids.clone();
        for &r in residues {
            ids[r + seq.residue_start] = match options.replacement {
                Replacement::Alanine => alanine,
                Replacement::Random => random_fill[r],
                Replacement::Pad | Replacement::Mask => filler.expect("token checked above"),
            };
        }
        ids
    };
    // The counts: residue counts, then shares of the length.
    let counts: Vec<(usize, Option<f64>)> = options
        .ks
        .iter()
        .map(|&k| (k, None))
        .chain(options.fractions.iter().map(|&f| {
            let k = (f * n as f64).round().max(0.0) as usize;
            (k, Some(f))
        }))
        .collect();
    if let Some(bad) = options.fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
        return Err(Error::setting("fractions", bad, "must lie in 0..=1"));
    }
    // Random orders: one permutation per repeat, its first k residues flipped for every k
    // (nested, like the most-relevant-first order).
    let orders: Vec<Vec<usize>> = (0..options.random_repeats)
        .map(|_| rng.sample(n, n))
        .collect();
    // Row 0: original; then per k: top-k, then the random orders.
    let mut rows = vec![seq.ids.clone()];
    let mut plans = Vec::new();
    for &(k, fraction) in &counts {
        let top = top_k_residues(relevance, k);
        rows.push(flipped(&top));
        for order in &orders {
            rows.push(flipped(&order[..k.min(n)]));
        }
        plans.push((k, fraction, top));
    }
    let logits = target_logits(model, output, target, &rows, options.batch_size.max(1))?;
    let original = logits[0];
    let mut out = Vec::with_capacity(plans.len());
    let mut at = 1;
    for (k, fraction, top) in plans {
        let logit_top = logits[at];
        let draws = &logits[at + 1..at + 1 + options.random_repeats];
        at += 1 + options.random_repeats;
        let mean = crate::stats::mean(draws);
        let sd = if draws.len() >= 2 {
            (draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (draws.len() - 1) as f64)
                .sqrt()
        } else {
            f64::NAN
        };
        let mut positions: Vec<usize> = top.iter().map(|r| r + 1).collect();
        positions.sort_unstable();
        out.push(FlipRow {
            protein: seq.id.clone(),
            method: options.method.clone(),
            replacement: options.replacement,
            k,
            fraction,
            n_flipped: positions.len(),
            logit_original: original,
            logit_top,
            logit_random_mean: mean,
            logit_random_sd: sd,
            drop_top: original - logit_top,
            drop_random: original - mean,
            top_positions: positions,
        });
    }
    Ok(out)
}

/// Target logit of each id row (all the same length), in batches.
fn target_logits(
    model: &ProteinModel,
    output: &str,
    target: usize,
    rows: &[Vec<u32>],
    batch_size: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size) {
        let batch = model.batch_from_ids(chunk)?;
        let encoded = model.forward(&batch, ForwardOptions::default())?;
        let logits = model.output_logits(output, &encoded)?;
        let column: Vec<f64> = logits
            .narrow(1, target, 1)?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1()?;
        out.extend(column);
    }
    Ok(out)
}

/// Columns protein, method, replacement, k, fraction, n_flipped, logit_original, logit_top,
/// logit_random_mean, logit_random_sd, drop_top, drop_random, top_positions (comma-separated,
/// 1-based).
pub fn flip_frame(rows: &[FlipRow]) -> Result<DataFrame> {
    let f = |g: fn(&FlipRow) -> f64| rows.iter().map(g).collect::<Vec<f64>>();
    Ok(df!(
        "protein" => rows.iter().map(|r| r.protein.as_str()).collect::<Vec<_>>(),
        "method" => rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        "replacement" => rows.iter().map(|r| r.replacement.name()).collect::<Vec<_>>(),
        "k" => rows.iter().map(|r| r.k as i64).collect::<Vec<_>>(),
        "fraction" => rows.iter().map(|r| r.fraction).collect::<Vec<_>>(),
        "n_flipped" => rows.iter().map(|r| r.n_flipped as i64).collect::<Vec<_>>(),
        "logit_original" => f(|r| r.logit_original),
        "logit_top" => f(|r| r.logit_top),
        "logit_random_mean" => f(|r| r.logit_random_mean),
        "logit_random_sd" => f(|r| r.logit_random_sd),
        "drop_top" => f(|r| r.drop_top),
        "drop_random" => f(|r| r.drop_random),
        "top_positions" => rows
            .iter()
            .map(|r| r.top_positions.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>(),
    )?)
}

/// AOPC of one method on one protein: the mean logit drop over the perturbation steps
/// (Samek et al. 2017), AOPC = 1/(K+1) · Σ_{k ∈ {0} ∪ ks} (f(x) − f(x_k)), the k = 0 step
/// dropping nothing. For the most-relevant-first order and for the random orders.
#[derive(Debug, Clone, PartialEq)]
pub struct Aopc {
    pub protein: String,
    pub method: String,
    pub aopc_top: f64,
    pub aopc_random: f64,
    /// Perturbation steps K (k = 0 not counted).
    pub steps: usize,
}

/// [`Aopc`] per (method, protein) of flip rows, in first-seen order. Rows asking for k = 0
/// are the k = 0 step itself and are not counted twice.
pub fn aopc(rows: &[FlipRow]) -> Vec<Aopc> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut sums: HashMap<(String, String), (f64, f64, usize)> = HashMap::new();
    for r in rows.iter().filter(|r| r.n_flipped > 0 || r.k > 0) {
        let key = (r.method.clone(), r.protein.clone());
        let entry = sums.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0.0, 0.0, 0)
        });
        entry.0 += r.drop_top;
        entry.1 += r.drop_random;
        entry.2 += 1;
    }
    order
        .into_iter()
        .map(|key| {
            let (top, random, k) = sums[&key];
            Aopc {
                method: key.0,
                protein: key.1,
                aopc_top: top / (k + 1) as f64,
                aopc_random: random / (k + 1) as f64,
                steps: k,
            }
        })
        .collect()
}

/// Columns method, protein, steps, aopc_top, aopc_random, aopc_gain (aopc_top − aopc_random).
pub fn aopc_frame(values: &[Aopc]) -> Result<DataFrame> {
    Ok(df!(
        "method" => values.iter().map(|a| a.method.as_str()).collect::<Vec<_>>(),
        "protein" => values.iter().map(|a| a.protein.as_str()).collect::<Vec<_>>(),
        "steps" => values.iter().map(|a| a.steps as i64).collect::<Vec<_>>(),
        "aopc_top" => values.iter().map(|a| a.aopc_top).collect::<Vec<_>>(),
        "aopc_random" => values.iter().map(|a| a.aopc_random).collect::<Vec<_>>(),
        "aopc_gain" => values.iter().map(|a| a.aopc_top - a.aopc_random).collect::<Vec<_>>(),
    )?)
}

/// Per protein: relevance at residue positions 1..=n, and the residue tokens joined (when the
/// table has a `residue` column).
pub type ResidueRelevance = BTreeMap<String, (Vec<f64>, Option<String>)>;

/// Per-residue relevance at one [`Level`] from an attribution table (columns protein,
/// layer, head, position, relevance; residue optional): for each protein the values at
/// positions 1..=n in order (n + 1, the final special token, is the largest position), and the
/// residues when the table has them. Missing or repeated positions are errors naming the
/// protein.
pub fn residue_relevance(table: &DataFrame, level: Level) -> Result<ResidueRelevance> {
    let (layer, head) = level.columns();
    let col = |name: &str| {
        table.column(name).map_err(|_| {
            Error::invalid(format!(
                "attribution table has no `{name}` column (needs protein, layer, head, position, \
                 relevance)"
            ))
        })
    };
    let int = |name: &str| -> Result<Vec<Option<i64>>> {
        let c = col(name)?.cast(&DataType::Int64)?;
        Ok(c.i64()?.iter().collect())
    };
    let protein = col("protein")?.cast(&DataType::String)?;
    let protein = protein.str()?;
    let (layers, heads, positions) = (int("layer")?, int("head")?, int("position")?);
    let relevance = col("relevance")?.cast(&DataType::Float64)?;
    let relevance = relevance.f64()?;
    let residue = match table.column("residue") {
        Ok(c) => Some(c.cast(&DataType::String)?),
        Err(_) => None,
    };
    let residue = residue.as_ref().map(|c| c.str()).transpose()?;
    let mut grouped: HashMap<String, BTreeMap<i64, (f64, Option<String>)>> = HashMap::new();
    for i in 0..table.height() {
        if layers[i] != Some(layer) || heads[i] != Some(head) {
            continue;
        }
        let (Some(p), Some(pos), Some(v)) = (protein.get(i), positions[i], relevance.get(i)) else {
            return Err(Error::invalid(format!(
                "attribution table row {i}: null protein, position or relevance"
            )));
        };
        let r = residue.and_then(|c| c.get(i)).map(str::to_string);
        if grouped
            .entry(p.to_string())
            .or_default()
            .insert(pos, (v, r))
            .is_some()
        {
            return Err(Error::sequence(
                p,
                format!("position {pos} appears twice at {level}"),
            ));
        }
    }
    let mut out = BTreeMap::new();
    for (protein, by_position) in grouped {
        let last = *by_position.keys().next_back().unwrap_or(&0);
        let first = *by_position.keys().next().unwrap_or(&0);
        // 0 = a leading special token (none in T5), n+1 = the final one.
        if !(0..=1).contains(&first) || last < 2 || by_position.len() as i64 != last + 1 - first {
            return Err(Error::sequence(
                &protein,
                format!(
                    "positions must run 0..=n+1 (or 1..=n+1) without gaps (found {} positions \
                     from {first} to {last})",
                    by_position.len()
                ),
            ));
        }
        // Residues are 1..=n; one final special token follows, or XLNet's `<sep> <cls>`, told
        // apart by its multi-letter token text.
        let mut end = last;
        while end > 1
            && by_position[&(end - 1)]
                .1
                .as_deref()
                .is_some_and(|t| t.chars().count() > 1)
        {
            end -= 1;
        }
        let residues: Vec<_> = (1..end).map(|p| &by_position[&p]).collect();
        let values = residues.iter().map(|(v, _)| *v).collect();
        let sequence = residues
            .iter()
            .map(|(_, r)| r.clone())
            .collect::<Option<String>>();
        out.insert(protein, (values, sequence));
    }
    if out.is_empty() {
        return Err(Error::invalid(format!(
            "attribution table has no rows at {level} (layer {layer}, head {head} in the table)"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_breaks_ties_by_position() {
        assert_eq!(top_k_residues(&[0.1, 0.5, 0.5, -1.0], 2), vec![1, 2]);
        assert_eq!(top_k_residues(&[0.1, 0.5], 5), vec![1, 0]);
        assert!(top_k_residues(&[0.1], 0).is_empty());
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_distinct() {
        let a = SplitMix64::new(7).sample(20, 10);
        let b = SplitMix64::new(7).sample(20, 10);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        assert!(a.iter().all(|&v| v < 20));
        assert_ne!(a, SplitMix64::new(8).sample(20, 10));
        assert_eq!(SplitMix64::new(1).sample(3, 9).len(), 3);
        // Uniformity, roughly: every value of 0..4 turns up in 400 draws.
        let mut rng = SplitMix64::new(3);
        let mut counts = [0; 4];
        for _ in 0..400 {
            counts[rng.below(4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    }
}
