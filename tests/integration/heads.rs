//! Attention-head statistics against the Python re-implementation of provis' procedure
//! (scripts/make_heads_fixtures.py → tests/fixtures/heads/expected.json), through the library
//! and the `protscope heads` binary.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;
use candle_core::Device;
use polars::prelude::*;
use protscope::attention::attention_maps;
use protscope::attention::heads::{HeadStatistics, ProteinProperty, Weighting, AMINO_ACIDS};
use protscope::frame::read_table;
use protscope::model::ProteinModel;
use serde_json::Value;

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("heads").join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

struct Protein {
    residues: String,
    site: Vec<bool>,
    contact: Vec<bool>,
    known: Vec<bool>,
}

/// Site indicators from sites.jsonl, contact maps from the fixture, cut like the model input.
fn proteins(exp: &Value) -> Vec<(String, Protein)> {
    let sites = protscope::annotation::read_sites(&fixtures().join("heads/sites.jsonl")).unwrap();
    let by_id: HashMap<_, _> = sites.iter().map(|s| (s.id.clone(), s)).collect();
    exp["proteins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap().to_string();
            let residues = p["residues"].as_str().unwrap().to_string();
            let n = residues.len();
            let mut site = vec![false; n];
            for &s in &by_id[&id].sites {
                if s <= n {
                    site[s - 1] = true;
                }
            }
            let mut contact = vec![false; n * n];
            for pair in p["contacts"].as_array().unwrap() {
                let (i, j) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
                contact[i as usize * n + j as usize] = true;
            }
            let unresolved: Vec<usize> = p["unresolved"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let sep = p["min_separation"].as_u64().unwrap() as usize;
            let mut known = vec![false; n * n];
            for i in 0..n {
                for j in 0..n {
                    known[i * n + j] = i.abs_diff(j) >= sep
                        && !unresolved.contains(&i)
                        && !unresolved.contains(&j);
                }
            }
            (
                id,
                Protein {
                    residues,
                    site,
                    contact,
                    known,
                },
            )
        })
        .collect()
}

fn weighting(form: &Value) -> Weighting {
    let theta = form["theta"].as_f64().map(|t| t as f32);
    match form["form"].as_str().unwrap() {
        "threshold" => Weighting::Threshold(theta.unwrap()),
        "weight" => Weighting::Weight,
        "weight_above" => Weighting::WeightAbove(theta.unwrap()),
        other => panic!("unknown form {other}"),
    }
}

/// Runs the library over the fixture proteins for one form: (site + contact stats, aa stats).
fn library_stats(
    model: &ProteinModel,
    exp: &Value,
    w: Weighting,
) -> (HeadStatistics, HeadStatistics) {
    let max_len = exp["max_len"].as_u64().unwrap() as usize;
    let (l, h) = (model.num_layers(), model.num_heads());
    let mut stats = HeadStatistics::new(l, h, w, vec!["site".into(), "contact".into()]).unwrap();
    let mut aa = HeadStatistics::amino_acids(l, h, w).unwrap();
    let sites = protscope::annotation::read_sites(&fixtures().join("heads/sites.jsonl")).unwrap();
    let full: HashMap<_, _> = sites
        .iter()
        .map(|s| (s.id.clone(), s.sequence.clone()))
        .collect();
    let prots = proteins(exp);
    let encoded: Vec<_> = prots
        .iter()
        .map(|(id, _)| model.encode_sequence(id, &full[id], Some(max_len)).unwrap())
        .collect();
    // Batches of three: padding must not change anything.
    for (chunk, pchunk) in encoded.chunks(3).zip(prots.chunks(3)) {
        let refs: Vec<_> = chunk.iter().collect();
        for ((maps, (_, p)), seq) in attention_maps(model, &refs)
            .unwrap()
            .iter()
            .zip(pchunk)
            .zip(chunk)
        {
            assert_eq!(seq.residues.iter().collect::<String>(), p.residues);
            stats
                .add(
                    maps,
                    &[
                        ProteinProperty::Sites(&p.site),
                        ProteinProperty::Contacts {
                            contact: &p.contact,
                            known: &p.known,
                        },
                    ],
                )
                .unwrap();
            aa.add(maps, &[ProteinProperty::AminoAcids(&seq.residues)])
                .unwrap();
        }
    }
    (stats, aa)
}

