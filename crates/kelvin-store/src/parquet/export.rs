//! Writing series in the layout: [`export_parquet`] and [`export_parquet_file`].

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;

use kelvin_model::layout;

use super::invalid;
use super::labels::labels_json;
use super::layout::{PARQUET_FORMAT, PARQUET_VERSION, schema};
use crate::{SeriesData, StoreError, StoreErrorKind};
#[cfg(doc)]
use crate::{SeriesKey, import_parquet};

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

pub(super) fn io_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("writing Parquet: {e}"))
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

/// One series' text columns, encoded once and shared by all its rows.
struct KeyText {
    entity: ByteArray,
    sensor: ByteArray,
    kind: ByteArray,
    /// `None` for no labels (a null).
    labels: Option<ByteArray>,
    /// The kind's canonical unit.
    unit: ByteArray,
}

/// Writes `series` to `out` in Kelvin's Parquet layout and returns what was written.
///
/// The series may come in any order; they are written sorted by key. Each must have as many
/// values as timestamps, timestamps sorted (non-decreasing), and no key may repeat. Series
/// without samples have no rows and are only counted ([`ExportSummary::empty_series`]).
///
/// # Layout
///
/// Kelvin's one Parquet layout, which `kelvin-ingest` writes and reads too
/// (`kelvin_model::layout`; described in the repository's `docs/format.md`, "Kelvin's Parquet
/// layout"): one row per sample, sorted by series ([`SeriesKey`] order) and then by time.
///
/// ```text
/// message kelvin_readings {
///   OPTIONAL INT64 ts (TIMESTAMP(NANOS,true)); -- DELTA_BINARY_PACKED; never null here
///   REQUIRED BYTE_ARRAY entity (STRING);       -- dictionary encoded
///   REQUIRED BYTE_ARRAY sensor (STRING);       -- dictionary encoded
///   REQUIRED BYTE_ARRAY kind (STRING);         -- SensorKind::as_str (`fan_speed`), dictionary
///   OPTIONAL BYTE_ARRAY labels (STRING);       -- flat JSON object; null for no labels
///   REQUIRED BYTE_ARRAY unit (STRING);         -- the kind's canonical unit (`W`)
///   OPTIONAL DOUBLE value;                     -- BYTE_STREAM_SPLIT, bit-exact (NaN, ±inf, −0.0)
///   REQUIRED BYTE_ARRAY quality (STRING);      -- `absent` for a NaN value, else `good`
///   OPTIONAL BYTE_ARRAY status (STRING);       -- always null here
/// }
/// ```
///
/// Every column chunk is ZSTD compressed ([`ParquetOptions::zstd_level`]), with chunk and page
/// statistics (the `parquet` crate files DOUBLE minima and maxima under the IEEE 754 total
/// order, which pyarrow 26 does not use yet); row groups hold
/// [`ParquetOptions::row_group_rows`] rows (the last one fewer).
/// The file's key/value metadata carries `kelvin.format = "kelvin-readings"`
/// ([`PARQUET_FORMAT`]) and `kelvin.version = "2"` ([`PARQUET_VERSION`]).
///
/// **Labels** are a JSON object of string values with the names sorted and no whitespace
/// (`{"phase":"L1","zone":"b"}`, what Python's
/// `json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes), and null
/// when a series has none. A plain string column reads the same way in pyarrow, Polars,
/// DuckDB and Spark and is written just as easily by them, while a Parquet `MAP` is not:
/// Polars has no map type (it reads one as a list of structs and writes that back as a `LIST`,
/// not a `MAP`). Dictionary encoding makes the repeated text cost next to nothing.
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
    let all = checked_series(series)?;
    let empty_series = all.iter().filter(|s| s.ts.is_empty()).count();
    let all: Vec<&SeriesData> = all.into_iter().filter(|s| !s.ts.is_empty()).collect();

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled(layout::TS.into(), false)
        .set_column_encoding(layout::TS.into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(layout::VALUE.into(), false)
        .set_column_encoding(layout::VALUE.into(), Encoding::BYTE_STREAM_SPLIT)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(layout::FORMAT_KEY.into(), PARQUET_FORMAT.to_string()),
            KeyValue::new(layout::VERSION_KEY.into(), PARQUET_VERSION.to_string()),
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
            labels: labels_json(&s.key.labels).map(|j| ByteArray::from(j.into_bytes())),
            unit: ByteArray::from(s.key.kind.unit().symbol()),
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
        let group = RowGroup {
            all: &all,
            text: &text,
            segs: &segs,
            rows,
        };
        let mut rg = w.next_row_group().map_err(io_err)?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(io_err)? {
            group.write_column(col, &mut c)?;
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

/// The series sorted by key, after checking each (lengths, sorted timestamps) and that no key
/// repeats.
fn checked_series<'a>(
    series: impl IntoIterator<Item = &'a SeriesData>,
) -> Result<Vec<&'a SeriesData>, StoreError> {
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
    Ok(all)
}

