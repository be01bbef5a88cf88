//! One row's cells, as the `parquet` crate's row reader gives them, into a [`Reading`]
//! through the CSV layout's validation (`crate::csv::reading_from_row`).

use std::collections::BTreeMap;

use kelvin_model::layout::{self, FlatLabels};
use kelvin_model::{Reading, Timestamp};
use parquet::record::Field;

use super::schema::Schema;
use crate::csv::{Row, reading_from_row};
use crate::{Context, Reason};

/// One row's cells, as the `parquet` crate's row reader gives them.
#[derive(Default)]
pub(super) struct Fields {
    /// The time column's integer, in its unit.
    ts: Option<i64>,
    value: Option<f64>,
    entity: Option<String>,
    sensor: Option<String>,
    kind: Option<String>,
    labels: Option<String>,
    unit: Option<String>,
    quality: Option<String>,
    status: Option<String>,
    wrong: Option<String>,
}

impl Fields {
    /// `entity sensor kind` as far as the row has them, for a quarantine record.
    pub(super) fn excerpt(&self) -> String {
        format!(
            "{} {} {}",
            self.entity.as_deref().unwrap_or(""),
            self.sensor.as_deref().unwrap_or(""),
            self.kind.as_deref().unwrap_or("")
        )
    }

    /// Takes the cell `f` of column `name`.
    pub(super) fn set(&mut self, name: &str, f: &Field, schema: &Schema) {
        if name == schema.ts_name {
            match f {
                Field::Long(v) | Field::TimestampMillis(v) | Field::TimestampMicros(v) => {
                    self.ts = Some(*v);
                }
                Field::Null => {}
                other => self.wrong = Some(format!("column {name:?} holds {other}")),
            }
            return;
        }
        let text = match f {
            Field::Null => return,
            Field::Double(v) if name == layout::VALUE => {
                self.value = Some(*v);
                return;
            }
            Field::Str(s) => s.clone(),
            Field::Bytes(b) => match std::str::from_utf8(b.data()) {
                Ok(s) => s.to_string(),
                Err(e) => {
                    self.wrong = Some(format!("column {name:?} is not UTF-8 text: {e}"));
                    return;
                }
            },
            other => {
                self.wrong = Some(format!("column {name:?} holds {other}"));
                return;
            }
        };
        let slot = match name {
            layout::ENTITY => &mut self.entity,
            layout::SENSOR => &mut self.sensor,
            layout::KIND => &mut self.kind,
            layout::LABELS => &mut self.labels,
            layout::UNIT => &mut self.unit,
            layout::QUALITY => &mut self.quality,
            layout::STATUS => &mut self.status,
            _ => {
                self.wrong = Some(format!("column {name:?} holds text"));
                return;
            }
        };
        *slot = Some(text);
    }

    /// The sensor's name: the `sensor` cell, followed by the labels when there are any
    /// (`outlet3{phase="L1"}`, as `kelvin-store` writes a series key).
    fn sensor(&self, sensor: &str, ctx: &Context<'_>) -> Result<String, (Reason, String)> {
        let text = self.labels.as_deref().unwrap_or("");
        let body = text.trim_matches([' ', '\t', '\n', '\r']);
        if body.is_empty() {
            return Ok(sensor.to_string());
        }
        let FlatLabels(labels): FlatLabels = if body.starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| (Reason::BadLabels, format!("labels {text:?}: {e}")))?
        } else {
            let detail = format!("labels {text:?}: expected '{{' (a JSON object of string values)");
            return Err((Reason::BadLabels, detail));
        };
        if labels.is_empty() {
            return Ok(sensor.to_string());
        }
        if labels.len() > ctx.limits.max_labels {
            let detail = format!(
                "{} labels, over max_labels ({})",
                labels.len(),
                ctx.limits.max_labels
            );
            return Err((Reason::TooManyLabels, detail));
        }
        Ok(with_labels(sensor, &labels))
    }

    pub(super) fn reading(
        &self,
        schema: &Schema,
        ctx: &Context<'_>,
    ) -> Result<Reading, (Reason, String)> {
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
        let sensor = self.sensor(&sensor, ctx)?;
        let ts = match self.ts {
            None => Timestamp::UNKNOWN,
            Some(v) => {
                let ns = v.checked_mul(schema.ts_factor).ok_or_else(|| {
                    let detail = format!(
                        "{} {v} is beyond the nanosecond range (years 1677–2262)",
                        schema.ts_name
                    );
                    (Reason::BadTimestamp, detail)
                })?;
                crate::csv::known_nanos(ns).ok_or_else(|| {
                    let detail = format!(
                        "{} is i64::MIN nanoseconds, which stands for an unknown time (write \
                         null)",
                        schema.ts_name
                    );
                    (Reason::BadTimestamp, detail)
                })?
            }
        };
        let quality = self.quality.as_deref().filter(|q| !q.is_empty());
        // A NaN value marked absent (how `kelvin-store` exports a NaN sample) or not marked at
        // all (a store file of version 1, a data frame's missing value) is no value.
        let value = self
            .value
            .filter(|v| !(v.is_nan() && matches!(quality, None | Some("absent"))));
        reading_from_row(
            &Row {
                ts,
                entity: &entity,
                sensor: &sensor,
                kind: &kind,
                unit: self.unit.as_deref().filter(|u| !u.is_empty()),
                value,
                quality,
                status: self.status.as_deref(),
            },
            ctx,
        )
    }
}

/// `sensor{a="1",b="2"}`: the labels after the name, values quoted and escaped as
/// `kelvin-store` displays a series' labels.
fn with_labels(sensor: &str, labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{sensor}{{{}}}", pairs.join(","))
}
