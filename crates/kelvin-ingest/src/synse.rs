//! Synse / Open DCRE JSON read responses (v1 and v3).
//!
//! Vapor IO's OpenDCRE (v1.x) and Synse (v2, v3) servers answer `read` requests with JSON. The
//! decoder accepts one document, or a stream of concatenated / newline-separated documents
//! (Synse v3's `read_cache` and `readings` streams); in a stream, document `i` is addressed as
//! if the stream were an array (`/0`, `/1`, …).
//!
//! # Records
//!
//! - **OpenDCRE v1.3** (`GET /opendcre/1.3/read/<type>/<rack>/<board>/<device>`): an object
//!   such as `{"temperature_c": 19.73, "health": "ok", "states": []}`. Each reading field is
//!   one record: `temperature_c` (°C, sensor `temperature`), `speed_rpm` (`fan_speed`),
//!   `pressure_kpa` (`pressure`), `humidity` (%RH), `voltage`, `current`, `power`, and the power
//!   response's `input_power` (W), `input_voltage` (V), `output_current` (A). `led_state` is a
//!   record without a numeric kind ([`Reason::UnmappedSensor`]). `health` becomes the status of
//!   the readings (and their quality, through the [`Normalizer`](crate::Normalizer)).
//!   A v1 response names no device (the ids are in the URL), so readings belong to
//!   [`Context::fallback_entity`].
//! - **Synse v2** read (`{"kind": "temperature", "data": [{"value": 20.3, "timestamp": …,
//!   "unit": {"symbol": "C", "name": "degrees celsius"}, "type": "temperature"}]}`): each
//!   element of `data` is one record, sensor = its `type`.
//! - **Synse v2** cached read and **v3** readings (`{"device": "c2f6…", "timestamp": …,
//!   "type": "temperature", "device_type": "temperature", "unit": {…}, "value": 6}`), alone or
//!   in an array: each is one record, sensor = `<device>/<type>` (the device id is the identity
//!   of the physical sensor; `type` tells its outputs apart).
//!
//! Entity: `<rack>/<board>` from a v2 `location` (or `<rack>`), else
//! [`Context::fallback_entity`] (the Synse server the capture came from).
//!
//! Kind and unit: the unit's symbol (then its name) through the normalizer, then
//! [`Normalizer::classify`](crate::Normalizer::classify) with the reading type. A percentage is
//! a humidity only when the type says humidity, a fan duty for fans, a utilization for
//! `util`/`load`/`usage` types, and otherwise has no kind; seconds are not CPU time unless the
//! type says so. Values that are strings (`"locked"`, `"off"`, an LED color) or booleans, an
//! unknown unit (`mm/s`) or a number without a unit are [`Reason::UnmappedSensor`]; `null` and
//! the normalizer's absent texts are absent readings (NaN, [`Quality::Absent`]).
//!
//! Time: the reading's `timestamp` (RFC 3339, parsed strictly by this module, nanoseconds
//! kept), else [`Context::timestamp`]; an unreadable timestamp is [`Reason::BadTimestamp`].
//!
//! # Documents without readings
//!
//! Responses and files that hold no readings by design are recognized and reported with
//! [`IngestBatch::no_readings`] (they are not records): scan and info responses, versions,
//! tests, transactions, write requests and responses, plugin lists and health, error
//! responses, JSON schemas, OpenDCRE configurations, OpenDCRE IPMI / PLC emulator data, lists
//! of ids or tags, empty lists, and Synse YAML configurations (device, prototype and plugin
//! configs starting with `version:`). Any other JSON value is one record quarantined with
//! [`Reason::UnknownFormat`]; text that is neither JSON nor such YAML is [`Reason::BadJson`].

use serde_json::{Map, Value};

use kelvin_model::Dimension;
use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp, Unit};

use crate::{Confidence, Context, Decode, Format, IngestBatch, Limits, Quarantined, Reason};

/// Decoder for Synse / OpenDCRE JSON read responses (see the [module documentation](self)).
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, synse::Synse};
/// let json = r#"[{"device": "c2f6f762", "timestamp": "2020-01-01T12:00:00Z",
///   "type": "temperature", "device_type": "temperature",
///   "unit": {"name": "celsius", "symbol": "C"}, "value": 28.5, "context": {}}]"#;
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// Synse.decode(json, &Context::new("rack1-synse.json", &n), &mut out);
/// let r = &out.readings[0];
/// assert_eq!((r.entity.as_str(), r.sensor.as_str(), r.value), ("rack1-synse", "c2f6f762/temperature", 28.5));
/// assert_eq!(r.ts.to_rfc3339(), "2020-01-01T12:00:00Z");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Synse;

