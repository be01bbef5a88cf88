//! GPU energy attribution over a recorded NVML capture: the device's energy counter is the
//! meter, per-process SM and memory activity are the keys, and the device's idle floor is
//! calibrated from its quiet intervals.
//!
//! A recording is a directory with `nvml_device.csv` (device samples with the NVML energy
//! counter), `nvml_process_util.csv` (per-process utilization samples), `events.csv` (the
//! schedule: phases and the processes started in them, `t_unix_ns,event,label,kind,pid`) and,
//! optionally, `work_<label>.csv` files with the work each process completed (for validation).
//! The telemetry goes through [`kelvin_ingest`] and a [`Store`]; the schedule is read here.
//!
//! Steps of [`GpuRecording::attribute`]:
//! 1. On a grid over the whole recording (`step_s`), the device energy per interval is the
//!    counter's reset-corrected increase, and each process's activity is its utilization
//!    (a ratio) integrated over the interval.
//! 2. The idle floor per interval is calibrated from quiet intervals (no process active):
//!    it follows the device as it warms and cools instead of taking the minimum ever seen.
//! 3. A multi-resource model with one coefficient per workload and resource (W per unit of SM
//!    and memory activity) is fitted by non-negative least squares to the power above the
//!    floor: kernels differ in watts per SM-second, and the model learns each workload's
//!    signature from the data.
//! 4. Each phase is settled on its own grid with [`settle`] (two-part tariff by default):
//!    the floor goes to the `idle` account (the processes reserve nothing), the rest to the
//!    workloads by their signature-weighted activity, exactly in µJ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kelvin_attribution::facility::{FacilityInputs, FacilityShare, apportion};
use kelvin_attribution::ledger::{
    Account, Consumer, KeyCurve, Ledger, LedgerInput, LedgerOptions, MeterInput, MeterResource,
    Policy, settle,
};
use kelvin_attribution::power::{IdleFloor, IdleOptions, Resource, ResourceModel, calibrate_idle};
use kelvin_ingest::{
    Context, IngestBatch, IngestStats, Normalizer, Quarantined, Reason, decode_path,
};
use kelvin_model::{EntityId, Place, SensorKind, TimeBounds, TimeGate, TimeRange, Timestamp};
use kelvin_store::{Fill, Grid, ResampleOptions, SeriesKey, Store, StoreOptions};

use crate::Error;

/// One phase of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPhase {
    /// Its name (`idle0`, `soloA`, `AB`, …).
    pub name: String,
    /// When it ran.
    pub range: TimeRange,
}

/// One process of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    /// OS process id.
    pub pid: u32,
    /// The run's label (`A_soloA`).
    pub label: String,
    /// The workload it belongs to (the label up to `_`: `A`).
    pub workload: String,
    /// When it was started.
    pub start: Timestamp,
    /// When it was stopped, if recorded.
    pub stop: Option<Timestamp>,
    /// Its SM-utilization series in the store, if NVML reported any.
    pub sm: Option<SeriesKey>,
    /// Its memory-utilization series, if any.
    pub mem: Option<SeriesKey>,
}

/// A loaded recording.
#[derive(Debug)]
pub struct GpuRecording {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// Phases in schedule order.
    pub phases: Vec<GpuPhase>,
    /// Processes in start order.
    pub processes: Vec<GpuProcess>,
    /// Work completed per run label (`A_AB` → iterations), from `work_*.csv`.
    pub work: BTreeMap<String, u64>,
    /// What the decoders accepted and quarantined.
    pub ingest: IngestStats,
    /// Records the decoders rejected, with place and reason.
    pub quarantine: Vec<Quarantined>,
    /// The device's energy-counter series.
    pub energy: SeriesKey,
    store: Store,
}

/// Options of [`GpuRecording::attribute`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Grid step, seconds; default 0.5 (the process sampler's period).
    pub step_s: f64,
    /// The policy; default [`Policy::TwoPartTariff`].
    pub policy: Policy,
    /// Confidence of the intervals; default 0.95.
    pub confidence: f64,
    /// Longest gap between a process's utilization samples that is still bridged (the value
    /// is held), seconds; default 3 (NVML reports a process sparsely while others share the
    /// GPU; see docs/attribution.md for 1.2 s and 6 s).
    pub max_gap_s: f64,
    /// 1-σ accuracy of the device's power reading, watts; default 5 (NVIDIA documents ±5 W
    /// for the power readings of its data-center boards; see docs/attribution.md).
    pub meter_sigma_w: f64,
    /// Idle-floor calibration.
    pub idle: IdleOptions,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            step_s: 0.5,
            policy: Policy::TwoPartTariff,
            confidence: 0.95,
            max_gap_s: 3.0,
            meter_sigma_w: 5.0,
            idle: IdleOptions::default(),
        }
    }
}

