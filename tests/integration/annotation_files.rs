//! Annotation parsers, masks and frames on real UniProt files: committed fixtures (always run)
//! and the shared reference data (skipped with a printed reason when absent).

use crate::common;

use protscope::annotation::{
    self, features_frame, read_entries, read_sites, residue_frame, residue_mask, Entry, Feature,
    FeatureSelection, Format, MaskOptions, Modifier, Position, SkipReason,
};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    common::fixture_file("annotation", name)
}

use crate::common::shared;

fn read(path: &Path) -> Vec<Entry> {
    read_entries(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Variant-like features: old flat text writes the substitution into the description
/// ("L -> LERS (in isoform X)."), while XML carries it in <original>/<variation> elements and
/// keeps only "In isoform X." as the description.
fn is_variant(f: &Feature) -> bool {
    matches!(
        f.feature_type.as_str(),
        "Alternative sequence" | "Natural variant" | "Sequence conflict" | "Mutagenesis"
    )
}

fn alnum_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Asserts two parses of the same entries are equal: identity, sequence and every feature
/// field, with the one documented exception for variant descriptions.
fn assert_same_entries(a: &[Entry], b: &[Entry], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: entry count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.accession, y.accession, "{what}");
        assert_eq!(x.secondary_accessions, y.secondary_accessions, "{what}");
        assert_eq!(x.entry_name, y.entry_name, "{what}");
        assert_eq!(x.sequence, y.sequence, "{what} {}", x.accession);
        assert_eq!(
            x.sequence_version, y.sequence_version,
            "{what} {}",
            x.accession
        );
        assert_eq!(x.features.len(), y.features.len(), "{what} {}", x.accession);
        for (f, g) in x.features.iter().zip(&y.features) {
            let ctx = format!("{what} {} {f:?} vs {g:?}", x.accession);
            assert_eq!(f.feature_type, g.feature_type, "{ctx}");
            assert_eq!(f.start, g.start, "{ctx}");
            assert_eq!(f.end, g.end, "{ctx}");
            assert_eq!(f.status, g.status, "{ctx}");
            assert_eq!(f.evidence, g.evidence, "{ctx}");
            assert_eq!(f.ligand, g.ligand, "{ctx}");
            assert_eq!(f.ligand_id, g.ligand_id, "{ctx}");
            assert_eq!(f.feature_id, g.feature_id, "{ctx}");
            if is_variant(f) {
                let short = alnum_lower(g.description.as_deref().unwrap_or(""));
                let long = alnum_lower(f.description.as_deref().unwrap_or(""));
                assert!(long.contains(&short), "{ctx}");
            } else {
                assert_eq!(f.description, g.description, "{ctx}");
            }
        }
    }
}

#[test]
fn current_flat_layout_reads_sites_ligands_and_evidence() {
    let entries = read(&fixture("P39896.txt"));
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.accession, "P39896");
    assert_eq!(e.entry_name.as_deref(), Some("TCMO_STRGA"));
    assert_eq!(e.sequence.as_ref().map(String::len), Some(339));
    let act = e
        .features
        .iter()
        .find(|f| f.feature_type == "Active site")
        .unwrap();
    assert_eq!(act.start, Position::exact(246));
    assert_eq!(act.description.as_deref(), Some("Proton acceptor"));
    assert_eq!(act.evidence, ["ECO:0000255|PROSITE-ProRule:PRU01020"]);
    let binding: Vec<&Feature> = e
        .features
        .iter()
        .filter(|f| f.feature_type == "Binding site")
        .collect();
    assert_eq!(binding.len(), 2);
    assert_eq!(binding[1].start, Position::exact(226));
    assert_eq!(binding[1].end, Position::exact(228));
    assert_eq!(
        binding[0].ligand.as_deref(),
        Some("S-adenosyl-L-methionine")
    );
    assert_eq!(binding[0].ligand_id.as_deref(), Some("ChEBI:CHEBI:59789"));
    let chain = &e.features[0];
    assert_eq!(
        chain.description.as_deref(),
        Some("Tetracenomycin polyketide synthesis 8-O-methyl transferase TcmO")
    );
    assert_eq!(chain.feature_id.as_deref(), Some("PRO_0000072457"));

    let sel = FeatureSelection::with_types("Binding site,Active site").unwrap();
    let mask = residue_mask(e, &sel, None, &MaskOptions::default()).unwrap();
    let on: Vec<usize> = mask
        .column("Binding site")
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, &b)| b)
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(on, [200, 226, 227, 228]);
    assert!(mask.column("Active site").unwrap()[245]);
    assert!(mask.skipped.is_empty());
}

