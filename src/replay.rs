//! Recorded datasets and the replay report.
//!
//! A recorded dataset is a directory written by `kelvin-sim` (or by hand, for real data):
//!
//! | file | required | content |
//! |---|---|---|
//! | `inventory.json` | yes | a [`kelvin_model::Inventory`] |
//! | `workloads.json` | yes | a JSON array of [`kelvin_model::Workload`]; `host: null` = pending |
//! | `metrics.prom` | yes | Prometheus exposition text with millisecond timestamps |
//! | `ground_truth.csv` | no | `workload,host,energy_j,…`: true per-workload energy (simulated data) |
//! | `hosts_truth.csv` | no | `host,energy_j,…`: true per-host wall energy (simulated data) |
//! | `facility_truth.csv` | no | `t_ms,interval_s,it_w,cooling_w,…`: measured facility power |
//! | `captures/index.csv` | no | `file,entity,taken_at_ms`: vendor captures to ingest |
//! | `prometheus_rules.json` | no | extra metric rules ([`kelvin_ingest::RuleSet`]) |
//!
//! Every file is untrusted: read only when it is a regular file within a size limit
//! ([`MAX_DATASET_FILE_BYTES`]; captures within the ingest limit), checked field by field,
//! with errors naming the file, the line or field and the likely cause.
//!
//! [`replay`] runs a dataset through an [`Engine`] and returns a [`ReplayReport`] whose
//! `Display` is the text the `replay` example prints.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use kelvin_ingest::{IngestStats, Quarantined, Reason};
use kelvin_model::{EntityId, TimeRange, Workload};
use kelvin_placement::Plan;

use kelvin_attribution::{Account, AttributionPolicy, Ledger, LedgerOptions};

use crate::{Batch, Engine, Error, PlaceOptions};

mod dataset;

use dataset::dataset_err;
pub use dataset::{
    CaptureFile, FacilitySample, HostTruth, MAX_DATASET_FILE_BYTES, MAX_IN_MEMORY_METRICS_BYTES,
    RecordedDataset, TruthRow, read_text_file,
};

/// One workload's line in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadLine {
    /// The workload.
    pub workload: EntityId,
    /// Its tenant.
    pub tenant: String,
    /// Its host.
    pub host: EntityId,
    /// Attributed energy, µJ.
    pub energy_uj: u64,
    /// The part of it from the host's idle floor (its reservation), µJ.
    pub static_uj: u64,
    /// The part of it from activity, µJ.
    pub dynamic_uj: u64,
    /// Lower end of its 95 % interval, µJ.
    pub lo_uj: u64,
    /// Upper end of its 95 % interval, µJ.
    pub hi_uj: u64,
    /// Attributed / the host's measured energy.
    pub share_of_host: f64,
    /// Ground truth for this workload, when the dataset has it.
    pub truth: Option<TruthRow>,
}

impl WorkloadLine {
    /// Attributed energy, joules.
    pub fn energy_j(&self) -> f64 {
        self.energy_uj as f64 / 1e6
    }

    /// Relative error against the same policy — the report's, the two-part tariff — applied
    /// to the true per-second data (the truth's `energy_j`): what measurement (sampling,
    /// noise, quantization, gaps, resets) and the calibrated idle floor cost.
    pub fn measurement_error(&self) -> Option<f64> {
        let t = self
            .truth
            .as_ref()
            .map(|t| t.energy_j)
            .filter(|t| *t > 0.0)?;
        Some((self.energy_j() - t) / t)
    }

    /// Relative difference against the `cpu_share` truth (Kelvin 0.1's policy, the whole host
    /// energy by CPU-time share, on the true data): what the policy choice changes.
    pub fn policy_gap(&self) -> Option<f64> {
        let t = self.truth.as_ref()?.cpu_share_j.filter(|t| *t > 0.0)?;
        Some((self.energy_j() - t) / t)
    }
}

/// Options of [`replay_with`]; [`ReplayOptions::default`] is what [`replay`] uses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// PUE for the facility overhead when the dataset measures none: default 1.58, the mean
    /// annual PUE reported by the Uptime Institute's 2023 global data-center survey.
    pub pue: f64,
    /// Grid carbon intensity, gCO2e per kWh; `None` (the default) prints no carbon figure.
    pub carbon_g_per_kwh: Option<f64>,
    /// Inlet temperature above which a host is a hot spot, °C: default 27, the top of ASHRAE's
    /// recommended envelope.
    pub redline_c: f64,
    /// Search rounds behind the placement recommendation: a round limit (default 2,000), not
    /// a time limit, so the report is the same on every machine.
    pub optimize_rounds: u64,
    /// Relative standard uncertainty of the power meters, for the intervals: default 0.02 (a
    /// BMC reading good to about ±2 %, an assumption).
    pub meter_rel_sigma: f64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            pue: 1.58,
            carbon_g_per_kwh: None,
            redline_c: 27.0,
            optimize_rounds: 2_000,
            meter_rel_sigma: 0.02,
        }
    }
}

impl ReplayOptions {
    /// Sets [`ReplayOptions::pue`].
    pub fn with_pue(mut self, pue: f64) -> Self {
        self.pue = pue;
        self
    }
    /// Sets [`ReplayOptions::carbon_g_per_kwh`].
    pub fn with_carbon_g_per_kwh(mut self, g: Option<f64>) -> Self {
        self.carbon_g_per_kwh = g;
        self
    }
}

