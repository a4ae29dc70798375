//! Rich output in the evcxr Jupyter kernel. evcxr shows a cell's value through a method named
//! `evcxr_display` that prints `EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT`; bring
//! [`Show`] into scope (`use protscope::notebook::Show;`) and figures render inline as SVG and
//! DataFrames as bounded HTML tables with their shape. A value that cannot be drawn shows its
//! error as text instead of panicking the cell.

use polars::prelude::DataFrame;

use crate::attention::AttentionMaps;
use crate::attribution::tables::relevance_frame;
use crate::attribution::IgResult;
use crate::plot::{self, Figure, HeadGrid, ResidueTrack};
use crate::report::TableOptions;
use crate::view::{fragment_html, AttentionView, StructureView};
use crate::Result;

/// Rows of a DataFrame shown inline (the shape line tells the rest).
pub const INLINE_ROWS: usize = 20;

/// One evcxr display block.
pub fn content(mime: &str, body: &str) -> String {
    format!(
        "EVCXR_BEGIN_CONTENT {mime}\n{}\nEVCXR_END_CONTENT\n",
        body.trim_end()
    )
}

/// Values with an inline notebook view.
pub trait Show {
    /// The display blocks (mime type and body) of this value.
    fn evcxr_content(&self) -> Result<String>;

    /// Called by evcxr for a cell's final value: prints the blocks, or the error as text.
    fn evcxr_display(&self) {
        match self.evcxr_content() {
            Ok(text) => print!("{text}"),
            Err(e) => print!("{}", content("text/plain", &format!("cannot display: {e}"))),
        }
    }
}

impl Show for Figure {
    fn evcxr_content(&self) -> Result<String> {
        Ok(content("image/svg+xml", &self.to_svg()?))
    }
}

impl Show for DataFrame {
    fn evcxr_content(&self) -> Result<String> {
        let shape = format!(
            "<p style=\"margin:2px 0;font-size:12px\">shape: ({} rows, {} columns){}</p>",
            self.height(),
            self.width(),
            if self.height() > INLINE_ROWS {
                format!(", first {INLINE_ROWS} shown")
            } else {
                String::new()
            }
        );
        let table = crate::report::table_html(
            "frame",
            self,
            &TableOptions {
                max_rows: INLINE_ROWS,
                searchable: false,
                downloadable: false,
                row_count: false,
                // A notebook frame is data the next cell filters on: its values as they are.
                count_from_one: false,
            },
        )?;
        Ok(content("text/html", &format!("{shape}{table}")))
    }
}

/// Attention maps of one protein, compact: one cell per head, coloured by the mean distance
/// between attending and attended residue (local heads dark, long-range heads bright). Draw one
/// head with [`AttentionMaps::head_map`] and [`plot::attention_map`].
impl Show for AttentionMaps {
    fn evcxr_content(&self) -> Result<String> {
        let grid = HeadGrid {
            num_layers: self.num_layers,
            num_heads: self.num_heads,
            values: self.mean_attention_distance()?,
            statistic: "mean attention distance".into(),
            unit: "residues".into(),
            mask_label: "no attention among residues".into(),
            value_range: None,
        };
        plot::head_heatmap(
            "attention_distance",
            &format!("{}: mean attention distance per head", self.protein),
            &grid,
        )?
        .evcxr_content()
    }
}

/// Integrated gradients of one protein, compact: the embedding-level relevance per residue.
/// Other heads: [`ResidueTrack::from_frames`] on [`relevance_frame`] with their layer and head.
impl Show for IgResult {
    fn evcxr_content(&self) -> Result<String> {
        let track = ResidueTrack::from_frames(
            &relevance_frame(self)?,
            &self.protein,
            crate::model::Level::Embedding,
            None,
        )?;
        plot::residue_track(
            "relevance",
            &format!(
                "{}: embedding-level relevance for {} class {}",
                self.protein, self.output, self.target
            ),
            &track,
        )?
        .evcxr_content()
    }
}

/// The 3D view, interactive in the cell's output (3Dmol.js and the data inlined).
impl Show for StructureView {
    fn evcxr_content(&self) -> Result<String> {
        Ok(content("text/html", &fragment_html(&[self])?))
    }
}

