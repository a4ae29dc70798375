//! docs/cli.md, the command-line reference, is generated from the clap definitions so it cannot
//! drift from the binary. After changing a flag: `PROTSCOPE_UPDATE_DOCS=1 cargo test cli_docs`.

use std::path::Path;

#[test]
fn cli_reference_matches_the_clap_definitions() {
    let generated = clap_markdown::help_markdown::<protscope_cli::cli::Cli>();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    if std::env::var_os("PROTSCOPE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/cli.md is out of date with the command line: run \
         `PROTSCOPE_UPDATE_DOCS=1 cargo test cli_docs` and commit the result"
    );
}
