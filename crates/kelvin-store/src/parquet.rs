//! Parquet export and import of store series. The layout is documented on [`export_parquet`],
//! what import accepts on [`import_parquet`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use kelvin_model::{EntityId, SensorKind, SensorName};
use parquet::basic::{
    Compression, ConvertedType, Encoding, LogicalType, Repetition, TimeUnit, Type as PhysicalType,
    ZstdLevel,
};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, FileReader, RowGroupReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescPtr, Type};

use kelvin_guard::ErrorKind as GuardErrorKind;
use kelvin_guard::parquet as guard;

use crate::input::Reader;
use crate::{Labels, SeriesData, SeriesKey, StoreError, StoreErrorKind};

/// The value of the `kelvin.format` key/value metadata entry of an export.
pub const PARQUET_FORMAT: &str = "kelvin-store-series";

/// The layout version written to the `kelvin.version` metadata entry; import refuses newer
/// versions with [`StoreErrorKind::Unsupported`].
pub const PARQUET_VERSION: u32 = 1;

const FORMAT_KEY: &str = "kelvin.format";
const VERSION_KEY: &str = "kelvin.version";

/// The columns of the layout, in the order they are written.
const COLUMNS: [&str; 6] = ["entity", "sensor", "kind", "labels", "ts", "value"];
const ENTITY: usize = 0;
const SENSOR: usize = 1;
const KIND: usize = 2;
const LABELS: usize = 3;
const TS: usize = 4;
const VALUE: usize = 5;

/// Rows decoded per column at a time while importing.
const READ_BATCH: usize = 8192;

/// How [`export_parquet`] writes a file.
///
/// ```
/// use kelvin_store::ParquetOptions;
///
/// let opts = ParquetOptions::default().with_zstd_level(9).with_row_group_rows(100_000);
/// assert_eq!((opts.zstd_level, opts.row_group_rows), (9, 100_000));
/// assert_eq!(ParquetOptions::default().row_group_rows, ParquetOptions::DEFAULT_ROW_GROUP_ROWS);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParquetOptions {
    /// ZSTD compression level, 1 (fast) to 22 (small); zstd's negative "fast" levels are
    /// accepted too. Default: [`ParquetOptions::DEFAULT_ZSTD_LEVEL`].
    pub zstd_level: i32,
    /// Rows per row group (the last one holds the rest); at least 1. Default:
    /// [`ParquetOptions::DEFAULT_ROW_GROUP_ROWS`].
    pub row_group_rows: usize,
}

impl ParquetOptions {
    /// Default [`ParquetOptions::zstd_level`]: 3, zstd's own default.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
    /// Default [`ParquetOptions::row_group_rows`]: 2^20 = 1,048,576 rows.
    pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

    /// Sets [`ParquetOptions::zstd_level`].
    pub fn with_zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }

    /// Sets [`ParquetOptions::row_group_rows`].
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows;
        self
    }
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            zstd_level: Self::DEFAULT_ZSTD_LEVEL,
            row_group_rows: Self::DEFAULT_ROW_GROUP_ROWS,
        }
    }
}

/// What [`export_parquet`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Series written (those with at least one sample).
    pub series: usize,
    /// Series given without any sample: a long layout has no row to hold them, so they are not
    /// in the file (counted here so that they are not lost silently).
    pub empty_series: usize,
    /// Rows (samples) written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
    /// Bytes written to the sink, the whole file.
    pub bytes: u64,
}

impl ExportSummary {
    /// File bytes per sample (NaN for a file without rows).
    pub fn bytes_per_sample(&self) -> f64 {
        if self.rows == 0 {
            return f64::NAN;
        }
        self.bytes as f64 / self.rows as f64
    }
}

/// Why [`import_parquet`] skipped a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The `value` column is null in this row.
    NullValue,
    /// The `ts` column is null in this row.
    NullTimestamp,
}

/// A row that [`import_parquet`] read but could not turn into a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SkippedRow {
    /// The row's number in the file, from 0, counting across row groups.
    pub row: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// What [`import_parquet`] read: the series and the rows it could not use.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParquetImport {
    /// One entry per series key, sorted by key; each series sorted by time (stably).
    pub series: Vec<SeriesData>,
    /// Rows in the file.
    pub rows: u64,
    /// Rows skipped because `value` or `ts` was null.
    pub skipped: u64,
    /// The first [`ParquetImport::MAX_REPORTED_SKIPS`] skipped rows, in file order.
    pub first_skipped: Vec<SkippedRow>,
}

impl ParquetImport {
    /// How many skipped rows [`ParquetImport::first_skipped`] lists at most.
    pub const MAX_REPORTED_SKIPS: usize = 1000;

    /// The series, or an [`StoreErrorKind::InvalidInput`] error naming the first skipped rows
    /// when any row was skipped.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when [`ParquetImport::skipped`] is not zero.
    pub fn into_complete(self) -> Result<Vec<SeriesData>, StoreError> {
        if self.skipped == 0 {
            return Ok(self.series);
        }
        let mut rows = String::new();
        for (i, s) in self.first_skipped.iter().take(10).enumerate() {
            let why = match s.reason {
                SkipReason::NullValue => "null value",
                SkipReason::NullTimestamp => "null ts",
            };
            let sep = if i > 0 { ", " } else { "" };
            let _ = write!(rows, "{sep}row {} ({why})", s.row);
        }
        Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!(
                "{} of {} rows have no value or no timestamp: {rows}{}",
                self.skipped,
                self.rows,
                if self.skipped > 10 { ", …" } else { "" }
            ),
        ))
    }
}

