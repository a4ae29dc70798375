//! Distance matrices and contact maps over sequence positions.

use super::{ChainResidues, ResidueMapping};
use crate::{Error, Result};
use polars::prelude::*;

/// Which atom stands for a residue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactAtom {
    /// Cα.
    #[default]
    Alpha,
    /// Cβ (Cα for glycine or when Cβ is missing), the usual choice in contact prediction.
    Beta,
}

/// Contact definition: distance below `cutoff` Å and `j - i >= min_separation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContactOptions {
    pub cutoff: f64,
    pub min_separation: usize,
    pub atom: ContactAtom,
}

impl Default for ContactOptions {
    fn default() -> Self {
        ContactOptions {
            cutoff: 8.0,
            min_separation: 1,
            atom: ContactAtom::Alpha,
        }
    }
}

/// Symmetric residue distance matrix over sequence positions; NaN where either residue has no
/// coordinates (missing from the structure).
#[derive(Debug, Clone)]
pub struct DistanceMatrix {
    pub len: usize,
    /// Row-major `len x len`.
    pub values: Vec<f64>,
}

impl DistanceMatrix {
    /// Distance between 1-based positions `i` and `j`, `None` when unknown or out of range.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        if i == 0 || j == 0 || i > self.len || j > self.len {
            return None;
        }
        let d = self.values[(i - 1) * self.len + (j - 1)];
        (!d.is_nan()).then_some(d)
    }

    /// Builds the matrix from a chain and its mapping onto a sequence.
    pub fn from_chain(chain: &ChainResidues, mapping: &ResidueMapping, atom: ContactAtom) -> Self {
        let len = mapping.sequence_len;
        let mut coords: Vec<Option<[f64; 3]>> = vec![None; len];
        for (residue, position) in chain.residues.iter().zip(&mapping.positions) {
            // A mapping made for another sequence must not index out of bounds.
            let slot = position
                .and_then(|p| p.checked_sub(1))
                .and_then(|i| coords.get_mut(i));
            if let Some(slot) = slot {
                *slot = Some(match atom {
                    ContactAtom::Alpha => residue.ca,
                    ContactAtom::Beta => residue.cb.unwrap_or(residue.ca),
                });
            }
        }
        let mut values = vec![f64::NAN; len * len];
        for i in 0..len {
            let Some(a) = coords[i] else { continue };
            values[i * len + i] = 0.0;
            for j in i + 1..len {
                let Some(b) = coords[j] else { continue };
                let d =
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
                values[i * len + j] = d;
                values[j * len + i] = d;
            }
        }
        DistanceMatrix { len, values }
    }

    /// Contact targets for evaluation, row-major `len × len` (0-based): 1 where the distance is
    /// below `cutoff` Å, 0 where it is not, −1 where either residue has no coordinates (esm's
    /// `contacts_from_pdb` convention).
    pub fn contact_targets(&self, cutoff: f64) -> Vec<i8> {
        self.values
            .iter()
            .map(|&d| match d {
                d if d.is_nan() => -1,
                d if d < cutoff => 1,
                _ => 0,
            })
            .collect()
    }

    /// Pairs `i < j` (1-based) in contact under `options`.
    pub fn contacts(&self, options: &ContactOptions) -> Vec<Contact> {
        let mut out = Vec::new();
        for i in 1..=self.len {
            for j in i + options.min_separation.max(1)..=self.len {
                if let Some(d) = self.get(i, j) {
                    if d < options.cutoff {
                        out.push(Contact { i, j, distance: d });
                    }
                }
            }
        }
        out
    }
}

/// A residue pair in contact (1-based sequence positions, `i < j`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contact {
    pub i: usize,
    pub j: usize,
    pub distance: f64,
}

/// Contacts as a table: `protein`, `i`, `j` (u32, 1-based), `distance` (Å).
pub fn contacts_frame(protein: &str, contacts: &[Contact]) -> Result<DataFrame> {
    let to_u32 = |v: usize| u32::try_from(v).map_err(|_| Error::invalid("position too large"));
    let i = contacts
        .iter()
        .map(|c| to_u32(c.i))
        .collect::<Result<Vec<_>>>()?;
    let j = contacts
        .iter()
        .map(|c| to_u32(c.j))
        .collect::<Result<Vec<_>>>()?;
    let distance: Vec<f64> = contacts.iter().map(|c| c.distance).collect();
    let columns = vec![
        Column::new("protein".into(), vec![protein; contacts.len()]),
        Column::new("i".into(), i),
        Column::new("j".into(), j),
        Column::new("distance".into(), distance),
    ];
    Ok(DataFrame::new(contacts.len(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::super::StructureResidue;
    use super::*;

    fn residue(x: f64, cb: Option<[f64; 3]>) -> StructureResidue {
        StructureResidue {
            number: 0,
            insertion_code: None,
            name: "ALA".into(),
            code: 'A',
            ca: [x, 0.0, 0.0],
            cb,
        }
    }

    #[test]
    fn contacts_respect_cutoff_separation_and_gaps() {
        let chain = ChainResidues {
            chain: "A".into(),
            model: 0,
            residues: vec![
                residue(0.0, Some([0.0, 5.0, 0.0])),
                residue(3.8, None),
                residue(7.6, Some([7.6, 5.0, 0.0])),
            ],
            reference: None,
        };
        let mapping = ResidueMapping {
            sequence_len: 4,
            positions: vec![Some(1), Some(2), Some(4)],
            mismatches: 0,
            missing: vec![3],
        };
        let m = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Alpha);
        assert_eq!(m.get(1, 4), Some(7.6));
        assert_eq!(m.get(3, 1), None);
        let c = m.contacts(&ContactOptions::default());
        assert_eq!(c.len(), 3);
        let far = m.contacts(&ContactOptions {
            min_separation: 3,
            ..ContactOptions::default()
        });
        assert_eq!(far.len(), 1);
        let tight = m.contacts(&ContactOptions {
            cutoff: 4.0,
            ..ContactOptions::default()
        });
        assert_eq!(tight.len(), 2);
        let beta = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Beta);
        assert_eq!(beta.get(1, 4), Some(7.6));
        let d12 = beta.get(1, 2).unwrap();
        assert!((d12 - (3.8f64.powi(2) + 25.0).sqrt()).abs() < 1e-9);
        let df = contacts_frame("x", &c).unwrap();
        assert_eq!(df.height(), 3);
        assert_eq!(df.get_column_names().len(), 4);
    }
}
