//! One error type for the library. Every variant says what went wrong, where (file, record,
//! tensor, position) and, where there is one, what to do about it.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
    },

    #[error("record `{record}`: {message}")]
    Sequence { record: String, message: String },

    #[error("invalid input: {0}")]
    Invalid(String),

    /// A setting of an options value (`IgOptions::steps`, `Tokenizer`'s `max_len`, …) that the
    /// library cannot use. `field` is the Rust field name; the CLI maps it to its flag.
    #[error("`{field}` = {value}: {message}")]
    Setting {
        field: &'static str,
        value: String,
        message: String,
    },

    /// The model has no prediction output of this name (a classifier head, `species`, …).
    #[error("the model has no prediction output `{name}`; it has: {available}")]
    UnknownOutput { name: String, available: String },

    /// A prediction output has no class of this name or index.
    #[error("output `{output}` has no class `{class}`; its classes: {available}")]
    UnknownClass {
        output: String,
        class: String,
        available: String,
    },

    /// A table lacks a column an analysis needs.
    #[error("{table}: no column `{column}` ({message})")]
    MissingColumn {
        table: String,
        column: String,
        message: String,
    },

    #[error("device: {0}")]
    Device(String),

    /// A figure could not be drawn or encoded (the drawing backend's or PNG encoder's message).
    #[error("plot: {0}")]
    Plot(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn tensor(
        path: impl Into<PathBuf>,
        tensor: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Tensor {
            path: path.into(),
            tensor: tensor.into(),
            message: message.into(),
        }
    }

    pub fn sequence(record: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Sequence {
            record: record.into(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    pub fn setting(
        field: &'static str,
        value: impl std::fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        Error::Setting {
            field,
            value: value.to_string(),
            message: message.into(),
        }
    }
}
