//! `protscope demo` and `protscope report --from`: the whole pipeline on the tiny AntiBERTy-shaped
//! model (fast, every stage), then checks that the report is one self-contained file with every
//! section, a figure file per figure, and the same bytes when rebuilt from the run folder.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn protscope(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_protscope"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every `src=`, `href=` and `url(` target that is not local to the page.
fn external_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for key in ["src=\"", "href=\"", "src='", "href='", "url("] {
        for (i, _) in html.match_indices(key) {
            let target: String = html[i + key.len()..].chars().take(12).collect();
            let t = target.trim_start_matches(['"', '\'']).to_ascii_lowercase();
            if t.starts_with("http") || t.starts_with("//") || t.starts_with("ftp") {
                found.push(format!("{key}{target}"));
            }
        }
    }
    found
}

fn run_tiny_demo(out: &Path) -> String {
    let model = model_fixture("antiberty_tiny");
    let (ok, log) = protscope(&[
        "demo",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        "data/antibodies_171.fasta",
        "--limit",
        "10",
        "--steps",
        "4",
        "--max-len",
        "60",
        "--min-total",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "demo failed:\n{log}");
    log
}

#[test]
fn demo_report_is_self_contained_complete_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let log = run_tiny_demo(&out);
    assert!(
        assert_tables_conform(&out) >= 8,
        "the demo's tables follow their schemas"
    );
    let report = out.join("report.html");
    assert!(
        log.contains(report.to_str().unwrap()),
        "prints the report path:\n{log}"
    );
    let html = std::fs::read_to_string(&report).unwrap();

    assert_eq!(external_references(&html), Vec::<String>::new());
    // Outside the vendored molecular viewer (its licence and code) the page holds no address.
    let start = html
        .find("/*! 3Dmol.js")
        .expect("the interactive views inline 3Dmol.js");
    let end = start + html[start..].find("</script>").unwrap();
    assert!(
        !html[..start].contains("http") && !html[end..].contains("http"),
        "the page holds no address outside 3Dmol.js"
    );
    assert_eq!(html.matches("/*! 3Dmol.js").count(), 1, "the viewer once");
    // The views: the heavy chain in 3D on the CDR3 head, and its attention view.
    assert!(html.contains("ps-structure-view") && html.contains("ps-attention-view"));
    assert!(
        html.contains("7b0b_hl.H"),
        "the first structure's heavy chain"
    );
    for section in [
        "Provenance",
        "Contents",
        ">Predictions<",
        ">Annotations<",
        ">Attention<",
        ">Integrated gradients<",
        ">Relevance and annotations<",
        ">Attention maps<",
        ">Structure<",
        ">Interactive views<",
        ">Which explanation to trust<",
        ">Files<",
    ] {
        assert!(html.contains(section), "report lacks {section}");
    }
    // Provenance: weights hash, the input file and parameters.
    assert!(html.contains("sha256"), "weights and inputs are hashed");
    assert!(html.contains("antibodies_171.fasta"));
    assert!(html.contains("parameter ig.steps"));
    // The methods compared: curves, randomisation and a reading from the numbers.
    assert!(
        html.contains("methods_flip.parquet") && html.contains("methods_randomisation.parquet")
    );
    assert!(
        html.contains("Most faithful on this model") || html.contains("No method beats random"),
        "the methods section reads its numbers"
    );
    // Every figure is inline, has its data link, and was also written as SVG and PNG.
    // (The interactive views are figures of the page too, with no file.)
    let figures = html.matches("<figure ").count() - html.matches("<figure class=\"view\"").count();
    assert_eq!(
        html.matches("<figure class=\"view\"").count(),
        2,
        "the 3D and attention views"
    );
    assert!(figures >= 8, "only {figures} figures");
    assert!(html.matches("download=\"").count() >= figures);
    let files: Vec<_> = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let svgs = files
        .iter()
        .filter(|p| p.extension().unwrap() == "svg")
        .count();
    let pngs = files
        .iter()
        .filter(|p| p.extension().unwrap() == "png")
        .count();
    assert_eq!((svgs, pngs), (figures, figures));

    // Rebuilding from the run folder gives the same bytes, twice.
    let again = dir.path().join("again.html");
    let (ok, log) = protscope(&[
        "report",
        "--from",
        out.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(ok, "report failed:\n{log}");
    assert!(
        std::fs::read(&again).unwrap() == std::fs::read(&report).unwrap(),
        "report --from differs from the demo's report"
    );
    let (ok, _) = protscope(&[
        "report",
        "--from",
        out.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--timestamp",
    ]);
    assert!(ok);
    let stamped = std::fs::read_to_string(&again).unwrap();
    assert!(
        !stamped.contains("not recorded"),
        "--timestamp records the date"
    );

    // Repeating the whole run (same command, fresh folder) gives the same report and figures.
    let first = std::fs::read(&report).unwrap();
    let png = out.join("figures/relevance_embedding_significance.png");
    let first_png = std::fs::read(&png).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    run_tiny_demo(&out);
    assert!(
        std::fs::read(&report).unwrap() == first,
        "a repeated run differs"
    );
    assert!(
        std::fs::read(&png).unwrap() == first_png,
        "a repeated figure differs"
    );
}

#[test]
fn report_refuses_folders_without_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let (ok, log) = protscope(&[
        "report",
        "--from",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(log.contains("no .csv or .parquet table"), "{log}");
    let missing = dir.path().join("missing");
    let (ok, log) = protscope(&[
        "report",
        "--from",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(log.contains("not a folder"), "{log}");
    assert!(!out.exists());
}
