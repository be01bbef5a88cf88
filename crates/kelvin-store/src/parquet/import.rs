//! Reading series in the layout from any writer: [`import_parquet`] and its variants, a batch
//! of rows at a time, with the rows that cannot be samples skipped and reported
//! ([`ParquetImport`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use kelvin_model::{EntityId, SensorKind, SensorName, Unit};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::file::reader::{ChunkReader, FileReader, RowGroupReader, SerializedFileReader};

#[cfg(doc)]
use super::export_parquet;
use super::invalid;
use super::labels::parse_labels;
use super::layout::{ENTITY, KIND, LABELS, Layout, SENSOR, TS, UNIT, VALUE};
use super::limits::{ParquetLimits, check_file};
use crate::input::Reader;
use crate::{Labels, SeriesData, SeriesKey, StoreError, StoreErrorKind};

/// Rows decoded per column at a time while importing.
const READ_BATCH: usize = 8192;

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

/// Reads a Parquet file in the [layout](export_parquet#layout) from memory; `source` names it in
/// errors (a file name, a URL).
///
/// This and [`import_parquet_file`] read the layout from any writer — this crate's exports,
/// `kelvin-ingest`'s readings files (`kelvin_parquet`), pyarrow, Polars — and the layouts
/// before it (`kelvin-store-series` version 1, and readings files whose time column is the
/// plain `INT64` `ts_ns`): columns are found by name (others are ignored, order does not
/// matter), may be `REQUIRED` or `OPTIONAL`, use any encoding and compression the `parquet`
/// crate reads (PLAIN, dictionary, delta, byte-stream-split; uncompressed, snappy, zstd), and
/// `ts` may be a `TIMESTAMP` in milliseconds, microseconds or nanoseconds (converted to
/// nanoseconds; a timestamp that is not UTC-adjusted, like a Polars `Datetime` without a time
/// zone, is read as UTC). `entity`, `sensor`, `kind`, `value` and a time column are needed;
/// `labels` and `unit` are read when there; `quality` and `status` are not kept (a store holds
/// values only), but must be strings when there. Rows are grouped into one [`SeriesData`] per
/// key wherever they are in the file, each series sorted by time stably (rows with equal
/// timestamps keep their file order), the series sorted by key.
///
/// A `unit` other than the kind's canonical one (`kW` for power) is converted with
/// [`Unit::convert`] (kelvin-model's table of units and spellings), so that the store holds
/// canonical values only; a value in its canonical unit is kept bit for bit.
///
/// Nulls:
/// - a null `value` or `ts` cannot be a sample: the row is **skipped and reported** in
///   [`ParquetImport::skipped`] and [`ParquetImport::first_skipped`] (row numbers count from 0
///   over the whole file, as pyarrow's and Polars' row indexes do), never turned into a number.
///   [`ParquetImport::into_complete`] turns any skipped row into an error for callers that
///   accept none. An absent reading of `kelvin-ingest` (quality `absent`) has a null value and
///   is skipped so;
/// - a null `labels` is the same as `""` and `{}`: no labels;
/// - a null `unit` is the same as `""`: the kind's canonical unit;
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
/// holds a bad value (unknown kind, invalid entity id, malformed labels, a unit that is not one
/// or not of the kind's dimension, a timestamp beyond the nanosecond range) or is over a
/// [`ParquetLimits`] limit (named in the reason), and
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

/// What an import builds as it reads rows.
struct Builder {
    entities: Interner<EntityId>,
    sensors: Interner<SensorName>,
    kinds: Interner<SensorKind>,
    labels: Interner<Labels>,
    /// `None` for the kind's canonical unit (a null or empty `unit`).
    units: Interner<Option<Unit>>,
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
            units: Interner::new(),
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

/// The columns the store reads of one row group, decoded a batch at a time.
struct RowGroupColumns {
    /// `entity`, `sensor`, `kind`.
    key: [Col<ByteArrayType>; 3],
    labels: Option<Col<ByteArrayType>>,
    unit: Option<Col<ByteArrayType>>,
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
        let open = |slot: usize, i: usize| {
            rg.get_column_reader(i).map_err(|e| {
                corrupt(format!(
                    "row group {g}, column {:?}: {e}",
                    layout.name(slot)
                ))
            })
        };
        let mismatch = |slot: usize| {
            corrupt(format!(
                "row group {g}, column {:?}: reader of the wrong physical type",
                layout.name(slot)
            ))
        };
        let text = |slot: usize| -> Result<Option<Col<ByteArrayType>>, StoreError> {
            let Some(i) = layout.index[slot] else {
                return Ok(None);
            };
            match open(slot, i)? {
                ColumnReader::ByteArrayColumnReader(r) => Ok(Some(Col::new(r, nullable(slot)))),
                _ => Err(mismatch(slot)),
            }
        };
        let needed = |slot: usize| {
            text(slot)?.ok_or_else(|| corrupt(format!("no column {:?}", layout.name(slot))))
        };
        let key = [needed(ENTITY)?, needed(SENSOR)?, needed(KIND)?];
        let (labels, unit) = (text(LABELS)?, text(UNIT)?);
        let index = |slot: usize| {
            layout.index[slot].ok_or_else(|| corrupt(format!("no column {:?}", layout.name(slot))))
        };
        let ts = match open(TS, index(TS)?)? {
            ColumnReader::Int64ColumnReader(r) => Col::new(r, nullable(TS)),
            _ => return Err(mismatch(TS)),
        };
        let value = match open(VALUE, index(VALUE)?)? {
            ColumnReader::DoubleColumnReader(r) => Col::new(r, nullable(VALUE)),
            _ => return Err(mismatch(VALUE)),
        };
        Ok(RowGroupColumns {
            key,
            labels,
            unit,
            ts,
            value,
        })
    }

