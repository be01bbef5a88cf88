//! Extends Kelvin from outside its crates, with the public API only, at each extension point,
//! and runs the three extensions through [`kelvin::Engine`]:
//!
//! 1. a decoder, `nut_upsc`: a rack ePDU's per-outlet power as Network UPS Tools' `upsc`
//!    prints it ([`kelvin::EngineBuilder::decoder`]), used by name and by detection;
//! 2. an attribution policy, `reserved_only`: energy billed by reserved cores alone, as a cloud
//!    bills an instance ([`kelvin::LedgerOptions::with_policy`]), beside the default tariff;
//! 3. an objective term, `spread cache-*`: a price on each pair of a service's replicas in one
//!    rack, added to the default objective of [`kelvin::Engine::optimize`].
//!
//! ```text
//! cargo run --release --example extend
//! ```
//!
//! The estate is made here: three racks of two hosts (rack r1's leaner), seven running
//! workloads with 40 minutes of CPU counters (Prometheus text) and ePDU captures (two damaged,
//! one PDU also feeding a spare server the inventory lacks), and three cache replicas to place.
//! The output has a section per extension, saying what it produced.

use std::collections::HashMap;
use std::sync::Arc;

use kelvin::attribution::ledger::{Axiom, IntervalView};
use kelvin::ingest::{Confidence, Context, Decode, Decoders, IngestBatch, IngestStats};
use kelvin::ingest::{Quarantined, Reason};
use kelvin::model::{EntityId, Host, Inventory, Rack, Reading, Resources, Room, SensorKind, Site};
use kelvin::model::{Timestamp, Workload};
use kelvin::placement::fleet::{Change, Objective, Problem, SolveOptions, State, Term};
use kelvin::{AttributionPolicy, Batch, Engine, Error, Ledger, LedgerOptions};

/// Network UPS Tools' `upsc` output for an ePDU, one `variable: value` a line. Each outlet's
/// `desc` names the host it feeds; its `realpower` (W) is that host's `outlet` power at the
/// capture's time. The other variables are device metadata, not read.
struct NutUpsc;

impl Decode for NutUpsc {
    fn name(&self) -> &str {
        "nut_upsc"
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let desc: HashMap<&str, &str> = (input.lines().filter_map(|l| l.split_once(": ")))
            .filter_map(|(k, v)| Some((outlet(k, ".desc")?, v.trim())))
            .collect();
        for (i, line) in input.lines().enumerate() {
            if out.records_full() {
                break;
            }
            let max = ctx.limits.max_line_bytes;
            let read = if line.len() > max {
                Err((Reason::LineTooLong, format!("over max_line_bytes ({max})")))
            } else {
                outlet_power(line, &desc)
            };
            match read {
                Ok(None) => {}
                Ok(Some((host, w))) => {
                    out.accept(Reading::new(
                        host,
                        "outlet",
                        SensorKind::Power,
                        w,
                        ctx.timestamp(),
                    ));
                }
                Err((reason, why)) => {
                    out.reject(Quarantined::new(ctx.line(i as u64 + 1), reason, why, line));
                }
            }
        }
    }

    /// The first lines are `variable: value` with dotted names, and outlets follow.
    fn detect(&self, head: &str) -> Option<Confidence> {
        let mut lines = head
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(4)
            .peekable();
        let upsc = |l: &str| {
            l.split_once(": ")
                .is_some_and(|(k, _)| k.contains('.') && !k.contains(' '))
        };
        let upsc = lines.peek().is_some() && lines.all(upsc) && head.contains("\noutlet.");
        upsc.then_some(Confidence::LIKELY)
    }
}

/// `N` of an `outlet.N<field>` variable.
fn outlet<'a>(key: &'a str, field: &str) -> Option<&'a str> {
    let n = key.strip_prefix("outlet.")?.strip_suffix(field)?;
    n.bytes().all(|b| b.is_ascii_digit()).then_some(n)
}