/// Energy of a group of workloads (a tenant, or the workloads of a rack's hosts).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLine {
    /// The tenant or rack.
    pub name: String,
    /// Attributed IT energy, µJ.
    pub energy_uj: u128,
    /// Sum of the members' lower bounds, µJ (a conservative 95 % bound).
    pub lo_uj: u128,
    /// Sum of the members' upper bounds, µJ.
    pub hi_uj: u128,
    /// Its share of the facility overhead, joules (IT × (PUE − 1)).
    pub overhead_j: f64,
    /// gCO2e of IT plus overhead, when an intensity is known.
    pub carbon_g: Option<f64>,
}

/// The facility around the IT load.
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityLine {
    /// Measured IT energy, joules.
    pub it_j: f64,
    /// PUE applied.
    pub pue: f64,
    /// Whether it comes from the dataset's facility series (else it is assumed).
    pub pue_measured: bool,
    /// Cooling, distribution and other overhead, joules.
    pub overhead_j: f64,
    /// gCO2e of the whole, when an intensity is known.
    pub carbon_g: Option<f64>,
}

/// A host's inlet temperature over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct HotSpot {
    /// The host.
    pub host: EntityId,
    /// Its rack.
    pub rack: EntityId,
    /// Mean inlet temperature, °C.
    pub mean_c: f64,
    /// Highest inlet temperature, °C.
    pub max_c: f64,
}

/// One change the optimizer recommends.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// The workload.
    pub workload: EntityId,
    /// Where it runs now (`None` for a pending workload).
    pub from: Option<EntityId>,
    /// Where it should run.
    pub to: EntityId,
}

/// What moving workloads would save, from [`Engine::optimize`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The changes, running workloads first.
    pub moves: Vec<Move>,
    /// Facility watts predicted for today's placement plus first fit for the pending ones.
    pub before_w: f64,
    /// Facility watts predicted after the recommended changes.
    pub after_w: f64,
    /// The lower bound on facility watts for this load.
    pub bound_w: f64,
    /// Hosts running work before and after.
    pub hosts_before: usize,
    /// Hosts running work after.
    pub hosts_after: usize,
    /// Pending workloads that fit nowhere.
    pub unplaced: usize,
}

impl Recommendation {
    /// Watts saved.
    pub fn saving_w(&self) -> f64 {
        self.before_w - self.after_w
    }
}

/// Time series behind the charts, on the attribution grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSeries {
    /// Start of the first interval.
    pub start: kelvin_model::Timestamp,
    /// Interval length, seconds.
    pub interval_s: f64,
    /// Per workload, the power the report's policy bills it in each interval (its line of the
    /// ledger's per-interval split), watts; NaN where the host was not measured.
    pub workload_w: Vec<(EntityId, Vec<f64>)>,
    /// Per rack, the mean inlet temperature per interval, °C; NaN where no sample fell.
    pub rack_inlet_c: Vec<(EntityId, Vec<f64>)>,
}

/// Everything the replay found, ready to print.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Dataset name.
    pub dataset: String,
    /// Hosts in the inventory.
    pub hosts: usize,
    /// The attributed window.
    pub window: TimeRange,
    /// Attribution interval, seconds.
    pub interval_s: f64,
    /// Ingestion counts.
    pub ingest: IngestStats,
    /// First quarantined record per reason.
    pub quarantine_examples: BTreeMap<Reason, Quarantined>,
    /// Counter resets detected.
    pub counter_resets: usize,
    /// The bill: the settled ledger, one balance sheet per host, under the default policy
    /// (the two-part tariff, reservations from the workloads' requested cores).
    pub bill: Ledger,
    /// What the policy bills, for the report's heading.
    pub policy_description: String,
    /// Per-workload lines, in bill order.
    pub workloads: Vec<WorkloadLine>,
    /// Pending workloads that were placed.
    pub pending: Vec<Workload>,
    /// The placement plan for them.
    pub plan: Plan,
    /// Energy by tenant.
    pub tenants: Vec<GroupLine>,
    /// Energy by rack.
    pub racks: Vec<GroupLine>,
    /// Facility overhead and carbon.
    pub facility: FacilityLine,
    /// Hosts by highest inlet temperature (hosts with an inlet sensor).
    pub hot_spots: Vec<HotSpot>,
    /// The inlet redline the hot spots are judged against, °C.
    pub redline_c: f64,
    /// The optimizer's recommendation (`None` when the engine could not build a problem).
    pub recommendation: Option<Recommendation>,
    /// Series for charts.
    pub series: ReportSeries,
    /// True wall energy per host from `hosts_truth.csv`, joules, when the dataset has it.
    pub host_truth_j: BTreeMap<EntityId, f64>,
}

/// Replays a dataset: ingest, attribute over the whole recording, place the pending workloads.
///
/// # Errors
/// [`Error::NoData`] when nothing usable was ingested; otherwise the engine's errors.
pub fn replay(ds: &RecordedDataset) -> Result<ReplayReport, Error> {
    replay_with(ds, &ReplayOptions::default())
}

/// [`replay`] with options: facility PUE, carbon intensity, redline, search rounds and meter
/// uncertainty.
///
/// # Errors
/// As [`replay`].
pub fn replay_with(ds: &RecordedDataset, opts: &ReplayOptions) -> Result<ReplayReport, Error> {
    replay_with_progress(ds, opts, &mut |_, _| {})
}

