//! Kelvin's recording layout in Parquet: the columns of the [CSV layout](crate::csv), typed.
//!
//! ```text
//! message kelvin_reading {
//!   OPTIONAL INT64 ts_ns;                 -- nanoseconds since the Unix epoch; null = unknown
//!   REQUIRED BYTE_ARRAY entity (STRING);
//!   REQUIRED BYTE_ARRAY sensor (STRING);
//!   REQUIRED BYTE_ARRAY kind (STRING);    -- snake_case SensorKind
//!   REQUIRED BYTE_ARRAY unit (STRING);    -- always the kind's canonical unit when written
//!   OPTIONAL DOUBLE value;                -- null = absent
//!   REQUIRED BYTE_ARRAY quality (STRING); -- snake_case Quality
//!   OPTIONAL BYTE_ARRAY status (STRING);
//! }
//! ```
//!
//! Written with zstd compression, delta encoding for `ts_ns` and byte-stream-split for
//! `value`. pyarrow and Polars read it as is, and files they write in this layout (zstd or
//! snappy compressed, nullable columns, any unit of the kind's dimension) read back: `.ci/run`
//! checks both directions with `scripts/parquet_interop.py` (last run with pyarrow 26.0.1 and
//! Polars 2.1.0). Reading validates every row like the CSV form (each row is one record,
//! quarantined with its row number as the line). A file that is not Parquet, or not this
//! layout, is one quarantined record.

use std::io::Write;
use std::sync::Arc;

use kelvin_guard::parquet as guard;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;

use kelvin_model::{Place, Reading, Timestamp};

use crate::csv::{Row, quality_name, reading_from_row};
use crate::{
    Confidence, Context, Decode, Format, IngestBatch, IngestError, IngestErrorKind, Quarantined,
    Reason,
};

const SCHEMA: &str = "message kelvin_reading {
  OPTIONAL INT64 ts_ns;
  REQUIRED BYTE_ARRAY entity (STRING);
  REQUIRED BYTE_ARRAY sensor (STRING);
  REQUIRED BYTE_ARRAY kind (STRING);
  REQUIRED BYTE_ARRAY unit (STRING);
  OPTIONAL DOUBLE value;
  REQUIRED BYTE_ARRAY quality (STRING);
  OPTIONAL BYTE_ARRAY status (STRING);
}";

/// Rows per row group.
const ROW_GROUP: usize = 1 << 20;

/// What a file read may claim: pages of at most 16 MiB (writers default to 1 MiB), dictionary
/// pages of at most 2^20 values (a 1 MiB dictionary page of 4-byte strings holds 2^18), and at
/// most 64 MiB of pages and decoded dictionaries per row group at once. The footer is bounded
/// by [`crate::Limits::max_input_bytes`] only: it is walked whole before it is decoded.
const LIMITS: guard::Limits = guard::Limits {
    owner: "",
    max_footer_bytes: u64::MAX,
    max_page_bytes: 16 << 20,
    max_dictionary_values: 1 << 20,
    max_row_group_bytes: 64 << 20,
};

fn write_err(e: impl std::fmt::Display) -> IngestError {
    IngestError::new(
        IngestErrorKind::Io,
        Place::Unknown,
        format!("writing Parquet: {e}"),
    )
}

