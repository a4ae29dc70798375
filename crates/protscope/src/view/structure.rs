//! The 3D view: one chain as cartoon with its Cα atoms, residues coloured by a per-residue
//! value, attention drawn as cylinders between Cα atoms (provis' figure) and contacts as a
//! second layer, in the inlined 3Dmol.js.

use base64::Engine as _;
use std::fmt::Write as _;
use std::path::Path;

use super::{escape, page_html, script_json, View, ViewScripts};
use crate::annotation::antibody::{ChainType, RegionKind};
use crate::attention::AttentionMaps;
use crate::structure::{ChainResidues, ResidueMapping, Structure};
use crate::{Error, Result};

/// How values become colours.
#[derive(Debug, Clone, PartialEq)]
pub enum ColourScale {
    /// Blue below zero, white at zero, red above, symmetric (relevance).
    Diverging,
    /// White at the smallest value to dark blue at the largest (attention received, degree).
    Sequential,
    /// Each value is an index into these (label, CSS colour) pairs (regions, secondary
    /// structure).
    Categories(Vec<(String, String)>),
}

/// One way to colour residues: a value per sequence position (None: no colour, grey).
#[derive(Debug, Clone, PartialEq)]
pub struct ResidueColouring {
    pub name: String,
    pub scale: ColourScale,
    /// One per residue of the view's sequence.
    pub values: Vec<Option<f64>>,
}

impl ResidueColouring {
    /// IMGT regions (FR1 … CDR3 … FR4) from per-position region kinds of a `chain`-type chain.
    pub fn regions(kinds: &[Option<RegionKind>], chain: ChainType) -> Self {
        let order = [
            RegionKind::Fr1,
            RegionKind::Cdr1,
            RegionKind::Fr2,
            RegionKind::Cdr2,
            RegionKind::Fr3,
            RegionKind::Cdr3,
            RegionKind::Fr4,
        ];
        let colour = |k: RegionKind| match k {
            RegionKind::Cdr1 => "#e69f00",
            RegionKind::Cdr2 => "#009e73",
            RegionKind::Cdr3 => "#d55e00",
            _ => "#c8d0d8",
        };
        ResidueColouring {
            name: "IMGT regions".into(),
            scale: ColourScale::Categories(
                order
                    .iter()
                    .map(|&k| (k.label(chain), colour(k).to_string()))
                    .collect(),
            ),
            values: kinds
                .iter()
                .map(|k| k.and_then(|k| order.iter().position(|&o| o == k).map(|i| i as f64)))
                .collect(),
        }
    }