impl GpuOptions {
    /// Sets the policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// Sets the grid step, seconds.
    pub fn with_step_s(mut self, step_s: f64) -> Self {
        self.step_s = step_s;
        self
    }
}

/// One settled phase.
#[derive(Debug, Clone)]
pub struct GpuPhaseSheet {
    /// The phase.
    pub phase: String,
    /// Its ledger (one meter: the device; workload lines by workload name).
    pub ledger: Ledger,
}

/// The attribution of a whole recording.
#[derive(Debug, Clone)]
pub struct GpuAttribution {
    /// Workload names, sorted (`A`, `B`, `C`).
    pub workloads: Vec<String>,
    /// One sheet per phase, in schedule order.
    pub phases: Vec<GpuPhaseSheet>,
    /// The calibrated idle floor on the whole-recording grid.
    pub floor: IdleFloor,
    /// The fitted model: columns are (workload, resource) pairs in `columns` order.
    pub model: ResourceModel,
    /// The model's columns.
    pub columns: Vec<(String, Resource)>,
}

/// One row of [`GpuAttribution::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCheck {
    /// The shared phase.
    pub phase: String,
    /// The workload.
    pub workload: String,
    /// Dynamic energy attributed to it, joules.
    pub attributed_j: f64,
    /// Dynamic energy its exclusive run's energy per unit of work predicts for the work it
    /// did here, scaled so the phase's predictions sum to the attributed dynamic energy.
    pub predicted_j: f64,
}

impl GpuCheck {
    /// `attributed / predicted − 1`.
    pub fn error(&self) -> f64 {
        self.attributed_j / self.predicted_j - 1.0
    }
}

fn dataset(path: &Path, reason: impl Into<String>) -> Error {
    Error::dataset(path.display().to_string(), reason)
}

fn read(path: &Path) -> Result<String, Error> {
    crate::replay::read_text_file(path, crate::replay::MAX_DATASET_FILE_BYTES)
}

/// Most grid intervals an attribution of a recording may have (2^22: 24 days at the default
/// half-second step), checked before anything is allocated.
const MAX_INTERVALS: i64 = 1 << 22;

/// Most values the whole-recording series of an attribution may hold together (intervals ×
/// (two activities per workload + eight device series)): 2^23, 64 MiB of `f64`.
const MAX_CELLS: usize = 1 << 23;

/// Quarantines the readings of `batch` whose times the gate refuses (a sample a thousand years
/// ahead would otherwise stretch every grid), naming the file.
fn sift_times(gate: &mut TimeGate, source: &Path, batch: &mut IngestBatch) {
    let ts: Vec<Timestamp> = batch.readings.iter().map(|r| r.ts).collect();
    let ok = gate.judge(&ts);
    if ok.iter().all(|k| *k) {
        return;
    }
    let place = Place::source(source.display().to_string());
    let readings = std::mem::take(&mut batch.readings);
    for (r, keep) in readings.into_iter().zip(ok) {
        if keep {
            batch.readings.push(r);
            continue;
        }
        batch.stats.seen -= 1;
        batch.stats.accepted -= 1;
        let excerpt = format!(
            "{} {} {} @ {}",
            r.entity,
            r.sensor,
            r.value,
            r.ts.as_nanos()
        );
        batch.reject(Quarantined::new(
            place.clone(),
            Reason::ImplausibleTime,
            gate.explain(r.ts),
            &excerpt,
        ));
    }
}