/// The rows of one row group: segments `(series, start, end)` of the series in `all`.
struct RowGroup<'r, 'a> {
    all: &'r [&'a SeriesData],
    text: &'r [KeyText],
    segs: &'r [(usize, usize, usize)],
    rows: usize,
}

impl RowGroup<'_, '_> {
    /// Writes column `col` (its place in `kelvin_model::layout::COLUMNS`) of the group.
    fn write_column(
        &self,
        col: usize,
        c: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    ) -> Result<(), StoreError> {
        let all_defined = vec![1i16; self.rows];
        match layout::COLUMNS.get(col).copied().unwrap_or("") {
            layout::TS => {
                let vals = self.numbers(|s| &s.ts[..]);
                c.typed::<Int64Type>()
                    .write_batch(&vals, Some(&all_defined), None)
                    .map(drop)
            }
            layout::VALUE => {
                let vals = self.numbers(|s| &s.values[..]);
                c.typed::<DoubleType>()
                    .write_batch(&vals, Some(&all_defined), None)
                    .map(drop)
            }
            layout::QUALITY => {
                let (good, absent) = (ByteArray::from("good"), ByteArray::from("absent"));
                let mut vals: Vec<ByteArray> = Vec::with_capacity(self.rows);
                for &(s, a, b) in self.segs {
                    vals.extend(
                        self.all[s].values[a..b]
                            .iter()
                            .map(|v| if v.is_nan() { &absent } else { &good }.clone()),
                    );
                }
                c.typed::<ByteArrayType>()
                    .write_batch(&vals, None, None)
                    .map(drop)
            }
            layout::LABELS => {
                let mut vals: Vec<ByteArray> = Vec::new();
                let mut defs: Vec<i16> = Vec::with_capacity(self.rows);
                for &(s, a, b) in self.segs {
                    let labels = self.text[s].labels.as_ref();
                    defs.extend(std::iter::repeat_n(i16::from(labels.is_some()), b - a));
                    vals.extend(
                        labels
                            .into_iter()
                            .flat_map(|l| std::iter::repeat_n(l, b - a))
                            .cloned(),
                    );
                }
                c.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)
                    .map(drop)
            }
            layout::STATUS => c
                .typed::<ByteArrayType>()
                .write_batch(&[], Some(&vec![0i16; self.rows]), None)
                .map(drop),
            name => {
                let mut vals: Vec<ByteArray> = Vec::with_capacity(self.rows);
                for &(s, a, b) in self.segs {
                    let t = &self.text[s];
                    let v = match name {
                        layout::ENTITY => &t.entity,
                        layout::SENSOR => &t.sensor,
                        layout::KIND => &t.kind,
                        _ => &t.unit,
                    };
                    vals.extend(std::iter::repeat_n(v, b - a).cloned());
                }
                c.typed::<ByteArrayType>()
                    .write_batch(&vals, None, None)
                    .map(drop)
            }
        }
        .map_err(io_err)
    }

    /// The group's rows of a numeric column of the series (`ts` or `values`).
    fn numbers<T: Copy>(&self, column: impl Fn(&SeriesData) -> &[T]) -> Vec<T> {
        let mut vals = Vec::with_capacity(self.rows);
        for &(s, a, b) in self.segs {
            vals.extend_from_slice(&column(self.all[s])[a..b]);
        }
        vals
    }
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
