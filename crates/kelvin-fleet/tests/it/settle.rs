use std::collections::{BTreeMap, BTreeSet};

use datafusion::prelude::SessionContext;

use crate::fleet::{local_context, rows};

/// A settlement batch prepared by SQL from the exported readings of one site: each host's
/// energy per minute from its power gauge, each workload's CPU seconds per minute from its
/// counter, joined on the host and the minute; the floor is the host's lowest reading of the
/// minute, reservations are equal shares of the host.
const BATCH_SQL: &str = "CREATE VIEW batch AS \
    WITH power AS ( \
      SELECT host AS meter, date_bin(INTERVAL '60 seconds', ts) AS interval_start, \
             kelvin_energy_j(ts, value) AS energy_j, min(value) AS idle_w \
      FROM readings WHERE site = 'edge-small' AND kind = 'power' \
      GROUP BY host, date_bin(INTERVAL '60 seconds', ts)), \
    cpu AS ( \
      SELECT host, entity AS workload, date_bin(INTERVAL '60 seconds', ts) AS interval_start, \
             kelvin_increase(ts, value) AS cpu_s \
      FROM readings WHERE site = 'edge-small' AND kind = 'cpu_time' \
      GROUP BY host, entity, date_bin(INTERVAL '60 seconds', ts)) \
    SELECT p.meter, p.interval_start, p.energy_j, p.idle_w, 16.0 AS cores, 200.0 AS dynamic_w, \
           c.workload, 1.0 / count(*) OVER (PARTITION BY p.meter, p.interval_start) AS reservation, \
           c.cpu_s \
    FROM power p LEFT JOIN cpu c ON c.host = p.meter AND c.interval_start = p.interval_start";