fn expected_sums(form: &Value, name: &str, lh: usize) -> Vec<f64> {
    form["sums"]
        .get(name)
        .map(floats)
        .unwrap_or_else(|| vec![0.0; lh])
}

#[test]
fn library_matches_provis_procedure_in_every_form() {
    let exp = expected();
    let model = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    let lh = model.num_layers() * model.num_heads();
    let forms = exp["forms"].as_object().unwrap();
    assert_eq!(forms.len(), 7);
    for (key, form) in forms {
        let w = weighting(form);
        let (stats, aa) = library_stats(&model, &exp, w);
        let total = floats(&form["total"]);
        let check = |got: &HeadStatistics, names: &[String]| {
            for row in got.rows(0.0) {
                let i = row.layer * model.num_heads() + row.head;
                let want = expected_sums(form, &row.property, lh)[i];
                let bg = exp["background"][&row.property].as_f64().unwrap();
                assert!(
                    (row.background - bg).abs() < 1e-12,
                    "{key} {} background",
                    row.property
                );
                if matches!(w, Weighting::Threshold(_)) {
                    // Counts: identical integers.
                    assert_eq!(
                        row.n_edges, total[i],
                        "{key} n_edges L{} H{}",
                        row.layer, row.head
                    );
                    assert_eq!(
                        row.n_property_edges, want,
                        "{key} {} L{} H{}",
                        row.property, row.layer, row.head
                    );
                } else {
                    assert!(
                        (row.n_edges - total[i]).abs() <= 1e-6 * total[i].max(1.0),
                        "{key} total"
                    );
                    let p = if total[i] > 0.0 {
                        want / total[i]
                    } else {
                        f64::NAN
                    };
                    if p.is_nan() {
                        assert!(row.proportion.is_nan());
                    } else {
                        assert!(
                            (row.proportion - p).abs() < 1e-6,
                            "{key} {} L{} H{}: {} vs {p}",
                            row.property,
                            row.layer,
                            row.head,
                            row.proportion
                        );
                    }
                }
            }
            assert_eq!(got.properties, names);
        };
        check(&stats, &["site".to_string(), "contact".to_string()]);
        let aa_names: Vec<String> = AMINO_ACIDS.iter().map(|a| format!("aa_to_{a}")).collect();
        check(&aa, &aa_names);
        assert!(
            total.iter().sum::<f64>() > 0.0,
            "{key}: fixture without edges"
        );
    }
}

