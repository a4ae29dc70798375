//! Polars helpers: writing and reading tables by extension (`.parquet`, `.csv`), atomically.

pub mod schema;
pub mod shard;

use crate::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// `<stem>.<what>.<ext>` beside `out`.
pub fn side_path(out: &Path, what: &str) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}.{what}.{ext}"))
}

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
    let mut tmp = temporary_beside(path)?;
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
    publish(tmp, path)
}

/// The rows of `frames` one after the other (all with the same columns); `None` for no frames.
pub fn stack_frames<'a>(
    frames: impl IntoIterator<Item = &'a DataFrame>,
) -> Result<Option<DataFrame>> {
    let mut frames = frames.into_iter();
    let Some(first) = frames.next() else {
        return Ok(None);
    };
    let mut all = first.clone();
    for frame in frames {
        all.vstack_mut(frame)?;
    }
    Ok(Some(all))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename (figures,
/// reports, any non-table output).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = temporary_beside(path)?;
    tmp.as_file_mut()
        .write_all(bytes)
        .and_then(|()| tmp.as_file_mut().sync_all())
        .map_err(|e| Error::io(path, e))?;
    publish(tmp, path)
}

/// A temporary file in `path`'s folder (created if missing), to be renamed onto `path`.
pub(crate) fn temporary_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tempfile::Builder::new()
        .prefix(".protscope-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Gives the finished temporary file ordinary permissions (temporary files are private) and
/// renames it onto `path`.
pub(crate) fn publish(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
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

enum SinkWriter {
    // Boxed: the parquet writer is several times larger than the CSV one.
    Parquet(Box<polars::io::parquet::write::BatchedWriter<std::fs::File>>),
    Csv(polars::io::csv::write::BatchedWriter<std::fs::File>),
}

/// A table written batch by batch (so long runs never hold every row in memory), into a
/// temporary file that is renamed onto `path` only by [`TableSink::finish`]. Dropping an
/// unfinished sink leaves `path` untouched.
pub struct TableSink {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
    writer: SinkWriter,
    schema: Schema,
    rows: usize,
}

impl TableSink {
    /// Opens a sink for tables shaped like `template` (its columns and dtypes; rows ignored).
    pub fn create(path: &Path, template: &DataFrame) -> Result<Self> {
        let format = TableFormat::from_path(path)?;
        let tmp = temporary_beside(path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(path, e))?;
        let schema = template.schema().as_ref().clone();
        let writer = match format {
            TableFormat::Parquet => SinkWriter::Parquet(Box::new(
                ParquetWriter::new(file)
                    .batched(&schema)
                    .map_err(|e| Error::file(path, format!("opening parquet writer: {e}")))?,
            )),
            TableFormat::Csv => SinkWriter::Csv(
                CsvWriter::new(file)
                    .include_header(true)
                    .batched(&schema)
                    .map_err(|e| Error::file(path, format!("opening CSV writer: {e}")))?,
            ),
        };
        Ok(TableSink {
            path: path.to_path_buf(),
            tmp,
            writer,
            schema,
            rows: 0,
        })
    }

    /// Appends rows; their columns must match the template's.
    pub fn write(&mut self, df: &mut DataFrame) -> Result<()> {
        if df.schema().as_ref() != &self.schema {
            return Err(Error::invalid(format!(
                "internal: batch columns {:?} differ from the table's {:?}",
                df.get_column_names(),
                self.schema.iter_names().collect::<Vec<_>>()
            )));
        }
        if df.height() == 0 {
            return Ok(());
        }
        df.rechunk_mut();
        let path = &self.path;
        match &mut self.writer {
            SinkWriter::Parquet(w) => w.write_batch(df),
            SinkWriter::Csv(w) => w.write_batch(df),
        }
        .map_err(|e| Error::file(path, format!("writing rows: {e}")))?;
        self.rows += df.height();
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Completes the file and moves it onto the output path.
    pub fn finish(self) -> Result<usize> {
        let TableSink {
            path,
            tmp,
            writer,
            rows,
            ..
        } = self;
        match writer {
            SinkWriter::Parquet(w) => {
                w.finish()
                    .map_err(|e| Error::file(&path, format!("finishing parquet: {e}")))?;
            }
            SinkWriter::Csv(mut w) => {
                w.finish()
                    .map_err(|e| Error::file(&path, format!("finishing CSV: {e}")))?;
            }
        }
        tmp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        publish(tmp, &path)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod sink_tests {
    use super::*;

    #[test]
    fn sink_writes_batches_and_renames_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["s.parquet", "s.csv"] {
            let path = dir.path().join(name);
            let template =
                df!("protein" => Vec::<String>::new(), "x" => Vec::<i64>::new()).unwrap();
            let mut sink = TableSink::create(&path, &template).unwrap();
            sink.write(&mut df!("protein" => ["a"], "x" => [1i64]).unwrap())
                .unwrap();
            assert!(!path.exists(), "output must appear only on finish");
            sink.write(&mut df!("protein" => ["b", "c"], "x" => [2i64, 3]).unwrap())
                .unwrap();
            assert_eq!(sink.finish().unwrap(), 3);
            assert_eq!(read_table(&path).unwrap().height(), 3);
        }
    }

    #[test]
    fn sink_rejects_mismatched_batches() {
        let dir = tempfile::tempdir().unwrap();
        let template = df!("x" => Vec::<i64>::new()).unwrap();
        let mut sink = TableSink::create(&dir.path().join("t.csv"), &template).unwrap();
        assert!(sink.write(&mut df!("y" => [1i64]).unwrap()).is_err());
    }
}

/// Reads a table whose columns must be those of `template` (CSV values are parsed with the
/// template's dtypes, so ids like `1` stay text).
pub fn read_table_like(path: &Path, template: &DataFrame) -> Result<DataFrame> {
    let df = match TableFormat::from_path(path)? {
        TableFormat::Parquet => read_table(path)?,
        TableFormat::Csv => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            CsvReadOptions::default()
                .with_has_header(true)
                .with_schema(Some(template.schema().clone()))
                .into_reader_with_file_handle(file)
                .finish()
                .map_err(|e| Error::file(path, format!("reading CSV: {e}")))?
        }
    };
    if df.schema() != template.schema() {
        return Err(Error::file(
            path,
            format!(
                "columns {:?} differ from the expected {:?}",
                df.get_column_names(),
                template.get_column_names()
            ),
        ));
    }
    Ok(df)
}

/// Reading the library's tables column by column, whatever integer or float width a column was
/// written with (parquet keeps i64/u32/f32; CSV reads back i64/f64), with errors that name the
/// table and the column. Used by the figures and the report.
pub mod columns {

    use crate::{Error, Result};
    use polars::prelude::*;

    fn column<'a>(df: &'a DataFrame, table: &str, name: &str) -> Result<&'a Column> {
        df.column(name).map_err(|_| {
            Error::invalid(format!(
                "{table} table has no `{name}` column (columns: {})",
                df.get_column_names()
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn cast(df: &DataFrame, table: &str, name: &str, to: &DataType) -> Result<Column> {
        let c = column(df, table, name)?;
        c.cast(to).map_err(|e| {
            Error::invalid(format!(
                "{table} table: column `{name}` ({}) is not {to}: {e}",
                c.dtype()
            ))
        })
    }

    /// A numeric column as f64; nulls and NaN become NaN.
    pub fn floats(df: &DataFrame, table: &str, name: &str) -> Result<Vec<f64>> {
        let c = cast(df, table, name, &DataType::Float64)?;
        Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    /// An integer column as i64; a null is an error naming the row.
    pub fn integers(df: &DataFrame, table: &str, name: &str) -> Result<Vec<i64>> {
        let c = cast(df, table, name, &DataType::Int64)?;
        c.i64()?
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.ok_or_else(|| {
                    Error::invalid(format!("{table} table: `{name}` is missing in row {row}"))
                })
            })
            .collect()
    }

    /// An integer column as i64 where missing values are allowed.
    pub fn optional_integers(df: &DataFrame, table: &str, name: &str) -> Result<Vec<Option<i64>>> {
        let c = cast(df, table, name, &DataType::Int64)?;
        Ok(c.i64()?.iter().collect())
    }

    /// A text column; nulls become None.
    pub fn strings(df: &DataFrame, table: &str, name: &str) -> Result<Vec<Option<String>>> {
        let c = cast(df, table, name, &DataType::String)?;
        Ok(c.str()?.iter().map(|v| v.map(str::to_string)).collect())
    }

    /// A boolean column; nulls become false.
    pub fn booleans(df: &DataFrame, table: &str, name: &str) -> Result<Vec<bool>> {
        let c = cast(df, table, name, &DataType::Boolean)?;
        Ok(c.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
    }

    /// A text column; nulls become empty strings.
    pub fn texts(df: &DataFrame, table: &str, name: &str) -> Result<Vec<String>> {
        Ok(strings(df, table, name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
}