/// The limits of a Parquet import ([`import_parquet_with`], [`import_parquet_file_with`];
/// [`import_parquet`] and [`import_parquet_file`] use the defaults), so that what a file
/// *announces* — rows, page and dictionary sizes, the footer's lists, the schema's nesting — is
/// checked before anything is allocated for it, and what it *holds* stays within a budget.
///
/// With the defaults, one import holds at most about 240 MiB besides the caller's input bytes:
/// the samples (16 bytes a row, up to twice that while their vectors grow: 128 MiB at
/// [`ParquetLimits::max_rows`]), one decompressed and one compressed page of each of the six
/// columns (48 MiB at [`ParquetLimits::max_page_bytes`]), their dictionaries (32 bytes a text
/// entry, 8 a number: 36 MiB at [`ParquetLimits::max_dictionary_values`]), the series and their
/// keys (about 35 MiB at [`ParquetLimits::max_series`] and [`ParquetLimits::max_key_bytes`])
/// and the decoded footer (about 20 times [`ParquetLimits::max_footer_bytes`] for a real
/// one; the `parquet` crate may reserve up to about 100 times it for a forged list before it
/// finds the list false, and that is freed before any row is read). Raise a limit to import
/// more; every error for a limit names it.
///
/// ```
/// use kelvin_store::ParquetLimits;
///
/// let limits = ParquetLimits::default().with_max_rows(100_000_000).with_max_series(1 << 20);
/// assert_eq!((limits.max_rows, limits.max_series), (100_000_000, 1 << 20));
/// assert_eq!(ParquetLimits::default().max_file_bytes, 1 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParquetLimits {
    /// The largest file, bytes (default 1 GiB). [`import_parquet_file_with`] checks it, and
    /// that the path is a regular file, before opening the file for reading.
    pub max_file_bytes: u64,
    /// The largest footer (the file's metadata), bytes (default 1 MiB; a footer of a
    /// thousand row groups of the layout takes about 300 KB).
    pub max_footer_bytes: u64,
    /// The most rows in the file, the sum over its row groups (default 2^22 = 4,194,304).
    pub max_rows: u64,
    /// The most distinct series (default 65,536).
    pub max_series: usize,
    /// The most bytes of distinct key text — entities, sensors, kinds and labels, each distinct
    /// value counted once (default 8 MiB).
    pub max_key_bytes: usize,
    /// The largest page, compressed or not, bytes (default 4 MiB; writers make pages of about
    /// 1 MiB).
    pub max_page_bytes: usize,
    /// The most values in one dictionary page (default 2^18 = 262,144; pyarrow's dictionary
    /// pages of at most 1 MiB hold fewer).
    pub max_dictionary_values: usize,
}

impl Default for ParquetLimits {
    fn default() -> Self {
        ParquetLimits {
            max_file_bytes: 1 << 30,
            max_footer_bytes: 1 << 20,
            max_rows: 1 << 22,
            max_series: 1 << 16,
            max_key_bytes: 8 << 20,
            max_page_bytes: 4 << 20,
            max_dictionary_values: 1 << 18,
        }
    }
}

impl ParquetLimits {
    /// Sets [`ParquetLimits::max_file_bytes`].
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_footer_bytes`].
    pub fn with_max_footer_bytes(mut self, bytes: u64) -> Self {
        self.max_footer_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_rows`].
    pub fn with_max_rows(mut self, rows: u64) -> Self {
        self.max_rows = rows;
        self
    }

    /// Sets [`ParquetLimits::max_series`].
    pub fn with_max_series(mut self, series: usize) -> Self {
        self.max_series = series;
        self
    }

    /// Sets [`ParquetLimits::max_key_bytes`].
    pub fn with_max_key_bytes(mut self, bytes: usize) -> Self {
        self.max_key_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_page_bytes`].
    pub fn with_max_page_bytes(mut self, bytes: usize) -> Self {
        self.max_page_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_dictionary_values`].
    pub fn with_max_dictionary_values(mut self, values: usize) -> Self {
        self.max_dictionary_values = values;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Export

fn io_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("writing Parquet: {e}"))
}

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidInput, reason)
}

/// A sink that counts what passes through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn schema() -> Result<Type, StoreError> {
    let text = |name: &str| {
        Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::String))
            .build()
    };
    let fields = vec![
        text("entity"),
        text("sensor"),
        text("kind"),
        text("labels"),
        Type::primitive_type_builder("ts", PhysicalType::INT64)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::NANOS)))
            .build(),
        Type::primitive_type_builder("value", PhysicalType::DOUBLE)
            .with_repetition(Repetition::REQUIRED)
            .build(),
    ];
    let fields = fields
        .into_iter()
        .map(|f| f.map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err)?;
    Type::group_type_builder("kelvin_store_series")
        .with_fields(fields)
        .build()
        .map_err(io_err)
}

/// One series' text columns, encoded once and shared by all its rows.
struct KeyText {
    entity: ByteArray,
    sensor: ByteArray,
    kind: ByteArray,
    labels: ByteArray,
}