/// The streaming pass (maps consumed layer by layer, batches of three) adds exactly what adding
/// each protein's kept maps adds, for sites, contacts and amino acids.
#[test]
fn streamed_layers_add_what_kept_maps_add() {
    use protscope::attention::analysis::{
        accumulate_head_statistics, ContactMap, HeadInput, PropertyValues,
    };
    let exp = expected();
    let model = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    let max_len = exp["max_len"].as_u64().unwrap() as usize;
    let (l, h) = (model.num_layers(), model.num_heads());
    let w = Weighting::WeightAbove(0.05);
    let (kept, kept_aa) = library_stats(&model, &exp, w);
    let sites = protscope::annotation::read_sites(&fixtures().join("heads/sites.jsonl")).unwrap();
    let full: HashMap<_, _> = sites
        .iter()
        .map(|s| (s.id.clone(), s.sequence.clone()))
        .collect();
    let prots = proteins(&exp);
    let inputs = |values: &dyn Fn(&Protein) -> PropertyValues| -> Vec<_> {
        prots
            .iter()
            .map(|(id, p)| {
                Ok(HeadInput {
                    sequence: model.encode_sequence(id, &full[id], Some(max_len)).unwrap(),
                    values: values(p),
                })
            })
            .collect()
    };
    let mut streamed_sites = HeadStatistics::new(l, h, w, vec!["site".into()]).unwrap();
    let mut streamed_contacts = HeadStatistics::new(l, h, w, vec!["contact".into()]).unwrap();
    let mut streamed_aa = HeadStatistics::amino_acids(l, h, w).unwrap();
    let sites_in = inputs(&|p| PropertyValues::Sites(vec![p.site.clone()]));
    accumulate_head_statistics(&model, &mut streamed_sites, sites_in, 3, |_| {}).unwrap();
    let contacts_in = inputs(&|p| {
        PropertyValues::Contacts(ContactMap {
            len: p.residues.len(),
            contact: p.contact.clone(),
            known: p.known.clone(),
        })
    });
    accumulate_head_statistics(&model, &mut streamed_contacts, contacts_in, 3, |_| {}).unwrap();
    accumulate_head_statistics(
        &model,
        &mut streamed_aa,
        inputs(&|_| PropertyValues::AminoAcids),
        3,
        |_| {},
    )
    .unwrap();
    let rows = |s: &HeadStatistics, property: &str| -> Vec<(f64, f64, f64)> {
        s.rows(0.0)
            .into_iter()
            .filter(|r| r.property == property)
            .map(|r| (r.n_edges, r.n_property_edges, r.background))
            .collect()
    };
    for (streamed, property) in [(&streamed_sites, "site"), (&streamed_contacts, "contact")] {
        let (a, b) = (rows(streamed, property), rows(&kept, property));
        assert_eq!(a.len(), l * h);
        for (x, y) in a.iter().zip(&b) {
            assert!((x.0 - y.0).abs() <= 1e-9 * y.0.max(1.0), "{property} edges");
            assert!((x.1 - y.1).abs() <= 1e-9 * y.1.max(1.0), "{property} hits");
            assert_eq!(x.2, y.2, "{property} background");
        }
    }
    for a in AMINO_ACIDS {
        let name = format!("aa_to_{a}");
        assert_eq!(rows(&streamed_aa, &name), rows(&kept_aa, &name), "{name}");
    }
}

#[test]
fn amino_acid_analysis_matches_scipy() {
    let exp = expected();
    let model = ProteinModel::load(&model_fixture("bert_cls"), &Device::Cpu).unwrap();
    let analysis = &exp["aa_analysis"];
    let theta = analysis["theta"].as_f64().unwrap() as f32;
    let (_, aa) = library_stats(&model, &exp, Weighting::Threshold(theta));
    let min_total = exp["min_total"].as_f64().unwrap();
    let got = aa.amino_acid_correlations(min_total).unwrap();
    assert_eq!(
        got.heads_used as u64,
        analysis["heads_used"].as_u64().unwrap()
    );
    let pairs = analysis["pairs"].as_array().unwrap();
    assert_eq!(got.pairs.len(), pairs.len());
    for (g, w) in got.pairs.iter().zip(pairs) {
        assert_eq!(g.aa1.to_string(), w["aa1"].as_str().unwrap());
        assert_eq!(g.aa2.to_string(), w["aa2"].as_str().unwrap());
        assert_eq!(
            g.blosum62,
            w["blosum62"].as_f64().unwrap(),
            "{}{}",
            g.aa1,
            g.aa2
        );
        let r: f64 = w["r"].as_str().unwrap().parse().unwrap();
        if r.is_nan() {
            assert!(g.r.is_nan(), "{}{}", g.aa1, g.aa2);
        } else {
            assert!((g.r - r).abs() < 1e-9, "{}{}: {} vs {r}", g.aa1, g.aa2, g.r);
        }
    }
    let blosum_r = analysis["blosum_r"].as_f64().unwrap();
    assert!(
        (got.blosum_r - blosum_r).abs() < 1e-9,
        "{} vs {blosum_r}",
        got.blosum_r
    );
    assert!(
        got.pairs_used < got.pairs.len(),
        "H is absent: its pairs are undefined"
    );
}

