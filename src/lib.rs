//! protscope: look inside protein language models.
//!
//! Load a PLM (BERT family: ProtBert, AntiBERTy; ESM-2) with candle, read its attention,
//! attribute its predictions with integrated gradients, join results with UniProt features and
//! structures in Polars frames, and test which heads track biology.

pub mod allocator;
pub mod annotation;
pub mod attention;
pub mod attribution;
pub mod cli;
pub mod dev;
pub mod device;
pub mod error;
pub mod frame;
pub mod io;
pub mod model;
pub mod notebook;
pub mod plot;
pub mod report;
pub mod stats;
pub mod structure;

pub use error::{Error, Result};
