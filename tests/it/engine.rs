//! `Engine` as an embedder uses it.

use kelvin::attribution::Account;
use kelvin::{AttributionPolicy, Batch, Engine, LedgerOptions, PlaceOptions, Policy};
use kelvin_model::{
    EntityId, Host, Inventory, Reading, Resources, SensorKind, Timestamp, Workload,
};

use crate::lab::{host, id, lab};

fn inventory() -> Inventory {
    let workload = |name: &str, tenant: &str| Workload {
        id: id(name),
        tenant: tenant.into(),
        owner: "o".into(),
        requests: Resources::new(4.0, 1 << 30),
        host: Some(id("h1")),
    };
    lab(
        vec![host("h1"), host("h2")],
        vec![workload("a", "t1"), workload("b", "t2")],
    )
}

#[test]
fn readings_for_unknown_entities_are_quarantined_not_dropped() {
    let mut e = Engine::builder().inventory(inventory()).build().unwrap();
    let r = |ent: &str, v: f64, s: i64| {
        Reading::new(
            id(ent),
            "dcmi",
            SensorKind::Power,
            v,
            Timestamp::from_secs(s),
        )
    };
    let mut untimed = r("h1", 90.0, 0);
    untimed.ts = Timestamp::UNKNOWN;
    let rep = e
        .ingest(Batch::Readings(vec![
            r("h1", 100.0, 0),
            r("ghost", 1.0, 0),
            r("h1", 120.0, 60),
            untimed,
        ]))
        .unwrap();
    assert_eq!(
        (rep.stats.seen, rep.stats.accepted, rep.stats.quarantined),
        (4, 2, 2)
    );
    assert_eq!(e.quarantine()[0].place.to_string(), "readings[1].entity");
    assert_eq!(e.quarantine()[1].place.to_string(), "readings[3].ts");
    let text = "ipmi_dcmi_power_consumption_watts{instance=\"nobody:9290\"} 5 0\n";
    let rep = e.ingest(Batch::prometheus("scrape", text)).unwrap();
    assert_eq!(rep.stats.quarantined, 1);
    assert_eq!(e.ingest_stats().quarantined, 3);
    assert_eq!(e.quarantine()[2].place.to_string(), "scrape:1");
}

