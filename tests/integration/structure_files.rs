//! Structures: chains, models, residue mapping and contacts on real PDB/mmCIF files.

use crate::common;

use protscope::annotation::read_sites;
use protscope::structure::{
    contacts_frame, read_structure, ContactAtom, ContactOptions, DistanceMatrix, Numbering,
};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    common::fixture_file("structure", name)
}

use crate::common::shared;

#[test]
fn missing_residues_map_onto_seqres() {
    let s = read_structure(&fixture("2BEG_AB_trimmed.pdb")).unwrap();
    assert_eq!(s.chain_ids(), ["A", "B"]);
    let chain = s.chain(Some("B"), None).unwrap();
    assert_eq!(chain.residues.len(), 26);
    let reference = chain.reference.clone().unwrap();
    assert_eq!(reference.len(), 42);
    assert!(reference.starts_with("DAEFRHDSGYEVHHQK"));
    let mapping = chain.map_to(None, Numbering::Align).unwrap();
    assert_eq!(mapping.missing, (1..=16).collect::<Vec<_>>());
    assert_eq!(mapping.positions[0], Some(17));
    assert_eq!(mapping.mismatches, 0);
    // Author numbering agrees here (residues are numbered 17..42).
    assert_eq!(chain.map_to(None, Numbering::Author).unwrap(), mapping);
    let matrix = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Alpha);
    assert_eq!(matrix.get(5, 20), None);
    let contacts = matrix.contacts(&ContactOptions::default());
    assert!(contacts
        .iter()
        .all(|c| c.i >= 17 && c.j > c.i && c.distance < 8.0));
    // Every consecutive pair of observed residues is in Cα contact (3.8 Å apart).
    for i in 17..42 {
        assert!(contacts.iter().any(|c| c.i == i && c.j == i + 1), "{i}");
    }
    let e = s.chain(Some("C"), None).unwrap_err().to_string();
    assert!(
        e.contains("2BEG_AB_trimmed.pdb") && e.contains("`C`") && e.contains("A, B"),
        "{e}"
    );
}

#[test]
fn insertion_codes_and_nonstandard_residues() {
    let s = read_structure(&fixture("2n0n_M1.pdb")).unwrap();
    let chain = s.chain(None, None).unwrap();
    assert_eq!(chain.chain, "A");
    assert_eq!(chain.residues.len(), 11);
    assert!(chain
        .residues
        .iter()
        .any(|r| r.insertion_code.as_deref() == Some("A")));
    assert!(chain
        .residues
        .iter()
        .any(|r| r.name == "AIB" && r.code == 'X'));
    let mapping = chain.map_to(None, Numbering::Align).unwrap();
    assert!(mapping.positions.iter().all(Option::is_some));
    assert_eq!(mapping.mismatches, 0);
    assert!(chain.map_to(None, Numbering::Author).is_err());
    let matrix = DistanceMatrix::from_chain(&chain, &mapping, ContactAtom::Beta);
    let c = matrix.contacts(&ContactOptions {
        min_separation: 3,
        atom: ContactAtom::Beta,
        ..ContactOptions::default()
    });
    assert!(c.iter().all(|c| c.j - c.i >= 3));
    let df = contacts_frame("2n0n.A", &c).unwrap();
    assert_eq!(df.height(), c.len());
}

