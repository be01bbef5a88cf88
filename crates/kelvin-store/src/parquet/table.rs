//! Flat tables as Parquet files, each replaced atomically: the writer of the fleet layout's
//! partitions (`readings/site=…/date=…/part-0.parquet`, `bills/…`), whose rows the facade
//! builds. Columns are text, UTC nanosecond timestamps, doubles or 64-bit integers, each
//! nullable; the schema is the columns in order.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;

use super::export::io_err;
use super::invalid;
use crate::{ExportSummary, ParquetOptions, StoreError, StoreErrorKind};

/// One column's cells, `None` for a null.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// UTF-8 text.
    Text(Vec<Option<String>>),
    /// UTF-8 text as indices into a list of distinct values (`None` a null), for columns that
    /// repeat a few values over many rows: 4 bytes a row in memory instead of a string.
    /// Written like [`Cells::Text`]. An index past the list is refused.
    Dict(Vec<String>, Vec<Option<u32>>),
    /// Instants, nanoseconds since the Unix epoch, UTC (`TIMESTAMP(NANOS, true)`).
    TimestampNs(Vec<Option<i64>>),
    /// 64-bit floats.
    Float(Vec<Option<f64>>),
    /// 64-bit signed integers.
    Int(Vec<Option<i64>>),
}

impl Cells {
    fn len(&self) -> usize {
        match self {
            Cells::Text(v) => v.len(),
            Cells::Dict(_, v) => v.len(),
            Cells::TimestampNs(v) | Cells::Int(v) => v.len(),
            Cells::Float(v) => v.len(),
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    /// Its name: ASCII letters, digits and `_`, not starting with a digit.
    pub name: String,
    /// Its cells, one per row.
    pub cells: Cells,
}

/// A flat table: columns of one length, and key/value metadata for the file's footer (the
/// place for what a column's name cannot say, such as units).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlatTable {
    /// The schema's message name.
    pub name: String,
    /// The columns, in order.
    pub columns: Vec<TableColumn>,
    /// Footer metadata entries.
    pub metadata: Vec<(String, String)>,
}

impl FlatTable {
    /// Rows in the table (0 without columns).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.cells.len())
    }

    fn check(&self) -> Result<(), StoreError> {
        let ok_name = |n: &str| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ok_name(&self.name) {
            return Err(invalid(format!("table name {:?} is not a name", self.name)));
        }
        let rows = self.rows();
        for (i, c) in self.columns.iter().enumerate() {
            if !ok_name(&c.name) {
                return Err(invalid(format!("column {i}: {:?} is not a name", c.name)));
            }
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return Err(invalid(format!("column {:?} appears twice", c.name)));
            }
            if let Cells::Dict(values, keys) = &c.cells
                && let Some(k) = keys.iter().flatten().find(|k| **k as usize >= values.len())
            {
                return Err(invalid(format!(
                    "column {:?}: index {k} past its {} values",
                    c.name,
                    values.len()
                )));
            }
            if c.cells.len() != rows {
                return Err(invalid(format!(
                    "column {:?} has {} cells, the table {rows} rows",
                    c.name,
                    c.cells.len()
                )));
            }
        }
        Ok(())
    }

    /// The schema as a Parquet message (names are checked to be plain identifiers first).
    fn schema(&self) -> Result<Type, StoreError> {
        let fields: String = self
            .columns
            .iter()
            .map(|c| {
                let ty = match c.cells {
                    Cells::Text(_) | Cells::Dict(..) => "BYTE_ARRAY {} (STRING)",
                    Cells::TimestampNs(_) => "INT64 {} (TIMESTAMP(NANOS,true))",
                    Cells::Float(_) => "DOUBLE {}",
                    Cells::Int(_) => "INT64 {}",
                };
                format!("  OPTIONAL {};\n", ty.replace("{}", &c.name))
            })
            .collect();
        parse_message_type(&format!("message {} {{\n{fields}}}", self.name)).map_err(io_err)
    }
}

