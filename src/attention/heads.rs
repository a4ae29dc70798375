//! Which heads attend to what (Vig et al., "BERTology Meets Biology"): per layer and head, the
//! share of attention edges (i → j) that land on a property, accumulated over proteins in one
//! streaming pass with tensor ops.
//!
//! Threshold form (the paper's): n_edges = Σ 1[α_ij ≥ θ], n_property_edges = Σ 1[α_ij ≥ θ]·f(i,j).
//! (provis' code keeps α > θ; the two differ only for weights exactly equal to θ.)
//! Weighted form: Σ α_ij f(i,j) / Σ α_ij. Special tokens are removed first (weights not
//! renormalised) and sequences are cut to `max_len` tokens including the specials, as provis does.

use candle_core::{DType, Device, Tensor};
use polars::prelude::*;

use super::AttentionMaps;
use crate::{Error, Result};

/// The 20 standard amino acids, in the order of the `aa_to_X` properties.
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
}

/// Per-residue annotation of one protein for one property family.
#[derive(Debug, Clone)]
pub enum ProteinProperty<'a> {
    /// f(i, j) = site(j), residue-indexed (length n, 0-based).
    Sites(&'a [bool]),
    /// f(i, j) = contact(i, j), row-major n × n.
    Contacts(&'a [bool]),
    /// f(i, j) = [aa(j) = X] for each of the 20 amino acids (residues of the protein).
    AminoAcids(&'a [char]),
}

/// Accumulates edge counts for a set of property names over proteins.
#[derive(Debug, Clone)]
pub struct HeadStatistics {
    pub num_layers: usize,
    pub num_heads: usize,
    pub weighting: Weighting,
    /// Property names (`aa_to_A`, … for amino acids).
    pub properties: Vec<String>,
    /// (L·H) totals.
    n_edges: Vec<f64>,
    /// [property][L·H].
    property_edges: Vec<Vec<f64>>,
    /// Background numerator / denominator per property.
    background: Vec<(f64, f64)>,
    pub proteins: usize,
}

impl HeadStatistics {
    pub fn new(
        num_layers: usize,
        num_heads: usize,
        weighting: Weighting,
        properties: Vec<String>,
    ) -> Self {
        let p = properties.len();
        HeadStatistics {
            num_layers,
            num_heads,
            weighting,
            properties,
            n_edges: vec![0.0; num_layers * num_heads],
            property_edges: vec![vec![0.0; num_layers * num_heads]; p],
            background: vec![(0.0, 0.0); p],
            proteins: 0,
        }
    }

    /// For the amino-acid analysis: properties `aa_to_A` … `aa_to_V`.
    pub fn amino_acids(num_layers: usize, num_heads: usize, weighting: Weighting) -> Self {
        let names = AMINO_ACIDS.iter().map(|a| format!("aa_to_{a}")).collect();
        Self::new(num_layers, num_heads, weighting, names)
    }

    /// Adds one protein: its attention maps (from a sequence already cut to `--max-len`) and one
    /// annotation per property name, in order, covering exactly the residues the model saw (for
    /// amino acids: a single `AminoAcids` entry).
    pub fn add(&mut self, maps: &AttentionMaps, properties: &[ProteinProperty]) -> Result<()> {
        if maps.num_layers != self.num_layers || maps.num_heads != self.num_heads {
            return Err(Error::invalid(
                "attention maps do not match the statistics' model shape",
            ));
        }
        let n = maps.residues();
        let full_n = n;
        if n == 0 {
            return Ok(());
        }
        let a = maps.residue_weights()?.to_dtype(DType::F64)?;
        let edges = match self.weighting {
            Weighting::Threshold(t) => a.ge(t as f64)?.to_dtype(DType::F64)?,
            Weighting::Weight => a,
        };
        let lh = self.num_layers * self.num_heads;
        let edges = edges.reshape((lh, n, n))?;
        let totals: Vec<f64> = edges.sum((1, 2))?.to_vec1()?;
        // Edges landing on each residue j: (LH, n).
        let into = edges.sum(1)?;
        let mut slot = 0;
        for prop in properties {
            match prop {
                ProteinProperty::Sites(site) => {
                    let site = check_len(site, full_n, &maps.protein)?;
                    let ind = indicator(&site[..n])?;
                    let hits: Vec<f64> = into
                        .matmul(&ind.reshape((n, 1))?)?
                        .flatten_all()?
                        .to_vec1()?;
                    self.add_slot(
                        slot,
                        &hits,
                        site[..n].iter().filter(|&&s| s).count() as f64,
                        n as f64,
                    )?;
                    slot += 1;
                }
                ProteinProperty::Contacts(contact) => {
                    if contact.len() != full_n * full_n {
                        return Err(Error::sequence(
                            &maps.protein,
                            format!(
                                "contact map has {} cells, expected {full_n}²",
                                contact.len()
                            ),
                        ));
                    }
                    let cut: Vec<bool> = (0..n)
                        .flat_map(|i| contact[i * full_n..i * full_n + n].to_vec())
                        .collect();
                    let c = indicator(&cut)?.reshape((1, n, n))?;
                    let hits: Vec<f64> = edges.broadcast_mul(&c)?.sum((1, 2))?.to_vec1()?;
                    let positives = cut.iter().filter(|&&s| s).count() as f64;
                    self.add_slot(slot, &hits, positives, (n * n) as f64)?;
                    slot += 1;
                }
                ProteinProperty::AminoAcids(residues) => {
                    let residues = check_len(residues, full_n, &maps.protein)?;
                    let mut onehot = vec![0f64; n * 20];
                    for (j, r) in residues[..n].iter().enumerate() {
                        if let Some(k) = AMINO_ACIDS.iter().position(|a| a == r) {
                            onehot[j * 20 + k] = 1.0;
                        }
                    }
                    let onehot = Tensor::from_vec(onehot.clone(), (n, 20), &Device::Cpu)?;
                    let hits = into.matmul(&onehot)?; // (LH, 20)
                    let counts: Vec<f64> = onehot.sum(0)?.to_vec1()?;
                    for k in 0..20 {
                        let col: Vec<f64> = hits.narrow(1, k, 1)?.flatten_all()?.to_vec1()?;
                        self.add_slot(slot, &col, counts[k], n as f64)?;
                        slot += 1;
                    }
                }
            }
        }
        if slot != self.properties.len() {
            return Err(Error::invalid(format!(
                "{slot} property values given for {} properties",
                self.properties.len()
            )));
        }
        for (t, v) in self.n_edges.iter_mut().zip(totals) {
            *t += v;
        }
        self.proteins += 1;
        Ok(())
    }

    fn add_slot(&mut self, slot: usize, hits: &[f64], positives: f64, total: f64) -> Result<()> {
        let acc = self
            .property_edges
            .get_mut(slot)
            .ok_or_else(|| Error::invalid("more property values than properties"))?;
        for (a, h) in acc.iter_mut().zip(hits) {
            *a += h;
        }
        self.background[slot].0 += positives;
        self.background[slot].1 += total;
        Ok(())
    }

    /// One row per (property, layer, head): property, layer, head, n_edges, n_property_edges,
    /// proportion, background, excluded (n_edges < min_total).
    pub fn to_frame(&self, min_total: f64) -> Result<DataFrame> {
        let (
            mut prop,
            mut layer,
            mut head,
            mut n_edges,
            mut n_prop,
            mut proportion,
            mut background,
            mut excluded,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for (p, name) in self.properties.iter().enumerate() {
            let (bn, bd) = self.background[p];
            for l in 0..self.num_layers {
                for h in 0..self.num_heads {
                    let i = l * self.num_heads + h;
                    let total = self.n_edges[i];
                    prop.push(name.clone());
                    layer.push(l as i64);
                    head.push(h as i64);
                    n_edges.push(total);
                    n_prop.push(self.property_edges[p][i]);
                    proportion.push(if total > 0.0 {
                        self.property_edges[p][i] / total
                    } else {
                        f64::NAN
                    });
                    background.push(if bd > 0.0 { bn / bd } else { f64::NAN });
                    excluded.push(total < min_total);
                }
            }
        }
        Ok(df!(
            "property" => prop,
            "layer" => layer,
            "head" => head,
            "n_edges" => n_edges,
            "n_property_edges" => n_prop,
            "proportion" => proportion,
            "background" => background,
            "excluded" => excluded,
        )?)
    }
}

fn check_len<'a, T>(values: &'a [T], n: usize, protein: &str) -> Result<&'a [T]> {
    if values.len() != n {
        return Err(Error::sequence(
            protein,
            format!(
                "annotation covers {} residues but the model saw {n}",
                values.len()
            ),
        ));
    }
    Ok(values)
}

fn indicator(values: &[bool]) -> Result<Tensor> {
    let v: Vec<f64> = values.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    Ok(Tensor::from_vec(v, values.len(), &Device::Cpu)?)
}
