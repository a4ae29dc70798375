//! Polars helpers: building frames, writing parquet/CSV atomically, joins.