/// Writes `table` as Parquet to `out` (zstd at `opts`' level, row groups of
/// `opts.row_group_rows` rows, dictionary-encoded text, delta-encoded timestamps, doubles in
/// split byte streams).
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] for a name that is not one, a repeated column or columns
/// of different lengths; [`StoreErrorKind::Io`] when `out` fails.
pub fn write_table<W: Write + Send>(
    out: W,
    table: &FlatTable,
    opts: &ParquetOptions,
) -> Result<ExportSummary, StoreError> {
    table.check()?;
    if opts.row_group_rows == 0 {
        return Err(invalid("Parquet row groups must hold at least 1 row"));
    }
    let level = ZstdLevel::try_new(opts.zstd_level)
        .map_err(|e| invalid(format!("zstd level {}: {e}", opts.zstd_level)))?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(
            table
                .metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ));
    // Timestamps as deltas; doubles split into byte streams, which zstd compresses far better
    // than whole doubles (the fleet benchmark's simulated readings: 7.5 → 5.5 bytes a reading).
    for c in &table.columns {
        let encoding = match c.cells {
            Cells::TimestampNs(_) => Encoding::DELTA_BINARY_PACKED,
            Cells::Float(_) => Encoding::BYTE_STREAM_SPLIT,
            _ => continue,
        };
        props = props
            .set_column_dictionary_enabled(c.name.as_str().into(), false)
            .set_column_encoding(c.name.as_str().into(), encoding);
    }
    let mut w = SerializedFileWriter::new(out, Arc::new(table.schema()?), Arc::new(props.build()))
        .map_err(io_err)?;
    let rows = table.rows();
    let mut summary = ExportSummary::default();
    let mut start = 0;
    while start < rows {
        let end = (start + opts.row_group_rows).min(rows);
        let mut rg = w.next_row_group().map_err(io_err)?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(io_err)? {
            write_cells(&table.columns[col].cells, start, end, &mut c)?;
            c.close().map_err(io_err)?;
            col += 1;
        }
        rg.close().map_err(io_err)?;
        summary.row_groups += 1;
        summary.rows += (end - start) as u64;
        start = end;
    }
    w.close().map_err(io_err)?;
    Ok(summary)
}

/// Writes rows `start..end` of one column.
fn write_cells(
    cells: &Cells,
    start: usize,
    end: usize,
    c: &mut SerializedColumnWriter<'_>,
) -> Result<(), StoreError> {
    fn split<T: Clone>(v: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
        let defs = v.iter().map(|x| i16::from(x.is_some())).collect();
        (v.iter().flatten().cloned().collect(), defs)
    }
    match cells {
        Cells::Text(v) => {
            let (vals, defs) = split(&v[start..end]);
            let vals: Vec<ByteArray> = vals
                .into_iter()
                .map(|s| ByteArray::from(s.into_bytes()))
                .collect();
            c.typed::<ByteArrayType>()
                .write_batch(&vals, Some(&defs), None)
        }
        Cells::Dict(values, keys) => {
            let words: Vec<ByteArray> = values
                .iter()
                .map(|w| ByteArray::from(w.as_bytes().to_vec()))
                .collect();
            let (ks, defs) = split(&keys[start..end]);
            let vals: Vec<ByteArray> = ks.iter().map(|k| words[*k as usize].clone()).collect();
            c.typed::<ByteArrayType>()
                .write_batch(&vals, Some(&defs), None)
        }
        Cells::TimestampNs(v) | Cells::Int(v) => {
            let (vals, defs) = split(&v[start..end]);
            c.typed::<Int64Type>().write_batch(&vals, Some(&defs), None)
        }
        Cells::Float(v) => {
            let (vals, defs) = split(&v[start..end]);
            c.typed::<DoubleType>()
                .write_batch(&vals, Some(&defs), None)
        }
    }
    .map(drop)
    .map_err(io_err)
}

/// [`write_table`] to `path`, replacing what is there atomically: the table is written to a
/// hidden file beside it (`.NAME.tmp`, which Parquet readers skip), synced, renamed over
/// `path`, and the directory synced, so a reader sees the old file or the new one, never a
/// part, and a crash leaves the old one.
///
/// # Errors
/// As [`write_table`]; [`StoreErrorKind::Io`] names the path when it cannot be written.
///
/// ```
/// use kelvin_store::{Cells, FlatTable, ParquetOptions, TableColumn, write_table_file};
///
/// let table = FlatTable {
///     name: "bills".into(),
///     columns: vec![
///         TableColumn { name: "host".into(), cells: Cells::Text(vec![Some("h1".into()), None]) },
///         TableColumn { name: "energy_uj".into(), cells: Cells::Int(vec![Some(5), Some(7)]) },
///     ],
///     metadata: vec![("kelvin.table".into(), "bills".into())],
/// };
/// let dir = std::env::temp_dir().join(format!("kelvin-doc-table-{}", std::process::id()));
/// let path = dir.join("date=2026-12-07").join("part-0.parquet");
/// let summary = write_table_file(&path, &table, &ParquetOptions::default())?;
/// assert_eq!(summary.rows, 2);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn write_table_file(
    path: &Path,
    table: &FlatTable,
    opts: &ParquetOptions,
) -> Result<ExportSummary, StoreError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        StoreError::new(StoreErrorKind::Io, format!("{what} {}: {e}", p.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| invalid(format!("{} names no file", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let file = File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut summary = write_table(&mut buffered, table, opts)
        .map_err(|e| StoreError::new(e.kind(), format!("{}: {}", path.display(), e.reason())))?;
    let file = buffered
        .into_inner()
        .map_err(|e| io("writing", &tmp, e.into_error()))?;
    file.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    summary.bytes = file.metadata().map_err(|e| io("reading", &tmp, e))?.len();
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))?;
    Ok(summary)
}
