//! The attention view (bertviz's head and model views, for long proteins): one compact binary
//! block holds, for every shown layer and head, the strongest attention edges of each residue.

use base64::Engine as _;
use std::path::Path;

use super::{escape, page_html, script_json, View, ViewScripts};
use crate::attention::{AttentionFilter, AttentionMaps};
use crate::{Error, Result};

/// Which edges the page holds. A dense block of a 1,000-residue protein with 30 × 16 heads would
/// be 480 M weights; each row keeps at most `top_k` edges, of weight at least `floor`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionViewOptions {
    /// Edges of weight below this are left out (0 keeps the `top_k` strongest of every row).
    pub floor: f32,
    /// At most this many edges per row (1..=255), the strongest.
    pub top_k: usize,
    /// 0-based layers shown (bertviz's `include_layers`); empty = all.
    pub layers: Vec<usize>,
    /// 0-based heads shown (`include_heads`); empty = all.
    pub heads: Vec<usize>,
    /// The 0-based (layer, head) the page opens on, alone; `None` opens the first shown layer
    /// with every shown head.
    pub open: Option<(usize, usize)>,
}

impl Default for AttentionViewOptions {
    fn default() -> Self {
        AttentionViewOptions {
            floor: 0.05,
            top_k: 8,
            layers: Vec::new(),
            heads: Vec::new(),
            open: None,
        }
    }
}

/// Weights are stored as `round(weight × 255)` in one byte: a shown weight is within
/// `QUANTISATION_STEP / 2` of the `attention` table's.
pub const QUANTISATION_STEP: f32 = 1.0 / 255.0;

/// Attention of one protein for the browser: head view (lines between residues, one colour per
/// head, selected residues summed), model view (layers × heads thumbnails) and a sequence
/// window, drawn on canvas from one binary block.
#[derive(Debug, Clone)]
pub struct AttentionView {
    pub protein: String,
    /// One letter per residue (the model's residues, specials dropped).
    pub residues: Vec<char>,
    pub num_layers: usize,
    pub num_heads: usize,
    /// The layers and heads held, 0-based.
    pub layers: Vec<usize>,
    pub heads: Vec<usize>,
    pub options: AttentionViewOptions,
    /// Edges per (layer, head, row), layer-major in `layers` × `heads` order.
    counts: Vec<u8>,
    /// Target residue (0-based) of each edge, rows in order, targets ascending within a row.
    targets: Vec<u16>,
    /// `round(weight × 255)` of each edge.
    weights: Vec<u8>,
}

/// The edges of one head decoded from the block: (from, to, weight), 0-based residues.
pub type DecodedHead = Vec<(usize, usize, f32)>;

impl AttentionView {
    /// The view of `maps`; `residues` are the sequence's residues as given to the model.
    pub fn from_maps(
        maps: &AttentionMaps,
        residues: &str,
        options: &AttentionViewOptions,
    ) -> Result<Self> {
        AttentionFilter {
            layers: options.layers.clone(),
            heads: options.heads.clone(),
            min_weight: Some(options.floor),
        }
        .validate(maps.num_layers, maps.num_heads)?;
        if options.top_k == 0 || options.top_k > 255 {
            return Err(Error::setting(
                "top_k",
                options.top_k,
                "must lie in 1..=255",
            ));
        }
        let residues: Vec<char> = residues.chars().collect();
        let n = maps.residues();
        if residues.len() != n {
            return Err(Error::sequence(
                &maps.protein,
                format!(
                    "{} residues given for attention maps over {n}",
                    residues.len()
                ),
            ));
        }
        if n > usize::from(u16::MAX) {
            return Err(Error::sequence(
                &maps.protein,
                format!("{n} residues: the attention view holds at most 65,535"),
            ));
        }
        let all = |given: &Vec<usize>, count: usize| {
            if given.is_empty() {
                (0..count).collect()
            } else {
                given.clone()
            }
        };
        let layers: Vec<usize> = all(&options.layers, maps.num_layers);
        let heads: Vec<usize> = all(&options.heads, maps.num_heads);
        if let Some((layer, head)) = options.open {
            if !layers.contains(&layer) || !heads.contains(&head) {
                return Err(Error::setting(
                    "open",
                    format!("layer {} head {}", layer + 1, head + 1),
                    "must be one of the shown layers and heads",
                ));
            }
        }
        let (mut counts, mut targets, mut weights) = (Vec::new(), Vec::new(), Vec::new());
        let mut row_edges: Vec<(usize, f32)> = Vec::with_capacity(n);
        for &layer in &layers {
            // (heads, n, n) of this layer, residues only, as `attention_frame` reads it.
            let values: Vec<f32> = maps
                .weights
                .get(layer)?
                .narrow(1, maps.residue_start, n)?
                .narrow(2, maps.residue_start, n)?
                .contiguous()?
                .flatten_all()?
                .to_vec1()?;
            for &head in &heads {
                for row in values[head * n * n..(head + 1) * n * n]
                    .chunks(n.max(1))
                    .take(n)
                {
                    row_edges.clear();
                    row_edges.extend(
                        row.iter()
                            .enumerate()
                            .filter(|(_, &w)| w >= options.floor)
                            .map(|(j, &w)| (j, w)),
                    );
                    // The strongest first (ties: the nearer residue), then back in order.
                    row_edges.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    row_edges.truncate(options.top_k);
                    row_edges.sort_by_key(|e| e.0);
                    counts.push(row_edges.len() as u8);
                    for &(j, w) in &row_edges {
                        targets.push(j as u16);
                        weights.push((w.clamp(0.0, 1.0) * 255.0).round() as u8);
                    }
                }
            }
        }
        Ok(AttentionView {
            protein: maps.protein.clone(),
            residues,
            num_layers: maps.num_layers,
            num_heads: maps.num_heads,
            layers,
            heads,
            options: options.clone(),
            counts,
            targets,
            weights,
        })
    }

