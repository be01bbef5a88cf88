//! GPU energy attribution over a recorded NVML capture: [`kelvin_attribution::gpu`] (the
//! method, documented there) wired to a recording's files. A recording is a directory with
//! `nvml_device.csv` and `nvml_process_util.csv` (decoded by [`kelvin_ingest`]'s NVML decoders
//! into a [`Store`]), `events.csv` (the schedule) and optionally `work_<label>.csv` (the work
//! each process completed), both read by [`kelvin_ingest::schedule`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kelvin_attribution::gpu::{self as method, GpuGrid, GpuInput, GpuRun, GpuTelemetry};
use kelvin_ingest::schedule::{read_schedule, read_work, workloads};
use kelvin_ingest::{Context, IngestStats, Normalizer, Quarantined, decode_path};
use kelvin_model::{EntityId, SensorKind, TimeBounds, TimeGate};
use kelvin_store::{Fill, Grid, ResampleOptions, SeriesKey, Store, StoreOptions};

pub use kelvin_attribution::gpu::{
    GpuAttribution, GpuCheck, GpuFit, GpuKey, GpuOptions, GpuPhase, GpuPhaseSheet, share_mae,
};
pub use kelvin_ingest::schedule::Process as GpuProcess;

use crate::Error;

/// A loaded recording.
#[derive(Debug)]
pub struct GpuRecording {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// Phases in schedule order.
    pub phases: Vec<GpuPhase>,
    /// Processes in start order.
    pub processes: Vec<GpuProcess>,
    /// Each process's SM- and memory-utilization series in the store, where NVML reported one.
    pub utilization: Vec<[Option<SeriesKey>; 2]>,
    /// Work completed per run label (`A_AB` → iterations), from `work_*.csv`.
    pub work: BTreeMap<String, u64>,
    /// What the decoders accepted and quarantined.
    pub ingest: IngestStats,
    /// Records the decoders rejected, with place and reason.
    pub quarantine: Vec<Quarantined>,
    /// The device's energy-counter series.
    pub energy: SeriesKey,
    /// The device's SM-clock series (`clocks.sm`), where the capture has one.
    pub sm_clock: Option<SeriesKey>,
    store: Store,
}

impl GpuRecording {
    /// Reads a recording directory. Telemetry records that fail to decode or lie implausibly
    /// far from the rest in time ([`TimeGate`]) are quarantined and counted, not errors.
    ///
    /// # Errors
    /// [`Error::Ingest`] naming the file (and line) of a missing or malformed file or of a
    /// phase far from the telemetry; [`Error::Dataset`] without an energy counter.
    pub fn load(dir: impl AsRef<Path>) -> Result<GpuRecording, Error> {
        let dir = dir.as_ref().to_path_buf();
        let normalizer = Normalizer::builtin();
        let mut store = Store::in_memory(StoreOptions::default());
        let (mut ingest, mut quarantine) = (IngestStats::default(), Vec::new());
        // The device samples come first: their bulk is the recording's time.
        let mut gate = TimeGate::new(TimeBounds::default());
        for name in ["nvml_device.csv", "nvml_process_util.csv"] {
            let (path, source) = (dir.join(name), dir.join(name).display().to_string());
            let mut batch = decode_path(&path, None, &Context::new(source.as_str(), &normalizer))?;
            batch.sift_times(&mut gate, &source, "");
            store.extend(&batch.readings)?;
            ingest.merge(&batch.stats);
            quarantine.extend(batch.quarantine);
        }
        let keys = store.select_keys(None, Some(SensorKind::Energy));
        let path = dir.join("nvml_device.csv").display().to_string();
        let energy = keys.first().map(|k| (*k).clone());
        let energy = energy.ok_or_else(|| Error::dataset(path, "no energy counter"))?;
        let sm_clock = store
            .select_keys(Some(&energy.entity), Some(SensorKind::Frequency))
            .into_iter()
            .find(|k| k.sensor.as_str() == "clocks.sm")
            .cloned();
        let schedule = read_schedule(&dir.join("events.csv"))?;
        schedule.check_times(&gate)?;
        let mut utilization = vec![[None, None]; schedule.processes.len()];
        for key in store.select_keys(None, Some(SensorKind::Utilization)) {
            for (p, keys) in schedule.processes.iter().zip(&mut utilization) {
                if let Some(r) = p.utilization_series(key.entity.as_str(), key.sensor.as_str()) {
                    keys[r] = Some(key.clone());
                }
            }
        }
        let phases = schedule.phases.into_iter();
        Ok(GpuRecording {
            phases: phases.map(|p| GpuPhase::new(p.name, p.range)).collect(),
            processes: schedule.processes,
            utilization,
            work: read_work(&dir)?,
            dir,
            ingest,
            quarantine,
            energy,
            sm_clock,
            store,
        })
    }

