//! Generated from notebooks/02_integrated_gradients.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_02_integrated_gradients`.

#![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::notebook::Show;
    use protscope::fetch;
    use protscope::model::ProteinModel;
    use protscope::attribution::{integrated_gradients, tables, IgOptions};
    let model = ProteinModel::load(&fetch::fetch_antiberty(&fetch::default_cache_dir()).unwrap(), &candle_core::Device::Cpu).unwrap();
    let records = protscope::io::spread_sample(protscope::io::read_fasta("data/antibodies_171.fasta".as_ref()).unwrap(), Some(4));
    let seqs: Vec<_> = records.iter().map(|r| model.encode_sequence(&r.id, &r.sequence, None).unwrap()).collect();
    let regions = protscope::annotation::antibody::annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    let entries = regions.entries();
    let numbered = protscope::annotation::antibody::cdr_sites(&seqs, &entries);
    println!("{} antibodies, {} with IMGT regions", seqs.len(), numbered.len());

    let predictions = protscope::model::outputs::predictions_frame(&model, &seqs).unwrap();
    let predicted = protscope::model::outputs::predicted_classes(&predictions, "species").unwrap();
    println!("{:?}", predictions);

    let options = IgOptions { steps: 16, latent: true, ..Default::default() };
    let results: Vec<_> = numbered.iter().map(|(s, _)| integrated_gradients(&model, s, "species", predicted[&s.id], &options).unwrap()).collect();
    let gaps: Vec<String> = results.iter().map(|r| format!("{}: F(x) = {:.3}, F(x') = {:.3}, completeness gap {:.2e}", r.protein, r.f_input, r.f_baseline, r.delta)).collect();
    println!("{}", gaps.join("\n"));

    println!("{:?}", results[0].clone());

    let rows = tables::relevance_frames(&results).unwrap();
    let features = protscope::annotation::features_frame(&entries).unwrap();
    println!("{:?}", rows.head(Some(6)));

    let track = protscope::plot::ResidueTrack::from_frames(&rows, &results[0].protein, protscope::model::Level::Embedding, Some(&features)).unwrap();
    println!("{:?}", protscope::plot::residue_track("track", &format!("{}: relevance per residue", results[0].protein), &track).unwrap());

    let relevance_stats = protscope::stats::relevance::cdr_relevance_statistics(&tables::relevance_frames(&results).unwrap(), &numbered, 0.05).unwrap();
    // The frame is built and used in this cell (evcxr keeps owned values; see README, Notebooks).
    let cdr3_frame = relevance_stats.iter().find(|(property, _)| property == "CDR3").unwrap().1.to_frame().unwrap();
    let grid = protscope::plot::HeadGrid::from_frame(&cdr3_frame, "mean_r", None, None).unwrap().with_statistic("mean r (relevance vs CDR3)", "");
    println!("{:?}", protscope::plot::head_heatmap("cdr3_relevance_heads", "Relevance vs CDR3 per head", &grid).unwrap());

    let bars: Vec<protscope::plot::SignificanceBar> = relevance_stats.iter().map(|(property, stats)| {
        let embedding = stats.heads.iter().find(|h| h.layer < 0).unwrap();
        protscope::plot::SignificanceBar { label: property.clone(), p: embedding.t_p, n: embedding.n_proteins }
    }).collect();
    let figure = protscope::plot::significance_bars("embedding_significance", "Embedding-level relevance vs the CDRs", &protscope::plot::SignificanceBars::new(bars, "one-sided t-test on r")).unwrap();
    println!("{:?}", figure);

    use protscope::attribution::flip::{flip_frame, flip_residues, FlipOptions};
    let flip_options = FlipOptions { random_repeats: 5, ..Default::default() };
    let flips: Vec<_> = numbered.iter().zip(&results).flat_map(|((s, _), r)| flip_residues(&model, s, "species", r.target, r.residue_embedding(), &flip_options).unwrap()).collect();
    println!("{:?}", flip_frame(&flips).unwrap());

    use protscope::attribution::{AttributionMethod, ExplainOptions};
    use protscope::attribution::comparison::compare_methods;
    use protscope::attribution::flip::Replacement;
    let method_seqs: Vec<_> = numbered.iter().map(|(s, _)| s.clone()).collect();
    let method_targets: Vec<usize> = method_seqs.iter().map(|s| predicted[&s.id]).collect();
    let explain_options = ExplainOptions { ig: IgOptions { steps: 16, ..Default::default() }, ..Default::default() };
    let method_flip = FlipOptions { ks: vec![1, 2, 4, 8, 16, 32, 64], replacement: Replacement::Alanine, random_repeats: 5, ..Default::default() };
    let compared = compare_methods(&model, &method_seqs, "species", &method_targets, &AttributionMethod::ALL, &explain_options, &method_flip, || {}).unwrap();
    let checks: Vec<String> = compared.explanations.iter().map(|x| format!("{:18} {:?}", x[0].method.title(), x[0].check)).collect();
    println!("{}: the check of each method\n{}", method_seqs[0].id, checks.join("\n"));

    let side_by_side = compared.residue_frame().unwrap();
    println!("{:?}", side_by_side.head(Some(method_seqs[0].residues.len())).slice(95, 20));

    println!("{:?}", compared.agreement_frame().unwrap());

    let faithfulness: Vec<String> = compared.faithfulness().iter().map(|f| format!("{:10} AOPC {:.3} (random {:.3})", f.method, f.aopc_top, f.aopc_random)).collect();
    println!("{}", faithfulness.join("\n"));
    let curves = protscope::plot::FlipCurves::from_frame(&flip_frame(&compared.flips).unwrap()).unwrap();
    println!("{:?}", protscope::plot::flip_curves("methods_flip", "Residue flipping per attribution method", &curves).unwrap());
}
