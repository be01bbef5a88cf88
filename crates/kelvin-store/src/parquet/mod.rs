//! Parquet export and import of store series: Kelvin's layout for series. The layout is
//! documented on [`export_parquet`], what import accepts on [`import_parquet`].
//!
//! - `layout`: the layout's columns and metadata keys, the schema export writes, and the check
//!   that matches a file's columns to the layout on import;
//! - `labels`: series labels as the flat JSON object of the `labels` column;
//! - `export`: [`export_parquet`], [`ParquetOptions`], [`ExportSummary`];
//! - `limits`: [`ParquetLimits`] and the checks of a file's footer and pages, against them and
//!   the bytes really there, before the `parquet` crate decodes anything;
//! - `import`: [`import_parquet`] and its variants, [`ParquetImport`] with the rows it skipped.
//!
//! Only `import` and `limits` read outside bytes; `export` writes only what `layout` says.

mod export;
mod import;
mod labels;
mod layout;
mod limits;

pub use export::{ExportSummary, ParquetOptions, export_parquet, export_parquet_file};
pub use import::{
    ParquetImport, SkipReason, SkippedRow, import_parquet, import_parquet_file,
    import_parquet_file_with, import_parquet_with,
};
pub use layout::{PARQUET_FORMAT, PARQUET_VERSION};
pub use limits::ParquetLimits;

use crate::{StoreError, StoreErrorKind};

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidInput, reason)
}
