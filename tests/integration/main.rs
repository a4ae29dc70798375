//! All integration tests, linked into one test binary: each separate binary statically links
//! candle, polars and tokenizers again, which cost minutes of linking and gigabytes of disk.

mod common;

mod annotation_files;
mod antiberty_real;
mod attribution_methods;
mod bad_inputs;
mod cli;
mod cli_docs;
mod contact_prediction;
mod dssp;
mod heads;
mod ig_auto;
mod ig_parity;
mod layering;
mod layouts;
mod model_parity;
mod notebooks;
mod op_paths;
mod probe;
mod random_models;
mod real_models;
mod regions;
mod relevance_cli;
mod report;
mod schema;
mod scoring;
mod shards;
mod stats;
mod structure_files;
mod views;
