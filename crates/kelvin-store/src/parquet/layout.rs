//! Kelvin's Parquet layout as the store uses it: the schema [`super::export_parquet`] writes
//! (`kelvin_model::layout::SCHEMA`), and the check that finds the columns the store reads in
//! a file on import, of this version or an older one.

use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::file::metadata::KeyValue;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnDescPtr, Type};

use kelvin_model::layout;

use super::export::io_err;
use super::invalid;
use crate::{StoreError, StoreErrorKind};

/// The value of the `kelvin.format` key/value metadata entry of an export: Kelvin's one
/// Parquet layout, which `kelvin-ingest` writes too (`kelvin_model::layout::FORMAT`).
pub const PARQUET_FORMAT: &str = layout::FORMAT;

/// The layout version written to the `kelvin.version` metadata entry
/// (`kelvin_model::layout::VERSION`); import refuses newer versions with
/// [`StoreErrorKind::Unsupported`] and reads version 1 (`kelvin-store-series`).
pub const PARQUET_VERSION: u32 = layout::VERSION;

/// The columns the store reads, by slot (their places in [`Layout::index`]).
pub(super) const READ: [&str; 7] = [
    layout::ENTITY,
    layout::SENSOR,
    layout::KIND,
    layout::LABELS,
    layout::UNIT,
    layout::TS,
    layout::VALUE,
];
pub(super) const ENTITY: usize = 0;
pub(super) const SENSOR: usize = 1;
pub(super) const KIND: usize = 2;
pub(super) const LABELS: usize = 3;
pub(super) const UNIT: usize = 4;
pub(super) const TS: usize = 5;
pub(super) const VALUE: usize = 6;

/// The schema export writes: the layout's ([`layout::SCHEMA`]).
pub(super) fn schema() -> Result<Type, StoreError> {
    parse_message_type(layout::SCHEMA).map_err(io_err)
}

/// How a time column's integers become nanoseconds.
#[derive(Clone, Copy)]
pub(super) struct TsUnit {
    /// Nanoseconds per unit.
    pub(super) factor: i64,
    /// The unit's symbol, for errors.
    pub(super) name: &'static str,
}

/// The validated places of the columns the store reads in one file.
pub(super) struct Layout {
    /// Leaf column index of each of [`READ`], `None` for an optional column the file lacks
    /// (`labels`, `unit`).
    pub(super) index: [Option<usize>; 7],
    /// The unit of the time column.
    pub(super) ts: TsUnit,
    /// The time column's name in this file: `ts`, or `ts_ns` in a readings file of version 1.
    pub(super) ts_name: &'static str,
}

impl Layout {
    /// The name of the column in `slot`, as the file has it.
    pub(super) fn name(&self, slot: usize) -> &'static str {
        if slot == TS { self.ts_name } else { READ[slot] }
    }

    /// The leaf column indexes to read, with their slots.
    pub(super) fn present(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.index
            .iter()
            .enumerate()
            .filter_map(|(slot, i)| i.map(|i| (slot, i)))
    }
}

/// Refuses a file whose `kelvin.format` names another layout or whose `kelvin.version` is
/// newer than this build's (`kv`); files without them (other writers) are read by their
/// columns.
fn check_metadata(source: &str, kv: Option<&Vec<KeyValue>>) -> Result<(), StoreError> {
    for e in kv.into_iter().flatten() {
        let value = e.value.as_deref().unwrap_or("");
        if e.key == layout::FORMAT_KEY
            && value != layout::FORMAT
            && value != layout::STORE_SERIES_V1
        {
            return Err(invalid(format!(
                "{source}: written as {value:?} (kelvin.format), not as {PARQUET_FORMAT:?} (or \
                 {:?}, its version 1)",
                layout::STORE_SERIES_V1
            )));
        }
        if e.key == layout::VERSION_KEY
            && value.parse::<u32>().map_or(true, |v| v > PARQUET_VERSION)
        {
            return Err(StoreError::new(
                StoreErrorKind::Unsupported,
                format!(
                    "{source}: layout version {value:?} (kelvin.version); this build reads \
                     versions 1 to {PARQUET_VERSION}"
                ),
            ));
        }
    }
    Ok(())
}

/// The leaf column named `name` at the top level of `descrs`: `Ok(None)` when there is none,
/// an error when it is nested, repeated or there more than once.
fn find(descrs: &[ColumnDescPtr], source: &str, name: &str) -> Result<Option<usize>, StoreError> {
    let found: Vec<usize> = descrs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.path().parts().first().map(String::as_str) == Some(name))
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        &[i] => {
            let d = &descrs[i];
            if d.path().parts().len() != 1 || d.max_rep_level() != 0 || d.max_def_level() > 1 {
                return Err(invalid(format!(
                    "{source}: column {name:?} is nested or repeated, not a plain column"
                )));
            }
            Ok(Some(i))
        }
        _ => Err(invalid(format!(
            "{source}: column {name:?} is nested or appears more than once, not a plain column"
        ))),
    }
}