#[test]
fn cpu_share_split_and_idle_hosts() {
    let mut e = Engine::builder()
        .inventory(inventory())
        .interval_secs(60)
        .build()
        .unwrap();
    let text = "\
ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 150 0
ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 150 120000
ipmi_dcmi_power_consumption_watts{instance=\"h2:9290\"} 80 0
ipmi_dcmi_power_consumption_watts{instance=\"h2:9290\"} 80 120000
container_cpu_usage_seconds_total{pod=\"a\",container=\"main\"} 0 0
container_cpu_usage_seconds_total{pod=\"a\",container=\"main\"} 90 120000
container_cpu_usage_seconds_total{pod=\"b\",container=\"main\"} 0 0
container_cpu_usage_seconds_total{pod=\"b\",container=\"main\"} 30 120000
container_cpu_usage_seconds_total{pod=\"b\",container=\"sidecar\"} 0 0
container_cpu_usage_seconds_total{pod=\"b\",container=\"sidecar\"} 30 120000
";
    e.ingest(Batch::prometheus("t", text)).unwrap();
    let span = e.data_span().unwrap();
    let cpu_share = LedgerOptions::default().with_policy(Policy::CpuShare);
    let bill = e.attribute_with(span, &cpu_share).unwrap();
    let h1 = &bill.meters[0];
    assert_eq!(h1.measured.uj, 18_000_000_000);
    // a used 90 s, b used 30 + 30 s across two containers
    assert_eq!(h1.lines[0].energy.uj, 10_800_000_000);
    assert_eq!(h1.lines[1].energy.uj, 7_200_000_000);
    let h2 = &bill.meters[1];
    assert_eq!(
        (h2.measured.uj, h2.account(Account::Idle).uj),
        (9_600_000_000, 9_600_000_000)
    );
    assert_eq!(
        bill.measured_uj(),
        bill.attributed_uj() + bill.unattributed_uj()
    );
    // The default, the two-part tariff: two intervals are too few to calibrate an idle floor,
    // so h1's energy is all dynamic and splits as above; h2 runs nothing, so its energy is
    // unexplained.
    let tariff = e.attribute(span).unwrap();
    assert_eq!(tariff.policy, "two_part_tariff");
    assert_eq!(tariff.meters[0].floor_uj, 0);
    assert_eq!(tariff.meters[0].lines[0].energy.uj, 10_800_000_000);
    assert_eq!(
        tariff.meters[1].account(Account::Unexplained).uj,
        9_600_000_000
    );
}

/// The default policy bills each host's idle floor by the workloads' requested cores: a and b
/// each requested 4 of h1's 16 cores, so each pays a quarter of the floor calibrated from the
/// quiet minutes, the unreserved half stays in `idle`, and the energy above the floor is split
/// by CPU use (a used one core, b two).
#[test]
fn the_default_tariff_bills_the_floor_by_requested_cores() {
    let mut e = Engine::builder()
        .inventory(inventory())
        .interval_secs(60)
        .build()
        .unwrap();
    let mut text = String::new();
    for k in 0..=10i64 {
        let (watts, busy) = if k <= 5 { (100, 0) } else { (180, k - 5) };
        let ms = k * 60_000;
        text +=
            &format!("ipmi_dcmi_power_consumption_watts{{instance=\"h1:9290\"}} {watts} {ms}\n");
        text += &format!(
            "container_cpu_usage_seconds_total{{pod=\"a\",container=\"main\"}} {} {ms}\n",
            60 * busy
        );
        text += &format!(
            "container_cpu_usage_seconds_total{{pod=\"b\",container=\"main\"}} {} {ms}\n",
            120 * busy
        );
    }
    e.ingest(Batch::prometheus("t", text)).unwrap();
    let span = e.data_span().unwrap();
    let aligned = e.aligned(span).unwrap();
    let requested: Vec<f64> = aligned.input.hosts[0]
        .workloads
        .iter()
        .map(|w| w.requested_cores)
        .collect();
    assert_eq!(requested, [4.0, 4.0]);
    let bill = e.attribute(span).unwrap();
    let h1 = &bill.meters[0];
    // 5 minutes at 100 W, one ramping to 180 W, 4 at 180 W.
    assert_eq!(h1.measured.uj, 81_600_000_000);
    assert_eq!(h1.floor_uj, 60_000_000_000, "100 W over 10 minutes");
    let (a, b) = (&h1.lines[0], &h1.lines[1]);
    assert_eq!((a.static_uj, b.static_uj), (15_000_000_000, 15_000_000_000));
    assert_eq!(h1.account(Account::Idle).uj, 30_000_000_000);
    assert_eq!(
        (a.dynamic_uj, b.dynamic_uj),
        (7_200_000_000, 14_400_000_000)
    );
    assert!(h1.is_balanced());
    // The Scaphandre-like policy bills the same dynamic energy but no floor at all.
    let scaphandre = e
        .attribute_with(
            span,
            &LedgerOptions::default().with_policy(Policy::ScaphandreLike),
        )
        .unwrap();
    assert_eq!(
        scaphandre.meters[0].account(Account::Idle).uj,
        60_000_000_000
    );
}

#[test]
fn placement_rejects_running_workloads_and_explains_misfits() {
    let e = Engine::builder().inventory(inventory()).build().unwrap();
    let running = e.inventory().workloads[0].clone();
    assert!(matches!(
        e.place(&[running], &PlaceOptions::default()),
        Err(kelvin::Error::Placement(_))
    ));
    let huge = Workload {
        id: id("huge"),
        tenant: "t".into(),
        owner: "o".into(),
        requests: Resources::new(64.0, 1 << 30),
        host: None,
    };
    let plan = e.place(&[huge], &PlaceOptions::default()).unwrap();
    assert_eq!(
        plan.unplaced[0].to_string(),
        "huge fits on none of 2 hosts: not enough cpu on 2 hosts"
    );
}

#[test]
fn builder_validates_the_inventory() {
    assert!(matches!(
        Engine::builder().build(),
        Err(kelvin::Error::NoData { .. })
    ));
    let mut inv = inventory();
    inv.workloads[1].host = Some(id("h9"));
    let e = Engine::builder().inventory(inv).build().unwrap_err();
    assert_eq!(e.to_string(), "workloads[1].host: no Host with id h9");
}

#[test]
fn captures_in_any_format_are_decoded_and_admitted() {
    let mut e = Engine::builder().inventory(inventory()).build().unwrap();
    // `ipmitool sensor` output as a Supermicro BMC prints it.
    let text = "\
CPU1 Temp        | 33.000     | degrees C  | ok    | 0.000     | 0.000     | 0.000     | 79.000    | 82.000    | 84.000
FAN1             | 4500.000   | RPM        | ok    | 300.000   | 500.000   | 700.000   | 25300.000 | 25400.000 | 25500.000
P1-DIMMA3 TEMP   | na         |            | na    | na        | na        | na        | na        | na        | na
";
    let at = Timestamp::from_secs(1_793_606_400);
    let rep = e
        .ingest(Batch::capture("bmc-h1", text, id("h1"), at))
        .unwrap();
    assert_eq!(rep.stats.seen, rep.stats.accepted + rep.stats.quarantined);
    assert_eq!(rep.stats.accepted, 3, "{:?}", e.quarantine());
    let temp = kelvin::store::SeriesKey::new(id("h1"), "CPU1 Temp", SensorKind::Temperature);
    let stored = e
        .store()
        .scan(e.store().find(&temp).unwrap(), i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(stored.values[0], 33.0);
    // Without a time the readings cannot be stored, and say why.
    let rep = e
        .ingest(Batch::Capture {
            format: None,
            source: "bmc-h2".into(),
            text: text.into(),
            entity: Some(id("h2")),
            taken_at: None,
        })
        .unwrap();
    assert_eq!((rep.stats.accepted, rep.stats.quarantined), (0, 3));
    assert!(
        e.quarantine()
            .iter()
            .any(|q| q.reason == kelvin::ingest::Reason::MissingTimestamp)
    );
    // A host that is not in the inventory.
    let rep = e
        .ingest(Batch::capture("bmc-x", text, id("stranger"), at))
        .unwrap();
    assert_eq!(
        rep.stats
            .by_reason
            .get(&kelvin::ingest::Reason::UnknownEntity),
        Some(&3)
    );
}

/// The embedded edge dataset ingested into an engine that knows its running workloads.
fn edge_engine() -> (kelvin::dataset::RecordedDataset, Engine) {
    let ds = kelvin::dataset::RecordedDataset::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/edge-small"
    ))
    .unwrap();
    let mut engine = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
        .build()
        .unwrap();
    engine
        .ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))
        .unwrap();
    (ds, engine)
}

#[test]
fn every_policy_balances_the_edge_dataset() {
    let (_, engine) = edge_engine();
    let span = engine.data_span().unwrap();
    let default = engine.attribute(span).unwrap();
    let mut unbilled = Vec::new();
    for p in Policy::ALL {
        let bill = engine
            .attribute_with(span, &LedgerOptions::default().with_policy(p))
            .unwrap();
        assert_eq!(bill.policy, p.name());
        assert_eq!(bill.measured_uj(), default.measured_uj(), "{p:?}");
        assert_eq!(
            bill.measured_uj(),
            bill.attributed_uj() + bill.unattributed_uj(),
            "{p:?}"
        );
        unbilled.push((p, bill.unattributed_uj()));
    }
    // The default is the tariff. Its workloads reserve their requested cores, so it bills
    // part of the calibrated floor and leaves the unreserved rest (more than a tenth of the
    // energy on these lightly reserved hosts) in `idle`; the Scaphandre-like policy leaves the
    // whole floor unbilled, and full absorption bills (almost) everything.
    let get = |p: Policy| unbilled.iter().find(|(q, _)| *q == p).unwrap().1;
    assert_eq!(get(Policy::TwoPartTariff), default.unattributed_uj());
    assert_eq!(
        default,
        engine
            .attribute_with(span, &LedgerOptions::default())
            .unwrap()
    );
    assert!(get(Policy::TwoPartTariff) > default.measured_uj() / 10);
    assert!(get(Policy::TwoPartTariff) < get(Policy::ScaphandreLike));
    assert!(get(Policy::FullAbsorption) < get(Policy::TwoPartTariff));
    assert_eq!(get(Policy::FullAbsorption), get(Policy::CpuShare));
}

/// An embedder's own policy, defined here with the public API only, runs through the engine
/// like a built-in one: the whole measured energy split by requested cores.
#[test]
fn a_custom_policy_runs_through_the_engine() {
    use kelvin::attribution::ledger::{Floor, IntervalView};
    #[derive(Debug)]
    struct ByRequest;
    impl AttributionPolicy for ByRequest {
        fn name(&self) -> &str {
            "by_request"
        }
        fn floor(&self) -> Floor {
            Floor::Absorbed
        }
        fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
            for (k, w) in weights[..iv.consumers()].iter_mut().enumerate() {
                *w = iv.reservation(k);
            }
        }
    }
    let (ds, engine) = edge_engine();
    let span = engine.data_span().unwrap();
    let bill = engine
        .attribute_with(span, &LedgerOptions::default().with_policy(ByRequest))
        .unwrap();
    assert_eq!(bill.policy, "by_request");
    assert!(bill.is_balanced());
    assert_eq!(
        bill.unattributed_uj(),
        0,
        "every host runs a workload that requested cores"
    );
    let requested = |w: &EntityId| {
        ds.workloads
            .iter()
            .find(|x| &x.id == w)
            .unwrap()
            .requests
            .cpu_cores
    };
    for sheet in &bill.meters {
        let cores: f64 = sheet
            .lines
            .iter()
            .map(|l| requested(bill.workload_of(l)))
            .sum();
        for l in &sheet.lines {
            let expected = sheet.measured.uj as f64 * requested(bill.workload_of(l)) / cores;
            assert!(
                (l.energy.uj as f64 - expected).abs() <= 60.0,
                "{}",
                sheet.meter
            );
        }
    }
}

/// The engine's fleet optimizer on the embedded dataset: every pending workload placed, no
/// violation, and no more facility power than the first-fit plan of `Engine::place`, both
/// judged by the same independent evaluator.
#[test]
fn optimize_beats_first_fit_on_the_edge_dataset() {
    use kelvin::placement::fleet::SolveOptions;
    let (ds, engine) = edge_engine();
    let pending: Vec<_> = ds
        .workloads
        .iter()
        .filter(|w| w.host.is_none())
        .cloned()
        .collect();
    assert!(!pending.is_empty());
    let opts = SolveOptions::default()
        .with_rounds(500)
        .with_time_limit_ms(None);
    let out = engine.optimize(&pending, &opts).unwrap();
    let p = &out.problem;
    // Curves came from the fitted models: every host has a non-zero floor or slope.
    assert!(p.hosts.iter().all(|h| h.power.max_w() > 0.0));
    // Running workloads carry their measured utilization.
    assert!(
        p.tasks
            .iter()
            .any(|t| t.current.is_some() && t.utilization < 1.0)
    );
    let sol = &out.solution;
    assert!(sol.evaluation.violations.is_empty());
    assert_eq!(sol.evaluation.unplaced, 0, "{:?}", sol.unplaced);
    for w in &pending {
        assert!(out.host_of(&w.id).is_some(), "{} placed", w.id);
    }

    let ffd_eval = &out.first_fit;
    // The baseline is what Engine::place does, judged by the same evaluator.
    let plan = engine.place(&pending, &PlaceOptions::default()).unwrap();
    assert_eq!(plan.assignments.len(), pending.len());
    assert_eq!(ffd_eval.unplaced, 0);
    println!(
        "edge-small: optimize {:.1} W ({} moved), first fit {:.1} W, bound {:.1} W",
        sol.evaluation.facility_w(),
        sol.evaluation.moved,
        ffd_eval.facility_w(),
        sol.bound.facility_w
    );
    assert!(sol.evaluation.facility_w() <= ffd_eval.facility_w() + 1e-6);

    let placed = engine.place(&pending, &PlaceOptions::default()).unwrap();
    assert_eq!(placed, plan, "place is unchanged by optimize");
    let mut bad = pending.clone();
    bad[0].host = Some(ds.inventory.hosts[0].id.clone());
    let err = engine.optimize(&bad, &opts).unwrap_err();
    assert!(err.to_string().contains("already names a host"), "{err}");
}

fn power(host: &str, watts: f64, ts: Timestamp) -> Reading {
    Reading::new(id(host), "dcmi", SensorKind::Power, watts, ts)
}

/// Readings far from the data are quarantined, in every batch kind, and never size a window.
#[test]
fn implausible_times_are_quarantined_and_the_span_stays_honest() {
    use kelvin::ingest::Reason;
    let t0 = Timestamp::from_secs(1_793_606_400);
    let mut e = Engine::builder().inventory(inventory()).build().unwrap();
    let batch: Vec<Reading> = (0..10)
        .map(|k| power("h1", 100.0, t0.add_nanos(k * 60_000_000_000)))
        .chain([power("h1", 100.0, Timestamp::from_millis(1))])
        .collect();
    let rep = e.ingest(Batch::Readings(batch)).unwrap();
    assert_eq!((rep.stats.accepted, rep.stats.quarantined), (10, 1));
    let q = &e.quarantine()[0];
    assert_eq!(q.reason, Reason::ImplausibleTime);
    assert_eq!(q.place.to_string(), "readings");
    assert!(q.detail.contains("before the data"), "{}", q.detail);
    // A later Prometheus batch a decade ahead: quarantined with the same reason.
    let text = "ipmi_dcmi_power_consumption_watts{instance=\"h2:9290\"} 5 2109139200000\n";
    let rep = e.ingest(Batch::prometheus("scrape", text)).unwrap();
    assert_eq!(rep.stats.by_reason.get(&Reason::ImplausibleTime), Some(&1));
    let span = e.data_span().unwrap();
    assert_eq!(span.start(), t0);
    assert_eq!(span.len_nanos(), 9 * 60_000_000_000);
    assert_eq!(e.ingest_stats().seen, 12);
}

/// A live embedder anchors the bounds on its clock: a batch from a BMC whose clock reads 1970
/// is refused even when it comes first.
#[test]
fn anchored_bounds_refuse_a_first_batch_from_the_wrong_year() {
    let now = Timestamp::from_secs(1_793_606_400);
    let mut e = Engine::builder()
        .inventory(inventory())
        .time_bounds(kelvin::model::TimeBounds::default().with_anchor(now))
        .build()
        .unwrap();
    let rep = e
        .ingest(Batch::Readings(vec![
            power("h1", 100.0, Timestamp::from_secs(10)),
            power("h1", 100.0, Timestamp::from_secs(70)),
        ]))
        .unwrap();
    assert_eq!(rep.stats.quarantined, 2);
    assert_eq!(e.data_span(), None);
}

/// A window with more cells than the engine allows is refused before anything is allocated,
/// and a window shorter than one interval names the likely cause.
#[test]
fn windows_too_large_or_too_short_are_typed_errors() {
    let t0 = Timestamp::from_secs(1_793_606_400);
    let mut e = Engine::builder()
        .inventory(inventory())
        .max_grid_cells(1_000)
        .build()
        .unwrap();
    let day: Vec<Reading> = (0..=1440)
        .map(|k| power("h1", 100.0, t0.add_nanos(k * 60_000_000_000)))
        .collect();
    e.ingest(Batch::Readings(day)).unwrap();
    let err = e.attribute(e.data_span().unwrap()).unwrap_err();
    assert!(matches!(err, kelvin::Error::Window { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("1440 intervals") && msg.contains("max_grid_cells"),
        "{msg}"
    );
    // Timestamps in seconds where milliseconds belong all land in January 1970.
    let mut e = Engine::builder().inventory(inventory()).build().unwrap();
    let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 5 1793606400\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 5 1793606415\n";
    e.ingest(Batch::prometheus("scrape", text)).unwrap();
    let msg = e.attribute(e.data_span().unwrap()).unwrap_err().to_string();
    assert!(msg.contains("probably seconds where milliseconds"), "{msg}");
}

/// `Engine::place` explains each decision: the host whose memory was full is named with the
/// constraint, and the runners-up with their scores.
#[test]
fn place_names_rejected_hosts_and_runners_up() {
    let mut inv = inventory();
    inv.hosts.push(Host {
        id: id("h3"),
        rack: id("r1"),
        capacity: Resources::new(16.0, 64 << 30),
        pdu: None,
    });
    // h1's memory is all but full: 2 GiB left.
    inv.workloads.push(Workload {
        id: id("cache"),
        tenant: "t1".into(),
        owner: "o".into(),
        requests: Resources::new(1.0, 60 << 30),
        host: Some(id("h1")),
    });
    let e = Engine::builder().inventory(inv).build().unwrap();
    let web = Workload {
        id: id("web"),
        tenant: "t".into(),
        owner: "o".into(),
        requests: Resources::new(4.0, 8 << 30),
        host: None,
    };
    let plan = e.place(&[web], &PlaceOptions::default()).unwrap();
    let a = &plan.assignments[0];
    assert_eq!((a.host.as_str(), a.rank), ("h2", 1));
    assert_eq!(a.rejected.len(), 1);
    assert_eq!(a.rejected[0].host.as_str(), "h1");
    assert_eq!(
        a.rejected[0].constraints,
        [kelvin::placement::Constraint::Memory]
    );
    assert_eq!(a.runners_up.len(), 1);
    assert_eq!(a.runners_up[0].host.as_str(), "h3");
    assert_eq!(a.runners_up[0].score.cpu_free_after, 12.0);
    assert_eq!(
        a.to_string(),
        "web on h2 (rank 1, cpu 25 % after); rejected: h1 (memory); runners-up: h3 (rank 2, cpu 25 % after)"
    );
}

/// A host that runs nothing but draws power is awake: the fleet problem says so, and the
/// fleet `Placer` (which works on the fleet as it runs) counts it and prices work there at its
/// dynamic power only; a plan may still power it down.
#[test]
fn a_host_that_draws_power_counts_as_awake() {
    use kelvin::placement::fleet::{Objective, Placer, Policy, evaluate};
    let t0 = Timestamp::from_secs(1_793_606_400);
    let mut e = Engine::builder().inventory(inventory()).build().unwrap();
    let readings: Vec<Reading> = (0..10)
        .flat_map(|k| {
            let ts = t0.add_nanos(k * 60_000_000_000);
            [power("h1", 150.0, ts), power("h2", 78.0, ts)]
        })
        .collect();
    e.ingest(Batch::Readings(readings)).unwrap();
    let measured = e.measured();
    assert_eq!(measured.host_power_w.get(&id("h2")), Some(&78.0));
    let p = e.fleet_problem(&[]).unwrap();
    // h1 runs a and b; h2 runs nothing and draws 78 W.
    assert!(p.hosts.iter().all(|h| h.awake));
    let placer = Placer::new(&p, Policy::Kelvin(Objective::default())).unwrap();
    assert_eq!(placer.evaluation().hosts_awake, 2);
    let running: Vec<Option<usize>> = p.tasks.iter().map(|t| t.current).collect();
    assert_eq!(evaluate(&p, &running).unwrap().hosts_awake, 1);
}

#[test]
fn a_registered_decoder_ingests_captures_by_name_and_by_detection() {
    use kelvin::ingest::{Confidence, Context, Decode, IngestBatch, Quarantined, Reason};

    /// `acme_watts <W>` lines from an embedder's meter: a format Kelvin does not know.
    struct AcmeMeter;

    impl Decode for AcmeMeter {
        fn name(&self) -> &str {
            "acme_meter"
        }

        fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
            for (i, line) in input.lines().enumerate() {
                match line.strip_prefix("acme_watts ").map(str::parse::<f64>) {
                    Some(Ok(w)) => out.accept(Reading::new(
                        ctx.fallback_entity(),
                        "wall",
                        SensorKind::Power,
                        w,
                        ctx.timestamp(),
                    )),
                    _ => out.reject(Quarantined::new(
                        ctx.line(i as u64 + 1),
                        Reason::BadValue,
                        "not acme_watts <W>",
                        line,
                    )),
                }
            }
        }

        fn detect(&self, head: &str) -> Option<Confidence> {
            head.starts_with("acme_watts ")
                .then_some(Confidence::LIKELY)
        }
    }

    let mut e = Engine::builder()
        .inventory(inventory())
        .decoder(AcmeMeter)
        .build()
        .unwrap();
    let at = Timestamp::from_secs(1_793_606_400);
    // By name.
    let rep = e
        .ingest(Batch::capture_as(
            "acme_meter",
            "pdu-h1",
            "acme_watts 212\nacme_watts oops\n",
            id("h1"),
            at,
        ))
        .unwrap();
    assert_eq!(rep.stats.seen, rep.stats.accepted + rep.stats.quarantined);
    assert_eq!((rep.stats.accepted, rep.stats.quarantined), (1, 1));
    assert_eq!(rep.stats.by_reason.get(&Reason::BadValue), Some(&1));
    assert_eq!(e.quarantine()[0].place.to_string(), "pdu-h1:2");
    // By detection (its lines would otherwise be Prometheus samples of an unmapped metric).
    let rep = e
        .ingest(Batch::capture("pdu-h2", "acme_watts 180\n", id("h2"), at))
        .unwrap();
    assert_eq!(rep.stats.accepted, 1, "{:?}", e.quarantine());
    for (host, watts) in [("h1", 212.0), ("h2", 180.0)] {
        let key = kelvin::store::SeriesKey::new(id(host), "wall", SensorKind::Power);
        let stored = e
            .store()
            .scan(e.store().find(&key).unwrap(), i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(stored.values, [watts]);
    }
    // Built-in formats are still there; a name no decoder has is one quarantined record.
    let rep = e
        .ingest(Batch::capture_as(
            "acme",
            "pdu-h1",
            "acme_watts 1\n",
            id("h1"),
            at,
        ))
        .unwrap();
    assert_eq!(rep.stats.by_reason.get(&Reason::UnknownFormat), Some(&1));
    assert_eq!(e.ingest_stats().accepted, 2);
}

/// A reader that yields some exposition text, then fails like a dropped connection.
struct FailingReader {
    text: &'static [u8],
    served: bool,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.served {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "peer went away",
            ));
        }
        self.served = true;
        let n = self.text.len().min(buf.len());
        buf[..n].copy_from_slice(&self.text[..n]);
        Ok(n)
    }
}

#[test]
fn io_failures_are_typed_and_keep_the_io_error_as_their_source() {
    use std::error::Error as _;
    let mut engine = Engine::builder().inventory(inventory()).build().unwrap();
    let reader = std::io::BufReader::new(FailingReader {
        text: b"node_power_watts{host=\"h1\"} 180 1700000000000\n",
        served: false,
    });
    let e = engine
        .ingest_prometheus_reader("scrape.prom", reader, |_, _| {})
        .unwrap_err();
    assert!(matches!(e, kelvin::Error::Io { .. }), "{e}");
    assert!(e.to_string().starts_with("scrape.prom at byte "), "{e}");
    let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionReset)
    );

    // A dataset whose directory is missing: the file system's error is the source.
    let e = kelvin::dataset::RecordedDataset::load("/nonexistent/kelvin-dataset")
        .map_err(kelvin::Error::from)
        .unwrap_err();
    assert!(matches!(e, kelvin::Error::Dataset { .. }), "{e}");
    let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound),
        "{e}"
    );
}

