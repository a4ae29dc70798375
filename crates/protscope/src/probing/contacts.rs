//! Contact probing from attention: the features of residue pair (i, j) at layer l are layer
//! l's heads' maps symmetrised and APC-corrected exactly as the contact head's
//! ([`pair_features`], read layer by layer as the model computes them); every pair with
//! j − i ≥ `min_separation` (6) whose target is defined is one example, its target a contact
//! from the structure. Layers are numbered 1..L (the attention of block l), as the hidden
//! states of block l are layer l in the residue tasks.
//!
//! Score: precision at L/5 as esm computes it per protein ([`contact_precisions`] over every
//! separation ≥ `min_separation`, L the residues with coordinates), averaged over the split's
//! proteins (esm's averaging, not provis' pooling of every protein's top pairs); proteins with
//! fewer than 10 resolved residues are left out of the mean. Precision at L is given too.
//!
//! Memory: pairs × layers × heads × 4 bytes for all proteins (78 antibody heavy chains of ~120
//! residues and AntiBERTy's 8 × 8 heads: about 14 MB).

use std::borrow::Borrow;

use super::{
    encoded, probe_layers, split_proteins, LayerExamples, ProbeOptions, ProbeRow, ProteinSplit,
};
use crate::attention::contacts::pair_features;
use crate::attention::visit_layer_maps;
use crate::model::{EncodedSequence, ProteinModel};
use crate::stats::contacts::contact_precisions;
use crate::{Error, Result};

/// Probes contacts layer by layer. `examples` are the encoded proteins with their n × n contact
/// targets over the residues the model saw (1 contact, 0 none, −1 unresolved;
/// [`crate::structure::DistanceMatrix::contact_targets`]).
pub fn probe_contacts<S: Borrow<EncodedSequence>>(
    model: &ProteinModel,
    examples: &[(S, Vec<i8>)],
    min_separation: usize,
    options: &ProbeOptions,
    mut on_progress: impl FnMut(&str),
) -> Result<(ProteinSplit, Vec<ProbeRow>)> {
    let layers = model.num_layers();
    let heads = model.num_heads();
    let mut features = vec![Vec::with_capacity(examples.len()); layers];
    let mut labels = Vec::with_capacity(examples.len());
    let mut pairs_of = Vec::with_capacity(examples.len());
    for (seq, targets) in examples {
        let seq = encoded(seq);
        let n = seq.residues.len();
        if targets.len() != n * n {
            return Err(Error::sequence(
                &seq.id,
                format!(
                    "{} contact targets for the {n} residues the model saw (needs {n} × {n})",
                    targets.len()
                ),
            ));
        }
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + min_separation.max(1)..n).map(move |j| (i, j)))
            .filter(|&(i, j)| targets[i * n + j] >= 0)
            .collect();
        // Each layer's pair features as the model computes the layer (one layer's maps held).
        visit_layer_maps(model, &[seq], &mut |maps| {
            let mut rows = Vec::with_capacity(pairs.len() * heads);
            if n > 0 {
                let f: Vec<f32> = pair_features(&maps.residue_tensor()?)?
                    .flatten_all()?
                    .to_vec1()?;
                for &(i, j) in &pairs {
                    rows.extend((0..heads).map(|h| f[h * n * n + i * n + j]));
                }
            }
            features[maps.layer].push(rows);
            Ok(())
        })?;
        labels.push(
            pairs
                .iter()
                .map(|&(i, j)| u32::from(targets[i * n + j] == 1))
                .collect::<Vec<u32>>(),
        );
        pairs_of.push(pairs);
        on_progress(&format!("attention of {}", seq.id));
    }
    let split = split_proteins(
        examples.len(),
        options.seed,
        options.train_fraction,
        options.validation_fraction,
    )?;
    let score = |proteins: &[usize], probs: &[Vec<f64>]| -> Result<Vec<(String, f64)>> {
        let (mut at_l5, mut at_l) = (Vec::new(), Vec::new());
        for (&p, prob) in proteins.iter().zip(probs) {
            let n = encoded(&examples[p].0).residues.len();
            let mut matrix = vec![0f32; n * n];
            for (&(i, j), row) in pairs_of[p].iter().zip(prob.chunks_exact(2)) {
                matrix[i * n + j] = row[1] as f32;
                matrix[j * n + i] = row[1] as f32;
            }
            if let Ok(precisions) =
                contact_precisions(&matrix, &examples[p].1, n, min_separation, None)
            {
                at_l5.push(precisions.p_at_l5);
                at_l.push(precisions.p_at_l);
            }
        }
        Ok(vec![
            ("precision_at_l5".into(), crate::stats::mean(&at_l5)),
            ("precision_at_l".into(), crate::stats::mean(&at_l)),
        ])
    };
    let task_examples = LayerExamples {
        task: "contacts",
        num_classes: 2,
        width: heads,
        features: &features,
        labels: &labels,
        selection_metric: "precision_at_l5",
        first_layer: 1,
    };
    let rows = probe_layers(&task_examples, &split, options, &score, |layer, c| {
        on_progress(&format!("contacts: layer {layer} fitted (C = {c})"))
    })?;
    Ok((split, rows))
}
