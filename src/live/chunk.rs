//! The live engine's view of a run of intervals: per host its measured energy (the interval
//! its wall meter's readings begin in billed at the power they measured in it) and the
//! workloads valid in each interval (the inventory's, and the spans that came and went), with
//! their CPU seconds — including the CPU a pod used before its first scrape, and the parent
//! cgroup's CPU that no scraped pod explains, given to the pods known only from their
//! lifecycle (started and stopped between two scrapes) or else to the `system` account — and
//! their reservations (counting GPUs on a GPU server whose wall meter carries the GPUs); then
//! the host's GPUs as meters of their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kelvin_attribution::{AlignedInput, HostSeries, WorkloadSeries};
use kelvin_model::{EntityId, Host, SensorKind, TimeRange, Timestamp};
use kelvin_store::{Grid, SeriesKey, SeriesRead};

use super::state::Live;
use super::workloads::{SpanOrigin, WorkloadSpan};
use crate::{Engine, Error};

/// The parent cgroup of every pod, as cAdvisor names it (`id="/kubepods.slice"`, mapped to
/// the host's sensor `cgroup/kubepods.slice` by the built-in rules).
pub(crate) const PODS_CGROUP: &str = "cgroup/kubepods.slice";

/// The root cgroup (`id="/"`): everything on the host, pods and its own processes.
pub(crate) const ROOT_CGROUP: &str = "cgroup/";

/// A run of intervals, aligned: the input and, per host, workload and interval, the share of
/// the interval the workload was valid in (0: not there).
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) input: AlignedInput,
    pub(crate) share: Vec<Vec<Vec<f64>>>,
    /// Every meter's provenance: a host's wall-meter sensor (`none` without one), `dcgm`
    /// for a GPU.
    pub(crate) provenance: HashMap<EntityId, Arc<str>>,
    /// Per meter of `input`, for a GPU the index of its host's wall meter.
    pub(crate) parent: Vec<Option<usize>>,
    /// Per meter of `input`, for a GPU its SM-active seconds per interval.
    pub(crate) activity: Vec<Option<Vec<f64>>>,
    /// Per meter of `input`, for a host with RAPL counters their package and DRAM energy
    /// per interval, joules.
    pub(crate) rapl: Vec<Option<Vec<f64>>>,
    /// Intervals (meter, index in the chunk) whose energy came from another source than the
    /// meter's own, with that provenance.
    pub(crate) provenance_at: HashMap<(EntityId, usize), Arc<str>>,
}

/// One workload's rows while a host is being built.
struct Rows {
    id: EntityId,
    cores: f64,
    /// GPUs it requested.
    gpus: u32,
    share: Vec<f64>,
    /// A span of the registry (not the inventory): it gets unexplained pod CPU.
    dynamic: bool,
    /// A lifecycle call says it started after the engine began watching: its counters start
    /// at zero then.
    seen_start: bool,
}

/// The grid of a chunk being built: `n` intervals of `step` ns from `a` to `b`.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    a: i64,
    b: i64,
    step: i64,
    n: usize,
}

impl Chunk {
    /// Fills the intervals a host's wall meter did not measure from its RAPL energy, mapped
    /// by `epoch`'s calibration of that host ([`crate::LiveOptions::rapl_fallback`]), and
    /// records their provenance. Called after the chunk's rows went into the floor history
    /// (which keeps what the wall meter itself measured).
    pub(crate) fn fill_from_rapl(&mut self, epoch: &super::state::FloorEpoch) {
        if epoch.rapl.is_empty() {
            return;
        }
        let secs = self.input.interval_ns as f64 / 1e9;
        for (h, rapl) in self.input.hosts.iter_mut().zip(&self.rapl) {
            let (Some(rapl), Some(cal)) = (rapl, epoch.rapl.get(h.host.as_str())) else {
                continue;
            };
            // The provenance is made once, and only for a host with an interval to fill.
            let mut why: Option<Arc<str>> = None;
            for (i, (e, r)) in h.energy_j.iter_mut().zip(rapl).enumerate() {
                if e.is_nan() && r.is_finite() && *r >= 0.0 {
                    *e = cal.apply(*r, secs).max(0.0);
                    let why = why.get_or_insert_with(|| {
                        let wall = self.provenance.get(&h.host).map_or("none", |p| &**p);
                        Arc::from(format!("rapl calibrated on {wall}"))
                    });
                    self.provenance_at.insert((h.host.clone(), i), why.clone());
                }
            }
        }
    }
}

