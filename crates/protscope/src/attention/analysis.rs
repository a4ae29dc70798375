//! The streaming pass behind `protscope heads`: proteins with their property values go through
//! the model in padded batches, and each protein's attention maps are folded into a
//! [`HeadStatistics`] and dropped, so memory holds one batch of maps at a time.

use super::attention_maps;
use super::heads::{HeadStatistics, ProteinProperty, Weighting};
use crate::annotation::antibody::{CdrSites, CDR_PROPERTIES};
use crate::model::{EncodedSequence, ProteinModel};
use crate::structure::DistanceMatrix;
use crate::{Error, Result};

/// Residue-pair contacts of one protein over its full sequence (row-major len × len).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactMap {
    pub len: usize,
    pub contact: Vec<bool>,
    /// Pairs whose status is defined: both residues have coordinates and |i − j| ≥ the minimum
    /// separation (closer pairs are neither contact nor background, as in TAPE's contact maps).
    pub known: Vec<bool>,
}

impl ContactMap {
    /// Contacts: distance < `cutoff` Å and |i − j| ≥ `min_separation`.
    pub fn from_distances(distances: &DistanceMatrix, cutoff: f64, min_separation: usize) -> Self {
        let len = distances.len;
        let mut contact = vec![false; len * len];
        let mut known = vec![false; len * len];
        for i in 0..len {
            for j in 0..len {
                if i.abs_diff(j) < min_separation {
                    continue;
                }
                let d = distances.values[i * len + j];
                if !d.is_nan() {
                    known[i * len + j] = true;
                    contact[i * len + j] = d < cutoff;
                }
            }
        }
        ContactMap {
            len,
            contact,
            known,
        }
    }

    /// The top-left n × n block (the residues the model saw after a `max_len` cut).
    pub fn cut(&self, n: usize) -> Result<(Vec<bool>, Vec<bool>)> {
        if n > self.len {
            return Err(Error::invalid(format!(
                "contact map covers {} residues, {n} requested",
                self.len
            )));
        }
        let block = |m: &[bool]| -> Vec<bool> {
            (0..n)
                .flat_map(|i| m[i * self.len..i * self.len + n].iter().copied())
                .collect()
        };
        Ok((block(&self.contact), block(&self.known)))
    }
}

/// Property values of one protein over its full (uncut) sequence; cut to the residues the
/// model saw before they are added.
#[derive(Debug, Clone)]
pub enum PropertyValues {
    /// One residue indicator per property name (sites on the attended residue).
    Sites(Vec<Vec<bool>>),
    /// One contact property.
    Contacts(ContactMap),
    /// The 20 `aa_to_X` properties, from the encoded residues themselves.
    AminoAcids,
}

/// One protein for [`accumulate_head_statistics`].
#[derive(Debug, Clone)]
pub struct HeadInput {
    /// Encoded (already cut to `max_len`) sequence.
    pub sequence: EncodedSequence,
    pub values: PropertyValues,
}

/// Where the time of [`accumulate_head_statistics`] went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Model forward passes producing the attention maps.
    pub model_seconds: f64,
    /// Adding the maps to the head statistics (the reference's per-pair Python loops).
    pub statistics_seconds: f64,
}

/// Runs the model over `inputs` in batches of `batch_size` and adds every protein to `stats`;
/// `on_protein` is called after each protein (progress). The first error stops the pass and
/// names the protein.
pub fn accumulate_head_statistics<I>(
    model: &ProteinModel,
    stats: &mut HeadStatistics,
    inputs: I,
    batch_size: usize,
    on_protein: impl FnMut(&str),
) -> Result<StageTimes>
where
    I: IntoIterator<Item = Result<HeadInput>>,
{
    accumulate_head_statistics_within(
        model,
        stats,
        inputs,
        batch_size,
        crate::model::memory::default_memory_budget(),
        on_protein,
    )
}