async fn with_batch() -> SessionContext {
    let ctx = local_context().await;
    kelvin_fleet::register_settle(&ctx);
    ctx.sql(BATCH_SQL).await.unwrap();
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_from_the_readings_settles_conserved_per_meter_and_minute() {
    let ctx = with_batch().await;
    // What the batch measured, per meter and minute, in microjoules.
    let measured: BTreeMap<(String, String), i64> = rows(
        &ctx,
        "SELECT DISTINCT meter, CAST(interval_start AS VARCHAR), \
         CAST(round(energy_j * 1e6) AS BIGINT) FROM batch",
    )
    .await
    .into_iter()
    .map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().unwrap()))
    .collect();
    assert!(measured.len() > 100, "{} meter-minutes", measured.len());
    // What the settlement billed them: lines plus accounts.
    let billed: BTreeMap<(String, String), i64> = rows(
        &ctx,
        "SELECT meter, CAST(interval_start AS VARCHAR), sum(energy_uj), min(measured_uj), \
         max(measured_uj) FROM kelvin_settle('batch', 60) GROUP BY meter, interval_start",
    )
    .await
    .into_iter()
    .map(|r| {
        assert_eq!(r[3], r[4], "one measured amount per sheet: {r:?}");
        assert_eq!(
            r[2], r[3],
            "lines and accounts add up to the measured amount: {r:?}"
        );
        ((r[0].clone(), r[1].clone()), r[2].parse().unwrap())
    })
    .collect();
    // Integration of the meter's energy is to the microjoule, so the sums are exact.
    for (k, uj) in &measured {
        let got = billed[k];
        assert!((got - uj).abs() <= 1, "{k:?}: billed {got} of {uj}");
    }
    assert_eq!(billed.len(), measured.len());
    // Every workload with a counter is billed, every line within its bounds.
    let workloads: BTreeSet<String> = rows(
        &ctx,
        "SELECT DISTINCT workload FROM kelvin_settle('batch', 60) WHERE workload IS NOT NULL",
    )
    .await
    .into_iter()
    .map(|mut r| r.remove(0))
    .collect();
    assert_eq!(workloads.len(), 16, "{workloads:?}");
    let outside = "SELECT count(*) FROM kelvin_settle('batch', 60) \
                   WHERE lo_uj > energy_uj OR energy_uj > hi_uj OR energy_uj < 0";
    assert_eq!(rows(&ctx, outside).await, [["0"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_argument_changes_the_split_and_not_the_total() {
    let ctx = with_batch().await;
    let mut by_policy = BTreeMap::new();
    for policy in ["two_part_tariff", "cpu_share"] {
        let sql = format!(
            "SELECT coalesce(workload, account), sum(energy_uj), min(policy), max(policy) \
             FROM kelvin_settle('batch', 60, '{policy}') GROUP BY coalesce(workload, account)"
        );
        let got: BTreeMap<String, i64> = rows(&ctx, &sql)
            .await
            .into_iter()
            .map(|r| {
                assert_eq!((r[2].as_str(), r[3].as_str()), (policy, policy), "{r:?}");
                (r[0].clone(), r[1].parse().unwrap())
            })
            .collect();
        by_policy.insert(policy, got);
    }
    let total = |m: &BTreeMap<String, i64>| m.values().sum::<i64>();
    let (tariff, share) = (&by_policy["two_part_tariff"], &by_policy["cpu_share"]);
    assert_eq!(total(tariff), total(share), "the same energy settled");
    let moved: i64 = tariff
        .iter()
        .map(|(k, v)| (v - share.get(k).copied().unwrap_or(0)).abs())
        .sum();
    assert!(
        moved > total(tariff) / 100,
        "the policies split differently: {moved} uJ moved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_errors_naming_the_place() {
    let ctx = SessionContext::new();
    kelvin_fleet::register_settle(&ctx);
    let view = |name: &str, rows: &str, cols: &str| {
        format!("CREATE VIEW {name} AS SELECT * FROM (VALUES {rows}) AS t({cols})")
    };
    let full =
        "meter, interval_start, energy_j, idle_w, cores, dynamic_w, workload, reservation, cpu_s";
    for sql in [
        view(
            "no_cores",
            "('h1', 0, 10.0, 1.0, 200.0, 'a', 0.5, 1.0)",
            "meter, interval_start, energy_j, idle_w, dynamic_w, workload, reservation, cpu_s",
        ),
        view(
            "negative",
            "('h1', 0, -10.0, 1.0, 4.0, 200.0, 'a', 0.5, 1.0)",
            full,
        ),
        view(
            "overbooked",
            "('h1', 0, 10.0, 1.0, 4.0, 200.0, 'a', 1.5, 1.0)",
            full,
        ),
        view(
            "disagree",
            "('h1', 0, 10.0, 1.0, 4.0, 200.0, 'a', 0.5, 1.0), ('h1', 0, 11.0, 1.0, 4.0, 200.0, 'b', 0.5, 1.0)",
            full,
        ),
        view(
            "bad_name",
            "('h1', 0, 10.0, 1.0, 4.0, 200.0, '', 0.5, 1.0)",
            full,
        ),
    ] {
        ctx.sql(&sql).await.unwrap();
    }
    let expect = [
        ("kelvin_settle('no_cores', 60)", "has no column cores"),
        ("kelvin_settle('negative', 60)", "energy_j -10"),
        ("kelvin_settle('overbooked', 60)", "reservation 1.5"),
        (
            "kelvin_settle('disagree', 60)",
            "meter h1: its columns differ",
        ),
        ("kelvin_settle('bad_name', 60)", "kelvin_settle: \"\""),
        ("kelvin_settle('no_such_view', 60)", "no_such_view"),
        ("kelvin_settle('negative', 0)", "interval_s 0"),
        (
            "kelvin_settle('negative', 60, 'fair')",
            "policy \"fair\": not one of",
        ),
        ("kelvin_settle('negative')", "takes 2 or 3 arguments"),
        ("kelvin_settle(60, 60)", "batch must be a string literal"),
    ];
    for (call, want) in expect {
        let sql = format!("SELECT * FROM {call}");
        let err = match ctx.sql(&sql).await {
            Ok(df) => df.collect().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(err.to_string().contains(want), "{call}: {err}");
    }
}