/// OpenDCRE v1 reading fields: key, kind (none: a state), unit, sensor name.
const V1_FIELDS: &[(&str, Option<SensorKind>, Unit, &str)] = &[
    (
        "temperature_c",
        Some(SensorKind::Temperature),
        Unit::Celsius,
        "temperature",
    ),
    (
        "speed_rpm",
        Some(SensorKind::FanSpeed),
        Unit::Rpm,
        "fan_speed",
    ),
    (
        "pressure_kpa",
        Some(SensorKind::Pressure),
        Unit::Kilopascal,
        "pressure",
    ),
    (
        "humidity",
        Some(SensorKind::Humidity),
        Unit::PercentRh,
        "humidity",
    ),
    ("voltage", Some(SensorKind::Voltage), Unit::Volt, "voltage"),
    (
        "current",
        Some(SensorKind::Current),
        Unit::Ampere,
        "current",
    ),
    ("power", Some(SensorKind::Power), Unit::Watt, "power"),
    (
        "input_power",
        Some(SensorKind::Power),
        Unit::Watt,
        "input_power",
    ),
    (
        "input_voltage",
        Some(SensorKind::Voltage),
        Unit::Volt,
        "input_voltage",
    ),
    (
        "output_current",
        Some(SensorKind::Current),
        Unit::Ampere,
        "output_current",
    ),
    ("led_state", None, Unit::Ratio, "led_state"),
];

/// Documents without readings, recognized by keys that must all be present (first match wins).
const SHAPES: &[(&[&str], &str)] = &[
    (&["rack", "boards"], "Synse rack info"),
    (&["board", "devices"], "Synse board info"),
    (
        &["racks"],
        "Synse/OpenDCRE scan response or rack configuration",
    ),
    (&["scan_cache_file"], "OpenDCRE configuration"),
    (&["serial_device"], "OpenDCRE configuration"),
    (&["boards"], "OpenDCRE emulator data"),
    (&["records"], "OpenDCRE IPMI emulator data"),
    (&["sdr_version"], "OpenDCRE IPMI emulator data"),
    (&["inventory_area"], "OpenDCRE IPMI emulator data"),
    (&["device", "chassis"], "OpenDCRE IPMI emulator data"),
    (&["board_info"], "OpenDCRE asset info"),
    (&["hostnames"], "OpenDCRE host info"),
    (&["physical_location"], "OpenDCRE location"),
    (&["target"], "OpenDCRE boot target"),
    (&["opendcre_version"], "OpenDCRE version"),
    (&["api_version"], "Synse version"),
    (&["outputs"], "Synse device info"),
    (&["output"], "Synse device info"),
    (&["healthy", "unhealthy"], "Synse plugin health"),
    (&["maintainer"], "Synse plugin info"),
    (&["http_code"], "Synse error response"),
    (&["action", "data"], "Synse write request"),
    (&["context", "transaction"], "Synse write response"),
    (&["id", "context"], "Synse transaction or write response"),
    (&["id", "status"], "Synse transaction"),
    (&["id", "info"], "Synse device summary"),
    (&["status"], "Synse/OpenDCRE status response"),
];

/// Whether a text is a Synse YAML configuration: first top-level key `version`, and a
/// `devices`, `prototypes`, `locations`, `network` or `settings` key.
fn is_yaml_config(text: &str) -> bool {
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| {
            let t = l.trim();
            !(t.is_empty() || t.starts_with('#') || t == "---" || l.starts_with([' ', '\t', '-']))
        })
        .map(|l| l.split_once(':').map_or("", |(k, _)| k.trim()))
        .collect();
    keys.first() == Some(&"version")
        && keys.iter().any(|k| {
            matches!(
                *k,
                "devices" | "prototypes" | "locations" | "network" | "settings"
            )
        })
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn is_reading(m: &Map<String, Value>) -> bool {
    m.contains_key("value")
        && (m.contains_key("device")
            || m.contains_key("location")
            || (m.contains_key("type") && m.contains_key("unit")))
}

