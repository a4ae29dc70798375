//! The notebooks' Rust code is compiled by CI: every `notebooks/*.ipynb` has a generated twin
//! `examples/notebook_<name>.rs` (its code cells in one `main`), which `cargo test` and
//! `cargo clippy --all-targets` build, and this test keeps each twin equal to its notebook. A
//! notebook calling a changed API therefore breaks the build instead of failing in Jupyter.
//! After editing a notebook: `PROTSCOPE_UPDATE_NOTEBOOK_EXAMPLES=1 cargo test notebooks`.

use std::path::Path;

/// The example program for a notebook: `:dep` lines dropped (the package's own dependencies
/// serve), a cell's final bare expression (which Jupyter displays) printed with `{:?}`, paths
/// relative to `notebooks/` made relative to the repository root.
fn example_from_notebook(notebook: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(notebook).unwrap()).unwrap();
    let mut body = Vec::new();
    for cell in json["cells"].as_array().expect("cells") {
        if cell["cell_type"] != "code" {
            continue;
        }
        let source: String = match &cell["source"] {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            other => other.as_str().unwrap_or_default().to_string(),
        };
        let mut lines: Vec<String> = source
            .lines()
            .filter(|l| !l.trim_start().starts_with(':'))
            .map(|l| format!("    {}", l.replace("\"../", "\"")))
            .collect();
        if let Some(last) = lines.last_mut() {
            let code = last.trim().to_string();
            if !code.ends_with(';') && !code.ends_with('}') && !code.is_empty() {
                *last = format!("    println!(\"{{:?}}\", {code});");
            }
        }
        if !lines.is_empty() {
            body.push(lines.join("\n"));
        }
    }
    let name = notebook.file_name().unwrap().to_string_lossy();
    format!(
        "//! Generated from notebooks/{name} by tests/integration/notebooks.rs; do not edit.\n\
         //! Run from the repository root: `cargo run --example {}`.\n\n\
         #![allow(unused_imports)] // `Show` renders cells in the notebook; here values print with Debug\n\n\
         #[rustfmt::skip] // kept line for line as in the notebook\n\
         fn main() {{\n{}\n}}\n",
        example_name(notebook),
        body.join("\n\n")
    )
}

fn example_name(notebook: &Path) -> String {
    format!(
        "notebook_{}",
        notebook.file_stem().unwrap().to_string_lossy()
    )
}

#[test]
fn notebook_examples_match_their_notebooks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("PROTSCOPE_UPDATE_NOTEBOOK_EXAMPLES").is_some();
    let mut notebooks: Vec<_> = std::fs::read_dir(root.join("notebooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    notebooks.sort();
    assert!(!notebooks.is_empty(), "no notebooks found");
    for notebook in notebooks {
        let expected = example_from_notebook(&notebook);
        let example = root
            .join("examples")
            .join(format!("{}.rs", example_name(&notebook)));
        if update {
            std::fs::create_dir_all(example.parent().unwrap()).unwrap();
            std::fs::write(&example, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&example).unwrap_or_default();
        assert!(
            actual == expected,
            "{} is out of date with {}: run PROTSCOPE_UPDATE_NOTEBOOK_EXAMPLES=1 cargo test notebooks",
            example.display(),
            notebook.display()
        );
    }
}
