//! Writes every figure kind as SVG and PNG (plus its data CSV; captions to stdout) from
//! realistic synthetic inputs:
//! `cargo run --example plot_gallery -- OUT_DIR`.

use protscope::plot::*;
use std::path::{Path, PathBuf};

/// Deterministic pseudo-random numbers in [0, 1) (a 64-bit LCG): the gallery is the same on
/// every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write(fig: &Figure, dir: &Path) -> protscope::Result<()> {
    fig.save(&dir.join(format!("{}.svg", fig.name())))?;
    fig.save(&dir.join(format!("{}.png", fig.name())))?;
    std::fs::write(dir.join(format!("{}.csv", fig.name())), fig.data_csv())
        .map_err(|e| protscope::Error::io(dir, e))?;
    println!("{}: {}", fig.name(), fig.caption());
    Ok(())
}

/// A grid where a few mid-depth heads specialise on the property.
fn grid(layers: usize, heads: usize, rng: &mut Lcg, masked_every: usize) -> HeadGrid {
    let mut values = Vec::with_capacity(layers * heads);
    for l in 0..layers {
        for h in 0..heads {
            let depth = l as f64 / layers as f64;
            let bump = (-((depth - 0.6) / 0.2).powi(2)).exp();
            let special = if (l * 7 + h * 3) % 11 == 0 { 0.35 } else { 0.0 };
            let v = (0.08 + 0.25 * bump * rng.next() + special * bump).min(1.0);
            let masked = masked_every > 0 && (l * heads + h) % masked_every == 3;
            values.push((!masked).then_some(v));
        }
    }
    HeadGrid {
        num_layers: layers,
        num_heads: heads,
        values,
        statistic: "attention to CDR3".into(),
        unit: "proportion".into(),
        mask_label: "excluded: < 100 edges".into(),
        value_range: None,
    }
}

