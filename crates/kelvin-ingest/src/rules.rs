//! The rule table mapping exporter metrics to canonical sensors.

use kelvin_model::{EntityId, Place, SensorKind, Unit};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::{IngestError, IngestErrorKind};

/// Where a sample's entity id comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityFrom {
    /// The `instance` label with any `:port` removed (`h1:9100` → `h1`, `[::1]:9100` → `::1`):
    /// the host a node-level exporter runs on.
    Instance,
    /// The value of the named label (`pod` for cAdvisor, `pod_name` for Kepler).
    Label(String),
}

/// Maps one exporter metric to a canonical sensor.
///
/// `sensor` is a template: `{label}` is replaced by that label's value, so
/// `"{chip}/{sensor}"` names node_exporter hwmon series `platform_coretemp_0/temp1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    /// The exact metric name.
    pub metric: String,
    /// The canonical kind the values measure.
    pub kind: SensorKind,
    /// The unit the exporter uses (converted to `kind.unit()`).
    pub unit: Unit,
    /// Where the entity id comes from.
    pub entity: EntityFrom,
    /// Sensor-name template.
    pub sensor: String,
    /// Where the entity and sensor come from when the entity label is missing: cAdvisor
    /// exports every cgroup, and those outside any pod (`id="/kubepods.slice"`,
    /// `id="/system.slice/sshd.service"`) carry no `pod` label; with `{"entity": "instance",
    /// "sensor": "cgroup{id}"}` they become CPU-time series of their host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<RuleFallback>,
}

/// The entity and sensor of a [`MetricRule`] sample whose entity label is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFallback {
    /// Where the entity id comes from.
    pub entity: EntityFrom,
    /// Sensor-name template.
    pub sensor: String,
}

/// A set of [`MetricRule`]s, looked up by metric name.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<MetricRule>,
    /// Looked up with every sample's metric name, so hashed with foldhash rather than SipHash
    /// (SipHash was a tenth of a first scrape's decoding); its keys come from the rule
    /// table, never from scraped text.
    by_metric: HashMap<String, usize, foldhash::fast::RandomState>,
}

/// Rules for the exporters Kelvin knows out of the box (names as those exporters publish them:
/// prometheus-community ipmi_exporter, node_exporter hwmon/RAPL/thermal_zone, cAdvisor, Kepler).
const BUILTIN: &str = include_str!("builtin_rules.json");

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> RuleSet {
        // The built-in table is checked by a unit test, so this cannot fail at run time.
        RuleSet::from_json(BUILTIN).unwrap_or_default()
    }

    /// Largest rule table read, in bytes of JSON (4 MiB; the built-in table is 4 KB).
    pub const MAX_JSON_BYTES: usize = 4 << 20;

    /// Longest sensor name a template may expand to, in bytes (1 KiB): a template that
    /// repeats a long label is an [`crate::Reason::InvalidEntity`] record, not an
    /// allocation the size of the template times the label.
    pub const MAX_SENSOR_BYTES: usize = 1 << 10;

    /// Rules from a JSON array of [`MetricRule`]s; errors name the source `rules`. Prefer
    /// [`RuleSet::from_json_named`], which names the file.
    ///
    /// # Errors
    /// As [`RuleSet::from_json_named`].
    pub fn from_json(json: &str) -> Result<RuleSet, IngestError> {
        RuleSet::from_json_named("rules", json)
    }

    /// Rules from a JSON array of [`MetricRule`]s read from `source` (a file name), which every
    /// error names: a syntax or type error as `source:LINE` with `column C: …` in the reason
    /// (`prometheus_rules.json:1: column 1: invalid type: map, expected a sequence`), a bad
    /// rule as `source[i]` with the rule's metric in the reason.
    ///
    /// # Errors
    /// [`IngestErrorKind::InvalidRules`] for a table over [`RuleSet::MAX_JSON_BYTES`], malformed
    /// JSON, an unknown kind or unit, a unit of the wrong dimension for its kind, an unbalanced
    /// sensor template, or a metric listed twice.
    pub fn from_json_named(source: &str, json: &str) -> Result<RuleSet, IngestError> {
        if json.len() > Self::MAX_JSON_BYTES {
            return Err(IngestError::new(
                IngestErrorKind::InvalidRules,
                Place::line(source, 1),
                format!(
                    "a rule table of {} bytes, over the {} bytes a rule table may have",
                    json.len(),
                    Self::MAX_JSON_BYTES
                ),
            ));
        }
        let rules: Vec<MetricRule> = serde_json::from_str(json).map_err(|e| {
            // serde_json says "… at line L column C"; the place carries the line.
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m)
                .to_string();
            IngestError::new(
                IngestErrorKind::InvalidRules,
                Place::line(source, e.line().max(1) as u64),
                format!("column {}: {msg}", e.column().max(1)),
            )
        })?;
        let mut set = RuleSet::default();
        for (i, r) in rules.into_iter().enumerate() {
            let metric = r.metric.clone();
            let at = || Place::field(format!("{source}[{i}]"));
            if set.by_metric.contains_key(&metric) {
                return Err(IngestError::new(
                    IngestErrorKind::InvalidRules,
                    at(),
                    format!("metric {metric:?} is listed twice"),
                ));
            }
            set.add(r).map_err(|e| {
                IngestError::new(
                    IngestErrorKind::InvalidRules,
                    at(),
                    format!("metric {metric:?}: {}", e.reason()),
                )
            })?;
        }
        Ok(set)
    }

    /// Adds (or, for an existing metric, replaces) a rule: this is how embedders extend the
    /// built-in table.
    ///
    /// # Errors
    /// [`IngestErrorKind::InvalidRules`] when the unit cannot express the kind or the sensor
    /// template is unbalanced.
    pub fn add(&mut self, rule: MetricRule) -> Result<(), IngestError> {
        let invalid = |reason: String| {
            IngestError::new(
                IngestErrorKind::InvalidRules,
                Place::field(rule.metric.clone()),
                reason,
            )
        };
        rule.unit
            .convert(0.0, rule.kind)
            .map_err(|e| invalid(e.reason().to_string()))?;
        if rule.sensor.matches('{').count() != rule.sensor.matches('}').count() {
            return Err(invalid(format!(
                "unbalanced braces in sensor template {:?}",
                rule.sensor
            )));
        }
        match self.by_metric.get(&rule.metric) {
            Some(&i) => self.rules[i] = rule,
            None => {
                self.by_metric.insert(rule.metric.clone(), self.rules.len());
                self.rules.push(rule);
            }
        }
        Ok(())
    }

    /// The rule for a metric.
    pub fn get(&self, metric: &str) -> Option<&MetricRule> {
        self.by_metric.get(metric).map(|&i| &self.rules[i])
    }

    /// All rules, in insertion order.
    pub fn rules(&self) -> &[MetricRule] {
        &self.rules
    }
}