/// Checks that every schedule time lies with the telemetry: an event far from it belongs to
/// another recording or is corrupt, and would size a grid over the gap.
fn check_schedule(gate: &TimeGate, path: &Path, phases: &[GpuPhase]) -> Result<(), Error> {
    let Some((a, b)) = gate.span() else {
        return Ok(());
    };
    let reach = gate.bounds().max_gap_ns;
    for ph in phases {
        for t in [ph.range.start(), ph.range.end()] {
            if t.nanos_since(b) > reach || a.nanos_since(t) > reach {
                return Err(dataset(
                    path,
                    format!(
                        "phase {}: {}; the schedule and the NVML samples must come from one \
                         recording",
                        ph.name,
                        gate.explain(t)
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl GpuRecording {
    /// Reads a recording directory.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the file (and line) when a file is missing or malformed, or
    /// when the capture holds no energy counter; [`Error::Ingest`] / [`Error::Store`] from
    /// the layers below. Telemetry records that fail to decode are quarantined and counted
    /// in [`GpuRecording::ingest`], not errors.
    pub fn load(dir: impl AsRef<Path>) -> Result<GpuRecording, Error> {
        let dir = dir.as_ref().to_path_buf();
        let normalizer = Normalizer::builtin();
        let mut store = Store::in_memory(StoreOptions::default());
        let mut ingest = IngestStats::default();
        let mut quarantine = Vec::new();
        // The device samples come first: their bulk is the recording's time.
        let mut gate = TimeGate::new(TimeBounds::default());
        for name in ["nvml_device.csv", "nvml_process_util.csv"] {
            let path = dir.join(name);
            let ctx = Context::new(path.display().to_string(), &normalizer);
            let mut batch = decode_path(&path, None, &ctx)?;
            sift_times(&mut gate, &path, &mut batch);
            store.extend(&batch.readings)?;
            ingest.merge(&batch.stats);
            quarantine.extend(batch.quarantine);
        }
        let energy = store
            .select_keys(None, Some(SensorKind::Energy))
            .into_iter()
            .next()
            .cloned()
            .ok_or_else(|| dataset(&dir.join("nvml_device.csv"), "no energy counter"))?;
        let (phases, mut processes) = read_events(&dir.join("events.csv"))?;
        check_schedule(&gate, &dir.join("events.csv"), &phases)?;
        for p in &mut processes {
            let suffix = format!("pid-{}", p.pid);
            for key in store.select_keys(None, Some(SensorKind::Utilization)) {
                if !key.entity.as_str().ends_with(&suffix) {
                    continue;
                }
                let s = key.sensor.as_str();
                if s == "sm" || s.ends_with("/sm") {
                    p.sm = Some(key.clone());
                } else if s == "mem" || s.ends_with("/mem") {
                    p.mem = Some(key.clone());
                }
            }
        }
        let mut work = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| dataset(&dir, e.to_string()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("work_") && n.ends_with(".csv"))
            })
            .collect();
        files.sort();
        for f in files {
            read_work(&f, &mut work)?;
        }
        Ok(GpuRecording {
            dir,
            phases,
            processes,
            work,
            ingest,
            quarantine,
            energy,
            store,
        })
    }

    /// Workload names, sorted.
    pub fn workloads(&self) -> Vec<String> {
        let mut w: Vec<String> = self.processes.iter().map(|p| p.workload.clone()).collect();
        w.sort();
        w.dedup();
        w
    }

    /// A process's activity on `grid` (utilization × seconds per interval), 0 where unknown.
    fn activity(
        &self,
        key: Option<&SeriesKey>,
        grid: &Grid,
        opts: &GpuOptions,
    ) -> Result<Vec<f64>, Error> {
        let Some(key) = key else {
            return Ok(vec![0.0; grid.intervals()]);
        };
        let r = ResampleOptions::default()
            .with_fill(Fill::Locf)
            .with_max_gap_ns((opts.max_gap_s * 1e9) as i64);
        Ok(self
            .store
            .integrate(key, grid, &r)?
            .into_iter()
            .map(|x| if x.is_nan() { 0.0 } else { x })
            .collect())
    }

    /// A grid of steps of about `step_s` dividing `range` evenly, at most [`MAX_INTERVALS`].
    fn grid(&self, range: TimeRange, step_s: f64) -> Result<Grid, Error> {
        // A range is never empty, so both are positive.
        let len = range.len_nanos().unsigned_abs();
        let step = ((step_s * 1e9) as u64).max(1);
        let k = i64::try_from(len.div_ceil(step).max(1)).unwrap_or(i64::MAX);
        if k > MAX_INTERVALS {
            return Err(dataset(
                &self.dir.join("events.csv"),
                format!(
                    "{:.0} s of schedule at {step_s} s steps is {k} intervals, more than the \
                     {MAX_INTERVALS} allowed: use a longer --step-s",
                    len as f64 / 1e9
                ),
            ));
        }
        let step_ns = i64::try_from(len.div_ceil(k as u64)).unwrap_or(i64::MAX);
        Ok(Grid::try_new(range.start(), step_ns, k as usize + 1)?)
    }

    /// Attributes every phase's measured device energy (see the module documentation).
    ///
    /// # Errors
    /// [`Error::Dataset`] when the schedule is empty or `step_s` is not positive; errors of
    /// the store (queries) and of attribution (fits, settlement).
    pub fn attribute(&self, opts: &GpuOptions) -> Result<GpuAttribution, Error> {
        // The whole schedule, whatever the order of its lines.
        let (Some(start), Some(end)) = (
            self.phases.iter().map(|p| p.range.start()).min(),
            self.phases.iter().map(|p| p.range.end()).max(),
        ) else {
            return Err(dataset(&self.dir.join("events.csv"), "no phases"));
        };
        if !(opts.step_s.is_finite() && opts.step_s > 0.0) {
            return Err(dataset(&self.dir, "step_s must be positive"));
        }
        let workloads = self.workloads();
        let widx = |w: &str| workloads.iter().position(|x| x == w).unwrap_or(0);
        let span = TimeRange::try_new(start, end)?;
        let grid = self.grid(span, opts.step_s)?;
        let n = grid.intervals();
        let cells = n.saturating_mul(2 * workloads.len() + 8);
        if cells > MAX_CELLS {
            return Err(dataset(
                &self.dir.join("events.csv"),
                format!(
                    "{n} intervals of {} s × {} workloads need {cells} values, more than the \
                     {MAX_CELLS} allowed: use a longer --step-s, or check the schedule's times",
                    opts.step_s,
                    workloads.len()
                ),
            ));
        }
        let dt = grid.step_ns() as f64 / 1e9;
        let energy = self
            .store
            .increase(&self.energy, &grid, &ResampleOptions::default())?
            .values;
        let power: Vec<f64> = energy.iter().map(|e| e / dt).collect();
        // Per workload and resource, utilization fraction per interval.
        let mut usage = vec![[vec![0.0; n], vec![0.0; n]]; workloads.len()];
        for p in &self.processes {
            let w = widx(&p.workload);
            for (r, key) in [p.sm.as_ref(), p.mem.as_ref()].into_iter().enumerate() {
                for (u, a) in usage[w][r].iter_mut().zip(self.activity(key, &grid, opts)?) {
                    *u += a / dt;
                }
            }
        }
        let activity: Vec<f64> = (0..n)
            .map(|i| usage.iter().map(|u| u[0][i]).sum())
            .collect();
        // An interval is quiet only if no process is alive in it: NVML reports a process's
        // activity late and sparsely, so "no samples" alone does not mean idle.
        let busy: Vec<f64> = (0..n)
            .map(|i| {
                let a = grid.point(i).as_nanos();
                let b = grid.point(i + 1).as_nanos();
                let alive = self
                    .processes
                    .iter()
                    .any(|p| p.start.as_nanos() < b && p.stop.is_none_or(|s| s.as_nanos() > a));
                if alive {
                    activity[i].max(1.0)
                } else {
                    activity[i]
                }
            })
            .collect();
        let floor = calibrate_idle(&power, &busy, &opts.idle).map_err(|e| {
            dataset(
                &self.dir,
                format!(
                    "{e}: the floor is calibrated from intervals where no process of events.csv \
                     runs and nvml_device.csv has energy samples; the recording needs such a \
                     phase"
                ),
            )
        })?;

        // Per-workload signatures: W per unit of SM and memory activity above the floor.
        let mut columns = Vec::new();
        for w in &workloads {
            columns.push((w.clone(), Resource::GpuSm));
            columns.push((w.clone(), Resource::GpuMemory));
        }
        let rows: Vec<usize> = (0..n)
            .filter(|&i| power[i].is_finite() && activity[i] > 0.0)
            .collect();
        let mut x = ndarray::Array2::<f64>::zeros((rows.len(), columns.len()));
        let mut y = ndarray::Array1::<f64>::zeros(rows.len());
        for (k, &i) in rows.iter().enumerate() {
            for (w, u) in usage.iter().enumerate() {
                x[[k, 2 * w]] = u[0][i];
                x[[k, 2 * w + 1]] = u[1][i];
            }
            y[k] = power[i] - floor.floor_w[i];
        }
        let resources: Vec<Resource> = columns.iter().map(|c| c.1).collect();
        let model = ResourceModel::fit_dynamic(&resources, x.view(), y.view())?;
        let mean_dyn = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let key_rel_sigma = if mean_dyn > 0.0 {
            model.rmse_w / mean_dyn
        } else {
            0.0
        };

        let mut phases = Vec::with_capacity(self.phases.len());
        for ph in &self.phases {
            let g = self.grid(ph.range, opts.step_s)?;
            let k = g.intervals();
            let pdt = g.step_ns() as f64 / 1e9;
            let e = self
                .store
                .increase(&self.energy, &g, &ResampleOptions::default())?
                .values;
            let idle_w: Vec<f64> = (0..k)
                .map(|j| {
                    let mid = g.start().as_nanos() + g.step_ns() * j as i64 + g.step_ns() / 2;
                    interpolate(&floor.floor_w, &grid, mid)
                })
                .collect();
            let mut consumers = Vec::new();
            for p in &self.processes {
                let alive_end = p.stop.map_or(i64::MAX, |s| s.as_nanos());
                if p.start.as_nanos() >= ph.range.end().as_nanos()
                    || alive_end <= ph.range.start().as_nanos()
                {
                    continue;
                }
                let w = widx(&p.workload);
                consumers.push(Consumer {
                    workload: w,
                    reservation: 0.0,
                    usage: vec![
                        self.activity(p.sm.as_ref(), &g, opts)?,
                        self.activity(p.mem.as_ref(), &g, opts)?,
                    ],
                    signature: Some(vec![model.coef_w[2 * w], model.coef_w[2 * w + 1]]),
                });
            }
            let meter = MeterInput {
                meter: self.energy.entity.clone(),
                energy_j: e,
                sigma_j: Some(vec![opts.meter_sigma_w * pdt; k]),
                rel_sigma: 0.0,
                idle_w,
                idle_sigma_w: floor.sigma_w,
                resources: [Resource::GpuSm, Resource::GpuMemory]
                    .into_iter()
                    .map(|resource| MeterResource {
                        resource,
                        capacity: 1.0,
                        curve: KeyCurve::Linear { watts_at_full: 1.0 },
                    })
                    .collect(),
                consumers,
                system: None,
                key_rel_sigma,
            };
            let ledger = settle(
                &LedgerInput {
                    start: g.start(),
                    interval_ns: g.step_ns(),
                    workloads: workloads
                        .iter()
                        .map(|w| EntityId::new(w.as_str()))
                        .collect::<Result<_, _>>()?,
                    meters: vec![meter],
                },
                &LedgerOptions::default()
                    .with_policy(opts.policy)
                    .with_confidence(opts.confidence)
                    .with_alignment_s(opts.step_s)
                    .with_keep_intervals(true),
            )?;
            phases.push(GpuPhaseSheet {
                phase: ph.name.clone(),
                ledger,
            });
        }
        Ok(GpuAttribution {
            workloads,
            phases,
            floor,
            model,
            columns,
        })
    }
}

/// Linear interpolation of a per-interval series at time `t` (interval midpoints as knots).
fn interpolate(values: &[f64], grid: &Grid, t: i64) -> f64 {
    let step = grid.step_ns() as f64;
    let pos = (t - grid.start().as_nanos()) as f64 / step - 0.5;
    if values.is_empty() {
        return 0.0;
    }
    let last = values.len() - 1;
    if pos <= 0.0 {
        return values[0];
    }
    let i = (pos.floor() as usize).min(last);
    if i >= last {
        return values[last];
    }
    let f = pos - i as f64;
    values[i] * (1.0 - f) + values[i + 1] * f
}

impl GpuAttribution {
    /// The CSV the `gpu_attribution` example prints: header `phase,account,energy_j,lo_j,hi_j`,
    /// then per phase one row per workload and one per named account (`idle`, `system`,
    /// `unexplained`); energies in joules with six decimals (exact µJ), so each phase's rows
    /// sum to its measured energy exactly.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("phase,account,energy_j,lo_j,hi_j\n");
        let j = |uj: u64| format!("{}.{:06}", uj / 1_000_000, uj % 1_000_000);
        for p in &self.phases {
            let sheet = &p.ledger.meters[0];
            for (w, name) in self.workloads.iter().enumerate() {
                let a = sheet
                    .lines
                    .iter()
                    .find(|l| l.workload == w)
                    .map(|l| l.energy)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    p.phase,
                    name,
                    j(a.uj),
                    j(a.lo_uj),
                    j(a.hi_uj)
                ));
            }
            for acc in Account::ALL {
                let a = sheet.account(acc);
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    p.phase,
                    acc.name(),
                    j(a.uj),
                    j(a.lo_uj),
                    j(a.hi_uj)
                ));
            }
        }
        out
    }

    /// Facility overhead, carbon and cost of every workload and named account over the whole
    /// recording: each phase's per-interval split is apportioned with
    /// [`kelvin_attribution::facility::apportion`] (overhead split by IT share, exact per
    /// interval) and the phases are summed. Rows: the workloads, then the accounts, with
    /// their names.
    ///
    /// # Errors
    /// [`Error::Attribution`] for invalid facility series (a PUE below 1, negative prices).
    pub fn facility(&self, inputs: &FacilityInputs) -> Result<Vec<(String, FacilityShare)>, Error> {
        let names: Vec<String> = self
            .workloads
            .iter()
            .cloned()
            .chain(Account::ALL.iter().map(|a| a.name().to_string()))
            .collect();
        let mut rows: Vec<(String, FacilityShare)> = names
            .into_iter()
            .map(|n| {
                (
                    n,
                    FacilityShare {
                        it_uj: 0,
                        overhead_uj: 0,
                        co2e_g: 0.0,
                        cost: 0.0,
                    },
                )
            })
            .collect();
        for p in &self.phases {
            let sheet = &p.ledger.meters[0];
            let Some(matrix) = sheet.per_interval.as_ref() else {
                continue;
            };
            let bill = apportion(
                p.ledger.window.start(),
                p.ledger.window.len_nanos() / matrix.nrows().max(1) as i64,
                matrix.view(),
                inputs,
            )?;
            // Columns: the sheet's lines (by workload), then the accounts.
            let cols = sheet
                .lines
                .iter()
                .map(|l| l.workload)
                .chain((0..Account::ALL.len()).map(|a| self.workloads.len() + a));
            for (share, row) in bill.accounts.iter().zip(cols) {
                let r = &mut rows[row].1;
                r.it_uj += share.it_uj;
                r.overhead_uj += share.overhead_uj;
                r.co2e_g += share.co2e_g;
                r.cost += share.cost;
            }
        }
        Ok(rows)
    }

    /// The measured energy of a phase, µJ.
    pub fn measured_uj(&self, phase: &str) -> Option<u64> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.ledger.meters[0].measured.uj)
    }

    /// Checks the shared phases against exclusive runs: for each workload in a phase named by
    /// two or more workload letters (`AB`, `ABC`), the dynamic energy attributed to it
    /// against what its solo phase's dynamic energy per unit of work predicts for the work it
    /// did, scaled so the phase's predictions sum to the dynamic energy attributed.
    ///
    /// # Errors
    /// [`Error::NoData`] when a solo phase or work count is missing.
    pub fn validate(&self, rec: &GpuRecording) -> Result<Vec<GpuCheck>, Error> {
        let dynamic = |phase: &str, w: usize| -> Option<f64> {
            let p = self.phases.iter().find(|p| p.phase == phase)?;
            let l = p.ledger.meters[0].lines.iter().find(|l| l.workload == w)?;
            Some(l.dynamic_uj as f64 / 1e6)
        };
        let mut out = Vec::new();
        for p in &self.phases {
            let members: Vec<usize> = p
                .phase
                .chars()
                .filter_map(|c| self.workloads.iter().position(|w| w == &c.to_string()))
                .collect();
            if members.len() < 2 || members.len() != p.phase.chars().count() {
                continue;
            }
            let mut pred = Vec::new();
            for &w in &members {
                let name = &self.workloads[w];
                let solo = format!("solo{name}");
                let solo_dyn = dynamic(&solo, w).ok_or(Error::NoData {
                    what: "solo-phase energy",
                })?;
                let solo_work = *rec
                    .work
                    .get(&format!("{name}_{solo}"))
                    .ok_or(Error::NoData {
                        what: "solo-phase work",
                    })? as f64;
                let work = *rec
                    .work
                    .get(&format!("{name}_{}", p.phase))
                    .ok_or(Error::NoData {
                        what: "shared-phase work",
                    })? as f64;
                pred.push(solo_dyn / solo_work * work);
            }
            let att: Vec<f64> = members
                .iter()
                .map(|&w| dynamic(&p.phase, w).unwrap_or(0.0))
                .collect();
            let scale = att.iter().sum::<f64>() / pred.iter().sum::<f64>();
            for (k, &w) in members.iter().enumerate() {
                out.push(GpuCheck {
                    phase: p.phase.clone(),
                    workload: self.workloads[w].clone(),
                    attributed_j: att[k],
                    predicted_j: pred[k] * scale,
                });
            }
        }
        Ok(out)
    }
}

