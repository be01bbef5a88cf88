//! The replay's steps, each wiring one domain crate into the report: the engine and what it
//! ingests, the bill's lines against the truth, the groups and the facility, the inlet
//! sensors, and the fleet optimizer's recommendation.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use kelvin_attribution::AlignedInput;
use kelvin_attribution::facility::{carbon_at_pue, measured_pue, overhead_at_pue};
use kelvin_ingest::{Quarantined, Reason, RuleSet};
use kelvin_model::{EntityId, SensorKind, TimeRange, Workload};
use kelvin_placement::fleet::SolveOptions;
use kelvin_sim::dataset::PROMETHEUS_RULES_JSON;
use kelvin_store::{BlockStats, Grid, SeriesId, SeriesKey, Store, pooled_means};

use crate::{
    FacilityLine, GroupLine, HotSpot, Move, Recommendation, RecordedDataset, ReplayOptions,
    ReportSeries, TruthRow, WorkloadLine, j, read_text_file,
};
use kelvin::{Batch, Engine, Error, Ledger};

/// An engine over the dataset's estate and running workloads, with the built-in metric rules
/// and the dataset's own (`prometheus_rules.json`, whose format `kelvin-ingest` checks).
pub(super) fn engine(ds: &RecordedDataset, running: Vec<Workload>) -> Result<Engine, Error> {
    let mut rules = RuleSet::builtin();
    if let Some(json) = &ds.rules_json {
        let extra = RuleSet::from_json(json).map_err(|e| {
            let path = match &ds.dir {
                Some(dir) => dir.join(PROMETHEUS_RULES_JSON).display().to_string(),
                None => PROMETHEUS_RULES_JSON.to_string(),
            };
            Error::dataset(path, e.to_string())
        })?;
        for rule in extra.rules() {
            rules.add(rule.clone())?;
        }
    }
    Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(running)
        .rules(rules)
        .build()
}

/// Ingests the metrics (streamed from the file when the dataset was opened, else from
/// memory) and the vendor captures (each within the ingest limit).
pub(super) fn ingest(
    engine: &mut Engine,
    ds: &RecordedDataset,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), Error> {
    if let Some(reader) = ds.open_metrics()? {
        engine.ingest_prometheus_reader("metrics.prom", reader, progress)?;
    } else {
        engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
    }
    let limit = kelvin_ingest::Limits::default().max_input_bytes as u64;
    for c in &ds.captures {
        let text = read_text_file(&c.path, limit)?;
        let batch = Batch::capture(c.name.clone(), text, c.entity.clone(), c.taken_at);
        engine.ingest(batch)?;
    }
    Ok(())
}

