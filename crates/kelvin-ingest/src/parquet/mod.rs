//! Kelvin's Parquet layout: readings in the one Parquet layout of Kelvin, which
//! `kelvin-store` exports and imports too (its names and schema are `kelvin_model::layout`;
//! the description, with what each crate makes of a row and which older files read, is the
//! repository's `docs/format.md`, "Kelvin's Parquet layout"). The columns are those of the
//! [CSV layout](crate::csv), typed, and the series labels of the store:
//!
//! ```text
//! message kelvin_readings {
//!   OPTIONAL INT64 ts (TIMESTAMP(NANOS,true)); -- nanoseconds since the epoch, UTC; null = unknown
//!   REQUIRED BYTE_ARRAY entity (STRING);
//!   REQUIRED BYTE_ARRAY sensor (STRING);
//!   REQUIRED BYTE_ARRAY kind (STRING);       -- snake_case SensorKind
//!   OPTIONAL BYTE_ARRAY labels (STRING);     -- a flat JSON object of strings; null = none
//!   REQUIRED BYTE_ARRAY unit (STRING);       -- always the kind's canonical unit when written
//!   OPTIONAL DOUBLE value;                   -- null = absent
//!   REQUIRED BYTE_ARRAY quality (STRING);    -- snake_case Quality
//!   OPTIONAL BYTE_ARRAY status (STRING);
//! }
//! ```
//!
//! with the key/value metadata `kelvin.format = "kelvin-readings"`, `kelvin.version = "2"`.
//! Written with zstd compression, delta encoding for `ts` and byte-stream-split for `value`;
//! readings have no labels, so `labels` is written null. pyarrow and Polars read it as is, and
//! files they write in this layout (zstd or snappy compressed, nullable columns, `ts` in
//! milliseconds, microseconds or nanoseconds, any unit of the kind's dimension) read back:
//! `.ci/run` checks both directions with `scripts/parquet_interop.py` (last run with pyarrow
//! 26.0.1 and Polars 2.1.0).
//!
//! Reading validates every row like the CSV form (each row is one record, quarantined with its
//! row number as the line). It reads what `kelvin-store` exports, whose rows are readings: a
//! NaN value with quality `absent`, or with none, is an absent reading; a series' labels
//! become part of the sensor's name, `outlet3{phase="L1"}` (the store's way of writing a key;
//! at most [`crate::Limits::max_labels`] labels a row). It reads the files of layout version 1
//! too: the store's (`kelvin-store-series`) and this module's (no metadata, the time a plain
//! `INT64` column `ts_ns`). A file that is not Parquet, or not this layout (a needed column
//! missing, a column of another type, another `kelvin.format`, a newer `kelvin.version`), is
//! one quarantined record.
//!
//! - `write`: [`write_parquet`];
//! - `check`: the checks of a file's footer and page headers (through [`kelvin_guard::parquet`])
//!   before the `parquet` crate decodes them;
//! - `schema`: the file's metadata and schema against the layout: which columns to read, the
//!   time column's name and unit;
//! - `row`: one row's cells into a [`Reading`] (or a quarantine reason);
//! - here: the [`KelvinParquet`] decoder and [`read_parquet`], which run the three in turn.

mod check;
mod row;
mod schema;
mod write;

pub use write::write_parquet;

use parquet::file::reader::{FileReader, SerializedFileReader};

use self::check::{check_footer, check_pages};
use self::row::Fields;
use self::schema::{Schema, check_schema};
use crate::{Confidence, Context, Decode, Format, IngestBatch, Quarantined, Reason};
#[cfg(doc)]
use kelvin_model::Reading;

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
    let schema = match check_schema(reader.metadata()) {
        Ok(schema) => schema,
        Err((reason, detail)) => {
            out.reject(Quarantined::new(ctx.line(1), reason, detail, ""));
            return;
        }
    };
    // The guard bounds what the crate allocates, but the crate still panics on some damaged
    // page data (a delta-encoding header whose varint overflows a shift, for one); a panic
    // there is a damaged file, not a bug of the caller, so it is quarantined like any damage.
    let rows_before = out.stats.seen;
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_rows(&reader, &schema, ctx, out);
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
    schema: &Schema,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
) {
    let bad = |out: &mut IngestBatch, line: u64, detail: String| bad_field(out, ctx, line, detail);
    let rows = match reader.get_row_iter(Some(schema.projection.clone())) {
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
            fields.set(name, f, schema);
        }
        match fields.reading(schema, ctx) {
            Ok(r) => out.accept(r),
            Err((reason, detail)) => {
                out.reject(Quarantined::new(
                    ctx.line(line),
                    reason,
                    detail,
                    &fields.excerpt(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