/// [`replay_with`], calling `progress(bytes_read, records_seen)` as a streamed metrics file
/// is ingested (see [`RecordedDataset::open`]).
///
/// # Errors
/// As [`replay`].
pub fn replay_with_progress(
    ds: &RecordedDataset,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ReplayReport, Error> {
    let (running, pending): (Vec<Workload>, Vec<Workload>) =
        ds.workloads.iter().cloned().partition(|w| w.host.is_some());
    let mut rules = kelvin_ingest::RuleSet::builtin();
    if let Some(extra) = dataset::extra_rules(ds)? {
        for rule in extra.rules() {
            rules.add(rule.clone())?;
        }
    }
    let mut engine = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(running)
        .rules(rules)
        .build()?;
    match &ds.metrics_file {
        Some(path) => {
            // Streamed, so any size; but only a regular file (a FIFO would block the replay).
            let (file, _) = kelvin_guard::file::open(path, None)
                .map_err(|e| dataset_err(&path.display().to_string(), e.detail()))?;
            let reader = std::io::BufReader::with_capacity(1 << 20, file);
            engine.ingest_prometheus_reader("metrics.prom", reader, &mut *progress)?;
        }
        None => {
            engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
        }
    }
    let capture_limit = kelvin_ingest::Limits::default().max_input_bytes as u64;
    for c in &ds.captures {
        let text = read_text_file(&c.path, capture_limit)?;
        engine.ingest(Batch::capture(
            c.name.clone(),
            text,
            c.entity.clone(),
            c.taken_at,
        ))?;
    }
    let window = engine
        .data_span()
        .ok_or_else(|| nothing_accepted(&engine))?;
    let mut aligned = engine.aligned(window)?;
    for h in &mut aligned.input.hosts {
        h.meter_rel_sigma = opts.meter_rel_sigma;
    }
    // The default policy; the per-interval split feeds the power chart.
    let ledger_opts = LedgerOptions::default().with_keep_intervals(true);
    let bill = kelvin_attribution::attribute(&aligned.input, &ledger_opts)?;
    let plan = engine.place(&pending, &PlaceOptions::default())?;

    let mut quarantine_examples = BTreeMap::new();
    for q in engine.quarantine() {
        quarantine_examples
            .entry(q.reason)
            .or_insert_with(|| q.clone());
    }
    let workloads = workload_lines(&engine, &bill, &ds.truth);
    let it_j = j(bill.measured_uj());
    // PUE from the dataset's facility series over the window when it has one (energy
    // weighted), else the assumed one.
    let (mut fac_it, mut fac_over) = (0.0, 0.0);
    for f in &ds.facility {
        if window.contains(f.start) {
            fac_it += f.it_w * f.interval_s;
            fac_over += f.overhead_w * f.interval_s;
        }
    }
    let (pue, pue_measured) = if fac_it > 0.0 {
        (1.0 + fac_over / fac_it, true)
    } else {
        (opts.pue, false)
    };
    let facility = FacilityLine {
        it_j,
        pue,
        pue_measured,
        overhead_j: it_j * (pue - 1.0),
        carbon_g: opts.carbon_g_per_kwh.map(|g| it_j * pue / 3.6e6 * g),
    };
    let group = |name: String, members: &[&WorkloadLine]| {
        let energy_uj: u128 = members.iter().map(|w| w.energy_uj as u128).sum();
        let e_j = j(energy_uj);
        GroupLine {
            name,
            energy_uj,
            lo_uj: members.iter().map(|w| w.lo_uj as u128).sum(),
            hi_uj: members.iter().map(|w| w.hi_uj as u128).sum(),
            overhead_j: e_j * (pue - 1.0),
            carbon_g: opts.carbon_g_per_kwh.map(|g| e_j * pue / 3.6e6 * g),
        }
    };
    let rack_names: std::collections::HashMap<&EntityId, &EntityId> = engine
        .inventory()
        .hosts
        .iter()
        .map(|h| (&h.id, &h.rack))
        .collect();
    let mut by_tenant: BTreeMap<&str, Vec<&WorkloadLine>> = BTreeMap::new();
    let mut by_rack: BTreeMap<String, Vec<&WorkloadLine>> = BTreeMap::new();
    for w in &workloads {
        by_tenant.entry(w.tenant.as_str()).or_default().push(w);
        let rack = rack_names
            .get(&w.host)
            .map_or_else(|| "?".to_string(), |r| r.to_string());
        by_rack.entry(rack).or_default().push(w);
    }
    let tenants = by_tenant
        .iter()
        .map(|(t, m)| group((*t).to_string(), m))
        .collect();
    let racks = by_rack.iter().map(|(r, m)| group(r.clone(), m)).collect();
    let hot_spots = hot_spots(&engine, window)?;
    let series = report_series(&engine, &aligned.input, &bill)?;
    let recommendation = recommend(&engine, &pending, opts.optimize_rounds).ok();
    Ok(ReplayReport {
        dataset: ds.name.clone(),
        hosts: ds.inventory.hosts.len(),
        window: bill.window,
        interval_s: aligned.input.interval_ns as f64 / 1e9,
        ingest: engine.ingest_stats().clone(),
        quarantine_examples,
        counter_resets: aligned.counter_resets,
        policy_description: ledger_opts.policy.description().to_string(),
        bill,
        workloads,
        pending,
        plan,
        tenants,
        racks,
        facility,
        hot_spots,
        redline_c: opts.redline_c,
        recommendation,
        series,
        host_truth_j: ds
            .host_truth
            .iter()
            .map(|t| (t.host.clone(), t.energy_j))
            .collect(),
    })
}

/// The bill's lines, one per workload, with tenant, share of the host and ground truth.
fn workload_lines(engine: &Engine, bill: &Ledger, truth: &[TruthRow]) -> Vec<WorkloadLine> {
    let truth: BTreeMap<&EntityId, &TruthRow> = truth.iter().map(|t| (&t.workload, t)).collect();
    let tenants_of: std::collections::HashMap<&EntityId, &str> = engine
        .inventory()
        .workloads
        .iter()
        .map(|w| (&w.id, w.tenant.as_str()))
        .collect();
    bill.lines()
        .map(|(h, l)| {
            let workload = bill.workload_of(l);
            WorkloadLine {
                workload: workload.clone(),
                tenant: tenants_of
                    .get(workload)
                    .map(|t| (*t).to_string())
                    .unwrap_or_default(),
                host: h.meter.clone(),
                energy_uj: l.energy.uj,
                static_uj: l.static_uj,
                dynamic_uj: l.dynamic_uj,
                lo_uj: l.energy.lo_uj,
                hi_uj: l.energy.hi_uj,
                share_of_host: if h.measured.uj > 0 {
                    l.energy.uj as f64 / h.measured.uj as f64
                } else {
                    0.0
                },
                truth: truth.get(workload).map(|t| (*t).clone()),
            }
        })
        .collect()
}

/// The error of a replay that kept nothing: the counts by reason and the first quarantined
/// records, so the user sees why without another run.
fn nothing_accepted(engine: &Engine) -> Error {
    let stats = engine.ingest_stats();
    if stats.seen == 0 {
        return Error::NoData {
            what: "records in metrics.prom (the file holds no samples)",
        };
    }
    let reasons: Vec<String> = stats
        .by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let mut summary = format!(
        "{} records seen, {} accepted, {} quarantined ({})",
        stats.seen,
        stats.accepted,
        stats.quarantined,
        reasons.join(", ")
    );
    for q in engine.quarantine().iter().take(3) {
        let _ = write!(summary, "; {}: {} ({})", q.place, q.reason, q.detail);
    }
    Error::NothingAccepted {
        source_name: "metrics.prom".to_string(),
        summary,
    }
}

/// Per-workload power (from the bill's per-interval split) and per-rack inlet temperature on
/// the attribution grid.
fn report_series(
    engine: &Engine,
    input: &kelvin_attribution::AlignedInput,
    bill: &Ledger,
) -> Result<ReportSeries, Error> {
    let n = input.intervals();
    let dt = input.interval_ns as f64 / 1e9;
    let mut workload_w = Vec::new();
    for (h, sheet) in input.hosts.iter().zip(&bill.meters) {
        let Some(split) = &sheet.per_interval else {
            continue;
        };
        for (l, line) in sheet.lines.iter().enumerate() {
            let watts = (0..n)
                .map(|i| {
                    if h.energy_j[i].is_nan() {
                        f64::NAN
                    } else {
                        split[[i, l]] as f64 / 1e6 / dt
                    }
                })
                .collect();
            workload_w.push((bill.workload_of(line).clone(), watts));
        }
    }
    let store = engine.store();
    let start_ns = input.start.as_nanos();
    let end_ns = start_ns + input.interval_ns * n as i64;
    let rack_of: std::collections::HashMap<&EntityId, &EntityId> = engine
        .inventory()
        .hosts
        .iter()
        .map(|h| (&h.id, &h.rack))
        .collect();
    let mut sums: BTreeMap<&EntityId, (Vec<f64>, Vec<u32>)> = BTreeMap::new();
    for (id, k) in store.series() {
        let Some(rack) = rack_of.get(&k.entity) else {
            continue;
        };
        if k.kind != kelvin_model::SensorKind::Temperature
            || !k.sensor.as_str().to_ascii_lowercase().contains("inlet")
        {
            continue;
        }
        let (sum, count) = sums
            .entry(*rack)
            .or_insert_with(|| (vec![0.0; n], vec![0u32; n]));
        let data = store.scan(id, start_ns, end_ns)?;
        for (t, v) in data.ts.iter().zip(&data.values) {
            let i = ((t - start_ns) / input.interval_ns) as usize;
            if i < n && v.is_finite() {
                sum[i] += v;
                count[i] += 1;
            }
        }
    }
    let mut rack_inlet_c = Vec::new();
    for rack in &engine.inventory().racks {
        if let Some((sum, count)) = sums.get(&rack.id) {
            let mean = sum
                .iter()
                .zip(count)
                .map(|(s, c)| if *c > 0 { s / f64::from(*c) } else { f64::NAN })
                .collect();
            rack_inlet_c.push((rack.id.clone(), mean));
        }
    }
    Ok(ReportSeries {
        start: input.start,
        interval_s: dt,
        workload_w,
        rack_inlet_c,
    })
}

fn finite(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::Null
    }
}