#[test]
fn same_entry_in_flat_and_xml_gives_equal_tables() {
    for acc in ["Q13639", "H2CNN8"] {
        let flat = read(&fixture(&format!("{acc}.txt")));
        let xml = read(&fixture(&format!("{acc}.xml")));
        assert_same_entries(&flat, &xml, acc);
        // The frames agree on every column except variant descriptions.
        let strip = |entries: &[Entry]| -> Vec<Entry> {
            let mut out = entries.to_vec();
            for e in &mut out {
                for f in &mut e.features {
                    if is_variant(f) {
                        f.description = None;
                    }
                }
            }
            out
        };
        let a = features_frame(&strip(&flat)).unwrap();
        let b = features_frame(&strip(&xml)).unwrap();
        assert!(a.equals_missing(&b), "{acc}: feature frames differ");
    }
    let q = &read(&fixture("Q13639.xml"))[0];
    assert_eq!(
        q.features
            .iter()
            .filter(|f| f.feature_type == "Transmembrane")
            .count(),
        7
    );
    let tm = q
        .features
        .iter()
        .find(|f| f.feature_type == "Transmembrane")
        .unwrap();
    assert_eq!(tm.status.as_deref(), Some("by similarity"));
}

#[test]
fn rest_json_tsv_gff_and_synthetic_xml_fixtures() {
    let json = read(&fixture("rest_Q8I6R7.json"));
    let e = &json[0];
    assert_eq!(e.accession, "Q8I6R7");
    let peptide = &e.features[0];
    assert_eq!(peptide.feature_type, "Peptide");
    assert_eq!(peptide.start.modifier, Modifier::LessThan);
    let modres = e
        .features
        .iter()
        .find(|f| f.feature_type == "Modified residue")
        .unwrap();
    assert_eq!(modres.start, Position::exact(130));
    assert_eq!(modres.evidence, ["ECO:0000269|PubMed:12818635"]);

    let tsv = read(&fixture("rest_search_results.tsv"));
    assert_eq!(tsv.len(), 6);
    let cyp = tsv.iter().find(|e| e.accession == "A0A087X1C5").unwrap();
    let heme = cyp
        .features
        .iter()
        .find(|f| f.feature_type == "Binding site")
        .unwrap();
    assert_eq!(heme.start, Position::exact(461));
    assert_eq!(heme.ligand.as_deref(), Some("heme"));
    assert_eq!(heme.ligand_id.as_deref(), Some("ChEBI:CHEBI:30413"));
    assert_eq!(heme.description.as_deref(), Some("axial binding residue"));
    let sik = tsv.iter().find(|e| e.accession == "A0A0B4J2F2").unwrap();
    assert_eq!(sik.sequence.as_ref().map(String::len), Some(783));
    let types: Vec<&str> = sik
        .features
        .iter()
        .map(|f| f.feature_type.as_str())
        .collect();
    assert_eq!(types, ["Active site", "Binding site", "Binding site"]);

    let gff = read(&fixture("swiss4.gff"));
    let accs: Vec<&str> = gff.iter().map(|e| e.accession.as_str()).collect();
    assert_eq!(accs, ["P00750", "P56540", "Q51858", "Q51481"]);
    let np = gff[1]
        .features
        .iter()
        .find(|f| f.feature_type == "Nucleotide binding")
        .unwrap();
    assert_eq!(
        (np.start, np.end),
        (Position::exact(41), Position::exact(48))
    );
    assert_eq!(np.description.as_deref(), Some("ATP"));
    assert_eq!(np.status.as_deref(), Some("potential"));

    let multi = read(&fixture("multiligand.xml"));
    let f = &multi[0].features[0];
    assert_eq!(f.ligand.as_deref(), Some("ATP; ADP"));
    assert_eq!(
        f.ligand_id.as_deref(),
        Some("ChEBI:CHEBI:15422; ChEBI:CHEBI:16761")
    );
}

