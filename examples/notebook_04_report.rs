//! Generated from notebooks/04_report.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_04_report`.

#![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::notebook::Show;
    use protscope::fetch;
    use protscope::model::ProteinModel;
    use protscope::report::{provenance::{ModelProvenance, Provenance}, Report, TableOptions};
    use protscope::attention::heads::Weighting;
    use protscope::attribution::{integrated_gradients, tables, IgOptions};
    let model_dir = fetch::fetch_antiberty(&fetch::default_cache_dir()).unwrap();
    let model = ProteinModel::load(&model_dir, &candle_core::Device::Cpu).unwrap();
    let fasta = std::path::PathBuf::from("data/antibodies_171.fasta");
    let records = protscope::io::spread_sample(protscope::io::read_fasta(&fasta).unwrap(), Some(12));
    let seqs: Vec<_> = records.iter().map(|r| model.encode_sequence(&r.id, &r.sequence, None).unwrap()).collect();
    let regions = protscope::annotation::antibody::annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    let entries = regions.entries();
    let numbered = protscope::annotation::antibody::cdr_sites(&seqs, &entries);
    let mut report = Report::new("AntiBERTy on a dozen antibodies, from a notebook");
    report.intro(format!("Attention and integrated gradients of AntiBERTy for {} antibodies spread over data/antibodies_171.fasta, computed in notebooks/04_report.ipynb.", seqs.len()));
    println!("{} antibodies, {} with IMGT regions", seqs.len(), numbered.len());

    let cdr_stats = protscope::attention::analysis::cdr_head_statistics(&model, &numbered, Weighting::Threshold(0.3), 4, |_| {}).unwrap();
    let heads = cdr_stats.to_frame(100.0).unwrap();
    let grid = protscope::plot::HeadGrid::from_frame(&heads, "proportion", Some("excluded"), Some("CDR3")).unwrap();
    let cdr3_heads = protscope::plot::head_heatmap("cdr3_heads", "Share of attention on CDR3 residues", &grid).unwrap();
    report.section("Attention to the CDRs");
    report.figure(&cdr3_heads, "Share of each head's confident attention (≥ 0.3) that lands on CDR3; heads with fewer than 100 such edges are masked.").unwrap();
    report.table("Every head's share of attention on each CDR.", &heads, &TableOptions::default()).unwrap();
    println!("{:?}", cdr3_heads);

    let profile = protscope::plot::LayerProfile::from_frame(&cdr_stats.layer_frame(100.0).unwrap(), "property_share", None).unwrap();
    let layers = protscope::plot::layer_profile("cdr_layers", "Attention to CDRs by layer", &profile).unwrap();
    report.figure(&layers, "Each layer's share of all attention to a CDR.").unwrap();
    println!("{:?}", layers);

    let predictions = protscope::model::outputs::predictions_frame(&model, &seqs).unwrap();
    let predicted = protscope::model::outputs::predicted_classes(&predictions, "species").unwrap();
    let options = IgOptions { steps: 16, latent: true, ..Default::default() };
    let results: Vec<_> = protscope::io::spread_sample(numbered.clone(), Some(2)).iter().map(|(s, _)| integrated_gradients(&model, s, "species", predicted[&s.id], &options).unwrap()).collect();
    let rows = tables::relevance_frames(&results).unwrap();
    let features = protscope::annotation::features_frame(&entries).unwrap();
    report.section("Integrated gradients");
    report.table("Predicted species and chain of each antibody.", &predictions, &TableOptions::default()).unwrap();
    for r in &results {
        let track = protscope::plot::ResidueTrack::from_frames(&rows, &r.protein, protscope::model::Level::Embedding, Some(&features)).unwrap();
        let figure = protscope::plot::residue_track(&format!("{}_track", r.protein), &format!("{}: relevance per residue", r.protein), &track).unwrap();
        report.figure(&figure, format!("Embedding-level IG relevance of the predicted species ({} steps), IMGT regions below.", options.steps)).unwrap();
    }
    println!("report: {} figures, {} tables", report.figures(), report.tables());

    let sapiens = fetch::fetch_sapiens(&fetch::default_cache_dir()).unwrap();
    let heavy: Vec<_> = records.iter().filter(|r| r.description.contains("chain=Heavy")).take(3).cloned().collect();
    let mut region_rows = Vec::new();
    for (name, dir) in [("antiberty", model_dir.clone()), ("sapiens-vh", sapiens.heavy.clone())] {
        let m = ProteinModel::load(&dir, &candle_core::Device::Cpu).unwrap();
        let s: Vec<_> = heavy.iter().map(|r| m.encode_sequence(&r.id, &r.sequence, Some(m.tokenizer.max_tokens())).unwrap()).collect();
        let scores = protscope::model::scoring::score_sequences(&m, &s, &Default::default()).unwrap();
        region_rows.extend(protscope::report::model_comparison::region_scores(name, &scores, &entries));
    }
    let region_table = protscope::report::model_comparison::region_scores_frame(&region_rows).unwrap();
    report.table("Mean log-probability and accuracy of residues per IMGT region, AntiBERTy vs Sapiens (VH), three heavy chains.", &region_table, &TableOptions::default()).unwrap();
    println!("{region_table}");

    let mut provenance = Provenance::new(vec!["notebooks/04_report.ipynb".to_string()]);
    provenance.model = Some(ModelProvenance::of(&model_dir).unwrap());
    provenance.input(&fasta).unwrap();
    provenance.parameter("antibodies", seqs.len()).parameter("attention.min_attn", 0.3).parameter("ig.steps", options.steps);
    report.provenance(provenance);
    let saved = std::path::PathBuf::from("target/notebooks/04_report_from_notebook.html");
    report.save(&saved).unwrap();
    println!("saved {} ({} bytes)", saved.display(), std::fs::metadata(&saved).unwrap().len());
}