impl ReplayReport {
    /// A host's measured energy against its true energy (`hosts_truth.csv`), relative: what
    /// metering and integration cost (sampling, noise, dropouts, wraps), before attribution.
    pub fn host_error(&self, h: &kelvin_attribution::MeterSheet) -> Option<f64> {
        let t = *self.host_truth_j.get(&h.meter)?;
        (t > 0.0).then(|| (j(h.measured.uj.into()) - t) / t)
    }

    /// Energy-weighted and worst host error against `hosts_truth.csv`, with the worst host.
    fn host_errors(&self) -> Option<(f64, f64, &EntityId, usize)> {
        let errs: Vec<(&EntityId, f64, f64)> = self
            .bill
            .meters
            .iter()
            .filter_map(|h| Some((&h.meter, self.host_error(h)?, self.host_truth_j[&h.meter])))
            .collect();
        let total: f64 = errs.iter().map(|e| e.2).sum();
        let weighted = errs.iter().map(|e| (e.1 * e.2).abs()).sum::<f64>() / total;
        let worst = errs.iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
        Some((weighted, worst.1, worst.0, errs.len()))
    }

    /// The report as JSON: every figure of the text report, machine-readable (energies in
    /// joules, powers in watts, temperatures in °C; `null` where a value is unknown).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let r = self;
        let workloads: Vec<_> = r
            .workloads
            .iter()
            .map(|w| {
                json!({
                    "workload": w.workload.as_str(),
                    "tenant": w.tenant,
                    "host": w.host.as_str(),
                    "energy_j": w.energy_j(),
                    "static_j": w.static_uj as f64 / 1e6,
                    "dynamic_j": w.dynamic_uj as f64 / 1e6,
                    "lo_j": w.lo_uj as f64 / 1e6,
                    "hi_j": w.hi_uj as f64 / 1e6,
                    "share_of_host": w.share_of_host,
                    "truth_cpu_share_j": w.truth.as_ref().and_then(|t| t.cpu_share_j),
                    "truth_two_part_j": w.truth.as_ref().map(|t| t.energy_j),
                    "measurement_error": w.measurement_error(),
                    "policy_gap": w.policy_gap(),
                })
            })
            .collect();
        let group = |g: &GroupLine| {
            json!({
                "name": g.name,
                "energy_j": j(g.energy_uj),
                "lo_j": j(g.lo_uj),
                "hi_j": j(g.hi_uj),
                "overhead_j": g.overhead_j,
                "carbon_g": g.carbon_g,
            })
        };
        let hosts: Vec<_> = r
            .bill
            .meters
            .iter()
            .map(|h| {
                json!({
                    "host": h.meter.as_str(),
                    "measured_j": j(h.measured.uj.into()),
                    "floor_j": j(h.floor_uj.into()),
                    "attributed_j": j(h.attributed_uj()),
                    "unattributed_j": j(h.unattributed_uj()),
                    "idle_j": j(h.account(Account::Idle).uj.into()),
                    "system_j": j(h.account(Account::System).uj.into()),
                    "unexplained_j": j(h.account(Account::Unexplained).uj.into()),
                    "balanced": h.is_balanced(),
                    "intervals": h.intervals,
                    "unmeasured_intervals": h.unmeasured_intervals,
                    "truth_j": r.host_truth_j.get(&h.meter),
                    "meter_error": r.host_error(h),
                })
            })
            .collect();
        let quarantine: serde_json::Map<String, serde_json::Value> = r
            .ingest
            .by_reason
            .iter()
            .map(|(reason, n)| {
                let ex = r.quarantine_examples.get(reason);
                (
                    reason.to_string(),
                    json!({
                        "count": n,
                        "example_place": ex.map(|q| q.place.to_string()),
                        "example_detail": ex.map(|q| q.detail.to_string()),
                    }),
                )
            })
            .collect();
        json!({
            "dataset": r.dataset,
            "window": {
                "start": r.window.start().to_rfc3339(),
                "end": r.window.end().to_rfc3339(),
                "interval_s": r.interval_s,
            },
            "hosts": r.hosts,
            "policy": {
                "name": r.bill.policy,
                "description": r.policy_description,
                "measurement_error_against": "truth_two_part_j",
                "policy_gap_against": "truth_cpu_share_j",
            },
            "ingest": {
                "seen": r.ingest.seen,
                "accepted": r.ingest.accepted,
                "quarantined": r.ingest.quarantined,
                "by_reason": quarantine,
                "counter_resets": r.counter_resets,
            },
            "balance": {
                "measured_j": j(r.bill.measured_uj()),
                "attributed_j": j(r.bill.attributed_uj()),
                "unattributed_j": j(r.bill.unattributed_uj()),
                "idle_j": j(r.bill.account_total_uj(Account::Idle)),
                "system_j": j(r.bill.account_total_uj(Account::System)),
                "unexplained_j": j(r.bill.account_total_uj(Account::Unexplained)),
                "conserved": r.bill.measured_uj() == r.bill.attributed_uj() + r.bill.unattributed_uj(),
                "hosts": hosts,
            },
            "workloads": workloads,
            "tenants": r.tenants.iter().map(group).collect::<Vec<_>>(),
            "racks": r.racks.iter().map(group).collect::<Vec<_>>(),
            "facility": {
                "it_j": r.facility.it_j,
                "pue": r.facility.pue,
                "pue_measured": r.facility.pue_measured,
                "overhead_j": r.facility.overhead_j,
                "carbon_g": r.facility.carbon_g,
            },
            "thermal": {
                "redline_c": r.redline_c,
                "hosts": r.hot_spots.iter().map(|h| json!({
                    "host": h.host.as_str(),
                    "rack": h.rack.as_str(),
                    "max_c": finite(h.max_c),
                    "mean_c": finite(h.mean_c),
                })).collect::<Vec<_>>(),
            },
            "placement": {
                "assignments": r.plan.assignments.iter().map(|a| json!({
                    "workload": a.workload.as_str(),
                    "host": a.host.as_str(),
                    "marginal_power_w": a.score.marginal_power_w,
                })).collect::<Vec<_>>(),
                "unplaced": r.plan.unplaced.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            },
            "recommendation": r.recommendation.as_ref().map(|rec| json!({
                "moves": rec.moves.iter().map(|m| json!({
                    "workload": m.workload.as_str(),
                    "from": m.from.as_ref().map(|h| h.as_str()),
                    "to": m.to.as_str(),
                })).collect::<Vec<_>>(),
                "before_w": rec.before_w,
                "after_w": rec.after_w,
                "saving_w": rec.saving_w(),
                "bound_w": rec.bound_w,
                "hosts_before": rec.hosts_before,
                "hosts_after": rec.hosts_after,
                "unplaced": rec.unplaced,
            })),
        })
    }
}

