//! `protscope view`: the one-file page with the 3D and attention views, the B-factor copy, and
//! refusals. The pages' behaviour in a browser is `scripts/check-views.sh`'s.

use std::path::Path;

use super::common::{model_fixture, protscope};

fn structure() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/structures/antibodies/7b0b_HL.pdb")
        .display()
        .to_string()
}

#[test]
fn view_writes_one_page_with_both_views_and_a_b_factor_copy() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("view.html");
    let copy = dir.path().join("copy.pdb");
    let model = model_fixture("antiberty_tiny");
    let (ok, err) = protscope(&[
        "view",
        "--model",
        model.to_str().unwrap(),
        "--structure",
        &structure(),
        "--chain",
        "H",
        "--max-len",
        "64",
        "--min-attn",
        "0.05",
        "--bfactor",
        "attention",
        "--bfactor-out",
        copy.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("class=\"ps-view ps-structure-view\"").count(),
        1
    );
    assert_eq!(
        html.matches("class=\"ps-view ps-attention-view\"").count(),
        1
    );
    assert_eq!(
        html.matches("3Dmol.js 2.5.5, BSD-3-Clause").count(),
        1,
        "once"
    );
    assert!(
        html.contains("62 of 62 residues"), // the tiny model reads 62 residues
        "placed as contacts places them"
    );
    // Outside the vendored library the page holds no address.
    let start = html.find("/*! 3Dmol.js").unwrap();
    let end = start + html[start..].find("</script>").unwrap();
    assert!(!html[..start].contains("http") && !html[end..].contains("http"));
    // The copy: chain H's atoms carry the attention they receive, chain L's 0.
    let text = std::fs::read_to_string(&copy).unwrap();
    let b = |chain: char| -> Vec<f64> {
        text.lines()
            .filter(|l| l.starts_with("ATOM") && l.chars().nth(21) == Some(chain))
            .map(|l| l[60..66].trim().parse().unwrap())
            .collect()
    };
    let (heavy, light) = (b('H'), b('L'));
    assert!(!heavy.is_empty() && heavy.iter().any(|&v| v > 0.0));
    assert!(!light.is_empty() && light.iter().all(|&v| v == 0.0));
}

#[test]
fn view_refuses_another_protein_and_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = dir.path().join("other.fasta");
    std::fs::write(&fasta, ">other\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQAGVWPAACRESVPALL\n").unwrap();
    let model = model_fixture("antiberty_tiny");
    let page = dir.path().join("v.html");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "view",
            "--model",
            model.to_str().unwrap(),
            "--max-len",
            "64",
            "--out",
            page.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        protscope(&args)
    };
    let s = structure();
    let (ok, err) = run(&[
        "--structure",
        &s,
        "--chain",
        "H",
        "--fasta",
        fasta.to_str().unwrap(),
    ]);
    assert!(
        !ok && (err.contains("do not match the sequence") || err.contains("chain H")),
        "{err}"
    );
    let (ok, err) = run(&["--structure", &s, "--chain", "Z"]);
    assert!(!ok && err.contains("`Z`"), "{err}");
    let (ok, err) = run(&[]);
    assert!(!ok && err.contains("--structure, --fasta"), "{err}");
    let (ok, err) = run(&["--structure", &s, "--chain", "H", "--bfactor-out", "x.txt"]);
    assert!(!ok && err.contains(".pdb"), "{err}");
    assert!(!page.exists(), "no page after a refusal");
}
