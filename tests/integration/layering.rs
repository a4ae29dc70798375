//! The library's layering rule (crates/protscope/src/lib.rs, ARCHITECTURE.md): a module uses
//! only the rooms listed before it. Checked on the source, comments left out, so a new
//! `use crate::report` in `model/` fails here instead of growing a cycle.

use std::path::{Path, PathBuf};

/// The rooms, lowest first; rooms on one line may not use each other either.
const ROOMS: &[&[&str]] = &[
    &["error", "device", "io", "frame"],
    &["model"],
    &["fetch"],
    &["annotation"],
    &["structure"],
    &["stats"],
    &["plot"],
    &["attention"],
    &["attribution"],
    &["probing"],
    &["view"],
    &["report"],
    &["notebook"],
    &["dev", "prelude"],
];

fn rank(room: &str) -> Option<usize> {
    ROOMS.iter().position(|r| r.contains(&room))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn library_modules_use_only_lower_rooms() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/protscope/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let room = first.trim_end_matches(".rs").to_string();
        if room == "lib" {
            continue;
        }
        let Some(own) = rank(&room) else {
            panic!(
                "{}: room `{room}` is not in the layering list",
                file.display()
            );
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                match rank(&used) {
                    Some(r) if used != room && r >= own => broken.push(format!(
                        "{}:{}: `{room}` uses `{used}`",
                        relative.display(),
                        n + 1
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}
