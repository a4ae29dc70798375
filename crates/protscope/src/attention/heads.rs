//! Which heads attend to what (Vig et al. 2021, "BERTology Meets Biology: Interpreting Attention
//! in Protein Language Models"): per layer and head, the share of attention edges (i → j) that
//! land on a property, accumulated over proteins in one streaming pass with tensor ops.
//!
//! Forms (see [`Weighting`]):
//! - threshold (the paper's formula): n_edges = Σ 1[α_ij ≥ θ], n_property_edges =
//!   Σ 1[α_ij ≥ θ]·f(i,j), proportion = n_property_edges / n_edges. provis' code keeps α > θ; the
//!   two differ only for weights exactly equal to θ.
//! - weighted: Σ α_ij f(i,j) / Σ α_ij.
//! - weight above θ: Σ α_ij 1[α_ij > θ] f(i,j) / Σ α_ij 1[α_ij > θ], which is what provis'
//!   `compute_edge_features.py` computes when given `--min-attn`.
//!
//! Causal decoders (GPT-2): query i attends to keys 0..=i only, so the maps are
//! lower-triangular. Edge counts and proportions read the maps as they are (masked entries are 0
//! and never reach θ); the background, the share of edges expected on the property, counts only
//! edges that can exist: key j has n − j of them, so a site's weight in the background is
//! (n − j) / (n(n+1)/2), and a contact background counts known pairs with j ≤ i.
//!
//! Special tokens are removed first (weights not renormalised) and sequences are cut to
//! `max_len` tokens including the specials before the model runs, as provis does. Sums run over
//! all proteins; a head whose n_edges is below `min_total` is marked excluded (provis: 100).

use std::collections::BTreeMap;

use candle_core::{DType, Device};
use polars::prelude::*;

use super::blosum::blosum62;
use super::AttentionMaps;
use crate::stats::pearson_r;
use crate::{Error, Result};

/// The 20 standard amino acids, in the order of the `aa_to_X` properties (BLOSUM order).
pub const AMINO_ACIDS: [char; 20] = [
    'A', 'R', 'N', 'D', 'C', 'Q', 'E', 'G', 'H', 'I', 'L', 'K', 'M', 'F', 'P', 'S', 'T', 'W', 'Y',
    'V',
];

/// How edges are counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weighting {
    /// Count edges with α ≥ θ.
    Threshold(f32),
    /// Sum attention weights.
    Weight,
    /// Sum attention weights above θ (α > θ), as provis' code does with `--min-attn`.
    WeightAbove(f32),
}

impl Weighting {
    fn check(&self) -> Result<()> {
        match self {
            Weighting::Threshold(t) | Weighting::WeightAbove(t) if !(0.0..=1.0).contains(t) => Err(
                Error::invalid(format!("attention threshold {t} must lie in [0, 1]")),
            ),
            _ => Ok(()),
        }
    }
}

/// Per-residue annotation of one protein for one property.
#[derive(Debug, Clone)]
pub enum ProteinProperty<'a> {
    /// f(i, j) = site(j), residue-indexed (length n, 0-based).
    Sites(&'a [bool]),
    /// f(i, j) = contact(i, j), row-major n × n. `known` (same layout) marks pairs whose contact
    /// status is defined (both residues resolved, far enough apart in sequence); only those count
    /// in the background. Edges on unknown pairs still count in n_edges, as in provis.
    Contacts {
        contact: &'a [bool],
        known: &'a [bool],
    },
    /// f(i, j) = [aa(j) = X] for each of the 20 amino acids; fills 20 properties in
    /// [`AMINO_ACIDS`] order. Other residues (X, U, …) belong to none.
    AminoAcids(&'a [char]),
}

impl ProteinProperty<'_> {
    /// How many property slots this annotation fills.
    pub fn width(&self) -> usize {
        match self {
            ProteinProperty::AminoAcids(_) => AMINO_ACIDS.len(),
            _ => 1,
        }
    }
}

/// One row of [`HeadStatistics::rows`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeadProportion {
    pub property: String,
    pub layer: usize,
    pub head: usize,
    /// Σ edge values (counts in the threshold form, attention mass otherwise).
    pub n_edges: f64,
    pub n_property_edges: f64,
    /// n_property_edges / n_edges (NaN when n_edges = 0).
    pub proportion: f64,
    /// Share of residues (or residue pairs) with the property.
    pub background: f64,
    /// n_edges < min_total.
    pub excluded: bool,
}

/// Accumulates edge sums for a fixed list of property names over proteins.
#[derive(Debug, Clone)]
pub struct HeadStatistics {
    pub num_layers: usize,
    pub num_heads: usize,
    pub weighting: Weighting,
    /// Property names (`aa_to_A`, … for amino acids), in the order values are given to `add`.
    pub properties: Vec<String>,
    /// (L·H) totals.
    n_edges: Vec<f64>,
    /// [property][L·H].
    property_edges: Vec<Vec<f64>>,
    /// Background numerator / denominator per property.
    background: Vec<(f64, f64)>,
    /// Proteins added.
    pub proteins: usize,
}

