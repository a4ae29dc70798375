//! Attribution results as Polars tables.

use polars::prelude::*;

use super::IgResult;
use crate::Result;

/// Columns: protein, layer (-1 = embedding level), head (-1 at the embedding level), position
/// (0 = first special token, 1..n residues, n+1 = final special token; prefix tokens are left
/// out), residue, relevance.
pub fn empty_relevance_frame() -> DataFrame {
    df!(
        "protein" => Vec::<String>::new(),
        "layer" => Vec::<i64>::new(),
        "head" => Vec::<i64>::new(),
        "position" => Vec::<i64>::new(),
        "residue" => Vec::<String>::new(),
        "relevance" => Vec::<f64>::new(),
    )
    .expect("static schema")
}

/// Long table of one protein's relevances: embedding level first, then every (layer, head).
pub fn relevance_frame(result: &IgResult) -> Result<DataFrame> {
    let t = result.tokens.len();
    let blocks = 1 + if result.latent.is_empty() {
        0
    } else {
        result.num_layers * result.num_heads
    };
    let mut layer = Vec::with_capacity(blocks * t);
    let mut head = Vec::with_capacity(blocks * t);
    let mut position = Vec::with_capacity(blocks * t);
    let mut residue = Vec::with_capacity(blocks * t);
    let mut relevance = Vec::with_capacity(blocks * t);
    // Prefix tokens (a decoder's conditioning) are not part of the sequence: left out.
    let prefix = result.residue_start - result.prefix_tokens..result.residue_start;
    let mut push_block = |l: i64, h: i64, values: &[f64]| {
        for (p, v) in values.iter().enumerate() {
            if prefix.contains(&p) {
                continue;
            }
            layer.push(l);
            head.push(h);
            position.push(result.position_of_token(p));
            residue.push(result.tokens[p].as_str());
            relevance.push(*v);
        }
    };
    push_block(-1, -1, &result.embedding);
    if !result.latent.is_empty() {
        for l in 0..result.num_layers {
            for h in 0..result.num_heads {
                push_block(l as i64, h as i64, result.latent_at(l, h));
            }
        }
    }
    let rows = layer.len();
    Ok(df!(
        "protein" => vec![result.protein.as_str(); rows],
        "layer" => layer,
        "head" => head,
        "position" => position,
        "residue" => residue,
        "relevance" => relevance,
    )?)
}

/// [`relevance_frame`] of several proteins, one after the other (empty for none).
pub fn relevance_frames(results: &[IgResult]) -> Result<DataFrame> {
    let mut all = empty_relevance_frame();
    for result in results {
        all.vstack_mut(&relevance_frame(result)?)?;
    }
    Ok(all)
}

/// Columns: protein, head, target, f_input, f_baseline, delta, steps, method, baseline,
/// latent_derivative (`fd` or `exact` for latent runs, `none` for embedding-only runs),
/// max_delta and converged (steps chosen by accuracy: the tolerance, and whether |delta| ≤
/// max_delta · |f_input − f_baseline| was reached before `--max-steps`; null for a fixed number
/// of steps).
pub fn empty_summary_frame() -> DataFrame {
    df!(
        "protein" => Vec::<String>::new(),
        "output" => Vec::<String>::new(),
        "target" => Vec::<i64>::new(),
        "f_input" => Vec::<f64>::new(),
        "f_baseline" => Vec::<f64>::new(),
        "delta" => Vec::<f64>::new(),
        "steps" => Vec::<i64>::new(),
        "method" => Vec::<String>::new(),
        "baseline" => Vec::<String>::new(),
        "latent_derivative" => Vec::<String>::new(),
        "max_delta" => Vec::<Option<f64>>::new(),
        "converged" => Vec::<Option<bool>>::new(),
    )
    .expect("static schema")
}

pub fn summary_frame(result: &IgResult) -> Result<DataFrame> {
    Ok(df!(
        "protein" => [result.protein.as_str()],
        "output" => [result.output.as_str()],
        "target" => [result.target as i64],
        "f_input" => [result.f_input],
        "f_baseline" => [result.f_baseline],
        "delta" => [result.delta],
        "steps" => [result.steps as i64],
        "method" => [result.method.name()],
        "baseline" => [result.baseline.name()],
        "latent_derivative" => [result.latent_derivative.map_or("none", |d| d.name())],
        "max_delta" => [result.max_delta],
        "converged" => [result.converged],
    )?)
}