/// Writes `series` to `out` in Kelvin's Parquet layout for series and returns what was
/// written.
///
/// The series may come in any order; they are written sorted by key. Each must have as many
/// values as timestamps, timestamps sorted (non-decreasing), and no key may repeat. Series
/// without samples have no rows and are only counted ([`ExportSummary::empty_series`]).
///
/// # Layout
///
/// Long form, one row per sample, sorted by series ([`SeriesKey`] order) and then by time:
///
/// ```text
/// message kelvin_store_series {
///   REQUIRED BYTE_ARRAY entity (STRING);        -- dictionary encoded
///   REQUIRED BYTE_ARRAY sensor (STRING);        -- dictionary encoded
///   REQUIRED BYTE_ARRAY kind (STRING);          -- SensorKind::as_str (`fan_speed`), dictionary
///   REQUIRED BYTE_ARRAY labels (STRING);        -- flat JSON object, or "" for no labels
///   REQUIRED INT64 ts (TIMESTAMP(NANOS,true));  -- DELTA_BINARY_PACKED
///   REQUIRED DOUBLE value;                      -- BYTE_STREAM_SPLIT, bit-exact (NaN, ±inf, −0.0)
/// }
/// ```
///
/// Every column chunk is ZSTD compressed ([`ParquetOptions::zstd_level`]), with chunk and page
/// statistics (the `parquet` crate files DOUBLE minima and maxima under the IEEE 754 total
/// order, which pyarrow 26 does not use yet); row groups hold
/// [`ParquetOptions::row_group_rows`] rows (the last one fewer).
/// The file's key/value metadata carries `kelvin.format = "kelvin-store-series"` and
/// `kelvin.version = "1"`.
///
/// **Labels** are a JSON object of string values with the names sorted and no whitespace
/// (`{"phase":"L1","zone":"b"}`, what Python's
/// `json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes), and the
/// empty string when a series has none. A plain string column reads the same way in pyarrow,
/// Polars, DuckDB and Spark and is written just as easily by them, while a Parquet `MAP` is
/// not: Polars has no map type (it reads one as a list of structs and writes that back as a
/// `LIST`, not a `MAP`). Dictionary encoding makes the repeated text cost next to nothing.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] for invalid options (row groups of 0 rows, a zstd level
/// out of range) or series (lengths differ, unsorted timestamps, a repeated key), before
/// anything is written; [`StoreErrorKind::Io`] when the sink fails.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{Labels, ParquetOptions, SeriesData, SeriesKey, export_parquet, import_parquet};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power)
///     .with_labels(Labels::from_pairs([("phase", "L1")]));
/// let psu = SeriesData { key, ts: vec![0, 15_000_000_000], values: vec![230.5, f64::NAN] };
///
/// let mut file = Vec::new();
/// let summary = export_parquet(&mut file, [&psu], &ParquetOptions::default())?;
/// assert_eq!((summary.series, summary.rows, summary.row_groups), (1, 2, 1));
///
/// let back = import_parquet(file, "psu.parquet")?.into_complete()?;
/// assert_eq!(back.len(), 1);
/// assert_eq!(back[0].key, psu.key);
/// assert_eq!(back[0].ts, psu.ts);
/// assert_eq!(back[0].values[1].to_bits(), f64::NAN.to_bits());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_parquet<'a, W: Write + Send>(
    out: W,
    series: impl IntoIterator<Item = &'a SeriesData>,
    opts: &ParquetOptions,
) -> Result<ExportSummary, StoreError> {
    if opts.row_group_rows == 0 {
        return Err(invalid("Parquet row groups must hold at least 1 row"));
    }
    let level = ZstdLevel::try_new(opts.zstd_level)
        .map_err(|e| invalid(format!("zstd level {}: {e}", opts.zstd_level)))?;

    let mut all: Vec<&SeriesData> = series.into_iter().collect();
    for s in &all {
        if s.ts.len() != s.values.len() {
            return Err(invalid(format!(
                "series {}: {} timestamps but {} values",
                s.key,
                s.ts.len(),
                s.values.len()
            )));
        }
        if let Some(i) = s.ts.windows(2).position(|w| w[0] > w[1]) {
            return Err(invalid(format!(
                "series {}: timestamps not sorted at index {} ({} > {})",
                s.key,
                i + 1,
                s.ts[i],
                s.ts[i + 1]
            )));
        }
    }
    all.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(w) = all.windows(2).find(|w| w[0].key == w[1].key) {
        return Err(invalid(format!("series {} given twice", w[0].key)));
    }
    let empty_series = all.iter().filter(|s| s.ts.is_empty()).count();
    all.retain(|s| !s.ts.is_empty());

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled("ts".into(), false)
        .set_column_encoding("ts".into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled("value".into(), false)
        .set_column_encoding("value".into(), Encoding::BYTE_STREAM_SPLIT)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(FORMAT_KEY.into(), PARQUET_FORMAT.to_string()),
            KeyValue::new(VERSION_KEY.into(), PARQUET_VERSION.to_string()),
        ]))
        .build();
    let sink = Counting {
        inner: out,
        bytes: 0,
    };
    let mut w =
        SerializedFileWriter::new(sink, Arc::new(schema()?), Arc::new(props)).map_err(io_err)?;

    let text: Vec<KeyText> = all
        .iter()
        .map(|s| KeyText {
            entity: ByteArray::from(s.key.entity.as_str()),
            sensor: ByteArray::from(s.key.sensor.as_str()),
            kind: ByteArray::from(s.key.kind.as_str()),
            labels: ByteArray::from(labels_json(&s.key.labels).into_bytes()),
        })
        .collect();

    let mut summary = ExportSummary {
        series: all.len(),
        empty_series,
        ..ExportSummary::default()
    };
    // The cursor: series `si`, sample `off`.
    let (mut si, mut off) = (0usize, 0usize);
    while si < all.len() {
        // The segments (series, start, end) of this row group.
        let mut segs: Vec<(usize, usize, usize)> = Vec::new();
        let mut rows = 0usize;
        while si < all.len() && rows < opts.row_group_rows {
            let n = (all[si].ts.len() - off).min(opts.row_group_rows - rows);
            segs.push((si, off, off + n));
            rows += n;
            off += n;
            if off == all[si].ts.len() {
                si += 1;
                off = 0;
            }
        }
        let mut rg = w.next_row_group().map_err(io_err)?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(io_err)? {
            match col {
                ENTITY | SENSOR | KIND | LABELS => {
                    let mut vals: Vec<ByteArray> = Vec::with_capacity(rows);
                    for &(s, a, b) in &segs {
                        let t = &text[s];
                        let v = match col {
                            ENTITY => &t.entity,
                            SENSOR => &t.sensor,
                            KIND => &t.kind,
                            _ => &t.labels,
                        };
                        vals.extend(std::iter::repeat_n(v, b - a).cloned());
                    }
                    c.typed::<ByteArrayType>()
                        .write_batch(&vals, None, None)
                        .map_err(io_err)?;
                }
                TS => {
                    let mut vals: Vec<i64> = Vec::with_capacity(rows);
                    for &(s, a, b) in &segs {
                        vals.extend_from_slice(&all[s].ts[a..b]);
                    }
                    c.typed::<Int64Type>()
                        .write_batch(&vals, None, None)
                        .map_err(io_err)?;
                }
                _ => {
                    let mut vals: Vec<f64> = Vec::with_capacity(rows);
                    for &(s, a, b) in &segs {
                        vals.extend_from_slice(&all[s].values[a..b]);
                    }
                    c.typed::<DoubleType>()
                        .write_batch(&vals, None, None)
                        .map_err(io_err)?;
                }
            }
            c.close().map_err(io_err)?;
            col += 1;
        }
        rg.close().map_err(io_err)?;
        summary.rows += rows as u64;
        summary.row_groups += 1;
    }
    // Writes the footer and hands the sink back.
    let mut sink = w.into_inner().map_err(io_err)?;
    sink.flush().map_err(io_err)?;
    summary.bytes = sink.bytes;
    Ok(summary)
}

/// [`export_parquet`] to a new file at `path` (replaced if it exists).
///
/// # Errors
/// As [`export_parquet`]; [`StoreErrorKind::Io`] names the path when it cannot be created.
///
/// ```no_run
/// # use kelvin_store::{ParquetOptions, SeriesData, export_parquet_file};
/// # let series: Vec<SeriesData> = Vec::new();
/// let summary = export_parquet_file("/tmp/series.parquet", &series, &ParquetOptions::default())?;
/// println!("{:.2} bytes per sample", summary.bytes_per_sample());
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn export_parquet_file<'a>(
    path: impl AsRef<Path>,
    series: impl IntoIterator<Item = &'a SeriesData>,
    opts: &ParquetOptions,
) -> Result<ExportSummary, StoreError> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Io,
            format!("creating {}: {e}", path.display()),
        )
    })?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, file);
    let summary = export_parquet(&mut buffered, series, opts)
        .map_err(|e| StoreError::new(e.kind(), format!("{}: {}", path.display(), e.reason())))?;
    let file = buffered.into_inner().map_err(|e| {
        StoreError::new(
            StoreErrorKind::Io,
            format!("writing {}: {}", path.display(), e.error()),
        )
    })?;
    file.sync_all().map_err(|e| {
        StoreError::new(
            StoreErrorKind::Io,
            format!("syncing {}: {e}", path.display()),
        )
    })?;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Import

