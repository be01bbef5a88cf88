//! The layout's columns and metadata keys, the schema [`super::export_parquet`] writes, and
//! the check that finds the layout's columns in a file on import.

use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::file::metadata::KeyValue;
use parquet::schema::types::{ColumnDescPtr, Type};

use super::export::io_err;
use super::invalid;
use crate::{StoreError, StoreErrorKind};

/// The value of the `kelvin.format` key/value metadata entry of an export.
pub const PARQUET_FORMAT: &str = "kelvin-store-series";

/// The layout version written to the `kelvin.version` metadata entry; import refuses newer
/// versions with [`StoreErrorKind::Unsupported`].
pub const PARQUET_VERSION: u32 = 1;

/// The metadata key naming the layout.
pub(super) const FORMAT_KEY: &str = "kelvin.format";
/// The metadata key holding the layout's version.
pub(super) const VERSION_KEY: &str = "kelvin.version";

/// The columns of the layout, in the order they are written.
pub(super) const COLUMNS: [&str; 6] = ["entity", "sensor", "kind", "labels", "ts", "value"];
// Their places in `COLUMNS` (and in `Layout::index`).
pub(super) const ENTITY: usize = 0;
pub(super) const SENSOR: usize = 1;
pub(super) const KIND: usize = 2;
pub(super) const LABELS: usize = 3;
pub(super) const TS: usize = 4;
pub(super) const VALUE: usize = 5;

/// The schema export writes (see [`super::export_parquet`]'s layout).
pub(super) fn schema() -> Result<Type, StoreError> {
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

/// How a `ts` column's integers become nanoseconds.
#[derive(Clone, Copy)]
pub(super) struct TsUnit {
    /// Nanoseconds per unit.
    pub(super) factor: i64,
    /// The unit's symbol, for errors.
    pub(super) name: &'static str,
}

/// The validated places of the layout's columns in one file.
pub(super) struct Layout {
    /// Leaf column index of each of [`COLUMNS`].
    pub(super) index: [usize; 6],
    /// The unit of the `ts` column.
    pub(super) ts: TsUnit,
}

/// Finds the layout's columns among a file's leaf columns `descrs` and checks their types and
/// the file's `kelvin.format` and `kelvin.version` entries (`kv`).
pub(super) fn check_layout(
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
