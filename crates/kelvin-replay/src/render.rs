//! The report as text: [`ReplayReport`]'s `Display`, sections of fixed-width tables.

use std::fmt::{self, Display, Formatter};

use kelvin_attribution::Account;
use kelvin_sim::dataset::ErrorSummary;

use crate::{ReplayOptions, ReplayReport, j};

/// Microjoules as watt-hours.
fn wh(uj: u128) -> f64 {
    j(uj) / 3600.0
}

/// Writes a table: the headings (`head`, split at each space), then the `rows`.
fn table<S: AsRef<str>, R: IntoIterator<Item = S>>(
    f: &mut Formatter<'_>,
    widths: &[i8],
    head: &str,
    rows: impl IntoIterator<Item = R>,
) -> fmt::Result {
    row(f, widths, head.split(' '))?;
    rows.into_iter().try_for_each(|r| row(f, widths, r))
}

/// Writes a table row: each cell padded to its column's width, right-aligned or, for a
/// negative width, left-aligned; one space between cells.
fn row<S: AsRef<str>>(
    f: &mut Formatter<'_>,
    widths: &[i8],
    cells: impl IntoIterator<Item = S>,
) -> fmt::Result {
    for (i, (&w, cell)) in widths.iter().zip(cells).enumerate() {
        let (cell, n) = (cell.as_ref(), usize::from(w.unsigned_abs()));
        let sep = if i == 0 { "" } else { " " };
        if w < 0 {
            write!(f, "{sep}{cell:<n$}")?;
        } else {
            write!(f, "{sep}{cell:>n$}")?;
        }
    }
    writeln!(f)
}

/// `x` with `digits` decimals, or `-` when unknown.
fn or_dash(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// `x` as a signed percentage with one decimal, or `-` when unknown.
fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{:+.1}%", 100.0 * x))
}

impl Display for ReplayReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.fmt_ingest(f)?;
        self.fmt_workloads(f)?;
        self.fmt_balance(f)?;
        self.fmt_truth(f)?;
        self.fmt_placement(f)?;
        self.fmt_groups(f)?;
        self.fmt_thermal(f)?;
        self.fmt_recommendation(f)
    }
}