    /// Edges held, over all layers and heads.
    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    /// The binary block as the page holds it (before base64): per (layer, head, row) the edge
    /// count (u8), padding to an even offset, the targets (u16, little-endian), the weights (u8).
    pub fn block(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.counts.len() + 1 + self.targets.len() * 3);
        out.extend_from_slice(&self.counts);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        for t in &self.targets {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&self.weights);
        out
    }

    fn data_json(&self) -> serde_json::Value {
        let counts_len = self.counts.len();
        serde_json::json!({
            "protein": self.protein,
            "residues": self.residues.iter().collect::<String>(),
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "layers": self.layers,
            "heads": self.heads,
            // Indices into `layers` and `heads`, as the page's controls count them.
            "open": self.options.open.map(|(layer, head)| {
                [
                    self.layers.iter().position(|&l| l == layer),
                    self.heads.iter().position(|&h| h == head),
                ]
            }),
            "floor": self.options.floor,
            "top_k": self.options.top_k,
            "edges": self.edges(),
            "targets_offset": counts_len + counts_len % 2,
            "step": QUANTISATION_STEP,
            "block": base64::engine::general_purpose::STANDARD.encode(self.block()),
        })
    }

    /// The rule the page states under the view.
    pub fn rule(&self) -> String {
        format!(
            "Each residue's attention to at most {} others, of weight at least {} (weights \
             rounded to steps of 1/255, so within 0.002 of the attention table's); {} edges in \
             {} layers × {} heads.",
            self.options.top_k,
            self.options.floor,
            self.edges(),
            self.layers.len(),
            self.heads.len()
        )
    }

    /// A page holding this view alone.
    pub fn to_html(&self) -> Result<String> {
        page_html(&View::title(self), &[self])
    }

    /// Writes [`AttentionView::to_html`] to `path`.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        super::write_page(path, &self.to_html()?)
    }
}

impl View for AttentionView {
    fn body_html(&self, id: &str) -> Result<String> {
        Ok(format!(
            "<section class=\"ps-view ps-attention-view\" id=\"{id}\" data-view=\"attention\">\n\
             <script type=\"application/json\" class=\"ps-data\">{}</script>\n\
             <noscript><p>This attention view needs JavaScript.</p></noscript>\n\
             <p class=\"ps-rule\">{}</p>\n</section>\n",
            script_json(&self.data_json()),
            escape(&self.rule())
        ))
    }

    fn scripts(&self) -> ViewScripts {
        ViewScripts {
            molecular_viewer: false,
            attention: true,
        }
    }

    fn title(&self) -> String {
        format!("{}: attention, head and model view", self.protein)
    }
}