    /// Workload names, sorted.
    pub fn workloads(&self) -> Vec<String> {
        workloads(&self.processes)
    }

    /// Attributes every phase's measured device energy with [`method::attribute`].
    ///
    /// # Errors
    /// [`Error::Attribution`] (naming `events.csv` for a schedule without phases, too long at
    /// `step_s` or without quiet intervals); [`Error::Model`] for a workload name that is no
    /// entity id; [`Error::Store`].
    pub fn attribute(&self, opts: &GpuOptions) -> Result<GpuAttribution, Error> {
        let workloads = self.workloads();
        let widx = |p: &GpuProcess| workloads.iter().position(|w| *w == p.workload).unwrap_or(0);
        let runs = self
            .processes
            .iter()
            .map(|p| GpuRun::new(widx(p), p.start, p.stop));
        let ids = workloads.iter().map(EntityId::new);
        let input = GpuInput {
            source: self.dir.join("events.csv").display().to_string(),
            meter: self.energy.entity.clone(),
            workloads: ids.collect::<Result<_, _>>()?,
            runs: runs.collect(),
            phases: self.phases.clone(),
        };
        method::attribute(&input, self, opts)
    }
}

/// The recording's store answers the method on its grids: the energy counter's increase, and
/// each process's utilization integrated (held across gaps of up to `max_gap_s`).
impl GpuTelemetry for GpuRecording {
    type Error = Error;

    fn energy_j(&self, grid: &GpuGrid) -> Result<Vec<f64>, Error> {
        let g = Grid::try_new(grid.start(), grid.step_ns(), grid.intervals() + 1)?;
        let e = self
            .store
            .increase(&self.energy, &g, &ResampleOptions::default())?;
        Ok(e.values)
    }

    fn activity(&self, run: usize, grid: &GpuGrid, max_gap_s: f64) -> Activity {
        let g = Grid::try_new(grid.start(), grid.step_ns(), grid.intervals() + 1)?;
        let r = ResampleOptions::default().with_fill(Fill::Locf);
        let r = r.with_max_gap_ns((max_gap_s * 1e9) as i64);
        let one = |key: &Option<SeriesKey>| match key {
            Some(key) => self.store.integrate(key, &g, &r).map(Some),
            None => Ok(None),
        };
        let [sm, mem] = &self.utilization[run];
        Ok([one(sm)?, one(mem)?])
    }

    /// The `clocks.sm` series averaged over each interval (held across gaps of up to 5 s).
    fn sm_clock_hz(&self, grid: &GpuGrid) -> Result<Option<Vec<f64>>, Error> {
        let Some(key) = &self.sm_clock else {
            return Ok(None);
        };
        let g = Grid::try_new(grid.start(), grid.step_ns(), grid.intervals() + 1)?;
        let r = ResampleOptions::default().with_fill(Fill::Locf);
        let r = r.with_max_gap_ns(5_000_000_000);
        let dt = grid.step_ns() as f64 / 1e9;
        let cycles = self.store.integrate(key, &g, &r)?;
        Ok(Some(cycles.into_iter().map(|c| c / dt).collect()))
    }
}

type Activity = Result<[Option<Vec<f64>>; 2], Error>;