/// Inlet temperatures per host: every temperature series whose sensor name says "inlet".
fn hot_spots(engine: &Engine, window: TimeRange) -> Result<Vec<HotSpot>, Error> {
    let store = engine.store();
    // One pass over the series: (Σ, n, max) per host with an inlet sensor.
    let mut acc: BTreeMap<&EntityId, (f64, u64, f64)> = BTreeMap::new();
    for (id, k) in store.series() {
        if k.kind != kelvin_model::SensorKind::Temperature
            || !k.sensor.as_str().to_ascii_lowercase().contains("inlet")
        {
            continue;
        }
        let a = store.aggregate(id, window.start().as_nanos(), window.end().as_nanos())?;
        if a.count > 0 && a.max.is_finite() {
            let e = acc.entry(&k.entity).or_insert((0.0, 0, f64::NEG_INFINITY));
            e.0 += a.sum;
            e.1 += a.count;
            e.2 = e.2.max(a.max);
        }
    }
    let mut out: Vec<HotSpot> = engine
        .inventory()
        .hosts
        .iter()
        .filter_map(|h| {
            let (sum, n, max_c) = acc.get(&h.id)?;
            Some(HotSpot {
                host: h.id.clone(),
                rack: h.rack.clone(),
                mean_c: sum / *n as f64,
                max_c: *max_c,
            })
        })
        .collect();
    out.sort_by(|a, b| b.max_c.total_cmp(&a.max_c).then(a.host.cmp(&b.host)));
    Ok(out)
}