impl ReplayReport {
    /// The heading: dataset, window, and what ingestion kept and quarantined.
    fn fmt_ingest(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (r, w) = (self, &self.window);
        let intervals = r.bill.meters.first().map_or(0, |h| h.intervals);
        writeln!(f, "Kelvin replay: dataset {}", r.dataset)?;
        writeln!(
            f,
            "window {} .. {} ({:.0} s, {intervals} intervals of {:.0} s), {} hosts, {} workloads billed\n",
            w.start().to_rfc3339(),
            w.end().to_rfc3339(),
            w.len_nanos() as f64 / 1e9,
            r.interval_s,
            r.hosts,
            r.workloads.len()
        )?;
        let s = &r.ingest;
        writeln!(
            f,
            "Ingest: {} records seen = {} accepted + {} quarantined; {} counter reset(s) handled",
            s.seen, s.accepted, s.quarantined, r.counter_resets
        )?;
        for (reason, n) in &s.by_reason {
            write!(f, "  {reason:<18} {n:>6}")?;
            match r.quarantine_examples.get(reason) {
                Some(q) => writeln!(f, "  e.g. {}: {}", q.place, q.detail)?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }

    /// The energy-by-workload table, with both truths: the error against the same policy's
    /// truth and the gap against the `cpu_share` truth.
    fn fmt_workloads(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\nEnergy by workload (policy {}: {}; reservation = requested cores / host cores)",
            self.bill.policy, self.policy_description
        )?;
        let rows = self.workloads.iter().map(|w| {
            let (e, t) = (w.energy_j(), w.truth.as_ref());
            [
                w.workload.to_string(),
                w.tenant.clone(),
                w.host.to_string(),
                format!("{e:.1}"),
                format!("{:.2}", e / 3600.0),
                format!("{:.1}%", 100.0 * w.share_of_host),
                or_dash(t.map(|t| t.energy_j), 0),
                pct(w.measurement_error()),
                or_dash(t.and_then(|t| t.cpu_share_j), 0),
                pct(w.policy_gap()),
                String::new(),
                format!("{:.0}..{:.0}", j(w.lo_uj), j(w.hi_uj)),
            ]
        });
        let head = "workload tenant host energy_J Wh share truth_tp_J error truth_cs_J gap  95%_J";
        const WIDTHS: &[i8] = &[-12, -10, -12, 12, 8, 7, 12, 8, 12, 8, 0, 0];
        table(f, WIDTHS, head, rows)?;
        let tenants: Vec<String> = self
            .tenants
            .iter()
            .map(|g| format!("{} {:.1} Wh", g.name, wh(g.energy_uj)))
            .collect();
        writeln!(f, "by tenant: {}", tenants.join(", "))
    }

    /// The balance of every host and of the whole, and the named accounts.
    fn fmt_balance(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let bill = &self.bill;
        writeln!(
            f,
            "\nEnergy balance by host (measured = attributed + unattributed, exact in µJ)"
        )?;
        let rows = bill.meters.iter().map(|h| {
            let [m, a, u] = [h.measured.uj.into(), h.attributed_uj(), h.unattributed_uj()]
                .map(|uj| format!("{:.3}", j(uj)));
            let balance = if h.is_balanced() { "exact" } else { "BROKEN" };
            let unmeasured = format!("{}/{}", h.unmeasured_intervals, h.intervals);
            [h.meter.to_string(), m, a, u, balance.into(), unmeasured]
        });
        let head = "host measured_J attributed_J unattrib_J balance unmeasured";
        table(f, &[-12, 14, 14, 14, 8, 10], head, rows)?;
        let (m, a, u) = (
            bill.measured_uj(),
            bill.attributed_uj(),
            bill.unattributed_uj(),
        );
        let conserved = if m == a + u {
            "conserved"
        } else {
            "NOT conserved"
        };
        writeln!(
            f,
            "total: measured {:.3} J = attributed {:.3} J + unattributed {:.3} J ({conserved})",
            j(m),
            j(a),
            j(u),
        )?;
        let account = |a| j(bill.account_total_uj(a));
        writeln!(
            f,
            "unattributed: idle {:.3} J (the idle floor nobody reserved), system {:.3} J, unexplained {:.3} J",
            account(Account::Idle),
            account(Account::System),
            account(Account::Unexplained),
        )
    }

    /// The errors against the ground truth, when the dataset has it: the hosts' meters, the
    /// workloads' bills under the same policy, and the gap to `cpu_share`.
    fn fmt_truth(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self;
        let hosts = r
            .bill
            .meters
            .iter()
            .filter_map(|h| Some((&h.meter, r.host_error(h)?, r.host_truth_j[&h.meter])));
        if let Some(e) = ErrorSummary::of(hosts) {
            writeln!(
                f,
                "Host energy vs ground truth (hosts_truth.csv): energy-weighted {:.2}%, worst host {} {:+.2}%, {} hosts",
                100.0 * e.weighted,
                e.worst_of,
                100.0 * e.worst,
                e.count
            )?;
        }
        let errors = r
            .workloads
            .iter()
            .filter_map(|w| Some(((), w.measurement_error()?, w.truth.as_ref()?.energy_j)));
        let Some(e) = ErrorSummary::of(errors) else {
            return Ok(());
        };
        writeln!(
            f,
            "\nAttribution error vs ground truth (same policy on true 1-s data): energy-weighted {:.2}%, worst workload {:.2}%, {} workloads",
            100.0 * e.weighted,
            100.0 * e.worst.abs(),
            e.count
        )?;
        let gaps = r
            .workloads
            .iter()
            .filter_map(|w| Some(((), w.policy_gap()?, w.truth.as_ref()?.cpu_share_j?)));
        if let Some(g) = ErrorSummary::of(gaps) {
            writeln!(
                f,
                "Policy gap vs cpu_share (the whole host energy by CPU-time share, Kelvin 0.1's policy): mean |gap| {:.1}%",
                100.0 * g.mean_abs
            )?;
        }
        Ok(())
    }

    /// Where the pending workloads go, with their estimated added power.
    fn fmt_placement(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plan = &self.plan;
        writeln!(
            f,
            "\nPlacement of {} pending workloads (first-fit decreasing on CPU and memory, most efficient hosts first)",
            self.pending.len()
        )?;
        let rows = plan.assignments.iter().map(|a| {
            let w = self.pending.iter().find(|w| w.id == a.workload);
            let (cpu, mem) = w.map_or((0.0, 0), |w| {
                (w.requests.cpu_cores, w.requests.memory_bytes)
            });
            [
                a.workload.to_string(),
                format!("{cpu:.1}"),
                format!("{:.0}", mem as f64 / (1u64 << 30) as f64),
                String::new(),
                a.host.to_string(),
                or_dash(a.score.marginal_power_w, 1),
                format!("{:.0}%", 100.0 * a.score.cpu_utilization_after),
                format!("{:.0}%", 100.0 * a.score.memory_utilization_after),
            ]
        });
        let head = "workload cpu mem_GiB  host +W_est cpu_after mem_after";
        table(f, &[-12, 6, 8, 0, -12, 9, 9, 9], head, rows)?;
        for u in &plan.unplaced {
            writeln!(f, "unplaced: {u}")?;
        }
        let added: f64 = plan
            .assignments
            .iter()
            .filter_map(|a| a.score.marginal_power_w)
            .sum();
        writeln!(
            f,
            "estimated added power {added:.1} W; hosts in use {} (lower bound {})",
            plan.hosts_used, plan.lower_bound_hosts
        )
    }

    /// Energy by tenant and rack with overhead and carbon, and the facility's total.
    fn fmt_groups(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let fac = &self.facility;
        writeln!(
            f,
            "\nEnergy by tenant and rack (IT energy with 95 % intervals, meters ±{:.0} %; overhead at PUE {:.2})",
            100.0 * ReplayOptions::default().meter_rel_sigma,
            fac.pue
        )?;
        let groups = [("tenant", &self.tenants), ("rack", &self.racks)];
        let rows = groups.into_iter().flat_map(|(kind, lines)| {
            lines.iter().map(move |g| {
                [
                    kind.to_string(),
                    g.name.clone(),
                    format!("{:.2}", wh(g.energy_uj)),
                    format!("{:.2}..{:.2}", wh(g.lo_uj), wh(g.hi_uj)),
                    format!("{:.2}", g.overhead_j / 3600.0),
                    or_dash(g.carbon_g, 1),
                ]
            })
        });
        let head = "group name IT_Wh 95%_Wh overhead_Wh gCO2e";
        table(f, &[-7, -12, 10, 19, 12, 10], head, rows)?;
        let source = if fac.pue_measured {
            "from the dataset's facility power series"
        } else {
            "assumed: the dataset has no facility meter"
        };
        let carbon = fac.carbon_g.map_or_else(
            || "carbon: no grid intensity given (--carbon-g-per-kwh)".to_string(),
            |c| format!("carbon {c:.1} gCO2e"),
        );
        writeln!(
            f,
            "facility: IT {:.2} Wh + overhead {:.2} Wh = {:.2} Wh (PUE {:.2}, {source}); {carbon}",
            fac.it_j / 3600.0,
            fac.overhead_j / 3600.0,
            (fac.it_j + fac.overhead_j) / 3600.0,
            fac.pue,
        )
    }

    /// The five hottest inlets against the redline.
    fn fmt_thermal(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (spots, redline) = (&self.hot_spots, self.redline_c);
        if spots.is_empty() {
            return writeln!(f, "\nThermal: no inlet temperature sensors in the dataset");
        }
        writeln!(
            f,
            "\nThermal: inlet temperatures of {} hosts against a {redline:.0} °C redline: {} over; hottest first",
            spots.len(),
            spots.iter().filter(|h| h.max_c > redline).count()
        )?;
        let rows = spots.iter().take(5).map(|h| {
            let [max, mean, headroom] =
                [h.max_c, h.mean_c, redline - h.max_c].map(|x| format!("{x:.1}"));
            [h.host.to_string(), h.rack.to_string(), max, mean, headroom]
        });
        table(
            f,
            &[-12, -10, 8, 8, 10],
            "host rack max_C mean_C headroom_C",
            rows,
        )
    }

    /// The optimizer's moves and what they save.
    fn fmt_recommendation(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Some(rec) = &self.recommendation else {
            return writeln!(
                f,
                "\nRecommendations: none (no fleet problem could be built)"
            );
        };
        let moved = rec.moves.iter().filter(|m| m.from.is_some()).count();
        writeln!(
            f,
            "\nRecommendations (fleet optimizer: fitted power curves, measured utilization, {} search rounds): move {moved} running workloads, place {} pending",
            ReplayOptions::default().optimize_rounds,
            rec.moves.len() - moved
        )?;
        for m in &rec.moves {
            let from = m.from.as_ref().map_or("(pending)", |h| h.as_str());
            writeln!(f, "  {:<12} {from:<12} -> {}", m.workload.as_str(), m.to)?;
        }
        let saving = rec.saving_w();
        let share = if rec.before_w > 0.0 {
            100.0 * saving / rec.before_w
        } else {
            0.0
        };
        let unplaced = match rec.unplaced {
            0 => String::new(),
            n => format!("; {n} pending fit nowhere"),
        };
        writeln!(
            f,
            "predicted facility power {:.1} W (today + first fit) -> {:.1} W: saves {saving:.1} W ({share:.1} %, {:.2} kWh/day); hosts running {} -> {}; lower bound {:.1} W{unplaced}",
            rec.before_w,
            rec.after_w,
            saving * 24.0 / 1000.0,
            rec.hosts_before,
            rec.hosts_after,
            rec.bound_w,
        )
    }
}
