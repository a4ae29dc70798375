//! Reading inputs: FASTA records (plain or gzip-compressed).

pub mod fasta;

pub use fasta::{header_fields, read_fasta, spread_sample, FastaRecord};

use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Opens a file for buffered reading, transparently decompressing gzip (detected from the magic
/// bytes, not the extension).
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::new(decoder)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads a whole (possibly gzip-compressed) file into bytes.
pub fn read_all_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let mut reader = open_maybe_gzip(path)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}