/// Decodes a block written by [`AttentionView::block`] for `heads` (layer, head) pairs of `n`
/// residues: each pair's edges. The browser reads the same bytes the same way.
pub fn decode_attention_block(block: &[u8], heads: usize, n: usize) -> Result<Vec<DecodedHead>> {
    let bad = |what: &str| Error::invalid(format!("attention view block: {what}"));
    let counts = block
        .get(..heads * n)
        .ok_or_else(|| bad("shorter than its edge counts"))?;
    let edges: usize = counts.iter().map(|&c| usize::from(c)).sum();
    let offset = heads * n + (heads * n) % 2;
    if block.len() != offset + edges * 3 {
        return Err(bad("its length does not match its edge counts"));
    }
    let target = |e: usize| {
        usize::from(u16::from_le_bytes([
            block[offset + 2 * e],
            block[offset + 2 * e + 1],
        ]))
    };
    let weight = |e: usize| f32::from(block[offset + 2 * edges + e]) * QUANTISATION_STEP;
    let mut e = 0;
    let mut out = Vec::with_capacity(heads);
    for h in 0..heads {
        let mut head = Vec::new();
        for from in 0..n {
            for _ in 0..counts[h * n + from] {
                head.push((from, target(e), weight(e)));
                e += 1;
            }
        }
        out.push(head);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Maps of 2 layers × 2 heads over 5 tokens (specials at 0 and 4), rows softmax-like.
    fn maps() -> AttentionMaps {
        let (l, h, t) = (2, 2, 5);
        let mut w = Vec::new();
        for k in 0..l * h {
            for i in 0..t {
                let row: Vec<f32> = (0..t)
                    .map(|j| (((i * 7 + j * 3 + k * 5) % 11) as f32 + 0.5).powi(2))
                    .collect();
                let sum: f32 = row.iter().sum();
                w.extend(row.iter().map(|x| x / sum));
            }
        }
        AttentionMaps {
            protein: "p".into(),
            causal: false,
            num_layers: l,
            num_heads: h,
            tokens: t,
            residue_start: 1,
            residue_count: 3,
            weights: Tensor::from_vec(w, (l, h, t, t), &Device::Cpu).unwrap(),
        }
    }

    #[test]
    fn the_block_holds_the_attention_tables_weights_within_half_a_step() {
        let maps = maps();
        let options = AttentionViewOptions {
            floor: 0.1,
            top_k: 2,
            ..Default::default()
        };
        let view = AttentionView::from_maps(&maps, "ACD", &options).unwrap();
        let decoded = decode_attention_block(&view.block(), 4, 3).unwrap();
        let table = crate::attention::attention_frame(&maps, &AttentionFilter::default()).unwrap();
        let col = |name: &str| -> Vec<i64> {
            table
                .column(name)
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        let (layer, head, from, to) = (col("layer"), col("head"), col("from"), col("to"));
        let weight: Vec<f32> = table
            .column("weight")
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        for (k, edges) in decoded.iter().enumerate() {
            let (l, h) = (k / 2, k % 2);
            for r in 0..3 {
                // The table's row r, strongest first, as the view's rule picks them.
                let mut row: Vec<(usize, f32)> = (0..table.height())
                    .filter(|&i| layer[i] == l as i64 && head[i] == h as i64)
                    .filter(|&i| from[i] == r as i64 + 1 && weight[i] >= 0.1)
                    .map(|i| (to[i] as usize - 1, weight[i]))
                    .collect();
                row.sort_by(|a, b| b.1.total_cmp(&a.1));
                row.truncate(2);
                row.sort_by_key(|e| e.0);
                let shown: Vec<(usize, f32)> = edges
                    .iter()
                    .filter(|e| e.0 == r)
                    .map(|e| (e.1, e.2))
                    .collect();
                assert_eq!(shown.len(), row.len(), "layer {l} head {h} row {r}");
                for (a, b) in shown.iter().zip(&row) {
                    assert_eq!(a.0, b.0);
                    assert!((a.1 - b.1).abs() <= QUANTISATION_STEP / 2.0 + 1e-6);
                }
            }
        }
        assert!(view.edges() > 0);
    }

    #[test]
    fn filters_and_bad_settings() {
        let maps = maps();
        let options = AttentionViewOptions {
            floor: 0.0,
            top_k: 3,
            layers: vec![1],
            heads: vec![0],
            open: Some((1, 0)),
        };
        let view = AttentionView::from_maps(&maps, "ACD", &options).unwrap();
        assert!(
            view.to_html().unwrap().contains("\"open\":[0,0]"),
            "shown indices"
        );
        // floor 0, top_k 3 over 3 residues: the whole residue map of layer 1, head 0.
        assert_eq!(view.edges(), 9);
        let html = view.to_html().unwrap();
        assert!(html.contains("ps-attention-view") && !html.contains("3Dmol.js 2.5.5"));
        let bad = |o: AttentionViewOptions| {
            AttentionView::from_maps(&maps, "ACD", &o)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(AttentionViewOptions {
            top_k: 0,
            ..Default::default()
        })
        .contains("top_k"));
        assert!(bad(AttentionViewOptions {
            layers: vec![5],
            ..Default::default()
        })
        .contains("layer 5"));
        assert!(bad(AttentionViewOptions {
            layers: vec![0],
            open: Some((1, 0)),
            ..Default::default()
        })
        .contains("layer 2 head 1"));
        assert!(AttentionView::from_maps(&maps, "AC", &AttentionViewOptions::default()).is_err());
        assert!(decode_attention_block(&[1, 2, 3], 1, 3).is_err());
    }
}