    /// Three-state secondary structure from one letter per position (H, E, C; other: none).
    pub fn secondary_structure(letters: &[Option<char>]) -> Self {
        ResidueColouring {
            name: "secondary structure (DSSP)".into(),
            scale: ColourScale::Categories(vec![
                ("helix".into(), "#c0392b".into()),
                ("strand".into(), "#f1c40f".into()),
                ("coil".into(), "#bdc3c7".into()),
            ]),
            values: letters
                .iter()
                .map(|c| match c {
                    Some('H') => Some(0.0),
                    Some('E') => Some(1.0),
                    Some('C') => Some(2.0),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// Attention of every head as the 3D view draws it: residue pairs i < j whose attention, the
/// larger of the two directions, is at least `floor` (the page's θ slider starts there), and
/// the attention each residue receives.
#[derive(Debug, Clone)]
pub struct StructureAttention {
    pub num_layers: usize,
    pub num_heads: usize,
    pub floor: f32,
    /// Per head (layer-major): (i, j, max(a_ij, a_ji)), 0-based residues.
    pub pairs: Vec<Vec<(usize, usize, f32)>>,
    /// Per head (layer-major): the attention each residue receives from the residues (column
    /// sums over residue rows).
    pub received: Vec<Vec<f32>>,
}

impl StructureAttention {
    /// From one protein's maps (specials dropped, not renormalised, as the `attention` table).
    pub fn from_maps(maps: &AttentionMaps, floor: f32) -> Result<Self> {
        if !(0.0..=1.0).contains(&floor) || floor == 0.0 {
            return Err(Error::setting(
                "min_weight",
                floor,
                "must lie in (0, 1]: every pair at or above it is drawn",
            ));
        }
        let n = maps.residues();
        if n == 0 {
            return Err(Error::sequence(
                &maps.protein,
                "no residues to draw attention on",
            ));
        }
        let weights: Vec<f32> = maps.residue_weights()?.flatten_all()?.to_vec1()?;
        let mut pairs = Vec::new();
        let mut received = Vec::new();
        for head in weights.chunks(n * n).take(maps.num_layers * maps.num_heads) {
            let mut p = Vec::new();
            let mut r = vec![0f32; n];
            for i in 0..n {
                for j in 0..n {
                    r[j] += head[i * n + j];
                    if j > i {
                        let w = head[i * n + j].max(head[j * n + i]);
                        if w >= floor {
                            p.push((i, j, w));
                        }
                    }
                }
            }
            pairs.push(p);
            received.push(r);
        }
        Ok(StructureAttention {
            num_layers: maps.num_layers,
            num_heads: maps.num_heads,
            floor,
            pairs,
            received,
        })
    }

    /// Pairs: per head a u32 count, then all i (u16), all j (u16), all weights (u8, steps of
    /// 1/255); base64.
    fn pairs_block(&self) -> String {
        let mut out = Vec::new();
        for p in &self.pairs {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        }
        for p in &self.pairs {
            for &(i, _, _) in p {
                out.extend_from_slice(&(i as u16).to_le_bytes());
            }
        }
        for p in &self.pairs {
            for &(_, j, _) in p {
                out.extend_from_slice(&(j as u16).to_le_bytes());
            }
        }
        for p in &self.pairs {
            out.extend(
                p.iter()
                    .map(|e| (e.2.clamp(0.0, 1.0) * 255.0).round() as u8),
            );
        }
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Received attention, per head n little-endian f32; base64.
    fn received_block(&self) -> String {
        let bytes: Vec<u8> = self
            .received
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// What the 3D view shows first.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureViewOptions {
    /// 0-based layer and head of the attention drawn first.
    pub layer: usize,
    pub head: usize,
    /// Attention drawn first: pairs at or above this.
    pub theta: f32,
    /// The colouring shown first (its name); None: the first.
    pub colouring: Option<String>,
}

impl Default for StructureViewOptions {
    fn default() -> Self {
        StructureViewOptions {
            layer: 0,
            head: 0,
            theta: 0.3,
            colouring: None,
        }
    }
}

/// One chain of a structure in 3D, mapped onto a sequence as `contacts` maps it.
#[derive(Debug, Clone)]
pub struct StructureView {
    pub protein: String,
    /// The structure file's name and the chain id.
    pub source: String,
    pub chain: String,
    pub sequence: Vec<char>,
    /// The chain's atoms as PDB records, residue numbers = 1-based sequence positions (residues
    /// without a position left out).
    pdb: String,
    /// Cα per sequence position (None where the structure has no residue).
    ca: Vec<Option<[f64; 3]>>,
    pub colourings: Vec<ResidueColouring>,
    pub attention: Option<StructureAttention>,
    /// Residue pairs in contact in the structure (0-based, i < j).
    pub true_contacts: Vec<(usize, usize)>,
    /// Predicted contacts (0-based, i < j, probability), drawn against the true ones.
    pub predicted_contacts: Vec<(usize, usize, f32)>,
    pub options: StructureViewOptions,
}

impl StructureView {
    /// The view of `chain` (read from `structure`) placed on `sequence` by `mapping` (from
    /// [`ChainResidues::map_to`]; check it with `ResidueMapping::require_same_protein`).
    pub fn new(
        protein: &str,
        sequence: &str,
        structure: &Structure,
        chain: &ChainResidues,
        mapping: &ResidueMapping,
    ) -> Result<Self> {
        let sequence: Vec<char> = sequence.chars().collect();
        if mapping.sequence_len != sequence.len() || mapping.positions.len() != chain.residues.len()
        {
            return Err(Error::invalid(format!(
                "{protein}: the residue mapping is not of this sequence ({} residues) and chain \
                 {} ({} residues)",
                sequence.len(),
                chain.chain,
                chain.residues.len()
            )));
        }
        let mut ca = vec![None; sequence.len()];
        for (r, p) in chain.residues.iter().zip(&mapping.positions) {
            if let Some(p) = p {
                ca[p - 1] = Some(r.ca);
            }
        }
        let mut pdb = String::new();
        let chain_letter = chain
            .chain
            .chars()
            .next()
            .filter(|_| chain.chain.len() == 1);
        let chain_letter = chain_letter.unwrap_or('A');
        for (serial, atom) in structure.chain_atoms(chain)?.iter().enumerate() {
            let Some(position) = mapping.positions[atom.residue] else {
                continue;
            };
            let residue = &chain.residues[atom.residue];
            // Columns 13-16: a one-letter element's name starts in column 14.
            let name = if atom.name.len() < 4 && atom.element.len() == 1 {
                format!(" {:<3}", atom.name)
            } else {
                format!("{:<4}", atom.name)
            };
            let _ = writeln!(
                pdb,
                "ATOM  {:>5} {name} {:>3} {chain_letter}{:>4}    {:>8.3}{:>8.3}{:>8.3}  1.00  \
                 0.00          {:>2}",
                (serial + 1) % 100_000,
                &residue.name.chars().take(3).collect::<String>(),
                position % 10_000,
                atom.pos[0],
                atom.pos[1],
                atom.pos[2],
                atom.element.to_ascii_uppercase()
            );
        }
        pdb.push_str("END\n");
        Ok(StructureView {
            protein: protein.to_string(),
            source: structure
                .path()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            chain: chain.chain.clone(),
            sequence,
            pdb,
            ca,
            colourings: Vec::new(),
            attention: None,
            true_contacts: Vec::new(),
            predicted_contacts: Vec::new(),
            options: StructureViewOptions::default(),
        })
    }

    /// Adds a colouring (one value per sequence position).
    pub fn colour_by(mut self, colouring: ResidueColouring) -> Result<Self> {
        if colouring.values.len() != self.sequence.len() {
            return Err(Error::invalid(format!(
                "colouring `{}` has {} values for {} residues",
                colouring.name,
                colouring.values.len(),
                self.sequence.len()
            )));
        }
        if let ColourScale::Categories(c) = &colouring.scale {
            if let Some(v) = colouring
                .values
                .iter()
                .flatten()
                .find(|v| v.fract() != 0.0 || **v < 0.0 || **v as usize >= c.len())
            {
                return Err(Error::invalid(format!(
                    "colouring `{}`: value {v} is not one of its {} categories",
                    colouring.name,
                    c.len()
                )));
            }
        }
        self.colourings.push(colouring);
        Ok(self)
    }

    /// Attention to draw as cylinders (and to colour by attention received), first `options`'s
    /// layer and head at θ.
    pub fn with_attention(
        mut self,
        attention: StructureAttention,
        options: StructureViewOptions,
    ) -> Result<Self> {
        if attention.received.first().map(Vec::len) != Some(self.sequence.len()) {
            return Err(Error::invalid(format!(
                "{}: the attention is not over this sequence's {} residues",
                self.protein,
                self.sequence.len()
            )));
        }
        if options.layer >= attention.num_layers || options.head >= attention.num_heads {
            return Err(Error::invalid(format!(
                "layer {} head {} does not exist: the model has {} layers × {} heads (0-based)",
                options.layer, options.head, attention.num_layers, attention.num_heads
            )));
        }
        self.attention = Some(attention);
        self.options = options;
        Ok(self)
    }

    /// Contacts of the structure and predicted ones (0-based pairs i < j) as a second layer.
    pub fn with_contacts(
        mut self,
        true_contacts: Vec<(usize, usize)>,
        predicted: Vec<(usize, usize, f32)>,
    ) -> Result<Self> {
        let n = self.sequence.len();
        if let Some(p) = true_contacts
            .iter()
            .copied()
            .chain(predicted.iter().map(|p| (p.0, p.1)))
            .find(|&(i, j)| i >= j || j >= n)
        {
            return Err(Error::invalid(format!(
                "contact {p:?}: pairs are 0-based with i < j < {n}"
            )));
        }
        self.true_contacts = true_contacts;
        self.predicted_contacts = predicted;
        Ok(self)
    }

    /// The PDB text drawn (residue numbers are sequence positions).
    pub fn pdb_text(&self) -> &str {
        &self.pdb
    }

    fn data_json(&self) -> serde_json::Value {
        let colourings: Vec<serde_json::Value> = self
            .colourings
            .iter()
            .map(|c| {
                let (scale, categories) = match &c.scale {
                    ColourScale::Diverging => ("diverging", Vec::new()),
                    ColourScale::Sequential => ("sequential", Vec::new()),
                    ColourScale::Categories(c) => ("categories", c.clone()),
                };
                serde_json::json!({
                    "name": c.name,
                    "scale": scale,
                    "categories": categories,
                    "values": c.values.iter().map(|v| v.filter(|v| v.is_finite())).collect::<Vec<_>>(),
                })
            })
            .collect();
        let attention = self.attention.as_ref().map(|a| {
            serde_json::json!({
                "num_layers": a.num_layers,
                "num_heads": a.num_heads,
                "floor": a.floor,
                "pairs": a.pairs_block(),
                "received": a.received_block(),
            })
        });
        serde_json::json!({
            "protein": self.protein,
            "source": self.source,
            "chain": self.chain,
            "sequence": self.sequence.iter().collect::<String>(),
            "pdb": self.pdb,
            "ca": self.ca.iter().map(|c| c.map(|c| [
                (c[0] * 1000.0).round() / 1000.0,
                (c[1] * 1000.0).round() / 1000.0,
                (c[2] * 1000.0).round() / 1000.0,
            ])).collect::<Vec<_>>(),
            "colourings": colourings,
            "attention": attention,
            "true_contacts": self.true_contacts,
            "predicted_contacts": self.predicted_contacts.iter().map(|p| (p.0, p.1, (p.2 * 1000.0).round() / 1000.0)).collect::<Vec<_>>(),
            "layer": self.options.layer,
            "head": self.options.head,
            "theta": self.options.theta,
            "colouring": self.options.colouring,
        })
    }

    /// A page holding this view alone.
    pub fn to_html(&self) -> Result<String> {
        page_html(&View::title(self), &[self])
    }

    /// Writes [`StructureView::to_html`] to `path`.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        super::write_page(path, &self.to_html()?)
    }
}

impl View for StructureView {
    fn body_html(&self, id: &str) -> Result<String> {
        let placed = self.ca.iter().flatten().count();
        Ok(format!(
            "<section class=\"ps-view ps-structure-view\" id=\"{id}\" data-view=\"structure\">\n\
             <script type=\"application/json\" class=\"ps-data\">{}</script>\n\
             <noscript><p>This 3D view needs JavaScript.</p></noscript>\n\
             <p class=\"ps-rule\">{}, chain {}: {placed} of {} residues of {} placed in the \
             structure. Cylinders join the Cα atoms of residue pairs whose attention (the \
             larger of the two directions) is at least θ in the chosen layer and head; their \
             width grows with the weight.</p>\n</section>\n",
            script_json(&self.data_json()),
            escape(&self.source),
            escape(&self.chain),
            self.sequence.len(),
            escape(&self.protein)
        ))
    }

    fn scripts(&self) -> ViewScripts {
        ViewScripts {
            molecular_viewer: true,
            attention: false,
        }
    }

    fn title(&self) -> String {
        format!("{}: structure, chain {}", self.protein, self.chain)
    }
}

/// A colouring's values on the residues of `chain` (for the B-factor column of a structure
/// copy, [`Structure::save_with_b_factors`]): each structure residue takes its sequence
/// position's value.
pub fn b_factor_values(colouring: &ResidueColouring, mapping: &ResidueMapping) -> Vec<Option<f64>> {
    mapping
        .positions
        .iter()
        .map(|p| p.and_then(|p| colouring.values.get(p - 1).copied().flatten()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::{parse_structure, Numbering};
    use candle_core::{Device, Tensor};

    const PDB: &str = "\
ATOM      1  N   LYS A   2       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  LYS A   2       1.000   0.000   0.000  1.00  0.00           C
ATOM      3  C   LYS A   2       1.500   1.000   0.000  1.00  0.00           C
ATOM      4  N   GLY A   3       3.000   0.000   0.000  1.00  0.00           N
ATOM      5  CA  GLY A   3       4.000   0.000   0.000  1.00  0.00           C
ATOM      6  C   GLY A   3       4.500   1.000   0.000  1.00  0.00           C
ATOM      7  N   LEU A   5      10.000   0.000   0.000  1.00  0.00           N
ATOM      8  CA  LEU A   5      11.000   0.000   0.000  1.00  0.00           C
ATOM      9  C   LEU A   5      11.500   1.000   0.000  1.00  0.00           C
END
";

    fn view() -> (StructureView, crate::structure::Structure, ResidueMapping) {
        let s = parse_structure(PDB.as_bytes(), Path::new("t.pdb")).unwrap();
        let chain = s.chain(None, None).unwrap();
        let mapping = chain.map_to(Some("MKGAL"), Numbering::Align).unwrap();
        let view = StructureView::new("p", "MKGAL", &s, &chain, &mapping).unwrap();
        (view, s, mapping)
    }

    #[test]
    fn the_chain_is_renumbered_by_sequence_position() {
        let (view, _, _) = view();
        let lines: Vec<&str> = view.pdb_text().lines().collect();
        assert_eq!(lines.len(), 10);
        assert_eq!(&lines[1][12..16], " CA ");
        assert_eq!(&lines[1][17..20], "LYS");
        assert_eq!(lines[1][22..26].trim(), "2");
        assert_eq!(lines[7][22..26].trim(), "5");
        assert_eq!(lines[7][30..38].trim(), "11.000");
        assert_eq!(view.ca[0], None);
        assert_eq!(view.ca[4], Some([11.0, 0.0, 0.0]));
        let html = view.to_html().unwrap();
        assert_eq!(
            html.matches("3Dmol.js 2.5.5").count(),
            2,
            "credits and licence"
        );
    }

    #[test]
    fn attention_pairs_take_the_larger_direction() {
        // 1 layer, 1 head, tokens: special + 5 residues + special.
        let t = 7;
        let mut w = vec![0f32; t * t];
        w[t + 4] = 0.4; // residue 0 -> residue 3 (tokens 1 -> 4)
        w[4 * t + 1] = 0.6; // residue 3 -> residue 0
        w[2 * t + 3] = 0.1; // residue 1 -> residue 2, below the floor
        let maps = AttentionMaps {
            protein: "p".into(),
            causal: false,
            num_layers: 1,
            num_heads: 1,
            tokens: t,
            residue_start: 1,
            residue_count: 5,
            weights: Tensor::from_vec(w, (1, 1, t, t), &Device::Cpu).unwrap(),
        };
        let a = StructureAttention::from_maps(&maps, 0.2).unwrap();
        assert_eq!(a.pairs, vec![vec![(0, 3, 0.6)]]);
        assert_eq!(a.received[0], vec![0.6, 0.0, 0.1, 0.4, 0.0]);
        let (view, _, _) = view();
        let view = view
            .with_attention(a, StructureViewOptions::default())
            .unwrap();
        assert!(view.to_html().unwrap().contains("\"num_heads\":1"));
        assert!(StructureAttention::from_maps(&maps, 0.0).is_err());
    }

    #[test]
    fn colourings_and_b_factors() {
        let (view, s, mapping) = view();
        let relevance = ResidueColouring {
            name: "relevance".into(),
            scale: ColourScale::Diverging,
            values: vec![Some(0.5), Some(-1.0), Some(2.0), None, Some(3.25)],
        };
        let b = b_factor_values(&relevance, &mapping);
        assert_eq!(b, vec![Some(-1.0), Some(2.0), Some(3.25)]);
        let view = view.colour_by(relevance).unwrap();
        assert!(view
            .clone()
            .colour_by(ResidueColouring {
                name: "short".into(),
                scale: ColourScale::Sequential,
                values: vec![None],
            })
            .is_err());
        assert!(view
            .clone()
            .colour_by(ResidueColouring::secondary_structure(&[Some('Q'); 5]))
            .is_ok());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.pdb");
        let chain = s.chain(None, None).unwrap();
        s.save_with_b_factors(&chain, &b, &out).unwrap();
        let copy = crate::structure::read_structure(&out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let bs: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("ATOM"))
            .map(|l| l[60..66].trim().parse().unwrap())
            .collect();
        assert_eq!(bs, vec![-1.0, -1.0, -1.0, 2.0, 2.0, 2.0, 3.25, 3.25, 3.25]);
        assert_eq!(copy.chain(None, None).unwrap().residues.len(), 3);
        assert!(s
            .save_with_b_factors(&chain, &b, &dir.path().join("b.txt"))
            .is_err());
        let cif = dir.path().join("b.cif");
        s.save_with_b_factors(&chain, &b, &cif).unwrap();
        let copy = crate::structure::read_structure(&cif).unwrap();
        assert_eq!(copy.chain(None, None).unwrap().residues.len(), 3);
        let text = std::fs::read_to_string(&cif).unwrap();
        assert_eq!(text.matches(" 3.25 ").count(), 3, "{text}");
        assert_eq!(text.matches(" -1.00 ").count(), 3, "{text}");
        assert!(view.with_contacts(vec![(2, 1)], vec![]).is_err());
    }
}
