//! Hostile-input reproducers: the recorded-dataset loader and `replay`.
//!
//! Each test copies `datasets/edge-small` into a fresh directory, breaks one thing the way a
//! user or a faulty exporter would, and checks that the replay either gives the right report
//! (the bad record quarantined and counted) or a typed error that names the file, the place
//! and the likely cause; always within the heap budget.

use std::path::{Path, PathBuf};

use kelvin::Error;
use kelvin::ingest::Reason;
use kelvin_replay::{RecordedDataset, ReplayReport, replay};

use crate::within_budget;

/// A private copy of edge-small, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("kelvin-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/edge-small");
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn append(&self, name: &str, text: &str) {
        let mut s = self.read(name);
        s.push_str(text);
        self.write(name, &s);
    }

    /// Loads (in memory) and replays.
    fn replay(&self) -> Result<ReplayReport, Error> {
        within_budget(|| replay(&RecordedDataset::load(&self.0)?))
    }

    /// Opens (streaming) and replays.
    fn replay_streamed(&self) -> Result<ReplayReport, Error> {
        within_budget(|| replay(&RecordedDataset::open(&self.0)?))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err(r: Result<ReplayReport, Error>) -> String {
    match r {
        Ok(_) => panic!("the broken dataset replayed"),
        Err(e) => e.to_string(),
    }
}

fn baseline() -> ReplayReport {
    Scratch::new("baseline").replay().unwrap()
}

const POWER: &str = "ipmi_dcmi_power_consumption_watts{instance=\"edge-r1-h1:9290\",job=\"ipmi\"}";

/// A sample at 1 ms and ten years ahead: each is quarantined as `implausible_time`, and the
/// window and the bill are those of the clean recording. A thousand years ahead does not fit
/// nanoseconds since the epoch at all (the range ends in 2262): the decoder quarantines it as
/// `bad_timestamp`, with the same result for the window.
#[test]
fn outlying_samples_are_quarantined_and_do_not_stretch_the_window() {
    let clean = baseline();
    let ten_years_ms: i64 = 1_793_610_000_000 + 10 * 365 * 86_400_000;
    for (name, ts, reason, place) in [
        (
            "epoch",
            "1".to_string(),
            Reason::ImplausibleTime,
            "metrics.prom",
        ),
        (
            "decade",
            ten_years_ms.to_string(),
            Reason::ImplausibleTime,
            "metrics.prom",
        ),
        (
            "millennium",
            "33349606400000".to_string(),
            Reason::BadTimestamp,
            "metrics.prom:",
        ),
    ] {
        for streamed in [false, true] {
            let s = Scratch::new(&format!("outlier-{name}-{streamed}"));
            s.append("metrics.prom", &format!("{POWER} 164 {ts}\n"));
            let r = if streamed {
                s.replay_streamed()
            } else {
                s.replay()
            }
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.window, clean.window, "{name}");
            assert_eq!(r.bill.measured_uj(), clean.bill.measured_uj(), "{name}");
            let before = clean.ingest.by_reason.get(&reason).copied().unwrap_or(0);
            assert_eq!(
                r.ingest.by_reason.get(&reason).copied().unwrap_or(0),
                before + 1,
                "{name}: {:?}",
                r.ingest.by_reason
            );
            assert_eq!(r.ingest.seen, clean.ingest.seen + 1, "{name}");
            let q = &r.quarantine_examples[&reason];
            assert!(
                q.place.to_string().starts_with(place),
                "{name}: {}",
                q.place
            );
            if reason == Reason::ImplausibleTime {
                assert!(q.detail.contains("time_bounds"), "{}", q.detail);
            }
            assert!(r.to_string().contains(reason.as_str()), "{name}");
        }
    }
}

/// An outlier on the very first line does not become the reference.
#[test]
fn an_outlier_on_the_first_line_does_not_lead() {
    let clean = baseline();
    let s = Scratch::new("first-line");
    let text = s.read("metrics.prom");
    s.write("metrics.prom", &format!("{POWER} 164 1\n{text}"));
    let r = s.replay().unwrap();
    assert_eq!(r.window, clean.window);
    assert_eq!(r.ingest.by_reason.get(&Reason::ImplausibleTime), Some(&1));
}

/// Seconds where milliseconds belong: every time falls in January 1970, the window is a few
/// seconds long, and the error says why.
#[test]
fn seconds_instead_of_milliseconds_are_named_as_the_likely_cause() {
    let s = Scratch::new("seconds");
    let text: String = s
        .read("metrics.prom")
        .lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((head, ms)) if !l.starts_with('#') => {
                format!("{head} {}\n", ms.parse::<i64>().unwrap() / 1000)
            }
            _ => format!("{l}\n"),
        })
        .collect();
    s.write("metrics.prom", &text);
    let e = err(s.replay());
    assert!(e.contains("shorter than one 60 s interval"), "{e}");
    assert!(e.contains("probably seconds where milliseconds"), "{e}");
}

/// Every sample rejected: the error carries the counts by reason and the first records.
#[test]
fn a_replay_that_keeps_nothing_prints_its_quarantine() {
    let s = Scratch::new("all-rejected");
    let text = s
        .read("metrics.prom")
        .replace("edge-r", "elsewhere-r")
        .replace("pod=\"", "pod=\"gone-");
    s.write("metrics.prom", &text);
    let e = err(s.replay());
    assert!(
        e.starts_with("no reading of metrics.prom was accepted"),
        "{e}"
    );
    assert!(e.contains("unknown_entity"), "{e}");
    assert!(e.contains("metrics.prom:3"), "{e}");
}

