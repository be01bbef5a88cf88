//! Hostile-input reproducers: binpack (instance readers and time-limited packing) and the
//! fleet optimizer's time limit. Each runs within the heap budget; time-limited runs must end
//! within their limit plus 10 % or 50 ms, whichever is larger, with a feasible result.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kelvin::placement::binpack::{BinPacking, MAX_INSTANCE_BYTES, SearchLimit};
use kelvin::placement::fleet::{SolveOptions, Synthetic, evaluate, solve};

use crate::within_budget;

/// The slack a time limit allows: 10 % or 50 ms, whichever is larger.
fn allowed(limit_ms: u64) -> Duration {
    Duration::from_millis(limit_ms + (limit_ms / 10).max(50))
}

/// A scratch directory of this test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kelvin-hostile-binpack-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The parse error of `text`, which must name `line` and contain every one of `words`.
fn refused(text: &str, line: usize, words: &[&str]) -> String {
    let e = within_budget(|| BinPacking::parse(text)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("line {line}: ")),
        "{msg:?} does not name line {line}"
    );
    for w in words {
        assert!(msg.contains(w), "{msg:?} does not say {w:?}");
    }
    msg
}

/// Proptest's ChaCha generator, seeded, so the instances are the same on every run.
struct Seeded(proptest::test_runner::TestRng);

impl Seeded {
    fn new(seed: u64) -> Seeded {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Seeded(proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &bytes,
        ))
    }

    fn next(&mut self) -> u64 {
        use proptest::prelude::RngCore;
        self.0.next_u64()
    }
}

/// A BPPLIB text of `n` random weights in `1..=capacity`.
fn random_bpplib(n: usize, capacity: u64, seed: u64) -> String {
    let mut rng = Seeded::new(seed);
    let mut text = format!("{n}\n{capacity}\n");
    for _ in 0..n {
        text.push_str(&format!("{}\n", 1 + rng.next() % capacity));
    }
    text
}

#[test]
fn a_first_line_of_u64_max_is_refused_not_a_capacity_overflow() {
    // Was: `Vec::with_capacity(18446744073709551615)` panicked with "capacity overflow".
    refused(
        "18446744073709551615\n1000\n5\n",
        1,
        &["18446744073709551615 items announced", "2^22"],
    );
    // The same count on a `.vbp` first line is a dimension count, refused by its limit.
    refused(
        "18446744073709551615\n10 10\n1\n1 1 1\n",
        1,
        &["dimensions", "limit of 64"],
    );
}

#[test]
fn a_billion_items_announced_in_14_bytes_are_refused_before_any_allocation() {
    // Was: a 24 GB allocation, the 2^22 limit being checked after it.
    let text = "1000000000\n10\n";
    assert_eq!(text.len(), 14);
    refused(text, 1, &["1000000000 items announced", "limit of 2^22"]);
    // Counts at the limit allocate only what the text can hold.
    let e = refused("4194304\n10\n1\n", 1, &["4194304 items announced, 1 given"]);
    assert!(!e.contains("limit"), "{e}");
}

