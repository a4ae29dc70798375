//! Attribution results as Polars tables.

use polars::prelude::*;

use super::methods::{Explanation, MethodCheck};
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
    long_frame(
        &result.protein,
        &result.tokens,
        result.residue_start,
        result.prefix_tokens,
        &result.embedding,
        &result.latent,
        (result.num_layers, result.num_heads),
    )
}

/// [`relevance_frame`] of any method's [`Explanation`] (the same columns).
pub fn explanation_frame(x: &Explanation) -> Result<DataFrame> {
    long_frame(
        &x.protein,
        &x.tokens,
        x.residue_start,
        x.prefix_tokens,
        &x.embedding,
        &x.latent,
        (x.num_layers, x.num_heads),
    )
}

fn long_frame(
    protein: &str,
    tokens: &[String],
    residue_start: usize,
    prefix_tokens: usize,
    embedding: &[f64],
    latent: &[f64],
    (num_layers, num_heads): (usize, usize),
) -> Result<DataFrame> {
    let t = tokens.len();
    let blocks = 1 + if latent.is_empty() {
        0
    } else {
        num_layers * num_heads
    };
    let mut layer = Vec::with_capacity(blocks * t);
    let mut head = Vec::with_capacity(blocks * t);
    let mut position = Vec::with_capacity(blocks * t);
    let mut residue = Vec::with_capacity(blocks * t);
    let mut relevance = Vec::with_capacity(blocks * t);
    // Prefix tokens (a decoder's conditioning) are not part of the sequence: left out.
    let prefix = residue_start - prefix_tokens..residue_start;
    let mut push_block = |l: i64, h: i64, values: &[f64]| {
        for (p, v) in values.iter().enumerate() {
            if prefix.contains(&p) {
                continue;
            }
            layer.push(l);
            head.push(h);
            position.push(p as i64 - residue_start as i64 + 1);
            residue.push(tokens[p].as_str());
            relevance.push(*v);
        }
    };
    push_block(-1, -1, embedding);
    if !latent.is_empty() {
        for l in 0..num_layers {
            for h in 0..num_heads {
                let start = (l * num_heads + h) * t;
                push_block(l as i64, h as i64, &latent[start..start + t]);
            }
        }
    }
    let rows = layer.len();
    Ok(df!(
        "protein" => vec![protein; rows],
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

/// Columns of the per-protein summary of a method other than IG's runner: protein, output,
/// target, attribution (the method), f_input (the target logit), relevance_sum (Σ relevance at
/// the embedding level), and each method's own check: delta and steps (IG: Σ relevance −
/// (F(x) − F(x'))), conservation_gap (AttnLRP: relevance_sum − f_input), samples, sigma,
/// noise_level, seed (SmoothGrad); null where the method has no such check.
pub fn empty_explanation_summary_frame() -> DataFrame {
    explanation_summary_frame(&[]).expect("static schema")
}

/// One row per explanation (see [`empty_explanation_summary_frame`]).
pub fn explanation_summary_frame(xs: &[Explanation]) -> Result<DataFrame> {
    let mut delta = Vec::new();
    let mut steps = Vec::new();
    let mut gap = Vec::new();
    let mut samples = Vec::new();
    let mut sigma = Vec::new();
    let mut level = Vec::new();
    let mut seed = Vec::new();
    for x in xs {
        let (d, st) = match x.check {
            MethodCheck::Completeness { delta, steps } => (Some(delta), Some(steps as i64)),
            _ => (None, None),
        };
        delta.push(d);
        steps.push(st);
        gap.push(match x.check {
            MethodCheck::Conservation {
                relevance_sum,
                logit,
            } => Some(relevance_sum - logit),
            _ => None,
        });
        let noise = match x.check {
            MethodCheck::Noise {
                samples,
                sigma,
                noise_level,
                seed,
            } => Some((samples as i64, sigma, noise_level, seed as i64)),
            _ => None,
        };
        samples.push(noise.map(|n| n.0));
        sigma.push(noise.map(|n| n.1));
        level.push(noise.map(|n| n.2));
        seed.push(noise.map(|n| n.3));
    }
    Ok(df!(
        "protein" => xs.iter().map(|x| x.protein.as_str()).collect::<Vec<_>>(),
        "output" => xs.iter().map(|x| x.output.as_str()).collect::<Vec<_>>(),
        "target" => xs.iter().map(|x| x.target as i64).collect::<Vec<_>>(),
        "attribution" => xs.iter().map(|x| x.method.name()).collect::<Vec<_>>(),
        "f_input" => xs.iter().map(|x| x.f_input).collect::<Vec<_>>(),
        "relevance_sum" => xs.iter().map(|x| x.relevance_sum()).collect::<Vec<_>>(),
        "delta" => delta,
        "steps" => steps,
        "conservation_gap" => gap,
        "samples" => samples,
        "sigma" => sigma,
        "noise_level" => level,
        "seed" => seed,
    )?)
}
