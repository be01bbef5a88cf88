//! `Sensor` resources (alone or expanded in a collection) and collections.

use kelvin_model::{SensorKind, Unit};
use serde_json::{Map, Value};

use super::emitter::{Emitter, Origin, Res, Val, str_of};
use super::naming::{by_context, canonical};
use super::parse_rfc3339;
use super::units::{Measure, sensor_measure};
use std::borrow::Cow;

impl Emitter<'_, '_> {
    /// A `Sensor` resource: `Reading` in `ReadingUnits`, kind from `ReadingType`, time from
    /// `ReadingTime` when present; a fan's `SpeedRPM` is a second record.
    pub(super) fn sensor(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let n = self.ctx.normalizer;
        // The URI's last segment is the sensor's identity: it is unique in the service by
        // construction, while `Id`s and `Name`s get copied between sensors (the DMTF PDU
        // mockup has seven sensors with `Id` `VoltageA1`).
        let id = res
            .path
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .or_else(|| str_of(map, "Id"))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let vendor = str_of(map, "Name").map(str::trim).filter(|s| !s.is_empty());
        let pc = str_of(map, "PhysicalContext");
        let hint = [vendor, id, pc]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let measure = sensor_measure(
            n,
            str_of(map, "ReadingType"),
            str_of(map, "ReadingUnits"),
            &hint,
        );
        let kind = measure.as_ref().map_or(SensorKind::Temperature, |m| m.kind);
        let name = vendor
            .and_then(|v| canonical(n, v, kind))
            .or_else(|| id.and_then(|v| canonical(n, v, kind)))
            .or_else(|| by_context(kind, pc))
            .or_else(|| id.map(str::to_string))
            .or_else(|| vendor.map(str::to_string))
            .unwrap_or_else(|| "Reading".to_string());
        let ts = match map.get("ReadingTime") {
            Some(Value::String(t)) => {
                parse_rfc3339(t).map_err(|e| format!("ReadingTime {t:?}: {e}"))
            }
            _ => Ok(self.ctx.timestamp()),
        };
        let origin = Origin::Sensor(res.path.clone().unwrap_or_default());
        let alt = id.unwrap_or("Reading").to_string();
        let context = |key: &str| {
            let mut m = Map::new();
            for k in ["Id", key, "ReadingUnits", "ReadingType"] {
                if let Some(v) = map.get(k) {
                    m.insert(k.to_string(), v.clone());
                }
            }
            Cow::Owned(Value::Object(m))
        };
        self.emit(
            res,
            Val {
                pointer: "/Reading".to_string(),
                name: name.clone(),
                alt: alt.clone(),
                measure,
                raw: map.get("Reading"),
                text: false,
                status: res.status,
                ts: ts.clone(),
                origin: origin.clone(),
                data_source: None,
                entity: None,
                context: context("Reading"),
            },
        );
        if map.contains_key("SpeedRPM") {
            self.emit(
                res,
                Val {
                    pointer: "/SpeedRPM".to_string(),
                    name,
                    alt,
                    measure: Ok(Measure::new(SensorKind::FanSpeed, Unit::Rpm)),
                    raw: map.get("SpeedRPM"),
                    text: false,
                    status: res.status,
                    ts,
                    origin,
                    data_source: None,
                    entity: None,
                    context: context("SpeedRPM"),
                },
            );
        }
    }

    /// A collection: expanded members (`$expand`) are decoded as resources; links are not
    /// records.
    pub(super) fn collection(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let Some(Value::Array(members)) = map.get("Members") else {
            return;
        };
        for (i, m) in members.iter().enumerate() {
            if self.full {
                return;
            }
            if let Some(obj) = m.as_object() {
                let expanded = obj.keys().any(|k| k != "@odata.id" && k != "@odata.type");
                if expanded {
                    self.resource(obj, format!("{}/Members/{i}", res.prefix));
                }
            }
        }
    }
}
