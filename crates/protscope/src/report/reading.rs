//! Plain-language readings of results, written from the numbers (never canned): what the
//! strongest head does against the background, where in depth a property sits, how strongly
//! attention mirrors BLOSUM62, how many heads' relevance tracks an annotation.

use crate::report::table::format_float;

/// A number for a sentence: two significant digits (5.486 → "5.5", 0.001086 → "0.0011",
/// 37.46 → "37"), scientific below 0.001 (3.2e-5). Tables keep four digits ([`format_float`]).
pub fn rounded(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format_float(v);
    }
    let a = v.abs();
    if a < 1e-3 {
        return format!("{v:.1e}");
    }
    if a >= 10.0 {
        return format!("{}", v.round());
    }
    let decimals = (1 - a.log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// 1-based `layer-head` label of 0-based indices.
pub fn head_label(layer: i64, head: i64) -> String {
    format!("{}-{}", layer + 1, head + 1)
}

fn percent(x: f64) -> String {
    format!("{}%", rounded(100.0 * x))
}

/// One head's share of attention on a property against the property's background rate.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadFinding {
    pub layer: i64,
    pub head: i64,
    pub proportion: f64,
    pub background: f64,
    pub n_edges: f64,
}

/// Reading of a property's head statistics: the strongest head, how many heads exceed twice
/// the background, and the depth (centre of gravity, 1-based layer) of the property.
pub fn attention_reading(
    property: &str,
    best: Option<&HeadFinding>,
    heads_above_twice_background: usize,
    heads_included: usize,
    centre_of_gravity: Option<f64>,
) -> String {
    let Some(best) = best else {
        return format!(
            "No head had enough attention edges to judge attention to {property} (all heads \
             excluded)."
        );
    };
    let enrichment = if best.background > 0.0 {
        format!(
            ", {}× the background",
            rounded(best.proportion / best.background)
        )
    } else {
        String::new()
    };
    let mut text = format!(
        "Head {} (layer {}, head {}) attends most to {property}: {} of its {} high-attention \
         edges land on {property} residues, against a background of {} of residues{enrichment}.",
        head_label(best.layer, best.head),
        best.layer + 1,
        best.head + 1,
        percent(best.proportion),
        best.n_edges.round(),
        percent(best.background),
    );
    text.push_str(&format!(
        " {heads_above_twice_background} of {heads_included} heads with enough edges exceed \
         twice the background."
    ));
    if let Some(c) = centre_of_gravity {
        text.push_str(&format!(
            " Attention to {property} is centred on layer {} (centre of gravity).",
            rounded(c)
        ));
    }
    text
}

/// Reading of the amino-acid analysis (Vig et al. §4.3).
pub fn blosum_reading(blosum_r: f64, pairs: usize, heads_used: usize) -> String {
    if !blosum_r.is_finite() {
        return "The correlation with BLOSUM62 is undefined (too few heads or amino acids).".into();
    }
    let strength = match blosum_r.abs() {
        a if a >= 0.5 => "strongly reflects",
        a if a >= 0.3 => "moderately reflects",
        a if a >= 0.1 => "weakly reflects",
        _ => "does not reflect",
    };
    let direction = if blosum_r.abs() < 0.1 {
        ""
    } else if blosum_r > 0.0 {
        " (pairs that BLOSUM62 scores as similar also draw similar attention)"
    } else {
        " (attention similarity runs against BLOSUM62)"
    };
    format!(
        "Across {heads_used} heads, how similarly two amino acids are attended to correlates \
         with their BLOSUM62 score at r = {} over {pairs} pairs: attention {strength} \
         substitution similarity{direction}.",
        rounded(blosum_r)
    )
}

