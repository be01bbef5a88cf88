//! Redfish JSON: legacy `Thermal`/`Power`, `Sensors`, `PowerSubsystem`, `EnvironmentMetrics`,
//! power equipment and telemetry `MetricReport`s, single resources or mockup trees.
//!
//! [`Redfish`] decodes one resource (one file, one HTTP response body); [`decode_tree`] walks a
//! DMTF mockup or a vendor dump and removes the values reported twice.
//!
//! ```
//! use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, redfish::Redfish};
//!
//! let body = r##"{
//!   "@odata.id": "/redfish/v1/Chassis/1U/Thermal",
//!   "@odata.type": "#Thermal.v1_7_3.Thermal",
//!   "Temperatures": [
//!     {"MemberId": "0", "Name": "Inlet Temp", "ReadingCelsius": 24.5,
//!      "Status": {"State": "Enabled", "Health": "OK"}},
//!     {"MemberId": "1", "Name": "CPU2 Temp", "ReadingCelsius": null,
//!      "Status": {"State": "Absent"}}
//!   ]
//! }"##;
//! let n = Normalizer::builtin();
//! let mut batch = IngestBatch::default();
//! Redfish.decode(body, &Context::new("thermal.json", &n), &mut batch);
//! let inlet = &batch.readings[0];
//! assert_eq!((inlet.entity.as_str(), inlet.sensor.as_str(), inlet.value), ("1U", "inlet", 24.5));
//! assert_eq!(inlet.status.as_deref(), Some("Enabled/OK"));
//! assert!(!batch.readings[1].is_usable()); // absent, not zero
//! assert_eq!(batch.stats.seen, batch.stats.accepted + batch.stats.quarantined);
//! ```
//!
//! # Records
//!
//! Every sensor value is one record: a [`Reading`](crate::Reading) or a quarantine entry whose
//! place is a JSON pointer (`thermal.json#/Temperatures/2/ReadingCelsius`). A null or
//! missing reading, or a `Status.State` of `Absent`, `Disabled` or `UnavailableOffline`, is an
//! absent reading (NaN, [`Quality::Absent`](kelvin_model::Quality::Absent)). Quality otherwise
//! follows `Status.Health` (`OK`, `Warning`, `Critical`); the raw status is kept as
//! `State/Health`. Values without a canonical kind (frequency, heat removed, battery charge,
//! power factor) are [`Reason::UnmappedSensor`](crate::Reason::UnmappedSensor) records, so
//! they are counted. Resources that hold no readings by design (service root, collections of
//! links, `Chassis`, `MetricDefinition`, schemas …) are noted with
//! [`IngestBatch::no_readings`](crate::IngestBatch::no_readings), not counted.
//!
//! Decoded resources, dispatched on `@odata.type` (or, without one, on their shape):
//!
//! - legacy `Thermal` (`Temperatures[].ReadingCelsius`; `Fans[]` with `Reading` and
//!   `ReadingUnits` `RPM` or `Percent`, older `ReadingRPM`, iLO 4 `CurrentReading`) and `Power`
//!   (`PowerControl[].PowerConsumedWatts` and `PowerMetrics` average/min/max,
//!   `PowerSupplies[]` input/output watts and line voltage, `Voltages[].ReadingVolts`);
//! - `Sensor` resources, alone or expanded in a collection: `Reading` in `ReadingUnits`, the
//!   kind from `ReadingType` (a type that names its unit, like `EnergykWh`, wins over a
//!   contradicting `ReadingUnits`); a fan's `SpeedRPM` is a second record; `ReadingTime`, when
//!   present, is the reading's time;
//! - every other resource is scanned for sensor excerpts (`{"Reading": …}` objects, outside
//!   `Thresholds`, `Oem`, `Links` and `Actions`): `EnvironmentMetrics`, `PowerSupply(Metrics)`,
//!   `PowerDistribution(Metrics)`, `Outlet`, `Circuit`, `OutletGroup`, `CoolantConnector`,
//!   `Pump`, `LeakDetection`, `Fan`, `ThermalMetrics`, `Battery(Metrics)`, `Control` … The kind
//!   comes from the Redfish unit suffix of the nearest property name (`TemperatureCelsius`,
//!   `PowerWatts`, `EnergykWh`, `CurrentAmps`, `Voltage`, `DeltaPressurekPa` → Pa,
//!   `FlowLitersPerMinute` → m³/s as [`SensorKind::Airflow`](kelvin_model::SensorKind::Airflow),
//!   `HumidityPercent`, `SpeedPercent` → fan duty);
//! - `MetricReport`: one record per `MetricValues` row. The value is a string (`"23.5"`), the
//!   time the row's RFC 3339 `Timestamp`; the kind is guessed from the `MetricId` and the
//!   names in `MetricProperty` (`Temp`/`Celsius` → temperature, `Energy`/`kWh` → energy,
//!   `Watts`/`Power` → power, `Volt`, `Amps`/`Current`, `Humid`, `Fan`/`RPM`; frequency and
//!   power factor have no kind); a row no rule matches is an `UnmappedSensor` record.
//!
//! # Entities and sensor names
//!
//! The entity is [`Context::entity`](crate::Context::entity) when set, else the owner in the
//! resource's `@odata.id`: `/redfish/v1/Chassis/1U/Thermal` → `1U` (also `Systems`,
//! `Managers`, `Facilities`); equipment ids are only unique within their collection, so
//! `/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1` → `RackPDUs-1` and
//! `/redfish/v1/ThermalEquipment/CDUs/1/Pumps/2` → `CDUs-1`. A `MetricReport` row belongs to
//! the owner of its `MetricProperty`. Resources without an owner (telemetry, a body without
//! `@odata.id`) use [`Context::fallback_entity`](crate::Context::fallback_entity).
//!
//! Sensor names go through the [`Normalizer`](crate::Normalizer) (so `Inlet Temp`, `Ambient`,
//! `01-Inlet Ambient` → `inlet`); a temperature whose name is not in the table but whose
//! `PhysicalContext` is `Intake` (`Exhaust`) is `inlet` (`exhaust`). Otherwise:
//!
//! - legacy array members: the vendor `Name` (`FanName`), else `MemberId`; names that repeat
//!   in one array get `#MemberId` on every member; a lone `PowerControl` is the system input
//!   power (`input` in the built-in table); other properties are `name/Property`
//!   (`PS1 Status/PowerInputWatts`, `input/AverageConsumedWatts`);
//! - `Sensor` resources: the last segment of the `@odata.id` (the `Id` it must equal — but
//!   mockups copy `Id`s and `Name`s between sensors, and the URI is unique), else the `Id`;
//! - excerpts: the resource's path below its owner without grouping segments, then the
//!   property path or `DeviceName` (`PowerSupplies/Bay1/InputPowerWatts`,
//!   `Outlets/A1/PowerWatts`, `Mains/AC1/PolyPhaseVoltage/Line1ToNeutral`, `Chassis Fan #1`);
//! - `MetricReport` rows: the sensor `Id` for a `…/Sensors/{Id}` property, else the property's
//!   path below its owner (`Power/PowerControl/0/PowerConsumedWatts`).
//!
//! A name already used in the document for the same entity and kind gets `#` and a
//! disambiguator appended.