/// A line of a `upsc` dump: an outlet's host and watts, a variable not read, or why not.
fn outlet_power(
    line: &str,
    desc: &HashMap<&str, &str>,
) -> Result<Option<(EntityId, f64)>, (Reason, String)> {
    let Some((key, value)) = line.split_once(": ") else {
        let blank = line.trim().is_empty();
        return if blank {
            Ok(None)
        } else {
            Err((Reason::BadField, "not `variable: value`".into()))
        };
    };
    let Some(n) = outlet(key, ".realpower") else {
        return Ok(None);
    };
    let host = desc
        .get(n)
        .ok_or((Reason::MissingLabel, format!("no outlet.{n}.desc")))?;
    let host = EntityId::new(*host).map_err(|e| (Reason::InvalidEntity, e.to_string()))?;
    match value.trim().parse::<f64>() {
        Ok(w) if w >= 0.0 && w.is_finite() => Ok(Some((host, w))),
        _ => Err((Reason::BadValue, format!("{value:?} is not watts"))),
    }
}

/// Bills by reservation alone: the idle floor and the energy above it both by reserved cores,
/// however busy each workload was; the floor nobody reserved stays in `idle`.
#[derive(Debug)]
struct ReservedOnly;

impl AttributionPolicy for ReservedOnly {
    fn name(&self) -> &str {
        "reserved_only"
    }
    fn description(&self) -> &str {
        "floor and dynamic energy by reserved cores"
    }
    /// Keys linear in the reservations hold all four: equal reservations pay alike, a
    /// workload that reserves nothing pays nothing, one split in k parts pays the same.
    fn claims(&self) -> &[Axiom] {
        &Axiom::ALL
    }
    fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        iv.reservation_key(weights);
        weights[iv.consumers()] = 0.0; // no `system` share: reservations pay for all activity
    }
    fn static_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        iv.reservation_key(weights);
    }
    fn static_key_is_fixed(&self) -> bool {
        true
    }
}

/// `penalty_w` per pair of a service's replicas (tasks whose id starts with `prefix`) in one
/// rack, so that losing a rack loses one replica. A move is priced by the replicas already in
/// its rack, O(replicas).
struct SpreadReplicas {
    name: String,
    tasks: Vec<usize>,
    penalty_w: f64,
}

impl SpreadReplicas {
    fn new(p: &Problem, prefix: &str, penalty_w: f64) -> Self {
        let tasks = (0..p.tasks.len()).filter(|t| p.tasks[*t].id.as_str().starts_with(prefix));
        let (name, tasks) = (format!("spread {prefix}*"), tasks.collect());
        SpreadReplicas {
            name,
            tasks,
            penalty_w,
        }
    }

    /// Pairs of replicas sharing a rack in a placement (`host_of` per task).
    fn pairs(&self, p: &Problem, host_of: impl Fn(usize) -> Option<usize>) -> usize {
        let rack = |t: &usize| Some(p.hosts[host_of(*t)?].rack);
        let racks: Vec<usize> = self.tasks.iter().filter_map(rack).collect();
        let later = |i: usize| racks[i + 1..].iter().filter(|r| **r == racks[i]).count();
        (0..racks.len()).map(later).sum()
    }
}

impl Term for SpreadReplicas {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self, s: &State<'_>) -> f64 {
        self.penalty_w * self.pairs(s.problem(), |t| s.host_of(t)) as f64
    }
    fn delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        if !self.tasks.contains(&c.task) {
            return 0.0;
        }
        let hosts = &s.problem().hosts;
        let near = |t: &&usize| {
            s.host_of(**t)
                .is_some_and(|h| hosts[h].rack == hosts[c.host].rack)
        };
        let others = self
            .tasks
            .iter()
            .filter(|t| **t != c.task)
            .filter(near)
            .count();
        self.penalty_w * others as f64 * c.sign()
    }
}

const T0: i64 = 1_793_606_400;
const MINUTES: i64 = 40;
/// Racks of two 16-core hosts (h1, h2 in r1 …): id, a host's idle W and W per busy core.
const RACKS: [(&str, f64, f64); 3] = [("r1", 95.0, 4.0), ("r2", 140.0, 9.0), ("r3", 140.0, 9.0)];
/// Running workloads: id, tenant, host (0 is h1), reserved cores, busy cores at peak.
const RUNNING: [(&str, &str, usize, f64, f64); 7] = [
    ("web", "shop", 0, 8.0, 1.5),
    ("etl", "analytics", 0, 2.0, 8.0),
    ("train", "analytics", 1, 8.0, 10.0),
    ("db", "shop", 2, 6.0, 8.0),
    ("batch", "analytics", 3, 6.0, 9.0),
    ("ci", "platform", 4, 6.0, 9.0),
    ("metrics", "platform", 5, 4.0, 7.0),
];