#[test]
fn gzip_and_format_override() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("P39896.dat.gz");
    let raw = std::fs::read(fixture("P39896.txt")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&raw).unwrap();
    enc.finish().unwrap();
    assert_eq!(read(&gz), read(&fixture("P39896.txt")));
    let e = read_entries(&fixture("P39896.txt"), Some(Format::Xml)).unwrap_err();
    assert!(e.to_string().contains("P39896.txt"), "{e}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let flat = std::fs::read(fixture("Q13639.txt")).unwrap();
    let xml = std::fs::read(fixture("Q13639.xml")).unwrap();
    let json = std::fs::read(fixture("rest_Q8I6R7.json")).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("cut.txt", &flat[..flat.len() / 2]), "truncated"),
        (write("cut.xml", &xml[..xml.len() / 2]), "truncated"),
        (write("cut.json", &json[..json.len() / 2]), "truncated"),
        (write("empty.xml", b""), "empty"),
        (write("noise.txt", b"just some words\n"), "cannot tell"),
        (
            write(
                "latin1.txt",
                b"ID   X\nAC   P1;\nFT   CHAIN 1..2\nFT   /note=\"caf\xe9\"\n//\n",
            ),
            "UTF-8",
        ),
        (
            write(
                "pos.txt",
                b"ID   X\nAC   P1;\nFT   CHAIN           1..x\n//\n",
            ),
            "1..x",
        ),
    ];
    for (path, needle) in cases {
        let e = read_entries(&path, None).unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(e.contains(&name) && e.contains(needle), "{name}: {e}");
    }
    assert!(read_entries(&dir.path().join("absent.txt"), None).is_err());
}

#[test]
fn residue_table_keeps_positions_aligned_under_max_len() {
    let entries = read(&fixture("P39896.txt"));
    let sel = FeatureSelection::with_types("Binding site").unwrap();
    let opts = MaskOptions { max_len: Some(210) };
    let m = residue_mask(&entries[0], &sel, None, &opts).unwrap();
    assert_eq!(m.sequence.len(), 210);
    assert!(m.column("Binding site").unwrap()[199]);
    assert!(matches!(
        m.skipped[0].reason,
        SkipReason::BeyondMaxLen { max_len: 210 }
    ));
    let df = residue_frame(&[m]).unwrap();
    assert_eq!(df.height(), 210);
    let pos = df.column("position").unwrap().u32().unwrap();
    assert_eq!(pos.get(199), Some(200));
    let flag = df.column("binding_site").unwrap().bool().unwrap();
    assert_eq!(flag.get(199), Some(true));
    assert_eq!(flag.sum(), Some(1));
}

// ---- shared reference data ----

#[test]
fn every_shared_uniprot_file_parses_in_its_format() {
    let Some(dir) = shared("uniprot") else { return };
    let expected = [
        ("P04439.txt", Format::Flat),
        ("sp016", Format::Flat),
        ("uni002", Format::Xml),
        ("P62330.xml", Format::Xml),
        ("rest_search_results.json", Format::Json),
        ("rest_search_results.tsv", Format::Tsv),
        ("multi_ex.gff", Format::Gff),
        ("multi_ex.fasta", Format::Fasta),
    ];
    for (name, format) in expected {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(annotation::detect_format(&bytes), Some(format), "{name}");
    }
    let mut total = 0;
    for item in std::fs::read_dir(&dir).unwrap() {
        let path = item.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let entries = read(&path);
        total += entries.iter().map(|e| e.features.len()).sum::<usize>();
        assert!(!entries.is_empty());
        // Every table builds; no feature has a position 0.
        let df = features_frame(&entries).unwrap();
        assert_eq!(
            df.height(),
            entries.iter().map(|e| e.features.len()).sum::<usize>()
        );
        for f in entries.iter().flat_map(|e| &e.features) {
            assert!(
                f.start.value != Some(0) && f.end.value != Some(0),
                "{}",
                path.display()
            );
            assert!(!f.feature_type.is_empty());
        }
    }
    assert!(total > 1000, "{total}");
    let none = read(&dir.join("F2CXE6.txt"));
    assert!(none[0].features.is_empty());
    assert_same_entries(&none, &read(&dir.join("F2CXE6.xml")), "F2CXE6");
}