/// Reading of per-head relevance statistics against one annotation.
#[allow(clippy::too_many_arguments)]
pub fn relevance_reading(
    annotation: &str,
    significant_heads: usize,
    tested_heads: usize,
    strongest: Option<(i64, i64, f64, f64)>,
    embedding: Option<(f64, f64, usize)>,
    alpha: f64,
) -> String {
    let mut text = String::new();
    if let Some((mean_r, p, n)) = embedding {
        let verdict = if p < alpha {
            "significantly positive"
        } else {
            "not significantly positive"
        };
        text.push_str(&format!(
            "At the embedding level, relevance correlates with {annotation} at mean r = {} over \
             {n} proteins ({verdict}, one-sided t-test p = {}).",
            rounded(mean_r),
            rounded(p)
        ));
    }
    text.push_str(&format!(
        " Inside the model, {significant_heads} of {tested_heads} heads have relevance that \
         tracks {annotation} (t-test on r and Wilcoxon on total relevance, both below {} after \
         Benjamini–Hochberg).",
        rounded(alpha)
    ));
    if let Some((layer, head, mean_r, q)) = strongest {
        text.push_str(&format!(
            " The strongest is head {} (mean r = {}, FDR-adjusted p = {}).",
            head_label(layer, head),
            rounded(mean_r),
            rounded(q)
        ));
    }
    text.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_round_to_two_significant_digits() {
        assert_eq!(rounded(5.486), "5.5");
        assert_eq!(rounded(0.001086), "0.0011");
        assert_eq!(rounded(37.46), "37");
        assert_eq!(rounded(3.2e-5), "3.2e-5");
        assert_eq!(rounded(0.05), "0.05");
        assert_eq!(rounded(-0.25), "-0.25");
        assert_eq!(rounded(1.0), "1");
    }

    #[test]
    fn attention_reading_uses_the_numbers() {
        let best = HeadFinding {
            layer: 2,
            head: 4,
            proportion: 0.62,
            background: 0.14,
            n_edges: 812.0,
        };
        let text = attention_reading("CDR3", Some(&best), 5, 64, Some(6.25));
        assert!(text.contains("Head 3-5"), "{text}");
        assert!(text.contains("62%"), "{text}");
        assert!(text.contains("14%"), "{text}");
        assert!(text.contains("4.4×"), "{text}");
        assert!(text.contains("5 of 64"), "{text}");
        assert!(text.contains("layer 6.2"), "{text}");
        assert!(attention_reading("CDR3", None, 0, 0, None).contains("excluded"));
    }

    #[test]
    fn blosum_reading_grades_the_correlation() {
        assert!(blosum_reading(0.62, 190, 60).contains("strongly"));
        assert!(blosum_reading(0.2, 190, 60).contains("weakly"));
        assert!(blosum_reading(f64::NAN, 0, 0).contains("undefined"));
    }

    #[test]
    fn relevance_reading_says_significance() {
        let text = relevance_reading(
            "CDRs",
            12,
            64,
            Some((3, 1, 0.31, 1e-5)),
            Some((0.2, 0.001, 80)),
            0.05,
        );
        assert!(text.contains("significantly positive"), "{text}");
        assert!(text.contains("12 of 64"), "{text}");
        assert!(text.contains("head 4-2"), "{text}");
    }
}

/// What one compared model shows: its strongest CDR3 head, how many heads exceed twice the
/// background, where in depth CDR3 attention sits, and its residue scores per region
/// (`(region, mean log-probability, accuracy)`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFinding {
    pub model: String,
    pub best: Option<HeadFinding>,
    pub heads_above: usize,
    pub heads_included: usize,
    /// 1-based layer.
    pub centre_of_gravity: Option<f64>,
    pub num_layers: usize,
    pub regions: Vec<(String, f64, f64)>,
}

impl ModelFinding {
    fn region(&self, name: &str) -> Option<(f64, f64)> {
        self.regions
            .iter()
            .find(|r| r.0 == name)
            .map(|r| (r.1, r.2))
    }
}

