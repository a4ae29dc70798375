//! The "Interactive views" section: one chain in 3D with attention drawn on it and residues
//! coloured by relevance, and its attention as head and model views, from the files the run's
//! [`crate::report::ViewHints`] name. The static figures of the other sections carry the
//! findings where the page runs no JavaScript.

use std::path::Path;

use candle_core::{Device, Tensor};

use super::Builder;
use crate::attention::AttentionMaps;
use crate::frame::columns::{floats, integers, texts};
use crate::frame::read_table;
use crate::report::{reading, ViewHints};
use crate::structure::{read_structure, ContactAtom, ContactOptions, DistanceMatrix, Numbering};
use crate::view::{
    regions_colouring, relevance_colouring, secondary_structure_colouring, AttentionView,
    AttentionViewOptions, StructureAttention, StructureView, StructureViewOptions,
};
use crate::{Error, Result};

/// The 3D view's pairs start here (its θ slider's lowest value).
const PAIR_FLOOR: f32 = 0.1;

impl Builder<'_> {
    pub(super) fn views(&mut self, dir: &Path) -> Result<()> {
        let Some(hints) = self.hints.views.clone() else {
            return Ok(());
        };
        let structure_path = dir.join(&hints.structure);
        let structure = read_structure(&structure_path)?;
        let chain = structure.chain(Some(&hints.chain), Some(0))?;
        let residues = &hints.residues;
        let n = residues.chars().count();
        let mapping = chain.map_to(Some(residues), Numbering::Align)?;
        mapping.require_same_protein(&format!(
            "{} ({}, chain {})",
            hints.protein, hints.structure, hints.chain
        ))?;
        let maps = maps_from_table(&hints, &read_table(&dir.join(&hints.attention))?)?;

        let mut view = StructureView::new(&hints.protein, residues, &structure, &chain, &mapping)?;
        let mut first_colouring = None;
        if let Some(path) = &hints.relevance {
            let colouring = relevance_colouring(&read_table(&dir.join(path))?, &hints.protein, n)?;
            first_colouring = Some(colouring.name.clone());
            view = view.colour_by(colouring)?;
        }
        if let Some(regions) = regions_colouring(&hints.protein, residues) {
            first_colouring.get_or_insert(regions.name.clone());
            view = view.colour_by(regions)?;
        }
        if let Ok(dssp) = secondary_structure_colouring(&structure, &chain, residues) {
            view = view.colour_by(dssp)?;
        }
        let contacts = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Beta).contacts(
            &ContactOptions {
                cutoff: 8.0,
                min_separation: 6,
                atom: ContactAtom::Beta,
            },
        );
        let truth: Vec<(usize, usize)> = contacts.iter().map(|c| (c.i - 1, c.j - 1)).collect();
        let theta = hints.theta.max(PAIR_FLOOR);
        view = view.with_contacts(truth, Vec::new())?.with_attention(
            StructureAttention::from_maps(&maps, PAIR_FLOOR)?,
            StructureViewOptions {
                layer: hints.layer,
                head: hints.head,
                theta,
                colouring: first_colouring,
            },
        )?;
        // Opens on the head the 3D view draws, so both views start on the same story.
        let attention_view = AttentionView::from_maps(
            &maps,
            residues,
            &AttentionViewOptions {
                open: Some((hints.layer, hints.head)),
                ..Default::default()
            },
        )?;

        let head = reading::head_label(hints.layer as i64, hints.head as i64);
        let relevance = match &hints.relevance_target {
            Some(target) => format!(
                "residues coloured by their relevance to the predicted {target} (integrated \
                 gradients at the embedding level{}; red raises the prediction, blue lowers it, \
                 white is zero)",
                ["steps", "method", "baseline"]
                    .iter()
                    .filter_map(|k| self
                        .params
                        .get(&format!("ig.{k}"))
                        .map(|v| format!(", {k} {v}")))
                    .collect::<String>()
            ),
            None => "residues coloured by IMGT region".into(),
        };
        self.report.section("Interactive views");
        self.report.paragraph(format!(
            "Chain {} of {} ({}, {} residues, {} placed on the structure) in 3D: head {head} \
             ({}) drawn as cylinders between the Cα atoms of residue pairs whose attention, the \
             larger of the two directions, is at least θ = {theta}, thicker for stronger \
             attention (as provis draws BERTology's figure); {relevance}. The controls switch \
             layer, head, θ and the colouring (IMGT regions with the CDRs, secondary structure \
             from DSSP, attention received), and show the structure's contacts. Below, the same \
             chain's attention as head and model views. The views need JavaScript (and WebGL for \
             the 3D view); without them the figures above tell the same story: the heads that \
             attend to CDR3, the relevance tracks and the attention maps.",
            hints.chain,
            hints.structure,
            hints.protein,
            n,
            mapping.positions.iter().flatten().count(),
            hints.head_reason,
        ));
        self.report.view(
            &view,
            format!(
                "{}: head {head} on the structure, {relevance}. Drag to turn, scroll to zoom.",
                hints.protein
            ),
        )?;
        self.report.view(
            &attention_view,
            format!(
                "{}: every layer and head's attention (the attention table, weights ≥ {}; each \
                 residue's {} strongest edges of at least {} are drawn). Click a thumbnail of \
                 the model view to open its head; it opens on head {head}.",
                hints.protein,
                hints.attention_floor,
                AttentionViewOptions::default().top_k,
                AttentionViewOptions::default().floor
            ),
        )?;
        Ok(())
    }
}