#[test]
fn vbp_demands_and_counts_are_checked_before_pushing_items() {
    // Was: `items.len() + demand` wrapped around and the push loop ran out of memory.
    refused(
        "1\n10\n1\n5 18446744073709551615\n",
        4,
        &["demand of 18446744073709551615", "2^22"],
    );
    // Demands that add up past the limit are refused on the line that passes it, before
    // its items are made.
    refused(
        "1\n10\n2\n5 4000000\n6 4000000\n",
        5,
        &["demand of 4000000", "2^22", "4000000 on the lines before"],
    );
    // Dimensions times items past the limit of sizes in all.
    refused(
        "8\n9 9 9 9 9 9 9 9\n1\n1 1 1 1 1 1 1 1 4000000\n",
        4,
        &["2^24", "sizes in all"],
    );
    // Item-type counts and dimension counts beyond their limits.
    refused(
        "2\n10 10\n18446744073709551615\n1 1 1\n",
        3,
        &["item types announced", "2^22"],
    );
    refused("65\n1\n1\n1 1\n", 1, &["65 dimensions", "limit of 64"]);
    // A million identical items within the limit are fine, and bounded.
    let p = within_budget(|| BinPacking::parse("2\n10 10\n1\n3 4 1000000\n")).unwrap();
    assert_eq!((p.len(), p.dims()), (1_000_000, 2));
    // Wrong counts of numbers, and numbers that are no numbers, name their line.
    refused(
        "2\n10 10 10\n1\n1 1 1\n",
        2,
        &["3 capacities for 2 dimensions"],
    );
    refused(
        "2\n10 10\n1\n1 1\n",
        4,
        &["2 numbers, expected 2 sizes and a demand"],
    );
    refused(
        "2\n10 10\n1\n1 x 1\n",
        4,
        &["\"x\" is not a non-negative integer"],
    );
    refused(
        "2\n10 10\n1\n1 11 1\n",
        4,
        &["size 11 in dimension 2", "capacity 10"],
    );
}

#[test]
fn a_capacity_of_u64_max_blames_the_capacity_on_its_line_not_the_item_count() {
    // Was: "instances are limited to capacities of 2^40 and 2^22 items, got 3 items".
    let msg = refused(
        "3\n18446744073709551615\n1\n2\n3\n",
        2,
        &[
            "capacity 18446744073709551615",
            "limit of 2^40 = 1099511627776",
        ],
    );
    assert!(!msg.contains("items"), "{msg}");
    refused("3\n0\n1\n2\n3\n", 2, &["capacity of 0"]);
    refused(
        "3\n184467440737095516150\n1\n",
        2,
        &["does not fit in 64 bits"],
    );
    refused("1\n10\n11\n", 3, &["item of size 11", "bin capacity 10"]);
    refused(
        "2\n10\n1\n2\n3\n",
        5,
        &["more items than the 2 announced on line 1"],
    );
    // Through `try_new`, the same causes, separately.
    let e = BinPacking::try_new(vec![u64::MAX], vec![vec![1]]).unwrap_err();
    assert!(
        e.reason().contains("capacity") && !e.reason().contains("items"),
        "{e}"
    );
}

/// Packs `text` within `limit_ms` and checks the wall time and the packing.
fn packs_within(text: &str, limit_ms: u64) {
    within_budget(|| {
        let p = BinPacking::parse(text).unwrap();
        let t = Instant::now();
        let r = p.pack_with(&SearchLimit::default().with_time_ms(limit_ms));
        let took = t.elapsed();
        assert!(
            took <= allowed(limit_ms),
            "{} items: {took:?} for a {limit_ms} ms limit",
            p.len()
        );
        assert!(p.is_feasible(&r.packing), "{} items: infeasible", p.len());
        assert!(r.packing.bins >= r.lower_bound && r.lower_bound >= 1);
        eprintln!(
            "{} items, {} dims: {} bins, bound {}, {took:?} (limit {limit_ms} ms)",
            p.len(),
            p.dims(),
            r.packing.bins,
            r.lower_bound
        );
    });
}

#[test]
fn time_limited_packing_of_20_000_random_items_stops_at_its_limit() {
    // Was: 21.5 s for a 1 s limit.
    packs_within(&random_bpplib(20_000, 1_000_000, 20), 1_000);
}

#[test]
fn time_limited_packing_of_50_000_random_items_stops_at_its_limit() {
    // Was: more than 100 s for a 1 s limit.
    packs_within(&random_bpplib(50_000, 1_000_000, 50), 1_000);
    // A limit too short for first fit decreasing itself: next fit finishes the packing.
    packs_within(&random_bpplib(50_000, 1_000_000, 51), 20);
}