/// Reads a Parquet file in the [layout](export_parquet#layout) from memory; `source` names it in
/// errors (a file name, a URL).
///
/// This and [`import_parquet_file`] read the layout from any writer: columns are found by name
/// (others are ignored, order does not matter), may be `REQUIRED` or `OPTIONAL`, use any
/// encoding and compression the `parquet` crate reads (PLAIN, dictionary, delta,
/// byte-stream-split; uncompressed, snappy, zstd), and `ts` may be a `TIMESTAMP` in
/// milliseconds, microseconds or nanoseconds (converted to nanoseconds; a timestamp that is not
/// UTC-adjusted, like a Polars `Datetime` without a time zone, is read as UTC). Rows are
/// grouped into one [`SeriesData`] per key wherever they are in the file, each series sorted by
/// time stably (rows with equal timestamps keep their file order), the series sorted by key.
///
/// Nulls:
/// - a null `value` or `ts` cannot be a sample: the row is **skipped and reported** in
///   [`ParquetImport::skipped`] and [`ParquetImport::first_skipped`] (row numbers count from 0
///   over the whole file, as pyarrow's and Polars' row indexes do), never turned into a number.
///   [`ParquetImport::into_complete`] turns any skipped row into an error for callers that
///   accept none;
/// - a null `labels` is the same as `""`: no labels;
/// - a null `entity`, `sensor` or `kind` is an error.
///
/// Memory is bounded by the default [`ParquetLimits`] ([`import_parquet_with`] takes others):
/// the footer, the rows, the series, the key text, every page header's sizes and every
/// dictionary's length are checked against them, and against the bytes really in the file,
/// before the `parquet` crate decodes (and allocates for) any of them.
///
/// # Errors
///
/// [`StoreError`]s naming the source, the column and the row group or row:
/// [`StoreErrorKind::Corrupt`] for bytes that are not (or no longer) readable Parquet (a
/// length or count that runs past the file, a schema nested too deep, more values than the
/// metadata's rows), [`StoreErrorKind::InvalidInput`] for a readable file that is not this
/// layout (missing column, wrong physical type, `ts` without a timestamp type, nested column),
/// holds a bad value (unknown kind, invalid entity id, malformed labels, a timestamp beyond the
/// nanosecond range) or is over a [`ParquetLimits`] limit (named in the reason), and
/// [`StoreErrorKind::Unsupported`] for a newer `kelvin.version` or an `INT96` timestamp.
/// Never a panic, whatever the bytes.
///
/// ```
/// use kelvin_store::{StoreErrorKind, import_parquet};
///
/// let err = import_parquet(b"ts,value\n1,2\n".to_vec(), "upload.csv").unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::Corrupt);
/// assert!(err.reason().starts_with("upload.csv: not a readable Parquet file"));
/// ```
pub fn import_parquet(bytes: Vec<u8>, source: &str) -> Result<ParquetImport, StoreError> {
    import_parquet_with(bytes, source, &ParquetLimits::default())
}

/// [`import_parquet`] within `limits` instead of the defaults.
///
/// # Errors
/// As [`import_parquet`]; [`StoreErrorKind::InvalidInput`] naming the limit when the file is
/// over one of them (its size, footer, rows, series, key text, a page or a dictionary).
///
/// ```
/// use kelvin_store::{ParquetLimits, ParquetOptions, SeriesData, SeriesKey, StoreErrorKind};
/// use kelvin_store::{export_parquet, import_parquet_with};
/// use kelvin_model::{EntityId, SensorKind};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let psu = SeriesData { key, ts: (0..100).collect(), values: vec![230.0; 100] };
/// let mut file = Vec::new();
/// export_parquet(&mut file, [&psu], &ParquetOptions::default())?;
///
/// let small = ParquetLimits::default().with_max_rows(10);
/// let err = import_parquet_with(file, "psu.parquet", &small).unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
/// assert!(err.reason().contains("100 rows, over the limit of 10 (ParquetLimits::max_rows)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn import_parquet_with(
    bytes: Vec<u8>,
    source: &str,
    limits: &ParquetLimits,
) -> Result<ParquetImport, StoreError> {
    // `parquet` reads from memory through `bytes::Bytes`, a type kelvin-store does not depend on
    // directly: `ByteArray::set_data` takes one, which names it here for the conversion.
    fn as_type_of<T>(_: fn(&mut ByteArray, T), v: T) -> T {
        v
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(invalid(format!(
            "{source}: {} bytes, over the {}-byte limit of a Parquet import \
             (ParquetLimits::max_file_bytes)",
            bytes.len(),
            limits.max_file_bytes
        )));
    }
    let data = as_type_of(ByteArray::set_data, bytes.into());
    import_from(data, source, limits)
}

/// Reads a Parquet file in the [layout](export_parquet#layout) from `path`, without loading it
/// whole: row groups are decoded a batch of rows at a time (the result is in memory, of course).
///
/// The path must name a regular file (symbolic links are followed) of at most
/// [`ParquetLimits::max_file_bytes`]; this is checked before the file is opened, so a FIFO or
/// a device such as `/dev/zero` is an error at once.
///
/// # Errors
/// [`StoreErrorKind::Io`] when the file cannot be opened; [`StoreErrorKind::InvalidInput`] for
/// a path that is not a regular file or a file over the limits; otherwise as
/// [`import_parquet`], naming the path.
///
/// ```no_run
/// let import = kelvin_store::import_parquet_file("/tmp/series.parquet")?;
/// println!("{} series, {} rows skipped", import.series.len(), import.skipped);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn import_parquet_file(path: impl AsRef<Path>) -> Result<ParquetImport, StoreError> {
    import_parquet_file_with(path, &ParquetLimits::default())
}

/// [`import_parquet_file`] within `limits` instead of the defaults.
///
/// # Errors
/// As [`import_parquet_file`] and [`import_parquet_with`].
pub fn import_parquet_file_with(
    path: impl AsRef<Path>,
    limits: &ParquetLimits,
) -> Result<ParquetImport, StoreError> {
    let path = path.as_ref();
    let (file, _) = Reader {
        what: "a Parquet import",
        limit: Some((limits.max_file_bytes, "ParquetLimits::max_file_bytes")),
        kind: StoreErrorKind::InvalidInput,
    }
    .open(path)?;
    import_from(file, &path.display().to_string(), limits)
}

/// How a `ts` column's integers become nanoseconds.
#[derive(Clone, Copy)]
struct TsUnit {
    factor: i64,
    name: &'static str,
}

/// The validated places of the layout's columns in one file.
struct Layout {
    /// Leaf column index of each of [`COLUMNS`].
    index: [usize; 6],
    ts: TsUnit,
}