/// "a, b and c".
fn joined(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Where the compared models agree and differ, from their CDR3 heads and region scores.
pub fn comparison_reading(models: &[ModelFinding]) -> String {
    let mut text = Vec::new();
    let with_heads: Vec<&ModelFinding> = models.iter().filter(|m| m.best.is_some()).collect();
    if !with_heads.is_empty() {
        let heads: Vec<String> = with_heads
            .iter()
            .map(|m| {
                let b = m.best.as_ref().expect("filtered");
                format!(
                    "{} {} ({} of its edges on CDR3, {:.1}× the background {})",
                    m.model,
                    head_label(b.layer, b.head),
                    percent(b.proportion),
                    b.proportion / b.background,
                    percent(b.background)
                )
            })
            .collect();
        text.push(format!(
            "The head that attends most to CDR3 in each model: {}.",
            joined(&heads)
        ));
        let tracking: Vec<String> = with_heads
            .iter()
            .filter(|m| m.heads_above > 0)
            .map(|m| {
                format!(
                    "{} ({} of {} heads)",
                    m.model, m.heads_above, m.heads_included
                )
            })
            .collect();
        let none: Vec<String> = with_heads
            .iter()
            .filter(|m| m.heads_above == 0)
            .map(|m| m.model.clone())
            .collect();
        text.push(if none.is_empty() {
            format!(
                "They agree that CDR3 has its own heads: every model has heads that put more \
                 than twice CDR3's background share of their edges on it — {}.",
                joined(&tracking)
            )
        } else if tracking.is_empty() {
            "No model has a head that puts more than twice CDR3's background share of its \
             edges on it."
                .to_string()
        } else {
            format!(
                "They differ on CDR3 heads: {} have heads above twice the background, {} none.",
                joined(&tracking),
                joined(&none)
            )
        });
        let depth: Vec<String> = with_heads
            .iter()
            .filter_map(|m| {
                let c = m.centre_of_gravity?;
                let relative = if m.num_layers > 1 {
                    (c - 1.0) / (m.num_layers - 1) as f64
                } else {
                    0.5
                };
                let word = if relative < 1.0 / 3.0 {
                    "early"
                } else if relative < 2.0 / 3.0 {
                    "middle"
                } else {
                    "late"
                };
                Some(format!(
                    "{} in its {word} layers (centre {} of {})",
                    m.model,
                    rounded(c),
                    m.num_layers
                ))
            })
            .collect();
        if !depth.is_empty() {
            text.push(format!("CDR3 attention sits {}.", joined(&depth)));
        }
    }
    let scored: Vec<(&ModelFinding, f64, f64)> = models
        .iter()
        .filter_map(|m| Some((m, m.region("CDR3")?.0, m.region("framework")?.0)))
        .collect();
    if !scored.is_empty() {
        let values: Vec<String> = scored
            .iter()
            .map(|(m, cdr3, fw)| format!("{} {} vs {}", m.model, rounded(*cdr3), rounded(*fw)))
            .collect();
        let surprised = scored.iter().filter(|(_, cdr3, fw)| cdr3 < fw).count();
        let verdict = if surprised == scored.len() {
            "All models find CDR3 more surprising than the framework".to_string()
        } else if surprised == 0 {
            "No model finds CDR3 more surprising than the framework".to_string()
        } else {
            let which: Vec<String> = scored
                .iter()
                .filter(|(_, cdr3, fw)| cdr3 < fw)
                .map(|(m, ..)| m.model.clone())
                .collect();
            format!(
                "The models differ: only {} find CDR3 more surprising than the framework",
                joined(&which)
            )
        };
        text.push(format!(
            "{verdict} (mean log-probability per residue, CDR3 vs framework: {}).",
            values.join("; ")
        ));
        let accuracy: Vec<String> = models
            .iter()
            .filter_map(|m| {
                let (_, all) = m.region("all")?;
                let (_, cdr3) = m.region("CDR3")?;
                Some(format!(
                    "{} {} overall, {} in CDR3",
                    m.model,
                    percent(all),
                    percent(cdr3)
                ))
            })
            .collect();
        if !accuracy.is_empty() {
            text.push(format!(
                "Residues that are the model's most probable amino acid: {}.",
                accuracy.join("; ")
            ));
        }
    }
    text.join(" ")
}

#[cfg(test)]
mod comparison_tests {
    use super::*;

    fn finding(
        model: &str,
        proportion: f64,
        above: usize,
        cdr3: f64,
        framework: f64,
    ) -> ModelFinding {
        ModelFinding {
            model: model.into(),
            best: Some(HeadFinding {
                layer: 1,
                head: 0,
                proportion,
                background: 0.1,
                n_edges: 500.0,
            }),
            heads_above: above,
            heads_included: 8,
            centre_of_gravity: Some(4.0),
            num_layers: 4,
            regions: vec![
                ("CDR3".into(), cdr3, 0.5),
                ("framework".into(), framework, 0.9),
                ("all".into(), (cdr3 + framework) / 2.0, 0.8),
            ],
        }
    }

    #[test]
    fn comparison_reading_says_where_models_agree_and_differ() {
        let agree = comparison_reading(&[
            finding("a", 0.5, 3, -2.0, -1.0),
            finding("b", 0.3, 1, -2.5, -1.2),
        ]);
        assert!(agree.contains("a 2-1 (50% of its edges on CDR3, 5.0× the background 10%)"));
        assert!(agree.contains("every model has heads"));
        assert!(agree.contains("All models find CDR3 more surprising"));
        assert!(agree.contains("a in its late layers (centre 4 of 4)"));
        let differ = comparison_reading(&[
            finding("a", 0.5, 3, -2.0, -1.0),
            finding("b", 0.15, 0, -0.5, -1.2),
        ]);
        assert!(differ.contains("a (3 of 8 heads) have heads above twice the background, b none"));
        assert!(differ.contains("only a find CDR3 more surprising"));
        assert!(differ.contains("b 80% overall, 50% in CDR3"));
    }
}

/// One attribution method's faithfulness and sanity, as [`methods_reading`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodFinding {
    /// The method's table name (`ig`, `attnlrp`, …).
    pub method: String,
    /// Mean AOPC, most relevant residues first.
    pub aopc: f64,
    /// Mean Spearman ρ with the original map once the head is randomised, on average over the
    /// steps that randomise layers, and once the head and every layer are (None without a
    /// randomisation check).
    pub rho_head: Option<f64>,
    pub rho_layers: Option<f64>,
    pub rho_all: Option<f64>,
}