/// Writes readings in Kelvin's Parquet layout.
///
/// # Errors
/// [`IngestErrorKind::Io`] when the sink fails.
///
/// ```
/// use kelvin_ingest::{Context, Normalizer, parquet::{read_parquet, write_parquet}};
/// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
/// let r = Reading::new(EntityId::new("h1")?, "inlet", SensorKind::Temperature, 24.5, Timestamp::from_secs(5));
/// let mut file = Vec::new();
/// write_parquet(&[r.clone()], &mut file)?;
/// let n = Normalizer::builtin();
/// let back = read_parquet(file, &Context::new("r.parquet", &n));
/// assert_eq!(back.readings, [r]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_parquet(readings: &[Reading], sink: impl Write + Send) -> Result<(), IngestError> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(write_err)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(write_err)?))
        .set_column_dictionary_enabled("ts_ns".into(), false)
        .set_column_encoding("ts_ns".into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled("value".into(), false)
        .set_column_encoding("value".into(), Encoding::BYTE_STREAM_SPLIT)
        .build();
    let mut w = SerializedFileWriter::new(sink, schema, Arc::new(props)).map_err(write_err)?;
    for chunk in readings.chunks(ROW_GROUP.max(1)) {
        let mut rg = w.next_row_group().map_err(write_err)?;
        let text = |f: &dyn Fn(&Reading) -> String| -> Vec<ByteArray> {
            chunk
                .iter()
                .map(|r| ByteArray::from(f(r).into_bytes()))
                .collect()
        };
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(write_err)? {
            match col {
                0 => {
                    let defs: Vec<i16> = chunk.iter().map(|r| i16::from(r.ts.is_known())).collect();
                    let vals: Vec<i64> = chunk
                        .iter()
                        .filter(|r| r.ts.is_known())
                        .map(|r| r.ts.as_nanos())
                        .collect();
                    c.typed::<Int64Type>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(write_err)?;
                }
                1 => {
                    c.typed::<ByteArrayType>()
                        .write_batch(&text(&|r| r.entity.to_string()), None, None)
                        .map_err(write_err)?;
                }
                2 => {
                    c.typed::<ByteArrayType>()
                        .write_batch(&text(&|r| r.sensor.to_string()), None, None)
                        .map_err(write_err)?;
                }
                3 => {
                    c.typed::<ByteArrayType>()
                        .write_batch(&text(&|r| r.kind.as_str().to_string()), None, None)
                        .map_err(write_err)?;
                }
                4 => {
                    c.typed::<ByteArrayType>()
                        .write_batch(&text(&|r| r.unit().symbol().to_string()), None, None)
                        .map_err(write_err)?;
                }
                5 => {
                    let defs: Vec<i16> = chunk
                        .iter()
                        .map(|r| i16::from(r.value.is_finite()))
                        .collect();
                    let vals: Vec<f64> = chunk
                        .iter()
                        .map(|r| r.value)
                        .filter(|v| v.is_finite())
                        .collect();
                    c.typed::<DoubleType>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(write_err)?;
                }
                6 => {
                    c.typed::<ByteArrayType>()
                        .write_batch(&text(&|r| quality_name(r.quality)), None, None)
                        .map_err(write_err)?;
                }
                _ => {
                    let defs: Vec<i16> = chunk
                        .iter()
                        .map(|r| i16::from(r.status.is_some()))
                        .collect();
                    let vals: Vec<ByteArray> = chunk
                        .iter()
                        .filter_map(|r| r.status.as_ref())
                        .map(|s| ByteArray::from(s.as_bytes().to_vec()))
                        .collect();
                    c.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(write_err)?;
                }
            }
            c.close().map_err(write_err)?;
            col += 1;
        }
        rg.close().map_err(write_err)?;
    }
    w.close().map_err(write_err)?;
    Ok(())
}

/// Whether bytes start like a Parquet file.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(b"PAR1")
}

/// The decoder of Kelvin's Parquet layout, `kelvin_parquet`: a binary format, so it reads files
/// ([`Decode::decode_bytes`], recognized by their `PAR1` magic with [`Confidence::CERTAIN`]),
/// not text. Given text, it quarantines the input as one [`Reason::UnknownFormat`] record that
/// says to pass the file's path.
#[derive(Debug, Clone, Copy, Default)]
pub struct KelvinParquet;

impl Decode for KelvinParquet {
    fn name(&self) -> &str {
        Format::KelvinParquet.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        out.reject(Quarantined::new(
            ctx.line(1),
            Reason::UnknownFormat,
            "Parquet is binary; pass the file's path",
            input,
        ));
    }

    fn detect_bytes(&self, head: &[u8]) -> Option<Confidence> {
        is_parquet(head).then_some(Confidence::CERTAIN)
    }

    fn decode_bytes(&self, bytes: Vec<u8>, ctx: &Context<'_>, out: &mut IngestBatch) {
        read_parquet_into(bytes, ctx, out);
    }
}

/// Reads a file in Kelvin's Parquet layout. Never fails: a file that is not Parquet or not
/// this layout is one quarantined record; each row is a record.
///
/// The file's footer and page headers are checked before the `parquet` crate reads them
/// ([`kelvin_guard::parquet`]: no page over 16 MiB, no dictionary over 2^20 values, at most
/// 64 MiB of pages and dictionaries per row group, a schema at most 64 levels deep, every size
/// and offset inside the file); a file that fails is one quarantined record. Rows past
/// [`crate::Limits::max_records`] are one [`Reason::TooManyRecords`] record, and the batch is
/// [`IngestBatch::bounded`].
pub fn read_parquet(bytes: Vec<u8>, ctx: &Context<'_>) -> IngestBatch {
    let mut out = IngestBatch::bounded(ctx);
    read_parquet_into(bytes, ctx, &mut out);
    out
}