#[test]
fn time_limited_packing_of_20_000_random_vectors_stops_at_its_limit() {
    // Vector fits scan every open bin: quadratic, so they too must give way to next fit.
    let mut rng = Seeded::new(3);
    let mut text = String::from("3\n1000 1000 1000\n20000\n");
    for _ in 0..20_000 {
        let w: Vec<String> = (0..3).map(|_| (1 + rng.next() % 600).to_string()).collect();
        text.push_str(&format!("{} 1\n", w.join(" ")));
    }
    packs_within(&text, 1_000);
}

#[test]
fn all_zero_items_need_one_bin_and_stop_at_once() {
    // Was: the bound was 0, never reached, so the search ran its whole limit (10 s).
    within_budget(|| {
        let p = BinPacking::parse("2\n10 10\n2\n0 0 500\n0 0 500\n").unwrap();
        assert_eq!(p.lower_bound(), 1);
        let t = Instant::now();
        let r = p.pack_with(&SearchLimit::default().with_time_ms(10_000));
        assert_eq!((r.packing.bins, r.lower_bound), (1, 1));
        assert!(p.is_feasible(&r.packing));
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the search did not stop at the bound: {:?}",
            t.elapsed()
        );
        let one = BinPacking::parse("1\n7\n0\n").unwrap();
        assert_eq!((one.lower_bound(), one.pack().packing.bins), (1, 1));
    });
}

#[test]
fn instance_files_are_read_up_to_a_limit_and_errors_name_the_file() {
    let dir = Scratch::new("files");
    within_budget(|| {
        // A link to /dev/zero: refused at the limit, naming the file and the limit.
        let zero = dir.0.join("zero.txt");
        if std::os::unix::fs::symlink("/dev/zero", &zero).is_ok() {
            let t = Instant::now();
            let e = BinPacking::read(&zero).unwrap_err().to_string();
            assert!(
                e.contains("zero.txt") && e.contains(&MAX_INSTANCE_BYTES.to_string()),
                "{e}"
            );
            assert!(e.contains("64 MiB"), "{e}");
            eprintln!("/dev/zero: {e} ({:?})", t.elapsed());
        }
        // A file longer than the limit: refused from its length, unread.
        let big = dir.0.join("big.txt");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INSTANCE_BYTES + 1).unwrap();
        let e = BinPacking::read(&big).unwrap_err().to_string();
        assert!(e.contains("big.txt") && e.contains("64 MiB"), "{e}");
        // The 14-byte reproducer through a file: path, line and cause.
        let small = dir.0.join("billion.txt");
        std::fs::write(&small, "1000000000\n10\n").unwrap();
        let e = BinPacking::read(&small).unwrap_err().to_string();
        assert!(
            e.contains("billion.txt: line 1: 1000000000 items announced"),
            "{e}"
        );
        // Not text, a directory, a missing file.
        let bin = dir.0.join("bin.txt");
        std::fs::write(&bin, [b'3', b'\n', 0xff, b'\n']).unwrap();
        let e = BinPacking::read(&bin).unwrap_err().to_string();
        assert!(e.contains("bin.txt: not UTF-8 text"), "{e}");
        let e = BinPacking::read(&dir.0).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        assert!(BinPacking::read(dir.0.join("missing.txt")).is_err());
    });
}

/// Solves a synthetic fleet of `racks` × 40 hosts and `tasks` workloads within `limit_ms`
/// and checks the wall time, the constraints and that every workload is accounted for.
fn solves_within(racks: usize, tasks: usize, limit_ms: u64) {
    within_budget(|| {
        let models = kelvin::fleet::server_models().unwrap();
        let p = Synthetic::new(models)
            .racks(racks)
            .hosts_per_rack(40)
            .tasks(tasks)
            .build(1)
            .unwrap();
        let t = Instant::now();
        let sol = solve(
            &p,
            &SolveOptions::default().with_time_limit_ms(Some(limit_ms)),
        )
        .unwrap();
        let took = t.elapsed();
        assert!(
            took <= allowed(limit_ms),
            "{tasks} workloads: {took:?} for a {limit_ms} ms limit"
        );
        assert!(
            sol.evaluation.violations.is_empty(),
            "{:?}",
            &sol.evaluation.violations[..1]
        );
        let placed = sol.host_of.iter().filter(|h| h.is_some()).count();
        assert_eq!(
            placed + sol.unplaced.len(),
            tasks,
            "a workload went missing"
        );
        assert_eq!(sol.assignments.len(), placed);
        let late = sol.unplaced.iter().filter(|b| b.time_limited).count();
        for b in sol.unplaced.iter().filter(|b| b.time_limited).take(1) {
            assert!(b.describe(&p).contains("time limit"), "{}", b.describe(&p));
        }
        eprintln!(
            "{tasks} workloads on {} hosts: {took:?} (limit {limit_ms} ms), {placed} placed, \
             {late} left by the time limit, {} rounds",
            p.hosts.len(),
            sol.rounds
        );
        let checked = evaluate(&p, &sol.host_of).unwrap();
        assert!(checked.violations.is_empty());
    });
}

