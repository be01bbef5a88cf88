//! Crash safety: a child process appends to a durable store and is killed (SIGKILL) at random
//! points; after each kill the store reopens with every acknowledged sample present, nothing
//! but a prefix of what was written, and no file set aside as corrupt.
//!
//! The child is this same test binary running the ignored test `crash::child_writer` with
//! `KELVIN_CRASH_DIR` set. Sample `i` of the sequence goes to series `i % SERIES` at time
//! `(i / SERIES)` seconds with value [`value_of`]`(i)`, so any prefix can be checked exactly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kelvin_model::{EntityId, SensorKind};
use kelvin_store::{SeriesKey, Store, StoreOptions};

const SERIES: u64 = 7;

fn key(k: u64) -> SeriesKey {
    SeriesKey::new(
        EntityId::new(format!("host-{k:02}")).unwrap(),
        "psu1",
        SensorKind::Power,
    )
}

/// A value with varied bits: fractions, negatives, an occasional NaN and −0.0.
fn value_of(i: u64) -> f64 {
    match i % 97 {
        13 => f64::NAN,
        41 => -0.0,
        _ => ((i.wrapping_mul(2_654_435_761) % 100_000) as f64) / 8.0 - 3_000.0,
    }
}

fn opts() -> StoreOptions {
    StoreOptions::default()
        .with_block_samples(256)
        .with_partition_ns(3_600 * 1_000_000_000)
        .with_checkpoint_wal_bytes(256 << 10)
}

/// Reads the store in `dir` and returns how long a prefix of the sequence it holds, failing
/// the test if it holds anything else.
fn verify_prefix(dir: &std::path::Path, seen: &mut [usize; 3]) -> u64 {
    let (store, report) = Store::open(dir, opts()).expect("reopen");
    seen[0] += report.torn.iter().filter(|t| t.bytes > 0).count();
    seen[1] += usize::from(report.block_files > 0);
    seen[2] += report.wal_segments;
    assert!(
        report.set_aside.is_empty(),
        "corrupt files after a crash: {:?}",
        report.set_aside
    );
    assert!(
        report.lost_blocks.is_empty(),
        "lost blocks: {:?}",
        report.lost_blocks
    );
    let mut total = 0u64;
    let mut per: Vec<Vec<(i64, u64)>> = Vec::new();
    for k in 0..SERIES {
        let Some(id) = store.find(&key(k)) else {
            per.push(Vec::new());
            continue;
        };
        let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
        total += d.ts.len() as u64;
        per.push(
            d.ts.iter()
                .zip(&d.values)
                .map(|(&t, v)| (t, v.to_bits()))
                .collect(),
        );
    }
    for i in 0..total {
        let (k, j) = ((i % SERIES) as usize, (i / SERIES) as usize);
        let got = per[k].get(j).copied();
        let want = ((i / SERIES) as i64 * 1_000_000_000, value_of(i).to_bits());
        assert_eq!(
            got,
            Some(want),
            "sample {i} (series {k}, index {j}) after recovery"
        );
    }
    total
}

#[test]
#[ignore = "run as the child of crash_kill_and_recover"]
fn child_writer() {
    let Ok(dir) = std::env::var("KELVIN_CRASH_DIR") else {
        return;
    };
    let (mut store, _) = Store::open(&dir, opts()).unwrap();
    let ids: Vec<_> = (0..SERIES)
        .map(|k| store.series_id(&key(k)).unwrap())
        .collect();
    let mut i = store.sample_count();
    let mut rng = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut commits = 0u64;
    loop {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let batch = 1 + (rng >> 33) % 400;
        for _ in 0..batch {
            let ts = (i / SERIES) as i64 * 1_000_000_000;
            store
                .append(ids[(i % SERIES) as usize], ts, value_of(i))
                .unwrap();
            i += 1;
        }
        store.commit().unwrap();
        println!("ack {i}");
        commits += 1;
        if commits.is_multiple_of(6) {
            store.checkpoint().unwrap();
        }
    }
}

#[test]
fn crash_kill_and_recover() {
    let exe = std::env::current_exe().unwrap();
    let base = std::env::temp_dir().join(format!("kelvin-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let mut kills = 0;
    let mut seen = [0usize; 3];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..10 {
        let dir = base.join(format!("round-{round}"));
        let mut recovered = 0u64;
        for _ in 0..6 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "crash::child_writer",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("KELVIN_CRASH_DIR", &dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let out = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(n) = line
                        .strip_prefix("ack ")
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        let _ = tx.send(n);
                    }
                }
            });
            // Wait for the child to start writing, then kill it a random while later.
            let started = Instant::now();
            let mut acked = recovered;
            if let Ok(n) = rx.recv_timeout(Duration::from_secs(20)) {
                acked = n;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "child never acknowledged"
            );
            std::thread::sleep(Duration::from_millis(5 + seed % 250));
            child.kill().unwrap();
            child.wait().unwrap();
            reader.join().unwrap();
            while let Ok(n) = rx.try_recv() {
                acked = n;
            }
            kills += 1;
            let have = verify_prefix(&dir, &mut seen);
            assert!(
                have >= acked,
                "round {round}: {acked} acknowledged but only {have} recovered"
            );
            assert!(
                have >= recovered,
                "recovery lost data that an earlier recovery had"
            );
            recovered = have;
        }
        assert!(recovered > 0);
    }
    assert!(kills >= 50);
    eprintln!(
        "{kills} kills: {} torn WAL tails cut, {} recoveries from block files, {} WAL segments replayed",
        seen[0], seen[1], seen[2]
    );
    // The kills must have landed in the interesting places, not only between commits.
    assert!(seen[1] >= 10, "no recovery started from a checkpoint");
    let _ = std::fs::remove_dir_all(&base);
}