/// [`read_parquet`] into a batch of the caller's (which holds the budgets).
fn read_parquet_into(bytes: Vec<u8>, ctx: &Context<'_>, out: &mut IngestBatch) {
    if bytes.len() > ctx.limits.max_input_bytes {
        let detail = format!(
            "{} bytes, over max_input_bytes ({})",
            bytes.len(),
            ctx.limits.max_input_bytes
        );
        out.reject(Quarantined::new(
            ctx.line(1),
            Reason::InputTooLarge,
            detail,
            "",
        ));
        return;
    }
    // A crafted footer or page header makes the `parquet` crate allocate what it says: check
    // the footer before the crate decodes it, and every page header before it reads a page.
    let footer = match check_footer(&bytes) {
        Ok(footer) => footer,
        Err((reason, detail)) => {
            out.reject(Quarantined::new(ctx.line(1), reason, detail, ""));
            return;
        }
    };
    let bad = |out: &mut IngestBatch, line: u64, detail: String| bad_field(out, ctx, line, detail);
    let bytes = bytes::Bytes::from(bytes);
    let reader = match SerializedFileReader::new(bytes.clone()) {
        Ok(r) => r,
        Err(e) => {
            bad(out, 1, format!("not a readable Parquet file: {e}"));
            return;
        }
    };
    if let Err((reason, detail)) = check_pages(&bytes, footer, reader.metadata()) {
        out.reject(Quarantined::new(ctx.line(1), reason, detail, ""));
        return;
    }
    // The guard bounds what the crate allocates, but the crate still panics on some damaged
    // page data (a delta-encoding header whose varint overflows a shift, for one); a panic
    // there is a damaged file, not a bug of the caller, so it is quarantined like any damage.
    let rows_before = out.stats.seen;
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_rows(&reader, ctx, out);
    }));
    if let Err(panic) = decoded {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let row = out.stats.seen - rows_before + 1;
        bad(
            out,
            row,
            format!("the Parquet decoder failed on the page holding this row: {what}"),
        );
    }
}

/// Quarantines a malformed part of the file at `line` (a row number; 1 for the file).
fn bad_field(out: &mut IngestBatch, ctx: &Context<'_>, line: u64, detail: String) {
    out.reject(Quarantined::new(
        ctx.line(line),
        Reason::BadField,
        detail,
        "",
    ));
}

/// Reads the rows of a checked file into `out`, one record each.
fn read_rows(
    reader: &SerializedFileReader<bytes::Bytes>,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
) {
    let bad = |out: &mut IngestBatch, line: u64, detail: String| bad_field(out, ctx, line, detail);
    let rows = match reader.get_row_iter(None) {
        Ok(rows) => rows,
        Err(e) => {
            bad(out, 1, format!("unreadable rows: {e}"));
            return;
        }
    };
    for (i, row) in rows.enumerate() {
        let line = i as u64 + 1;
        // each row is one record: past the batch's record limit, the rest is not read
        if !out.admit_record(|| (ctx.line(line), "")) {
            return;
        }
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                bad(out, line, format!("unreadable row: {e}"));
                return; // a corrupt page ends the row iterator's usefulness
            }
        };
        let mut fields = Fields::default();
        for (name, f) in row.get_column_iter() {
            match (name.as_str(), f) {
                ("ts_ns", Field::Long(v)) => fields.ts = Some(*v),
                ("value", Field::Double(v)) => fields.value = Some(*v),
                (
                    n @ ("entity" | "sensor" | "kind" | "unit" | "quality" | "status"),
                    Field::Str(s),
                ) => fields.text(n, s),
                (_, Field::Null) => {}
                (n, other) => fields.wrong = Some(format!("column {n:?} holds {other}")),
            }
        }
        match fields.reading(ctx) {
            Ok(r) => out.accept(r),
            Err((reason, detail)) => {
                let excerpt = format!(
                    "{} {} {}",
                    fields.entity.as_deref().unwrap_or(""),
                    fields.sensor.as_deref().unwrap_or(""),
                    fields.kind.as_deref().unwrap_or("")
                );
                out.reject(Quarantined::new(ctx.line(line), reason, detail, &excerpt));
            }
        }
    }
}

/// Why a file is refused: a reason and a detail.
type Refusal = (Reason, String);

