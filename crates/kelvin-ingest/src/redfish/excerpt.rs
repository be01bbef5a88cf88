//! Sensor excerpts (`{"Reading": …, "DataSourceUri": …}`) anywhere in a resource, and the
//! plain-number metrics of older schemas.

use kelvin_model::{SensorKind, Unit};
use serde_json::{Map, Value};

use super::emitter::{Emitter, Origin, Res, Status, Val, str_of};
use super::naming::{by_context, canonical, esc, join, uri_key};
use super::units::{Measure, control_measure, property_measure};
use crate::Reason;
use std::borrow::Cow;

/// Properties never scanned for excerpts: links, actions, vendor extensions, thresholds
/// (whose `Reading`s are limits, not measurements) and descriptive objects.
const NOT_SCANNED: &[&str] = &[
    "Oem",
    "Actions",
    "Links",
    "Thresholds",
    "NumericThresholds",
    "DiscreteTriggers",
    "Status",
    "Location",
    "Assembly",
    "Redundancy",
    "RelatedItem",
    "Members",
    "Conditions",
];

/// One step of the path to an excerpt.
#[derive(Debug, Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

fn pointer_of(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        s.push('/');
        match seg {
            Seg::Key(k) => s.push_str(&esc(k)),
            Seg::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

fn name_of(path: &[Seg<'_>]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => (*k).to_string(),
            Seg::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Emitter<'_, '_> {
    /// Plain-number metric properties of older schemas (`ProcessorMetrics.TemperatureCelsius`).
    pub(super) fn plain_numbers(&mut self, res: &Res<'_>, map: &Map<String, Value>, keys: &[&str]) {
        for key in keys {
            let Some(v) = map.get(*key) else { continue };
            if !(v.is_number() || v.is_null()) {
                continue;
            }
            let measure = property_measure(key)
                .unwrap_or_else(|| Err((Reason::UnmappedSensor, format!("{key}: no unit"))));
            self.emit(
                res,
                Val {
                    pointer: format!("/{key}"),
                    name: join(&res.label, key),
                    alt: (*key).to_string(),
                    measure,
                    raw: Some(v),
                    text: false,
                    status: res.status,
                    ts: Ok(self.ctx.timestamp()),
                    origin: Origin::Excerpt,
                    data_source: None,
                    entity: None,
                    context: Cow::Borrowed(v),
                },
            );
        }
    }

    /// Sensor excerpts anywhere in the resource.
    pub(super) fn scan(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let mut path = Vec::new();
        self.scan_object(res, map, &mut path, res.status);
    }

    fn scan_object<'v>(
        &mut self,
        res: &Res<'_>,
        map: &'v Map<String, Value>,
        path: &mut Vec<Seg<'v>>,
        status: Status<'v>,
    ) {
        let mut keys: Vec<&'v String> = map.keys().collect();
        keys.sort();
        for k in keys {
            if self.full {
                return;
            }
            if k.contains('@') || NOT_SCANNED.contains(&k.as_str()) {
                continue;
            }
            path.push(Seg::Key(k));
            self.scan_value(res, &map[k.as_str()], path, status);
            path.pop();
        }
    }

    fn scan_value<'v>(
        &mut self,
        res: &Res<'_>,
        v: &'v Value,
        path: &mut Vec<Seg<'v>>,
        status: Status<'v>,
    ) {
        match v {
            Value::Object(m) if m.contains_key("Reading") => self.excerpt(res, m, v, path, status),
            Value::Object(m) => {
                let status = Status::of(m).or(status);
                self.scan_object(res, m, path, status);
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    if self.full {
                        return;
                    }
                    path.push(Seg::Index(i));
                    self.scan_value(res, x, path, status);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// One sensor excerpt: kind from the nearest property name with a unit suffix (or, for
    /// a `Control`'s `Sensor`, from `ControlType`), name from `DeviceName` or the path; a
    /// fan excerpt's `SpeedRPM` is a second record.
    fn excerpt<'v>(
        &mut self,
        res: &Res<'_>,
        m: &'v Map<String, Value>,
        v: &'v Value,
        path: &[Seg<'v>],
        status: Status<'v>,
    ) {
        let n = self.ctx.normalizer;
        let keys: Vec<&str> = path
            .iter()
            .filter_map(|s| match s {
                Seg::Key(k) => Some(*k),
                Seg::Index(_) => None,
            })
            .collect();
        let measure = if res.control_type.is_some() && keys == ["Sensor"] {
            control_measure(res.control_type, &res.hint)
        } else {
            keys.iter()
                .rev()
                .find_map(|k| property_measure(k))
                .unwrap_or_else(|| {
                    Err((
                        Reason::UnmappedSensor,
                        format!("{}: no unit in the property names", name_of(path)),
                    ))
                })
        };
        let kind = measure.as_ref().map_or(SensorKind::Temperature, |m| m.kind);
        let device = str_of(m, "DeviceName")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let leaf = match device {
            Some(d) => canonical(n, d, kind)
                .or_else(|| by_context(kind, str_of(m, "PhysicalContext")))
                .unwrap_or_else(|| d.to_string()),
            None => match path.last() {
                Some(Seg::Key(k)) => canonical(n, k, kind).unwrap_or_else(|| name_of(path)),
                _ => name_of(path),
            },
        };
        let name = join(&res.label, &leaf);
        let alt = name_of(path);
        let pointer = pointer_of(path);
        let data_source = str_of(m, "DataSourceUri").map(uri_key);
        let status = Status::of(m).or(status);
        let rpm = m.contains_key("SpeedRPM")
            && measure
                .as_ref()
                .is_ok_and(|m| m.kind == SensorKind::FanDuty);
        self.emit(
            res,
            Val {
                pointer: format!("{pointer}/Reading"),
                name: name.clone(),
                alt: alt.clone(),
                measure,
                raw: m.get("Reading"),
                text: false,
                status,
                ts: Ok(self.ctx.timestamp()),
                origin: Origin::Excerpt,
                data_source: data_source.clone(),
                entity: None,
                context: Cow::Borrowed(v),
            },
        );
        if rpm {
            self.emit(
                res,
                Val {
                    pointer: format!("{pointer}/SpeedRPM"),
                    name,
                    alt,
                    measure: Ok(Measure::new(SensorKind::FanSpeed, Unit::Rpm)),
                    raw: m.get("SpeedRPM"),
                    text: false,
                    status,
                    ts: Ok(self.ctx.timestamp()),
                    origin: Origin::Excerpt,
                    data_source,
                    entity: None,
                    context: Cow::Borrowed(v),
                },
            );
        }
    }
}
