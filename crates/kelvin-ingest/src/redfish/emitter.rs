//! One parsed Redfish document → records: one per sensor value, each a reading or a
//! quarantine entry, plus notes for resources that hold no readings.
//!
//! The [`Emitter`] walks the document, dispatching on `@odata.type` (or, without one, on the
//! resource's shape) to the resource decoders: legacy `Thermal`/`Power` arrays
//! (`super::legacy`), `Sensor` resources and collections (`super::sensor`), `MetricReport`
//! rows (`super::telemetry`), and sensor excerpts in every other resource
//! (`super::excerpt`). Records keep their [`Origin`], `DataSourceUri` and value key so that a
//! tree decode can de-duplicate across resources (`super::tree`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use kelvin_model::{EntityId, Place, Quality, Reading, SensorKind, Timestamp};
use serde_json::{Map, Value};

use super::naming::{esc, label, owner, resource_path};
use super::units::{Measure, Unmapped};
use crate::batch::{place_bytes, reading_heap};
pub(super) use crate::json::excerpt_of;
use crate::{Context, IngestBatch, Quarantined, Reason};

/// Where a record's value comes from; de-duplication prefers `Sensor` over the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The `Reading` (or `SpeedRPM`) of a `Sensor` resource, with the sensor's path.
    Sensor(String),
    /// A member of a legacy `Thermal` or `Power` array.
    Legacy,
    /// A sensor excerpt or a plain metric property in any other resource.
    Excerpt,
    /// A `MetricReport` row, with the key of its `MetricProperty`.
    Metric(Option<String>),
    /// Not a value: a whole document that could not be read, or the record limit.
    Document,
}

/// One record of a document, before it is counted into an [`IngestBatch`].
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) place: Place,
    pub(crate) excerpt: String,
    pub(crate) outcome: Result<Reading, Unmapped>,
    pub(crate) origin: Origin,
    /// The excerpt's `DataSourceUri`, as a `uri_key`.
    pub(crate) data_source: Option<String>,
    /// `{resource path}#{pointer}` of the value, what a `MetricProperty` names.
    pub(crate) value_key: Option<String>,
    /// Segments in the value's pointer within its resource (shorter wins among duplicates).
    depth: usize,
    /// For a duplicate: the place of the record that keeps the value.
    pub(crate) same_as: Option<Place>,
}

impl Record {
    /// The estimated heap this record holds while a document or tree is decoded: twice its
    /// size (a growing vector's spare capacity), its strings, and its name in the emitter's
    /// table of taken names.
    pub(crate) fn heap_bytes(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let outcome = match &self.outcome {
            Ok(r) => reading_heap(r) + r.sensor.len() + 64,
            Err((_, detail)) => detail.capacity(),
        };
        let origin = match &self.origin {
            Origin::Sensor(s) | Origin::Metric(Some(s)) => s.capacity(),
            _ => 0,
        };
        2 * std::mem::size_of::<Record>()
            + place_bytes(&self.place)
            + self.excerpt.capacity()
            + outcome
            + origin
            + text(&self.data_source)
            + text(&self.value_key)
    }
}

/// What one document decoded to.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) records: Vec<Record>,
    pub(crate) without: Vec<(Place, String)>,
    /// The estimated heap of `records` and `without` ([`Record::heap_bytes`]).
    pub(crate) bytes: usize,
}

impl Decoded {
    /// A document that is one quarantine entry (unreadable, too large, too deep, bad JSON).
    pub(crate) fn rejected(q: Quarantined) -> Self {
        let record = Record {
            place: q.place,
            excerpt: q.excerpt,
            outcome: Err((q.reason, q.detail)),
            origin: Origin::Document,
            data_source: None,
            value_key: None,
            depth: 0,
            same_as: None,
        };
        Decoded {
            bytes: record.heap_bytes(),
            records: vec![record],
            without: Vec::new(),
        }
    }

    /// Counts every record into `out`, in order.
    pub(crate) fn into_batch(self, out: &mut IngestBatch) {
        for r in self.records {
            match r.outcome {
                Ok(reading) => out.accept(reading),
                Err((reason, detail)) => {
                    out.reject(Quarantined::new(r.place, reason, detail, &r.excerpt));
                }
            }
        }
        for (place, what) in self.without {
            out.no_readings(place, what);
        }
    }
}