fn check_layout(
    descrs: &[ColumnDescPtr],
    source: &str,
    kv: Option<&Vec<KeyValue>>,
) -> Result<Layout, StoreError> {
    for e in kv.into_iter().flatten() {
        let value = e.value.as_deref().unwrap_or("");
        if e.key == FORMAT_KEY && value != PARQUET_FORMAT {
            return Err(invalid(format!(
                "{source}: written as {value:?} (kelvin.format), not as {PARQUET_FORMAT:?}"
            )));
        }
        if e.key == VERSION_KEY && value.parse::<u32>().map_or(true, |v| v > PARQUET_VERSION) {
            return Err(StoreError::new(
                StoreErrorKind::Unsupported,
                format!(
                    "{source}: layout version {value:?} (kelvin.version); this build reads \
                     version {PARQUET_VERSION}"
                ),
            ));
        }
    }

    let mut index = [0usize; 6];
    let mut ts = TsUnit {
        factor: 1,
        name: "ns",
    };
    for (slot, &name) in COLUMNS.iter().enumerate() {
        let found: Vec<usize> = descrs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.path().parts().first().map(String::as_str) == Some(name))
            .map(|(i, _)| i)
            .collect();
        let &[i] = found.as_slice() else {
            return Err(invalid(if found.is_empty() {
                format!("{source}: no column {name:?} (the layout needs {COLUMNS:?})")
            } else {
                format!(
                    "{source}: column {name:?} is nested or appears more than once, not a plain \
                     column"
                )
            }));
        };
        let d = &descrs[i];
        if d.path().parts().len() != 1 || d.max_rep_level() != 0 || d.max_def_level() > 1 {
            return Err(invalid(format!(
                "{source}: column {name:?} is nested or repeated, not a plain column"
            )));
        }
        let physical = d.physical_type();
        let wrong = |want: &str| {
            invalid(format!(
                "{source}: column {name:?} has physical type {physical}, expected {want}"
            ))
        };
        match slot {
            TS => {
                if physical == PhysicalType::INT96 {
                    return Err(StoreError::new(
                        StoreErrorKind::Unsupported,
                        format!(
                            "{source}: column \"ts\" is a legacy INT96 timestamp; write INT64 \
                             timestamps (pyarrow: use_deprecated_int96_timestamps=False)"
                        ),
                    ));
                }
                if physical != PhysicalType::INT64 {
                    return Err(wrong("INT64 (TIMESTAMP)"));
                }
                ts = ts_unit(d).ok_or_else(|| {
                    invalid(format!(
                        "{source}: column \"ts\" is INT64 without a TIMESTAMP type ({:?}), so \
                         its unit is unknown",
                        d.logical_type_ref()
                    ))
                })?;
            }
            VALUE => {
                if physical != PhysicalType::DOUBLE {
                    return Err(wrong("DOUBLE"));
                }
            }
            _ => {
                if physical != PhysicalType::BYTE_ARRAY {
                    return Err(wrong("BYTE_ARRAY (STRING)"));
                }
            }
        }
        index[slot] = i;
    }
    Ok(Layout { index, ts })
}

fn ts_unit(d: &ColumnDescPtr) -> Option<TsUnit> {
    let unit = match d.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => t.unit,
        Some(_) => return None,
        None => match d.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS => TimeUnit::MILLIS,
            ConvertedType::TIMESTAMP_MICROS => TimeUnit::MICROS,
            _ => return None,
        },
    };
    Some(match unit {
        TimeUnit::MILLIS => TsUnit {
            factor: 1_000_000,
            name: "ms",
        },
        TimeUnit::MICROS => TsUnit {
            factor: 1_000,
            name: "µs",
        },
        TimeUnit::NANOS => TsUnit {
            factor: 1,
            name: "ns",
        },
    })
}

/// One column of one row group, decoded a batch at a time.
struct Col<T: DataType> {
    reader: ColumnReaderImpl<T>,
    nullable: bool,
    values: Vec<T::T>,
    defs: Vec<i16>,
    /// Index into `values` of the next non-null value of the current batch.
    next: usize,
}

impl<T: DataType> Col<T> {
    fn new(reader: ColumnReaderImpl<T>, nullable: bool) -> Self {
        Col {
            reader,
            nullable,
            values: Vec::new(),
            defs: Vec::new(),
            next: 0,
        }
    }

    /// Decodes the next `n` rows (fewer only at the end of the chunk); returns how many.
    fn fill(&mut self, n: usize) -> Result<usize, String> {
        self.values.clear();
        self.defs.clear();
        self.next = 0;
        let mut rows = 0;
        while rows < n {
            let (r, _, _) = self
                .reader
                .read_records(n - rows, Some(&mut self.defs), None, &mut self.values)
                .map_err(|e| e.to_string())?;
            if r == 0 {
                break;
            }
            rows += r;
        }
        let expect_values = if self.nullable {
            if self.defs.len() != rows {
                return Err(format!(
                    "{} definition levels for {rows} rows",
                    self.defs.len()
                ));
            }
            self.defs.iter().filter(|&&d| d == 1).count()
        } else {
            rows
        };
        if self.values.len() != expect_values {
            return Err(format!(
                "{} values for {expect_values} non-null rows",
                self.values.len()
            ));
        }
        Ok(rows)
    }

    /// The value of row `i` of the batch (rows must be visited in order), `None` when null.
    fn get(&mut self, i: usize) -> Option<&T::T> {
        if self.nullable && self.defs[i] == 0 {
            return None;
        }
        let v = &self.values[self.next];
        self.next += 1;
        Some(v)
    }
}

/// Distinct strings of a column, each parsed once.
struct Interner<V> {
    ids: HashMap<Box<str>, u32>,
    items: Vec<V>,
    last: Option<(Box<str>, u32)>,
    /// Bytes of the distinct strings.
    bytes: usize,
}

impl<V> Interner<V> {
    fn new() -> Self {
        Interner {
            ids: HashMap::new(),
            items: Vec::new(),
            last: None,
            bytes: 0,
        }
    }

    fn id(
        &mut self,
        s: &str,
        parse: impl FnOnce(&str) -> Result<V, String>,
    ) -> Result<u32, String> {
        if let Some((l, id)) = &self.last
            && **l == *s
        {
            return Ok(*id);
        }
        let id = match self.ids.get(s) {
            Some(&id) => id,
            None => {
                let v = parse(s)?;
                let id = u32::try_from(self.items.len()).map_err(|_| "too many distinct values")?;
                self.items.push(v);
                self.ids.insert(s.into(), id);
                self.bytes = self.bytes.saturating_add(s.len());
                id
            }
        };
        self.last = Some((s.into(), id));
        Ok(id)
    }
}

fn kind_from_str(s: &str) -> Result<SensorKind, String> {
    SensorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            let known: Vec<&str> = SensorKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown kind {s:?} (known: {})", known.join(", "))
        })
}

