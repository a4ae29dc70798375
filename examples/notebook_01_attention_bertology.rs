//! Generated from notebooks/01_attention_bertology.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_01_attention_bertology`.

#![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::notebook::Show;
    use protscope::fetch;
    use protscope::model::ProteinModel;
    use protscope::attention::heads::Weighting;
    let model = ProteinModel::load(&fetch::fetch_antiberty(&fetch::default_cache_dir()).unwrap(), &candle_core::Device::Cpu).unwrap();
    // 24 antibodies spread over the file (it is ordered by source and species), so this runs in seconds.
    let records = protscope::io::spread_sample(protscope::io::read_fasta("data/antibodies_171.fasta".as_ref()).unwrap(), Some(24));
    let seqs: Vec<_> = records.iter().map(|r| model.encode_sequence(&r.id, &r.sequence, None).unwrap()).collect();
    println!("{} antibodies, {} layers x {} heads", seqs.len(), model.num_layers(), model.num_heads());

    let regions = protscope::annotation::antibody::annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str())));
    let entries = regions.entries();
    println!("{:?}", protscope::annotation::antibody::antibodies_frame(&regions.numbered).unwrap());

    let numbered = protscope::annotation::antibody::cdr_sites(&seqs, &entries);
    let cdr_stats = protscope::attention::analysis::cdr_head_statistics(&model, &numbered, Weighting::Threshold(0.3), 4, |_| {}).unwrap();
    let heads = cdr_stats.to_frame(100.0).unwrap();
    println!("{:?}", heads.head(Some(8)));

    let grid = protscope::plot::HeadGrid::from_frame(&heads, "proportion", Some("excluded"), Some("CDR3")).unwrap();
    println!("{:?}", protscope::plot::head_heatmap("cdr3_heads", "Share of attention on CDR3 residues", &grid).unwrap());

    let top = protscope::plot::TopHeads::from_frame(&cdr_stats.top_heads_frame(100.0, 10).unwrap(), "CDR3").unwrap();
    println!("{:?}", protscope::plot::top_heads("cdr3_top", "Heads attending most to CDR3 (95 % Wilson intervals)", &top).unwrap());

    let profile = protscope::plot::LayerProfile::from_frame(&cdr_stats.layer_frame(100.0).unwrap(), "property_share", None).unwrap();
    println!("{:?}", protscope::plot::layer_profile("cdr_layers", "Attention to CDRs by layer", &profile).unwrap());

    let maps = protscope::attention::attention_maps(&model, &seqs[..1]).unwrap().remove(0);
    println!("{:?}", maps);

    let (layer, head) = cdr_stats.best_head("CDR3", 100.0).unwrap();
    let map = maps.head_map(layer, head, &seqs[0].residues).unwrap();
    println!("{:?}", protscope::plot::attention_map("cdr3_head_map", &format!("{}: head {}-{}", seqs[0].id, layer + 1, head + 1), &map).unwrap());

    let aa_stats = protscope::attention::analysis::amino_acid_head_statistics(&model, &seqs, Weighting::Threshold(0.3), 4, |_| {}).unwrap();
    let aa = aa_stats.amino_acid_correlations(100.0).unwrap();
    println!("Pearson r between attention similarity and BLOSUM62: {:.3}", aa.blosum_r);
    println!("{:?}", protscope::plot::aa_blosum("aa_blosum", "Attention between amino acids vs BLOSUM62", &protscope::plot::AaBlosum::from_frame(&aa.to_frame().unwrap()).unwrap()).unwrap());
}
