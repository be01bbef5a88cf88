use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::{ErrorKind, ModelError, Place};

/// The id of an entity (site, rack, host, workload …): a non-empty string without whitespace or
/// control characters, at most 256 bytes. Ids are unique across the whole [`Inventory`].
///
/// Shared, not copied: cloning an id (once per reading) is a reference-count increment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(Arc<str>);

impl EntityId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Validates and wraps an id.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for an empty or over-long id, or one containing whitespace or
    /// control characters.
    pub fn new(id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        let bad = if id.is_empty() {
            Some("empty entity id")
        } else if id.len() > Self::MAX_LEN {
            Some("entity id longer than 256 bytes")
        } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("entity id contains whitespace or control characters")
        } else {
            None
        };
        match bad {
            Some(reason) => Err(ModelError::new(
                ErrorKind::InvalidInput,
                Place::Unknown,
                format!("{reason}: {id:?}"),
            )),
            None => Ok(EntityId(Arc::from(id))),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EntityId {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        EntityId::new(s)
    }
}

impl From<EntityId> for String {
    fn from(id: EntityId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which level of the hierarchy an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntityKind {
    /// A site (a building, an edge location).
    Site,
    /// A room (or hall, or row group) inside a site.
    Room,
    /// A rack.
    Rack,
    /// A server.
    Host,
    /// A part of a host: CPU package, DIMM bank, GPU, PSU, fan.
    Component,
    /// A power distribution unit.
    Pdu,
    /// An electrical circuit (branch circuit feeding PDUs).
    Circuit,
    /// A workload: a pod, container, VM or job.
    Workload,
}

/// Resource amounts: a host's capacity or a workload's request.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores (fractional, like Kubernetes millicores / 1000).
    #[serde(default)]
    pub cpu_cores: f64,
    /// Memory in bytes.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Whole GPUs.
    #[serde(default)]
    pub gpus: u32,
}

impl Resources {
    /// CPU cores and memory; no GPUs.
    pub const fn new(cpu_cores: f64, memory_bytes: u64) -> Self {
        Resources {
            cpu_cores,
            memory_bytes,
            gpus: 0,
        }
    }

    /// Most logical CPUs one host may have: 8,192, the largest `NR_CPUS` a Linux x86-64 kernel
    /// can be built with (`MAXSMP`). More is a typo or a unit error (millicores given as cores).
    pub const MAX_CPU_CORES: f64 = 8192.0;

    /// Most memory one host may have: 2^52 bytes (4 PiB), the widest physical address space of
    /// x86-64 (`MAXPHYADDR` = 52).
    pub const MAX_MEMORY_BYTES: u64 = 1 << 52;

    /// Most GPUs one host may have: 64, four times the densest accelerator chassis (16 GPUs).
    pub const MAX_GPUS: u32 = 64;

    /// Checks a value that can only be a request: finite, not negative, within the limits.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming `place` and the field.
    pub fn validate(&self, place: &str) -> Result<(), ModelError> {
        let bad = |field: &str, reason: String| {
            Err(ModelError::new(
                ErrorKind::InvalidInput,
                Place::field(format!("{place}.{field}")),
                reason,
            ))
        };
        if !(self.cpu_cores.is_finite() && self.cpu_cores >= 0.0) {
            return bad(
                "cpu_cores",
                format!(
                    "cpu_cores must be a finite non-negative number, got {}",
                    self.cpu_cores
                ),
            );
        }
        if self.cpu_cores > Self::MAX_CPU_CORES {
            return bad(
                "cpu_cores",
                format!(
                    "{} cores is more than any host has (at most {}); millicores given as cores?",
                    compact(self.cpu_cores),
                    Self::MAX_CPU_CORES
                ),
            );
        }
        if self.memory_bytes > Self::MAX_MEMORY_BYTES {
            return bad(
                "memory_bytes",
                format!(
                    "{} bytes is more than any host has (at most 2^52, 4 PiB)",
                    self.memory_bytes
                ),
            );
        }
        if self.gpus > Self::MAX_GPUS {
            return bad(
                "gpus",
                format!(
                    "{} GPUs is more than any host has (at most {})",
                    self.gpus,
                    Self::MAX_GPUS
                ),
            );
        }
        Ok(())
    }