/// The error of a replay that kept nothing: the counts by reason and the first quarantined
/// records, so the user sees why without another run.
pub(super) fn nothing_accepted(engine: &Engine) -> Error {
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

/// The first quarantined record of each reason.
pub(super) fn quarantine_examples(engine: &Engine) -> BTreeMap<Reason, Quarantined> {
    let mut out = BTreeMap::new();
    for q in engine.quarantine() {
        out.entry(q.reason).or_insert_with(|| q.clone());
    }
    out
}

/// The bill's lines, one per workload, with tenant, share of the host and ground truth.
pub(super) fn workload_lines(
    engine: &Engine,
    bill: &Ledger,
    truth: &[TruthRow],
) -> Vec<WorkloadLine> {
    let truth: BTreeMap<&EntityId, &TruthRow> = truth.iter().map(|t| (&t.workload, t)).collect();
    let workloads = &engine.inventory().workloads;
    let tenant_of: HashMap<&EntityId, &str> = workloads
        .iter()
        .map(|w| (&w.id, w.tenant.as_str()))
        .collect();
    bill.lines()
        .map(|(h, l)| {
            let workload = bill.workload_of(l);
            WorkloadLine {
                workload: workload.clone(),
                tenant: tenant_of.get(workload).copied().unwrap_or_default().into(),
                host: h.meter.clone(),
                energy_uj: l.energy.uj,
                static_uj: l.static_uj,
                dynamic_uj: l.dynamic_uj,
                lo_uj: l.energy.lo_uj,
                hi_uj: l.energy.hi_uj,
                share_of_host: match h.measured.uj {
                    0 => 0.0,
                    m => l.energy.uj as f64 / m as f64,
                },
                truth: truth.get(workload).map(|t| (*t).clone()),
            }
        })
        .collect()
}

/// The facility around `it_j` of IT energy: at the PUE the dataset's facility meter measured
/// over the window, else at the assumed one.
pub(super) fn facility(
    ds: &RecordedDataset,
    window: TimeRange,
    it_j: f64,
    opts: &ReplayOptions,
) -> FacilityLine {
    let inside = ds.facility.iter().filter(|f| window.contains(f.start));
    let measured = measured_pue(inside.map(|f| (f.interval_s, f.it_w, f.overhead_w)));
    let pue = measured.unwrap_or(opts.pue);
    FacilityLine {
        it_j,
        pue,
        pue_measured: measured.is_some(),
        overhead_j: overhead_at_pue(it_j, pue),
        carbon_g: opts.carbon_g_per_kwh.map(|g| carbon_at_pue(it_j, pue, g)),
    }
}

/// Energy by tenant and by rack (of the workload's host; `?` when unknown), in name order,
/// with overhead and carbon at the facility's PUE.
pub(super) fn groups(
    engine: &Engine,
    workloads: &[WorkloadLine],
    facility: &FacilityLine,
    opts: &ReplayOptions,
) -> (Vec<GroupLine>, Vec<GroupLine>) {
    let hosts = &engine.inventory().hosts;
    let rack_of: HashMap<&EntityId, &EntityId> = hosts.iter().map(|h| (&h.id, &h.rack)).collect();
    let mut tenants: BTreeMap<String, Vec<&WorkloadLine>> = BTreeMap::new();
    let mut racks: BTreeMap<String, Vec<&WorkloadLine>> = BTreeMap::new();
    for w in workloads {
        tenants.entry(w.tenant.clone()).or_default().push(w);
        let rack = rack_of.get(&w.host).map_or("?", |r| r.as_str());
        racks.entry(rack.to_string()).or_default().push(w);
    }
    let pue = facility.pue;
    let line = |(name, members): (String, Vec<&WorkloadLine>)| {
        let sum = |f: fn(&WorkloadLine) -> u64| members.iter().map(|w| u128::from(f(w))).sum();
        let energy_uj: u128 = sum(|w| w.energy_uj);
        GroupLine {
            name,
            energy_uj,
            lo_uj: sum(|w| w.lo_uj),
            hi_uj: sum(|w| w.hi_uj),
            overhead_j: overhead_at_pue(j(energy_uj), pue),
            carbon_g: opts
                .carbon_g_per_kwh
                .map(|g| carbon_at_pue(j(energy_uj), pue, g)),
        }
    };
    let tenants = tenants.into_iter().map(line).collect();
    (tenants, racks.into_iter().map(line).collect())
}

/// The inlet temperature series: temperatures whose sensor name says "inlet".
fn inlet_series(store: &Store) -> impl Iterator<Item = (SeriesId, &SeriesKey)> {
    store.series().filter(|(_, k)| {
        k.kind == SensorKind::Temperature
            && k.sensor.as_str().to_ascii_lowercase().contains("inlet")
    })
}

/// Inlet temperatures per host over the window, hottest first: the statistics of all of a
/// host's inlet series together.
pub(super) fn hot_spots(engine: &Engine, window: TimeRange) -> Result<Vec<HotSpot>, Error> {
    let store = engine.store();
    let (start, end) = (window.start().as_nanos(), window.end().as_nanos());
    let mut by_host: BTreeMap<&EntityId, BlockStats> = BTreeMap::new();
    for (id, k) in inlet_series(store) {
        let a = store.aggregate(id, start, end)?;
        if a.count > 0 && a.max.is_finite() {
            let e = by_host.entry(&k.entity).or_insert(BlockStats::EMPTY);
            *e = e.merge(&a);
        }
    }
    let mut out: Vec<HotSpot> = engine
        .inventory()
        .hosts
        .iter()
        .filter_map(|h| {
            let a = by_host.get(&h.id)?;
            Some(HotSpot {
                host: h.id.clone(),
                rack: h.rack.clone(),
                mean_c: a.sum / a.count as f64,
                max_c: a.max,
            })
        })
        .collect();
    out.sort_by(|a, b| b.max_c.total_cmp(&a.max_c).then(a.host.cmp(&b.host)));
    Ok(out)
}

/// The series behind the charts, on the attribution grid.
pub(super) fn series(
    engine: &Engine,
    input: &AlignedInput,
    bill: &Ledger,
) -> Result<ReportSeries, Error> {
    let grid = Grid::try_new(input.start, input.interval_ns, input.intervals() + 1)?;
    Ok(ReportSeries {
        start: input.start,
        interval_s: input.interval_ns as f64 / 1e9,
        workload_w: workload_power(input, bill),
        rack_inlet_c: rack_inlet(engine, &grid)?,
    })
}

/// Each workload's billed power per interval, from the bill's per-interval split; NaN where
/// its host was not measured.
fn workload_power(input: &AlignedInput, bill: &Ledger) -> Vec<(EntityId, Vec<f64>)> {
    let dt = input.interval_ns as f64 / 1e9;
    let mut out = Vec::new();
    for (h, sheet) in input.hosts.iter().zip(&bill.meters) {
        let Some(split) = &sheet.per_interval else {
            continue;
        };
        for (l, line) in sheet.lines.iter().enumerate() {
            let watts = (0..input.intervals()).map(|i| {
                let measured = !h.energy_j[i].is_nan();
                if measured {
                    split[[i, l]] as f64 / 1e6 / dt
                } else {
                    f64::NAN
                }
            });
            out.push((bill.workload_of(line).clone(), watts.collect()));
        }
    }
    out
}

/// Each rack's mean inlet temperature per grid interval: all its hosts' inlet samples pooled.
fn rack_inlet(engine: &Engine, grid: &Grid) -> Result<Vec<(EntityId, Vec<f64>)>, Error> {
    let (store, inventory) = (engine.store(), engine.inventory());
    let rack_of: HashMap<&EntityId, &EntityId> =
        inventory.hosts.iter().map(|h| (&h.id, &h.rack)).collect();
    let mut by_rack: HashMap<&EntityId, Vec<SeriesId>> = HashMap::new();
    for (id, k) in inlet_series(store) {
        if let Some(rack) = rack_of.get(&k.entity) {
            by_rack.entry(*rack).or_default().push(id);
        }
    }
    let (start, end) = (grid.start().as_nanos(), grid.end().as_nanos());
    let mut out = Vec::new();
    for rack in &inventory.racks {
        let Some(ids) = by_rack.get(&rack.id) else {
            continue;
        };
        let scan = |id: &SeriesId| store.scan(*id, start, end);
        let data = ids.iter().map(scan).collect::<Result<Vec<_>, _>>()?;
        let columns = data.iter().map(|d| (&d.ts[..], &d.values[..]));
        out.push((rack.id.clone(), pooled_means(columns, grid)?));
    }
    Ok(out)
}

/// The fleet optimizer's recommendation, against today's placement plus first fit.
pub(super) fn recommend(
    engine: &Engine,
    pending: &[Workload],
    rounds: u64,
) -> Result<Recommendation, Error> {
    let opts = SolveOptions::default()
        .with_rounds(rounds)
        .with_time_limit_ms(None);
    let out = engine.optimize(pending, &opts)?;
    let (p, sol, before) = (&out.problem, &out.solution, &out.first_fit);
    let moves = p.tasks.iter().zip(&sol.host_of).filter_map(|(task, &to)| {
        let to = to.filter(|_| to != task.current)?;
        Some(Move {
            workload: task.id.clone(),
            from: task.current.map(|h| p.hosts[h].id.clone()),
            to: p.hosts[to].id.clone(),
        })
    });
    Ok(Recommendation {
        moves: moves.collect(),
        before_w: before.facility_w(),
        after_w: sol.evaluation.facility_w(),
        bound_w: sol.bound.facility_w,
        hosts_before: before.hosts_awake,
        hosts_after: sol.evaluation.hosts_awake,
        unplaced: sol.evaluation.unplaced,
    })
}