#[test]
fn fleet_solve_of_100_000_workloads_stops_at_its_limit() {
    // Was: about 3 s of construction (release) whatever the limit.
    solves_within(250, 100_000, 1_000);
}

#[test]
fn fleet_solve_with_a_short_limit_leaves_the_rest_unplaced_and_says_why() {
    solves_within(50, 20_000, 100);
}

/// Hostile numbers in instance-shaped texts: every parse stays within a bound, 16 bytes per
/// byte of text (plus 64 KiB) for BPPLIB, where the text holds every item, and the limit of
/// sizes in all (2^24 of 8 bytes, plus what reallocation copies) for `.vbp`, where demands
/// multiply items.
#[test]
fn parsing_hostile_texts_allocates_within_a_bound() {
    let hostile = [
        "0",
        "1",
        "3",
        "4194304",
        "4194305",
        "1099511627776",
        "1099511627777",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "x",
        "65",
        "2000000",
    ];
    let mut rng = Seeded::new(13);
    // The right token most of the time, a hostile one with probability 1/`odds`.
    let or_hostile = |rng: &mut Seeded, good: String, odds: u64| {
        if rng.next().is_multiple_of(odds) {
            hostile[(rng.next() % hostile.len() as u64) as usize].to_owned()
        } else {
            good
        }
    };
    let (mut ok, mut refused_count) = (0, 0);
    for case in 0..600 {
        let vbp = case % 2 == 1;
        let lines = rng.next() % 6;
        let mut text = String::new();
        if vbp {
            let d = 1 + rng.next() % 3;
            text.push_str(&format!("{}\n", or_hostile(&mut rng, d.to_string(), 8)));
            let caps: Vec<String> = (0..d)
                .map(|_| or_hostile(&mut rng, "10".to_owned(), 8))
                .collect();
            text.push_str(&format!("{}\n", caps.join(" ")));
            text.push_str(&format!("{}\n", or_hostile(&mut rng, lines.to_string(), 8)));
            for _ in 0..lines {
                let w: Vec<String> = (0..=d)
                    .map(|_| {
                        let good = (rng.next() % 8).to_string();
                        or_hostile(&mut rng, good, 12)
                    })
                    .collect();
                text.push_str(&format!("{}\n", w.join(" ")));
            }
        } else {
            text.push_str(&format!("{}\n", or_hostile(&mut rng, lines.to_string(), 8)));
            text.push_str(&format!("{}\n", or_hostile(&mut rng, "10".to_owned(), 8)));
            for _ in 0..lines {
                let good = (rng.next() % 11).to_string();
                let w = or_hostile(&mut rng, good, 12);
                text.push_str(&format!("{w}\n"));
            }
        }
        let budget = if vbp {
            200 << 20
        } else {
            (64 << 10) + 16 * text.len()
        };
        match crate::within(budget, || BinPacking::parse(&text)) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.reason().starts_with("line "), "{text:?}: {e}");
                refused_count += 1;
            }
        }
    }
    eprintln!("hostile texts: {ok} parsed, {refused_count} refused");
    assert!(ok > 0 && refused_count > 0);
}