fn str_of<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The kind a Synse unit and reading type measure, and the unit to convert from.
fn resolve_kind(ctx: &Context<'_>, unit: Unit, ty: &str) -> Option<(SensorKind, Unit)> {
    let t = ty.to_ascii_lowercase();
    match unit.dimension() {
        Dimension::Fraction => {
            if t.contains("humid") {
                (unit == Unit::Percent).then_some((SensorKind::Humidity, Unit::PercentRh))
            } else if t.contains("fan") || t.contains("duty") {
                Some((SensorKind::FanDuty, unit))
            } else if t.contains("util") || t.contains("load") || t.contains("usage") {
                Some((SensorKind::Utilization, unit))
            } else {
                None
            }
        }
        Dimension::Time if !t.contains("cpu") => None,
        _ => ctx.normalizer.classify(unit, Some(ty)).map(|k| (k, unit)),
    }
}

/// The kind a reading type names, for absent values that carry no unit.
fn kind_of_type(ty: &str) -> Option<SensorKind> {
    Some(match ty.to_ascii_lowercase().as_str() {
        "temperature" => SensorKind::Temperature,
        "humidity" => SensorKind::Humidity,
        "pressure" => SensorKind::Pressure,
        "power" => SensorKind::Power,
        "voltage" => SensorKind::Voltage,
        "current" => SensorKind::Current,
        "fan" | "fan_speed" => SensorKind::FanSpeed,
        "airflow" => SensorKind::Airflow,
        "energy" => SensorKind::Energy,
        _ => return None,
    })
}

/// One decode of a Synse input: what every record is placed and admitted with.
struct Run<'c, 'n> {
    ctx: &'c Context<'n>,
}

impl Run<'_, '_> {
    /// Admits the record at `ptr` into the batch's record limit (past it, that record stands
    /// for the rest of the input).
    fn admit(&mut self, ptr: &str, v: &Value, out: &mut IngestBatch) -> bool {
        out.admit_record(|| (self.ctx.pointer(ptr), crate::json::excerpt_of(v)))
    }

    fn reject(
        &mut self,
        ptr: &str,
        v: &Value,
        reason: Reason,
        detail: String,
        out: &mut IngestBatch,
    ) {
        if self.admit(ptr, v, out) {
            out.reject(Quarantined::new(
                self.ctx.pointer(ptr),
                reason,
                detail,
                &crate::json::excerpt_of(v),
            ));
        }
    }

    fn document(&mut self, v: &Value, ptr: &str, out: &mut IngestBatch) {
        match v {
            Value::Object(m) => self.object(m, v, ptr, out),
            Value::Array(a) => self.array(a, v, ptr, out),
            _ => self.reject(
                ptr,
                v,
                Reason::UnknownFormat,
                "a JSON scalar is not a Synse response".into(),
                out,
            ),
        }
    }