#[test]
fn all_shared_structures_read_and_pdb_matches_mmcif() {
    let Some(dir) = shared("structures") else {
        return;
    };
    let chains = [
        ("1A8O.pdb", "A", 70),
        ("1A8O.cif", "A", 70),
        ("1LCD.pdb", "A", 51),
        ("1LCD.cif", "A", 51),
        ("2BEG.pdb", "E", 26),
        ("2n0n_M1.pdb", "A", 11),
        ("7DDO.pdb", "C", 194),
        ("1qhx.pdb", "A", 178),
        ("4ZHL.cif", "U", 247),
        ("4CUP.cif", "A", 115),
        ("3JQH.cif", "A", 23),
        ("1AS5.cif", "A", 24),
    ];
    for (name, chain, residues) in chains {
        let s = read_structure(&dir.join(name)).unwrap();
        let c = s.chain(Some(chain), None).unwrap();
        assert_eq!(c.residues.len(), residues, "{name}");
        let m = c.map_to(None, Numbering::Align).unwrap();
        let placed = m.positions.iter().filter(|p| p.is_some()).count();
        assert_eq!(
            placed, residues,
            "{name}: every observed residue gets a position"
        );
    }
    // Same entry, two formats: identical contact maps.
    let contacts = |name: &str| {
        let s = read_structure(&dir.join(name)).unwrap();
        let c = s.chain(Some("A"), None).unwrap();
        let m = c.map_to(None, Numbering::Align).unwrap();
        DistanceMatrix::from_chain(&c, &m, ContactAtom::Beta).contacts(&ContactOptions::default())
    };
    for id in ["1A8O", "1LCD"] {
        let a = contacts(&format!("{id}.pdb"));
        let b = contacts(&format!("{id}.cif"));
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len(), "{id}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.i, x.j), (y.i, y.j), "{id}");
            assert!((x.distance - y.distance).abs() < 1e-3, "{id}");
        }
    }
    // NMR models differ; a model past the end is an error.
    for name in ["1LCD.pdb", "1LCD.cif"] {
        let nmr = read_structure(&dir.join(name)).unwrap();
        assert_eq!(nmr.model_count(), 3, "{name}");
        assert!(!nmr.first_model_only());
        let m0 = nmr.chain(Some("A"), Some(0)).unwrap();
        let m2 = nmr.chain(Some("A"), Some(2)).unwrap();
        assert_eq!(m0.residues.len(), m2.residues.len());
        assert_ne!(m0.residues[3].ca, m2.residues[3].ca);
        let e = nmr.chain(Some("A"), Some(3)).unwrap_err().to_string();
        assert!(e.contains("3 model"), "{e}");
    }
    // 1AS5's 14 models do not correspond atom by atom (pdbtbx refuses the ensemble): the first
    // model is read, and asking for another says why it cannot be.
    let nmr = read_structure(&dir.join("1AS5.cif")).unwrap();
    assert!(nmr.first_model_only());
    let e = nmr.chain(Some("A"), Some(5)).unwrap_err().to_string();
    assert!(e.contains("only the first model"), "{e}");
    // Missing residues in the middle of 7DDO chain C (REMARK 465: 319-332 and 527).
    let s = read_structure(&dir.join("7DDO.pdb")).unwrap();
    let c = s.chain(Some("C"), None).unwrap();
    let m = c.map_to(None, Numbering::Align).unwrap();
    assert_eq!(m.sequence_len, 209);
    assert_eq!(m.missing.len(), 15);
    // Insertion codes (4ZHL): alignment places them; author numbering refuses.
    let s = read_structure(&dir.join("4ZHL.cif")).unwrap();
    let u = s.chain(Some("U"), None).unwrap();
    assert!(u.map_to(None, Numbering::Author).is_err());
}

#[test]
fn provis_chain_matches_its_structure() {
    let (Some(structures), Some(provis)) = (shared("structures"), shared("provis")) else {
        return;
    };
    let sets = read_sites(&provis.join("binding_sites_valid.jsonl")).unwrap();
    let set = sets.iter().find(|s| s.id == "1qhx.A").unwrap();
    let s = read_structure(&structures.join("1qhx.pdb")).unwrap();
    let chain = s.chain(Some("A"), None).unwrap();
    assert_eq!(chain.observed_sequence(), set.sequence);
    let by_align = chain.map_to(Some(&set.sequence), Numbering::Align).unwrap();
    let by_author = chain
        .map_to(Some(&set.sequence), Numbering::Author)
        .unwrap();
    assert_eq!(by_align, by_author);
    assert!(by_align.missing.is_empty());
    // The binding-site residues are in contact with each other more than chance: at least the
    // P-loop run 11..18 forms a chain of Cα contacts.
    let matrix = DistanceMatrix::from_chain(&chain, &by_align, ContactAtom::Alpha);
    for i in 11..18 {
        assert!(matrix.get(i, i + 1).unwrap() < 4.0);
    }
}