/// A container restarts between two scrapes (its cAdvisor counter falls from 90 s to 2 s),
/// and one scrape arrives after a newer one: the restart is counted and listed with its
/// series and both values, the late scrape is out of order and not a reset, and nothing is
/// quarantined for either (both are valid data).
#[test]
fn counter_resets_are_counted_and_listed_with_their_series() {
    let mut e = Engine::builder()
        .inventory(inventory())
        .interval_secs(60)
        .build()
        .unwrap();
    let scrape = |cpu: f64, watts: f64| {
        format!(
            "ipmi_dcmi_power_consumption_watts{{instance=\"h1:9290\"}} {watts}\n\
             container_cpu_usage_seconds_total{{pod=\"a\",container=\"main\"}} {cpu}\n"
        )
    };
    let at = |s: i64| Timestamp::from_secs(1_700_000_000 + s);
    let mut resets = Vec::new();
    for (t, cpu) in [(0, 0.0), (60, 45.0), (120, 90.0), (180, 2.0), (240, 40.0)] {
        let rep = e
            .ingest(Batch::prometheus_at("cadvisor", scrape(cpu, 150.0), at(t)))
            .unwrap();
        assert_eq!(rep.stats.quarantined, 0);
        resets.push(rep.counter_resets);
    }
    assert_eq!(resets, [0, 0, 0, 1, 0]);
    // The scrape of t = 150 s, delivered late: older than the series' newest.
    let rep = e
        .ingest(Batch::prometheus_at(
            "cadvisor",
            scrape(1.0, 150.0),
            at(150),
        ))
        .unwrap();
    assert_eq!((rep.counter_resets, rep.stats.quarantined), (0, 0));
    assert_eq!(e.counter_out_of_order(), 1);
    assert_eq!(e.counter_stats().resets, 1);
    let listed: Vec<_> = e.counter_resets().collect();
    assert_eq!(listed.len(), 1);
    let r = listed[0];
    // The pod's counter, named by its container.
    assert_eq!((r.entity.as_str(), r.sensor.as_str()), ("a", "main"));
    assert_eq!(
        (r.from, r.at, r.before, r.after),
        (at(120), at(180), 90.0, 2.0)
    );
}
