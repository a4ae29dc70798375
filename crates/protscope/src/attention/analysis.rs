//! The streaming pass behind `protscope heads`: proteins with their property values go through
//! the model in padded batches, and each layer's attention maps are folded into a
//! [`HeadStatistics`] as the model computes them and dropped, so memory holds one layer of one
//! batch's maps at a time.

use super::heads::{contact_maps, EdgeSums, HeadStatistics, HeadSums, ProteinProperty, Weighting};
use super::visit_layer_maps;
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
            // The maps are read layer by layer as they are computed: one layer's of the batch.
            let need =
                (batch.len() + 1) * forward_bytes_per_sequence(model, longest.max(len), false);
            if !batch.is_empty() && need > free {
                break;
            }
            let input = inputs.next().expect("peeked")?;
            if batch.is_empty() {
                // Alone it must fit: the same check and message as a whole set's.
                let id = input.sequence.id.clone();
                forward_batches(model, &[&id], &[len], 1, false, budget)?;
            }
            longest = longest.max(len);
            batch.push(input);
        }
        add_batch(model, stats, &batch, &mut times, &mut on_protein)?;
    }
    Ok(times)
}

/// One batch of [`accumulate_head_statistics_within`]: the maps are consumed layer by layer as
/// the model computes them ([`visit_layer_maps`]), each protein's per-head sums collected and
/// added once its last layer is done.
fn add_batch(
    model: &ProteinModel,
    stats: &mut HeadStatistics,
    batch: &[HeadInput],
    times: &mut StageTimes,
    on_protein: &mut impl FnMut(&str),
) -> Result<()> {
    // Annotations cut to the residues the model saw, checked before the model runs.
    let mut cut_contacts: Vec<Option<(Vec<bool>, Vec<bool>)>> = Vec::with_capacity(batch.len());
    for input in batch {
        let n = input.sequence.residues.len();
        cut_contacts.push(match &input.values {
            PropertyValues::Contacts(map) => Some(
                map.cut(n)
                    .map_err(|e| Error::sequence(&input.sequence.id, e.to_string()))?,
            ),
            _ => None,
        });
    }
    let mut properties: Vec<Vec<ProteinProperty>> = Vec::with_capacity(batch.len());
    for (input, contacts) in batch.iter().zip(&cut_contacts) {
        let n = input.sequence.residues.len();
        let props = match (&input.values, contacts) {
            (PropertyValues::Sites(columns), _) => columns
                .iter()
                .map(|c| {
                    c.get(..n).map(ProteinProperty::Sites).ok_or_else(|| {
                        Error::sequence(
                            &input.sequence.id,
                            format!(
                                "site indicator covers {} residues, the model saw {n}",
                                c.len()
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            (PropertyValues::Contacts(_), Some((contact, known))) => {
                vec![ProteinProperty::Contacts { contact, known }]
            }
            (PropertyValues::Contacts(_), None) => unreachable!("cut above"),
            (PropertyValues::AminoAcids, _) => {
                vec![ProteinProperty::AminoAcids(&input.sequence.residues)]
            }
        };
        stats.check_protein(
            &input.sequence.id,
            model.num_layers(),
            model.num_heads(),
            n,
            &props,
        )?;
        properties.push(props);
    }
    let contacts: Vec<Vec<&[bool]>> = properties.iter().map(|p| contact_maps(p)).collect();
    let mut per_protein: Vec<Vec<HeadSums>> = batch
        .iter()
        .map(|_| Vec::with_capacity(model.num_layers() * model.num_heads()))
        .collect();
    let refs: Vec<&EncodedSequence> = batch.iter().map(|b| &b.sequence).collect();
    let started = std::time::Instant::now();
    let mut statistics_seconds = 0.0;
    {
        let reader: &HeadStatistics = stats;
        visit_layer_maps(model, &refs, &mut |maps| {
            let started = std::time::Instant::now();
            if maps.residue_count > 0 {
                per_protein[maps.protein].extend(reader.head_sums(
                    maps.weights,
                    maps.padded,
                    maps.residue_start,
                    maps.residue_count,
                    &contacts[maps.protein],
                ));
            }
            statistics_seconds += started.elapsed().as_secs_f64();
            Ok(())
        })?;
    }
    let started_adding = std::time::Instant::now();
    for (((input, props), sums), contacts) in batch
        .iter()
        .zip(&properties)
        .zip(per_protein)
        .zip(&contacts)
    {
        let n = input.sequence.residues.len();
        if n > 0 {
            let sums = EdgeSums::from_heads(sums, contacts.len());
            stats.add_edge_sums(n, model.is_causal(), sums, props);
        } else {
            stats.count_empty_protein();
        }
        on_protein(&input.sequence.id);
    }
    statistics_seconds += started_adding.elapsed().as_secs_f64();
    times.statistics_seconds += statistics_seconds;
    times.model_seconds += started.elapsed().as_secs_f64() - statistics_seconds;
    Ok(())
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
