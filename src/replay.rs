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
//!
//! [`replay`] runs a dataset through an [`Engine`] and returns a [`ReplayReport`] whose
//! `Display` is the text the `replay` example prints.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use kelvin_ingest::{IngestStats, Quarantined, Reason};
use kelvin_model::{EntityId, Inventory, TimeRange, Workload};
use kelvin_placement::Plan;

use crate::{Batch, Bill, Engine, Error, PlaceOptions};

/// True energy of one workload over the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The workload.
    pub workload: EntityId,
    /// Its host.
    pub host: EntityId,
    /// True energy under the two-part tariff (idle by reservation, dynamic by use), joules.
    pub energy_j: f64,
    /// True power split by CPU-time share every second, joules, when the dataset has it: the
    /// reference for the `cpu_share` policy's measurement error.
    pub cpu_share_j: Option<f64>,
}

/// A recorded dataset, in memory.
#[derive(Debug, Clone)]
pub struct RecordedDataset {
    /// Display name (the directory name).
    pub name: String,
    /// The estate.
    pub inventory: Inventory,
    /// Running and pending workloads.
    pub workloads: Vec<Workload>,
    /// The metrics text.
    pub metrics: String,
    /// Ground truth, when the dataset has it.
    pub truth: Vec<TruthRow>,
}

fn dataset_err(path: &str, reason: impl Into<String>) -> Error {
    Error::Dataset {
        path: path.to_string(),
        reason: reason.into(),
    }
}

impl RecordedDataset {
    /// Loads a dataset directory.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the file that is missing or malformed.
    pub fn load(dir: impl AsRef<Path>) -> Result<RecordedDataset, Error> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p)
                .map_err(|e| dataset_err(&p.display().to_string(), e.to_string()))
        };
        let truth = match std::fs::read_to_string(dir.join("ground_truth.csv")) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(dataset_err(
                    &dir.join("ground_truth.csv").display().to_string(),
                    e.to_string(),
                ));
            }
        };
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        RecordedDataset::from_texts(
            &name,
            &read("inventory.json")?,
            &read("workloads.json")?,
            read("metrics.prom")?,
            truth.as_deref(),
        )
    }

    /// Builds a dataset from the files' contents (for datasets embedded with `include_str!`).
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the part that is malformed.
    pub fn from_texts(
        name: &str,
        inventory_json: &str,
        workloads_json: &str,
        metrics: String,
        truth_csv: Option<&str>,
    ) -> Result<RecordedDataset, Error> {
        let inventory: Inventory = serde_json::from_str(inventory_json)
            .map_err(|e| dataset_err("inventory.json", e.to_string()))?;
        let workloads: Vec<Workload> = serde_json::from_str(workloads_json)
            .map_err(|e| dataset_err("workloads.json", e.to_string()))?;
        let truth = truth_csv.map(parse_truth).transpose()?.unwrap_or_default();
        Ok(RecordedDataset {
            name: name.to_string(),
            inventory,
            workloads,
            metrics,
            truth,
        })
    }
}

fn parse_truth(csv: &str) -> Result<Vec<TruthRow>, Error> {
    let mut lines = csv.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').collect())
        .unwrap_or_default();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| dataset_err("ground_truth.csv:1", format!("missing column {name:?}")))
    };
    let (cw, ch, ce) = (col("workload")?, col("host")?, col("energy_j")?);
    let cs = col("cpu_share_j").ok();
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let place = format!("ground_truth.csv:{}", i + 1);
        let f: Vec<&str> = line.split(',').collect();
        let get = |c: usize| {
            f.get(c)
                .map(|s| s.trim())
                .ok_or_else(|| dataset_err(&place, format!("missing field {}", c + 1)))
        };
        let id = |c: usize| EntityId::new(get(c)?).map_err(|e| dataset_err(&place, e.reason()));
        let num = |c: usize, name: &str| -> Result<f64, Error> {
            get(c)?
                .parse()
                .map_err(|_| dataset_err(&place, format!("{name} is not a number")))
        };
        let energy_j = num(ce, "energy_j")?;
        let cpu_share_j = cs.map(|c| num(c, "cpu_share_j")).transpose()?;
        rows.push(TruthRow {
            workload: id(cw)?,
            host: id(ch)?,
            energy_j,
            cpu_share_j,
        });
    }
    Ok(rows)
}

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

    /// Relative error against the same policy applied to the true per-second data: what
    /// measurement (sampling, noise, quantization, gaps, resets) costs.
    pub fn measurement_error(&self) -> Option<f64> {
        let t = self.truth.as_ref()?.cpu_share_j.filter(|t| *t > 0.0)?;
        Some((self.energy_j() - t) / t)
    }

    /// Relative difference against the two-part-tariff truth: what the policy choice changes.
    pub fn policy_gap(&self) -> Option<f64> {
        let t = self
            .truth
            .as_ref()
            .map(|t| t.energy_j)
            .filter(|t| *t > 0.0)?;
        Some((self.energy_j() - t) / t)
    }
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
    /// The bill.
    pub bill: Bill,
    /// Per-workload lines, in bill order.
    pub workloads: Vec<WorkloadLine>,
    /// Pending workloads that were placed.
    pub pending: Vec<Workload>,
    /// The placement plan for them.
    pub plan: Plan,
}

