//! Writing readings in the layout: [`write_parquet`].

use std::io::Write;
use std::sync::Arc;

use kelvin_model::layout;
use kelvin_model::{Place, Reading};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

use crate::csv::quality_name;
use crate::{IngestError, IngestErrorKind};

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
    let schema = Arc::new(parse_message_type(layout::SCHEMA).map_err(write_err)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(write_err)?))
        .set_column_dictionary_enabled(layout::TS.into(), false)
        .set_column_encoding(layout::TS.into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(layout::VALUE.into(), false)
        .set_column_encoding(layout::VALUE.into(), Encoding::BYTE_STREAM_SPLIT)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(layout::FORMAT_KEY.into(), layout::FORMAT.to_string()),
            KeyValue::new(layout::VERSION_KEY.into(), layout::VERSION.to_string()),
        ]))
        .build();
    let mut w = SerializedFileWriter::new(sink, schema, Arc::new(props)).map_err(write_err)?;
    for chunk in readings.chunks(ROW_GROUP.max(1)) {
        let mut rg = w.next_row_group().map_err(write_err)?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(write_err)? {
            write_column(
                chunk,
                layout::COLUMNS.get(col).copied().unwrap_or(""),
                &mut c,
            )?;
            c.close().map_err(write_err)?;
            col += 1;
        }
        rg.close().map_err(write_err)?;
    }
    w.close().map_err(write_err)?;
    Ok(())
}

/// Writes the column `name` of `readings`.
fn write_column(
    readings: &[Reading],
    name: &str,
    c: &mut SerializedColumnWriter<'_>,
) -> Result<(), IngestError> {
    let text = |f: &dyn Fn(&Reading) -> String| -> Vec<ByteArray> {
        readings
            .iter()
            .map(|r| ByteArray::from(f(r).into_bytes()))
            .collect()
    };
    let optional_text = |f: &dyn Fn(&Reading) -> Option<&str>| {
        let defs: Vec<i16> = readings.iter().map(|r| i16::from(f(r).is_some())).collect();
        let vals: Vec<ByteArray> = readings
            .iter()
            .filter_map(f)
            .map(|s| ByteArray::from(s.as_bytes().to_vec()))
            .collect();
        (vals, defs)
    };
    let written = match name {
        layout::TS => {
            let defs: Vec<i16> = readings
                .iter()
                .map(|r| i16::from(r.ts.is_known()))
                .collect();
            let vals: Vec<i64> = readings
                .iter()
                .filter(|r| r.ts.is_known())
                .map(|r| r.ts.as_nanos())
                .collect();
            c.typed::<Int64Type>().write_batch(&vals, Some(&defs), None)
        }
        layout::VALUE => {
            let defs: Vec<i16> = readings
                .iter()
                .map(|r| i16::from(r.value.is_finite()))
                .collect();
            let vals: Vec<f64> = readings
                .iter()
                .map(|r| r.value)
                .filter(|v| v.is_finite())
                .collect();
            c.typed::<DoubleType>()
                .write_batch(&vals, Some(&defs), None)
        }
        layout::LABELS | layout::STATUS => {
            let (vals, defs) = if name == layout::STATUS {
                optional_text(&|r| r.status.as_deref())
            } else {
                optional_text(&|_| None)
            };
            c.typed::<ByteArrayType>()
                .write_batch(&vals, Some(&defs), None)
        }
        _ => {
            let vals = match name {
                layout::ENTITY => text(&|r| r.entity.to_string()),
                layout::SENSOR => text(&|r| r.sensor.to_string()),
                layout::KIND => text(&|r| r.kind.as_str().to_string()),
                layout::UNIT => text(&|r| r.unit().symbol().to_string()),
                _ => text(&|r| quality_name(r.quality)),
            };
            c.typed::<ByteArrayType>().write_batch(&vals, None, None)
        }
    };
    written.map(drop).map_err(write_err)
}
