//! Reading the library's tables column by column, whatever integer or float width a column was
//! written with (parquet keeps i64/u32/f32; CSV reads back i64/f64), with errors that name the
//! table and the column.

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
