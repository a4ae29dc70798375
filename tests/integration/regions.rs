//! IMGT regions against ANARCI (`tests/fixtures/imgt/anarci_imgt.tsv`, made by
//! `scripts/make_imgt_fixtures.py`), and `protscope regions` end to end.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::fixtures;
use protscope::annotation::antibody::{number_imgt, AntibodyNumbering, ChainType, RegionKind};
use protscope::frame::read_table;

/// One fixture row: ANARCI's chain type ("none" when it found no domain) and region bounds.
struct Reference {
    id: String,
    chain: String,
    sequence: String,
    /// ANARCI's IMGT number of each residue ("111A"), "." where it numbers none.
    numbers: Vec<String>,
    bounds: BTreeMap<&'static str, Option<(usize, usize)>>,
}

const REGION_COLUMNS: [&str; 7] = ["fr1", "cdr1", "fr2", "cdr2", "fr3", "cdr3", "fr4"];

fn references() -> Vec<Reference> {
    let path = fixtures().join("imgt").join("anarci_imgt.tsv");
    let text = std::fs::read_to_string(&path).expect("IMGT fixture");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let bounds = REGION_COLUMNS
                .iter()
                .map(|&r| {
                    let start = cells[col(&format!("{r}_start"))];
                    let end = cells[col(&format!("{r}_end"))];
                    let value =
                        (!start.is_empty()).then(|| (start.parse().unwrap(), end.parse().unwrap()));
                    (r, value)
                })
                .collect();
            Reference {
                id: cells[col("id")].to_string(),
                chain: cells[col("chain")].to_string(),
                sequence: cells[col("sequence")].to_string(),
                numbers: {
                    // The fixture lists the numbers from residue `imgt_from` on; "." elsewhere.
                    let length = cells[col("sequence")].len();
                    let mut numbers = vec![".".to_string(); length];
                    if let Ok(from) = cells[col("imgt_from")].parse::<usize>() {
                        for (i, n) in cells[col("imgt_numbers")].split(' ').enumerate() {
                            numbers[from - 1 + i] = n.to_string();
                        }
                    }
                    numbers
                },
                bounds,
            }
        })
        .collect()
}

fn ours(n: &AntibodyNumbering, kind: RegionKind) -> Option<(usize, usize)> {
    n.region(kind).map(|r| (r.start, r.end))
}

#[test]
fn regions_agree_with_anarci() {
    let refs = references();
    let mut per_chain: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut framework_same = 0usize;
    let mut antibodies = 0usize;
    let mut numbered_non_antibodies = Vec::new();
    let mut lowest_antibody_score = f32::INFINITY;
    let mut highest_other_score = f32::NEG_INFINITY;
    let mut framework_differences = Vec::new();
    // Per-residue IMGT numbers: residues numbered by either tool, and those numbered alike.
    let (mut residues_compared, mut residues_same) = (0usize, 0usize);
    let mut chains_numbered_alike = 0usize;
    let mut numbering_differences = Vec::new();
    for r in &refs {
        let result = number_imgt(&r.id, &r.sequence);
        if !matches!(r.chain.as_str(), "H" | "K" | "L") {
            // ANARCI finds no antibody domain (or a T-cell receptor one): it must be skipped.
            match result {
                Ok(n) => numbered_non_antibodies.push(format!(
                    "{} (ANARCI: {}) numbered as {} with score {:.0}",
                    r.id, r.chain, n.chain, n.score
                )),
                Err(e) => {
                    highest_other_score = highest_other_score.max(e.best_score.unwrap_or(0.0))
                }
            }
            continue;
        }
        antibodies += 1;
        let entry = per_chain.entry(r.chain.clone()).or_default();
        entry.1 += 1;
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                disagreements.push(format!("{} (ANARCI {}): skipped: {e}", r.id, r.chain));
                continue;
            }
        };
        lowest_antibody_score = lowest_antibody_score.min(n.score);
        let mut problems = Vec::new();
        let chain = match n.chain {
            ChainType::Heavy => "H",
            ChainType::Kappa => "K",
            ChainType::Lambda => "L",
        };
        if chain != r.chain {
            problems.push(format!("chain {chain}"));
        }
        // CDR3 is complete only with FR4 after it; ANARCI numbers the few residues a germline
        // V-REGION has past 104 as a partial CDR3, where we give none.
        let anarci_cdr3 = r.bounds["fr4"].and(r.bounds["cdr3"]);
        for (kind, name, reference) in [
            (RegionKind::Cdr1, "CDR1", r.bounds["cdr1"]),
            (RegionKind::Cdr2, "CDR2", r.bounds["cdr2"]),
            (RegionKind::Cdr3, "CDR3", anarci_cdr3),
        ] {
            let mine = ours(&n, kind);
            if mine != reference {
                let show = |b: Option<(usize, usize)>| {
                    b.map_or("absent".to_string(), |(s, e)| {
                        format!("{s}-{e} {}", &r.sequence[s - 1..e])
                    })
                };
                problems.push(format!(
                    "{name}: ours {} vs ANARCI {}",
                    show(mine),
                    show(reference)
                ));
            }
        }
        let frameworks = [
            (RegionKind::Fr1, "fr1"),
            (RegionKind::Fr2, "fr2"),
            (RegionKind::Fr3, "fr3"),
            (RegionKind::Fr4, "fr4"),
        ];
        let mut mine = vec![".".to_string(); r.sequence.len()];
        for residue in &n.residues {
            mine[residue.index - 1] = residue.position.to_string();
        }
        assert_eq!(r.numbers.len(), mine.len(), "{}", r.id);
        // A germline V-REGION's last residues (past IMGT 104, no FR4): IMGT numbers them 105,
        // 106, … in order, ANARCI as the two ends of a complete short CDR3 (105, 106, …, 116,
        // 117) and leaves the rest unnumbered; those residues are not compared.
        let incomplete_cdr3 = r.bounds["fr4"].is_none();
        let past_104 = |n: &str| {
            n.trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .parse::<u32>()
                .is_ok_and(|v| v > 104)
        };
        let compared_pairs: Vec<(usize, &String, &String)> = mine
            .iter()
            .zip(&r.numbers)
            .enumerate()
            .filter(|(_, (a, b))| *a != "." || *b != ".")
            .filter(|(_, (a, b))| !(incomplete_cdr3 && (past_104(a) || past_104(b))))
            .map(|(i, (a, b))| (i, a, b))
            .collect();
        let differ: Vec<String> = compared_pairs
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(i, a, b)| format!("{}{} ours {a} ANARCI {b}", &r.sequence[*i..=*i], i + 1))
            .collect();
        let compared = compared_pairs.len();
        residues_compared += compared;
        residues_same += compared - differ.len();
        if differ.is_empty() {
            chains_numbered_alike += 1;
        } else {
            numbering_differences.push(format!("{}: {}", r.id, differ.join(", ")));
        }
        let differing: Vec<String> = frameworks
            .iter()
            .filter(|&&(kind, name)| ours(&n, kind) != r.bounds[name])
            .map(|&(kind, name)| {
                format!(
                    "{name} ours {:?} ANARCI {:?}",
                    ours(&n, kind),
                    r.bounds[name]
                )
            })
            .collect();
        if differing.is_empty() {
            framework_same += 1;
        } else {
            framework_differences.push(format!("{}: {}", r.id, differing.join(", ")));
        }
        if problems.is_empty() {
            entry.0 += 1;
        } else {
            disagreements.push(format!(
                "{} (ANARCI {}): {}",
                r.id,
                r.chain,
                problems.join("; ")
            ));
        }
    }
    let identical: usize = per_chain.values().map(|v| v.0).sum();
    let percent = 100.0 * identical as f64 / antibodies as f64;
    println!("IMGT CDR boundaries identical to ANARCI: {identical}/{antibodies} ({percent:.1} %)");
    for (chain, (same, total)) in &per_chain {
        println!("  chain {chain}: {same}/{total}");
    }
    println!(
        "  all four frameworks identical too: {framework_same}/{antibodies}; lowest antibody \
         score {lowest_antibody_score:.0}; non-antibodies: {}, highest score {highest_other_score:.0}",
        refs.len() - antibodies
    );
    let residue_percent = 100.0 * residues_same as f64 / residues_compared as f64;
    println!(
        "  IMGT number of every residue identical: {chains_numbered_alike}/{antibodies} chains; \
         {residues_same}/{residues_compared} residues ({residue_percent:.2} %)"
    );
    for d in &numbering_differences {
        println!("  numbering differs: {d}");
    }
    for d in &framework_differences {
        println!("  framework bounds differ (not required): {d}");
    }
    for d in &disagreements {
        println!("  disagreement: {d}");
    }
    assert!(antibodies >= 150, "fixture has {antibodies} antibodies");
    assert!(
        numbered_non_antibodies.is_empty(),
        "non-antibodies numbered: {numbered_non_antibodies:#?}"
    );
    assert!(percent >= 95.0, "only {percent:.1} % identical");
    assert!(
        residue_percent >= 99.0,
        "IMGT numbers of only {residue_percent:.2} % of residues identical"
    );
}