impl HeadStatistics {
    pub fn new(
        num_layers: usize,
        num_heads: usize,
        weighting: Weighting,
        properties: Vec<String>,
    ) -> Result<Self> {
        weighting.check()?;
        if properties.is_empty() {
            return Err(Error::invalid("head statistics need at least one property"));
        }
        let p = properties.len();
        Ok(HeadStatistics {
            num_layers,
            num_heads,
            weighting,
            properties,
            n_edges: vec![0.0; num_layers * num_heads],
            property_edges: vec![vec![0.0; num_layers * num_heads]; p],
            background: vec![(0.0, 0.0); p],
            proteins: 0,
        })
    }

    /// Properties `aa_to_A` … `aa_to_V`, filled by one [`ProteinProperty::AminoAcids`] value.
    pub fn amino_acids(num_layers: usize, num_heads: usize, weighting: Weighting) -> Result<Self> {
        let names = AMINO_ACIDS.iter().map(|a| format!("aa_to_{a}")).collect();
        Self::new(num_layers, num_heads, weighting, names)
    }

    /// Adds one protein: its attention maps (from a sequence already cut to `max_len`) and
    /// annotations covering exactly the residues the model saw, filling the property names in
    /// order (an `AminoAcids` value fills 20). Nothing is added when an annotation is invalid.
    pub fn add(&mut self, maps: &AttentionMaps, properties: &[ProteinProperty]) -> Result<()> {
        let n = maps.residues();
        self.check_protein(
            &maps.protein,
            maps.num_layers,
            maps.num_heads,
            n,
            properties,
        )?;
        if n == 0 {
            self.proteins += 1;
            return Ok(());
        }
        let contacts = contact_maps(properties);
        let sums = self.edge_sums(maps, &contacts)?;
        self.add_edge_sums(n, maps.causal, sums, properties);
        Ok(())
    }

    /// Counts a protein without residues (nothing to add).
    pub(crate) fn count_empty_protein(&mut self) {
        self.proteins += 1;
    }

