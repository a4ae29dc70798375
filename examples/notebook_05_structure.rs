//! Generated from notebooks/05_structure.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_05_structure`.

#![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::notebook::Show;
    use protscope::fetch;
    use protscope::model::ProteinModel;
    use protscope::structure::{ContactAtom, StructureFolder};
    use protscope::attention::contacts::{contact_example, ContactExample};
    let model = ProteinModel::load(&fetch::fetch_antiberty(&fetch::default_cache_dir()).unwrap(), &candle_core::Device::Cpu).unwrap();
    let chains = StructureFolder::open("data/structures/antibodies".as_ref()).unwrap().chains(Some("H")).unwrap();
    // Attention maps and Cβ contact targets (< 8 Å, Cα for glycine) of every heavy chain.
    let examples: Vec<ContactExample> = chains.iter().map(|(id, _, chain)| contact_example(&model, id, chain, ContactAtom::Beta, 8.0, None).unwrap()).collect();
    println!("{} heavy chains, {} to {} residues", examples.len(), examples.iter().map(|e| e.maps.residues()).min().unwrap(), examples.iter().map(|e| e.maps.residues()).max().unwrap());

    use protscope::attention::contacts::{contact_precision_by_layer, layer_precision_frame, ContactFitOptions};
    let by_layer = contact_precision_by_layer(&examples[..20], &examples[20..], &ContactFitOptions::default(), &mut |_| {}).unwrap();
    let table = layer_precision_frame(&by_layer).unwrap();
    let profile = protscope::plot::LayerProfile::from_contact_layers(&table, "p_at_l").unwrap();
    println!("{:?}", protscope::plot::layer_profile("contacts_by_layer", "AntiBERTy: contact P@L of a head fitted on one layer's heads", &profile).unwrap());

    use protscope::attention::contacts::{contact_map, fit_contact_head};
    // Borrowing cells keep their references inside blocks: evcxr keeps only owned values between cells.
    let head = {
        let training: Vec<(&protscope::attention::AttentionMaps, &[i8])> = examples[..20].iter().map(|e| (&e.maps, e.targets.as_slice())).collect();
        fit_contact_head(&training, &ContactFitOptions::default()).unwrap().head
    };
    let predicted = contact_map(&examples[20].maps, &head).unwrap();
    let map_plot = protscope::plot::ContactMapPlot::new(&predicted.protein, predicted.residues, predicted.probabilities.clone(), examples[20].targets.clone());
    println!("{:?}", protscope::plot::contact_map_plot("contact_map", &format!("Contacts of {}: predicted (above) and true (below)", predicted.protein), &map_plot).unwrap());

    use protscope::view::{regions_colouring, secondary_structure_colouring, StructureAttention, StructureView, StructureViewOptions};
    let structure_view = {
        let (id, path, chain) = &chains[20];
        let parsed = protscope::structure::read_structure(path).unwrap();
        let sequence: String = chain.sequence().chars().take(examples[20].maps.residues()).collect();
        let mapping = chain.map_to(Some(&sequence), protscope::structure::Numbering::Align).unwrap();
        mapping.require_same_protein(id).unwrap();
        let n = sequence.len();
        let targets = &examples[20].targets;
        let truth: Vec<(usize, usize)> = (0..n).flat_map(|i| (i + 6..n).map(move |j| (i, j))).filter(|&(i, j)| targets[i * n + j] == 1).collect();
        let predicted_pairs: Vec<(usize, usize, f32)> = (0..n).flat_map(|i| (i + 6..n).map(move |j| (i, j))).map(|(i, j)| (i, j, predicted.get(i, j))).collect();
        let mut view = StructureView::new(id, &sequence, &parsed, chain, &mapping).unwrap();
        if let Some(regions) = regions_colouring(id, &sequence) {
            view = view.colour_by(regions).unwrap();
        }
        view.colour_by(secondary_structure_colouring(&parsed, chain, &sequence).unwrap()).unwrap()
            .with_contacts(truth, predicted_pairs).unwrap()
            .with_attention(StructureAttention::from_maps(&examples[20].maps, 0.1).unwrap(), StructureViewOptions { layer: 2, head: 0, theta: 0.3, colouring: None }).unwrap()
    };
    println!("{:?}", structure_view);

    use protscope::view::{AttentionView, AttentionViewOptions};
    let attention_view = {
        let residues: String = chains[20].2.sequence().chars().take(examples[20].maps.residues()).collect();
        AttentionView::from_maps(&examples[20].maps, &residues, &AttentionViewOptions::default()).unwrap()
    };
    println!("{:?}", attention_view);

    use protscope::attribution::categorical_jacobian::jacobian_contacts;
    let seq = model.encode_sequence(&chains[20].0, &chains[20].2.sequence(), Some(62)).unwrap();
    let couplings = jacobian_contacts(&model, &seq, 64, &mut |_| {}).unwrap();
    let n = couplings.residues;
    // The structure's targets over the same first n residues.
    let m = examples[20].maps.residues();
    let targets: Vec<i8> = (0..n).flat_map(|i| examples[20].targets[i * m..i * m + n].to_vec()).collect();
    for (range, p) in protscope::stats::contacts::evaluate_contacts(&couplings.scores, &targets, n).unwrap() {
        println!("{range:>6}: P@L {:.3}  P@L/5 {:.3}", p.p_at_l, p.p_at_l5);
    }

    use protscope::structure::dssp::{assign_secondary_structure, secondary_structure_frame, sequence_positions};
    let ss = {
        let (id, path, chain) = &chains[0];
        let parsed = protscope::structure::read_structure(path).unwrap();
        let residues = assign_secondary_structure(&parsed, Some("H")).unwrap();
        let positions = sequence_positions(&residues, chain, None).unwrap();
        println!("{id}: {}", residues.iter().map(|r| r.dssp8.letter()).collect::<String>());
        secondary_structure_frame(id, &residues, &positions).unwrap()
    };
    println!("{:?}", ss.head(Some(12)));

    use protscope::annotation::secondary::{attention_indicators, ATTENTION_PROPERTIES};
    use protscope::attention::heads::Weighting;
    let mut proteins = Vec::new();
    for (id, path, chain) in &chains {
        let parsed = protscope::structure::read_structure(path).unwrap();
        let residues = assign_secondary_structure(&parsed, Some("H")).unwrap();
        let sequence = chain.sequence();
        let positions = sequence_positions(&residues, chain, Some(&sequence)).unwrap();
        let mut states = vec![None; sequence.len()];
        for (r, p) in residues.iter().zip(&positions) { if let Some(p) = p { states[p - 1] = Some(r.dssp8.letter()); } }
        proteins.push((model.encode_sequence(id, &sequence, None).unwrap(), attention_indicators(&states)));
    }
    let ss_stats = protscope::attention::analysis::site_head_statistics(&model, &ATTENTION_PROPERTIES, &proteins, Weighting::Threshold(0.3), 4, |_| {}).unwrap();
    let ss_heads = ss_stats.to_frame(100.0).unwrap();
    let grid = protscope::plot::HeadGrid::from_frame(&ss_heads, "proportion", Some("excluded"), Some("strand")).unwrap();
    println!("{:?}", protscope::plot::head_heatmap("strand_heads", "Share of attention on strand residues (DSSP E, B)", &grid).unwrap());

    use protscope::probing::{probe_frame, probe_residues, ProbeOptions};
    let records = protscope::io::spread_sample(protscope::io::read_fasta("data/antibodies_171.fasta".as_ref()).unwrap(), Some(48));
    let numbered = protscope::annotation::antibody::annotate_regions(records.iter().map(|r| (r.id.as_str(), r.sequence.as_str()))).numbered;
    let (region_proteins, region_tasks) = protscope::probing::tasks::region_tasks(&numbered);
    let region_seqs: Vec<_> = region_proteins.iter().map(|(id, s)| model.encode_sequence(id, s, None).unwrap()).collect();
    let options = ProbeOptions { c: Some(0.1), ..Default::default() };
    let mut rows = probe_residues(&model, &region_seqs, &region_tasks, &options, |_| {}).unwrap().1;
    let contact_inputs: Vec<_> = chains.iter().zip(&examples).map(|((id, _, chain), e)| (model.encode_sequence(id, &chain.sequence(), None).unwrap(), e.targets.clone())).collect();
    rows.extend(protscope::probing::contacts::probe_contacts(&model, &contact_inputs, 6, &options, |_| {}).unwrap().1);
    let probes = probe_frame(&rows).unwrap();
    let probe_plot = protscope::plot::ProbingPlot::from_frame(&probes, "test", None).unwrap();
    println!("{:?}", protscope::plot::probing_plot("probing", "AntiBERTy: probing per layer (test split)", &probe_plot).unwrap());
}