/// Strips the port from an `instance` label value.
pub(crate) fn instance_host(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match instance.rsplit_once(':') {
        // only strip when what follows is a port and the host part is not itself IPv6
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => instance,
    }
}

/// Why a sample could not be mapped through its rule.
#[derive(Debug)]
pub(crate) enum MapFailure {
    MissingLabel(String),
    InvalidEntity(String),
}

impl MetricRule {
    /// Entity id and sensor name for a sample's labels.
    pub(crate) fn resolve(
        &self,
        labels: &[(String, String)],
    ) -> Result<(EntityId, String), MapFailure> {
        match self.resolve_with(&self.entity, &self.sensor, labels) {
            Err(MapFailure::MissingLabel(l)) if matches!(&self.entity, EntityFrom::Label(e) if *e == l) => {
                match &self.otherwise {
                    Some(f) => self.resolve_with(&f.entity, &f.sensor, labels),
                    None => Err(MapFailure::MissingLabel(l)),
                }
            }
            other => other,
        }
    }

    fn resolve_with(
        &self,
        entity_from: &EntityFrom,
        template: &str,
        labels: &[(String, String)],
    ) -> Result<(EntityId, String), MapFailure> {
        let label = |name: &str| {
            labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| MapFailure::MissingLabel(name.to_string()))
        };
        let entity = match entity_from {
            EntityFrom::Instance => instance_host(label("instance")?),
            EntityFrom::Label(l) => label(l)?,
        };
        let entity =
            EntityId::new(entity).map_err(|e| MapFailure::InvalidEntity(e.reason().to_string()))?;
        let max = RuleSet::MAX_SENSOR_BYTES;
        let mut sensor = String::with_capacity((template.len() + 16).min(max));
        let mut rest = template;
        let push = |sensor: &mut String, s: &str| {
            if sensor.len() + s.len() > max {
                return Err(MapFailure::InvalidEntity(format!(
                    "the sensor template {:?} expands to more than {max} bytes",
                    crate::batch::cut(template, 64)
                )));
            }
            sensor.push_str(s);
            Ok(())
        };
        while let Some(open) = rest.find('{') {
            push(&mut sensor, &rest[..open])?;
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            push(&mut sensor, label(&after[..close])?)?;
            rest = after.get(close + 1..).unwrap_or("");
        }
        push(&mut sensor, rest)?;
        Ok((entity, sensor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_load() {
        let set = RuleSet::from_json(BUILTIN).unwrap();
        assert!(set.rules().len() >= 10);
        let r = set.get("container_cpu_usage_seconds_total").unwrap();
        assert_eq!(r.kind, SensorKind::CpuTime);
        assert_eq!(RuleSet::builtin().rules().len(), set.rules().len());
    }

    #[test]
    fn cgroups_outside_pods_become_host_series() {
        let set = RuleSet::builtin();
        let r = set.get("container_cpu_usage_seconds_total").unwrap();
        let l = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (e, s) = r
            .resolve(&l(&[("id", "/kubepods.slice"), ("instance", "h7:10250")]))
            .unwrap();
        assert_eq!((e.as_str(), s.as_str()), ("h7", "cgroup/kubepods.slice"));
        let (e, s) = r
            .resolve(&l(&[("pod", "p1"), ("container", "main"), ("id", "/x")]))
            .unwrap();
        assert_eq!((e.as_str(), s.as_str()), ("p1", "main"));
        // Neither a pod nor an instance: the fallback's own label is what is missing.
        assert!(matches!(
            r.resolve(&l(&[("id", "/")])),
            Err(MapFailure::MissingLabel(x)) if x == "instance"
        ));
    }

    #[test]
    fn instance_ports_are_stripped() {
        assert_eq!(instance_host("h1:9100"), "h1");
        assert_eq!(instance_host("h1"), "h1");
        assert_eq!(instance_host("10.0.0.5:9290"), "10.0.0.5");
        assert_eq!(instance_host("[fe80::1]:9100"), "fe80::1");
        assert_eq!(instance_host("fe80::1"), "fe80::1");
    }

    #[test]
    fn bad_rules_are_rejected() {
        let e = RuleSet::from_json(
            r#"[{"metric":"x","kind":"power","unit":"Cel","entity":"instance","sensor":"s"}]"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), IngestErrorKind::InvalidRules);
        assert!(e.reason().contains("cannot express power"), "{e}");
        assert!(RuleSet::from_json("[{").is_err());
        // errors name the file, the line and the column
        let e = RuleSet::from_json_named("prometheus_rules.json", "{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prometheus_rules.json:1: column 1: invalid type: map, expected a sequence"
        );
        let e = RuleSet::from_json_named(
            "r.json",
            "[\n {\"metric\":\"x\",\"kind\":\"power\",\"unit\":\"W\",\"entity\":\"instance\",\"sensor\":\"s\"},\n {\"metric\":\"x\",\"kind\":\"power\",\"unit\":\"W\",\"entity\":\"instance\",\"sensor\":\"s\"}\n]",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "r.json[1]: metric \"x\" is listed twice");
        let e = RuleSet::from_json_named(
            "r.json",
            r#"[{"metric":"x","kind":"power","unit":"Cel","entity":"instance","sensor":"s"}]"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("r.json[0]: metric \"x\": "),
            "{e}"
        );
        let e = RuleSet::from_json_named("r.json", &" ".repeat(RuleSet::MAX_JSON_BYTES + 1));
        assert!(
            e.unwrap_err()
                .to_string()
                .starts_with("r.json:1: a rule table of")
        );
        assert!(
            RuleSet::from_json(
                r#"[{"metric":"x","kind":"power","unit":"W","entity":"instance","sensor":"{a"}]"#
            )
            .is_err()
        );
    }

    #[test]
    fn templates_resolve_labels() {
        let rule = MetricRule {
            metric: "m".into(),
            kind: SensorKind::Temperature,
            unit: Unit::Celsius,
            entity: EntityFrom::Instance,
            sensor: "{chip}/{sensor}".into(),
            otherwise: None,
        };
        let labels = vec![
            ("instance".to_string(), "h7:9100".to_string()),
            ("chip".to_string(), "platform_coretemp_0".to_string()),
            ("sensor".to_string(), "temp1".to_string()),
        ];
        let Ok((e, s)) = rule.resolve(&labels) else {
            panic!("resolve failed")
        };
        assert_eq!(
            (e.as_str(), s.as_str()),
            ("h7", "platform_coretemp_0/temp1")
        );
        assert!(
            matches!(rule.resolve(&labels[..2]), Err(MapFailure::MissingLabel(l)) if l == "sensor")
        );
        // a template repeating a long label stops at the sensor-name limit
        let greedy = MetricRule {
            sensor: "{chip}".repeat(100),
            otherwise: None,
            ..rule
        };
        let long = vec![
            ("instance".to_string(), "h7".to_string()),
            ("chip".to_string(), "c".repeat(100)),
        ];
        assert!(matches!(
            greedy.resolve(&long),
            Err(MapFailure::InvalidEntity(_))
        ));
    }
}