/// Workloads that ran on several hosts in a chunk (migrated), with their spans.
type Migrated<'r> = HashMap<&'r EntityId, Vec<&'r WorkloadSpan>>;

impl Engine {
    /// Aligns `[a, b)` for the live engine (see the module docs).
    pub(crate) fn live_chunk(&self, live: &Live, a: i64, b: i64) -> Result<Chunk, Error> {
        let range = TimeRange::try_new(Timestamp::from_nanos(a), Timestamp::from_nanos(b))?;
        let grid = Grid::covering(range, self.interval_ns)?;
        let bounds = Bounds {
            a,
            b,
            step: self.interval_ns,
            n: grid.intervals(),
        };
        let mut chunk = Chunk {
            input: AlignedInput {
                start: grid.start(),
                interval_ns: self.interval_ns,
                hosts: Vec::with_capacity(self.inventory.hosts.len()),
            },
            share: Vec::with_capacity(self.inventory.hosts.len()),
            provenance: HashMap::new(),
            parent: Vec::new(),
            activity: Vec::new(),
            rapl: Vec::new(),
            provenance_at: HashMap::new(),
        };
        // Workloads that ran on several hosts in the chunk (migrated): their CPU series is
        // one, so each host gets the part of each interval the workload spent there.
        let mut migrated: Migrated<'_> = HashMap::new();
        for sp in live
            .registry
            .spans
            .values()
            .filter(|sp| sp.start_ns < b && sp.end_ns() >= a)
        {
            migrated.entry(&sp.workload).or_default().push(sp);
        }
        migrated.retain(|_, v| v.iter().any(|sp| sp.host != v[0].host));
        for h in &self.inventory.hosts {
            let span = live.host_span(&h.id);
            if span.is_some_and(|s| !s.overlaps(a, b)) {
                continue;
            }
            let first = chunk.input.hosts.len();
            self.chunk_host(live, h, (&grid, bounds), &migrated, &mut chunk)?;
            // Intervals wholly outside a host's validity are not its to bill.
            if let Some(s) = span {
                let start = grid.start().as_nanos();
                let outside = |i: usize| {
                    let at = start + i as i64 * self.interval_ns;
                    !s.overlaps(at, at + self.interval_ns)
                };
                for (m, rapl) in chunk.input.hosts[first..]
                    .iter_mut()
                    .zip(&mut chunk.rapl[first..])
                {
                    let rapl = rapl.iter_mut().flatten();
                    for (i, e) in m.energy_j.iter_mut().enumerate() {
                        if outside(i) {
                            *e = f64::NAN;
                        }
                    }
                    for (i, r) in rapl.enumerate() {
                        if outside(i) {
                            *r = f64::NAN;
                        }
                    }
                }
            }
        }
        Ok(chunk)
    }