    /// Checks a host's capacity: a plausible request, with at least some CPU.
    fn validate_capacity(&self, place: &str) -> Result<(), ModelError> {
        self.validate(place)?;
        if self.cpu_cores <= 0.0 {
            return Err(ModelError::new(
                ErrorKind::InvalidInput,
                Place::field(format!("{place}.cpu_cores")),
                "a host needs at least some CPU to run anything; got 0 cores",
            ));
        }
        Ok(())
    }

    /// The first dimension in which `self` exceeds `capacity`, as (field, requested, available).
    fn first_excess(&self, capacity: &Resources) -> Option<(&'static str, f64, f64)> {
        if self.cpu_cores > capacity.cpu_cores {
            return Some(("cpu_cores", self.cpu_cores, capacity.cpu_cores));
        }
        if self.memory_bytes > capacity.memory_bytes {
            return Some((
                "memory_bytes",
                self.memory_bytes as f64,
                capacity.memory_bytes as f64,
            ));
        }
        if self.gpus > capacity.gpus {
            return Some(("gpus", f64::from(self.gpus), f64::from(capacity.gpus)));
        }
        None
    }
}

/// A number for a message: plain when it reads well, in exponent form when it is huge.
fn compact(x: f64) -> String {
    if x.abs() >= 1e9 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Unique id.
    pub id: EntityId,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
}

/// A room (hall) of a site; rows are an attribute of racks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    /// Unique id.
    pub id: EntityId,
    /// The site it is in.
    pub site: EntityId,
}

/// An electrical branch circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circuit {
    /// Unique id.
    pub id: EntityId,
    /// The room it serves.
    pub room: EntityId,
    /// Rated (breaker) power in watts, if known.
    #[serde(default)]
    pub rated_power_w: Option<f64>,
}

/// A rack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rack {
    /// Unique id.
    pub id: EntityId,
    /// The room it stands in.
    pub room: EntityId,
    /// Row label inside the room, if the site uses rows.
    #[serde(default)]
    pub row: Option<String>,
}

/// A power distribution unit in a rack, fed by a circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pdu {
    /// Unique id.
    pub id: EntityId,
    /// The rack it is mounted in.
    pub rack: EntityId,
    /// The circuit feeding it, if known.
    #[serde(default)]
    pub circuit: Option<EntityId>,
}

/// A server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique id; also the `instance` a scraper sees, without port.
    pub id: EntityId,
    /// The rack it is mounted in.
    pub rack: EntityId,
    /// Allocatable capacity.
    pub capacity: Resources,
    /// The PDU feeding it, if known.
    #[serde(default)]
    pub pdu: Option<EntityId>,
}

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentKind {
    /// A CPU package.
    Cpu,
    /// Memory (a DIMM bank or RAPL DRAM domain).
    Memory,
    /// A GPU or accelerator.
    Gpu,
    /// A power supply.
    Psu,
    /// A fan.
    Fan,
    /// Anything else (NIC, disk, board).
    Other,
}

/// A part of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Unique id.
    pub id: EntityId,
    /// The host it belongs to.
    pub host: EntityId,
    /// What it is.
    pub kind: ComponentKind,
}

/// A workload: what a scheduler places and what attribution bills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Unique id (pod UID, container id, VM or job name).
    pub id: EntityId,
    /// The tenant (namespace, project, customer) it is billed to.
    #[serde(default)]
    pub tenant: String,
    /// The person or team that owns it.
    #[serde(default)]
    pub owner: String,
    /// Reserved resources.
    pub requests: Resources,
    /// The host it runs on, or `None` when it is waiting to be placed.
    #[serde(default)]
    pub host: Option<EntityId>,
}