/// Replays a dataset: ingest, attribute over the whole recording, place the pending workloads.
///
/// # Errors
/// [`Error::NoData`] when nothing usable was ingested; otherwise the engine's errors.
pub fn replay(ds: &RecordedDataset) -> Result<ReplayReport, Error> {
    let (running, pending): (Vec<Workload>, Vec<Workload>) =
        ds.workloads.iter().cloned().partition(|w| w.host.is_some());
    let mut engine = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(running)
        .build()?;
    engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
    let window = engine.data_span().ok_or(Error::NoData {
        what: "readings in metrics.prom",
    })?;
    let aligned = engine.aligned(window)?;
    let bill = kelvin_attribution::attribute(&aligned.input, crate::Policy::CpuShare)?;
    let plan = engine.place(&pending, &PlaceOptions::default())?;

    let mut quarantine_examples = BTreeMap::new();
    for q in engine.quarantine() {
        quarantine_examples
            .entry(q.reason)
            .or_insert_with(|| q.clone());
    }
    let truth: BTreeMap<&EntityId, &TruthRow> = ds.truth.iter().map(|t| (&t.workload, t)).collect();
    let mut workloads = Vec::new();
    for h in &bill.hosts {
        for s in &h.workloads {
            let tenant = engine
                .inventory()
                .workload(&s.workload)
                .map(|w| w.tenant.clone())
                .unwrap_or_default();
            workloads.push(WorkloadLine {
                workload: s.workload.clone(),
                tenant,
                host: h.host.clone(),
                energy_uj: s.energy_uj,
                share_of_host: if h.measured_uj > 0 {
                    s.energy_uj as f64 / h.measured_uj as f64
                } else {
                    0.0
                },
                truth: truth.get(&s.workload).map(|t| (*t).clone()),
            });
        }
    }
    Ok(ReplayReport {
        dataset: ds.name.clone(),
        hosts: ds.inventory.hosts.len(),
        window: bill.window,
        interval_s: aligned.input.interval_ns as f64 / 1e9,
        ingest: engine.ingest_stats().clone(),
        quarantine_examples,
        counter_resets: aligned.counter_resets,
        bill,
        workloads,
        pending,
        plan,
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
            r.bill.hosts.first().map_or(0, |h| h.intervals),
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
        writeln!(f)?;
        writeln!(
            f,
            "Energy by workload (policy cpu_share: each interval's measured host energy split by CPU-time share)"
        )?;
        writeln!(
            f,
            "{:<12} {:<10} {:<12} {:>12} {:>8} {:>7} {:>12} {:>8} {:>12} {:>8}",
            "workload",
            "tenant",
            "host",
            "energy_J",
            "Wh",
            "share",
            "truth_cs_J",
            "error",
            "two_part_J",
            "gap"
        )?;
        let pct =
            |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{:+.1}%", 100.0 * x));
        let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.0}"));
        for w in &r.workloads {
            let e = w.energy_j();
            writeln!(
                f,
                "{:<12} {:<10} {:<12} {:>12.1} {:>8.2} {:>6.1}% {:>12} {:>8} {:>12} {:>8}",
                w.workload.as_str(),
                w.tenant,
                w.host.as_str(),
                e,
                e / 3600.0,
                100.0 * w.share_of_host,
                num(w.truth.as_ref().and_then(|t| t.cpu_share_j)),
                pct(w.measurement_error()),
                num(w.truth.as_ref().map(|t| t.energy_j)),
                pct(w.policy_gap()),
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
        writeln!(f, "by tenant: {}", line.join(", "))?;
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
        for h in &r.bill.hosts {
            writeln!(
                f,
                "{:<12} {:>14.3} {:>14.3} {:>14.3} {:>8} {:>10}",
                h.host.as_str(),
                j(h.measured_uj.into()),
                j(h.attributed_uj().into()),
                j(h.unattributed_uj.into()),
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
        let errors: Vec<(f64, f64)> = r
            .workloads
            .iter()
            .filter_map(|w| Some((w.measurement_error()?, w.truth.as_ref()?.cpu_share_j?)))
            .collect();
        if !errors.is_empty() {
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
                    "Policy gap vs the two-part tariff (idle by reservation, unreserved idle unbilled): mean |gap| {:.1}%",
                    100.0 * mean
                )?;
            }
        }
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
        Ok(())
    }
}