    /// Adds host `h` to `chunk`: its wall meter (the rest of it, when its GPUs are meters of
    /// their own) with its workloads, then its GPUs.
    fn chunk_host(
        &self,
        live: &Live,
        h: &Host,
        (grid, bounds): (&Grid, Bounds),
        migrated: &Migrated<'_>,
        chunk: &mut Chunk,
    ) -> Result<(), Error> {
        let meter = self.power_key(&h.id);
        chunk.provenance.insert(
            h.id.clone(),
            Arc::from(meter.as_ref().map_or("none", |k| k.sensor.as_str())),
        );
        let mut energy_j = match meter {
            Some(k) => {
                let mut e = self.store.integrate(&k, grid, &self.resample)?;
                if live.opts.partial_first_interval && e.iter().any(|x| x.is_nan()) {
                    self.first_interval_measured(&k, grid, &mut e)?;
                }
                e
            }
            None => vec![f64::NAN; bounds.n],
        };
        let rows = self.host_rows(live, &h.id, bounds);
        let mut workloads = Vec::with_capacity(rows.len());
        let mut shares = Vec::with_capacity(rows.len());
        let mut gpus_of = Vec::with_capacity(rows.len());
        for r in rows.into_values() {
            let mut cpu = self.cpu_seconds(&r.id, grid)?;
            if r.dynamic {
                self.add_first_sample(
                    &r.id,
                    live.ack.first_interval,
                    r.seen_start,
                    (bounds.a, bounds.b, bounds.step),
                    &mut cpu,
                );
            }
            if let Some(spans) = migrated.get(&r.id) {
                share_between_hosts(&mut cpu, spans, &h.id, bounds);
            }
            workloads.push((r.dynamic, WorkloadSeries::new(r.id, r.cores, cpu)));
            shares.push(r.share);
            gpus_of.push(r.gpus);
        }
        let system = self.residual_pod_cpu(&h.id, grid, &mut workloads, &shares)?;
        // A run known to be there, with no CPU of its own even after the residual, is
        // present with no use (NaN would make it absent and bill it nothing, not even its
        // reserved share of the floor).
        for ((_, w), sh) in workloads.iter_mut().zip(&shares) {
            for (c, s) in w.cpu_s.iter_mut().zip(sh) {
                if c.is_nan() && *s > 0.0 {
                    *c = 0.0;
                }
            }
        }
        let on_host = self.running.get(&h.id);
        let always = |w: &EntityId| {
            on_host
                .into_iter()
                .flatten()
                .any(|&i| &self.inventory.workloads[i].id == w)
        };
        let (gpus, gpu_j) = if live.opts.gpu_meters {
            self.gpu_meters(&live.registry, &h.id, grid, &always)?
        } else {
            (Vec::new(), Vec::new())
        };
        if gpus.is_empty() && h.capacity.gpus > 0 {
            // The wall meter carries the GPUs' idle power: reservations count GPUs too.
            let w = live.opts.gpu_reservation_weight.clamp(0.0, 1.0);
            let host_gpus = f64::from(h.capacity.gpus);
            for ((_, ws), g) in workloads.iter_mut().zip(&gpus_of) {
                let cpu = (ws.requested_cores / h.capacity.cpu_cores.max(1e-9)).min(1.0);
                let gpu = (f64::from(*g) / host_gpus).min(1.0);
                ws.reservation = Some((1.0 - w) * cpu + w * gpu);
            }
        }
        if !gpus.is_empty() {
            // The wall meter measured the GPUs too: its own meter keeps the rest.
            for (e, g) in energy_j.iter_mut().zip(&gpu_j) {
                if e.is_finite() {
                    *e = (*e - g).max(0.0);
                }
            }
        }
        let rapl = if live.opts.rapl_fallback {
            self.rapl_energy(&h.id, grid)?
        } else {
            None
        };
        chunk.input.hosts.push(HostSeries {
            host: h.id.clone(),
            cores: h.capacity.cpu_cores,
            energy_j,
            meter_rel_sigma: 0.0,
            workloads: workloads.into_iter().map(|(_, w)| w).collect(),
            system_cpu_s: system,
        });
        chunk.share.push(shares);
        let wall = chunk.parent.len();
        chunk.parent.push(None);
        chunk.activity.push(None);
        chunk.rapl.push(rapl);
        for g in gpus {
            chunk
                .provenance
                .insert(g.series.host.clone(), Arc::from("dcgm"));
            chunk.input.hosts.push(g.series);
            chunk.share.push(g.shares);
            chunk.parent.push(Some(wall));
            chunk.activity.push(Some(g.activity));
            chunk.rapl.push(None);
        }
        Ok(())
    }