fn main() -> protscope::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/plot_gallery".into()),
    );
    std::fs::create_dir_all(&dir).map_err(|e| protscope::Error::io(&dir, e))?;
    let mut rng = Lcg(42);

    write(
        &head_heatmap(
            "heads_antiberty_cdr3",
            "AntiBERTy: attention to CDR3 per head",
            &grid(8, 8, &mut rng, 13),
        )?,
        &dir,
    )?;
    write(
        &head_heatmap(
            "heads_esm2_binding",
            "ESM-2 650M: attention to binding sites per head",
            &grid(33, 20, &mut rng, 0).with_statistic("attention to binding sites", "proportion"),
        )?,
        &dir,
    )?;
    // A signed statistic (mean correlation of relevance with annotation, ProtBert 30 × 16),
    // non-significant heads masked: the diverging map, white at zero.
    let mut signed = grid(30, 16, &mut rng, 0);
    for (i, v) in signed.values.iter_mut().enumerate() {
        *v = v.map(|x| x - 0.16 + 0.04 * ((i % 7) as f64 - 3.0) / 3.0);
        if v.is_some_and(|x| x.abs() < 0.03) {
            *v = None;
        }
    }
    write(
        &head_heatmap(
            "relevance_protbert_mean_r",
            "ProtBert: mean correlation of head relevance with binding sites",
            &signed
                .with_statistic("mean r", "Pearson")
                .with_mask_label("not significant (FDR ≥ 0.05)"),
        )?,
        &dir,
    )?;

    // Single-column versions (3.5 in wide): the layout must hold at paper size.
    write(
        &head_heatmap(
            "heads_antiberty_cdr3_single_column",
            "AntiBERTy: attention to CDR3",
            &grid(8, 8, &mut rng, 13),
        )?
        .with_size_inches(3.5, 2.9),
        &dir,
    )?;
    let top = TopHeads {
        property: "CDR3".into(),
        heads: (0..10)
            .map(|i| TopHead {
                layer: [5, 5, 4, 6, 5, 3, 6, 4, 7, 2][i],
                head: [3, 1, 5, 0, 6, 2, 4, 7, 1, 0][i],
                proportion: 0.62 - 0.045 * i as f64 - 0.01 * rng.next(),
                n_edges: 150.0 + 900.0 * rng.next(),
            })
            .collect(),
        background: Some(0.11),
    };
    write(
        &top_heads(
            "top_heads_cdr3",
            "AntiBERTy: heads most focused on CDR3",
            &top,
        )?,
        &dir,
    )?;
    write(
        &top_heads("top_heads_cdr3_single_column", "Top CDR3 heads", &top)?
            .with_size_inches(3.5, 2.6),
        &dir,
    )?;

    let properties = ["CDR1", "CDR2", "CDR3", "framework", "binding site"];
    let series = properties
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let centre = 2.0 + 1.2 * k as f64;
            let raw: Vec<f64> = (0..8)
                .map(|l| (-((l as f64 - centre) / 1.8).powi(2)).exp() + 0.05 * rng.next())
                .collect();
            let total: f64 = raw.iter().sum();
            LayerSeries {
                property: p.to_string(),
                values: raw.iter().map(|v| Some(v / total)).collect(),
            }
        })
        .collect();
    write(
        &layer_profile(
            "layer_profile",
            "Where in depth each property's attention sits",
            &LayerProfile {
                statistic: "share of property attention".into(),
                series,
            },
        )?,
        &dir,
    )?;

    // Residue flipping: faithful methods drop the logit faster than a random order.
    let curve = |name: &str, slope: f64, rng: &mut Lcg| FlipCurve {
        name: name.into(),
        points: (1..=7)
            .map(|i| {
                let mean = slope * (1.0 - (-(i as f64) / 3.0).exp()) + 0.02 * rng.next();
                (mean, mean - 0.05, mean + 0.05, 40)
            })
            .collect(),
        aopc: slope * 0.5,
    };
    write(
        &flip_curves(
            "flip_curves",
            "Residue flipping, most relevant first",
            &FlipCurves {
                steps: ["1", "2", "4", "8", "16", "32", "64"]
                    .map(String::from)
                    .to_vec(),
                methods: vec![
                    curve("ig", 1.2, &mut rng),
                    curve("attnlrp", 1.0, &mut rng),
                    curve("grad-input", 0.7, &mut rng),
                    curve("rollout", 0.3, &mut rng),
                ],
                random: curve("random", 0.15, &mut rng),
            },
        )?,
        &dir,
    )?;
    // Cascading randomisation: gradient maps decorrelate, a map that ignores the weights not.
    let decay = |name: &str, rate: f64, rng: &mut Lcg| FlipCurve {
        name: name.into(),
        points: (0..8)
            .map(|s| {
                let mean = if s == 0 {
                    1.0
                } else {
                    (-(s as f64) * rate).exp() * 0.9
                };
                let mean = mean + 0.02 * rng.next();
                (mean, mean - 0.08, mean + 0.08, 40)
            })
            .collect(),
        aopc: f64::NAN,
    };
    write(
        &randomisation_curves(
            "randomisation",
            "Cascading randomisation",
            &RandomisationCurves {
                steps: ["none", "head", "6", "5", "4", "3", "2", "1"]
                    .map(String::from)
                    .to_vec(),
                methods: vec![
                    decay("ig", 0.6, &mut rng),
                    decay("attnlrp", 0.5, &mut rng),
                    decay("saliency", 0.1, &mut rng),
                ],
            },
        )?,
        &dir,
    )?;

    // Probing: scores that rise and saturate at different depths (contacts from layer 1).
    let probe_series = vec![
        ProbeSeries {
            label: "ss3 accuracy".into(),
            first_layer: 0,
            values: (0..9)
                .map(|l| Some(0.55 + 0.2 * (1.0 - (-(l as f64) / 2.0).exp()) + 0.01 * rng.next()))
                .collect(),
        },
        ProbeSeries {
            label: "sites precision at l20".into(),
            first_layer: 0,
            values: (0..9)
                .map(|l| Some(0.1 + 0.04 * l as f64 + 0.02 * rng.next()))
                .collect(),
        },
        ProbeSeries {
            label: "contacts precision at l5".into(),
            first_layer: 1,
            values: (1..9)
                .map(|l| Some(0.1 + 0.25 * (-((l as f64 - 5.0) / 2.0).powi(2)).exp()))
                .collect(),
        },
    ];
    write(
        &probing_plot(
            "probing",
            "Probing per layer (test split)",
            &ProbingPlot {
                series: probe_series,
            },
        )?,
        &dir,
    )?;

    // BLOSUM62-like scores with an attention correlation that partly follows them.
    let letters: Vec<char> = "ACDEFGHIKLMNPQRSTVWY".chars().collect();
    let mut pairs = Vec::new();
    for i in 0..20 {
        for j in i + 1..20 {
            let b = ((i * 7 + j * 13) % 8) as f64 - 4.0;
            let r = if (i, j) == (4, 18) {
                f64::NAN
            } else {
                0.08 * b + 0.25 * (rng.next() - 0.5)
            };
            pairs.push(AaPair {
                aa1: letters[i],
                aa2: letters[j],
                r,
                blosum62: b,
            });
        }
    }
    write(
        &aa_blosum(
            "aa_blosum",
            "Attention between amino acids vs BLOSUM62",
            &AaBlosum {
                pairs,
                heads_used: Some(61),
            },
        )?,
        &dir,
    )?;

    // A 121-residue antibody heavy-chain variable domain with its CDRs.
    let sequence = "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAKDRGYSSGWYFDYWGQGTLVTVSS";
    let n = sequence.len();
    let cdrs = [
        (26usize, 33usize, "CDR-H1"),
        (51, 58, "CDR-H2"),
        (97, 109, "CDR-H3"),
    ];
    let relevance: Vec<f64> = (1..=n)
        .map(|p| {
            let in_cdr = cdrs.iter().any(|&(s, e, _)| s <= p && p <= e);
            let base = 0.02 * (rng.next() - 0.5);
            if in_cdr {
                base + 0.06 * rng.next()
            } else {
                base - 0.01 * rng.next()
            }
        })
        .collect();
    let attention: Vec<f64> = (0..n)
        .map(|i| rng.next() * if i % 17 == 0 { 3.0 } else { 1.0 })
        .collect();
    let track = ResidueTrack {
        protein: "VH-demo".into(),
        sequence: sequence.into(),
        relevance,
        attention_received: Some(attention),
        lanes: vec![
            AnnotationLane {
                name: "Region".into(),
                spans: cdrs
                    .iter()
                    .map(|&(s, e, l)| Span {
                        start: s,
                        end: e,
                        label: l.into(),
                    })
                    .collect(),
                sites: vec![],
            },
            AnnotationLane {
                name: "Disulfide bond".into(),
                spans: vec![],
                sites: vec![22, 96],
            },
            AnnotationLane {
                name: "Binding site".into(),
                spans: vec![Span {
                    start: 100,
                    end: 104,
                    label: "antigen".into(),
                }],
                sites: vec![31, 33, 52],
            },
        ],
        relevance_label: "Relevance (L6 H4)".into(),
    };
    write(
        &residue_track(
            "residue_track",
            "VH-demo: relevance and annotations",
            &track,
        )?,
        &dir,
    )?;
    // The first 60 residues: few enough for the residue letters.
    let first = 60;
    let short = ResidueTrack {
        protein: "VH-demo".into(),
        sequence: sequence[..first].into(),
        relevance: track.relevance[..first].to_vec(),
        attention_received: None,
        lanes: vec![AnnotationLane {
            name: "Region".into(),
            spans: vec![
                Span {
                    start: 26,
                    end: 33,
                    label: "CDR-H1".into(),
                },
                Span {
                    start: 51,
                    end: 58,
                    label: "CDR-H2".into(),
                },
            ],
            sites: vec![],
        }],
        relevance_label: "Relevance (L6 H4)".into(),
    };
    write(
        &residue_track("residue_track_letters", "VH-demo, residues 1–60", &short)?,
        &dir,
    )?;

    // Attention maps: a short peptide (letters) and the full domain (positions) with contacts.
    for (name, t) in [("attention_map_short", 24usize), ("attention_map_vh", n)] {
        let residues: String = sequence.chars().take(t).collect();
        let mut weights = vec![0f32; t * t];
        for from in 0..t {
            let mut row: Vec<f32> = (0..t)
                .map(|to| {
                    let d = (to as f32 - from as f32 - 1.0).abs();
                    (-d / 2.0).exp() + 0.05 * rng.next() as f32
                })
                .collect();
            let total: f32 = row.iter().sum();
            row.iter_mut().for_each(|w| *w /= total);
            weights[from * t..(from + 1) * t].copy_from_slice(&row);
        }
        // Contacts: sequence neighbours and the two strands of a hairpin.
        let contacts = (0..t * t)
            .map(|i| {
                let (a, b) = (i / t, i % t);
                a.abs_diff(b) == 3
                    || (a + b == t / 2 * 2 && a.abs_diff(b) > 4 && a.abs_diff(b) < 20)
            })
            .collect();
        write(
            &attention_map(
                name,
                &format!("Layer 6, head 4 attention ({t} residues)"),
                &AttentionMap::new(5, 3, &residues, weights)
                    .with_contacts(contacts, "contact (Cβ–Cβ < 8 Å)"),
            )?,
            &dir,
        )?;
    }

    // Predicted against true contacts: a hairpin's two strands and sequence neighbours, with
    // probabilities falling off with distance from the true pattern.
    {
        let n: usize = 60;
        let contact = |a: usize, b: usize| {
            a.abs_diff(b) < 4 || (a + b == 58 && a.abs_diff(b) > 4 && a.abs_diff(b) < 40)
        };
        let predicted = (0..n * n)
            .map(|k| {
                let (a, b) = (k / n, k % n);
                let off = (a + b).abs_diff(58_usize) as f32;
                0.9 / (1.0 + off) + 0.3 / (1.0 + a.abs_diff(b) as f32)
            })
            .collect();
        let targets = (0..n * n)
            .map(|k| {
                let (a, b) = (k / n, k % n);
                if a == 12 || b == 12 {
                    -1
                } else {
                    i8::from(contact(a, b))
                }
            })
            .collect();
        write(
            &contact_map_plot(
                "contact_map",
                "Contacts: predicted (above) and true (below)",
                &ContactMapPlot::new("hairpin", n, predicted, targets),
            )?,
            &dir,
        )?;
    }

    write(
        &significance_bars(
            "significance",
            "Is relevance higher on annotated residues?",
            &SignificanceBars::new(
                vec![
                    SignificanceBar {
                        label: "CDR-H3".into(),
                        p: 2e-9,
                        n: 48,
                    },
                    SignificanceBar {
                        label: "CDR-H1".into(),
                        p: 0.0004,
                        n: 48,
                    },
                    SignificanceBar {
                        label: "CDR-H2".into(),
                        p: 0.03,
                        n: 48,
                    },
                    SignificanceBar {
                        label: "Binding site".into(),
                        p: 0.21,
                        n: 31,
                    },
                    SignificanceBar {
                        label: "Disulfide bond".into(),
                        p: 0.64,
                        n: 48,
                    },
                    SignificanceBar {
                        label: "Glycosylation site".into(),
                        p: f64::NAN,
                        n: 2,
                    },
                ],
                "p (t-test, FDR)",
            ),
        )?,
        &dir,
    )?;
    Ok(())
}