/// The fleet optimizer's recommendation, against today's placement plus first fit.
fn recommend(engine: &Engine, pending: &[Workload], rounds: u64) -> Result<Recommendation, Error> {
    use kelvin_placement::fleet::SolveOptions;
    let opts = SolveOptions::default()
        .with_rounds(rounds)
        .with_time_limit_ms(None);
    let out = engine.optimize(pending, &opts)?;
    let p = &out.problem;
    let before_eval = &out.first_fit;
    let sol = &out.solution;
    let mut moves: Vec<Move> = Vec::new();
    for (t, task) in p.tasks.iter().enumerate() {
        let to = sol.host_of[t];
        if to != task.current
            && let Some(to) = to
        {
            moves.push(Move {
                workload: task.id.clone(),
                from: task.current.map(|h| p.hosts[h].id.clone()),
                to: p.hosts[to].id.clone(),
            });
        }
    }
    Ok(Recommendation {
        moves,
        before_w: before_eval.facility_w(),
        after_w: sol.evaluation.facility_w(),
        bound_w: sol.bound.facility_w,
        hosts_before: before_eval.hosts_awake,
        hosts_after: sol.evaluation.hosts_awake,
        unplaced: sol.evaluation.unplaced,
    })
}

fn j(uj: u128) -> f64 {
    uj as f64 / 1e6
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        let secs = r.window.len_nanos() as f64 / 1e9;
        writeln!(f, "Kelvin replay: dataset {}", r.dataset)?;
        writeln!(
            f,
            "window {} .. {} ({secs:.0} s, {} intervals of {:.0} s), {} hosts, {} workloads billed",
            r.window.start().to_rfc3339(),
            r.window.end().to_rfc3339(),
            r.bill.meters.first().map_or(0, |h| h.intervals),
            r.interval_s,
            r.hosts,
            r.workloads.len()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Ingest: {} records seen = {} accepted + {} quarantined; {} counter reset(s) handled",
            r.ingest.seen, r.ingest.accepted, r.ingest.quarantined, r.counter_resets
        )?;
        for (reason, n) in &r.ingest.by_reason {
            match r.quarantine_examples.get(reason) {
                Some(q) => writeln!(f, "  {reason:<18} {n:>6}  e.g. {}: {}", q.place, q.detail)?,
                None => writeln!(f, "  {reason:<18} {n:>6}")?,
            }
        }
        r.fmt_workloads(f)?;
        r.fmt_balance(f)?;
        writeln!(f)?;
        writeln!(
            f,
            "Placement of {} pending workloads (first-fit decreasing on CPU and memory, most efficient hosts first)",
            r.pending.len()
        )?;
        writeln!(
            f,
            "{:<12} {:>6} {:>8}  {:<12} {:>9} {:>9} {:>9}",
            "workload", "cpu", "mem_GiB", "host", "+W_est", "cpu_after", "mem_after"
        )?;
        for a in &r.plan.assignments {
            let w = r.pending.iter().find(|w| w.id == a.workload);
            let (cpu, mem) = w.map_or((0.0, 0), |w| {
                (w.requests.cpu_cores, w.requests.memory_bytes)
            });
            let watts = a
                .score
                .marginal_power_w
                .map_or_else(|| "-".to_string(), |p| format!("{p:.1}"));
            let mut mem_s = String::new();
            let _ = write!(mem_s, "{:.0}", mem as f64 / (1u64 << 30) as f64);
            writeln!(
                f,
                "{:<12} {:>6.1} {:>8}  {:<12} {:>9} {:>8.0}% {:>8.0}%",
                a.workload.as_str(),
                cpu,
                mem_s,
                a.host.as_str(),
                watts,
                100.0 * a.score.cpu_utilization_after,
                100.0 * a.score.memory_utilization_after
            )?;
        }
        for u in &r.plan.unplaced {
            writeln!(f, "unplaced: {u}")?;
        }
        let added: f64 = r
            .plan
            .assignments
            .iter()
            .filter_map(|a| a.score.marginal_power_w)
            .sum();
        writeln!(
            f,
            "estimated added power {added:.1} W; hosts in use {} (lower bound {})",
            r.plan.hosts_used, r.plan.lower_bound_hosts
        )?;
        r.fmt_groups(f)?;
        r.fmt_thermal(f)?;
        r.fmt_recommendation(f)
    }
}