/// The attention head and model view, interactive in the cell's output.
impl Show for AttentionView {
    fn evcxr_content(&self) -> Result<String> {
        Ok(content("text/html", &fragment_html(&[self])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn figures_show_as_inline_svg() {
        let grid = crate::plot::HeadGrid {
            num_layers: 1,
            num_heads: 2,
            values: vec![Some(0.2), Some(0.5)],
            statistic: "share".into(),
            unit: String::new(),
            mask_label: "excluded".into(),
            value_range: None,
        };
        let figure = crate::plot::head_heatmap("g", "Grid", &grid).unwrap();
        let text = figure.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
        assert!(text.ends_with("</svg>\nEVCXR_END_CONTENT\n"));
        // A figure that cannot be drawn is an error value, shown as text by evcxr_display.
        let too_small = figure.with_size(10, 10);
        assert!(too_small.evcxr_content().is_err());
    }

    #[test]
    fn frames_show_as_bounded_html_with_their_shape() {
        let df = df!("layer" => (0..50i64).collect::<Vec<_>>()).unwrap();
        let text = df.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT text/html\n"));
        assert!(text.ends_with("EVCXR_END_CONTENT\n"));
        assert!(text.contains("shape: (50 rows, 1 columns), first 20 shown"));
        assert_eq!(text.matches("<tr>").count(), 1 + INLINE_ROWS);
    }

    fn maps(weights: Vec<f32>, tokens: usize) -> AttentionMaps {
        let tensor = candle_core::Tensor::from_vec(
            weights,
            (1, 2, tokens, tokens),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        AttentionMaps {
            causal: false,
            protein: "ab1".into(),
            num_layers: 1,
            num_heads: 2,
            tokens,
            residue_start: 1,
            residue_count: tokens.saturating_sub(2),
            weights: tensor,
        }
    }

    #[test]
    fn attention_maps_show_mean_distance_per_head() {
        // 3 residues between two specials; head 0 attends to itself, head 1 to the residue two
        // places away and the other two to the first residue (distances 2, 1, 2).
        let t = 5;
        let mut w = vec![0f32; 2 * t * t];
        for i in 1..4 {
            w[i * t + i] = 1.0;
            w[t * t + i * t + (if i == 1 { 3 } else { 1 })] = 1.0;
        }
        let maps = maps(w, t);
        let d = maps.mean_attention_distance().unwrap();
        assert_eq!(d[0], Some(0.0));
        assert!((d[1].unwrap() - 5.0 / 3.0).abs() < 1e-9);
        let text = maps.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
        let map = maps.head_map(0, 1, &['A', 'C', 'D']).unwrap();
        assert_eq!(map.weights.len(), 9);
        assert_eq!(map.weights[2], 1.0);
        // Wrong residues or a head that does not exist are errors, not panics.
        assert!(maps.head_map(0, 1, &['A']).is_err());
        assert!(maps.head_map(0, 2, &['A', 'C', 'D']).is_err());
        // Only specials: no residue-level distance.
        let empty = super::tests::maps(vec![0.5; 2 * 4], 2);
        assert_eq!(empty.mean_attention_distance().unwrap(), vec![None, None]);
    }

    #[test]
    fn ig_results_show_as_a_residue_track() {
        let ig = IgResult {
            protein: "ab1".into(),
            output: "species".into(),
            target: 1,
            tokens: ["[CLS]", "E", "V", "Q", "[SEP]"].map(String::from).to_vec(),
            residue_start: 1,
            residue_count: 3,
            prefix_tokens: 0,
            f_input: 1.0,
            f_baseline: 0.0,
            delta: 0.0,
            embedding: vec![0.0, 0.5, -0.2, 0.7, 0.0],
            latent: Vec::new(),
            num_layers: 1,
            num_heads: 1,
            steps: 4,
            method: crate::attribution::Quadrature::GaussLegendre,
            baseline: crate::attribution::Baseline::Pad,
            latent_derivative: None,
            max_delta: None,
            converged: None,
        };
        assert_eq!(ig.residue_embedding(), &[0.5, -0.2, 0.7]);
        let both = crate::attribution::tables::relevance_frames(&[ig.clone(), ig.clone()]).unwrap();
        assert_eq!(both.shape(), (10, 6));
        let text = ig.evcxr_content().unwrap();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
        assert!(text.ends_with("</svg>\nEVCXR_END_CONTENT\n"));
        let broken = IgResult {
            embedding: vec![0.0; 2],
            ..ig
        };
        assert!(broken.evcxr_content().is_err());
    }
}