mod emitter;
mod excerpt;
mod input;
mod legacy;
mod naming;
mod sensor;
mod telemetry;
#[cfg(test)]
mod tests;
pub(crate) mod tree;
mod units;

use std::path::Path;

use kelvin_model::EntityId;

use crate::{Confidence, Context, Decode, Format, IngestBatch, IngestError, Limits};
use emitter::{Decoded, DirHint, Emitter};

pub use tree::{decode_documents, decode_tree};

/// RFC 3339 through the model's parser, the reason as the error.
fn parse_rfc3339(text: &str) -> Result<kelvin_model::Timestamp, String> {
    kelvin_model::Timestamp::parse_rfc3339(text).map_err(|e| e.reason().to_string())
}

/// The Redfish decoder for one JSON resource (one file, one HTTP response body).
///
/// Input bounds come from the context's [`Limits`]: a body larger than
/// `max_input_bytes` or `max_json_bytes` is one [`InputTooLarge`](crate::Reason::InputTooLarge)
/// record; so is one whose parse would take more than `max_json_heap_bytes` of heap, as a
/// pre-scan estimates before any parsing; nesting deeper than `max_json_depth` is one
/// [`TooDeep`](crate::Reason::TooDeep) record, found by the same pre-scan; JSON that does not
/// parse is one [`BadJson`](crate::Reason::BadJson) record with the line and column; past
/// `max_records` values, or `max_output_bytes` of them, one
/// [`TooManyRecords`](crate::Reason::TooManyRecords) record stands for the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redfish;

impl Decode for Redfish {
    fn name(&self) -> &str {
        Format::Redfish.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_str(input, ctx, &ctx.fallback_entity(), None).into_batch(out);
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }

    /// JSON gets its own, smaller size limit: `max_json_bytes` when it is below
    /// `max_input_bytes`.
    fn max_file_bytes(&self, limits: &Limits) -> (usize, &'static str) {
        crate::json::max_file_bytes(limits)
    }

    /// A directory whose first levels hold `.json` files before any sysfs/procfs landmark.
    fn detect_tree(&self, root: &Path) -> Option<Confidence> {
        looks_like_redfish(root, 3).then_some(Confidence::LIKELY)
    }

    /// A mockup or service dump: [`decode_tree`].
    fn decode_tree(&self, root: &Path, ctx: &Context<'_>) -> Result<IngestBatch, IngestError> {
        decode_tree(root, ctx)
    }
}

/// Whether a directory looks like a Redfish dump (JSON resources) rather than a sysfs/procfs
/// tree, from its first `depth` levels.
fn looks_like_redfish(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".json") {
            return true;
        }
        if matches!(
            name.as_ref(),
            "class" | "devices" | "fs" | "sys" | "proc" | "cpu.stat" | "stat"
        ) {
            return false;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            subdirs.push(p);
        }
    }
    subdirs.sort();
    depth > 0
        && subdirs
            .iter()
            .take(16)
            .any(|d| looks_like_redfish(d, depth - 1))
}

impl Redfish {
    /// JSON (it starts with a bracket or brace) that mentions `@odata.id`, `@odata.type` or
    /// `@odata.context` — which also recognizes a truncated or corrupted Redfish body, so it
    /// is quarantined as Redfish rather than left unrecognized.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let t = head.trim_start_matches('\u{feff}').trim_start();
        t.starts_with(['{', '[', '}', ']'])
            && ["\"@odata.id\"", "\"@odata.type\"", "\"@odata.context\""]
                .iter()
                .any(|k| t.contains(k))
    }
}

/// Decodes one document; resources without an owner belong to `fallback`.
fn decode_str(
    input: &str,
    ctx: &Context<'_>,
    fallback: &EntityId,
    dir: Option<DirHint>,
) -> Decoded {
    match input::parse(input, ctx) {
        Err(q) => Decoded::rejected(*q),
        Ok(v) => {
            let mut em = Emitter::new(ctx, fallback.clone()).with_dir(dir);
            em.document(&v);
            em.finish()
        }
    }
}