/// [`accumulate_head_statistics`] with batches that also fit `budget` bytes (weights, the
/// forward pass and every layer's attention maps, see
/// [`crate::model::memory::forward_bytes_per_sequence`]): a batch closes early when one more
/// protein would not fit. A protein that does not fit alone is an error naming it, `--max-len`
/// and `--memory-budget` ([`crate::model::memory::forward_batches`] checks a whole set up
/// front).
pub fn accumulate_head_statistics_within<I>(
    model: &ProteinModel,
    stats: &mut HeadStatistics,
    inputs: I,
    batch_size: usize,
    budget: usize,
    mut on_protein: impl FnMut(&str),
) -> Result<StageTimes>
where
    I: IntoIterator<Item = Result<HeadInput>>,
{
    use crate::model::memory::{forward_batches, forward_bytes_per_sequence, weight_bytes};
    let mut times = StageTimes::default();
    if batch_size == 0 {
        return Err(Error::invalid("batch size must be at least 1"));
    }
    let free = budget.saturating_sub(weight_bytes(model));
    let mut inputs = inputs.into_iter().peekable();
    while inputs.peek().is_some() {
        let mut batch: Vec<HeadInput> = Vec::new();
        let mut longest = 0;
        while batch.len() < batch_size {
            let Some(next) = inputs.peek() else { break };
            let len = match next {
                Ok(input) => input.sequence.len(),
                Err(_) => 0,
            };
            // One more protein's maps: the copy a reader makes of a batch member's strided maps.
            let need =
                (batch.len() + 2) * forward_bytes_per_sequence(model, longest.max(len), true);
            if !batch.is_empty() && need > free {
                break;
            }
            let input = inputs.next().expect("peeked")?;
            if batch.is_empty() {
                // Alone it must fit: the same check and message as a whole set's.
                let id = input.sequence.id.clone();
                forward_batches(model, &[&id], &[len], 1, true, budget)?;
            }
            longest = longest.max(len);
            batch.push(input);
        }
        let refs: Vec<&EncodedSequence> = batch.iter().map(|b| &b.sequence).collect();
        let started = std::time::Instant::now();
        let maps = attention_maps(model, &refs)?;
        times.model_seconds += started.elapsed().as_secs_f64();
        for (input, maps) in batch.iter().zip(maps) {
            let started = std::time::Instant::now();
            let n = maps.residues();
            match &input.values {
                PropertyValues::Sites(columns) => {
                    let cut: Vec<&[bool]> = columns
                        .iter()
                        .map(|c| {
                            c.get(..n).ok_or_else(|| {
                                Error::sequence(
                                    &input.sequence.id,
                                    format!(
                                        "site indicator covers {} residues, the model saw {n}",
                                        c.len()
                                    ),
                                )
                            })
                        })
                        .collect::<Result<_>>()?;
                    let props: Vec<ProteinProperty> =
                        cut.into_iter().map(ProteinProperty::Sites).collect();
                    stats.add(&maps, &props)?;
                }
                PropertyValues::Contacts(map) => {
                    let (contact, known) = map
                        .cut(n)
                        .map_err(|e| Error::sequence(&input.sequence.id, e.to_string()))?;
                    stats.add(
                        &maps,
                        &[ProteinProperty::Contacts {
                            contact: &contact,
                            known: &known,
                        }],
                    )?;
                }
                PropertyValues::AminoAcids => {
                    stats.add(
                        &maps,
                        &[ProteinProperty::AminoAcids(&input.sequence.residues)],
                    )?;
                }
            }
            times.statistics_seconds += started.elapsed().as_secs_f64();
            on_protein(&input.sequence.id);
        }
    }
    Ok(times)
}

/// Residue indicator of 1-based `sites` over a sequence of `len` residues; a site outside
/// 1..=len is an error naming it.
pub fn site_indicator(protein: &str, len: usize, sites: &[usize]) -> Result<Vec<bool>> {
    let mut out = vec![false; len];
    for &s in sites {
        if s == 0 || s > len {
            return Err(Error::sequence(
                protein,
                format!("site {s} lies outside the {len}-residue sequence (sites are 1-based)"),
            ));
        }
        out[s - 1] = true;
    }
    Ok(out)
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
    site_head_statistics(
        model,
        &CDR_PROPERTIES,
        numbered,
        weighting,
        batch_size,
        on_protein,
    )
}

/// Attention of every head to residue sets: `proteins` pairs each encoded sequence with one
/// residue indicator per name of `properties` (e.g. secondary structure's helix, strand and
/// turn/bend, [`crate::annotation::secondary::attention_indicators`]).
pub fn site_head_statistics(
    model: &ProteinModel,
    properties: &[&str],
    proteins: &[(EncodedSequence, Vec<Vec<bool>>)],
    weighting: Weighting,
    batch_size: usize,
    on_protein: impl FnMut(&str),
) -> Result<HeadStatistics> {
    let names: Vec<String> = properties.iter().map(|s| s.to_string()).collect();
    let mut stats = HeadStatistics::new(model.num_layers(), model.num_heads(), weighting, names)?;
    let mut sorted = proteins.to_vec();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_map_from_distances_and_cut() {
        let nan = f64::NAN;
        #[rustfmt::skip]
        let d = DistanceMatrix { len: 3, values: vec![
            0.0, 4.0, 9.0,
            4.0, 0.0, nan,
            9.0, nan, 0.0,
        ]};
        let m = ContactMap::from_distances(&d, 8.0, 1);
        assert_eq!(
            m.contact,
            vec![false, true, false, true, false, false, false, false, false]
        );
        assert_eq!(
            m.known,
            vec![false, true, true, true, false, false, true, false, false]
        );
        let (c, k) = m.cut(2).unwrap();
        assert_eq!(c, vec![false, true, true, false]);
        assert_eq!(k, vec![false, true, true, false]);
        assert!(m.cut(4).is_err());
        let far = ContactMap::from_distances(&d, 8.0, 2);
        assert!(!far.contact.iter().any(|&c| c));
    }

    #[test]
    fn site_indicators() {
        assert_eq!(
            site_indicator("p", 3, &[1, 3]).unwrap(),
            vec![true, false, true]
        );
        assert!(site_indicator("p", 3, &[0]).is_err());
        assert!(site_indicator("p", 3, &[4]).is_err());
    }
}
