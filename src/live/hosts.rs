//! Hosts that join and leave a live engine's inventory: a node added to a cluster, a server
//! retired. Each has a validity interval; a host is billed only in the intervals it overlaps.

use kelvin_model::{EntityId, Host, Timestamp};
use serde::{Deserialize, Serialize};

use super::state::Live;
use crate::{Engine, Error};

/// A host's validity: from `from_ns` (inclusive) until `until_ns` (exclusive; `None` while it
/// is in service). Hosts of the built inventory are valid from the beginning of time until
/// they are retired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSpan {
    /// The host.
    pub host: Host,
    /// Valid from, ns since the Unix epoch (`i64::MIN` for a host of the built inventory).
    pub from_ns: i64,
    /// Valid until, ns since the Unix epoch; `None` while in service.
    pub until_ns: Option<i64>,
}

impl HostSpan {
    /// Whether the span overlaps `[a, b)`.
    pub fn overlaps(&self, a: i64, b: i64) -> bool {
        self.from_ns < b && self.until_ns.is_none_or(|u| u > a)
    }
}

impl Engine {
    /// Adds `host` to the inventory from `at` on (a node that joined): its telemetry is
    /// accepted from now on and it is billed from the interval holding `at`. A host added
    /// inside an interval already closed restates the intervals since (within the
    /// restatement window). Journalled: a reopened engine knows it.
    ///
    /// ```
    /// use kelvin::{Engine, LiveOptions};
    /// use kelvin::model::{EntityId, Host, Inventory, Rack, Resources, Room, Site, Timestamp};
    ///
    /// let id = |s: &str| EntityId::new(s);
    /// let host = |name: &str| -> Result<Host, kelvin::model::ModelError> {
    ///     Ok(Host { id: id(name)?, rack: id("r1")?, capacity: Resources::new(16.0, 64 << 30), pdu: None })
    /// };
    /// let inv = Inventory {
    ///     sites: vec![Site { id: id("s")?, name: "lab".into() }],
    ///     rooms: vec![Room { id: id("room")?, site: id("s")? }],
    ///     racks: vec![Rack { id: id("r1")?, room: id("room")?, row: None }],
    ///     hosts: vec![host("h1")?],
    ///     ..Inventory::default()
    /// };
    /// let mut engine = Engine::builder().inventory(inv).live(LiveOptions::default()).build()?;
    /// engine.add_host(host("h2")?, Timestamp::from_secs(1_800_000_000))?;
    /// assert!(engine.retire_host(&id("h1")?, Timestamp::from_secs(1_800_000_600))?);
    /// assert_eq!(engine.inventory().hosts.len(), 2);
    /// assert_eq!(engine.host_spans().count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoData`] for an engine that is not live; [`Error::Model`] for a host already
    /// in the inventory, in a rack the inventory does not have, or with an implausible
    /// capacity.
    pub fn add_host(&mut self, host: Host, at: Timestamp) -> Result<(), Error> {
        let place = || kelvin_model::Place::field(format!("host {}", host.id));
        let refuse = |kind, why: String| kelvin_model::ModelError::new(kind, place(), why);
        if self.live.is_none() {
            return Err(Error::NoData {
                what: "a live engine (EngineBuilder::live or EngineBuilder::data_dir)",
            });
        }
        host.capacity.validate(&host.id.to_string())?;
        if self.inventory.hosts.iter().any(|h| h.id == host.id) {
            let retired = self
                .live
                .as_ref()
                .and_then(|l| l.hosts.get(&host.id))
                .and_then(|s| s.until_ns);
            let why = match retired {
                // One validity interval a host: a machine that comes back is a new host.
                Some(t) => format!(
                    "was retired at {}; a host has one validity interval, so one that rejoins \
                     needs a new id",
                    Timestamp::from_nanos(t).to_rfc3339()
                ),
                None => "is already in the inventory".into(),
            };
            return Err(refuse(kelvin_model::ErrorKind::DuplicateId, why).into());
        }
        if !self.inventory.racks.iter().any(|r| r.id == host.rack) {
            return Err(refuse(
                kelvin_model::ErrorKind::DanglingReference,
                format!("rack {} is not in the inventory", host.rack),
            )
            .into());
        }
        self.admit_host(&host);
        let live = self.live.as_deref_mut().expect("checked above");
        live.put_host(HostSpan {
            host: host.clone(),
            from_ns: at.as_nanos(),
            until_ns: None,
        });
        live.mark_since(at.as_nanos(), || format!("host {} added", host.id));
        Ok(())
    }

    /// Retires host `id` at `at` (a server decommissioned, a node removed): it is billed only
    /// for the intervals before `at`; its later readings are stored but billed to no one.
    /// `false` when the host is not in the inventory or was already retired.
    ///
    /// # Errors
    /// [`Error::NoData`] for an engine that is not live.
    pub fn retire_host(&mut self, id: &EntityId, at: Timestamp) -> Result<bool, Error> {
        let Some(host) = self.inventory.hosts.iter().find(|h| &h.id == id).cloned() else {
            return Ok(false);
        };
        let live = self.live.as_deref_mut().ok_or(Error::NoData {
            what: "a live engine (EngineBuilder::live or EngineBuilder::data_dir)",
        })?;
        let mut span = live.hosts.get(id).cloned().unwrap_or(HostSpan {
            host,
            from_ns: i64::MIN,
            until_ns: None,
        });
        if span.until_ns.is_some() {
            return Ok(false);
        }
        span.until_ns = Some(at.as_nanos().max(span.from_ns));
        live.put_host(span);
        live.mark_since(at.as_nanos(), || format!("host {id} retired"));
        Ok(true)
    }

    /// The hosts added or retired by calls, with their validity.
    pub fn host_spans(&self) -> impl Iterator<Item = &HostSpan> {
        self.live.iter().flat_map(|l| l.hosts.values())
    }

    /// Puts a host added by a call (now or before a restart) into the inventory and the
    /// decoders' known entities.
    pub(crate) fn admit_host(&mut self, host: &Host) {
        if !self.inventory.hosts.iter().any(|h| h.id == host.id) {
            self.inventory.hosts.push(host.clone());
        }
        std::sync::Arc::make_mut(&mut self.known).insert(host.id.clone());
    }
}

impl Live {
    /// Records a host's span, to be journalled with the next commit.
    pub(crate) fn put_host(&mut self, span: HostSpan) {
        self.hosts_changed.push(span.host.id.clone());
        self.hosts.insert(span.host.id.clone(), span);
    }

    /// The validity of host `id` when a call set one.
    pub(crate) fn host_span(&self, id: &EntityId) -> Option<&HostSpan> {
        self.hosts.get(id)
    }
}