/// Marks a record as a duplicate of the record at `kept` (its value is reported there).
pub(crate) fn mark_duplicate(r: &mut Record, detail: String, kept: &Place) {
    if r.outcome.is_ok() {
        r.outcome = Err((Reason::Duplicate, detail));
        r.same_as = Some(kept.clone());
    }
}

/// A resource's `Status`: `State` and `Health`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Status<'v> {
    state: Option<&'v str>,
    health: Option<&'v str>,
}

impl<'v> Status<'v> {
    pub(super) fn of(map: &'v Map<String, Value>) -> Self {
        let s = map.get("Status");
        Status {
            state: s.and_then(|s| s.get("State")).and_then(Value::as_str),
            health: s.and_then(|s| s.get("Health")).and_then(Value::as_str),
        }
    }

    /// This status where it says something, else `outer`.
    pub(super) fn or(self, outer: Status<'v>) -> Self {
        if self.state.is_none() && self.health.is_none() {
            outer
        } else {
            self
        }
    }

    /// `State` says the sensor has no value now.
    fn absent(&self) -> bool {
        matches!(
            self.state,
            Some("Absent" | "Disabled" | "UnavailableOffline")
        )
    }

    /// The raw text kept on a reading: `State/Health`, or whichever is present.
    fn raw(&self) -> Option<String> {
        match (self.state, self.health) {
            (Some(s), Some(h)) => Some(format!("{s}/{h}")),
            (Some(x), None) | (None, Some(x)) => Some(x.to_string()),
            (None, None) => None,
        }
    }

    fn quality(&self, ctx: &Context<'_>) -> Quality {
        if self.absent() {
            return Quality::Absent;
        }
        self.health
            .and_then(|h| ctx.normalizer.quality(h))
            .filter(|q| *q != Quality::Absent)
            .unwrap_or(Quality::Good)
    }
}

/// What the decoder knows about the resource a value belongs to.
pub(super) struct Res<'v> {
    /// `@odata.id` as a resource path.
    pub(super) path: Option<String>,
    pub(super) entity: Result<EntityId, String>,
    /// The resource's path below its owner, for naming excerpts (`Outlets/A1`).
    pub(super) label: String,
    /// The resource's JSON pointer in the document (`""`, or `/Members/3` when expanded).
    pub(super) prefix: String,
    pub(super) status: Status<'v>,
    /// `ControlType` of a `Control` (whose `Sensor` excerpt it describes).
    pub(super) control_type: Option<&'v str>,
    /// Words that say what the resource is (`Name`, `PhysicalContext`), for percentages.
    pub(super) hint: String,
}

/// One value to turn into a record.
pub(super) struct Val<'v> {
    /// The value's pointer within its resource.
    pub(super) pointer: String,
    pub(super) name: String,
    /// Appended as `#alt` when the name is already taken in this document.
    pub(super) alt: String,
    pub(super) measure: Result<Measure, Unmapped>,
    /// `None`: the property is missing (an absent reading).
    pub(super) raw: Option<&'v Value>,
    /// Whether the value is text (`MetricValue`).
    pub(super) text: bool,
    pub(super) status: Status<'v>,
    pub(super) ts: Result<Timestamp, String>,
    pub(super) origin: Origin,
    pub(super) data_source: Option<String>,
    /// Overrides the resource's entity (`MetricReport` rows name their own).
    pub(super) entity: Option<Result<EntityId, String>>,
    /// What the quarantine excerpt shows.
    pub(super) context: Cow<'v, Value>,
}

/// Resource types that hold no readings by design; they are noted, not scanned.
const NO_READINGS: &[&str] = &[
    "ServiceRoot",
    "MetricDefinition",
    "MetricReportDefinition",
    "Triggers",
    "TelemetryService",
    "TelemetryData",
    "MessageRegistry",
    "MessageRegistryFile",
    "JsonSchemaFile",
    "Certificate",
    "CertificateService",
    "AccountService",
    "ManagerAccount",
    "Role",
    "SessionService",
    "Session",
    "EventService",
    "EventDestination",
    "LogService",
    "LogEntry",
    "TaskService",
    "Task",
    "UpdateService",
    "SoftwareInventory",
];