fn wh(uj: u128) -> f64 {
    j(uj) / 3600.0
}

impl ReplayReport {
    /// The energy-by-workload table, with both truths: the error against the same policy's
    /// truth and the gap against the `cpu_share` truth.
    fn fmt_workloads(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f)?;
        writeln!(
            f,
            "Energy by workload (policy {}: {}; reservation = requested cores / host cores)",
            r.bill.policy, r.policy_description
        )?;
        writeln!(
            f,
            "{:<12} {:<10} {:<12} {:>12} {:>8} {:>7} {:>12} {:>8} {:>12} {:>8}  95%_J",
            "workload",
            "tenant",
            "host",
            "energy_J",
            "Wh",
            "share",
            "truth_tp_J",
            "error",
            "truth_cs_J",
            "gap",
        )?;
        let pct =
            |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{:+.1}%", 100.0 * x));
        let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.0}"));
        for w in &r.workloads {
            let e = w.energy_j();
            writeln!(
                f,
                "{:<12} {:<10} {:<12} {:>12.1} {:>8.2} {:>6.1}% {:>12} {:>8} {:>12} {:>8}  {:.0}..{:.0}",
                w.workload.as_str(),
                w.tenant,
                w.host.as_str(),
                e,
                e / 3600.0,
                100.0 * w.share_of_host,
                num(w.truth.as_ref().map(|t| t.energy_j)),
                pct(w.measurement_error()),
                num(w.truth.as_ref().and_then(|t| t.cpu_share_j)),
                pct(w.policy_gap()),
                w.lo_uj as f64 / 1e6,
                w.hi_uj as f64 / 1e6,
            )?;
        }
        let mut tenants: BTreeMap<&str, u128> = BTreeMap::new();
        for w in &r.workloads {
            *tenants.entry(w.tenant.as_str()).or_default() += w.energy_uj as u128;
        }
        let line: Vec<String> = tenants
            .iter()
            .map(|(t, e)| format!("{t} {:.1} Wh", j(*e) / 3600.0))
            .collect();
        writeln!(f, "by tenant: {}", line.join(", "))
    }

    /// The balance of every host and of the whole, the named accounts, and the errors against
    /// the ground truth.
    fn fmt_balance(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f)?;
        writeln!(
            f,
            "Energy balance by host (measured = attributed + unattributed, exact in µJ)"
        )?;
        writeln!(
            f,
            "{:<12} {:>14} {:>14} {:>14} {:>8} {:>10}",
            "host", "measured_J", "attributed_J", "unattrib_J", "balance", "unmeasured"
        )?;
        for h in &r.bill.meters {
            writeln!(
                f,
                "{:<12} {:>14.3} {:>14.3} {:>14.3} {:>8} {:>10}",
                h.meter.as_str(),
                j(h.measured.uj.into()),
                j(h.attributed_uj()),
                j(h.unattributed_uj()),
                if h.is_balanced() { "exact" } else { "BROKEN" },
                format!("{}/{}", h.unmeasured_intervals, h.intervals)
            )?;
        }
        let (m, a, u) = (
            r.bill.measured_uj(),
            r.bill.attributed_uj(),
            r.bill.unattributed_uj(),
        );
        writeln!(
            f,
            "total: measured {:.3} J = attributed {:.3} J + unattributed {:.3} J ({})",
            j(m),
            j(a),
            j(u),
            if m == a + u {
                "conserved"
            } else {
                "NOT conserved"
            }
        )?;
        writeln!(
            f,
            "unattributed: idle {:.3} J (the idle floor nobody reserved), system {:.3} J, unexplained {:.3} J",
            j(r.bill.account_total_uj(Account::Idle)),
            j(r.bill.account_total_uj(Account::System)),
            j(r.bill.account_total_uj(Account::Unexplained)),
        )?;
        if let Some((weighted, worst, host, n)) = r.host_errors() {
            writeln!(
                f,
                "Host energy vs ground truth (hosts_truth.csv): energy-weighted {:.2}%, worst host {} {:+.2}%, {n} hosts",
                100.0 * weighted,
                host.as_str(),
                100.0 * worst
            )?;
        }
        let errors: Vec<(f64, f64)> = r
            .workloads
            .iter()
            .filter_map(|w| Some((w.measurement_error()?, w.truth.as_ref()?.energy_j)))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let weighted = errors.iter().map(|(e, t)| (e * t).abs()).sum::<f64>()
            / errors.iter().map(|(_, t)| t).sum::<f64>();
        let worst = errors.iter().map(|(e, _)| e.abs()).fold(0.0, f64::max);
        writeln!(f)?;
        writeln!(
            f,
            "Attribution error vs ground truth (same policy on true 1-s data): energy-weighted {:.2}%, worst workload {:.2}%, {} workloads",
            100.0 * weighted,
            100.0 * worst,
            errors.len()
        )?;
        let gaps: Vec<f64> = r.workloads.iter().filter_map(|w| w.policy_gap()).collect();
        if !gaps.is_empty() {
            let mean = gaps.iter().map(|g| g.abs()).sum::<f64>() / gaps.len() as f64;
            writeln!(
                f,
                "Policy gap vs cpu_share (the whole host energy by CPU-time share, Kelvin 0.1's policy): mean |gap| {:.1}%",
                100.0 * mean
            )?;
        }
        Ok(())
    }

    fn fmt_groups(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f)?;
        writeln!(
            f,
            "Energy by tenant and rack (IT energy with 95 % intervals, meters ±{:.0} %; overhead at PUE {:.2})",
            100.0 * ReplayOptions::default().meter_rel_sigma,
            r.facility.pue
        )?;
        writeln!(
            f,
            "{:<7} {:<12} {:>10} {:>19} {:>12} {:>10}",
            "group", "name", "IT_Wh", "95%_Wh", "overhead_Wh", "gCO2e"
        )?;
        for (kind, lines) in [("tenant", &r.tenants), ("rack", &r.racks)] {
            for g in lines {
                writeln!(
                    f,
                    "{:<7} {:<12} {:>10.2} {:>19} {:>12.2} {:>10}",
                    kind,
                    g.name,
                    wh(g.energy_uj),
                    format!("{:.2}..{:.2}", wh(g.lo_uj), wh(g.hi_uj)),
                    g.overhead_j / 3600.0,
                    g.carbon_g
                        .map_or_else(|| "-".to_string(), |c| format!("{c:.1}"))
                )?;
            }
        }
        let fac = &r.facility;
        writeln!(
            f,
            "facility: IT {:.2} Wh + overhead {:.2} Wh = {:.2} Wh (PUE {:.2}, {}); {}",
            fac.it_j / 3600.0,
            fac.overhead_j / 3600.0,
            (fac.it_j + fac.overhead_j) / 3600.0,
            fac.pue,
            if fac.pue_measured {
                "from the dataset's facility power series"
            } else {
                "assumed: the dataset has no facility meter"
            },
            fac.carbon_g.map_or_else(
                || "carbon: no grid intensity given (--carbon-g-per-kwh)".to_string(),
                |c| format!("carbon {c:.1} gCO2e")
            )
        )
    }

    fn fmt_thermal(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f)?;
        if r.hot_spots.is_empty() {
            return writeln!(f, "Thermal: no inlet temperature sensors in the dataset");
        }
        let over = r.hot_spots.iter().filter(|h| h.max_c > r.redline_c).count();
        writeln!(
            f,
            "Thermal: inlet temperatures of {} hosts against a {:.0} °C redline: {} over; hottest first",
            r.hot_spots.len(),
            r.redline_c,
            over
        )?;
        writeln!(
            f,
            "{:<12} {:<10} {:>8} {:>8} {:>10}",
            "host", "rack", "max_C", "mean_C", "headroom_C"
        )?;
        for h in r.hot_spots.iter().take(5) {
            writeln!(
                f,
                "{:<12} {:<10} {:>8.1} {:>8.1} {:>10.1}",
                h.host.as_str(),
                h.rack.as_str(),
                h.max_c,
                h.mean_c,
                r.redline_c - h.max_c
            )?;
        }
        Ok(())
    }

    fn fmt_recommendation(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        let Some(rec) = &self.recommendation else {
            return writeln!(f, "Recommendations: none (no fleet problem could be built)");
        };
        let moved = rec.moves.iter().filter(|m| m.from.is_some()).count();
        writeln!(
            f,
            "Recommendations (fleet optimizer: fitted power curves, measured utilization, {} search rounds): move {} running workloads, place {} pending",
            ReplayOptions::default().optimize_rounds,
            moved,
            rec.moves.len() - moved
        )?;
        for m in &rec.moves {
            writeln!(
                f,
                "  {:<12} {:<12} -> {}",
                m.workload.as_str(),
                m.from.as_ref().map_or("(pending)", |h| h.as_str()),
                m.to.as_str()
            )?;
        }
        let pct = if rec.before_w > 0.0 {
            100.0 * rec.saving_w() / rec.before_w
        } else {
            0.0
        };
        writeln!(
            f,
            "predicted facility power {:.1} W (today + first fit) -> {:.1} W: saves {:.1} W ({pct:.1} %, {:.2} kWh/day); hosts running {} -> {}; lower bound {:.1} W{}",
            rec.before_w,
            rec.after_w,
            rec.saving_w(),
            rec.saving_w() * 24.0 / 1000.0,
            rec.hosts_before,
            rec.hosts_after,
            rec.bound_w,
            if rec.unplaced > 0 {
                format!("; {} pending fit nowhere", rec.unplaced)
            } else {
                String::new()
            }
        )
    }
}
