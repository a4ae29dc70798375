//! The names a notebook or a short program needs, in one `use`:
//!
//! ```no_run
//! use protscope::prelude::*;
//!
//! let model = ProteinModel::load(&fetch::fetch_antiberty(&fetch::default_cache_dir())?, &Device::Cpu)?;
//! let seq = model.encode_sequence("h1", "EVQLVESGGGLVQPGGSLRLSCAAS", None)?;
//! let maps = attention_maps(&model, &[seq])?;
//! let table = attention_frame(&maps[0], &AttentionFilter::default())?;
//! # Ok::<(), protscope::Error>(())
//! ```
//!
//! Loading (`ProteinModel`, `fetch`), reading attention (`attention_maps`, `attention_frame`),
//! attributing (`integrated_gradients`, `IgOptions`), annotations and structures
//! (`read_entries`, `residue_mask`, `read_structure`), tables (`read_table`, `write_table`,
//! `DataFrame`) and showing a value in a notebook (`Show`). Everything else lives in its module
//! (see the crate's front page for the rooms).

pub use crate::annotation::{
    read_entries, read_sites, residue_mask, FeatureSelection, MaskOptions,
};
pub use crate::attention::{attention_frame, attention_maps, AttentionFilter, AttentionMaps};
pub use crate::attribution::{integrated_gradients, Baseline, IgOptions, IgResult, Quadrature};
pub use crate::fetch;
pub use crate::frame::{read_table, write_table};
pub use crate::io::{read_fasta, FastaRecord};
pub use crate::model::{EncodedSequence, Level, ProteinModel};
pub use crate::notebook::Show;
pub use crate::structure::{read_structure, Structure};
pub use crate::{Error, Result};
pub use candle_core::Device;
pub use polars::prelude::DataFrame;
