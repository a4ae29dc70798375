//! DSSP secondary structure against mkdssp 4.2.2 (tests/fixtures/dssp, made by
//! scripts/make_dssp_fixtures.sh): exactly on the committed structures, and per residue over the
//! shared structures (../shared/data/structures) when they are there. The `secondary-structure`
//! command end to end.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common;
use protscope::frame::read_table;
use protscope::structure::dssp::{assign_model, Dssp8};
use protscope::structure::read_structure;

/// (chain, author number, insertion code) → mkdssp's state.
type Reference = BTreeMap<(String, isize, Option<String>), Dssp8>;

/// The reference TSV (gzip allowed): file → its residues' states.
fn read_reference(path: &Path) -> BTreeMap<String, Reference> {
    let bytes = protscope::io::read_all_maybe_gzip(path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let mut out: BTreeMap<String, Reference> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, chain, number, icode, state] = fields[..] else {
            panic!("{}: bad line {line:?}", path.display());
        };
        let icode = (icode != "-").then(|| icode.to_string());
        let state = Dssp8::from_letter(state.chars().next().unwrap()).unwrap();
        out.entry(file.to_string())
            .or_default()
            .insert((chain.to_string(), number.parse().unwrap(), icode), state);
    }
    out
}

/// Residue counts of one comparison.
#[derive(Debug, Default, Clone, Copy)]
struct Agreement {
    /// Residues mkdssp assigns.
    residues: usize,
    same8: usize,
    same3: usize,
    /// Residues mkdssp assigns that protscope does not.
    unassigned: usize,
    /// Residues protscope assigns that mkdssp does not.
    extra: usize,
}

impl Agreement {
    fn add(&mut self, other: Agreement) {
        self.residues += other.residues;
        self.same8 += other.same8;
        self.same3 += other.same3;
        self.unassigned += other.unassigned;
        self.extra += other.extra;
    }

    fn percent(count: usize, of: usize) -> f64 {
        100.0 * count as f64 / of.max(1) as f64
    }

    fn line(&self) -> String {
        format!(
            "{} residues: 3-state {:.2} %, 8-state {:.2} % identical ({} not assigned, {} \
             assigned only here)",
            self.residues,
            Self::percent(self.same3, self.residues),
            Self::percent(self.same8, self.residues),
            self.unassigned,
            self.extra
        )
    }
}

/// protscope's assignment of `path` against mkdssp's; the differing residues as text.
fn compare(path: &Path, reference: &Reference) -> (Agreement, Vec<String>) {
    let structure = read_structure(path).unwrap();
    let ours: HashMap<(String, isize, Option<String>), Dssp8> = assign_model(&structure)
        .unwrap()
        .into_iter()
        .map(|r| ((r.chain, r.number, r.insertion_code), r.dssp8))
        .collect();
    let mut agreement = Agreement {
        residues: reference.len(),
        ..Agreement::default()
    };
    let mut differences = Vec::new();
    for (key, &expected) in reference {
        let Some(&found) = ours.get(key) else {
            agreement.unassigned += 1;
            differences.push(format!(
                "{key:?}: mkdssp {}, not assigned",
                expected.letter()
            ));
            continue;
        };
        agreement.same8 += usize::from(found == expected);
        agreement.same3 += usize::from(found.three_state() == expected.three_state());
        if found != expected {
            differences.push(format!(
                "{key:?}: mkdssp {}, protscope {}",
                expected.letter(),
                found.letter()
            ));
        }
    }
    agreement.extra = ours.keys().filter(|k| !reference.contains_key(*k)).count();
    (agreement, differences)
}

#[test]
fn committed_structures_match_mkdssp_exactly() {
    let dir = common::fixtures().join("dssp");
    for name in ["1cbs", "2BEG_AB_trimmed"] {
        let reference = read_reference(&dir.join(format!("{name}.tsv")));
        let (file, residues) = reference.iter().next().unwrap();
        let (agreement, differences) = compare(&dir.join("structures").join(file), residues);
        eprintln!("{name}: {}", agreement.line());
        assert!(
            differences.is_empty() && agreement.extra == 0,
            "{name}: {}\n{}",
            agreement.line(),
            differences.join("\n")
        );
    }
}

