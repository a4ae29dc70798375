//! The `protscope` command line as a library target, so the benchmarks share the binary's
//! allocator and the CLI reference in `docs/cli.md` is generated from the same clap definitions.
//! Everything a command computes lives in the `protscope` library; this crate parses arguments,
//! shows progress and prints.

pub mod allocator;
pub mod cli;