    /// The workloads valid on `host` in the chunk: the inventory's running there all the
    /// time, and the registry's spans for the share of each interval they were there.
    fn host_rows(&self, live: &Live, host: &EntityId, bd: Bounds) -> BTreeMap<EntityId, Rows> {
        let mut rows: BTreeMap<EntityId, Rows> = BTreeMap::new();
        for w in self
            .running
            .get(host)
            .into_iter()
            .flatten()
            .map(|&i| &self.inventory.workloads[i])
        {
            rows.insert(
                w.id.clone(),
                Rows {
                    id: w.id.clone(),
                    cores: w.requests.cpu_cores,
                    gpus: w.requests.gpus,
                    share: vec![1.0; bd.n],
                    dynamic: false,
                    seen_start: false,
                },
            );
        }
        let first = live.ack.first_interval;
        for s in live.registry.on_host(host, bd.a, bd.b) {
            let r = rows.entry(s.workload.clone()).or_insert_with(|| Rows {
                id: s.workload.clone(),
                cores: s.requested_cores,
                gpus: s.gpus,
                share: vec![0.0; bd.n],
                dynamic: true,
                seen_start: false,
            });
            r.cores = r.cores.max(s.requested_cores);
            r.gpus = r.gpus.max(s.gpus);
            r.seen_start |= s.origin == SpanOrigin::Call && first.is_some_and(|f| s.start_ns >= f);
            for (i, sh) in r.share.iter_mut().enumerate() {
                let lo = bd.a + i as i64 * bd.step;
                let o = s.overlap_s(lo, lo + bd.step);
                if o >= 0.0 {
                    *sh = (*sh + (o / (bd.step as f64 / 1e9)).max(1e-9)).min(1.0);
                }
            }
        }
        rows
    }

    /// The interval a meter's readings begin in is not covered by them from its start, so
    /// it is unmeasured; it is billed at the mean power measured over the part they cover
    /// (from the first reading to its end), as what was measured in it.
    fn first_interval_measured(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        energy_j: &mut [f64],
    ) -> Result<(), Error> {
        let Some(sid) = self
            .store
            .select(Some(&key.entity), Some(key.kind))
            .into_iter()
            .find(|&s| self.store.key(s) == Some(key))
        else {
            return Ok(());
        };
        let first = self.store.aggregate(sid, i64::MIN, i64::MAX)?;
        let (a, step) = (grid.start().as_nanos(), grid.step_ns());
        let t = first.min_ts;
        if first.count == 0 || t < a {
            return Ok(());
        }
        let i = ((t - a) / step) as usize;
        let end = a + (i as i64 + 1) * step;
        if !energy_j.get(i).is_some_and(|e| e.is_nan()) || end <= t {
            return Ok(());
        }
        let part = Grid::try_new(Timestamp::from_nanos(t), end - t, 2)?;
        let e = self.store.integrate(key, &part, &self.resample)?;
        if let Some(e) = e.first().filter(|e| e.is_finite()) {
            energy_j[i] = e * step as f64 / (end - t) as f64;
        }
        Ok(())
    }