fn id(s: &str) -> EntityId {
    EntityId::new(s).expect("the example's ids are valid")
}

/// Busy cores of running workload `w` in minute `m`: none for 5 minutes, then 25–100 % of peak.
fn busy(w: usize, m: i64) -> f64 {
    let phase = ((m as usize + 3 * w) % 4) as f64 / 3.0;
    if m < 5 {
        0.0
    } else {
        RUNNING[w].4 * (0.25 + 0.75 * phase)
    }
}

fn inventory() -> Inventory {
    let (gib, room) = (1u64 << 30, id("room"));
    let workload = |w: &str, tenant: &str, host: Option<usize>, cores: f64| Workload {
        id: id(w),
        tenant: tenant.into(),
        owner: "ops".into(),
        requests: Resources::new(cores, 8 * gib),
        host: host.map(|h| id(&format!("h{}", h + 1))),
    };
    let running = RUNNING
        .iter()
        .map(|&(w, t, h, cores, _)| workload(w, t, Some(h), cores));
    let caches = ["cache-1", "cache-2", "cache-3"].map(|w| workload(w, "shop", None, 2.0));
    let rack = |(r, ..): (&str, f64, f64)| Rack {
        id: id(r),
        room: room.clone(),
        row: None,
    };
    let capacity = Resources::new(16.0, 64 * gib);
    let host = |h: usize| Host {
        id: id(&format!("h{}", h + 1)),
        rack: id(RACKS[h / 2].0),
        capacity,
        pdu: None,
    };
    Inventory {
        sites: vec![Site {
            id: id("site"),
            name: "lab".into(),
        }],
        rooms: vec![Room {
            id: room.clone(),
            site: id("site"),
        }],
        racks: RACKS.map(rack).into(),
        hosts: (0..6).map(host).collect(),
        workloads: running.chain(caches).collect(),
        ..Inventory::default()
    }
}

/// cAdvisor's CPU counters of the running workloads, one sample a minute.
fn cpu_counters() -> String {
    let mut text = String::new();
    for (w, (pod, ..)) in RUNNING.iter().enumerate() {
        let mut total = 0.0;
        for m in 0..MINUTES {
            let (labels, ms) = (
                format!("pod=\"{pod}\",container=\"main\""),
                (T0 + 60 * m) * 1000,
            );
            text += &format!("container_cpu_usage_seconds_total{{{labels}}} {total} {ms}\n");
            total += 60.0 * busy(w, m);
        }
    }
    text
}

/// Rack `r`'s ePDU in minute `m` as `upsc` prints it. r3's feeds a spare server on outlet 3;
/// r1's reads `ERR` at minute 20 and r2's capture is cut mid-line at minute 12.
fn pdu_capture(r: usize, m: i64) -> String {
    let mut text = "device.mfr: EATON\ndevice.model: ePDU G3\ndevice.type: pdu\n".to_string();
    let (_, idle_w, per_core) = RACKS[r];
    let cores = |h: usize| {
        (0..RUNNING.len())
            .filter(move |w| RUNNING[*w].2 == h)
            .map(|w| busy(w, m))
    };
    let mut outlets: Vec<(String, f64)> = (2 * r..2 * r + 2)
        .map(|h| {
            (
                format!("h{}", h + 1),
                idle_w + per_core * cores(h).sum::<f64>(),
            )
        })
        .collect();
    if r == 2 {
        outlets.push(("spare-7".into(), 61.0));
    }
    for (n, (host, watts)) in (1..).zip(outlets) {
        let watts = if (r, m, n) == (0, 20, 1) {
            "ERR".into()
        } else {
            format!("{watts:.1}")
        };
        text += &format!(
            "outlet.{n}.desc: {host}\noutlet.{n}.realpower: {watts}\noutlet.{n}.status: on\n"
        );
    }
    if (r, m) == (1, 12) {
        text.truncate(text.len() - 30);
    }
    text
}