    /// Checks a protein's shape and annotations against the statistics before anything is added.
    pub(crate) fn check_protein(
        &self,
        protein: &str,
        num_layers: usize,
        num_heads: usize,
        n: usize,
        properties: &[ProteinProperty],
    ) -> Result<()> {
        if num_layers != self.num_layers || num_heads != self.num_heads {
            return Err(Error::sequence(
                protein,
                format!(
                    "attention maps have {num_layers} layers × {num_heads} heads, the statistics {} × {}",
                    self.num_layers, self.num_heads
                ),
            ));
        }
        let width: usize = properties.iter().map(ProteinProperty::width).sum();
        if width != self.properties.len() {
            return Err(Error::sequence(
                protein,
                format!(
                    "{width} property values given for {} properties",
                    self.properties.len()
                ),
            ));
        }
        for prop in properties {
            let (len, expected) = match prop {
                ProteinProperty::Sites(s) => (s.len(), n),
                ProteinProperty::Contacts { contact, known } => {
                    if contact.len() != known.len() {
                        return Err(Error::sequence(
                            protein,
                            "contact and known-pair maps differ in size",
                        ));
                    }
                    (contact.len(), n * n)
                }
                ProteinProperty::AminoAcids(r) => (r.len(), n),
            };
            if len != expected {
                return Err(Error::sequence(
                    protein,
                    format!(
                        "annotation has {len} values but the model saw {n} residues (expected \
                         {expected}); cut annotations to `max_len` as the sequence is cut"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a protein from its edge sums (every layer's heads in order, see
    /// [`Self::head_sums`]); `check_protein` has passed and `n` > 0.
    pub(crate) fn add_edge_sums(
        &mut self,
        n: usize,
        causal: bool,
        sums: EdgeSums,
        properties: &[ProteinProperty],
    ) {
        let lh = self.num_layers * self.num_heads;
        // Σ_j into[h, j] · x[j] for every head h.
        let weigh = |x: &dyn Fn(usize) -> f64| -> Vec<f64> {
            (0..lh)
                .map(|h| {
                    sums.into[h * n..(h + 1) * n]
                        .iter()
                        .enumerate()
                        .map(|(j, v)| v * x(j))
                        .sum()
                })
                .collect()
        };
        let mut updates: Vec<(Vec<f64>, f64, f64)> = Vec::with_capacity(self.properties.len());
        let mut contact_hits = sums.contact_hits.into_iter();
        // The background is the share of possible edges (i → j) that land on the property. A
        // causal decoder's query i sees keys 0..=i only, so key j has n − j possible edges and
        // the background counts those (pairs j ≤ i); a bidirectional map has n per key, which
        // gives the share of residues with the property.
        let edges_to = |j: usize| if causal { (n - j) as f64 } else { 1.0 };
        let possible: f64 = (0..n).map(edges_to).sum();
        let sites_background = |is_site: &dyn Fn(usize) -> bool| -> (f64, f64) {
            let positives = (0..n).filter(|&j| is_site(j)).map(edges_to).sum();
            (positives, possible)
        };
        for prop in properties {
            match prop {
                ProteinProperty::Sites(site) => {
                    let hits = weigh(&|j| if site[j] { 1.0 } else { 0.0 });
                    let (positives, total) = sites_background(&|j| site[j]);
                    updates.push((hits, positives, total));
                }
                ProteinProperty::Contacts { contact, known } => {
                    let hits = contact_hits.next().expect("one sum per contact property");
                    // Row-major (query i, key j); causal maps have only the pairs j ≤ i.
                    let exists = |index: usize| !causal || index % n <= index / n;
                    let (mut positives, mut total) = (0.0, 0.0);
                    for (index, (&c, &k)) in contact.iter().zip(*known).enumerate() {
                        if k && exists(index) {
                            total += 1.0;
                            positives += f64::from(u8::from(c));
                        }
                    }
                    updates.push((hits, positives, total));
                }
                ProteinProperty::AminoAcids(residues) => {
                    let kinds: Vec<Option<usize>> = residues
                        .iter()
                        .map(|r| AMINO_ACIDS.iter().position(|a| a == r))
                        .collect();
                    for k in 0..AMINO_ACIDS.len() {
                        let hits = weigh(&|j| if kinds[j] == Some(k) { 1.0 } else { 0.0 });
                        let (positives, total) = sites_background(&|j| kinds[j] == Some(k));
                        updates.push((hits, positives, total));
                    }
                }
            }
        }
        let totals = sums.totals;
        for (slot, (hits, positives, total)) in updates.into_iter().enumerate() {
            for (a, h) in self.property_edges[slot].iter_mut().zip(hits) {
                *a += h;
            }
            self.background[slot].0 += positives;
            self.background[slot].1 += total;
        }
        for (t, v) in self.n_edges.iter_mut().zip(totals) {
            *t += v;
        }
        self.proteins += 1;
    }

    /// One pass over the residue part of every head's map (heads in parallel), see
    /// [`Self::head_sums`].
    fn edge_sums(&self, maps: &AttentionMaps, contacts: &[&[bool]]) -> Result<EdgeSums> {
        let t = maps.tokens;
        let lh = self.num_layers * self.num_heads;
        let weights = maps
            .weights
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .contiguous()?;
        let (storage, layout) = weights.storage_and_layout();
        let all = match (&*storage, layout.contiguous_offsets()) {
            (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, b))) => &v[a..b],
            _ => {
                return Err(Error::invalid(
                    "attention maps are not a contiguous f32 CPU tensor",
                ))
            }
        };
        if all.len() != lh * t * t {
            return Err(Error::sequence(
                &maps.protein,
                format!(
                    "attention maps hold {} values, expected {lh}×{t}×{t}",
                    all.len()
                ),
            ));
        }
        let per_head = self.head_sums(all, t, maps.residue_start, maps.residues(), contacts);
        Ok(EdgeSums::from_heads(per_head, contacts.len()))
    }

    /// Per head of `heads` (consecutive `padded` × `padded` maps, e.g. one layer of a padded
    /// batch; residues at tokens `start..start + n`): the edge value landing on each residue j
    /// (Σ_i e_ij) and, for each contact map, Σ_ij e_ij c_ij. Sums are f64, so threshold counts are
    /// exact integers; the threshold comparison runs in f32 (θ rounded to f32), as torch compares
    /// a float32 tensor.
    pub(crate) fn head_sums(
        &self,
        heads: &[f32],
        padded: usize,
        start: usize,
        n: usize,
        contacts: &[&[bool]],
    ) -> Vec<HeadSums> {
        use rayon::prelude::*;
        let weighting = self.weighting;
        heads
            .par_chunks(padded * padded)
            .map(|head| {
                let mut into = vec![0f64; n];
                // Residue rows/columns: the special tokens are left out.
                let rows = (0..n)
                    .map(|i| &head[(i + start) * padded + start..(i + start) * padded + start + n]);
                crate::model::fastmath::dispatch(EdgeRows {
                    weighting,
                    into: &mut into,
                    rows: rows.clone(),
                });
                let contact_hits = contacts
                    .iter()
                    .map(|c| {
                        rows.clone()
                            .enumerate()
                            .flat_map(|(i, row)| {
                                row.iter()
                                    .zip(&c[i * n..(i + 1) * n])
                                    .filter(|(_, &c)| c)
                                    .map(|(&w, _)| edge_value(weighting, w))
                            })
                            .sum()
                    })
                    .collect();
                HeadSums { into, contact_hits }
            })
            .collect()
    }

    /// Σ edge values per (layer, head), row-major.
    pub fn totals(&self) -> &[f64] {
        &self.n_edges
    }

    /// One row per (property, layer, head), properties in order, then layer, then head.
    pub fn rows(&self, min_total: f64) -> Vec<HeadProportion> {
        let mut out = Vec::with_capacity(self.properties.len() * self.n_edges.len());
        for (p, name) in self.properties.iter().enumerate() {
            let (bn, bd) = self.background[p];
            let background = if bd > 0.0 { bn / bd } else { f64::NAN };
            for l in 0..self.num_layers {
                for h in 0..self.num_heads {
                    let i = l * self.num_heads + h;
                    let total = self.n_edges[i];
                    let hits = self.property_edges[p][i];
                    out.push(HeadProportion {
                        property: name.clone(),
                        layer: l,
                        head: h,
                        n_edges: total,
                        n_property_edges: hits,
                        proportion: if total > 0.0 { hits / total } else { f64::NAN },
                        background,
                        excluded: total < min_total,
                    });
                }
            }
        }
        out
    }

    /// (layer, head), 0-based, of the head with the highest proportion for `property`, among
    /// heads with at least `min_total` attention.
    pub fn best_head(&self, property: &str, min_total: f64) -> Option<(usize, usize)> {
        self.rows(min_total)
            .into_iter()
            .filter(|r| r.property == property && !r.excluded && r.proportion.is_finite())
            .max_by(|a, b| a.proportion.total_cmp(&b.proportion))
            .map(|r| (r.layer, r.head))
    }

    /// Writes the three tables of `protscope heads` and the demo: the statistics to `out`, the
    /// per-layer profile beside it (`<stem>.layers.<ext>`) and the `top` heads per property
    /// (`<stem>.top.<ext>`). Returns the number of rows written to `out`.
    pub fn write_tables(&self, out: &std::path::Path, min_total: f64, top: usize) -> Result<usize> {
        use crate::frame::{side_path, write_table};
        let mut table = self.to_frame(min_total)?;
        write_table(&mut table, out)?;
        write_table(&mut self.layer_frame(min_total)?, &side_path(out, "layers"))?;
        write_table(
            &mut self.top_heads_frame(min_total, top)?,
            &side_path(out, "top"),
        )?;
        Ok(table.height())
    }

    /// Columns property, layer, head, n_edges, n_property_edges, proportion, background,
    /// excluded (n_edges < min_total).
    pub fn to_frame(&self, min_total: f64) -> Result<DataFrame> {
        let rows = self.rows(min_total);
        Ok(df!(
            "property" => rows.iter().map(|r| r.property.as_str()).collect::<Vec<_>>(),
            "layer" => rows.iter().map(|r| r.layer as i64).collect::<Vec<_>>(),
            "head" => rows.iter().map(|r| r.head as i64).collect::<Vec<_>>(),
            "n_edges" => rows.iter().map(|r| r.n_edges).collect::<Vec<_>>(),
            "n_property_edges" => rows.iter().map(|r| r.n_property_edges).collect::<Vec<_>>(),
            "proportion" => rows.iter().map(|r| r.proportion).collect::<Vec<_>>(),
            "background" => rows.iter().map(|r| r.background).collect::<Vec<_>>(),
            "excluded" => rows.iter().map(|r| r.excluded).collect::<Vec<_>>(),
        )?)
    }

    /// The `top` heads per property by proportion among heads not excluded (ties: lower layer,
    /// then lower head first). Columns property, rank (1 = highest), layer, head, proportion,
    /// background, enrichment (proportion / background), n_edges.
    pub fn top_heads_frame(&self, min_total: f64, top: usize) -> Result<DataFrame> {
        let mut by_property: BTreeMap<usize, Vec<HeadProportion>> = BTreeMap::new();
        let index: BTreeMap<&str, usize> = self
            .properties
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        for row in self.rows(min_total) {
            if !row.excluded && row.proportion.is_finite() {
                by_property
                    .entry(index[row.property.as_str()])
                    .or_default()
                    .push(row);
            }
        }
        let (mut property, mut rank, mut layer, mut head) = (vec![], vec![], vec![], vec![]);
        let (mut proportion, mut background, mut enrichment, mut n_edges) =
            (vec![], vec![], vec![], vec![]);
        for rows in by_property.values_mut() {
            // Stable sort keeps (layer, head) order among equal proportions.
            rows.sort_by(|a, b| b.proportion.total_cmp(&a.proportion));
            for (r, row) in rows.iter().take(top).enumerate() {
                property.push(row.property.clone());
                rank.push(r as i64 + 1);
                layer.push(row.layer as i64);
                head.push(row.head as i64);
                proportion.push(row.proportion);
                background.push(row.background);
                enrichment.push(row.proportion / row.background);
                n_edges.push(row.n_edges);
            }
        }
        Ok(df!(
            "property" => property,
            "rank" => rank,
            "layer" => layer,
            "head" => head,
            "proportion" => proportion,
            "background" => background,
            "enrichment" => enrichment,
            "n_edges" => n_edges,
        )?)
    }

    /// Per property and layer, over the layer's heads that are not excluded:
    /// - `heads_included`;
    /// - `mean_proportion`: mean of the heads' proportions (provis' "Layer Avg." bar);
    /// - `max_proportion`, `max_head`: the best head (NaN / −1 when none is included);
    /// - `weighted_proportion`: Σ_h n_property_edges / Σ_h n_edges, the attention-weighted
    ///   proportion of the layer;
    /// - `property_share`: the layer's Σ_h n_property_edges as a share of that sum over all
    ///   layers, i.e. where in depth the attention to the property sits;
    /// - `background`.
    pub fn layer_frame(&self, min_total: f64) -> Result<DataFrame> {
        let rows = self.rows(min_total);
        let (mut property, mut layer, mut included, mut mean_p) = (vec![], vec![], vec![], vec![]);
        let (mut max_p, mut max_head, mut weighted, mut share, mut background) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (p, name) in self.properties.iter().enumerate() {
            let block = &rows[p * self.n_edges.len()..(p + 1) * self.n_edges.len()];
            let kept = |l: usize| {
                block[l * self.num_heads..(l + 1) * self.num_heads]
                    .iter()
                    .filter(|r| !r.excluded && r.proportion.is_finite())
            };
            let all_hits: f64 = (0..self.num_layers)
                .flat_map(kept)
                .map(|r| r.n_property_edges)
                .sum();
            for l in 0..self.num_layers {
                let heads: Vec<&HeadProportion> = kept(l).collect();
                let hits: f64 = heads.iter().map(|r| r.n_property_edges).sum();
                let edges: f64 = heads.iter().map(|r| r.n_edges).sum();
                let best =
                    heads
                        .iter()
                        .copied()
                        .reduce(|a, b| if b.proportion > a.proportion { b } else { a });
                property.push(name.clone());
                layer.push(l as i64);
                included.push(heads.len() as i64);
                mean_p.push(crate::stats::mean(
                    &heads.iter().map(|r| r.proportion).collect::<Vec<_>>(),
                ));
                max_p.push(best.map_or(f64::NAN, |b| b.proportion));
                max_head.push(best.map_or(-1, |b| b.head as i64));
                weighted.push(if edges > 0.0 { hits / edges } else { f64::NAN });
                share.push(if all_hits > 0.0 {
                    hits / all_hits
                } else {
                    f64::NAN
                });
                background.push(block[0].background);
            }
        }
        Ok(df!(
            "property" => property,
            "layer" => layer,
            "heads_included" => included,
            "mean_proportion" => mean_p,
            "max_proportion" => max_p,
            "max_head" => max_head,
            "weighted_proportion" => weighted,
            "property_share" => share,
            "background" => background,
        )?)
    }

    /// The amino-acid analysis of Vig et al. (§4.3): for every pair of amino acids, Pearson's r
    /// across heads (those not excluded) between their `aa_to_X` proportions, and Pearson's r
    /// between those pair correlations and the pairs' BLOSUM62 scores. Needs the 20 `aa_to_X`
    /// properties. Pairs whose r is undefined (an amino acid absent from every protein gives a
    /// constant vector) are reported with NaN and left out of the BLOSUM correlation.
    pub fn amino_acid_correlations(&self, min_total: f64) -> Result<AminoAcidCorrelations> {
        let mut vectors: Vec<Vec<f64>> = Vec::with_capacity(AMINO_ACIDS.len());
        let heads: Vec<usize> = (0..self.n_edges.len())
            .filter(|&i| self.n_edges[i] >= min_total && self.n_edges[i] > 0.0)
            .collect();
        for aa in AMINO_ACIDS {
            let name = format!("aa_to_{aa}");
            let p = self
                .properties
                .iter()
                .position(|x| *x == name)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "the amino-acid analysis needs property `{name}` (run with amino acids)"
                    ))
                })?;
            vectors.push(
                heads
                    .iter()
                    .map(|&i| self.property_edges[p][i] / self.n_edges[i])
                    .collect(),
            );
        }
        // Alphabetical pair order, as provis sorts the amino acids.
        let mut order: Vec<usize> = (0..AMINO_ACIDS.len()).collect();
        order.sort_by_key(|&i| AMINO_ACIDS[i]);
        let mut pairs = Vec::new();
        for (x, &i) in order.iter().enumerate() {
            for &j in &order[x + 1..] {
                let (a, b) = (AMINO_ACIDS[i], AMINO_ACIDS[j]);
                let r = pearson_r(&vectors[i], &vectors[j])?.statistic;
                let score = blosum62(a, b).expect("standard amino acids") as f64;
                pairs.push(AminoAcidPair {
                    aa1: a,
                    aa2: b,
                    r,
                    blosum62: score,
                });
            }
        }
        let defined: Vec<&AminoAcidPair> = pairs.iter().filter(|p| p.r.is_finite()).collect();
        let blosum_r = pearson_r(
            &defined.iter().map(|p| p.r).collect::<Vec<_>>(),
            &defined.iter().map(|p| p.blosum62).collect::<Vec<_>>(),
        )?
        .statistic;
        Ok(AminoAcidCorrelations {
            heads_used: heads.len(),
            pairs_used: defined.len(),
            blosum_r,
            pairs,
        })
    }
}

/// One amino-acid pair of [`AminoAcidCorrelations`].
#[derive(Debug, Clone, PartialEq)]
pub struct AminoAcidPair {
    pub aa1: char,
    pub aa2: char,
    /// Pearson's r across heads of the two `aa_to_X` proportions.
    pub r: f64,
    pub blosum62: f64,
}

/// Result of [`HeadStatistics::amino_acid_correlations`].
#[derive(Debug, Clone, PartialEq)]
pub struct AminoAcidCorrelations {
    /// The 190 unordered pairs, aa1 < aa2 alphabetically.
    pub pairs: Vec<AminoAcidPair>,
    /// Heads (n_edges ≥ min_total) the vectors run over.
    pub heads_used: usize,
    /// Pairs with a defined r.
    pub pairs_used: usize,
    /// Pearson's r between the pair correlations and BLOSUM62 (NaN pairs left out).
    pub blosum_r: f64,
}

impl AminoAcidCorrelations {
    /// Columns aa1, aa2, r, blosum62, blosum_r (the same value on every row), heads_used.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let rows = self.pairs.len();
        Ok(df!(
            "aa1" => self.pairs.iter().map(|p| p.aa1.to_string()).collect::<Vec<_>>(),
            "aa2" => self.pairs.iter().map(|p| p.aa2.to_string()).collect::<Vec<_>>(),
            "r" => self.pairs.iter().map(|p| p.r).collect::<Vec<_>>(),
            "blosum62" => self.pairs.iter().map(|p| p.blosum62).collect::<Vec<_>>(),
            "blosum_r" => vec![self.blosum_r; rows],
            "heads_used" => vec![self.heads_used as i64; rows],
        )?)
    }
}