#[test]
fn shared_structures_agree_with_mkdssp() {
    let Some(structures) = common::shared("structures") else {
        return;
    };
    let reference = read_reference(&common::fixture_file("dssp", "mkdssp_shared.tsv.gz"));
    let mut sets: BTreeMap<&str, (Agreement, usize, f64)> = BTreeMap::new();
    let mut differences = Vec::new();
    let started = Instant::now();
    for (file, residues) in &reference {
        let file_started = Instant::now();
        let set = match file.split_once('/') {
            Some(("antibodies", _)) => "antibodies",
            Some(("monomers", _)) => "monomers",
            _ => "the 12 top-level files",
        };
        let (agreement, differ) = compare(&structures.join(file), residues);
        differences.extend(differ.into_iter().map(|d| format!("{file} {d}")));
        let entry = sets.entry(set).or_default();
        entry.0.add(agreement);
        entry.1 += 1;
        entry.2 += file_started.elapsed().as_secs_f64();
    }
    let elapsed = started.elapsed();
    let mut total = Agreement::default();
    for (set, (agreement, files, seconds)) in &sets {
        eprintln!(
            "{set} ({files} files, {seconds:.2} s to read and assign): {}",
            agreement.line()
        );
        total.add(*agreement);
    }
    eprintln!(
        "all ({} files, {:.1} s to read and assign): {}",
        reference.len(),
        elapsed.as_secs_f64(),
        total.line()
    );
    for d in differences.iter().take(40) {
        eprintln!("  {d}");
    }
    let three_state = Agreement::percent(total.same3, total.residues);
    assert!(
        three_state >= 97.0,
        "3-state agreement with mkdssp is {three_state:.2} %"
    );
}

fn protscope(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn secondary_structure_command_writes_the_table_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let structure = common::fixture_file("dssp", "structures/1cbs.cif.gz");
    let structure = structure.to_str().unwrap();
    let out = dir.path().join("ss.csv");
    let (ok, stderr) = protscope(&[
        "secondary-structure",
        "--structure",
        structure,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let table = read_table(&out).unwrap();
    let names: Vec<String> = table
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        ["protein", "position", "auth_seq", "icode", "residue", "dssp8", "dssp3"]
    );
    assert_eq!(table.height(), 137);
    let protein = table.column("protein").unwrap().str().unwrap().get(0);
    assert_eq!(protein, Some("1cbs.A"));
    // 1CBS has SEQRES 1-137 and every residue observed: positions are the author numbers.
    let integers = |name: &str| -> Vec<Option<i64>> {
        let column = table.column(name).unwrap();
        let column = column.cast(&polars::prelude::DataType::Int64).unwrap();
        column.i64().unwrap().iter().collect()
    };
    assert_eq!(integers("position"), integers("auth_seq"));
    let reference = read_reference(&common::fixture_file("dssp", "1cbs.tsv"));
    let expected: String = reference
        .values()
        .next()
        .unwrap()
        .values()
        .map(|s| s.letter())
        .collect();
    let found: String = table
        .column("dssp8")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(found, expected);

    let (ok, stderr) = protscope(&[
        "secondary-structure",
        "--structure",
        structure,
        "--chain",
        "Q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("1cbs.cif.gz") && stderr.contains("`Q`"),
        "{stderr}"
    );
    assert!(stderr.contains("--chain"), "{stderr}");
    let garbage = dir.path().join("garbage.pdb");
    std::fs::write(&garbage, "this is not a structure\n").unwrap();
    let (ok, stderr) = protscope(&[
        "secondary-structure",
        "--structure",
        garbage.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("garbage.pdb"), "{stderr}");
    // N and Cα only: residues, but none DSSP can assign.
    let ca_only = dir.path().join("ca_only.pdb");
    let lines: String = (1..=5)
        .flat_map(|i| [("N ", 3.8 * i as f64 - 1.4), ("CA", 3.8 * i as f64)].map(|(atom, x)| (i, atom, x)))
        .enumerate()
        .map(|(serial, (i, atom, x))| {
            format!(
                "ATOM  {:>5}  {atom}  ALA A{i:>4}    {x:>8.3}{:>8.3}{:>8.3}  1.00  0.00           {}\n",
                serial + 1,
                0.0,
                0.0,
                &atom[..1]
            )
        })
        .collect();
    std::fs::write(&ca_only, lines).unwrap();
    let (ok, stderr) = protscope(&[
        "secondary-structure",
        "--structure",
        ca_only.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("ca_only.pdb") && stderr.contains("backbone"),
        "{stderr}"
    );
}
