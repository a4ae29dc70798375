//! The categorical Jacobian of a masked language model (Zhang et al. 2024, "Protein language
//! models learn evolutionary statistics of interacting sequence motifs"): how the logits of
//! every residue j respond when residue i is substituted by each of the 20 amino acids. Its
//! (i, j) blocks, centred and reduced to their Frobenius norm, then APC-corrected and
//! symmetrised, are residue couplings that rank contacts with no training and no structures —
//! the route for models without a contact head (ESM C, ProtBert, AntiBERTy).
//!
//! `J[i, a, j, b] = logits(x with residue i → a)[j, b] − logits(x)[j, b]`, over the 20 standard
//! amino acids a, b, from `20 · n` forward passes (batched). The coupling follows the reference
//! notebook's `get_contacts`: J centred over each of its four axes in turn, `‖J[i, ·, j, ·]‖_F`,
//! diagonal zeroed, APC (F − F·1 1ᵀF / 1ᵀF1), diagonal zeroed, then (C + Cᵀ)/2.

use candle_core::{DType, Device, Tensor};
use polars::prelude::DataFrame;

use crate::attention::contacts::residue_pair_frame;

use crate::model::{EncodedSequence, ForwardOptions, ProteinModel};
use crate::{Error, Result};

/// The 20 standard amino acids the Jacobian substitutes and reads (the order does not change
/// the couplings: centring and the norm treat every amino acid alike).
pub const AMINO_ACIDS: [char; 20] = [
    'A', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'K', 'L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'V', 'W',
    'Y',
];

/// The masked-LM output the Jacobian reads.
const MASKED_LM: &str = "mlm";

/// The raw categorical Jacobian of one protein: `values[((i · 20 + a) · n + j) · 20 + b]`
/// (0-based residues, amino acids in [`AMINO_ACIDS`] order).
#[derive(Debug, Clone)]
pub struct CategoricalJacobian {
    pub protein: String,
    pub residues: usize,
    pub values: Vec<f32>,
}

/// Residue couplings of one protein from its categorical Jacobian: `scores[i · n + j]`,
/// symmetric, zero on the diagonal. Larger means more likely in contact; not a probability.
#[derive(Debug, Clone)]
pub struct CouplingMap {
    pub protein: String,
    pub residues: usize,
    pub scores: Vec<f32>,
}

impl CouplingMap {
    /// Coupling of residues `i` and `j` (0-based).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.scores[i * self.residues + j]
    }
}

/// Token ids of [`AMINO_ACIDS`] in `model`'s vocabulary, or an error naming the missing one.
fn amino_acid_ids(model: &ProteinModel) -> Result<Vec<u32>> {
    AMINO_ACIDS
        .iter()
        .map(|&aa| {
            model.tokenizer.residue_token_id(aa).ok_or_else(|| {
                Error::file(
                    &model.dir,
                    format!(
                        "the vocabulary has no token for amino acid {aa}, so the categorical \
                         Jacobian cannot substitute it"
                    ),
                )
            })
        })
        .collect()
}

/// Logits of the residues over the 20 amino acids, (B, n, 20) as f32 values, for a batch of
/// equal-length token rows.
fn residue_logits(
    model: &ProteinModel,
    rows: &[Vec<u32>],
    residues: std::ops::Range<usize>,
    amino_acids: &Tensor,
) -> Result<Vec<f32>> {
    let batch = model.batch_from_ids(rows)?;
    let output = model.forward(&batch, ForwardOptions::default())?;
    let logits = model.output_logits(MASKED_LM, &output)?;
    let selected = logits
        .narrow(1, residues.start, residues.len())?
        .contiguous()?
        .index_select(amino_acids, 2)?
        .to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?;
    Ok(selected.flatten_all()?.to_vec1()?)
}

/// The categorical Jacobian of `seq` under `model`'s masked-LM output, from `20 · n` forward
/// passes of `batch_size` substituted sequences each. `on_batch` is told how many substituted
/// sequences each pass ran (for progress bars).
pub fn categorical_jacobian(
    model: &ProteinModel,
    seq: &EncodedSequence,
    batch_size: usize,
    on_batch: &mut dyn FnMut(usize),
) -> Result<CategoricalJacobian> {
    if batch_size == 0 {
        return Err(Error::setting("batch_size", 0, "must be at least 1"));
    }
    model.output(MASKED_LM).map_err(|_| {
        Error::file(
            &model.dir,
            "the categorical Jacobian needs a masked-language-model output (`mlm`); this model \
             folder has none (load a *ForMaskedLM checkpoint), or use a contact head",
        )
    })?;
    let aa_ids = amino_acid_ids(model)?;
    let amino_acids = Tensor::new(aa_ids.as_slice(), model.device())?;
    let residues = seq.residue_tokens();
    let n = residues.len();
    let a = AMINO_ACIDS.len();
    let wild_type = residue_logits(
        model,
        std::slice::from_ref(&seq.ids),
        residues.clone(),
        &amino_acids,
    )?;

    // Substituted sequences in (residue, amino acid) order, so the logits of consecutive
    // passes land contiguously in `values`.
    let substitutions: Vec<(usize, u32)> = (0..n)
        .flat_map(|i| aa_ids.iter().map(move |&id| (i, id)))
        .collect();
    let mut values = Vec::with_capacity(n * a * n * a);
    for chunk in substitutions.chunks(batch_size) {
        let rows: Vec<Vec<u32>> = chunk
            .iter()
            .map(|&(i, id)| {
                let mut ids = seq.ids.clone();
                ids[residues.start + i] = id;
                ids
            })
            .collect();
        let logits = residue_logits(model, &rows, residues.clone(), &amino_acids)?;
        for row in logits.chunks(n * a) {
            values.extend(row.iter().zip(&wild_type).map(|(x, x0)| x - x0));
        }
        on_batch(chunk.len());
    }
    Ok(CategoricalJacobian {
        protein: seq.id.clone(),
        residues: n,
        values,
    })
}