    fn shape(m: &Map<String, Value>) -> Option<&'static str> {
        SHAPES
            .iter()
            .find(|(keys, _)| keys.iter().all(|k| m.contains_key(*k)))
            .map(|(_, what)| *what)
    }

    fn object(&mut self, m: &Map<String, Value>, v: &Value, ptr: &str, out: &mut IngestBatch) {
        if m.contains_key("$schema") {
            return out.no_readings(self.ctx.pointer(ptr), "JSON schema");
        }
        if is_reading(m) {
            return self.reading(m, v, ptr, None, out);
        }
        if let (Some(Value::Array(data)), Some(kind)) = (m.get("data"), m.get("kind")) {
            let kind = kind.as_str().unwrap_or("");
            for (j, d) in data.iter().enumerate() {
                let p = format!("{ptr}/data/{j}");
                match d {
                    Value::Object(dm) => self.reading(dm, d, &p, Some(kind), out),
                    _ => self.reject(
                        &p,
                        d,
                        Reason::BadField,
                        "a Synse v2 reading must be an object".into(),
                        out,
                    ),
                }
                if out.records_full() {
                    return;
                }
            }
            return;
        }
        if V1_FIELDS
            .iter()
            .any(|(k, ..)| m.get(*k).is_some_and(|x| !(x.is_object() || x.is_array())))
        {
            return self.v1(m, ptr, out);
        }
        match Self::shape(m) {
            Some(what) => out.no_readings(self.ctx.pointer(ptr), what),
            None => self.reject(
                ptr,
                v,
                Reason::UnknownFormat,
                "JSON object is not a Synse or OpenDCRE response".into(),
                out,
            ),
        }
    }

    fn array(&mut self, a: &[Value], v: &Value, ptr: &str, out: &mut IngestBatch) {
        if a.is_empty() {
            return out.no_readings(self.ctx.pointer(ptr), "empty list");
        }
        if a.iter().any(|e| e.as_object().is_some_and(is_reading)) {
            for (j, e) in a.iter().enumerate() {
                let p = format!("{ptr}/{j}");
                match e.as_object() {
                    Some(m) if is_reading(m) => self.reading(m, e, &p, None, out),
                    _ => self.reject(&p, e, Reason::BadField, "not a Synse reading".into(), out),
                }
                if out.records_full() {
                    return;
                }
            }
            return;
        }
        if a.iter().all(Value::is_string) {
            return out.no_readings(self.ctx.pointer(ptr), "list of ids or tags");
        }
        match a[0].as_object().and_then(Self::shape) {
            Some(what) => out.no_readings(self.ctx.pointer(ptr), format!("list of: {what}")),
            None => self.reject(
                ptr,
                v,
                Reason::UnknownFormat,
                "JSON array is not a list of Synse readings or responses".into(),
                out,
            ),
        }
    }

    fn v1(&mut self, m: &Map<String, Value>, ptr: &str, out: &mut IngestBatch) {
        let ctx = self.ctx;
        let health = str_of(m, "health");
        let quality = health
            .and_then(|h| ctx.normalizer.quality(h))
            .unwrap_or(Quality::Good);
        for (key, kind, unit, sensor) in V1_FIELDS {
            let Some(v) = m.get(*key) else { continue };
            let p = format!("{ptr}/{}", escape_pointer(key));
            if !self.admit(&p, v, out) {
                return;
            }
            let reject = |reason, detail: String| {
                Quarantined::new(
                    ctx.pointer(p.as_str()),
                    reason,
                    detail,
                    &crate::json::excerpt_of(v),
                )
            };
            let Some(kind) = kind else {
                out.reject(reject(
                    Reason::UnmappedSensor,
                    format!("{key} is a state, not a measurement"),
                ));
                continue;
            };
            let with_health = |r: Reading| match health {
                Some(h) => r.with_status(h),
                None => r,
            };
            let entity = ctx.fallback_entity();
            match value_of(ctx, v) {
                Val::Number(x) => match unit.convert(x, *kind) {
                    Ok(x) => out.accept(with_health(
                        Reading::new(entity, *sensor, *kind, x, ctx.timestamp())
                            .with_quality(quality),
                    )),
                    Err(e) => out.reject(reject(Reason::BadUnit, e.reason().to_string())),
                },
                Val::Absent => out.accept(with_health(
                    Reading::new(entity, *sensor, *kind, f64::NAN, ctx.timestamp())
                        .with_quality(Quality::Absent),
                )),
                Val::NonFinite => out.reject(reject(
                    Reason::NonFiniteValue,
                    format!("{key} is not finite"),
                )),
                Val::State(_) | Val::Other => out.reject(reject(
                    Reason::BadValue,
                    format!("{key} value {v} is not a number"),
                )),
            }
        }
    }

    fn reading(
        &mut self,
        m: &Map<String, Value>,
        v: &Value,
        ptr: &str,
        kind_hint: Option<&str>,
        out: &mut IngestBatch,
    ) {
        if !self.admit(ptr, v, out) {
            return;
        }
        let ctx = self.ctx;
        let reject = |reason, detail: String| {
            Quarantined::new(
                ctx.pointer(ptr),
                reason,
                detail,
                &crate::json::excerpt_of(v),
            )
        };
        let location = m.get("location").and_then(Value::as_object);
        let device = str_of(m, "device").or_else(|| location.and_then(|l| str_of(l, "device")));
        let ty = str_of(m, "type")
            .or_else(|| str_of(m, "device_type"))
            .or_else(|| str_of(m, "kind"))
            .or(kind_hint.filter(|k| !k.is_empty()))
            .unwrap_or("");
        let sensor = match (device, ty) {
            (Some(d), "") => d.to_string(),
            (Some(d), t) => format!("{d}/{t}"),
            (None, "") => "value".to_string(),
            (None, t) => t.to_string(),
        };
        let entity = match location.map(|l| (str_of(l, "rack"), str_of(l, "board"))) {
            Some((Some(r), Some(b))) => EntityId::new(format!("{r}/{b}")),
            Some((Some(r), None)) => EntityId::new(r),
            _ => Ok(ctx.fallback_entity()),
        };
        let entity = match entity {
            Ok(e) => e,
            Err(e) => return out.reject(reject(Reason::InvalidEntity, e.reason().to_string())),
        };
        let ts = match m.get("timestamp") {
            None | Some(Value::Null) => ctx.timestamp(),
            Some(t) => match t.as_str().and_then(|t| Timestamp::parse_rfc3339(t).ok()) {
                Some(ts) => ts,
                None => {
                    return out.reject(reject(
                        Reason::BadTimestamp,
                        format!("timestamp {t} is not RFC 3339"),
                    ));
                }
            },
        };
        let unit = match m.get("unit") {
            None | Some(Value::Null) => None,
            Some(Value::Object(u)) => {
                let text = str_of(u, "symbol").into_iter().chain(str_of(u, "name"));
                let mut found = None;
                let mut tried = Vec::new();
                for t in text {
                    tried.push(t);
                    if let Some(x) = ctx.normalizer.unit(t) {
                        found = Some(x);
                        break;
                    }
                }
                match found {
                    Some(u) => Some(u),
                    None if tried.is_empty() => None,
                    None => {
                        return out.reject(reject(
                            Reason::UnmappedSensor,
                            format!("unit {:?} has no canonical kind", tried.join(" / ")),
                        ));
                    }
                }
            }
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => match ctx.normalizer.unit(s) {
                Some(u) => Some(u),
                None => {
                    return out.reject(reject(
                        Reason::UnmappedSensor,
                        format!("unit {s:?} has no canonical kind"),
                    ));
                }
            },
            Some(other) => {
                return out.reject(reject(
                    Reason::BadField,
                    format!("unit {other} is not an object"),
                ));
            }
        };
        let value = value_of(ctx, m.get("value").unwrap_or(&Value::Null));
        let absent = |kind: SensorKind| {
            Reading::new(entity.clone(), sensor.clone(), kind, f64::NAN, ts)
                .with_quality(Quality::Absent)
        };
        match (value, unit) {
            (Val::Number(x), Some(u)) => match resolve_kind(ctx, u, ty) {
                Some((kind, from)) => match from.convert(x, kind) {
                    Ok(x) => out.accept(Reading::new(entity, sensor, kind, x, ts)),
                    Err(e) => out.reject(reject(Reason::BadUnit, e.reason().to_string())),
                },
                None => out.reject(reject(
                    Reason::UnmappedSensor,
                    format!("a {u} reading of type {ty:?} has no canonical kind"),
                )),
            },
            (Val::Number(_), None) => out.reject(reject(
                Reason::UnmappedSensor,
                "a number without a unit".into(),
            )),
            (Val::Absent, u) => match u
                .and_then(|u| resolve_kind(ctx, u, ty))
                .map(|(k, _)| k)
                .or_else(|| kind_of_type(ty))
            {
                Some(kind) => out.accept(absent(kind)),
                None => out.reject(reject(
                    Reason::UnmappedSensor,
                    format!("no value and no kind for type {ty:?}"),
                )),
            },
            (Val::NonFinite, _) => {
                out.reject(reject(Reason::NonFiniteValue, "value is not finite".into()))
            }
            (Val::State(s), _) => out.reject(reject(
                Reason::UnmappedSensor,
                format!("state value {s:?} is not a measurement"),
            )),
            (Val::Other, _) => out.reject(reject(
                Reason::BadValue,
                "value is not a number, string or null".into(),
            )),
        }
    }
}