fn field<'a>(f: &[&'a str], i: usize, path: &Path, line: usize) -> Result<&'a str, Error> {
    f.get(i)
        .copied()
        .ok_or_else(|| dataset(path, format!("line {line}: missing column {}", i + 1)))
}

fn number<T: std::str::FromStr>(s: &str, path: &Path, line: usize) -> Result<T, Error> {
    s.trim()
        .parse()
        .map_err(|_| dataset(path, format!("line {line}: {s:?} is not a number")))
}

type Schedule = (Vec<GpuPhase>, Vec<GpuProcess>);

fn read_events(path: &Path) -> Result<Schedule, Error> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "t_unix_ns,event,label,kind,pid" => {}
        _ => {
            return Err(dataset(
                path,
                "line 1: expected header t_unix_ns,event,label,kind,pid",
            ));
        }
    }
    let mut open: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut phases = Vec::new();
    let mut procs: Vec<GpuProcess> = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').collect();
        let t = Timestamp::from_nanos(number(field(&f, 0, path, line)?, path, line)?);
        let label = field(&f, 2, path, line)?;
        match field(&f, 1, path, line)? {
            "phase_start" => {
                open.insert(label.to_string(), t);
            }
            "phase_end" => {
                let start = open.remove(label).ok_or_else(|| {
                    dataset(
                        path,
                        format!("line {line}: phase {label} ends before it starts"),
                    )
                })?;
                phases.push(GpuPhase {
                    name: label.to_string(),
                    range: TimeRange::try_new(start, t)
                        .map_err(|e| dataset(path, format!("line {line}: {}", e.reason())))?,
                });
            }
            "start" => procs.push(GpuProcess {
                pid: number(field(&f, 4, path, line)?, path, line)?,
                label: label.to_string(),
                workload: label.split('_').next().unwrap_or(label).to_string(),
                start: t,
                stop: None,
                sm: None,
                mem: None,
            }),
            "stop" => {
                let pid: u32 = number(field(&f, 4, path, line)?, path, line)?;
                let p = procs
                    .iter_mut()
                    .rev()
                    .find(|p| p.pid == pid)
                    .ok_or_else(|| {
                        dataset(path, format!("line {line}: stop of unknown pid {pid}"))
                    })?;
                p.stop = Some(t);
            }
            other => {
                return Err(dataset(
                    path,
                    format!("line {line}: unknown event {other:?}"),
                ));
            }
        }
    }
    if let Some((name, _)) = open.into_iter().next() {
        return Err(dataset(path, format!("phase {name} never ends")));
    }
    Ok((phases, procs))
}

fn read_work(path: &Path, work: &mut BTreeMap<String, u64>) -> Result<(), Error> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "t_unix_ns,pid,label,kind,iterations" => {}
        _ => {
            return Err(dataset(
                path,
                "line 1: expected header t_unix_ns,pid,label,kind,iterations",
            ));
        }
    }
    for (i, l) in lines {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').collect();
        let label = field(&f, 2, path, line)?;
        let it: u64 = number(field(&f, 4, path, line)?, path, line)?;
        *work.entry(label.to_string()).or_insert(0) += it;
    }
    Ok(())
}