/// Finds the columns the store reads among a file's leaf columns `descrs`, checks the types
/// of every column of the layout the file has, and the file's `kelvin.format` and
/// `kelvin.version` entries (`kv`).
pub(super) fn check_layout(
    descrs: &[ColumnDescPtr],
    source: &str,
    kv: Option<&Vec<KeyValue>>,
) -> Result<Layout, StoreError> {
    check_metadata(source, kv)?;
    let needs = || {
        format!(
            "the layout needs {:?} and a time column, {:?}",
            layout::NEEDED,
            layout::TS
        )
    };
    let mut index = [None; 7];
    for (slot, &name) in READ.iter().enumerate() {
        if slot != TS {
            index[slot] = find(descrs, source, name)?;
        }
        if index[slot].is_none() && layout::NEEDED.contains(&name) {
            return Err(invalid(format!(
                "{source}: no column {name:?} ({})",
                needs()
            )));
        }
    }
    let ts_name = match (
        find(descrs, source, layout::TS)?,
        find(descrs, source, layout::LEGACY_TS_NS)?,
    ) {
        (Some(i), None) => {
            index[TS] = Some(i);
            layout::TS
        }
        (None, Some(i)) => {
            index[TS] = Some(i);
            layout::LEGACY_TS_NS
        }
        (None, None) => {
            return Err(invalid(format!(
                "{source}: no column \"ts\" (nor \"ts_ns\" of version 1; {})",
                needs()
            )));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(format!(
                "{source}: both \"ts\" and \"ts_ns\": which is the time is not clear"
            )));
        }
    };
    let text = |name: &str, i: usize| -> Result<(), StoreError> {
        let physical = descrs[i].physical_type();
        if physical != PhysicalType::BYTE_ARRAY {
            return Err(invalid(format!(
                "{source}: column {name:?} has physical type {physical}, expected BYTE_ARRAY \
                 (STRING)"
            )));
        }
        Ok(())
    };
    let mut ts = TsUnit {
        factor: 1,
        name: "ns",
    };
    for (slot, i) in index.iter().enumerate() {
        let Some(i) = *i else { continue };
        match slot {
            TS => ts = time_unit(&descrs[i], source, ts_name)?,
            VALUE => {
                let physical = descrs[i].physical_type();
                if physical != PhysicalType::DOUBLE {
                    return Err(invalid(format!(
                        "{source}: column \"value\" has physical type {physical}, expected DOUBLE"
                    )));
                }
            }
            _ => text(READ[slot], i)?,
        }
    }
    // Not read by the store, but part of the layout: a file with them of another type is not
    // this layout.
    for name in [layout::QUALITY, layout::STATUS] {
        if let Some(i) = find(descrs, source, name)? {
            text(name, i)?;
        }
    }
    Ok(Layout { index, ts, ts_name })
}

/// The unit of the time column `d` (named `name`): a `TIMESTAMP`'s, or nanoseconds for the
/// plain `INT64` `ts_ns` of version 1.
fn time_unit(d: &ColumnDescPtr, source: &str, name: &str) -> Result<TsUnit, StoreError> {
    let physical = d.physical_type();
    if physical == PhysicalType::INT96 {
        return Err(StoreError::new(
            StoreErrorKind::Unsupported,
            format!(
                "{source}: column {name:?} is a legacy INT96 timestamp; write INT64 timestamps \
                 (pyarrow: use_deprecated_int96_timestamps=False)"
            ),
        ));
    }
    if physical != PhysicalType::INT64 {
        return Err(invalid(format!(
            "{source}: column {name:?} has physical type {physical}, expected INT64 (TIMESTAMP)"
        )));
    }
    let plain = match d.logical_type_ref() {
        None => true,
        Some(LogicalType::Integer(i)) => i.bit_width == 64 && i.is_signed,
        Some(_) => false,
    } && matches!(
        d.converted_type(),
        ConvertedType::NONE | ConvertedType::INT_64
    );
    if name == layout::LEGACY_TS_NS && plain {
        return Ok(TsUnit {
            factor: 1,
            name: "ns",
        });
    }
    ts_unit(d).ok_or_else(|| {
        invalid(format!(
            "{source}: column {name:?} is INT64 without a TIMESTAMP type ({:?}), so its unit \
             is unknown",
            d.logical_type_ref()
        ))
    })
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