    /// Decodes the next batch of every column; the rows in it (the same in all of them).
    fn fill(
        &mut self,
        layout: &Layout,
        g: usize,
        done: u64,
        corrupt: impl Fn(String) -> StoreError,
    ) -> Result<usize, StoreError> {
        let mut counts: Vec<(usize, Result<usize, String>)> = Vec::with_capacity(7);
        for (slot, c) in self.key.iter_mut().enumerate() {
            counts.push((slot, c.fill(READ_BATCH)));
        }
        if let Some(c) = &mut self.labels {
            counts.push((LABELS, c.fill(READ_BATCH)));
        }
        if let Some(c) = &mut self.unit {
            counts.push((UNIT, c.fill(READ_BATCH)));
        }
        counts.push((TS, self.ts.fill(READ_BATCH)));
        counts.push((VALUE, self.value.fill(READ_BATCH)));
        let mut n = None;
        for (slot, count) in counts {
            let name = layout.name(slot);
            let count =
                count.map_err(|e| corrupt(format!("row group {g}, column {name:?}: {e}")))?;
            match n {
                None => n = Some(count),
                Some(n) if n != count => {
                    return Err(corrupt(format!(
                        "row group {g}: column {name:?} ends after {} rows, column \"entity\" \
                         after {}",
                        done + count as u64,
                        done + n as u64
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(n.unwrap_or(0))
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
    let nullable = |slot: usize| {
        layout.index[slot].is_some_and(|i| descrs.get(i).is_some_and(|d| d.max_def_level() == 1))
    };
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
            let n = cols.fill(&layout, g, done, corrupt)?;
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

/// The text of row `i` of the batch in column `c` (`None` when null), checked as UTF-8.
fn text_of(c: &mut Col<ByteArrayType>, i: usize) -> Result<Option<&str>, String> {
    match c.get(i) {
        Some(v) => v.as_utf8().map(Some).map_err(|e| e.to_string()),
        None => Ok(None),
    }
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
            layout.name(slot)
        ))
    };
    let mut ids = [0u32; 4];
    for (slot, c) in cols.key.iter_mut().enumerate() {
        let s = text_of(c, i)
            .map_err(|e| bad(slot, e))?
            .ok_or_else(|| bad(slot, "null".into()))?;
        ids[slot] = match slot {
            ENTITY => b
                .entities
                .id(s, |s| EntityId::new(s).map_err(|e| e.reason().to_string())),
            SENSOR => b.sensors.id(s, |s| Ok(SensorName::from(s))),
            _ => b.kinds.id(s, kind_from_str),
        }
        .map_err(|e| bad(slot, e))?;
    }
    let labels = match &mut cols.labels {
        Some(c) => text_of(c, i).map_err(|e| bad(LABELS, e))?,
        None => None,
    };
    ids[LABELS] = b
        .labels
        .id(labels.unwrap_or(""), parse_labels)
        .map_err(|e| bad(LABELS, e))?;
    let unit = match &mut cols.unit {
        Some(c) => text_of(c, i).map_err(|e| bad(UNIT, e))?,
        None => None,
    };
    let unit = b
        .units
        .id(unit.unwrap_or(""), parse_unit)
        .map_err(|e| bad(UNIT, e))?;
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
    let value = match b.units.items[unit as usize] {
        Some(u) if u != s.key.kind.unit() => u
            .convert(value, s.key.kind)
            .map_err(|e| bad(UNIT, e.reason().to_string()))?,
        _ => value,
    };
    s.ts.push(ns);
    s.values.push(value);
    Ok(())
}

/// A `unit` cell: `None` for the kind's canonical unit (empty), else the unit it spells.
fn parse_unit(s: &str) -> Result<Option<Unit>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    Unit::from_symbol(s)
        .map(Some)
        .map_err(|e| e.reason().to_string())
}