fn f64_column(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

fn str_column(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

fn run_heads(dir: &Path, extra: &[&str], out_name: &str) -> DataFrame {
    let exp = expected();
    let out = dir.join(out_name);
    let model = model_fixture("bert_cls");
    let max_len = exp["max_len"].to_string();
    let mut args = vec![
        "heads",
        "--model",
        model.to_str().unwrap(),
        "--max-len",
        &max_len,
        "--min-total",
        "5",
        "--batch-size",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, err) = protscope(&args);
    assert!(ok, "{err}");
    read_table(&out).unwrap()
}

#[test]
fn cli_sites_threshold_counts_are_identical() {
    let exp = expected();
    let tmp = tempfile::tempdir().unwrap();
    let sites = fixtures().join("heads/sites.jsonl");
    let form = &exp["forms"]["threshold_0.12"];
    let df = run_heads(
        tmp.path(),
        &[
            "--sites",
            sites.to_str().unwrap(),
            "--property",
            "binding",
            "--min-attn",
            "0.12",
        ],
        "sites.csv",
    );
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "property",
            "layer",
            "head",
            "n_edges",
            "n_property_edges",
            "proportion",
            "background",
            "excluded"
        ]
    );
    assert!(str_column(&df, "property").iter().all(|p| p == "binding"));
    assert_eq!(f64_column(&df, "n_edges"), floats(&form["total"]));
    assert_eq!(
        f64_column(&df, "n_property_edges"),
        floats(&form["sums"]["site"])
    );
    let excluded: Vec<bool> = df
        .column("excluded")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let want: Vec<bool> = floats(&form["total"]).iter().map(|&t| t < 5.0).collect();
    assert_eq!(excluded, want);
    for side in ["sites.layers.csv", "sites.top.csv"] {
        assert!(tmp.path().join(side).exists(), "{side}");
    }
    assert!(!tmp.path().join("sites.aa_blosum.csv").exists());
    let layers = read_table(&tmp.path().join("sites.layers.csv")).unwrap();
    assert_eq!(
        layers.height(),
        exp["num_layers"].as_u64().unwrap() as usize
    );
}

#[test]
fn cli_amino_acids_weighted_and_blosum() {
    let exp = expected();
    let tmp = tempfile::tempdir().unwrap();
    let sites = protscope::annotation::read_sites(&fixtures().join("heads/sites.jsonl")).unwrap();
    let fasta = tmp.path().join("p.fasta");
    let text: String = sites
        .iter()
        .map(|s| format!(">{}\n{}\n", s.id, s.sequence))
        .collect();
    std::fs::write(&fasta, text).unwrap();
    let df = run_heads(
        tmp.path(),
        &[
            "--fasta",
            fasta.to_str().unwrap(),
            "--amino-acids",
            "--weighting",
            "weight",
        ],
        "aa.parquet",
    );
    let form = &exp["forms"]["weight"];
    let total = floats(&form["total"]);
    let lh = total.len();
    let props = str_column(&df, "property");
    let proportion = f64_column(&df, "proportion");
    for (k, aa) in AMINO_ACIDS.iter().enumerate() {
        let want = expected_sums(form, &format!("aa_to_{aa}"), lh);
        for i in 0..lh {
            assert_eq!(props[k * lh + i], format!("aa_to_{aa}"));
            assert!(
                (proportion[k * lh + i] - want[i] / total[i]).abs() < 1e-6,
                "{aa} {i}"
            );
        }
    }
    assert!(tmp.path().join("aa.aa_blosum.parquet").exists());

    // Threshold form: the BLOSUM analysis equals the fixture's.
    let theta = exp["aa_analysis"]["theta"].to_string();
    run_heads(
        tmp.path(),
        &[
            "--fasta",
            fasta.to_str().unwrap(),
            "--amino-acids",
            "--min-attn",
            &theta,
        ],
        "aa_t.csv",
    );
    let blosum = read_table(&tmp.path().join("aa_t.aa_blosum.csv")).unwrap();
    assert_eq!(blosum.height(), 190);
    let r = f64_column(&blosum, "blosum_r")[0];
    let want = exp["aa_analysis"]["blosum_r"].as_f64().unwrap();
    assert!((r - want).abs() < 1e-9, "{r} vs {want}");
}