/// Dense maps (residues only, weights below the table's floor zero) from an `attention` table of
/// one protein.
fn maps_from_table(hints: &ViewHints, table: &polars::prelude::DataFrame) -> Result<AttentionMaps> {
    let what = hints.attention.as_str();
    let protein = texts(table, what, "protein")?;
    let layer = integers(table, what, "layer")?;
    let head = integers(table, what, "head")?;
    let from = integers(table, what, "from")?;
    let to = integers(table, what, "to")?;
    let weight = floats(table, what, "weight")?;
    let (layers, heads) = (hints.num_layers, hints.num_heads);
    let n = hints.residues.chars().count();
    let mut dense = vec![0f32; layers * heads * n * n];
    for k in 0..table.height() {
        if protein[k] != hints.protein {
            continue;
        }
        let (l, h, i, j) = (layer[k], head[k], from[k] - 1, to[k] - 1);
        let inside = |v: i64, max: usize| v >= 0 && (v as usize) < max;
        if !(inside(l, layers) && inside(h, heads) && inside(i, n) && inside(j, n)) {
            return Err(Error::file(
                what,
                format!(
                    "row {k}: layer {l} head {h} from {} to {} lies outside {layers} layers × \
                     {heads} heads × {n} residues",
                    i + 1,
                    j + 1
                ),
            ));
        }
        let (l, h, i, j) = (l as usize, h as usize, i as usize, j as usize);
        dense[((l * heads + h) * n + i) * n + j] = weight[k] as f32;
    }
    Ok(AttentionMaps {
        protein: hints.protein.clone(),
        num_layers: layers,
        num_heads: heads,
        tokens: n,
        residue_start: 0,
        residue_count: n,
        weights: Tensor::from_vec(dense, (layers, heads, n, n), &Device::Cpu)?,
        causal: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::{attention_frame, AttentionFilter};

    #[test]
    fn maps_from_the_attention_table_are_the_maps_above_its_floor() {
        // 2 layers × 3 heads over 4 residues between two specials, rows summing to 1.
        let (layers, heads, tokens) = (2, 3, 6);
        let mut values = Vec::new();
        for k in 0..layers * heads * tokens {
            let row: Vec<f32> = (0..tokens)
                .map(|j| ((k * 7 + j * 13) % 11) as f32 + 0.5)
                .collect();
            let sum: f32 = row.iter().sum();
            values.extend(row.iter().map(|v| v / sum));
        }
        let maps = AttentionMaps {
            protein: "p".into(),
            num_layers: layers,
            num_heads: heads,
            tokens,
            residue_start: 1,
            residue_count: 4,
            weights: Tensor::from_vec(values, (layers, heads, tokens, tokens), &Device::Cpu)
                .unwrap(),
            causal: false,
        };
        let floor = 0.1;
        let table = attention_frame(
            &maps,
            &AttentionFilter {
                layers: Vec::new(),
                heads: Vec::new(),
                min_weight: Some(floor),
            },
        )
        .unwrap();
        let hints = ViewHints {
            protein: "p".into(),
            residues: "ACDE".into(),
            attention: "attention.parquet".into(),
            attention_floor: floor,
            num_layers: layers,
            num_heads: heads,
            ..Default::default()
        };
        let rebuilt = maps_from_table(&hints, &table).unwrap();
        let want: Vec<f32> = maps
            .residue_weights()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let got: Vec<f32> = rebuilt
            .residue_weights()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(want.len(), got.len());
        let kept = want.iter().filter(|&&w| w >= floor).count();
        assert!(
            kept > 0 && kept < want.len(),
            "the floor drops some weights"
        );
        for (w, g) in want.iter().zip(&got) {
            let expected = if *w >= floor { *w } else { 0.0 };
            assert!((expected - g).abs() < 1e-6, "{w} → {g}");
        }
        // A row outside the stated shape is refused.
        let wrong = ViewHints {
            num_layers: 1,
            ..hints
        };
        assert!(maps_from_table(&wrong, &table).is_err());
    }
}
