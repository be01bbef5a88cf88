//! GPUs as meters of their own: each GPU's energy counter (dcgm-exporter's
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, mapped to the host's sensor
//! `gpu<k>/total_energy_consumption`) is settled among the workloads that held the GPU,
//! keyed by its SM activity (`gpu<k>/sm_active`, or `gpu<k>/utilization.gpu` where SM activity
//! is not exported), through the same ledger as the CPU; the host's wall meter keeps the rest.
//!
//! Who held a GPU comes from the telemetry: dcgm-exporter labels a GPU's series with the pod it
//! is allocated to, so every such sample is a sighting of `(host, gpu, workload)`; consecutive
//! sightings of one holder make a [`GpuRun`].

use std::collections::BTreeMap;

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
}

/// Share of `[a, b)` that `[lo, hi)` covers.
fn cover(lo: i64, hi: i64, a: i64, b: i64) -> f64 {
    let o = hi.min(b).saturating_sub(lo.max(a)) as f64;
    (o / (b - a) as f64).clamp(0.0, 1.0)
}

/// A GPU as a meter: its series (one "core", reserved by its holders), its holders' share of
/// each interval, and its SM-active seconds per interval (the activity its floor is
/// calibrated against; NaN where unknown).
pub(crate) struct GpuMeter {
    pub(crate) series: HostSeries,
    pub(crate) shares: Vec<Vec<f64>>,
    pub(crate) activity: Vec<f64>,
}

/// The host's GPUs with an energy counter: device, energy counter, activity gauge.
type Devices<'k> = BTreeMap<&'k str, (&'k SeriesKey, Option<&'k SeriesKey>)>;

/// Who held one GPU in each interval of a grid.
type Holders<'r> = BTreeMap<&'r EntityId, Vec<f64>>;

/// The GPUs of `keys` that have an energy counter, with their activity gauge
/// (`sm_active`, or `utilization.gpu` where SM activity is not exported).
fn devices<'k>(keys: &[&'k SeriesKey]) -> Devices<'k> {
    let mut by_dev: BTreeMap<&str, (Option<&SeriesKey>, Option<&SeriesKey>)> = BTreeMap::new();
    for &k in keys {
        let Some(dev) = device_of(&k.sensor) else {
            continue;
        };
        let e = by_dev.entry(dev).or_default();
        match k.kind {
            SensorKind::Energy if k.sensor.ends_with("/total_energy_consumption") => e.0 = Some(k),
            SensorKind::Utilization if k.sensor.ends_with("/sm_active") => e.1 = Some(k),
            SensorKind::Utilization if k.sensor.ends_with("/utilization.gpu") && e.1.is_none() => {
                e.1 = Some(k)
            }
            _ => {}
        }
    }
    by_dev
        .into_iter()
        .filter_map(|(d, (e, a))| Some((d, (e?, a))))
        .collect()
}

/// A GPU run with what decides when it held its GPU: its workload's spans on the host (a
/// call or its labels opened them), else its samples with a margin; all the time for a
/// workload of the inventory.
struct RunHold<'r> {
    run: &'r GpuRun,
    spans: Vec<(i64, i64)>,
    always: bool,
}

impl RunHold<'_> {
    /// When the run held its GPU, seen from interval `[a, b)`: the first of its workload's
    /// spans valid there, else its samples with the margin.
    fn hold_in(&self, a: i64, b: i64) -> (i64, i64) {
        if self.always {
            return (i64::MIN, i64::MAX);
        }
        self.spans
            .iter()
            .find(|&&(s, e)| s < b && e >= a)
            .copied()
            .unwrap_or((
                self.run.first_ns.saturating_sub(RUN_MARGIN_NS),
                self.run.last_ns.saturating_add(RUN_MARGIN_NS),
            ))
    }

    /// Whether it can hold its GPU anywhere in `[a, b)`.
    fn reaches(&self, a: i64, b: i64) -> bool {
        self.always
            || (self.run.first_ns.saturating_sub(RUN_MARGIN_NS) < b
                && self.run.last_ns.saturating_add(RUN_MARGIN_NS) >= a)
            || self.spans.iter().any(|&(s, e)| s < b && e >= a)
    }
}

