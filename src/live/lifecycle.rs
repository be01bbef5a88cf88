//! Workloads that come and go, as an embedder tells the engine (a scheduler's or the
//! Kubernetes API's lifecycle events) and as the telemetry shows them (labels).

use std::sync::Arc;

use kelvin_ingest::Sighting;
use kelvin_model::{EntityId, Timestamp, Workload};

use super::state::Live;
use super::workloads::{SpanOrigin, WorkloadSpan};
use crate::{Engine, Error};

impl Engine {
    /// Starts `workload` on its host at `at` (a pod that became Running, a job that began).
    /// Its telemetry is accepted from now on even when no label rule names it, and it is
    /// billed from `at`: its share of the idle floor by its request for the part of each
    /// interval it ran, its CPU from its own counters or, where it has none (it started and
    /// stopped between two scrapes), from its host's pod cgroup. A start inside an interval
    /// already closed restates the intervals since (within the restatement window).
    ///
    /// ```
    /// use kelvin::{Engine, LiveOptions};
    /// use kelvin::model::{EntityId, Host, Inventory, Rack, Resources, Room, Site, Timestamp, Workload};
    ///
    /// let id = |s: &str| EntityId::new(s);
    /// let inv = Inventory {
    ///     sites: vec![Site { id: id("s")?, name: "lab".into() }],
    ///     rooms: vec![Room { id: id("room")?, site: id("s")? }],
    ///     racks: vec![Rack { id: id("r1")?, room: id("room")?, row: None }],
    ///     hosts: vec![Host { id: id("h1")?, rack: id("r1")?, capacity: Resources::new(16.0, 64 << 30), pdu: None }],
    ///     ..Inventory::default()
    /// };
    /// let mut engine = Engine::builder().inventory(inv).live(LiveOptions::default()).build()?;
    /// let pod = Workload { id: id("pod-1")?, tenant: "t".into(), owner: "o".into(),
    ///                      requests: Resources::new(4.0, 1 << 30), host: Some(id("h1")?) };
    /// engine.start_workload(pod, Timestamp::from_secs(1_800_000_000))?;
    /// assert!(engine.stop_workload(&id("pod-1")?, Timestamp::from_secs(1_800_000_030))?);
    /// assert_eq!(engine.workload_spans().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoData`] for an engine that is not live; [`Error::Model`] for a workload
    /// without a host, on a host the inventory does not have, or whose request is not
    /// plausible.
    pub fn start_workload(&mut self, workload: Workload, at: Timestamp) -> Result<(), Error> {
        workload.requests.validate(&workload.id.to_string())?;
        let host = workload.host.clone().ok_or_else(|| {
            kelvin_model::ModelError::new(
                kelvin_model::ErrorKind::DanglingReference,
                kelvin_model::Place::field(format!("workload {}", workload.id)),
                "a started workload needs the host it runs on",
            )
        })?;
        if !self.inventory.hosts.iter().any(|h| h.id == host) {
            return Err(kelvin_model::ModelError::new(
                kelvin_model::ErrorKind::DanglingReference,
                kelvin_model::Place::field(format!("workload {}", workload.id)),
                format!("host {host} is not in the inventory"),
            )
            .into());
        }
        Arc::make_mut(&mut self.known).insert(workload.id.clone());
        let live = self.live_mut()?;
        live.registry.start(WorkloadSpan {
            workload: workload.id.clone(),
            host,
            tenant: workload.tenant.clone(),
            requested_cores: workload.requests.cpu_cores,
            gpus: workload.requests.gpus,
            start_ns: at.as_nanos(),
            stop_ns: None,
            last_seen_ns: None,
            origin: SpanOrigin::Call,
            labels: Vec::new(),
        });
        live.mark_since(at.as_nanos(), || {
            format!("workload {} started", workload.id)
        });
        Ok(())
    }

    /// Stops `workload` at `at`; `false` when it was not running.
    ///
    /// # Errors
    /// [`Error::NoData`] for an engine that is not live.
    pub fn stop_workload(&mut self, workload: &EntityId, at: Timestamp) -> Result<bool, Error> {
        let live = self.live_mut()?;
        let stopped = live.registry.stop(workload, at.as_nanos());
        if stopped {
            live.mark_since(at.as_nanos(), || format!("workload {workload} stopped"));
        }
        Ok(stopped)
    }

    /// Moves a running `workload` to host `to` at `at`: its span on the old host ends and one
    /// on `to` begins, so each host bills it for its own part of the interval.
    ///
    /// # Errors
    /// As [`Engine::start_workload`]; [`Error::NoData`] when the workload is not running.
    pub fn migrate_workload(
        &mut self,
        workload: &EntityId,
        to: &EntityId,
        at: Timestamp,
    ) -> Result<(), Error> {
        let span = self
            .live
            .as_ref()
            .and_then(|l| l.registry.open_span(workload))
            .cloned()
            .ok_or(Error::NoData {
                what: "a running workload to migrate (Engine::start_workload)",
            })?;
        let moved = Workload {
            id: span.workload.clone(),
            tenant: span.tenant.clone(),
            owner: String::new(),
            requests: kelvin_model::Resources {
                gpus: span.gpus,
                ..kelvin_model::Resources::new(span.requested_cores, 0)
            },
            host: Some(to.clone()),
        };
        self.start_workload(moved, at)
    }

    /// Every workload run the live engine remembers (those still inside the restatement and
    /// calibration windows), started by calls or seen in telemetry labels.
    pub fn workload_spans(&self) -> impl Iterator<Item = &WorkloadSpan> {
        self.live.iter().flat_map(|l| l.registry.spans.values())
    }

    fn live_mut(&mut self) -> Result<&mut Live, Error> {
        self.live.as_deref_mut().ok_or(Error::NoData {
            what: "a live engine (EngineBuilder::live or EngineBuilder::data_dir)",
        })
    }
}

impl Live {
    /// Workloads seen in telemetry labels: new runs open spans, known ones move their newest
    /// sample forward. Workloads of the inventory are billed as such and not tracked twice.
    pub(crate) fn sighted<'a>(
        &mut self,
        sightings: impl IntoIterator<Item = &'a Sighting>,
        static_ids: impl Fn(&EntityId) -> bool,
    ) {
        for s in sightings {
            self.registry.gpu_sighted(s);
            if !static_ids(&s.workload) {
                self.registry.sighted(s);
            }
        }
    }

    /// Marks the closed intervals from `t` on (inside the restatement window) for restating.
    pub(crate) fn mark_since(&mut self, t: i64, why: impl Fn() -> String) {
        let (Some(ct), Some(first)) = (self.ack.closed_through, self.ack.first_interval) else {
            return;
        };
        if t >= ct {
            return;
        }
        let step = self.interval_ns.max(1);
        let horizon = ct.saturating_sub(self.opts.restatement_ns).max(first);
        let mut s = t.max(horizon).div_euclid(step) * step;
        while s < ct {
            self.dirty.entry(s).or_insert_with(&why);
            s += step;
        }
    }
}
