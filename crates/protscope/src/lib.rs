//! protscope: look inside protein language models.
//!
//! Load a PLM (BERT family — ProtBert, AntiBERTy —, ESM-2, ALBERT, T5 encoders, XLNet, ESM C,
//! RoBERTa — Sapiens —, GPT-2 causal decoders — IgLM)
//! with candle, read its attention, attribute its predictions with integrated gradients, join
//! results with UniProt features and structures in Polars frames, and test which heads track
//! biology. Start with [`prelude`].
//!
//! The rooms, lowest first; a module uses only rooms above it in this list (the CI-checked
//! layering rule, see ARCHITECTURE.md):
//! - [`error`], [`device`], [`io`], [`frame`]: the error type, CPU/CUDA selection, FASTA and
//!   gzip input, tables on disk (Parquet, CSV) and shards;
//! - [`model`]: one file per architecture on one encoder core, tokenizers, weights, memory;
//! - [`fetch`]: preparing published models from their wheels (it converts checkpoints with
//!   [`model`]);
//! - [`annotation`], [`structure`]: UniProt features, binding sites, IMGT regions; PDB/mmCIF;
//! - [`stats`]: tests, correlations, multiple-testing corrections, relevance statistics;
//! - [`plot`]: figures (SVG and PNG from one drawing code);
//! - [`attention`]: maps, head statistics (BERTology), contacts from attention;
//! - [`attribution`]: integrated gradients at the embedding and inside every head, flipping;
//! - [`probing`]: per-layer linear probes of hidden states and attention (BERTology §5);
//! - [`view`]: interactive one-file HTML views: a structure in 3D with attention drawn on it,
//!   attention as lines between residues (head and model views);
//! - [`report`], [`notebook`]: HTML reports and the demo's pipeline; values shown in evcxr.
//!
//! The `protscope` command line (the workspace's root package) is a thin layer over these.

pub mod annotation;
pub mod attention;
pub mod attribution;
#[cfg(feature = "dev")]
pub mod dev;
pub mod device;
pub mod error;
pub mod fetch;
pub mod frame;
pub mod io;
pub mod model;
pub mod notebook;
pub mod plot;
pub mod prelude;
pub mod probing;
pub mod report;
pub mod stats;
pub mod structure;
pub mod view;

pub use error::{Error, Result};