impl Engine {
    /// The GPU meters of `host` on `grid`: one per GPU with an energy counter (meter
    /// `<host>/<gpu>`, its holders reserving it for their share of each interval and keyed by
    /// its SM-seconds); and the energy they measured, per interval, for the wall meter to
    /// subtract.
    ///
    /// A GPU's holders are the workloads its telemetry labels (their runs), and the pods known
    /// only from their lifecycle that requested GPUs (`nvidia.com/gpu`): in each interval such
    /// a pod holds, for its part of the interval, as many of the GPUs no run held then as it
    /// requested (the first free ones by name; pods by start, then id). A 10 s pod between two
    /// scrapes is billed by the GPU meter even when the wall meter's rest reads nothing. Every
    /// interval is decided on its own, so a chunk bills an interval as a chunk of one would.
    pub(crate) fn gpu_meters(
        &self,
        reg: &Registry,
        host: &EntityId,
        grid: &Grid,
        always: &dyn Fn(&EntityId) -> bool,
    ) -> Result<(Vec<GpuMeter>, Vec<f64>), Error> {
        let n = grid.intervals();
        let keys = self.store.select_keys(Some(host), None);
        let devs = devices(&keys);
        if devs.is_empty() {
            return Ok((Vec::new(), vec![0.0; n]));
        }
        let (a0, step) = (grid.start().as_nanos(), grid.step_ns());
        let b_end = a0 + n as i64 * step;
        let mut spans_of: BTreeMap<&EntityId, Vec<(i64, i64)>> = BTreeMap::new();
        for sp in reg.on_host(host, i64::MIN, i64::MAX) {
            spans_of
                .entry(&sp.workload)
                .or_default()
                .push((sp.start_ns, sp.end_ns()));
        }
        let mut runs: BTreeMap<&str, Vec<RunHold<'_>>> = BTreeMap::new();
        for run in reg
            .gpu_runs
            .values()
            .filter(|r| &r.host == host && devs.contains_key(r.device.as_str()))
        {
            let rh = RunHold {
                run,
                spans: spans_of.get(&run.workload).cloned().unwrap_or_default(),
                always: always(&run.workload),
            };
            if rh.reaches(a0, b_end) {
                runs.entry(run.device.as_str()).or_default().push(rh);
            }
        }
        let pods: Vec<_> = {
            let mut p: Vec<_> = reg
                .on_host(host, a0, b_end)
                .filter(|s| s.gpus > 0)
                .collect();
            p.sort_by(|x, y| (x.start_ns, &x.workload).cmp(&(y.start_ns, &y.workload)));
            p
        };
        let mut holders: BTreeMap<&str, Holders<'_>> = BTreeMap::new();
        for i in 0..n {
            let (lo, hi) = (a0 + i as i64 * step, a0 + (i as i64 + 1) * step);
            // Who the runs say held each GPU, and when.
            let mut held: Vec<(&str, i64, i64)> = Vec::new();
            for (dev, rs) in &runs {
                for rh in rs {
                    let (l, h) = rh.hold_in(lo, hi);
                    let c = cover(l, h, lo, hi);
                    if c > 0.0 {
                        held.push((dev, l, h));
                        let sh = holders
                            .entry(dev)
                            .or_default()
                            .entry(&rh.run.workload)
                            .or_insert_with(|| vec![0.0; n]);
                        sh[i] = sh[i].max(c);
                    }
                }
            }
            lifecycle_holders(&pods, &devs, (lo, hi, i, n), &mut held, &mut holders);
        }
        let mut meters = Vec::with_capacity(devs.len());
        let mut gpu_total = vec![0.0; n];
        for (dev, (energy, activity)) in &devs {
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
            let held = holders.remove(dev).unwrap_or_default();
            meters.push(gpu_meter(host, dev, energy_j, active_s, held, n)?);
        }
        Ok((meters, gpu_total))
    }
}

/// In interval `i` (`[lo, hi)`), gives the pods of `pods` that requested GPUs and that no run
/// shows holding one (known only from their lifecycle) the GPUs nobody held while they ran:
/// see [`Engine::gpu_meters`]. `held` is who held which GPU when, and grows with them.
fn lifecycle_holders<'r, 'd>(
    pods: &[&'r super::workloads::WorkloadSpan],
    devs: &Devices<'d>,
    (lo, hi, i, n): (i64, i64, usize, usize),
    held: &mut Vec<(&'d str, i64, i64)>,
    holders: &mut BTreeMap<&'d str, Holders<'r>>,
) {
    let secs = (hi - lo) as f64 / 1e9;
    for s in pods {
        let o = s.overlap_s(lo, hi);
        if o < 0.0
            || holders
                .values()
                .any(|h| h.get(&s.workload).is_some_and(|sh| sh[i] > 0.0))
        {
            continue;
        }
        let (a, b) = (
            s.start_ns.max(lo),
            s.end_ns().min(hi).max(s.start_ns.max(lo) + 1),
        );
        let mut need = s.gpus as usize;
        for &dev in devs.keys() {
            if need == 0 {
                break;
            }
            if held.iter().all(|&(d, l, h)| d != dev || h <= a || l >= b) {
                held.push((dev, a, b));
                let sh = holders
                    .entry(dev)
                    .or_default()
                    .entry(&s.workload)
                    .or_insert_with(|| vec![0.0; n]);
                sh[i] = sh[i].max((o / secs).max(1e-9));
                need -= 1;
            }
        }
    }
}

/// One GPU as a meter (see [`GpuMeter`]): its holders keyed by its SM activity, each by its
/// share of the interval.
fn gpu_meter(
    host: &EntityId,
    dev: &str,
    energy_j: Vec<f64>,
    active_s: Vec<f64>,
    holders: Holders<'_>,
    n: usize,
) -> Result<GpuMeter, Error> {
    let totals: Vec<f64> = (0..n)
        .map(|i| holders.values().map(|s| s[i]).sum::<f64>())
        .collect();
    let mut workloads = Vec::with_capacity(holders.len());
    let mut shares = Vec::with_capacity(holders.len());
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
    Ok(GpuMeter {
        series: HostSeries {
            host: EntityId::new(format!("{host}/{dev}"))?,
            cores: 1.0,
            energy_j,
            meter_rel_sigma: 0.0,
            workloads,
            system_cpu_s: None,
        },
        shares,
        activity: active_s,
    })
}