fn import_from<R: ChunkReader + 'static>(
    input: R,
    source: &str,
    limits: &ParquetLimits,
) -> Result<ParquetImport, StoreError> {
    // The `parquet` crate still asserts on some damaged metadata instead of returning an error
    // (a negative column chunk offset, for one, is checked below first); a panic there is a
    // damaged file, not a bug of the caller, so it becomes an error like any other damage.
    // What a panic cannot stop — an allocation of the size a file announces, a recursion as
    // deep as its schema — is checked before the crate decodes anything ([`check_file`]).
    match std::panic::catch_unwind(AssertUnwindSafe(|| import_unguarded(input, source, limits))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!("{source}: the Parquet decoder failed on this file: {what}"),
            ))
        }
    }
}

/// What [`kelvin_guard::parquet`] checks of a file for `limits`.
fn guard_limits(limits: &ParquetLimits) -> guard::Limits {
    guard::Limits {
        owner: "ParquetLimits",
        max_footer_bytes: limits.max_footer_bytes,
        max_page_bytes: limits.max_page_bytes as u64,
        max_dictionary_values: limits.max_dictionary_values as u64,
        // Each page and dictionary is bounded, and a row group has the layout's six columns.
        max_row_group_bytes: u64::MAX,
    }
}

/// The guard's refusal `e` of something in `place` (`sep` between the two): over a limit is
/// [`StoreErrorKind::InvalidInput`], anything else [`StoreErrorKind::Corrupt`].
fn refused(place: &str, sep: &str, e: &kelvin_guard::Error) -> StoreError {
    let kind = match e.kind() {
        GuardErrorKind::OverLimit => StoreErrorKind::InvalidInput,
        _ => StoreErrorKind::Corrupt,
    };
    StoreError::new(kind, format!("{place}{sep}{}", e.message()))
}

/// Checks a file within `limits` before the `parquet` crate decodes any of it: the footer's
/// size and structure, the layout, the row count, and every page header of the layout's
/// column chunks. Returns the layout.
fn check_file<R: ChunkReader>(
    input: &R,
    source: &str,
    limits: &ParquetLimits,
) -> Result<Layout, StoreError> {
    let corrupt =
        |what: String| StoreError::new(StoreErrorKind::Corrupt, format!("{source}: {what}"));
    let file_len = input.len();
    let guarded = guard_limits(limits);
    let footer = check_footer(input, file_len, source, &guarded)?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(input)
        .map_err(|e| corrupt(format!("not a readable Parquet file: {e}")))?;
    let descrs = meta.file_metadata().schema_descr().columns();
    let layout = check_layout(descrs, source, meta.file_metadata().key_value_metadata())?;
    let mut rows = 0u64;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        rows = u64::try_from(rg.num_rows())
            .ok()
            .and_then(|n| rows.checked_add(n))
            .ok_or_else(|| corrupt(format!("row group {g}: row count {}", rg.num_rows())))?;
    }
    if rows > limits.max_rows {
        return Err(invalid(format!(
            "{source}: {rows} rows, over the limit of {} (ParquetLimits::max_rows)",
            limits.max_rows
        )));
    }
    // The crate decodes no footer the guard did not find (see `check_footer`).
    let footer = footer.unwrap_or(guard::Footer {
        start: file_len.saturating_sub(8),
        len: 0,
    });
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for (slot, &i) in layout.index.iter().enumerate() {
            let c = rg.column(i);
            let place = format!("{source}: row group {g}, column {:?}", COLUMNS[slot]);
            let range = guard::chunk(
                c.dictionary_page_offset(),
                c.data_page_offset(),
                c.compressed_size(),
                footer,
            )
            .map_err(|e| refused(&place, ": ", &e))?;
            // The fewest bytes one value takes in a PLAIN dictionary page.
            let width = match descrs[i].physical_type() {
                PhysicalType::BYTE_ARRAY => 4,
                _ => 8,
            };
            guard::check_chunk(|at| input.get_read(at), range, width, &guarded)
                .map_err(|e| refused(&place, ", ", &e))?;
        }
    }
    Ok(layout)
}

/// The footer: at most [`ParquetLimits::max_footer_bytes`], and walked whole (every length
/// inside it against the bytes there, the schema's nesting against
/// [`kelvin_guard::parquet::MAX_SCHEMA_DEPTH`]) before the crate decodes it. A file too short
/// for a footer, or whose footer length runs past its start, is left to the crate's own error
/// (`None`).
fn check_footer<R: ChunkReader>(
    input: &R,
    file_len: u64,
    source: &str,
    limits: &guard::Limits,
) -> Result<Option<guard::Footer>, StoreError> {
    if file_len < 12 {
        return Ok(None);
    }
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("{source}: not a readable Parquet file: {e}"),
        )
    };
    let tail = input
        .get_bytes(file_len - 8, 8)
        .map_err(|e| unreadable(&e))?;
    let tail = <[u8; 8]>::try_from(&tail[..]).map_err(|e| unreadable(&e))?;
    let footer = match guard::footer(file_len, tail, limits) {
        Ok(footer) => footer,
        Err(e) if e.kind() == GuardErrorKind::OverLimit => return Err(refused(source, ": ", &e)),
        Err(_) => return Ok(None),
    };
    let read = input.get_read(footer.start).map_err(|e| unreadable(&e))?;
    guard::check_footer(read, footer).map_err(|e| refused(source, ": ", &e))?;
    Ok(Some(footer))
}

/// What an import builds as it reads rows.
struct Builder {
    entities: Interner<EntityId>,
    sensors: Interner<SensorName>,
    kinds: Interner<SensorKind>,
    labels: Interner<Labels>,
    by_ids: HashMap<[u32; 4], usize>,
    by_key: HashMap<SeriesKey, usize>,
    last_ids: Option<([u32; 4], usize)>,
    out: Vec<SeriesData>,
    import: ParquetImport,
}

impl Builder {
    fn new() -> Self {
        Builder {
            entities: Interner::new(),
            sensors: Interner::new(),
            kinds: Interner::new(),
            labels: Interner::new(),
            by_ids: HashMap::new(),
            by_key: HashMap::new(),
            last_ids: None,
            out: Vec::new(),
            import: ParquetImport {
                series: Vec::new(),
                rows: 0,
                skipped: 0,
                first_skipped: Vec::new(),
            },
        }
    }

