//! GPUs as meters of their own: each GPU's energy counter (dcgm-exporter's
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, mapped to the host's sensor
//! `gpu<k>/total_energy_consumption`) is settled among the workloads that held the GPU,
//! keyed by its SM activity (`gpu<k>/sm_active`, or `gpu<k>/utilization.gpu` where SM activity
//! is not exported), through the same ledger as the CPU; the host's wall meter keeps the rest.
//!
//! Who held a GPU comes from the telemetry: dcgm-exporter labels a GPU's series with the pod it
//! is allocated to, so every such sample is a sighting of `(host, gpu, workload)`; consecutive
//! sightings of one holder make a [`GpuRun`].

use std::collections::{BTreeMap, HashMap};

use kelvin_attribution::{HostSeries, WorkloadSeries};
use kelvin_ingest::Sighting;
use kelvin_model::{EntityId, SensorKind};
use kelvin_store::{Grid, SeriesKey};
use serde::{Deserialize, Serialize};

use super::workloads::Registry;
use crate::{Engine, Error};

/// How far around its samples a GPU run is taken to hold the GPU when no lifecycle call says
/// when it started and stopped: half of a 30 s scrape.
const RUN_MARGIN_NS: i64 = 15_000_000_000;

/// One workload holding one GPU, from its first to its last labelled sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GpuRun {
    pub(crate) host: EntityId,
    pub(crate) device: String,
    pub(crate) workload: EntityId,
    pub(crate) first_ns: i64,
    pub(crate) last_ns: i64,
}

/// The GPU device a sensor belongs to (`gpu0/sm_active` → `gpu0`).
fn device_of(sensor: &str) -> Option<&str> {
    let dev = sensor.split('/').next()?;
    (dev.len() > 3 && dev.starts_with("gpu") && dev[3..].bytes().all(|b| b.is_ascii_digit()))
        .then_some(dev)
}

impl Registry {
    /// Records which GPUs a sighting's workload held.
    pub(crate) fn gpu_sighted(&mut self, s: &Sighting) {
        for (entity, sensor) in &s.series {
            if entity != &s.host {
                continue;
            }
            let Some(dev) = device_of(sensor) else {
                continue;
            };
            let key = (s.host.clone(), dev.to_owned());
            let (first, last) = (s.first.as_nanos(), s.last.as_nanos());
            if let Some(&seq) = self.gpu_open.get(&key)
                && let Some(run) = self.gpu_runs.get_mut(&seq)
                && run.workload == s.workload
            {
                if last > run.last_ns {
                    run.last_ns = last;
                    self.gpu_changed.push(seq);
                }
                continue;
            }
            let seq = self.next;
            self.next += 1;
            self.gpu_runs.insert(
                seq,
                GpuRun {
                    host: s.host.clone(),
                    device: dev.to_owned(),
                    workload: s.workload.clone(),
                    first_ns: first,
                    last_ns: last,
                },
            );
            self.gpu_open.insert(key, seq);
            self.gpu_changed.push(seq);
        }
    }

    /// Puts a GPU run back as the journal recorded it.
    pub(crate) fn restore_gpu(&mut self, seq: u64, run: GpuRun) {
        self.gpu_open
            .insert((run.host.clone(), run.device.clone()), seq);
        self.gpu_runs.insert(seq, run);
        self.next = self.next.max(seq + 1);
    }

    /// Share of `[a, b)` workload `w` held the GPU of `run`: its span on the host when a call
    /// or its labels opened one, else the run with a margin around its samples.
    fn gpu_share(&self, run: &GpuRun, a: i64, b: i64, always: bool) -> f64 {
        let len = (b - a) as f64;
        if always {
            return 1.0;
        }
        let spans: Vec<_> = self
            .on_host(&run.host, a, b)
            .filter(|s| s.workload == run.workload)
            .collect();
        let (lo, hi) = if let Some(s) = spans.first() {
            (s.start_ns, s.end_ns())
        } else {
            (
                run.first_ns.saturating_sub(RUN_MARGIN_NS),
                run.last_ns.saturating_add(RUN_MARGIN_NS),
            )
        };
        let o = (hi.min(b) - lo.max(a)) as f64;
        (o / len).clamp(0.0, 1.0)
    }
}