/// Keys that mark an object without `@odata` annotations as a Redfish resource.
const REDFISH_KEYS: &[&str] = &["Id", "Name", "Status", "Links", "Oem", "Description"];

/// How a resource is decoded.
enum Kind {
    Thermal,
    Power,
    Sensor,
    MetricReport,
    ProcessorMetrics,
    Collection,
    NoReadings(String),
    Scan,
}

fn kind_of(type_name: Option<&str>, map: &Map<String, Value>) -> Kind {
    let is_array = |k: &str| map.get(k).is_some_and(Value::is_array);
    match type_name {
        Some("Thermal") => Kind::Thermal,
        Some("Power") => Kind::Power,
        Some("Sensor") => Kind::Sensor,
        Some("MetricReport") => Kind::MetricReport,
        Some("ProcessorMetrics") => Kind::ProcessorMetrics,
        Some(t) if t.ends_with("Collection") => Kind::Collection,
        Some(t) if NO_READINGS.contains(&t) => Kind::NoReadings(format!("Redfish {t}")),
        Some(_) => Kind::Scan,
        None if is_array("Members") => Kind::Collection,
        None if is_array("Temperatures") || is_array("Fans") => Kind::Thermal,
        None if is_array("PowerControl") || is_array("PowerSupplies") || is_array("Voltages") => {
            Kind::Power
        }
        None if is_array("MetricValues") => Kind::MetricReport,
        None if map.contains_key("Reading")
            && (map.contains_key("ReadingType") || map.contains_key("ReadingUnits")) =>
        {
            Kind::Sensor
        }
        None if map.contains_key("$schema") => Kind::NoReadings("JSON schema".to_string()),
        None if map.contains_key("@odata.context") && map.contains_key("value") => {
            Kind::NoReadings("Redfish OData service document".to_string())
        }
        None => Kind::Scan,
    }
}

pub(super) fn str_of<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    map.get(key).and_then(Value::as_str)
}

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as a number: `Ok(None)` for null, a missing property or an absent text;
/// text is read only where the schema makes it text (`MetricValue`).
fn number(ctx: &Context<'_>, raw: Option<&Value>, text: bool) -> Result<Option<f64>, Unmapped> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(x)) => x
            .as_f64()
            .map(Some)
            .ok_or_else(|| (Reason::BadValue, format!("{x} is not a number"))),
        Some(Value::String(s)) if ctx.normalizer.is_absent(s) => Ok(None),
        Some(Value::String(s)) if text => match s.trim().parse::<f64>() {
            Ok(v) if v.is_nan() => Err((Reason::BadValue, format!("{s:?} is not a reading"))),
            Ok(v) if v.is_infinite() => {
                Err((Reason::NonFiniteValue, format!("{s:?} is not finite")))
            }
            Ok(v) => Ok(Some(v)),
            Err(_) => Err((Reason::BadValue, format!("{s:?} is not a number"))),
        },
        Some(other) => Err((
            Reason::BadValue,
            format!("expected a number, found {}", json_kind(other)),
        )),
    }
}

/// Decodes one document into records.
pub(crate) struct Emitter<'c, 'n> {
    pub(super) ctx: &'c Context<'n>,
    fallback: EntityId,
    records: Vec<Record>,
    without: Vec<(Place, String)>,
    pub(super) full: bool,
    /// The estimated heap of `records` and `without`, against
    /// [`crate::Limits::max_output_bytes`].
    bytes: usize,
    taken: HashSet<(EntityId, String, SensorKind, Timestamp)>,
    next_suffix: HashMap<String, usize>,
    dir: Option<DirHint>,
}

/// Where a mockup file sits: `…/{parent}/{name}/index.json`. DMTF mockups mirror URIs in
/// directories, so when the document's `@odata.id` has the same parent segment but another
/// last segment (a copy-paste slip: `Sensors/CurrentMains2/index.json` claiming to be
/// `Sensors/CurrentMains1`), the directory is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirHint {
    pub(crate) parent: String,
    pub(crate) name: String,
}

