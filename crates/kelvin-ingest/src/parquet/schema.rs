//! A file's metadata and schema against the layout: `kelvin.format` and `kelvin.version`, the
//! columns to read (a projection of the file's schema), the time column's name and unit.

use kelvin_model::layout;
use parquet::basic::Type as PhysicalType;
use parquet::basic::{ConvertedType, LogicalType, TimeUnit};
use parquet::file::metadata::ParquetMetaData;
use parquet::schema::types::Type;

use super::check::Refusal;
use crate::Reason;

/// What a file's schema says about reading it: the columns to read and the time's unit.
pub(super) struct Schema {
    /// The file's columns of the layout (others are not read).
    pub(super) projection: Type,
    /// The time column's name in the file: `ts`, or `ts_ns` (layout version 1).
    pub(super) ts_name: &'static str,
    /// Nanoseconds per unit of the time column.
    pub(super) ts_factor: i64,
}

/// Checks the file's `kelvin.format` and `kelvin.version` and finds the layout's columns in
/// its schema: every needed column there, each a plain column of the layout's type.
pub(super) fn check_schema(meta: &ParquetMetaData) -> Result<Schema, Refusal> {
    let not_layout = |detail: String| {
        (
            Reason::BadField,
            format!("not Kelvin's Parquet layout: {detail}"),
        )
    };
    for e in meta
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        let value = e.value.as_deref().unwrap_or("");
        let known = [layout::FORMAT, layout::STORE_SERIES_V1];
        if e.key == layout::FORMAT_KEY && !known.contains(&value) {
            let detail = format!("written as {value:?} (kelvin.format), not as {known:?}");
            return Err((Reason::UnknownFormat, detail));
        }
        if e.key == layout::VERSION_KEY
            && value.parse::<u32>().map_or(true, |v| v > layout::VERSION)
        {
            let detail = format!(
                "layout version {value:?} (kelvin.version); this build reads versions 1 to {}",
                layout::VERSION
            );
            return Err((Reason::UnknownFormat, detail));
        }
    }
    let root = meta.file_metadata().schema();
    let mut fields = Vec::new();
    let mut ts: Option<(&'static str, i64)> = None;
    let names = layout::COLUMNS.iter().chain([&layout::LEGACY_TS_NS]);
    for &name in names {
        let found: Vec<_> = root
            .get_fields()
            .iter()
            .filter(|f| f.name() == name)
            .collect();
        let f = match found.as_slice() {
            [] => continue,
            [f] => *f,
            _ => {
                return Err(not_layout(format!(
                    "column {name:?} appears more than once"
                )));
            }
        };
        let info = f.get_basic_info();
        if f.is_group() || info.repetition() == parquet::basic::Repetition::REPEATED {
            return Err(not_layout(format!(
                "column {name:?} is nested or repeated, not a plain column"
            )));
        }
        let physical = f.get_physical_type();
        let want = match name {
            layout::TS | layout::LEGACY_TS_NS => PhysicalType::INT64,
            layout::VALUE => PhysicalType::DOUBLE,
            _ => PhysicalType::BYTE_ARRAY,
        };
        if physical == PhysicalType::INT96 {
            return Err(not_layout(format!(
                "column {name:?} is a legacy INT96 timestamp; write INT64 timestamps \
                 (pyarrow: use_deprecated_int96_timestamps=False)"
            )));
        }
        if physical != want {
            return Err(not_layout(format!(
                "column {name:?} has physical type {physical}, expected {want}"
            )));
        }
        if want == PhysicalType::INT64 {
            if let Some((other, _)) = ts {
                return Err(not_layout(format!(
                    "both {other:?} and {name:?}: which is the time is not clear"
                )));
            }
            let factor = ts_factor(info.logical_type_ref(), info.converted_type(), name)
                .ok_or_else(|| {
                    not_layout(format!(
                        "column {name:?} is INT64 without a TIMESTAMP type ({:?}), so its unit \
                         is unknown",
                        info.logical_type_ref()
                    ))
                })?;
            ts = Some((name, factor));
        }
        fields.push(f.clone());
    }
    for name in layout::NEEDED {
        if !fields.iter().any(|f| f.name() == name) {
            return Err(not_layout(format!(
                "no column {name:?} (it needs {:?} and \"ts\")",
                layout::NEEDED
            )));
        }
    }
    let Some((ts_name, ts_factor)) = ts else {
        return Err(not_layout(format!(
            "no column \"ts\" (nor \"ts_ns\" of version 1; it needs {:?} and \"ts\")",
            layout::NEEDED
        )));
    };
    let projection = Type::group_type_builder(root.name())
        .with_fields(fields)
        .build()
        .map_err(|e| not_layout(e.to_string()))?;
    Ok(Schema {
        projection,
        ts_name,
        ts_factor,
    })
}

/// Nanoseconds per unit of a time column named `name`: a `TIMESTAMP`'s unit, or 1 for the
/// plain `INT64` `ts_ns` of layout version 1; `None` when the unit is unknown.
fn ts_factor(logical: Option<&LogicalType>, converted: ConvertedType, name: &str) -> Option<i64> {
    let unit = match logical {
        Some(LogicalType::Timestamp(t)) => t.unit,
        Some(LogicalType::Integer(i)) if name == layout::LEGACY_TS_NS => {
            return (i.bit_width == 64 && i.is_signed).then_some(1);
        }
        Some(_) => return None,
        None => match converted {
            ConvertedType::TIMESTAMP_MILLIS => TimeUnit::MILLIS,
            ConvertedType::TIMESTAMP_MICROS => TimeUnit::MICROS,
            ConvertedType::NONE | ConvertedType::INT_64 if name == layout::LEGACY_TS_NS => {
                return Some(1);
            }
            _ => return None,
        },
    };
    Some(match unit {
        TimeUnit::MILLIS => 1_000_000,
        TimeUnit::MICROS => 1_000,
        TimeUnit::NANOS => 1,
    })
}