/// What the example produced: the figures it prints (read by `tests/it/extend.rs`), and its
/// output.
#[allow(dead_code)]
pub(crate) struct Outcome {
    /// Ingest counts of the captures decoded by name and by detection.
    pub(crate) ingest: [IngestStats; 2],
    /// The window under the default tariff and under `reserved_only`.
    pub(crate) ledgers: [Ledger; 2],
    /// The spread term's value under the default objective and with the term.
    pub(crate) spread_w: [f64; 2],
    /// The output, a line each.
    pub(crate) report: Vec<String>,
}

/// Section 1: the PDU captures through `nut_upsc`, by name (rack r1) and by detection.
fn ingest(engine: &mut Engine, out: &mut Vec<String>) -> Result<[IngestStats; 2], Error> {
    out.push("== 1. decoder nut_upsc: rack ePDUs read as Network UPS Tools prints them ==".into());
    let sample = pdu_capture(0, 0);
    let name = |d: Decoders| {
        d.detect(&sample)
            .map_or("nothing".into(), |d| d.name().to_owned())
    };
    let (ours, builtin) = (
        name(Decoders::builtin().with(NutUpsc)),
        name(Decoders::builtin()),
    );
    out.push(format!(
        "a capture is detected as {ours} (by the built-in decoders alone: {builtin})"
    ));
    let mut stats = [IngestStats::default(), IngestStats::default()];
    for m in 0..MINUTES {
        let at = Timestamp::from_secs(T0 + 60 * m);
        for r in 0..3 {
            let (pdu, text) = (id(&format!("pdu-r{}", r + 1)), pdu_capture(r, m));
            let src = format!("pdu-r{}-{m:02}", r + 1);
            let batch = match r {
                0 => Batch::capture_as("nut_upsc", src, text, pdu, at),
                _ => Batch::capture(src, text, pdu, at),
            };
            stats[usize::from(r > 0)].merge(&engine.ingest(batch)?.stats);
        }
    }
    for (how, s) in ["by name (r1)", "by detection (r2, r3)"].iter().zip(&stats) {
        out.push(format!(
            "{how:<22} accepted {:>3}  quarantined {:>2}",
            s.accepted, s.quarantined
        ));
    }
    let mut shown: Vec<Reason> = Vec::new();
    for q in engine.quarantine() {
        if !shown.contains(&q.reason) {
            let n: u64 = stats
                .iter()
                .filter_map(|s| s.by_reason.get(&q.reason))
                .sum();
            out.push(format!("  {n:>2} × {q}"));
            shown.push(q.reason);
        }
    }
    let keys = engine.store().select_keys(None, Some(SensorKind::Power));
    let meters: Vec<String> = keys
        .iter()
        .map(|k| format!("{}/{}", k.entity, k.sensor))
        .collect();
    out.push(format!("power series it made: {}", meters.join(" ")));
    let cpu = engine
        .ingest(Batch::prometheus("cadvisor.prom", cpu_counters()))?
        .stats;
    out.push(format!(
        "(CPU counters, built-in prometheus decoder: accepted {})",
        cpu.accepted
    ));
    Ok(stats)
}

