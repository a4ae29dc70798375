//! Per-residue colourings for the 3D view, from the tables and annotations protscope makes.

use polars::prelude::*;

use super::{ColourScale, ResidueColouring};
use crate::annotation::antibody::{number_imgt, RegionKind};
use crate::structure::{dssp, ChainResidues, Structure};
use crate::{Error, Result};

/// IMGT regions of `sequence` where it holds an antibody V domain (None otherwise).
pub fn regions_colouring(protein: &str, sequence: &str) -> Option<ResidueColouring> {
    let numbering = number_imgt(protein, sequence).ok()?;
    let mut kinds: Vec<Option<RegionKind>> = vec![None; sequence.chars().count()];
    for region in &numbering.regions {
        for k in kinds.iter_mut().take(region.end).skip(region.start - 1) {
            *k = Some(region.kind);
        }
    }
    Some(ResidueColouring::regions(&kinds, numbering.chain))
}

/// DSSP's three states of `chain` (from [`Structure::chain`] on `structure`, model 0) on the
/// positions of `sequence`.
pub fn secondary_structure_colouring(
    structure: &Structure,
    chain: &ChainResidues,
    sequence: &str,
) -> Result<ResidueColouring> {
    let residues = dssp::assign_secondary_structure(structure, Some(&chain.chain))?;
    let positions = dssp::sequence_positions(&residues, chain, Some(sequence))?;
    let mut letters = vec![None; sequence.chars().count()];
    for (r, p) in residues.iter().zip(positions) {
        if let Some(p) = p {
            letters[p - 1] = Some(r.dssp3().letter());
        }
    }
    Ok(ResidueColouring::secondary_structure(&letters))
}

/// Embedding-level relevance of `protein` from an `attribution` table (layer = head = −1,
/// positions 1..=n), diverging around zero.
pub fn relevance_colouring(table: &DataFrame, protein: &str, n: usize) -> Result<ResidueColouring> {
    let column = |name: &str| {
        table.column(name).map_err(|_| {
            Error::invalid(format!(
                "the relevance table has no column `{name}` (protein, layer, head, position, \
                 relevance: an attribution table from `attribute`)"
            ))
        })
    };
    let proteins = column("protein")?.cast(&DataType::String)?;
    let layer = column("layer")?.cast(&DataType::Int64)?;
    let position = column("position")?.cast(&DataType::Int64)?;
    let relevance = column("relevance")?.cast(&DataType::Float64)?;
    let (proteins, layer, position, relevance) = (
        proteins.str()?,
        layer.i64()?,
        position.i64()?,
        relevance.f64()?,
    );
    let mut values = vec![None; n];
    let mut found = false;
    for row in 0..table.height() {
        if proteins.get(row) != Some(protein) || layer.get(row) != Some(-1) {
            continue;
        }
        found = true;
        if let (Some(p), Some(v)) = (position.get(row), relevance.get(row)) {
            if p >= 1 && (p as usize) <= n {
                values[p as usize - 1] = Some(v);
            }
        }
    }
    if !found {
        return Err(Error::invalid(format!(
            "the relevance table has no embedding-level rows (layer −1) of protein `{protein}`"
        )));
    }
    Ok(ResidueColouring {
        name: "relevance (integrated gradients)".into(),
        scale: ColourScale::Diverging,
        values,
    })
}

/// Expected number of predicted contacts of each residue: Σ_j p_ij over the predicted pairs.
pub fn contact_degree_colouring(predicted: &[(usize, usize, f32)], n: usize) -> ResidueColouring {
    let mut degree = vec![0f64; n];
    for &(i, j, p) in predicted {
        if i < n && j < n {
            degree[i] += f64::from(p);
            degree[j] += f64::from(p);
        }
    }
    ResidueColouring {
        name: "predicted contact degree".into(),
        scale: ColourScale::Sequential,
        values: degree.into_iter().map(Some).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_is_read_at_the_embedding_level() {
        let table = df!(
            "protein" => ["a", "a", "a", "a", "b"],
            "layer" => [-1i64, -1, -1, 0, -1],
            "head" => [-1i64, -1, -1, 0, -1],
            "position" => [0i64, 1, 2, 1, 1],
            "relevance" => [9.0, 0.5, -0.25, 7.0, 3.0],
        )
        .unwrap();
        let c = relevance_colouring(&table, "a", 3).unwrap();
        assert_eq!(c.values, vec![Some(0.5), Some(-0.25), None]);
        assert!(relevance_colouring(&table, "zzz", 3).is_err());
        let degree = contact_degree_colouring(&[(0, 2, 0.5), (1, 2, 0.25)], 3);
        assert_eq!(degree.values, vec![Some(0.5), Some(0.25), Some(0.75)]);
    }
}
