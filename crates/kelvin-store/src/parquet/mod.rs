//! Parquet export and import of store series in Kelvin's one Parquet layout, the layout
//! `kelvin-ingest` writes and reads too (its names and schema are `kelvin_model::layout`; the
//! description is the repository's `docs/format.md`, "Kelvin's Parquet layout"). What export
//! writes is documented on [`export_parquet`], what import accepts on [`import_parquet`].
//!
//! - `layout`: the schema export writes, and the check that finds the columns the store reads
//!   in a file on import (this version's, version 1's, other writers');
//! - `labels`: series labels as the flat JSON object of the `labels` column (`serde_json`);
//! - `export`: [`export_parquet`], [`ParquetOptions`], [`ExportSummary`];
//! - `limits`: [`ParquetLimits`] and the checks of a file's footer and pages, against them and
//!   the bytes really there, before the `parquet` crate decodes anything;
//! - `import`: [`import_parquet`] and its variants, [`ParquetImport`] with the rows it skipped;
//! - `table`: flat tables ([`FlatTable`]) written whole and replaced atomically
//!   ([`write_table_file`]), for the fleet layout's partitions.
//!
//! Only `import` and `limits` read outside bytes; `export` writes only what `layout` says.

mod export;
mod import;
mod labels;
mod layout;
mod limits;
mod table;

pub use export::{ExportSummary, ParquetOptions, export_parquet, export_parquet_file};
pub use import::{
    ParquetImport, SkipReason, SkippedRow, import_parquet, import_parquet_file,
    import_parquet_file_with, import_parquet_with,
};
pub use layout::{PARQUET_FORMAT, PARQUET_VERSION};
pub use limits::ParquetLimits;
pub use table::{Cells, FlatTable, TableColumn, write_table, write_table_file};

use crate::{StoreError, StoreErrorKind};

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidInput, reason)
}