#[test]
fn regions_cli_writes_the_feature_table_and_reports_skipped_records() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = dir.path().join("abs.fasta");
    // Adalimumab VH with an N-terminal His-tag, and hen lysozyme (not an antibody).
    let vh = "MGSSHHHHHHSSGEVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLYLQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS";
    let lysozyme = "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL";
    std::fs::write(
        &fasta,
        format!(">adalimumab_vh tagged\n{vh}\n>lysozyme\n{lysozyme}\n"),
    )
    .unwrap();
    let out = dir.path().join("regions.csv");
    let positions = dir.path().join("positions.parquet");
    let run = Command::new(env!("CARGO_BIN_EXE_protscope"))
        .args(["regions", "--fasta"])
        .arg(&fasta)
        .arg("--out")
        .arg(&out)
        .arg("--positions")
        .arg(&positions)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped: lysozyme: not an antibody variable domain"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2 records numbered"), "{stderr}");
    let df = read_table(&out).unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        &names[..7],
        [
            "accession",
            "type",
            "start",
            "end",
            "start_modifier",
            "end_modifier",
            "description"
        ]
    );
    assert_eq!(df.height(), 7);
    let text = |c: &str| -> Vec<String> {
        df.column(c)
            .unwrap()
            .as_materialized_series()
            .iter()
            .map(|v| v.to_string().trim_matches('"').to_string())
            .collect()
    };
    assert!(text("accession").iter().all(|a| a == "adalimumab_vh"));
    assert!(text("type").iter().all(|t| t == "Region"));
    assert_eq!(
        text("description"),
        ["FR1", "CDR-H1", "FR2", "CDR-H2", "FR3", "CDR-H3", "FR4"]
    );
    // CDR-H1 GFTFDDYA: residues 26-33 of the antibody, 39-46 with the 13-residue tag.
    assert_eq!(text("start")[1], "39");
    assert_eq!(text("end")[1], "46");
    assert_eq!(text("start")[0], "14");
    assert_eq!(text("end")[6], vh.len().to_string());
    // Per-residue numbering: the domain's residues only (not the tag, not lysozyme).
    let numbering = read_table(&positions).unwrap();
    assert_eq!(numbering.height(), vh.len() - 13);
    let imgt = numbering.column("imgt").unwrap().str().unwrap();
    assert_eq!(imgt.get(0), Some("1"));
}