/// A GPU as a meter, with its holders' share of each interval.
pub(crate) type GpuMeter = (HostSeries, Vec<Vec<f64>>);

impl Engine {
    /// The GPU meters of `host` on `grid`: one [`HostSeries`] per GPU with an energy counter
    /// (meter `<host>/<gpu>`, one "core", its holders reserving it for their share of each
    /// interval and keyed by its SM-seconds), with their shares; and the energy they measured,
    /// per interval, for the wall meter to subtract.
    pub(crate) fn gpu_meters(
        &self,
        reg: &Registry,
        host: &EntityId,
        grid: &Grid,
        always: &dyn Fn(&EntityId) -> bool,
    ) -> Result<(Vec<GpuMeter>, Vec<f64>), Error> {
        let n = grid.intervals();
        let step = grid.step_ns();
        let a0 = grid.start().as_nanos();
        let mut meters = Vec::new();
        let mut gpu_total = vec![0.0; n];
        let keys = self.store.select_keys(Some(host), None);
        let mut by_dev: BTreeMap<&str, (Option<&SeriesKey>, Option<&SeriesKey>)> = BTreeMap::new();
        for k in &keys {
            let Some(dev) = device_of(&k.sensor) else {
                continue;
            };
            let e = by_dev.entry(dev).or_default();
            match k.kind {
                SensorKind::Energy if k.sensor.ends_with("/total_energy_consumption") => {
                    e.0 = Some(k)
                }
                SensorKind::Utilization if k.sensor.ends_with("/sm_active") => e.1 = Some(k),
                SensorKind::Utilization
                    if k.sensor.ends_with("/utilization.gpu") && e.1.is_none() =>
                {
                    e.1 = Some(k)
                }
                _ => {}
            }
        }
        for (dev, (energy, activity)) in by_dev {
            let Some(energy) = energy else {
                continue;
            };
            let energy_j = self.store.increase(energy, grid, &self.resample)?.values;
            let active_s = match activity {
                Some(k) => self.store.integrate(k, grid, &self.resample)?,
                None => vec![f64::NAN; n],
            };
            for (t, e) in gpu_total.iter_mut().zip(&energy_j) {
                if e.is_finite() {
                    *t += e;
                }
            }
            let (b_end, a_start) = (a0 + n as i64 * step, a0);
            let mut holders: HashMap<&EntityId, Vec<f64>> = HashMap::new();
            for run in reg.gpu_runs.values().filter(|r| {
                &r.host == host
                    && r.device == dev
                    && r.first_ns.saturating_sub(RUN_MARGIN_NS) < b_end
                    && r.last_ns.saturating_add(RUN_MARGIN_NS) >= a_start
            }) {
                let sh = holders.entry(&run.workload).or_insert_with(|| vec![0.0; n]);
                for (i, s) in sh.iter_mut().enumerate() {
                    let lo = a0 + i as i64 * step;
                    let x = reg.gpu_share(run, lo, lo + step, always(&run.workload));
                    *s = (*s).max(x);
                }
            }
            let mut workloads = Vec::new();
            let mut shares = Vec::new();
            let mut holders: Vec<_> = holders.into_iter().collect();
            holders.sort_by(|x, y| x.0.cmp(y.0));
            let totals: Vec<f64> = (0..n)
                .map(|i| holders.iter().map(|(_, s)| s[i]).sum::<f64>())
                .collect();
            for (w, sh) in holders {
                let usage = (0..n)
                    .map(|i| {
                        let act = active_s[i];
                        if sh[i] <= 0.0 || !act.is_finite() {
                            f64::NAN
                        } else {
                            act.max(0.0) * sh[i] / totals[i].max(1.0)
                        }
                    })
                    .collect();
                workloads.push(WorkloadSeries::new(w.clone(), 1.0, usage));
                shares.push(sh);
            }
            let meter = EntityId::new(format!("{host}/{dev}"))?;
            meters.push((
                HostSeries {
                    host: meter,
                    cores: 1.0,
                    energy_j,
                    meter_rel_sigma: 0.0,
                    workloads,
                    system_cpu_s: None,
                },
                shares,
            ));
        }
        Ok((meters, gpu_total))
    }
}