#[test]
fn multi_entry_files_agree_across_flat_xml_gff_and_fasta() {
    let Some(dir) = shared("uniprot") else { return };
    let flat = read(&dir.join("multi_ex.txt"));
    let xml = read(&dir.join("multi_ex.xml"));
    assert_eq!(flat.len(), 8);
    assert_same_entries(&flat, &xml, "multi_ex");
    // Fuzzy positions survive in both.
    let q8 = flat.iter().find(|e| e.accession == "Q8NE62").unwrap();
    assert_eq!(q8.features[0].end, Position::unknown());
    let grn = flat.iter().find(|e| e.accession == "P28799").unwrap();
    let g1 = grn
        .features
        .iter()
        .find(|f| f.description.as_deref() == Some("Granulin-1"))
        .unwrap();
    assert_eq!(g1.start.modifier, Modifier::Uncertain);
    assert_eq!(g1.start.value, Some(58));

    // GFF3 has no modifiers and leaves out unknown positions: compare the rest.
    let gff = read(&dir.join("multi_ex.gff"));
    assert_eq!(gff.len(), 8);
    for (f_entry, g_entry) in flat.iter().zip(&gff) {
        assert_eq!(f_entry.accession, g_entry.accession);
        let known: Vec<&Feature> = f_entry
            .features
            .iter()
            .filter(|f| f.start.value.is_some() && f.end.value.is_some())
            .filter(|f| !is_variant(f))
            .collect();
        assert_eq!(known.len(), g_entry.features.len(), "{}", f_entry.accession);
        for (f, g) in known.iter().zip(&g_entry.features) {
            assert_eq!(f.feature_type, g.feature_type, "{}", f_entry.accession);
            assert_eq!((f.start.value, f.end.value), (g.start.value, g.end.value));
            assert_eq!(f.description, g.description, "{f:?} {g:?}");
            assert_eq!(f.status, g.status);
            assert_eq!(f.feature_id, g.feature_id);
        }
    }

    let fasta = read(&dir.join("multi_ex.fasta"));
    for (a, b) in flat.iter().zip(&fasta) {
        assert_eq!(a.accession, b.accession);
        assert_eq!(a.sequence, b.sequence, "{}", a.accession);
        assert_eq!(a.entry_name, b.entry_name);
    }
}

#[test]
fn masks_report_unknown_and_fuzzy_positions_on_real_entries() {
    let Some(dir) = shared("uniprot") else { return };
    let flat = read(&dir.join("multi_ex.txt"));
    let q8 = flat.iter().find(|e| e.accession == "Q8NE62").unwrap();
    let sel = FeatureSelection::with_types("Transit peptide,Chain").unwrap();
    let m = residue_mask(q8, &sel, None, &MaskOptions::default()).unwrap();
    assert_eq!(m.skipped.len(), 2);
    assert!(m
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::UnknownPosition));
    assert!(m.column("Chain").unwrap().iter().all(|&b| !b));
    // Disulfide bonds mark cysteines only.
    let dendro = flat.iter().find(|e| e.accession == "P00981").unwrap();
    let sel = FeatureSelection::with_types("Disulfide bond").unwrap();
    let m = residue_mask(dendro, &sel, None, &MaskOptions::default()).unwrap();
    let seq: Vec<char> = m.sequence.chars().collect();
    let marked: Vec<usize> = m
        .column("Disulfide bond")
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, &b)| b)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(marked.len(), 6);
    assert!(marked.iter().all(|&i| seq[i] == 'C'));
    // An isoform-like change in the model sequence is detected.
    let mut changed = dendro.sequence.clone().unwrap();
    changed.replace_range(30..31, "W");
    let e = residue_mask(dendro, &sel, Some(&changed), &MaskOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("P00981") && e.to_string().contains("residue 31"),
        "{e}"
    );

    let json = read(&dir.join("rest_search_results.json"));
    assert_eq!(json.len(), 8);
    let variants = json
        .iter()
        .flat_map(|e| &e.features)
        .filter(|f| f.feature_type == "Natural variant")
        .count();
    assert_eq!(variants, 6);
}

#[test]
fn provis_sites_load_as_masks() {
    let Some(dir) = shared("provis") else { return };
    let sets = read_sites(&dir.join("binding_sites_valid.jsonl")).unwrap();
    assert_eq!(sets.len(), 1418);
    let mut sites = 0;
    for set in &sets {
        let m = residue_mask(
            &set.to_entry("Binding site"),
            &FeatureSelection::all(),
            None,
            &MaskOptions::default(),
        )
        .unwrap();
        assert!(m.skipped.is_empty(), "{}", set.id);
        sites += m
            .column("Binding site")
            .map_or(0, |c| c.iter().filter(|&&b| b).count());
    }
    assert_eq!(sites, 17600);
}