#[test]
fn cli_structures_contacts_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let structures = fixtures().join("structure");
    let df = run_heads(
        tmp.path(),
        &[
            "--structures",
            structures.to_str().unwrap(),
            "--weighting",
            "weight",
            "--min-separation",
            "2",
        ],
        "c.csv",
    );
    assert!(str_column(&df, "property").iter().all(|p| p == "contact"));
    let bg = f64_column(&df, "background")[0];
    assert!(bg > 0.0 && bg < 1.0, "{bg}");
    let proportion = f64_column(&df, "proportion");
    assert!(proportion.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(proportion.iter().any(|&p| p > 0.0));
    // These fixture peptides (a fibril strand, an 11-mer) have no contacts 6 apart in sequence.
    let far = run_heads(
        tmp.path(),
        &[
            "--structures",
            structures.to_str().unwrap(),
            "--weighting",
            "weight",
        ],
        "far.csv",
    );
    assert_eq!(f64_column(&far, "background")[0], 0.0);

    // No property source; a FASTA record without structure; a malformed sites file.
    let model = model_fixture("bert_cls");
    let out = tmp.path().join("x.csv");
    let (ok, err) = protscope(&[
        "heads",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("required"), "{err}");
    let fasta = tmp.path().join("one.fasta");
    std::fs::write(&fasta, ">nosuch\nMKV\n").unwrap();
    let (ok, err) = protscope(&[
        "heads",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--structures",
        structures.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("nosuch") && err.contains("no structure file"),
        "{err}"
    );
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": \"a\", \"sequence\": \"MKV\"}\n").unwrap();
    let (ok, err) = protscope(&[
        "heads",
        "--model",
        model.to_str().unwrap(),
        "--sites",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("line 1"), "{err}");
}

#[test]
fn cli_uniprot_types_are_properties_with_mask_backgrounds() {
    use protscope::annotation::{read_entries, residue_mask, FeatureSelection, MaskOptions};
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        fixtures().join("annotation/Q13639.txt"),
        fixtures().join("annotation/P39896.txt"),
    ];
    let model = model_fixture("bert_cls");
    let out = tmp.path().join("u.csv");
    let types = "Topological domain,Transmembrane";
    let (ok, err) = protscope(&[
        "heads",
        "--model",
        model.to_str().unwrap(),
        "--uniprot",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
        "--types",
        types,
        "--max-len",
        "64",
        "--weighting",
        "weight",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let df = read_table(&out).unwrap();
    let props = str_column(&df, "property");
    let background = f64_column(&df, "background");
    // Expected backgrounds from the library masks over the first 62 residues of each entry.
    let selection = FeatureSelection::with_types(types).unwrap();
    let options = MaskOptions { max_len: Some(62) };
    let masks: Vec<_> = files
        .iter()
        .flat_map(|f| read_entries(f, None).unwrap())
        .map(|e| residue_mask(&e, &selection, None, &options).unwrap())
        .collect();
    let lh = 8;
    for (k, name) in selection.types.iter().enumerate() {
        assert_eq!(props[k * lh], *name);
        let positives: usize = masks
            .iter()
            .map(|m| m.column(name).unwrap().iter().filter(|&&v| v).count())
            .sum();
        let total: usize = masks.iter().map(|m| m.sequence.len()).sum();
        assert_eq!(total, 124);
        assert!(positives > 0, "{name}: fixture without annotated residues");
        let want = positives as f64 / total as f64;
        assert!((background[k * lh] - want).abs() < 1e-12, "{name}");
    }
    assert_eq!(df.height(), 2 * lh);
}

/// `--secondary-structure` with NetSurfP labels counts exactly what `--sites` counts when each
/// class's residues are given as sites (helix: H G I; strand: E B; turn/bend: T S), and on a
/// structure folder it runs DSSP (2BEG, an amyloid fibril: strands, no helix).
#[test]
fn cli_secondary_structure_equals_sites_of_each_class() {
    let tmp = tempfile::tempdir().unwrap();
    let sequences = [
        "MKTAYIAKQRQISFVKSHFSRQLEERLG",
        "GSHMASMTGGQQMGRGSLEDGRKLSDYV",
    ];
    let states = [
        "CHHHHGGGCEEEEBCTTSSCCHHHHIIC",
        "CEEEECCTTCHHHHHHHSSCCEEEECCC",
    ];
    let spaced = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
    let mut csv = String::from("input, dssp3, dssp8, disorder, cb513_mask\n");
    for (seq, ss) in sequences.iter().zip(states) {
        let ss3: String = ss
            .chars()
            .map(|c| match c {
                'H' | 'G' | 'I' => 'H',
                'E' | 'B' => 'E',
                _ => 'C',
            })
            .collect();
        let ones = vec!["1.0"; seq.len()].join(" ");
        csv.push_str(&format!(
            "{},{},{},{ones},{ones}\n",
            spaced(seq),
            spaced(&ss3),
            spaced(ss)
        ));
    }
    let labels = tmp.path().join("TINY.csv");
    std::fs::write(&labels, csv).unwrap();
    let by_class = run_heads(
        tmp.path(),
        &[
            "--secondary-structure",
            labels.to_str().unwrap(),
            "--min-attn",
            "0.12",
        ],
        "ss.csv",
    );
    let mut properties = str_column(&by_class, "property");
    properties.dedup();
    assert_eq!(properties, ["helix", "strand", "turn_bend"]);
    for (class, letters) in [("helix", "HGI"), ("strand", "EB"), ("turn_bend", "TS")] {
        let mut jsonl = String::new();
        for (r, (seq, ss)) in sequences.iter().zip(states).enumerate() {
            let sites: Vec<usize> = ss
                .chars()
                .enumerate()
                .filter(|(_, c)| letters.contains(*c))
                .map(|(i, _)| i + 1)
                .collect();
            jsonl.push_str(&format!(
                "{{\"id\": \"TINY_{}\", \"sequence\": \"{seq}\", \"sites\": {sites:?}}}\n",
                r + 1
            ));
        }
        let sites = tmp.path().join(format!("{class}.jsonl"));
        std::fs::write(&sites, jsonl).unwrap();
        let expected = run_heads(
            tmp.path(),
            &[
                "--sites",
                sites.to_str().unwrap(),
                "--property",
                class,
                "--min-attn",
                "0.12",
            ],
            &format!("{class}.csv"),
        );
        let ours = by_class
            .filter(
                &by_class
                    .column("property")
                    .unwrap()
                    .str()
                    .unwrap()
                    .equal(class),
            )
            .unwrap();
        for column in ["n_edges", "n_property_edges", "proportion", "background"] {
            assert!(
                ours.column(column)
                    .unwrap()
                    .as_materialized_series()
                    .equals(expected.column(column).unwrap().as_materialized_series()),
                "{class}: column {column} differs from --sites"
            );
        }
    }

    let structures = tmp.path().join("structures");
    std::fs::create_dir(&structures).unwrap();
    std::fs::copy(
        fixture_file("structure", "2BEG_AB_trimmed.pdb"),
        structures.join("2beg.pdb"),
    )
    .unwrap();
    let dssp = run_heads(
        tmp.path(),
        &[
            "--secondary-structure",
            structures.to_str().unwrap(),
            "--chain",
            "B",
        ],
        "dssp.csv",
    );
    let property_edges = |name: &str| -> f64 {
        let rows = dssp
            .filter(&dssp.column("property").unwrap().str().unwrap().equal(name))
            .unwrap();
        rows.column("n_property_edges")
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .sum()
            .unwrap_or(0.0)
    };
    assert!(property_edges("strand") > 0.0, "2BEG chain B has strands");
    assert_eq!(property_edges("helix"), 0.0, "and no helix");
}