impl<'c, 'n> Emitter<'c, 'n> {
    /// An emitter whose resources without an owner belong to `fallback`.
    pub(crate) fn new(ctx: &'c Context<'n>, fallback: EntityId) -> Self {
        Emitter {
            ctx,
            fallback,
            records: Vec::new(),
            without: Vec::new(),
            full: false,
            bytes: 0,
            taken: HashSet::new(),
            next_suffix: HashMap::new(),
            dir: None,
        }
    }

    /// Sets the [`DirHint`] of the document's file.
    pub(crate) fn with_dir(mut self, dir: Option<DirHint>) -> Self {
        self.dir = dir;
        self
    }

    /// Decodes a whole document.
    pub(crate) fn document(&mut self, v: &Value) {
        match v {
            Value::Object(map) => self.resource(map, String::new()),
            other => self.reject_document(
                Reason::BadField,
                format!(
                    "a Redfish resource is a JSON object, not {}",
                    json_kind(other)
                ),
                other,
            ),
        }
    }

    /// The records, with duplicates inside the document marked: excerpts that name the same
    /// `DataSourceUri` (an outlet's `Voltage` and its `PolyPhaseVoltage.Line1ToNeutral`) are
    /// one value; the one with the shortest pointer is kept.
    pub(crate) fn finish(mut self) -> Decoded {
        let mut best: HashMap<(String, SensorKind), usize> = HashMap::new();
        for (i, r) in self.records.iter().enumerate() {
            if let (Origin::Excerpt, Some(ds), Ok(reading)) =
                (&r.origin, &r.data_source, &r.outcome)
            {
                best.entry((ds.clone(), reading.kind))
                    .and_modify(|j| {
                        if r.depth < self.records[*j].depth {
                            *j = i;
                        }
                    })
                    .or_insert(i);
            }
        }
        let keep: HashSet<usize> = best.values().copied().collect();
        let places: HashMap<(String, SensorKind), Place> = best
            .iter()
            .map(|(k, &i)| (k.clone(), self.records[i].place.clone()))
            .collect();
        for (i, r) in self.records.iter_mut().enumerate() {
            if keep.contains(&i) || r.origin != Origin::Excerpt {
                continue;
            }
            let key = match (&r.data_source, &r.outcome) {
                (Some(ds), Ok(reading)) => (ds.clone(), reading.kind),
                _ => continue,
            };
            if let Some(p) = places.get(&key) {
                let detail = format!("same DataSourceUri {} as {p}", key.0);
                mark_duplicate(r, detail, p);
            }
        }
        Decoded {
            records: self.records,
            without: self.without,
            bytes: self.bytes,
        }
    }

    pub(super) fn entity_for(&self, path: Option<&str>) -> Result<EntityId, String> {
        if let Some(e) = &self.ctx.entity {
            return Ok(e.clone());
        }
        match path.and_then(owner) {
            Some((id, _)) => EntityId::new(id).map_err(|e| e.reason().to_string()),
            None => Ok(self.fallback.clone()),
        }
    }