/// What a JSON `value` holds.
enum Val {
    Number(f64),
    Absent,
    NonFinite,
    State(String),
    Other,
}

fn value_of(ctx: &Context<'_>, v: &Value) -> Val {
    match v {
        Value::Null => Val::Absent,
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() => Val::Number(x),
            _ => Val::NonFinite,
        },
        Value::String(s) if ctx.normalizer.is_absent(s) => Val::Absent,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Val::Number(x),
            Ok(_) => Val::NonFinite,
            Err(_) => Val::State(s.clone()),
        },
        Value::Bool(b) => Val::State(b.to_string()),
        _ => Val::Other,
    }
}

impl Decode for Synse {
    fn name(&self) -> &str {
        Format::Synse.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if input.len() > ctx.limits.max_input_bytes {
            return out.reject(Quarantined::new(
                ctx.pointer(""),
                Reason::InputTooLarge,
                format!(
                    "{} bytes, over max_input_bytes ({})",
                    input.len(),
                    ctx.limits.max_input_bytes
                ),
                input,
            ));
        }
        // `body` keeps the line numbers of the input; `text` is for looking at its start
        let body = input.trim_start_matches('\u{feff}');
        let text = body.trim();
        if text.is_empty() {
            return;
        }
        if !(text.starts_with('{') || text.starts_with('[')) {
            if is_yaml_config(text) {
                return out.no_readings(ctx.line(1), "Synse YAML configuration");
            }
            if let Err(q) = crate::json::admit(text, ctx) {
                return out.reject(*q);
            }
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                return out.reject(Quarantined::new(
                    ctx.pointer(""),
                    Reason::UnknownFormat,
                    "a JSON scalar is not a Synse response",
                    text,
                ));
            }
            return out.reject(Quarantined::new(
                ctx.line(1),
                Reason::BadJson,
                "not JSON (and not a Synse YAML configuration)",
                text,
            ));
        }
        // Size, nesting and the heap of the parse are checked before parsing.
        if let Err(q) = crate::json::admit(body, ctx) {
            return out.reject(*q);
        }
        let mut docs = Vec::new();
        let mut error = None;
        for item in serde_json::Deserializer::from_str(body).into_iter::<Value>() {
            match item {
                Ok(v) => docs.push(v),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let stream = docs.len() > 1 || (error.is_some() && !docs.is_empty());
        let mut run = Run { ctx };
        for (i, doc) in docs.iter().enumerate() {
            let ptr = if stream {
                format!("/{i}")
            } else {
                String::new()
            };
            run.document(doc, &ptr, out);
            if out.records_full() {
                return;
            }
        }
        if let Some(e) = error {
            let line = body.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
            if run.admit("", &Value::Null, out) {
                out.reject(Quarantined::new(
                    ctx.line(e.line() as u64),
                    Reason::BadJson,
                    e.to_string(),
                    line,
                ));
            }
        }
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }

    /// JSON gets its own, smaller size limit: `max_json_bytes` when it is below
    /// `max_input_bytes`.
    fn max_file_bytes(&self, limits: &Limits) -> (usize, &'static str) {
        crate::json::max_file_bytes(limits)
    }
}

impl Synse {
    /// JSON with OpenDCRE/Synse keys or vocabulary (and no Redfish `@odata`), or a Synse YAML
    /// configuration. Tiny responses made only of generic keys (`{"status": "ok"}`, a boot
    /// target, a transaction) are not claimed.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let t = head.trim_start_matches('\u{feff}').trim_start();
        if !(t.starts_with('{') || t.starts_with('[')) {
            return is_yaml_config(t);
        }
        if t.contains("@odata") {
            return false;
        }
        let has = |k: &str| t.contains(&format!("\"{k}\""));
        let lower = t.to_ascii_lowercase();
        SNIFF_KEYS.iter().any(|k| has(k))
            || ["opendcre", "synse", "vapor.io", "vaporio", "system/type:"]
                .iter()
                .any(|w| lower.contains(w))
            || (has("kind") && has("data") && has("unit"))
            || (has("device") && has("value") && has("timestamp"))
            || (has("location") && has("rack") && has("board"))
            || (has("hostnames") && has("ip_addresses"))
            || (has("rack") && has("boards"))
    }
}

