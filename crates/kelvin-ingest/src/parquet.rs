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

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;

use kelvin_model::{Place, Reading, Timestamp};

use crate::csv::{Row, quality_name, reading_from_row};
use crate::{Context, IngestBatch, IngestError, IngestErrorKind, Quarantined, Reason};

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

/// Reads a file in Kelvin's Parquet layout. Never fails: a file that is not Parquet or not
/// this layout is one quarantined record; each row is a record.
///
/// The file's footer and page headers are checked before the `parquet` crate reads them (no
/// page over 16 MiB decompressed, no dictionary over 2^20 values, at most 64 MiB of pages and
/// dictionaries per row group, every size and offset inside the file); a file that fails is one
/// quarantined record. Rows past [`crate::Limits::max_records`] are one
/// [`Reason::TooManyRecords`] record, and the batch is [`IngestBatch::bounded`].
pub fn read_parquet(bytes: Vec<u8>, ctx: &Context<'_>) -> IngestBatch {
    let mut out = IngestBatch::bounded(ctx);
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
        return out;
    }
    // A crafted footer or page header makes the `parquet` crate allocate what it says: check
    // every size first.
    if let Err((reason, detail)) = crate::parquet_guard::check(&bytes) {
        out.reject(Quarantined::new(ctx.line(1), reason, detail, ""));
        return out;
    }
    let bad = |out: &mut IngestBatch, line: u64, detail: String| {
        out.reject(Quarantined::new(
            ctx.line(line),
            Reason::BadField,
            detail,
            "",
        ));
    };
    let reader = match SerializedFileReader::new(bytes::Bytes::from(bytes)) {
        Ok(r) => r,
        Err(e) => {
            bad(&mut out, 1, format!("not a readable Parquet file: {e}"));
            return out;
        }
    };
    let rows = match reader.get_row_iter(None) {
        Ok(rows) => rows,
        Err(e) => {
            bad(&mut out, 1, format!("unreadable rows: {e}"));
            return out;
        }
    };
    for (i, row) in rows.enumerate() {
        let line = i as u64 + 1;
        if i == ctx.limits.max_records {
            out.reject(Quarantined::new(
                ctx.line(line),
                Reason::TooManyRecords,
                "further rows not read",
                "",
            ));
            return out;
        }
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                bad(&mut out, line, format!("unreadable row: {e}"));
                return out; // a corrupt page ends the row iterator's usefulness
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
    out
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
}