/// Section 2: the whole data span under the default tariff and under `reserved_only`.
fn attribute(engine: &Engine, out: &mut Vec<String>) -> Result<[Ledger; 2], Error> {
    let window = engine
        .data_span()
        .ok_or(Error::NoData { what: "readings" })?;
    let tariff = engine.attribute(window)?;
    let opts = LedgerOptions::default().with_policy(ReservedOnly);
    let reserved = engine.attribute_with(window, &opts)?;
    out.push(String::new());
    out.push(format!(
        "== 2. policy reserved_only beside the default {}, over {} min of outlet power ==",
        tariff.policy,
        window.len_nanos() / 60_000_000_000
    ));
    let claims: Vec<&str> = ReservedOnly.claims().iter().map(|a| a.name()).collect();
    let (what, claims) = (ReservedOnly.description(), claims.join(", "));
    out.push(format!("reserved_only: {what}; claims {claims}"));
    out.push(format!(
        "{:<8} {:>5} {:>19} {:>17}",
        "workload", "cores", "two_part_tariff Wh", "reserved_only Wh"
    ));
    let wh = |l: &Ledger, w: &str| {
        let k = l.workloads.iter().position(|x| x.as_str() == w);
        k.map_or(0.0, |k| l.workload_totals_uj()[k] as f64 / 3.6e9)
    };
    for (w, _, _, cores, _) in RUNNING {
        out.push(format!(
            "{w:<8} {cores:>5} {:>19.3} {:>17.3}",
            wh(&tariff, w),
            wh(&reserved, w)
        ));
    }
    for l in [&tariff, &reserved] {
        let (m, a, u) = (l.measured_uj(), l.attributed_uj(), l.unattributed_uj());
        let verdict = if m == a + u {
            "conserved"
        } else {
            "NOT conserved"
        };
        out.push(format!(
            "{:<15} measured {m} µJ = attributed {a} + unattributed {u}: {verdict}",
            l.policy
        ));
    }
    Ok([tariff, reserved])
}

/// Section 3: the cache replicas placed by the optimizer without and with the spread term.
fn place(engine: &Engine, out: &mut Vec<String>) -> Result<[f64; 2], Error> {
    let pending: Vec<Workload> = engine
        .inventory()
        .workloads
        .iter()
        .filter(|w| w.host.is_none())
        .cloned()
        .collect();
    let spread = Arc::new(SpreadReplicas::new(
        &engine.fleet_problem(&pending)?,
        "cache-",
        250.0,
    ));
    out.push(String::new());
    out.push(format!(
        "== 3. objective term {:?}: {} W per pair of replicas in a rack ==",
        spread.name, spread.penalty_w
    ));
    let opts = SolveOptions::default()
        .with_seed(7)
        .with_rounds(400)
        .with_time_limit_ms(None);
    let objective = Objective::default().with_term(Arc::clone(&spread), 1.0);
    let runs = [
        ("default objective", opts.clone()),
        ("default + spread", opts.with_objective(objective)),
    ];
    let mut spread_w = [0.0; 2];
    for (k, (label, opts)) in runs.into_iter().enumerate() {
        let o = engine.optimize(&pending, &opts)?;
        let (p, host_of) = (&o.problem, &o.solution.host_of);
        let on = |t: usize| host_of[t].map(|h| (&p.hosts[h].id, &p.racks[p.hosts[h].rack].id));
        let to = |t: usize| {
            on(t).map_or("unplaced".into(), |(h, r)| {
                format!("{}→{h}/{r}", p.tasks[t].id)
            })
        };
        let placed: Vec<String> = spread.tasks.iter().map(|t| to(*t)).collect();
        let moved = (0..p.tasks.len())
            .filter(|t| p.tasks[*t].current.is_some_and(|c| host_of[*t] != Some(c)));
        let moved: Vec<String> = moved.map(to).collect();
        spread_w[k] = spread.penalty_w * spread.pairs(p, |t| host_of[t]) as f64;
        let facility = o.solution.evaluation.facility_w();
        out.push(format!(
            "{label:<17} {}: term {} W, facility {facility:.1} W",
            placed.join(" "),
            spread_w[k]
        ));
        out.push(format!("{:<17} and moves {}", "", moved.join(" ")));
    }
    Ok(spread_w)
}

/// Ingests, attributes and places with the three extensions.
pub(crate) fn run() -> Result<Outcome, Error> {
    let mut engine = Engine::builder()
        .inventory(inventory())
        .decoder(NutUpsc)
        .build()?;
    let mut report = Vec::new();
    let ingest = ingest(&mut engine, &mut report)?;
    let ledgers = attribute(&engine, &mut report)?;
    let spread_w = place(&engine, &mut report)?;
    Ok(Outcome {
        ingest,
        ledgers,
        spread_w,
        report,
    })
}

fn main() -> Result<(), Error> {
    for line in run()?.report {
        println!("{line}");
    }
    Ok(())
}