#[test]
fn a_dataset_path_that_is_a_file_says_so() {
    let s = Scratch::new("file");
    let e = within_budget(|| RecordedDataset::load(s.path("metrics.prom"))).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("is a file, not a directory"), "{e}");
    assert!(!e.contains("ground_truth"), "{e}");
}

#[test]
fn inventories_that_are_not_inventories_are_refused_by_name() {
    let s = Scratch::new("inventory-shape");
    for (text, expect) in [
        ("{}", "inventory.json: lists no hosts"),
        ("[]", "inventory.json: expected a JSON object"),
        ("", "inventory.json: expected a JSON object with"),
    ] {
        s.write("inventory.json", text);
        let e = err(s.replay());
        assert!(e.starts_with(expect), "{text:?}: {e}");
    }
}

/// Capacities no host has, and requests no host can meet, name the field and the file.
#[test]
fn implausible_capacities_and_requests_are_refused() {
    let s = Scratch::new("capacity");
    let inv = s.read("inventory.json");
    let wl = s.read("workloads.json");
    for (file, from, to, expect) in [
        (
            "inventory.json",
            "\"cpu_cores\": 24.0",
            "\"cpu_cores\": 0.0",
            "inventory.json: hosts[0].capacity.cpu_cores: a host needs at least some CPU",
        ),
        (
            "inventory.json",
            "\"cpu_cores\": 24.0",
            "\"cpu_cores\": 1e308",
            "inventory.json: hosts[0].capacity.cpu_cores: 1e308 cores is more than any host",
        ),
        (
            "workloads.json",
            "\"cpu_cores\": 2.0",
            "\"cpu_cores\": 1000.0",
            "workloads.json: [0].requests.cpu_cores: web-01 requests 1000 cpu_cores on host \
             edge-r1-h1, which has 24",
        ),
        (
            "workloads.json",
            "\"host\": \"edge-r1-h1\"",
            "\"host\": \"nowhere\"",
            "workloads.json: [0].host: no Host with id nowhere",
        ),
    ] {
        let orig = if file == "inventory.json" { &inv } else { &wl };
        assert!(orig.contains(from), "{from}");
        s.write(file, &orig.replacen(from, to, 1));
        let e = err(s.replay());
        assert!(e.starts_with(&expect[..expect.len().min(60)]), "{to}: {e}");
        s.write(file, orig);
    }
}

#[test]
fn truth_tables_refuse_nan_and_are_read() {
    let s = Scratch::new("truth");
    let truth = s.read("ground_truth.csv");
    let line2 = truth.lines().nth(1).unwrap();
    let cols: Vec<&str> = line2.split(',').collect();
    let broken = truth.replacen(line2, &format!("{},{},NaN", cols[0], cols[1]), 1);
    s.write("ground_truth.csv", &broken);
    let e = err(s.replay());
    assert!(e.starts_with("ground_truth.csv:2: energy_j is NaN"), "{e}");
    s.write("ground_truth.csv", &truth);
    // hosts_truth.csv is read: the report compares each host's meter with it.
    let r = s.replay().unwrap();
    assert_eq!(r.host_truth_j.len(), 6);
    assert!(r.to_string().contains("Host energy vs ground truth"));
    s.append("hosts_truth.csv", "edge-r1-h1,inf,0,0\n");
    let e = err(s.replay());
    assert!(e.starts_with("hosts_truth.csv:8: energy_j is inf"), "{e}");
}

#[test]
fn a_bad_rule_table_names_its_file() {
    let s = Scratch::new("rules");
    s.write("prometheus_rules.json", "[{\"metric\": 1}]");
    let e = err(s.replay());
    assert!(e.contains("prometheus_rules.json"), "{e}");
}

/// Special files in place of dataset files: refused at once, never read without end.
#[cfg(unix)]
#[test]
fn devices_and_oversized_files_are_refused_without_reading_them() {
    let s = Scratch::new("devices");
    for name in ["inventory.json", "ground_truth.csv", "metrics.prom"] {
        let orig = s.read(name);
        std::fs::remove_file(s.path(name)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", s.path(name)).unwrap();
        for streamed in [false, true] {
            let e = err(if streamed {
                s.replay_streamed()
            } else {
                s.replay()
            });
            assert!(e.contains(name) && e.contains("not a regular file"), "{e}");
        }
        std::fs::remove_file(s.path(name)).unwrap();
        s.write(name, &orig);
    }
    // A file over the limit is refused by its size, before it is read.
    let big = std::fs::File::create(s.path("workloads.json")).unwrap();
    big.set_len(kelvin::dataset::MAX_DATASET_FILE_BYTES + 1)
        .unwrap();
    let e = err(s.replay());
    assert!(e.contains("workloads.json") && e.contains("limit"), "{e}");
}

/// A capture listed in the index that is a device is refused, naming it.
#[cfg(unix)]
#[test]
fn a_capture_that_is_a_device_is_refused() {
    let s = Scratch::new("capture-device");
    std::fs::create_dir_all(s.path("captures")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", s.path("captures/zero.txt")).unwrap();
    s.write(
        "captures/index.csv",
        "file,entity,taken_at_ms\ncaptures/zero.txt,edge-r1-h1,1793606400000\n",
    );
    let e = err(s.replay());
    assert!(
        e.contains("zero.txt") && e.contains("not a regular file"),
        "{e}"
    );
}