/// The guard's refusal `e`, as a quarantine reason and detail.
fn refusal(e: &kelvin_guard::Error) -> Refusal {
    let (at, found, limit) = (
        e.offset().unwrap_or(0),
        e.found().unwrap_or(0),
        e.limit().unwrap_or(0),
    );
    match (e.kind(), e.limit_name()) {
        (kelvin_guard::ErrorKind::OverLimit, Some("max_page_bytes")) => (
            Reason::InputTooLarge,
            format!(
                "the page at byte {at} is {found} bytes decompressed or compressed, over {limit}"
            ),
        ),
        (kelvin_guard::ErrorKind::OverLimit, Some("max_dictionary_values")) => (
            Reason::InputTooLarge,
            format!("the dictionary page at byte {at} claims {found} values (at most {limit})"),
        ),
        (kelvin_guard::ErrorKind::OverLimit, _) => (Reason::InputTooLarge, e.to_string()),
        _ => (Reason::BadField, e.to_string()),
    }
}

/// Finds the footer and walks it before the `parquet` crate decodes it.
fn check_footer(file: &[u8]) -> Result<guard::Footer, Refusal> {
    let n = file.len();
    if n < 12 || !file.starts_with(b"PAR1") || !file.ends_with(b"PAR1") {
        let detail = "not a Parquet file (no PAR1 magic at both ends)";
        return Err((Reason::BadField, detail.into()));
    }
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&file[n - 8..]);
    let footer = guard::footer(n as u64, tail, &LIMITS).map_err(|e| refusal(&e))?;
    let rest = file.get(footer.start as usize..).unwrap_or_default();
    guard::check_footer(rest, footer).map_err(|e| refusal(&e))?;
    Ok(footer)
}

/// Walks the page headers of every column chunk the decoded footer names, before a page is
/// read, and checks what each row group's pages need at once.
fn check_pages(file: &[u8], footer: guard::Footer, meta: &ParquetMetaData) -> Result<(), Refusal> {
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let mut working = 0u64;
        for c in rg.columns() {
            let place = format!("row group {g}, column {:?}", c.column_path().string());
            if c.file_path().is_some() {
                let detail =
                    format!("{place}: a column chunk in another file (file_path): not read");
                return Err((Reason::BadField, detail));
            }
            let range = guard::chunk(
                c.dictionary_page_offset(),
                c.data_page_offset(),
                c.compressed_size(),
                footer,
            )
            .map_err(|e| (Reason::BadField, format!("{place}: {e}")))?;
            let read_at = |at: u64| file.get(at as usize..).ok_or("past the end of the file");
            let needs = guard::check_chunk(read_at, range, 1, &LIMITS).map_err(|e| refusal(&e))?;
            working = working.saturating_add(needs);
        }
        LIMITS.check_row_group(g, working).map_err(|e| {
            let detail = format!(
                "row group {g} needs {working} bytes of pages and dictionaries at once, over {}",
                e.limit().unwrap_or(0)
            );
            (Reason::InputTooLarge, detail)
        })?;
    }
    Ok(())
}

#[derive(Default)]
struct Fields {
    ts: Option<i64>,
    value: Option<f64>,
    entity: Option<String>,
    sensor: Option<String>,
    kind: Option<String>,
    unit: Option<String>,
    quality: Option<String>,
    status: Option<String>,
    wrong: Option<String>,
}

impl Fields {
    fn text(&mut self, name: &str, s: &str) {
        let slot = match name {
            "entity" => &mut self.entity,
            "sensor" => &mut self.sensor,
            "kind" => &mut self.kind,
            "unit" => &mut self.unit,
            "quality" => &mut self.quality,
            _ => &mut self.status,
        };
        *slot = Some(s.to_string());
    }