fn method_title(name: &str) -> String {
    crate::attribution::AttributionMethod::parse(name)
        .map(|m| m.title().to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Which method is most faithful (highest AOPC) and by how much against the next and against
/// random residues (`random_aopc`), which do no better than random, and what the cascading
/// randomisation says: maps that stay alike while the layers are shuffled explain the input
/// rather than what the model learned.
pub fn methods_reading(methods: &[MethodFinding], random_aopc: f64) -> String {
    let mut ranked: Vec<&MethodFinding> = methods.iter().filter(|m| m.aopc.is_finite()).collect();
    ranked.sort_by(|a, b| b.aopc.total_cmp(&a.aopc));
    let Some(best) = ranked.first() else {
        return String::new();
    };
    let mut text = if best.aopc <= random_aopc {
        format!(
            "No method beats random residues on this model: the best, {}, has AOPC {} against {} \
             for random residues.",
            method_title(&best.method),
            rounded(best.aopc),
            rounded(random_aopc)
        )
    } else {
        let gain = best.aopc - random_aopc;
        let mut t = format!(
            "Most faithful on this model: {} (AOPC {}, {} above random residues' {}).",
            method_title(&best.method),
            rounded(best.aopc),
            rounded(gain),
            rounded(random_aopc)
        );
        if let Some(next) = ranked.get(1) {
            let next_gain = next.aopc - random_aopc;
            if next_gain > 0.0 && gain / next_gain < 1.25 {
                // Within a quarter: a ratio like "1×" would hide that they are close.
                t.push_str(&format!(
                    " Next, close behind, is {} (AOPC {}): its gain over random is {} % smaller.",
                    method_title(&next.method),
                    rounded(next.aopc),
                    ((1.0 - next_gain / gain) * 100.0).round()
                ));
            } else if next_gain > 0.0 {
                t.push_str(&format!(
                    " Next is {} (AOPC {}): its gain over random is {}× smaller.",
                    method_title(&next.method),
                    rounded(next.aopc),
                    rounded(gain / next_gain)
                ));
            } else {
                t.push_str(&format!(
                    " Next is {} (AOPC {}), no better than random.",
                    method_title(&next.method),
                    rounded(next.aopc)
                ));
            }
        }
        let worse: Vec<String> = ranked
            .iter()
            .skip(2)
            .filter(|m| m.aopc <= random_aopc)
            .map(|m| format!("{} ({})", method_title(&m.method), rounded(m.aopc)))
            .collect();
        if !worse.is_empty() {
            t.push_str(&format!(" No better than random: {}.", joined(&worse)));
        }
        t
    };
    let checked: Vec<&MethodFinding> = methods
        .iter()
        .filter(|m| m.rho_layers.is_some_and(f64::is_finite))
        .collect();
    if !checked.is_empty() {
        let (kept, lost): (Vec<&MethodFinding>, Vec<&MethodFinding>) = checked
            .iter()
            .partition(|m| m.rho_layers.is_some_and(|r| r.abs() >= 0.5));
        let names = |ms: &[&MethodFinding]| -> String {
            joined(
                &ms.iter()
                    .map(|m| method_title(&m.method))
                    .collect::<Vec<_>>(),
            )
        };
        let values = |ms: &[&MethodFinding]| -> String {
            ms.iter()
                .map(|m| rounded(m.rho_layers.unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(" As the layers are shuffled from the top down, ");
        if !lost.is_empty() {
            text.push_str(&format!(
                "the maps of {} stop ranking residues like the original (mean ρ over the layer \
                 steps {}): they depend on what the model learned",
                names(&lost),
                values(&lost)
            ));
            if !kept.is_empty() {
                text.push_str("; ");
            }
        }
        if !kept.is_empty() {
            let all: Vec<String> = kept
                .iter()
                .map(|m| rounded(m.rho_all.unwrap_or(f64::NAN)))
                .collect();
            text.push_str(&format!(
                "those of {} stay alike (mean ρ {}; {} with every layer shuffled): they follow \
                 the input more than the learned weights",
                names(&kept),
                values(&kept),
                all.join(", ")
            ));
        }
        text.push('.');
        let head_blind: Vec<String> = checked
            .iter()
            .filter(|m| m.rho_head.is_some_and(|r| r > 0.999))
            .map(|m| method_title(&m.method))
            .collect();
        if !head_blind.is_empty() {
            text.push_str(&format!(
                " Shuffling only the classifier head leaves {} unchanged (ρ = 1): {} never \
                 reads the head.",
                joined(&head_blind),
                if head_blind.len() == 1 { "it" } else { "they" }
            ));
        }
    }
    text
}

#[cfg(test)]
mod methods_tests {
    use super::*;

    fn finding(method: &str, aopc: f64, rho: Option<(f64, f64, f64)>) -> MethodFinding {
        MethodFinding {
            method: method.into(),
            aopc,
            rho_head: rho.map(|r| r.0),
            rho_layers: rho.map(|r| r.1),
            rho_all: rho.map(|r| r.2),
        }
    }

    #[test]
    fn methods_reading_ranks_by_aopc_and_reads_the_randomisation() {
        let methods = [
            finding("ig", 1.2, Some((0.4, 0.05, 0.01))),
            finding("attnlrp", 1.6, Some((0.3, 0.1, 0.0))),
            finding("grad-input", 0.2, Some((0.5, 0.02, 0.1))),
            finding("rollout", 0.45, Some((1.0, 0.8, 0.15))),
        ];
        let text = methods_reading(&methods, 0.4);
        assert!(
            text.starts_with("Most faithful on this model: AttnLRP (AOPC 1.6, 1.2 above"),
            "{text}"
        );
        // (1.6 − 0.4) / (1.2 − 0.4) = 1.5.
        assert!(
            text.contains("Next is IG (AOPC 1.2): its gain over random is 1.5× smaller"),
            "{text}"
        );
        assert!(
            text.contains("No better than random: gradient × input (0.2)"),
            "{text}"
        );
        assert!(
            text.contains("those of attention rollout stay alike (mean ρ 0.8; 0.15 with every layer shuffled)"),
            "{text}"
        );
        assert!(
            text.contains("leaves attention rollout unchanged"),
            "{text}"
        );
        // The demo's numbers: IG 3.892, AttnLRP 3.795 against random 1.353 (gains 2.539, 2.442).
        let close = methods_reading(
            &[finding("ig", 3.892, None), finding("attnlrp", 3.795, None)],
            1.353,
        );
        assert!(
            close.contains(
                "Next, close behind, is AttnLRP (AOPC 3.8): its gain over random is 4 % smaller."
            ),
            "{close}"
        );
        let none = methods_reading(&[finding("ig", 0.1, None)], 0.3);
        assert!(none.starts_with("No method beats random"), "{none}");
        assert!(!none.contains("shuffled"), "{none}");
        assert_eq!(methods_reading(&[], 0.3), "");
    }
}