impl CategoricalJacobian {
    /// Residue couplings: J centred over each axis, the Frobenius norm of each (i, j) block,
    /// diagonal zeroed, APC-corrected, diagonal zeroed, symmetrised.
    pub fn couplings(&self) -> Result<CouplingMap> {
        let n = self.residues;
        let a = AMINO_ACIDS.len();
        let mut jacobian = Tensor::from_slice(&self.values, (n, a, n, a), &Device::Cpu)?;
        for axis in 0..4 {
            jacobian = jacobian.broadcast_sub(&jacobian.mean_keepdim(axis)?)?;
        }
        let norms: Vec<f32> = jacobian
            .sqr()?
            .sum(3)?
            .sum(1)?
            .sqrt()?
            .flatten_all()?
            .to_vec1()?;
        let mut norms: Vec<f64> = norms.into_iter().map(f64::from).collect();
        for i in 0..n {
            norms[i * n + i] = 0.0;
        }
        let corrected = average_product_correct(&norms, n);
        let scores = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                (0.5 * (corrected[i * n + j] + corrected[j * n + i])) as f32
            })
            .collect();
        Ok(CouplingMap {
            protein: self.protein.clone(),
            residues: n,
            scores,
        })
    }
}

/// F − (row sums · column sums) / total, diagonal zeroed (the reference's `do_apc`).
fn average_product_correct(matrix: &[f64], n: usize) -> Vec<f64> {
    let rows: Vec<f64> = (0..n)
        .map(|i| matrix[i * n..(i + 1) * n].iter().sum())
        .collect();
    let columns: Vec<f64> = (0..n)
        .map(|j| (0..n).map(|i| matrix[i * n + j]).sum())
        .collect();
    let total: f64 = rows.iter().sum();
    let mut corrected = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j && total != 0.0 {
                corrected[i * n + j] = matrix[i * n + j] - rows[i] * columns[j] / total;
            }
        }
    }
    corrected
}

/// Residue couplings of `seq` from the categorical Jacobian (see the module docs).
pub fn jacobian_contacts(
    model: &ProteinModel,
    seq: &EncodedSequence,
    batch_size: usize,
    on_batch: &mut dyn FnMut(usize),
) -> Result<CouplingMap> {
    categorical_jacobian(model, seq, batch_size, on_batch)?.couplings()
}

/// `protein, i, j, score` for every residue pair i < j (1-based positions).
pub fn couplings_frame(maps: &[CouplingMap]) -> Result<DataFrame> {
    let pairs: Vec<(&str, usize, &[f32])> = maps
        .iter()
        .map(|m| (m.protein.as_str(), m.residues, m.scores.as_slice()))
        .collect();
    residue_pair_frame(&pairs, "score")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apc_removes_a_rank_one_background() {
        // A product background r_i · c_j is removed exactly (off the diagonal).
        let n = 4;
        let r = [1.0, 2.0, 3.0, 4.0];
        let m: Vec<f64> = (0..n * n).map(|k| r[k / n] * r[k % n]).collect();
        let corrected = average_product_correct(&m, n);
        for (k, v) in corrected.iter().enumerate() {
            let (i, j) = (k / n, k % n);
            if i == j {
                assert_eq!(*v, 0.0);
            }
        }
        // Rows of F sum to r_i · Σr; the correction equals F when the diagonal is included.
        let total: f64 = m.iter().sum();
        let expected = m[1] - (r[0] * 10.0) * (10.0 * r[1]) / total;
        assert!((corrected[1] - expected).abs() < 1e-12);
    }

    #[test]
    fn couplings_are_symmetric_with_a_zero_diagonal() {
        let n = 5;
        let a = AMINO_ACIDS.len();
        let values: Vec<f32> = (0..n * a * n * a)
            .map(|k| ((k * 7919) % 1013) as f32 / 1013.0 - 0.5)
            .collect();
        let jacobian = CategoricalJacobian {
            protein: "p".into(),
            residues: n,
            values,
        };
        let map = jacobian.couplings().unwrap();
        for i in 0..n {
            assert_eq!(map.get(i, i), 0.0);
            for j in 0..n {
                assert_eq!(map.get(i, j), map.get(j, i));
            }
        }
        let frame = couplings_frame(&[map]).unwrap();
        assert_eq!(frame.height(), n * (n - 1) / 2);
    }
}