/// Keys only OpenDCRE / Synse documents use.
const SNIFF_KEYS: &[&str] = &[
    "temperature_c",
    "speed_rpm",
    "pressure_kpa",
    "led_state",
    "input_power",
    "output_current",
    "device_type",
    "device_id",
    "rack_id",
    "board_id",
    "opendcre_version",
    "scan_cache_file",
    "serial_device",
    "emulator_data",
    "board_info",
    "bmc_ip",
    "physical_location",
    "chassis_location",
    "sdr_version",
    "inventory_area",
    "http_code",
    "unhealthy",
    "sort_index",
    "threshold_comparison",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};

    fn run(text: &str) -> IngestBatch {
        let n = Normalizer::builtin();
        let mut out = IngestBatch::default();
        Synse.decode(text, &Context::new("synse.json", &n), &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    #[test]
    fn v1_responses() {
        let b = run(r#"{"health": "ok", "states": [], "temperature_c": 19.73}"#);
        assert_eq!(b.readings[0].sensor, "temperature");
        assert_eq!(b.readings[0].value, 19.73);
        assert_eq!(b.readings[0].status.as_deref(), Some("ok"));
        assert_eq!(b.readings[0].entity.as_str(), "synse");
        let b = run(
            r#"{"input_power": 198.5, "input_voltage": 12.5, "output_current": 15.8, "over_current": false, "pmbus_raw": "0,12000", "power_ok": true, "power_status": "on"}"#,
        );
        let got: Vec<(&str, SensorKind)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("input_power", SensorKind::Power),
                ("input_voltage", SensorKind::Voltage),
                ("output_current", SensorKind::Current)
            ]
        );
        let b = run(
            r#"{"pressure_kpa": 101.3, "speed_rpm": null, "led_state": "on", "voltage": "high"}"#,
        );
        // fields come in table order: speed_rpm, then pressure_kpa
        assert_eq!(b.readings[0].quality, Quality::Absent);
        assert_eq!(b.readings[1].value, 101_300.0);
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(reasons, [Reason::BadValue, Reason::UnmappedSensor]);
        assert_eq!(b.quarantine[1].place.to_string(), "synse.json#/led_state");
    }

    #[test]
    fn v2_and_v3_readings() {
        let b = run(r#"{"kind": "temperature", "data": [
            {"value": 20.3, "timestamp": "2018-02-01T13:47:40.395939895Z", "unit": {"symbol": "C", "name": "degrees celsius"}, "type": "temperature", "info": ""},
            {"value": "off", "timestamp": "2018-02-01T13:48:59Z", "unit": null, "type": "state", "info": ""}]}"#);
        assert_eq!(
            (b.readings[0].sensor.as_str(), b.readings[0].value),
            ("temperature", 20.3)
        );
        assert_eq!(b.quarantine[0].reason, Reason::UnmappedSensor);
        assert_eq!(b.quarantine[0].place.to_string(), "synse.json#/data/1");

        let b = run(
            r#"{"location": {"rack": "rack-1", "board": "vec", "device": "34c2"}, "kind": "humidity",
            "value": 31, "timestamp": "2018-10-19T19:13:00.9184028Z", "unit": {"symbol": "C", "name": "celsius"}, "type": "temperature", "info": ""}"#,
        );
        let r = &b.readings[0];
        assert_eq!(
            (r.entity.as_str(), r.sensor.as_str(), r.kind),
            ("rack-1/vec", "34c2/temperature", SensorKind::Temperature)
        );

        let b = run(r#"[
          {"device": "a", "timestamp": "2020-01-01T12:00:00Z", "type": "humidity", "device_type": "humidity", "unit": {"name": "percent humidity", "symbol": "%"}, "value": 9, "context": {}},
          {"device": "b", "timestamp": "2020-01-01T12:00:00Z", "type": "", "device_type": "airflow", "unit": {"name": "millimeters per second", "symbol": "mm/s"}, "value": -90, "context": {}},
          {"device": "c", "timestamp": "2020-01-01T12:00:00Z", "type": "pressure", "unit": {"name": "pascal", "symbol": "Pa"}, "value": -4},
          {"device": "d", "timestamp": "2020-01-01T12:00:00Z", "type": "charge", "unit": {"symbol": "%"}, "value": 80},
          {"device": "e", "timestamp": "yesterday", "type": "temperature", "unit": {"symbol": "C"}, "value": 1},
          {"device": "f", "type": "temperature", "unit": {"symbol": "C"}, "value": null},
          {"device": "g", "type": "power", "unit": {"symbol": "W"}, "value": "250.5"},
          7
        ]"#);
        let got: Vec<(&str, SensorKind, f64)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.kind, r.value))
            .collect();
        assert_eq!(got[0], ("a/humidity", SensorKind::Humidity, 9.0));
        assert_eq!(got[1], ("c/pressure", SensorKind::Pressure, -4.0));
        assert_eq!(got[2].0, "f/temperature");
        assert!(got[2].2.is_nan());
        assert_eq!(b.readings[2].ts, Timestamp::UNKNOWN);
        assert_eq!(got[3], ("g/power", SensorKind::Power, 250.5));
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::UnmappedSensor,
                Reason::UnmappedSensor,
                Reason::BadTimestamp,
                Reason::BadField
            ]
        );
        assert_eq!(b.quarantine[3].place.to_string(), "synse.json#/7");
    }

    #[test]
    fn streams_configs_and_junk() {
        let b = run(
            r#"{"device":"x","timestamp":"2020-01-01T12:00:00Z","type":"temperature","unit":{"symbol":"C"},"value":5}{"device":"x","type":"state","unit":null,"value":"off"}"#,
        );
        assert_eq!(b.stats.seen, 2);
        assert_eq!(b.quarantine[0].place.to_string(), "synse.json#/1");

        for (doc, what) in [
            (r#"{"racks": []}"#, "scan"),
            (
                r#"{"$schema": "x", "properties": {"temperature_c": {}}}"#,
                "JSON schema",
            ),
            (r#"["a", "b"]"#, "list of ids"),
            ("[]", "empty list"),
            (
                r#"[{"id": "1", "info": "Synse LED", "type": "led"}]"#,
                "list of: Synse device summary",
            ),
            ("# devices\nversion: 3\ndevices:\n  - type: fan\n", "YAML"),
        ] {
            let b = run(doc);
            assert_eq!(b.stats.seen, 0, "{doc}");
            assert!(
                b.without_readings[0].what.contains(what),
                "{doc}: {:?}",
                b.without_readings
            );
        }
        for (doc, reason) in [
            (r#"{"Name": "Thermal"}"#, Reason::UnknownFormat),
            ("42", Reason::UnknownFormat),
            (r#"{"temperature_c": 1"#, Reason::BadJson),
            ("\n\n{\"temperature_c\": x}", Reason::BadJson),
            ("hello: world", Reason::BadJson),
            (
                r#"{"device":"x","type":"t","unit":{"symbol":"C"},"value":1} {"#,
                Reason::BadJson,
            ),
        ] {
            let b = run(doc);
            assert_eq!(b.quarantine.last().map(|q| q.reason), Some(reason), "{doc}");
        }
        // parse errors name the input's own line
        let b = run("\n\n{\"temperature_c\": x}");
        assert_eq!(b.quarantine[0].place.to_string(), "synse.json:3");
    }

    #[test]
    fn limits() {
        let n = Normalizer::builtin();
        let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
        let mut out = IngestBatch::default();
        Synse.decode(&deep, &Context::new("d", &n), &mut out);
        assert_eq!(out.quarantine[0].reason, Reason::TooDeep);
        assert_eq!(out.stats.seen, 1);
        // brackets inside strings do not count
        let mut out = IngestBatch::default();
        let strings = r#"{"a": "[[[[{{{{", "b": [1]}"#;
        let two = Context::new("d", &n).with_limits(Limits::default().with_max_json_depth(2));
        Synse.decode(strings, &two, &mut out);
        assert!(out.quarantine.iter().all(|q| q.reason != Reason::TooDeep));
        // a document whose parse would exceed the heap estimate is refused before parsing
        let mut out = IngestBatch::default();
        let wide = format!("[{}]", vec![r#"{"":0}"#; 2000].join(","));
        let small =
            Context::new("d", &n).with_limits(Limits::default().with_max_json_heap_bytes(1 << 20));
        Synse.decode(&wide, &small, &mut out);
        assert_eq!(
            (out.stats.seen, out.quarantine[0].reason),
            (1, Reason::InputTooLarge)
        );

        let many = format!(
            "[{}]",
            [r#"{"device":"x","type":"temperature","unit":{"symbol":"C"},"value":1}"#; 5].join(",")
        );
        let limits = Limits {
            max_records: 2,
            ..Limits::default()
        };
        let ctx = Context::new("d", &n).with_limits(limits);
        let mut out = IngestBatch::bounded(&ctx);
        Synse.decode(&many, &ctx, &mut out);
        assert_eq!((out.stats.accepted, out.stats.quarantined), (2, 1));
        assert_eq!(out.quarantine[0].reason, Reason::TooManyRecords);
        assert_eq!(out.quarantine[0].place.to_string(), "d#/2");
    }

    #[test]
    fn sniffing() {
        assert!(Synse.sniff(r#"{"health": "ok", "temperature_c": 19.7}"#));
        assert!(Synse.sniff(r#"[{"device": "a", "timestamp": "t", "value": 1}]"#));
        assert!(Synse.sniff("version: 3\ndevices:\n"));
        assert!(!Synse.sniff(r#"{"@odata.id": "/redfish/v1", "device_type": "x"}"#));
        assert!(!Synse.sniff("# HELP x\n"));
        assert!(!Synse.sniff(r#"{"a": 1}"#));
        assert!(Synse.sniff(r#"{"input_power": 198.5, "power_ok": true}"#));
        assert!(Synse.sniff(r#"{"$schema": "http://schemas.vapor.io/opendcre/v1.3/x"}"#));
        assert!(!Synse.sniff(r#"{"status": "ok"}"#));
    }
}
