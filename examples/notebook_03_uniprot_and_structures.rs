//! Generated from notebooks/03_uniprot_and_structures.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_03_uniprot_and_structures`.

#![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::notebook::Show;
    use protscope::model::ProteinModel;
    use polars::prelude::*;
    use protscope::annotation::{attach_residues_to_attribution, features_frame, read_entries, residue_frame, residue_mask, FeatureSelection, MaskOptions};
    let model = ProteinModel::load("tests/fixtures/models/esm_cls".as_ref(), &candle_core::Device::Cpu).unwrap();
    let entries = read_entries("tests/fixtures/annotation/Q13639.xml".as_ref(), None).unwrap();
    let features = features_frame(&entries).unwrap();
    println!("{:?}", features.head(Some(10)));

    println!("{:?}", features.filter(&features.column("type").unwrap().str().unwrap().equal("Transmembrane")).unwrap());

    let entry = entries[0].clone();
    // The tiny model takes 64 tokens: the first 62 residues (the N-terminus and the first helix).
    let seq = model.encode_sequence(&entry.accession, entry.sequence.as_deref().unwrap(), Some(64)).unwrap();
    let ig = protscope::attribution::integrated_gradients(&model, &seq, "classifier", 1, &protscope::attribution::IgOptions { steps: 16, latent: true, ..Default::default() }).unwrap();
    let rows = protscope::attribution::tables::relevance_frame(&ig).unwrap();
    let selection = FeatureSelection { types: vec!["Transmembrane".into(), "Topological domain".into()], ..Default::default() };
    let residues: String = seq.residues.iter().collect();
    let masks = residue_mask(&entry, &selection, Some(&residues), &MaskOptions::default()).unwrap();
    let joined = attach_residues_to_attribution(&rows, &residue_frame(&[masks]).unwrap()).unwrap();
    println!("{:?}", joined.head(Some(8)));

    let embedding = joined.filter(&joined.column("layer").unwrap().i64().unwrap().equal(-1)).unwrap();
    println!("{:?}", embedding.filter(embedding.column("transmembrane").unwrap().bool().unwrap()).unwrap());

    // Tables from earlier cells are rebuilt here: evcxr compiles every cell with its own copy of
    // polars, and a kept DataFrame's column index only works in the cell that first used it.
    let rows = protscope::attribution::tables::relevance_frame(&ig).unwrap();
    let features = features_frame(&entries).unwrap();
    // Only the features within the residues the model saw (a filter on the end position).
    let seen = features.filter(&features.column("end").unwrap().u32().unwrap().lt_eq(seq.residues.len() as u32)).unwrap();
    let track = protscope::plot::ResidueTrack::from_frames(&rows, &entry.accession, protscope::model::Level::Embedding, Some(&seen)).unwrap();
    println!("{:?}", protscope::plot::residue_track("q13639_track", "Q13639: relevance per residue (tiny model)", &track).unwrap());

    use protscope::structure::{contacts_frame, read_structure, ContactAtom, ContactOptions, DistanceMatrix, Numbering};
    let chain = read_structure("tests/fixtures/structure/2BEG_AB_trimmed.pdb".as_ref()).unwrap().chain(Some("A"), None).unwrap();
    let mapping = chain.map_to(None, Numbering::Align).unwrap();
    let distances = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Beta);
    let contacts = contacts_frame("2BEG.A", &distances.contacts(&ContactOptions { cutoff: 8.0, min_separation: 6, atom: ContactAtom::Beta })).unwrap();
    println!("{:?}", contacts);

    use protscope::attention::analysis::{accumulate_head_statistics, ContactMap, HeadInput, PropertyValues};
    let abeta = model.encode_sequence("2BEG.A", chain.reference.as_deref().unwrap(), None).unwrap();
    let contact_map = ContactMap::from_distances(&distances, 8.0, 6);
    let mut contact_stats = protscope::attention::heads::HeadStatistics::new(model.num_layers(), model.num_heads(), protscope::attention::heads::Weighting::Threshold(0.1), vec!["contact".into()]).unwrap();
    accumulate_head_statistics(&model, &mut contact_stats, [Ok(HeadInput { sequence: abeta.clone(), values: PropertyValues::Contacts(contact_map.clone()) })], 1, |_| {}).unwrap();
    let grid = protscope::plot::HeadGrid::from_frame(&contact_stats.to_frame(1.0).unwrap(), "proportion", Some("excluded"), Some("contact")).unwrap();
    println!("{:?}", protscope::plot::head_heatmap("contact_heads", "Share of attention on Cβ contacts (tiny model)", &grid).unwrap());

    let (layer, head) = contact_stats.best_head("contact", 1.0).unwrap();
    let maps = protscope::attention::attention_maps(&model, std::slice::from_ref(&abeta)).unwrap().remove(0);
    let map = maps.head_map(layer, head, &abeta.residues).unwrap().with_contacts(contact_map.contact.clone(), "Cβ–Cβ < 8 Å");
    println!("{:?}", protscope::plot::attention_map("abeta_map", &format!("2BEG.A: head {}-{} with contacts", layer + 1, head + 1), &map).unwrap());
}