    /// The index in `out` of the series of the interned strings `ids`, created on first use
    /// within [`ParquetLimits::max_series`] and [`ParquetLimits::max_key_bytes`].
    fn series(&mut self, ids: [u32; 4], limits: &ParquetLimits) -> Result<usize, String> {
        if let Some((l, idx)) = self.last_ids
            && l == ids
        {
            return Ok(idx);
        }
        let idx = match self.by_ids.get(&ids) {
            Some(&idx) => idx,
            None => {
                let key_bytes =
                    self.entities.bytes + self.sensors.bytes + self.kinds.bytes + self.labels.bytes;
                if key_bytes > limits.max_key_bytes {
                    return Err(format!(
                        "{key_bytes} bytes of distinct key text, over the limit of {} \
                         (ParquetLimits::max_key_bytes)",
                        limits.max_key_bytes
                    ));
                }
                let key = SeriesKey {
                    entity: self.entities.items[ids[0] as usize].clone(),
                    sensor: self.sensors.items[ids[1] as usize].clone(),
                    kind: self.kinds.items[ids[2] as usize],
                    labels: self.labels.items[ids[3] as usize].clone(),
                };
                let idx = match self.by_key.get(&key) {
                    Some(&idx) => idx,
                    None => {
                        if self.out.len() >= limits.max_series {
                            return Err(format!(
                                "series {key} is one more than the limit of {} series \
                                 (ParquetLimits::max_series)",
                                limits.max_series
                            ));
                        }
                        self.out.push(SeriesData {
                            key: key.clone(),
                            ts: Vec::new(),
                            values: Vec::new(),
                        });
                        self.by_key.insert(key, self.out.len() - 1);
                        self.out.len() - 1
                    }
                };
                self.by_ids.insert(ids, idx);
                idx
            }
        };
        self.last_ids = Some((ids, idx));
        Ok(idx)
    }

    /// Sorts each series by time (stably) and the series by key.
    fn finish(mut self) -> ParquetImport {
        for s in &mut self.out {
            if !s.ts.is_sorted() {
                let mut order: Vec<usize> = (0..s.ts.len()).collect();
                order.sort_by_key(|&i| s.ts[i]); // stable: equal times keep their file order
                s.ts = order.iter().map(|&i| s.ts[i]).collect();
                s.values = order.iter().map(|&i| s.values[i]).collect();
            }
        }
        self.out.sort_by(|a, b| a.key.cmp(&b.key));
        self.import.series = self.out;
        self.import
    }
}

/// The six columns of one row group, decoded a batch at a time.
struct RowGroupColumns {
    text: [Col<ByteArrayType>; 4],
    ts: Col<Int64Type>,
    value: Col<DoubleType>,
}

impl RowGroupColumns {
    fn open(
        rg: &dyn RowGroupReader,
        layout: &Layout,
        nullable: impl Fn(usize) -> bool,
        corrupt: impl Fn(String) -> StoreError,
        g: usize,
    ) -> Result<Self, StoreError> {
        let open = |slot: usize| {
            rg.get_column_reader(layout.index[slot])
                .map_err(|e| corrupt(format!("row group {g}, column {:?}: {e}", COLUMNS[slot])))
        };
        let mismatch = |slot: usize| {
            corrupt(format!(
                "row group {g}, column {:?}: reader of the wrong physical type",
                COLUMNS[slot]
            ))
        };
        let text = |slot: usize| -> Result<Col<ByteArrayType>, StoreError> {
            match open(slot)? {
                ColumnReader::ByteArrayColumnReader(r) => Ok(Col::new(r, nullable(slot))),
                _ => Err(mismatch(slot)),
            }
        };
        let text = [text(ENTITY)?, text(SENSOR)?, text(KIND)?, text(LABELS)?];
        let ts = match open(TS)? {
            ColumnReader::Int64ColumnReader(r) => Col::new(r, nullable(TS)),
            _ => return Err(mismatch(TS)),
        };
        let value = match open(VALUE)? {
            ColumnReader::DoubleColumnReader(r) => Col::new(r, nullable(VALUE)),
            _ => return Err(mismatch(VALUE)),
        };
        Ok(RowGroupColumns { text, ts, value })
    }

    /// Decodes the next batch of every column; the rows in it (the same in all six).
    fn fill(
        &mut self,
        g: usize,
        done: u64,
        corrupt: impl Fn(String) -> StoreError,
    ) -> Result<usize, StoreError> {
        let mut counts = [0usize; 6];
        for (slot, c) in self.text.iter_mut().enumerate() {
            counts[slot] = c
                .fill(READ_BATCH)
                .map_err(|e| corrupt(format!("row group {g}, column {:?}: {e}", COLUMNS[slot])))?;
        }
        counts[TS] = self
            .ts
            .fill(READ_BATCH)
            .map_err(|e| corrupt(format!("row group {g}, column \"ts\": {e}")))?;
        counts[VALUE] = self
            .value
            .fill(READ_BATCH)
            .map_err(|e| corrupt(format!("row group {g}, column \"value\": {e}")))?;
        let n = counts[0];
        if let Some(slot) = counts.iter().position(|&c| c != n) {
            return Err(corrupt(format!(
                "row group {g}: column {:?} ends after {} rows, column \"entity\" after {}",
                COLUMNS[slot],
                done + counts[slot] as u64,
                done + n as u64
            )));
        }
        Ok(n)
    }
}

fn import_unguarded<R: ChunkReader + 'static>(
    input: R,
    source: &str,
    limits: &ParquetLimits,
) -> Result<ParquetImport, StoreError> {
    let corrupt =
        |what: String| StoreError::new(StoreErrorKind::Corrupt, format!("{source}: {what}"));
    let layout = check_file(&input, source, limits)?;
    let reader = SerializedFileReader::new(input)
        .map_err(|e| corrupt(format!("not a readable Parquet file: {e}")))?;
    let descrs = reader.metadata().file_metadata().schema_descr().columns();
    let nullable = |slot: usize| descrs[layout.index[slot]].max_def_level() == 1;
    let mut b = Builder::new();
    for g in 0..reader.num_row_groups() {
        let rg = reader
            .get_row_group(g)
            .map_err(|e| corrupt(format!("row group {g}: {e}")))?;
        let rg_rows = u64::try_from(rg.metadata().num_rows())
            .map_err(|_| corrupt(format!("row group {g}: negative row count")))?;
        let mut cols = RowGroupColumns::open(&*rg, &layout, nullable, corrupt, g)?;
        let mut done = 0u64;
        loop {
            let n = cols.fill(g, done, corrupt)?;
            if n == 0 {
                break;
            }
            // Never more rows than the metadata (which max_rows bounded) says.
            if done + n as u64 > rg_rows {
                return Err(corrupt(format!(
                    "row group {g}: the columns hold more than the {rg_rows} rows its \
                     metadata says"
                )));
            }
            let first_row = b.import.rows + done;
            for i in 0..n {
                let at = (g, first_row + i as u64);
                import_row(&mut b, &mut cols, at, i, &layout, source, limits)?;
            }
            done += n as u64;
        }
        if done != rg_rows {
            return Err(corrupt(format!(
                "row group {g}: metadata says {rg_rows} rows, columns hold {done}"
            )));
        }
        b.import.rows += done;
    }
    Ok(b.finish())
}