    fn res<'v>(
        &self,
        map: &'v Map<String, Value>,
        prefix: String,
        type_name: Option<&str>,
    ) -> Res<'v> {
        let mut path = str_of(map, "@odata.id").map(|u| resource_path(u).to_string());
        if let (true, Some(p), Some(dir)) = (prefix.is_empty(), &mut path, &self.dir) {
            let mut segs = p.rsplitn(3, '/');
            let (last, parent, rest) = (segs.next(), segs.next(), segs.next());
            if let (Some(last), Some(parent), Some(rest)) = (last, parent, rest)
                && parent == dir.parent
                && last != dir.name
                && !dir.name.is_empty()
            {
                *p = format!("{rest}/{parent}/{}", dir.name);
            }
        }
        let hint = ["Name", "Id", "PhysicalContext"]
            .iter()
            .filter_map(|k| str_of(map, k))
            .collect::<Vec<_>>()
            .join(" ");
        Res {
            entity: self.entity_for(path.as_deref()),
            label: path.as_deref().map(|p| label(p, false)).unwrap_or_default(),
            path,
            prefix,
            status: Status::of(map),
            control_type: if type_name == Some("Control") {
                str_of(map, "ControlType")
            } else {
                None
            },
            hint,
        }
    }

    pub(super) fn resource(&mut self, map: &Map<String, Value>, prefix: String) {
        let type_name = str_of(map, "@odata.type")
            .map(|t| {
                t.trim_start_matches('#')
                    .split('.')
                    .next()
                    .unwrap_or_default()
            })
            .filter(|t| !t.is_empty());
        let res = self.res(map, prefix, type_name);
        let what = match type_name {
            Some(t) => format!("Redfish {t}"),
            None => "Redfish resource".to_string(),
        };
        let before = self.records.len();
        match kind_of(type_name, map) {
            Kind::Thermal => self.thermal(&res, map),
            Kind::Power => self.power(&res, map),
            Kind::Sensor => self.sensor(&res, map),
            Kind::MetricReport => self.metric_report(&res, map),
            Kind::ProcessorMetrics => {
                self.plain_numbers(&res, map, &["TemperatureCelsius", "ConsumedPowerWatt"]);
                self.scan(&res, map);
            }
            Kind::Collection => {
                self.collection(&res, map);
                if self.records.len() == before {
                    self.note(&res, what);
                }
                return;
            }
            Kind::NoReadings(what) => {
                self.note(&res, what);
                return;
            }
            Kind::Scan => self.scan(&res, map),
        }
        if self.records.len() == before {
            let redfish_like = type_name.is_some()
                || map
                    .keys()
                    .any(|k| k.starts_with("@odata.") || k.starts_with("@Redfish."))
                || REDFISH_KEYS.iter().any(|k| map.contains_key(*k))
                || map.contains_key("ChassisType");
            if redfish_like {
                self.note(&res, what);
            } else {
                let ctx = self.ctx;
                self.push(Record {
                    place: ctx.pointer(res.prefix.clone()),
                    excerpt: excerpt_of(map),
                    outcome: Err((
                        Reason::BadField,
                        "not a Redfish resource: no @odata.type, no @odata.id and no known shape"
                            .to_string(),
                    )),
                    origin: Origin::Document,
                    data_source: None,
                    value_key: None,
                    depth: 0,
                    same_as: None,
                });
            }
        }
    }

    pub(super) fn note(&mut self, res: &Res<'_>, what: String) {
        let place = self.ctx.pointer(res.prefix.clone());
        let bytes =
            2 * std::mem::size_of::<(Place, String)>() + place_bytes(&place) + what.capacity();
        if self.full || self.bytes.saturating_add(bytes) > self.ctx.limits.max_output_bytes {
            return; // not a record: past the budget, notes are not kept
        }
        self.bytes += bytes;
        self.without.push((place, what));
    }

    fn reject_document(&mut self, reason: Reason, detail: String, v: &Value) {
        let ctx = self.ctx;
        self.push(Record {
            place: ctx.pointer(""),
            excerpt: excerpt_of(v),
            outcome: Err((reason, detail)),
            origin: Origin::Document,
            data_source: None,
            value_key: None,
            depth: 0,
            same_as: None,
        });
    }

    /// Appends a record, or — past [`crate::Limits::max_records`] records or
    /// [`crate::Limits::max_output_bytes`] of them — one [`Reason::TooManyRecords`] record and
    /// nothing after it.
    fn push(&mut self, r: Record) {
        if self.full {
            return;
        }
        let limits = &self.ctx.limits;
        let bytes = r.heap_bytes();
        let over = if self.records.len() >= limits.max_records {
            Some(format!(
                "more than {} records in one document (max_records); the rest is skipped",
                limits.max_records
            ))
        } else if self.bytes.saturating_add(bytes) > limits.max_output_bytes {
            Some(format!(
                "the records of this document exceed {} bytes (max_output_bytes); the rest is \
                 skipped",
                limits.max_output_bytes
            ))
        } else {
            None
        };
        let Some(detail) = over else {
            self.bytes += bytes;
            self.records.push(r);
            return;
        };
        self.full = true;
        let record = Record {
            outcome: Err((Reason::TooManyRecords, detail)),
            origin: Origin::Document,
            data_source: None,
            value_key: None,
            depth: 0,
            same_as: None,
            ..r
        };
        self.bytes += record.heap_bytes();
        self.records.push(record);
    }

    /// `name`, or `name#alt` (then `name#alt#2` …) when this document already has a reading
    /// of that entity, name and kind.
    fn unique(
        &mut self,
        entity: &EntityId,
        name: String,
        alt: &str,
        kind: SensorKind,
        ts: Timestamp,
    ) -> String {
        let mut key = (entity.clone(), name, kind, ts);
        if self.taken.contains(&key) {
            let base = format!("{}#{alt}", key.1);
            key.1 = base.clone();
            if self.taken.contains(&key) {
                let n = self.next_suffix.entry(base.clone()).or_insert(2);
                loop {
                    key.1 = format!("{base}#{n}");
                    *n += 1;
                    if !self.taken.contains(&key) {
                        break;
                    }
                }
            }
        }
        let name = key.1.clone();
        self.taken.insert(key);
        name
    }

    pub(super) fn emit(&mut self, res: &Res<'_>, v: Val<'_>) {
        if self.full {
            return;
        }
        let ctx = self.ctx;
        let place = ctx.pointer(format!("{}{}", res.prefix, v.pointer));
        let excerpt = excerpt_of(&v.context);
        let value_key = res.path.as_ref().map(|p| format!("{p}#{}", v.pointer));
        let depth = v.pointer.matches('/').count();
        let outcome = self.reading(res, &v);
        self.push(Record {
            place,
            excerpt,
            outcome,
            origin: v.origin,
            data_source: v.data_source,
            value_key,
            depth,
            same_as: None,
        });
    }

    fn reading(&mut self, res: &Res<'_>, v: &Val<'_>) -> Result<Reading, Unmapped> {
        let ctx = self.ctx;
        let entity = v
            .entity
            .clone()
            .unwrap_or_else(|| res.entity.clone())
            .map_err(|e| (Reason::InvalidEntity, e))?;
        let m = v.measure.clone()?;
        let ts = v.ts.clone().map_err(|e| (Reason::BadTimestamp, e))?;
        let (value, quality) = if v.status.absent() {
            (f64::NAN, Quality::Absent)
        } else {
            match number(ctx, v.raw, v.text)? {
                None => (f64::NAN, Quality::Absent),
                Some(x) => {
                    let c = m.to_canonical(x)?;
                    if !c.is_finite() {
                        return Err((
                            Reason::NonFiniteValue,
                            format!("{x} overflows in {}", m.kind.unit()),
                        ));
                    }
                    (c, v.status.quality(ctx))
                }
            }
        };
        let name = self.unique(&entity, v.name.clone(), &v.alt, m.kind, ts);
        let mut r = Reading::new(entity, name, m.kind, value, ts).with_quality(quality);
        if let Some(s) = v.status.raw() {
            r = r.with_status(s);
        }
        Ok(r)
    }

    /// A property that must be an array: `Some` when it is, `None` when missing; anything
    /// else is one [`Reason::BadField`] record.
    pub(super) fn array<'v>(
        &mut self,
        res: &Res<'_>,
        map: &'v Map<String, Value>,
        key: &str,
    ) -> Option<&'v [Value]> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                self.bad_field(
                    res,
                    format!("/{}", esc(key)),
                    format!("{key} is {}, not an array", json_kind(other)),
                    other,
                );
                None
            }
        }
    }

    pub(super) fn bad_field(&mut self, res: &Res<'_>, pointer: String, detail: String, v: &Value) {
        let ctx = self.ctx;
        self.push(Record {
            place: ctx.pointer(format!("{}{pointer}", res.prefix)),
            excerpt: excerpt_of(v),
            outcome: Err((Reason::BadField, detail)),
            origin: Origin::Document,
            data_source: None,
            value_key: None,
            depth: 0,
            same_as: None,
        });
    }
}