    fn reading(&self, ctx: &Context<'_>) -> Result<Reading, (Reason, String)> {
        if let Some(w) = &self.wrong {
            return Err((Reason::BadField, w.clone()));
        }
        let need = |v: &Option<String>, n: &str| {
            v.clone()
                .ok_or_else(|| (Reason::BadField, format!("no {n} column value")))
        };
        let (entity, sensor, kind) = (
            need(&self.entity, "entity")?,
            need(&self.sensor, "sensor")?,
            need(&self.kind, "kind")?,
        );
        reading_from_row(
            &Row {
                ts: match self.ts {
                    None => Timestamp::UNKNOWN,
                    Some(ns) => crate::csv::known_nanos(ns).ok_or_else(|| {
                        (
                            Reason::BadTimestamp,
                            "ts_ns is i64::MIN, which stands for an unknown time (write null)"
                                .to_string(),
                        )
                    })?,
                },
                entity: &entity,
                sensor: &sensor,
                kind: &kind,
                unit: self.unit.as_deref().filter(|u| !u.is_empty()),
                value: self.value,
                quality: self.quality.as_deref().filter(|q| !q.is_empty()),
                status: self.status.as_deref(),
            },
            ctx,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;
    use kelvin_model::{EntityId, Quality, SensorKind};
    use proptest::prelude::*;

    fn reading() -> impl Strategy<Value = Reading> {
        (
            "[a-z][a-z0-9-]{0,12}",
            "[ -~]{0,20}",
            proptest::sample::select(SensorKind::ALL.to_vec()),
            prop_oneof![
                proptest::num::f64::NORMAL,
                Just(-0.0),
                Just(0.0),
                Just(f64::MIN_POSITIVE),
                Just(f64::NAN)
            ],
            prop_oneof![
                Just(None),
                (-1_000_000_000_000_000_000i64..4_000_000_000_000_000_000).prop_map(Some)
            ],
            proptest::option::of("[ -~]{0,10}"),
        )
            .prop_map(|(e, s, k, v, ts, status)| {
                let ts = ts.map_or(Timestamp::UNKNOWN, Timestamp::from_nanos);
                let mut r = Reading::new(EntityId::new(e).unwrap(), s, k, v, ts);
                if v.is_nan() {
                    r = r.with_quality(Quality::Absent);
                }
                r.status = status;
                r
            })
    }

    proptest! {
        #[test]
        fn round_trips_bit_exactly(rs in proptest::collection::vec(reading(), 0..50)) {
            let mut file = Vec::new();
            write_parquet(&rs, &mut file).unwrap();
            let n = Normalizer::builtin();
            let back = read_parquet(file, &Context::new("p", &n));
            prop_assert_eq!(back.stats.quarantined, 0, "{:?}", back.quarantine);
            prop_assert_eq!(back.readings.len(), rs.len());
            for (a, b) in rs.iter().zip(&back.readings) {
                prop_assert_eq!(a.value.to_bits(), b.value.to_bits());
                prop_assert_eq!((&a.entity, &a.sensor, a.kind, a.ts, a.quality, &a.status), (&b.entity, &b.sensor, b.kind, b.ts, b.quality, &b.status));
            }
        }

        #[test]
        fn arbitrary_bytes_are_one_quarantined_record(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let n = Normalizer::builtin();
            let b = read_parquet(bytes, &Context::new("p", &n));
            prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        }
    }

    #[test]
    fn truncated_and_foreign_files_are_quarantined() {
        let r = Reading::new(
            EntityId::new("h").unwrap(),
            "s",
            SensorKind::Power,
            5.0,
            Timestamp::from_secs(1),
        );
        let mut file = Vec::new();
        write_parquet(&[r], &mut file).unwrap();
        assert!(is_parquet(&file));
        let n = Normalizer::builtin();
        let cut = read_parquet(
            file[..file.len() / 2].to_vec(),
            &Context::new("cut.parquet", &n),
        );
        assert_eq!((cut.stats.accepted, cut.stats.quarantined), (0, 1));
        assert_eq!(cut.quarantine[0].place.to_string(), "cut.parquet:1");
        let text = read_parquet(b"ts_ns,entity\n".to_vec(), &Context::new("x", &n));
        assert_eq!(text.stats.quarantined, 1);
    }

    // Crafted metadata: the checks of `check_footer` and `check_pages`, end to end.

    /// A small file in Kelvin's layout.
    fn file() -> Vec<u8> {
        let rs: Vec<Reading> = (0..50)
            .map(|i| {
                Reading::new(
                    EntityId::new(format!("h{}", i % 3)).unwrap(),
                    "inlet",
                    SensorKind::Temperature,
                    20.0 + f64::from(i),
                    Timestamp::from_secs(i64::from(i)),
                )
            })
            .collect();
        let mut f = Vec::new();
        write_parquet(&rs, &mut f).unwrap();
        f
    }

    /// The varint at `at`: its value and its length.
    fn varint(bytes: &[u8], at: usize) -> (u64, usize) {
        let len = bytes[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
        let v = bytes[at..at + len]
            .iter()
            .rev()
            .fold(0, |v, b| (v << 7) | u64::from(b & 0x7f));
        (v, len)
    }

    /// Where the varint value of the field at `path` (field ids through nested structs) of the
    /// Thrift struct at `pos` begins, and how long it is; with an empty path, where the struct
    /// ends. Enough of the compact protocol for what parquet-rs writes before those fields:
    /// short field headers, integers, binaries and structs.
    fn field_at(bytes: &[u8], mut pos: usize, path: &[i16]) -> (usize, usize) {
        let mut id = 0;
        loop {
            let h = bytes[pos];
            pos += 1;
            if h == 0 && path.is_empty() {
                return (pos, 0);
            }
            assert!(
                h >> 4 != 0,
                "a long field header, or the end before {path:?}"
            );
            id += i16::from(h >> 4);
            let (v, len) = varint(bytes, pos);
            match (path.first() == Some(&id), path.len(), h & 0x0f) {
                (true, 1, 5 | 6) => return (pos, len),
                (true, _, 12) => return field_at(bytes, pos, &path[1..]),
                (_, _, 5 | 6) => pos += len,
                (_, _, 8) => pos += len + v as usize,
                (_, _, 12) => pos = field_at(bytes, pos, &[]).0,
                (_, _, ty) => panic!("type {ty} before field {path:?}"),
            }
        }
    }

    /// `bytes` with the varint at `at` (of `len` bytes) replaced by the zigzag encoding of `v`;
    /// the footer length is fixed when the change is inside the footer.
    fn splice(bytes: &[u8], (at, len): (usize, usize), v: i64) -> Vec<u8> {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        let mut enc = Vec::new();
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                enc.push(b);
                break;
            }
            enc.push(b | 0x80);
        }
        let n = bytes.len();
        let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
        let mut out = [&bytes[..at], &enc[..], &bytes[at + len..]].concat();
        if at >= n - 8 - footer_len {
            let m = out.len();
            let fixed = (footer_len + enc.len() - len) as u32;
            out[m - 8..m - 4].copy_from_slice(&fixed.to_le_bytes());
        }
        out
    }

    fn quarantined(bytes: Vec<u8>) -> (Reason, String) {
        let n = Normalizer::builtin();
        let b = read_parquet(bytes, &Context::new("p", &n));
        assert_eq!(
            (b.stats.seen, b.stats.quarantined),
            (1, 1),
            "{:?}",
            b.quarantine
        );
        (b.quarantine[0].reason, b.quarantine[0].detail.clone())
    }

    #[test]
    fn a_written_file_passes_the_checks() {
        let n = Normalizer::builtin();
        let b = read_parquet(file(), &Context::new("p", &n));
        assert_eq!((b.stats.accepted, b.stats.quarantined), (50, 0));
    }

    #[test]
    fn oversized_pages_and_dictionaries_are_refused_before_they_are_allocated() {
        let f = file();
        let reader = SerializedFileReader::new(bytes::Bytes::from(f.clone())).unwrap();
        let dictionary = reader
            .metadata()
            .row_group(0)
            .column(1)
            .dictionary_page_offset();
        // The uncompressed size of the first page of the first column (ts_ns, no dictionary,
        // right after "PAR1"), and the value count of the dictionary page of column 1 (entity).
        let claims: [(usize, &[i16], &str); 2] = [
            (4, &[2], "2147483647 bytes decompressed"),
            (
                dictionary.unwrap() as usize,
                &[7, 1],
                "claims 2147483647 values",
            ),
        ];
        for (start, path, says) in claims {
            let at = field_at(&f, start, path);
            let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
            assert_eq!(reason, Reason::InputTooLarge);
            assert!(detail.contains(says), "{detail}");
        }
    }

    #[test]
    fn impossible_schemas_and_offsets_are_refused() {
        let f = file();
        let n = f.len();
        let footer_len = u32::from_le_bytes(f[n - 8..n - 4].try_into().unwrap()) as usize;
        // The footer starts with the version (field 1) and the schema (field 2, a list whose
        // first element is the root).
        let mut root = n - 8 - footer_len;
        assert_eq!((f[root], f[root + 2]), (0x15, 0x19));
        root += 3;
        root += if f[root] >> 4 == 15 {
            1 + varint(&f, root + 1).1
        } else {
            1
        };
        let at = field_at(&f, root, &[5]);
        let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
        assert_eq!(reason, Reason::BadField);
        assert!(detail.contains("claims 2147483647 children"), "{detail}");
        // a footer longer than the file, a cut file
        let mut long = f.clone();
        long[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(quarantined(long).1.contains("footer claims"));
        assert_eq!(quarantined(f[..n / 2].to_vec()).0, Reason::BadField);
    }
}
