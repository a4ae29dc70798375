//! Records the git commit a binary was built from (for report provenance), when built from a
//! checkout. Without git or outside a checkout nothing is set and reports say "unknown".

use std::path::Path;
use std::process::Command;

fn main() {
    // The library sits in crates/protscope of the workspace; the checkout's .git is two levels up.
    let git_dir = Path::new("../../.git");
    // Rebuild the commit stamp when HEAD moves (new commit, checkout); a worktree's `.git` is a
    // file pointing elsewhere, then the stamp refreshes with the next source change.
    if git_dir.is_dir() {
        println!("cargo:rerun-if-changed=../../.git/HEAD");
        println!("cargo:rerun-if-changed=../../.git/refs/heads");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 40);
    if let Some(commit) = commit {
        println!("cargo:rustc-env=PROTSCOPE_GIT_COMMIT={commit}");
    }
}