/// Everything Kelvin knows about the physical and logical estate.
///
/// Built with serde (JSON in datasets) or in code, then checked with [`Inventory::validate`]:
/// ids unique across all entities, every reference resolvable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Sites.
    #[serde(default)]
    pub sites: Vec<Site>,
    /// Rooms.
    #[serde(default)]
    pub rooms: Vec<Room>,
    /// Circuits.
    #[serde(default)]
    pub circuits: Vec<Circuit>,
    /// Racks.
    #[serde(default)]
    pub racks: Vec<Rack>,
    /// PDUs.
    #[serde(default)]
    pub pdus: Vec<Pdu>,
    /// Hosts.
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// Components.
    #[serde(default)]
    pub components: Vec<Component>,
    /// Workloads, placed or pending.
    #[serde(default)]
    pub workloads: Vec<Workload>,
}

impl Inventory {
    /// Checks uniqueness of ids, references between entities and resource values.
    ///
    /// # Errors
    /// [`ErrorKind::DuplicateId`], [`ErrorKind::DanglingReference`] or
    /// [`ErrorKind::InvalidInput`], with the field path (`hosts[3].rack`) as the place.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut kinds: HashMap<&EntityId, EntityKind> = HashMap::new();
        let groups: [(&str, EntityKind, Vec<&EntityId>); 8] = [
            (
                "sites",
                EntityKind::Site,
                self.sites.iter().map(|x| &x.id).collect(),
            ),
            (
                "rooms",
                EntityKind::Room,
                self.rooms.iter().map(|x| &x.id).collect(),
            ),
            (
                "circuits",
                EntityKind::Circuit,
                self.circuits.iter().map(|x| &x.id).collect(),
            ),
            (
                "racks",
                EntityKind::Rack,
                self.racks.iter().map(|x| &x.id).collect(),
            ),
            (
                "pdus",
                EntityKind::Pdu,
                self.pdus.iter().map(|x| &x.id).collect(),
            ),
            (
                "hosts",
                EntityKind::Host,
                self.hosts.iter().map(|x| &x.id).collect(),
            ),
            (
                "components",
                EntityKind::Component,
                self.components.iter().map(|x| &x.id).collect(),
            ),
            (
                "workloads",
                EntityKind::Workload,
                self.workloads.iter().map(|x| &x.id).collect(),
            ),
        ];
        for (name, kind, ids) in &groups {
            for (i, id) in ids.iter().enumerate() {
                if kinds.insert(id, *kind).is_some() {
                    return Err(ModelError::new(
                        ErrorKind::DuplicateId,
                        Place::field(format!("{name}[{i}].id")),
                        format!("id {id} is used by more than one entity"),
                    ));
                }
            }
        }
        let check = |place: String, target: &EntityId, want: EntityKind| match kinds.get(target) {
            Some(k) if *k == want => Ok(()),
            Some(k) => Err(ModelError::new(
                ErrorKind::DanglingReference,
                Place::field(place),
                format!("{target} is a {k:?}, expected a {want:?}"),
            )),
            None => Err(ModelError::new(
                ErrorKind::DanglingReference,
                Place::field(place),
                format!("no {want:?} with id {target}"),
            )),
        };
        for (i, r) in self.rooms.iter().enumerate() {
            check(format!("rooms[{i}].site"), &r.site, EntityKind::Site)?;
        }
        for (i, c) in self.circuits.iter().enumerate() {
            check(format!("circuits[{i}].room"), &c.room, EntityKind::Room)?;
            if let Some(w) = c.rated_power_w
                && !(w.is_finite() && w > 0.0)
            {
                return Err(ModelError::new(
                    ErrorKind::InvalidInput,
                    Place::field(format!("circuits[{i}].rated_power_w")),
                    format!("rated power must be positive, got {w}"),
                ));
            }
        }
        for (i, r) in self.racks.iter().enumerate() {
            check(format!("racks[{i}].room"), &r.room, EntityKind::Room)?;
        }
        for (i, p) in self.pdus.iter().enumerate() {
            check(format!("pdus[{i}].rack"), &p.rack, EntityKind::Rack)?;
            if let Some(c) = &p.circuit {
                check(format!("pdus[{i}].circuit"), c, EntityKind::Circuit)?;
            }
        }
        for (i, h) in self.hosts.iter().enumerate() {
            check(format!("hosts[{i}].rack"), &h.rack, EntityKind::Rack)?;
            if let Some(p) = &h.pdu {
                check(format!("hosts[{i}].pdu"), p, EntityKind::Pdu)?;
            }
            h.capacity
                .validate_capacity(&format!("hosts[{i}].capacity"))?;
        }
        for (i, c) in self.components.iter().enumerate() {
            check(format!("components[{i}].host"), &c.host, EntityKind::Host)?;
        }
        let capacity: HashMap<&EntityId, &Resources> =
            self.hosts.iter().map(|h| (&h.id, &h.capacity)).collect();
        for (i, w) in self.workloads.iter().enumerate() {
            w.requests.validate(&format!("workloads[{i}].requests"))?;
            let Some(h) = &w.host else { continue };
            if self.hosts.is_empty() {
                return Err(ModelError::new(
                    ErrorKind::DanglingReference,
                    Place::field(format!("workloads[{i}].host")),
                    format!(
                        "{} runs on host {h}, but the inventory lists no hosts",
                        w.id
                    ),
                ));
            }
            check(format!("workloads[{i}].host"), h, EntityKind::Host)?;
            if let Some((field, want, have)) =
                capacity.get(h).and_then(|c| w.requests.first_excess(c))
            {
                return Err(ModelError::new(
                    ErrorKind::InvalidInput,
                    Place::field(format!("workloads[{i}].requests.{field}")),
                    format!(
                        "{} requests {} {field} on host {h}, which has {}: no scheduler \
                         placed it there",
                        w.id,
                        compact(want),
                        compact(have)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The host with this id.
    pub fn host(&self, id: &EntityId) -> Option<&Host> {
        self.hosts.iter().find(|h| &h.id == id)
    }

    /// The workload with this id.
    pub fn workload(&self, id: &EntityId) -> Option<&Workload> {
        self.workloads.iter().find(|w| &w.id == id)
    }

    /// Workloads currently placed on `host`.
    pub fn workloads_on<'a>(&'a self, host: &'a EntityId) -> impl Iterator<Item = &'a Workload> {
        self.workloads
            .iter()
            .filter(move |w| w.host.as_ref() == Some(host))
    }

    /// Ids of every entity, for membership tests.
    pub fn ids(&self) -> HashSet<&EntityId> {
        let mut s = HashSet::new();
        s.extend(self.sites.iter().map(|x| &x.id));
        s.extend(self.rooms.iter().map(|x| &x.id));
        s.extend(self.circuits.iter().map(|x| &x.id));
        s.extend(self.racks.iter().map(|x| &x.id));
        s.extend(self.pdus.iter().map(|x| &x.id));
        s.extend(self.hosts.iter().map(|x| &x.id));
        s.extend(self.components.iter().map(|x| &x.id));
        s.extend(self.workloads.iter().map(|x| &x.id));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    fn small() -> Inventory {
        Inventory {
            sites: vec![Site {
                id: id("edge"),
                name: "Edge".into(),
            }],
            rooms: vec![Room {
                id: id("room-1"),
                site: id("edge"),
            }],
            circuits: vec![Circuit {
                id: id("c1"),
                room: id("room-1"),
                rated_power_w: Some(5000.0),
            }],
            racks: vec![Rack {
                id: id("r1"),
                room: id("room-1"),
                row: Some("A".into()),
            }],
            pdus: vec![Pdu {
                id: id("pdu-1"),
                rack: id("r1"),
                circuit: Some(id("c1")),
            }],
            hosts: vec![Host {
                id: id("h1"),
                rack: id("r1"),
                capacity: Resources::new(32.0, 128 << 30),
                pdu: Some(id("pdu-1")),
            }],
            components: vec![Component {
                id: id("h1-cpu0"),
                host: id("h1"),
                kind: ComponentKind::Cpu,
            }],
            workloads: vec![Workload {
                id: id("w1"),
                tenant: "acme".into(),
                owner: "team-a".into(),
                requests: Resources::new(2.0, 4 << 30),
                host: Some(id("h1")),
            }],
        }
    }

    #[test]
    fn valid_inventory_round_trips_through_json() {
        let inv = small();
        inv.validate().unwrap();
        let json = serde_json::to_string(&inv).unwrap();
        let back: Inventory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inv);
        assert_eq!(inv.workloads_on(&id("h1")).count(), 1);
    }

    #[test]
    fn ids_are_validated() {
        assert!(EntityId::new("").is_err());
        assert!(EntityId::new("a b").is_err());
        assert!(EntityId::new("x".repeat(257)).is_err());
        assert!(serde_json::from_str::<EntityId>("\"tab\\there\"").is_err());
        assert_eq!(EntityId::new("host-01").unwrap().as_str(), "host-01");
    }

    /// The error of `small()` after `edit`, as `(place, reason)`.
    fn refused(edit: impl FnOnce(&mut Inventory)) -> (String, String) {
        let mut inv = small();
        edit(&mut inv);
        let e = inv.validate().unwrap_err();
        (e.place().to_string(), e.reason().to_string())
    }

    #[test]
    fn implausible_capacities_and_requests_are_refused() {
        let (place, why) = refused(|i| i.hosts[0].capacity.cpu_cores = 0.0);
        assert_eq!(place, "hosts[0].capacity.cpu_cores");
        assert!(why.contains("0 cores"), "{why}");
        let (place, why) = refused(|i| i.hosts[0].capacity.cpu_cores = 1e308);
        assert_eq!(place, "hosts[0].capacity.cpu_cores");
        assert!(why.contains("millicores"), "{why}");
        let (place, _) = refused(|i| i.hosts[0].capacity.memory_bytes = u64::MAX);
        assert_eq!(place, "hosts[0].capacity.memory_bytes");
        let (place, _) = refused(|i| i.hosts[0].capacity.gpus = 1000);
        assert_eq!(place, "hosts[0].capacity.gpus");
        let (place, why) = refused(|i| i.workloads[0].requests.cpu_cores = 1000.0);
        assert_eq!(place, "workloads[0].requests.cpu_cores");
        assert!(
            why.contains("w1 requests 1000 cpu_cores on host h1, which has 32"),
            "{why}"
        );
        let (place, _) = refused(|i| i.workloads[0].requests.cpu_cores = f64::NAN);
        assert_eq!(place, "workloads[0].requests.cpu_cores");
        let (place, _) = refused(|i| i.workloads[0].requests.gpus = 1);
        assert_eq!(place, "workloads[0].requests.gpus");
        // A pending workload larger than every host is the placer's to report, not an error.
        let mut inv = small();
        inv.workloads[0].host = None;
        inv.workloads[0].requests.cpu_cores = 64.0;
        inv.validate().unwrap();
    }

    #[test]
    fn a_workload_on_a_host_of_an_empty_inventory_says_so() {
        let (place, why) = refused(|i| {
            i.hosts.clear();
            i.components.clear();
        });
        assert_eq!(place, "workloads[0].host");
        assert!(why.contains("lists no hosts"), "{why}");
    }

    #[test]
    fn duplicate_ids_are_reported_with_place() {
        let mut inv = small();
        inv.workloads[0].id = id("h1");
        let e = inv.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DuplicateId);
        assert_eq!(e.place(), &Place::field("workloads[0].id"));
    }

    #[test]
    fn dangling_and_mistyped_references_are_reported() {
        let mut inv = small();
        inv.hosts[0].rack = id("r9");
        let e = inv.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DanglingReference);
        assert_eq!(e.to_string(), "hosts[0].rack: no Rack with id r9");

        let mut inv = small();
        inv.workloads[0].host = Some(id("r1"));
        let e = inv.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DanglingReference);
        assert!(e.reason().contains("is a Rack"));
    }

    #[test]
    fn negative_or_nan_requests_are_rejected() {
        let mut inv = small();
        inv.workloads[0].requests.cpu_cores = -1.0;
        assert_eq!(inv.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
        inv.workloads[0].requests.cpu_cores = f64::NAN;
        assert_eq!(
            inv.validate().unwrap_err().place(),
            &Place::field("workloads[0].requests.cpu_cores")
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = serde_json::from_str::<Site>(r#"{"id":"s","nmae":"typo"}"#);
        assert!(e.is_err());
    }
}
