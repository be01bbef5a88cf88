//! Entities from Redfish URIs, sensor names from vendor names, JSON pointers.

use std::borrow::Cow;

use kelvin_model::SensorKind;

use crate::Normalizer;

/// A URI without scheme and host, query, fragment and trailing slashes
/// (`https://bmc/redfish/v1/Chassis/1/#x` → `/redfish/v1/Chassis/1`).
pub(crate) fn resource_path(uri: &str) -> &str {
    let mut s = uri.trim();
    if let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    {
        s = rest.find('/').map_or("", |i| &rest[i..]);
    }
    let end = s.find(['#', '?']).unwrap_or(s.len());
    s[..end].trim_end_matches('/')
}

/// A `DataSourceUri` or `MetricProperty` as a comparable key: the resource path, plus the
/// fragment when there is one (`/redfish/v1/Chassis/1/Power#/PowerControl/0`).
pub(crate) fn uri_key(uri: &str) -> String {
    let path = resource_path(uri);
    match uri.find('#') {
        Some(i) => format!("{path}#{}", &uri[i + 1..]),
        None => path.to_string(),
    }
}

/// The segments after `/redfish/v1`, or `None` for a URI outside the Redfish tree.
fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/redfish/v1")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

/// The resource that owns a URI, as an entity id text, and how many segments (after
/// `/redfish/v1`) name it.
///
/// - `Chassis/{id}`, `Systems/{id}`, `Managers/{id}`, `Facilities/{id}` → `{id}`;
/// - `PowerEquipment/{collection}/{id}`, `ThermalEquipment/{collection}/{id}` →
///   `{collection}-{id}` (`RackPDUs-1`, `CDUs-1`), because equipment ids are only unique
///   within their collection;
/// - anything else (`TelemetryService`, the service root) has no owner.
pub(crate) fn owner(path: &str) -> Option<(String, usize)> {
    let seg = segments(path)?;
    match seg.as_slice() {
        ["Chassis" | "Systems" | "Managers" | "Facilities", id, ..] => Some((id.to_string(), 2)),
        ["PowerEquipment" | "ThermalEquipment", coll, id, ..] => Some((format!("{coll}-{id}"), 3)),
        _ => None,
    }
}

/// Path segments that only group resources and add nothing to a sensor's name.
const GROUPING: &[&str] = &[
    "PowerSubsystem",
    "ThermalSubsystem",
    "EnvironmentMetrics",
    "Metrics",
    "ThermalMetrics",
    "ProcessorMetrics",
    "MemoryMetrics",
];

/// The part of a resource's path below its owner, without grouping segments
/// (`/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics` → `PowerSupplies/Bay1`,
/// `/redfish/v1/Chassis/1U/EnvironmentMetrics` → ``).
pub(crate) fn label(path: &str, keep_grouping: bool) -> String {
    let Some(seg) = segments(path) else {
        return String::new();
    };
    let skip = owner(path).map_or(seg.len(), |(_, n)| n);
    seg.iter()
        .skip(skip)
        .filter(|s| keep_grouping || !GROUPING.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// `a/b` from a label and a name, either of which may be empty.
pub(crate) fn join(label: &str, name: &str) -> String {
    match (label.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => label.to_string(),
        _ => format!("{label}/{name}"),
    }
}

/// The normalizer's canonical name for a vendor name, only when the table lists it.
pub(crate) fn canonical(n: &Normalizer, vendor: &str, kind: SensorKind) -> Option<String> {
    let c = n.sensor_name(vendor, kind);
    (c != vendor.trim()).then_some(c)
}

/// The canonical name implied by a temperature sensor's `PhysicalContext`: `Intake` is the
/// inlet, `Exhaust` the exhaust (used only when the name itself is not in the table).
pub(crate) fn by_context(kind: SensorKind, physical_context: Option<&str>) -> Option<String> {
    match (kind, physical_context) {
        (SensorKind::Temperature, Some("Intake")) => Some("inlet".to_string()),
        (SensorKind::Temperature, Some("Exhaust")) => Some("exhaust".to_string()),
        _ => None,
    }
}

/// A key escaped for a JSON pointer (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn esc(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_labels() {
        let o = |u: &str| owner(resource_path(u)).map(|(e, _)| e);
        assert_eq!(o("/redfish/v1/Chassis/1U/Thermal").as_deref(), Some("1U"));
        assert_eq!(o("/redfish/v1/Chassis/1U").as_deref(), Some("1U"));
        assert_eq!(o("/redfish/v1/Systems/1/").as_deref(), Some("1"));
        assert_eq!(
            o("https://bmc.example/redfish/v1/Chassis/System.Embedded.1/Power#/PowerControl/0")
                .as_deref(),
            Some("System.Embedded.1")
        );
        assert_eq!(
            o("/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1").as_deref(),
            Some("RackPDUs-1")
        );
        assert_eq!(
            o("/redfish/v1/ThermalEquipment/CDUs/1/Pumps/2").as_deref(),
            Some("CDUs-1")
        );
        assert_eq!(o("/redfish/v1/PowerEquipment/RackPDUs"), None);
        assert_eq!(o("/redfish/v1/TelemetryService/MetricReports/X"), None);
        assert_eq!(o("/redfish/v1"), None);
        assert_eq!(o("/redfish/v10/Chassis/1"), None);
        assert_eq!(o("Chassis/1"), None);

        let l = |u: &str| label(resource_path(u), false);
        assert_eq!(
            l("/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics"),
            "PowerSupplies/Bay1"
        );
        assert_eq!(l("/redfish/v1/Chassis/1U/EnvironmentMetrics"), "");
        assert_eq!(
            l("/redfish/v1/Systems/S/Processors/CPU1/EnvironmentMetrics"),
            "Processors/CPU1"
        );
        assert_eq!(
            l("/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1"),
            "Outlets/A1"
        );
        assert_eq!(label("/redfish/v1/Chassis/T/Power", true), "Power");
        assert_eq!(l("/redfish/v1/TelemetryService"), "");
    }

    #[test]
    fn uri_keys() {
        assert_eq!(uri_key("/redfish/v1/Chassis/1/"), "/redfish/v1/Chassis/1");
        assert_eq!(
            uri_key("/redfish/v1/Chassis/1/Power/#/PowerControl/0"),
            "/redfish/v1/Chassis/1/Power#/PowerControl/0"
        );
    }

    #[test]
    fn names() {
        let n = Normalizer::builtin();
        assert_eq!(
            canonical(&n, "01-Inlet Ambient", SensorKind::Temperature).as_deref(),
            Some("inlet")
        );
        assert_eq!(canonical(&n, "CPU1 Temp", SensorKind::Temperature), None);
        assert_eq!(
            by_context(SensorKind::Temperature, Some("Intake")).as_deref(),
            Some("inlet")
        );
        assert_eq!(by_context(SensorKind::Power, Some("Intake")), None);
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "x"), "a/x");
        assert_eq!(esc("a/b~c"), "a~1b~0c");
    }
}
