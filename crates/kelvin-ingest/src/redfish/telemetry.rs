//! Telemetry `MetricReport`s: one record per `MetricValues` row.

use kelvin_model::SensorKind;
use serde_json::{Map, Value};

use super::emitter::{Emitter, Origin, Res, Status, Val, json_kind, str_of};
use super::naming::{canonical, join, label, owner, resource_path, uri_key};
use super::parse_rfc3339;
use super::units::metric_measure;
use std::borrow::Cow;

impl Emitter<'_, '_> {
    /// A telemetry `MetricReport`: one record per `MetricValues` row, its value a string.
    pub(super) fn metric_report(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let report_ts = str_of(map, "Timestamp").map(|t| (t, parse_rfc3339(t)));
        let Some(rows) = self.array(res, map, "MetricValues") else {
            return;
        };
        for (i, row) in rows.iter().enumerate() {
            if self.full {
                return;
            }
            let Some(obj) = row.as_object() else {
                self.bad_field(
                    res,
                    format!("/MetricValues/{i}"),
                    format!("a MetricValues row is {}, not an object", json_kind(row)),
                    row,
                );
                continue;
            };
            let metric_id = str_of(obj, "MetricId")
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let property = str_of(obj, "MetricProperty")
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let (entity, name, key, words) = match property {
                Some(p) => {
                    let path = resource_path(p);
                    let fragment = p.find('#').map_or("", |j| &p[j + 1..]);
                    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                    let last_seg = segs.last().copied().unwrap_or_default();
                    let last_key = fragment.rsplit('/').next().unwrap_or_default();
                    let words = format!("{} {last_key} {last_seg}", metric_id.unwrap_or_default());
                    let is_sensor = segs.len() >= 2 && segs[segs.len() - 2] == "Sensors";
                    let name = if is_sensor {
                        let kind =
                            metric_measure(&words).map_or(SensorKind::Temperature, |m| m.kind);
                        canonical(self.ctx.normalizer, last_seg, kind)
                            .unwrap_or_else(|| last_seg.to_string())
                    } else {
                        join(&label(path, true), fragment.trim_start_matches('/'))
                    };
                    let entity = if owner(path).is_some() {
                        Some(self.entity_for(Some(path)))
                    } else {
                        None
                    };
                    (entity, name, Some(uri_key(p)), words)
                }
                None => (
                    None,
                    metric_id.map_or_else(|| format!("MetricValues/{i}"), str::to_string),
                    None,
                    metric_id.unwrap_or_default().to_string(),
                ),
            };
            let name = if name.is_empty() {
                format!("MetricValues/{i}")
            } else {
                name
            };
            let ts = match (obj.get("Timestamp"), &report_ts) {
                (Some(Value::String(t)), _) => {
                    parse_rfc3339(t).map_err(|e| format!("Timestamp {t:?}: {e}"))
                }
                (Some(other), _) => Err(format!("Timestamp is {}, not a string", json_kind(other))),
                (None, Some((t, parsed))) => parsed
                    .clone()
                    .map_err(|e| format!("report Timestamp {t:?}: {e}")),
                (None, None) => Ok(self.ctx.timestamp()),
            };
            self.emit(
                res,
                Val {
                    pointer: format!("/MetricValues/{i}/MetricValue"),
                    name,
                    alt: i.to_string(),
                    measure: metric_measure(&words),
                    raw: obj.get("MetricValue"),
                    text: true,
                    status: Status::of(obj),
                    ts,
                    origin: Origin::Metric(key),
                    data_source: None,
                    entity,
                    context: Cow::Borrowed(row),
                },
            );
        }
    }
}
