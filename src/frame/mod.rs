//! Polars helpers: writing and reading tables by extension (`.parquet`, `.csv`), atomically.

use crate::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// Table formats chosen from the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    Csv,
}

impl TableFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("parquet") => Ok(TableFormat::Parquet),
            Some("csv") => Ok(TableFormat::Csv),
            _ => Err(Error::file(
                path,
                "unknown table format: use a `.parquet` or `.csv` extension",
            )),
        }
    }
}

/// Writes `df` to `path` (format from the extension) through a temporary file in the same folder
/// and a rename, so a reader never sees a half-written table.
pub fn write_table(df: &mut DataFrame, path: &Path) -> Result<()> {
    let format = TableFormat::from_path(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".protscope-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    match format {
        TableFormat::Parquet => {
            ParquetWriter::new(tmp.as_file_mut())
                .finish(df)
                .map_err(|e| Error::file(path, format!("writing parquet: {e}")))?;
        }
        TableFormat::Csv => {
            CsvWriter::new(tmp.as_file_mut())
                .include_header(true)
                .finish(df)
                .map_err(|e| Error::file(path, format!("writing CSV: {e}")))?;
        }
    }
    tmp.as_file_mut()
        .sync_all()
        .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Reads a table written by [`write_table`] (or any parquet / headed CSV file).
pub fn read_table(path: &Path) -> Result<DataFrame> {
    let format = TableFormat::from_path(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = match format {
        TableFormat::Parquet => ParquetReader::new(file)
            .finish()
            .map_err(|e| Error::file(path, format!("reading parquet: {e}")))?,
        TableFormat::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .into_reader_with_file_handle(file)
            .finish()
            .map_err(|e| Error::file(path, format!("reading CSV: {e}")))?,
    };
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_parquet_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let mut df = df!("protein" => ["a", "b"], "weight" => [0.5f32, 0.25]).unwrap();
        for name in ["t.parquet", "t.csv"] {
            let path = dir.path().join(name);
            write_table(&mut df, &path).unwrap();
            let back = read_table(&path).unwrap();
            assert_eq!(back.height(), 2);
            assert_eq!(back.get_column_names().len(), 2);
        }
        assert!(write_table(&mut df, &dir.path().join("t.xlsx")).is_err());
    }
}