/// Value of one attention weight as an edge under `weighting`.
#[inline(always)]
fn edge_value(weighting: Weighting, w: f32) -> f64 {
    match weighting {
        Weighting::Threshold(t) => {
            if w >= t {
                1.0
            } else {
                0.0
            }
        }
        Weighting::Weight => w as f64,
        Weighting::WeightAbove(t) => {
            if w > t {
                w as f64
            } else {
                0.0
            }
        }
    }
}

/// Adds every row's edge values into `into` (Σ_i e_ij), compiled for the CPU's vector unit.
struct EdgeRows<'a, R> {
    weighting: Weighting,
    into: &'a mut [f64],
    rows: R,
}

impl<'a, R: Iterator<Item = &'a [f32]>> crate::model::fastmath::Kernel for EdgeRows<'a, R> {
    #[inline(always)]
    fn run(self) {
        // The weighting is matched once, outside the branch-free inner loops.
        match self.weighting {
            Weighting::Threshold(t) => {
                for row in self.rows {
                    for (a, &w) in self.into.iter_mut().zip(row) {
                        *a += if w >= t { 1.0 } else { 0.0 };
                    }
                }
            }
            Weighting::Weight => {
                for row in self.rows {
                    for (a, &w) in self.into.iter_mut().zip(row) {
                        *a += w as f64;
                    }
                }
            }
            Weighting::WeightAbove(t) => {
                for row in self.rows {
                    for (a, &w) in self.into.iter_mut().zip(row) {
                        *a += if w > t { w as f64 } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Per-head sums of one protein's edges (see [`HeadStatistics::edge_sums`]).
pub(crate) struct EdgeSums {
    /// Σ_ij e_ij per head.
    totals: Vec<f64>,
    /// Σ_i e_ij, (heads, n) row-major.
    into: Vec<f64>,
    /// Per contact property, Σ_ij e_ij c_ij per head.
    contact_hits: Vec<Vec<f64>>,
}

/// One head's part of [`EdgeSums`].
pub(crate) struct HeadSums {
    /// Σ_i e_ij per residue j.
    into: Vec<f64>,
    /// Per contact property, Σ_ij e_ij c_ij.
    contact_hits: Vec<f64>,
}

impl EdgeSums {
    /// Every layer's heads in order.
    pub(crate) fn from_heads(heads: Vec<HeadSums>, contacts: usize) -> Self {
        let lh = heads.len();
        let n = heads.first().map_or(0, |h| h.into.len());
        let mut sums = EdgeSums {
            totals: Vec::with_capacity(lh),
            into: Vec::with_capacity(lh * n),
            contact_hits: vec![Vec::with_capacity(lh); contacts],
        };
        for head in heads {
            sums.totals.push(head.into.iter().sum());
            sums.into.extend(head.into);
            for (acc, h) in sums.contact_hits.iter_mut().zip(head.contact_hits) {
                acc.push(h);
            }
        }
        sums
    }
}

/// The contact maps among `properties`, in order.
pub(crate) fn contact_maps<'a>(properties: &[ProteinProperty<'a>]) -> Vec<&'a [bool]> {
    properties
        .iter()
        .filter_map(|p| match p {
            ProteinProperty::Contacts { contact, .. } => Some(*contact),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    /// One layer, one head, 3 residues: tokens = 5 with specials.
    fn maps(residue_weights: [[f32; 3]; 3]) -> AttentionMaps {
        let mut w = vec![0f32; 25];
        for i in 0..3 {
            for j in 0..3 {
                w[(i + 1) * 5 + (j + 1)] = residue_weights[i][j];
            }
        }
        AttentionMaps {
            causal: false,
            protein: "p".into(),
            num_layers: 1,
            num_heads: 1,
            tokens: 5,
            residue_start: 1,
            residue_count: 3,
            weights: Tensor::from_vec(w, (1, 1, 5, 5), &Device::Cpu).unwrap(),
        }
    }

    const W: [[f32; 3]; 3] = [[0.5, 0.3, 0.1], [0.2, 0.6, 0.15], [0.3, 0.3, 0.3]];

    #[test]
    fn threshold_counts_sites_contacts_and_amino_acids() {
        let m = maps(W);
        let mut stats = HeadStatistics::new(
            1,
            1,
            Weighting::Threshold(0.3),
            vec!["s".into(), "c".into()],
        )
        .unwrap();
        let site = [false, true, false];
        // Contacts (0,2) and (2,0); pair (0,1) unknown.
        let contact = [false, false, true, false, false, false, true, false, false];
        let known = [true, false, true, false, true, true, true, true, true];
        stats
            .add(
                &m,
                &[
                    ProteinProperty::Sites(&site),
                    ProteinProperty::Contacts {
                        contact: &contact,
                        known: &known,
                    },
                ],
            )
            .unwrap();
        let rows = stats.rows(1.0);
        // α ≥ 0.3: (0,0) (0,1) (1,1) (2,0) (2,1) (2,2) = 6 edges; into column 1: (0,1) (1,1) (2,1).
        assert_eq!(rows[0].n_edges, 6.0);
        assert_eq!(rows[0].n_property_edges, 3.0);
        assert_eq!(rows[0].background, 1.0 / 3.0);
        // Contact edges above θ: (2,0) only ((0,2) = 0.1).
        assert_eq!(rows[1].n_property_edges, 1.0);
        assert_eq!(rows[1].background, 2.0 / 7.0);
        assert!(!rows[0].excluded);
        assert!(stats.rows(7.0)[0].excluded);

        let mut aa = HeadStatistics::amino_acids(1, 1, Weighting::Threshold(0.3)).unwrap();
        aa.add(&m, &[ProteinProperty::AminoAcids(&['A', 'X', 'A'])])
            .unwrap();
        let rows = aa.rows(0.0);
        assert_eq!(rows[0].property, "aa_to_A");
        // Edges into residues 0 and 2 with α ≥ 0.3: (0,0) (1,… none) (2,0) (2,2) = 3.
        assert_eq!(rows[0].n_property_edges, 3.0);
        assert_eq!(rows[0].background, 2.0 / 3.0);
        assert_eq!(rows[1].n_property_edges, 0.0);
        let sum: f64 = rows.iter().map(|r| r.n_property_edges).sum();
        assert_eq!(sum, 3.0, "X belongs to no amino-acid property");
    }

    /// A causal map's background counts only the edges that can exist (key j ≤ query i).
    #[test]
    fn causal_backgrounds_count_possible_edges() {
        let mut m = maps([[1.0, 0.0, 0.0], [0.4, 0.6, 0.0], [0.3, 0.3, 0.4]]);
        m.causal = true;
        let site = [true, false, false];
        let contact = [false, false, true, false, false, false, true, false, false];
        let known = [true, false, true, false, true, true, true, true, true];
        let mut stats = HeadStatistics::new(
            1,
            1,
            Weighting::Threshold(0.3),
            vec!["s".into(), "c".into()],
        )
        .unwrap();
        stats
            .add(
                &m,
                &[
                    ProteinProperty::Sites(&site),
                    ProteinProperty::Contacts {
                        contact: &contact,
                        known: &known,
                    },
                ],
            )
            .unwrap();
        let rows = stats.rows(0.0);
        // Key 0 has 3 possible edges of 3 + 2 + 1.
        assert_eq!(rows[0].background, 0.5);
        // Known pairs with j ≤ i: (0,0) (1,1) (2,0) (2,1) (2,2); one contact, (2,0).
        assert_eq!(rows[1].background, 1.0 / 5.0);
    }

    #[test]
    fn weighted_forms() {
        let m = maps(W);
        let site = [true, false, false];
        let mut w = HeadStatistics::new(1, 1, Weighting::Weight, vec!["s".into()]).unwrap();
        w.add(&m, &[ProteinProperty::Sites(&site)]).unwrap();
        let r = &w.rows(0.0)[0];
        assert!((r.n_edges - 2.75).abs() < 1e-6);
        assert!((r.n_property_edges - 1.0).abs() < 1e-6);
        let mut above =
            HeadStatistics::new(1, 1, Weighting::WeightAbove(0.3), vec!["s".into()]).unwrap();
        above.add(&m, &[ProteinProperty::Sites(&site)]).unwrap();
        let r = &above.rows(0.0)[0];
        // α > 0.3 strictly: 0.5 and 0.6 only (0.3f32 is not above 0.3f32).
        assert!((r.n_edges - 1.1).abs() < 1e-6, "{}", r.n_edges);
        assert!((r.n_property_edges - 0.5).abs() < 1e-6);
    }

    #[test]
    fn accumulates_over_proteins_and_rejects_bad_input() {
        let m = maps(W);
        let site = [false, true, false];
        let mut stats =
            HeadStatistics::new(1, 1, Weighting::Threshold(0.3), vec!["s".into()]).unwrap();
        for _ in 0..3 {
            stats.add(&m, &[ProteinProperty::Sites(&site)]).unwrap();
        }
        assert_eq!(stats.proteins, 3);
        assert_eq!(stats.totals(), &[18.0]);
        assert!(stats.add(&m, &[ProteinProperty::Sites(&[true])]).is_err());
        assert!(stats.add(&m, &[]).is_err());
        assert_eq!(stats.proteins, 3, "a failed add leaves the sums alone");
        assert!(HeadStatistics::new(1, 1, Weighting::Threshold(1.5), vec!["s".into()]).is_err());
        let df = stats.to_frame(100.0).unwrap();
        assert_eq!(df.height(), 1);
        assert!(df.column("excluded").unwrap().bool().unwrap().get(0) == Some(true));
    }

    #[test]
    fn summaries() {
        // Two layers × two heads with distinct site proportions.
        let n = 2;
        let t = n + 2;
        let mut w = vec![0f32; 4 * t * t];
        // head-block b: attention to residue 0 of share s_b.
        let shares = [0.9f32, 0.1, 0.5, 0.7];
        for (b, s) in shares.iter().enumerate() {
            for i in 0..n {
                w[b * t * t + (i + 1) * t + 1] = *s;
                w[b * t * t + (i + 1) * t + 2] = 1.0 - s;
            }
        }
        let m = AttentionMaps {
            causal: false,
            protein: "p".into(),
            num_layers: 2,
            num_heads: 2,
            tokens: t,
            residue_start: 1,
            residue_count: t - 2,
            weights: Tensor::from_vec(w, (2, 2, t, t), &Device::Cpu).unwrap(),
        };
        let mut stats = HeadStatistics::new(2, 2, Weighting::Weight, vec!["s".into()]).unwrap();
        stats
            .add(&m, &[ProteinProperty::Sites(&[true, false])])
            .unwrap();
        let top = stats.top_heads_frame(0.0, 2).unwrap();
        let layers: Vec<i64> = top
            .column("layer")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let heads: Vec<i64> = top
            .column("head")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!((layers, heads), (vec![0, 1], vec![0, 1]));
        let lf = stats.layer_frame(0.0).unwrap();
        let col = |name: &str| -> Vec<f64> {
            lf.column(name)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        let mean = col("mean_proportion");
        assert!((mean[0] - 0.5).abs() < 1e-6 && (mean[1] - 0.6).abs() < 1e-6);
        let max = col("max_proportion");
        assert!((max[0] - 0.9).abs() < 1e-6 && (max[1] - 0.7).abs() < 1e-6);
        let share = col("property_share");
        assert!((share[0] - 1.0 / 2.2).abs() < 1e-6 && (share[0] + share[1] - 1.0).abs() < 1e-9);
    }
}
