//! The live engine's view of a run of intervals: per host its measured energy and the
//! workloads valid in each interval (the inventory's, and the spans that came and went), with
//! their CPU seconds — including the CPU a pod used before its first scrape, and the parent
//! cgroup's CPU that no scraped pod explains, given to the pods known only from their
//! lifecycle (started and stopped between two scrapes) or else to the `system` account.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kelvin_attribution::{AlignedInput, HostSeries, WorkloadSeries};
use kelvin_model::{EntityId, SensorKind, TimeRange, Timestamp};
use kelvin_store::{Grid, SeriesRead};

use super::state::Live;
use super::workloads::SpanOrigin;
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
}

/// One workload's rows while a host is being built.
struct Rows {
    id: EntityId,
    cores: f64,
    share: Vec<f64>,
    /// A span of the registry (not the inventory): it gets unexplained pod CPU.
    dynamic: bool,
    /// A lifecycle call says it started after the engine began watching: its counters start
    /// at zero then.
    seen_start: bool,
}

impl Engine {
    /// Aligns `[a, b)` for the live engine (see the module docs).
    pub(crate) fn live_chunk(&self, live: &Live, a: i64, b: i64) -> Result<Chunk, Error> {
        let (reg, first) = (&live.registry, live.ack.first_interval);
        let range = TimeRange::try_new(Timestamp::from_nanos(a), Timestamp::from_nanos(b))?;
        let grid = Grid::covering(range, self.interval_ns)?;
        let n = grid.intervals();
        let step = self.interval_ns;
        let mut hosts = Vec::with_capacity(self.inventory.hosts.len());
        let mut share = Vec::with_capacity(self.inventory.hosts.len());
        let mut provenance = HashMap::new();
        // Workloads that ran on several hosts in the chunk (migrated): their CPU series is
        // one, so each host gets the part of each interval the workload spent there.
        let mut hosts_of: HashMap<&EntityId, Vec<&super::workloads::WorkloadSpan>> = HashMap::new();
        for sp in reg
            .spans
            .values()
            .filter(|sp| sp.start_ns < b && sp.end_ns() >= a)
        {
            hosts_of.entry(&sp.workload).or_default().push(sp);
        }
        hosts_of.retain(|_, v| v.iter().any(|sp| sp.host != v[0].host));
        for h in &self.inventory.hosts {
            let meter = self.power_key(&h.id);
            provenance.insert(
                h.id.clone(),
                Arc::from(meter.as_ref().map_or("none", |k| k.sensor.as_str())),
            );
            let energy_j = match meter {
                Some(k) => self.store.integrate(&k, &grid, &self.resample)?,
                None => vec![f64::NAN; n],
            };
            let mut rows: BTreeMap<EntityId, Rows> = BTreeMap::new();
            for w in self
                .running
                .get(&h.id)
                .into_iter()
                .flatten()
                .map(|&i| &self.inventory.workloads[i])
            {
                {
                    rows.insert(
                        w.id.clone(),
                        Rows {
                            id: w.id.clone(),
                            cores: w.requests.cpu_cores,
                            share: vec![1.0; n],
                            dynamic: false,
                            seen_start: false,
                        },
                    );
                }
            }
            for s in reg.on_host(&h.id, a, b) {
                let r = rows.entry(s.workload.clone()).or_insert_with(|| Rows {
                    id: s.workload.clone(),
                    cores: s.requested_cores,
                    share: vec![0.0; n],
                    dynamic: true,
                    seen_start: false,
                });
                r.cores = r.cores.max(s.requested_cores);
                r.seen_start |=
                    s.origin == SpanOrigin::Call && first.is_some_and(|f| s.start_ns >= f);
                for (i, sh) in r.share.iter_mut().enumerate() {
                    let lo = a + i as i64 * step;
                    let o = s.overlap_s(lo, lo + step);
                    if o >= 0.0 {
                        *sh = (*sh + (o / (step as f64 / 1e9)).max(1e-9)).min(1.0);
                    }
                }
            }
            let mut workloads = Vec::with_capacity(rows.len());
            let mut shares = Vec::with_capacity(rows.len());
            for r in rows.into_values() {
                let mut cpu = self.cpu_seconds(&r.id, &grid)?;
                if r.dynamic {
                    self.add_first_sample(&r.id, first, r.seen_start, (a, b, step), &mut cpu);
                }
                if let Some(spans) = hosts_of.get(&r.id) {
                    for (i, c) in cpu.iter_mut().enumerate() {
                        let lo = a + i as i64 * step;
                        let o = |sp: &&&super::workloads::WorkloadSpan| {
                            sp.overlap_s(lo, lo + step).max(0.0)
                        };
                        let total: f64 = spans.iter().map(|sp| o(&sp)).sum();
                        let here: f64 = spans
                            .iter()
                            .filter(|sp| sp.host == h.id)
                            .map(|sp| o(&sp))
                            .sum();
                        if total > 0.0 && c.is_finite() {
                            *c *= here / total;
                        }
                    }
                }
                workloads.push((r.dynamic, WorkloadSeries::new(r.id, r.cores, cpu)));
                shares.push(r.share);
            }
            let system = self.residual_pod_cpu(&h.id, &grid, &mut workloads, &shares)?;
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
                self.gpu_meters(reg, &h.id, &grid, &always)?
            } else {
                (Vec::new(), Vec::new())
            };
            let mut energy_j = energy_j;
            if !gpus.is_empty() {
                // The wall meter measured the GPUs too: its own meter keeps the rest.
                for (e, g) in energy_j.iter_mut().zip(&gpu_j) {
                    if e.is_finite() {
                        *e = (*e - g).max(0.0);
                    }
                }
            }
            hosts.push(HostSeries {
                host: h.id.clone(),
                cores: h.capacity.cpu_cores,
                energy_j,
                meter_rel_sigma: 0.0,
                workloads: workloads.into_iter().map(|(_, w)| w).collect(),
                system_cpu_s: system,
            });
            share.push(shares);
            for (g, sh) in gpus {
                provenance.insert(g.host.clone(), Arc::from("dcgm"));
                hosts.push(g);
                share.push(sh);
            }
        }
        Ok(Chunk {
            input: AlignedInput {
                start: grid.start(),
                interval_ns: step,
                hosts,
            },
            share,
            provenance,
        })
    }

    /// CPU seconds of a workload's series per interval (NaN where it has no samples).
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