/// Turns row `i` of the current batch (row `row` of the file, in row group `g`) into a sample
/// of its series, or a skipped row.
fn import_row(
    b: &mut Builder,
    cols: &mut RowGroupColumns,
    (g, row): (usize, u64),
    i: usize,
    layout: &Layout,
    source: &str,
    limits: &ParquetLimits,
) -> Result<(), StoreError> {
    let bad = |slot: usize, what: String| {
        invalid(format!(
            "{source}: row {row} (row group {g}), column {:?}: {what}",
            COLUMNS[slot]
        ))
    };
    let mut ids = [0u32; 4];
    for (slot, c) in cols.text.iter_mut().enumerate() {
        let s = match c.get(i) {
            Some(v) => v.as_utf8().map_err(|e| bad(slot, e.to_string()))?,
            None if slot == LABELS => "",
            None => return Err(bad(slot, "null".into())),
        };
        ids[slot] = match slot {
            ENTITY => b
                .entities
                .id(s, |s| EntityId::new(s).map_err(|e| e.reason().to_string())),
            SENSOR => b.sensors.id(s, |s| Ok(SensorName::from(s))),
            KIND => b.kinds.id(s, kind_from_str),
            _ => b.labels.id(s, parse_labels),
        }
        .map_err(|e| bad(slot, e))?;
    }
    let series = b
        .series(ids, limits)
        .map_err(|e| invalid(format!("{source}: row {row} (row group {g}): {e}")))?;
    let (ts, value) = match (cols.ts.get(i).copied(), cols.value.get(i).copied()) {
        (Some(t), Some(v)) => (t, v),
        (t, _) => {
            let reason = if t.is_none() {
                SkipReason::NullTimestamp
            } else {
                SkipReason::NullValue
            };
            b.import.skipped += 1;
            if b.import.first_skipped.len() < ParquetImport::MAX_REPORTED_SKIPS {
                b.import.first_skipped.push(SkippedRow { row, reason });
            }
            return Ok(());
        }
    };
    let ns = ts.checked_mul(layout.ts.factor).ok_or_else(|| {
        bad(
            TS,
            format!(
                "{ts} {} is beyond the nanosecond range (years 1677–2262)",
                layout.ts.name
            ),
        )
    })?;
    let s = &mut b.out[series];
    s.ts.push(ns);
    s.values.push(value);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Labels as a flat JSON object

/// `{"a":"1","b":"2"}` with names in label order (sorted), or `""` for no labels.
fn labels_json(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, k);
        out.push(':');
        push_json_string(&mut out, v);
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Labels from `""` (none) or a JSON object whose values are all strings; a repeated name keeps
/// its last value.
fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut p = Json {
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.i == p.b.len() {
        return Ok(Labels::default());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    p.expect(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let name = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(format!(
                    "labels {text:?}: the value of {name:?} is not a string (byte {})",
                    p.i
                ));
            }
            let value = p.string()?;
            pairs.push((name, value));
            p.ws();
            match p.bump() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(p.error("',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(format!(
            "labels {text:?}: unexpected text after the object at byte {}",
            p.i
        ));
    }
    Ok(Labels::from_pairs(pairs))
}

/// A cursor over JSON text (always valid UTF-8: it comes from a `&str`).
struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn error(&self, expected: &str) -> String {
        let text = String::from_utf8_lossy(self.b);
        match self.peek() {
            Some(_) => format!(
                "labels {text:?}: expected {expected} at byte {}, found {:?}",
                self.i,
                text[self.i..].chars().next().unwrap_or(' ')
            ),
            None => format!("labels {text:?}: expected {expected}, found the end"),
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("'{}'", c as char)))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("4 hex digits"))?;
        self.i += 4;
        u32::from_str_radix(digits, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            // Both ends are at ASCII bytes (or the end), so the slice is whole UTF-8.
            out.push_str(&String::from_utf8_lossy(&self.b[start..self.i]));
            match self.bump() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => {
                    let c = match self.bump() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.error("a low surrogate \\uDC00-\\uDFFF"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("a low surrogate \\uDC00-\\uDFFF"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| {
                                self.error("a Unicode scalar value (lone surrogate)")
                            })?
                        }
                        _ => {
                            self.i = self.i.saturating_sub(1);
                            return Err(
                                self.error("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                            );
                        }
                    };
                    out.push(c);
                }
                Some(_) => {
                    self.i -= 1;
                    return Err(self.error("no control character inside a string"));
                }
                None => return Err(self.error("'\"'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_json_round_trips_and_matches_python() {
        assert_eq!(labels_json(&Labels::default()), "");
        let l = Labels::from_pairs([("zone", "b"), ("phase", "L1")]);
        assert_eq!(labels_json(&l), r#"{"phase":"L1","zone":"b"}"#);
        let odd = Labels::from_pairs([
            ("q\"uote", "back\\slash"),
            ("ctl", "\u{1}\n\t\r\u{8}\u{c}\u{1f}"),
            ("uni", "✓ é 🌡"),
            ("", ""),
        ]);
        let text = labels_json(&odd);
        // json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert_eq!(
            text,
            r#"{"":"","ctl":"\u0001\n\t\r\b\f\u001f","q\"uote":"back\\slash","uni":"✓ é 🌡"}"#
        );
        assert_eq!(parse_labels(&text).unwrap(), odd);
        assert_eq!(parse_labels("").unwrap(), Labels::default());
    }

    #[test]
    fn labels_parse_what_python_writes_by_default() {
        // json.dumps({"uni": "✓ é 🌡", "a/b": "x"}) with its default ensure_ascii=True.
        let l = parse_labels(r#"{"uni": "\u2713 \u00e9 \ud83c\udf21", "a\/b": "x"}"#).unwrap();
        assert_eq!(l.get("uni"), Some("✓ é 🌡"));
        assert_eq!(l.get("a/b"), Some("x"));
        assert_eq!(parse_labels(" { } ").unwrap(), Labels::default());
        assert_eq!(parse_labels("{}").unwrap(), Labels::default());
        // A repeated name keeps the last value, as in Python.
        assert_eq!(
            parse_labels(r#"{"a":"1","a":"2"}"#).unwrap().get("a"),
            Some("2")
        );
    }

    #[test]
    fn labels_parse_rejects_what_is_not_a_flat_string_object() {
        for bad in [
            "{",
            "[]",
            "null",
            r#"{"a":1}"#,
            r#"{"a":null}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":"b",}"#,
            r#"{"a" "b"}"#,
            r#"{"a":"b"} x"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"unterminated}"#,
            "k=v",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad:?} parsed");
        }
    }
}