    /// CPU seconds of a workload's series per interval (NaN where it has no samples).
    /// Host `id`'s RAPL package and DRAM energy per interval of `grid` (their counters'
    /// increases summed), when it has RAPL counters.
    fn rapl_energy(&self, id: &EntityId, grid: &Grid) -> Result<Option<Vec<f64>>, Error> {
        let keys: Vec<&SeriesKey> = self
            .store
            .select_keys(Some(id), Some(SensorKind::Energy))
            .into_iter()
            .filter(|k| {
                let s = k.sensor.as_str();
                s.starts_with("rapl/package") || s.starts_with("rapl/dram")
            })
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            self.store.increase_sum(keys, grid, &self.resample)?.values,
        ))
    }

    fn cpu_seconds(&self, id: &EntityId, grid: &Grid) -> Result<Vec<f64>, Error> {
        let keys = self.store.select_keys(Some(id), Some(SensorKind::CpuTime));
        Ok(self.store.increase_sum(keys, grid, &self.resample)?.values)
    }

    /// A container's CPU counter starts at 0 when it starts: the value of its first sample is
    /// CPU used before it, billed to the interval of that sample — for workloads a lifecycle
    /// call saw start while the engine was watching, and for those first seen in labels after
    /// the engine's first interval.
    fn add_first_sample(
        &self,
        id: &EntityId,
        first_interval: Option<i64>,
        seen_start: bool,
        (a, b, step): (i64, i64, i64),
        cpu: &mut [f64],
    ) {
        let Some(watch_from) = first_interval else {
            return;
        };
        let after = if seen_start {
            watch_from
        } else {
            watch_from + step
        };
        for sid in self.store.select(Some(id), Some(SensorKind::CpuTime)) {
            let Ok(agg) = self.store.aggregate(sid, i64::MIN, i64::MAX) else {
                continue;
            };
            let t = agg.min_ts;
            if agg.count == 0 || t < a || t >= b || t < after || !agg.first.is_finite() {
                continue;
            }
            let i = ((t - a) / step) as usize;
            if let Some(c) = cpu.get_mut(i) {
                *c = if c.is_nan() {
                    agg.first
                } else {
                    *c + agg.first
                };
            }
        }
    }

    /// The host's pod cgroup CPU that its scraped workloads do not explain: to the dynamic
    /// workloads valid in the interval without samples of their own (by requested cores ×
    /// share, or share alone when none requested any), else the host's `system` usage.
    fn residual_pod_cpu(
        &self,
        host: &EntityId,
        grid: &Grid,
        workloads: &mut [(bool, WorkloadSeries)],
        shares: &[Vec<f64>],
    ) -> Result<Option<Vec<f64>>, Error> {
        let keys: Vec<_> = self
            .store
            .select_keys(Some(host), Some(SensorKind::CpuTime))
            .into_iter()
            .filter(|k| k.sensor == PODS_CGROUP)
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let parent = self.store.increase_sum(keys, grid, &self.resample)?.values;
        // The host's own processes: the root cgroup's CPU that is not the pods'.
        let root_keys: Vec<_> = self
            .store
            .select_keys(Some(host), Some(SensorKind::CpuTime))
            .into_iter()
            .filter(|k| k.sensor == ROOT_CGROUP)
            .collect();
        let root = self
            .store
            .increase_sum(root_keys, grid, &self.resample)?
            .values;
        let mut system: Vec<f64> = root
            .iter()
            .zip(&parent)
            .map(|(r, p)| {
                if r.is_finite() && p.is_finite() {
                    (r - p).max(0.0)
                } else {
                    0.0
                }
            })
            .collect();
        for (i, p) in parent.iter().enumerate() {
            if !p.is_finite() {
                continue;
            }
            let known: f64 = workloads
                .iter()
                .map(|(_, w)| w.cpu_s[i])
                .filter(|c| c.is_finite())
                .sum();
            let rest = p - known;
            if rest <= 1e-6 {
                continue;
            }
            let weights: Vec<f64> = workloads
                .iter()
                .zip(shares)
                .map(|((dynamic, w), sh)| {
                    if *dynamic && sh[i] > 0.0 && w.cpu_s[i].is_nan() {
                        sh[i] * w.requested_cores.max(1e-3)
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                system[i] += rest;
                continue;
            }
            for ((_, w), x) in workloads.iter_mut().zip(&weights) {
                if *x > 0.0 {
                    w.cpu_s[i] = rest * x / total;
                }
            }
        }
        Ok(Some(system))
    }
}

/// A workload's CPU per interval kept to the part of each interval it spent on `host`, when
/// it ran on several hosts in the chunk (one CPU series for all of them).
fn share_between_hosts(cpu: &mut [f64], spans: &[&WorkloadSpan], host: &EntityId, bd: Bounds) {
    for (i, c) in cpu.iter_mut().enumerate() {
        let lo = bd.a + i as i64 * bd.step;
        let o = |sp: &&WorkloadSpan| sp.overlap_s(lo, lo + bd.step).max(0.0);
        let total: f64 = spans.iter().map(o).sum();
        let here: f64 = spans.iter().filter(|sp| &sp.host == host).map(o).sum();
        if total > 0.0 && c.is_finite() {
            *c *= here / total;
        }
    }
}
