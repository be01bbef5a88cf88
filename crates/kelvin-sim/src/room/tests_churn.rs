//! The churn preset against its own telemetry: every pod of the truth has its lifecycle
//! events, a pod shows in cAdvisor's scrapes exactly while it runs, the parent cgroup counts
//! every pod's CPU seconds, the energy balances per host, the GPU energy of the truth is what
//! the DCGM counters measured while each pod held its GPUs; and the same seed gives the same
//! bytes, in memory and on disk.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::dataset::events::parse_pod_events;
use crate::dataset::{POD_EVENTS_JSONL, PodEvent, PodEventKind, RecordedDataset};
use crate::{Dataset, SimConfig, simulate, simulate_to};

/// A small churn cluster: 6 hosts (2 GPU servers), two hours.
fn small(seed: u64, duration_s: u32) -> SimConfig {
    SimConfig::churn()
        .with_hosts(6)
        .with_duration_s(duration_s)
        .with_seed(seed)
}

/// One sample of `metrics.prom`: labels, value, second of the run.
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
    t: u32,
}

/// The samples of metric `name` (corrupt lines skipped).
fn samples(ds: &Dataset, name: &str) -> Vec<Sample> {
    let start_ms = ds.config.start.as_nanos() / 1_000_000;
    let prefix = format!("{name}{{");
    ds.metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, tail) = rest.split_once("} ")?;
            let (value, ms) = tail.split_once(' ')?;
            let labels = labels
                .split("\",")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once("=\"")?;
                    Some((k.to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect();
            let ms: i64 = ms.parse().ok()?;
            Some(Sample {
                labels,
                value: value.parse().ok()?,
                t: u32::try_from((ms - start_ms) / 1000).ok()?,
            })
        })
        .collect()
}

fn events(ds: &Dataset) -> Vec<PodEvent> {
    parse_pod_events(&ds.files[POD_EVENTS_JSONL]).unwrap()
}

/// Each pod's run in seconds of the run: its start, and its stop when the events or the truth
/// tell it (`None`: still running at the end, or stopped exactly then).
type Lives = BTreeMap<String, (u32, Option<u32>)>;

/// Every truth row has its events, on its node, in the Kubernetes order; every event is
/// observed within the run, in time order.
fn check_events(ds: &Dataset) -> Lives {
    let evs = events(ds);
    let start_s = ds.config.start.as_nanos() / 1_000_000_000;
    let dur = i64::from(ds.config.duration_s);
    let end = ds.config.start.add_nanos(dur * 1_000_000_000);
    assert!(evs.windows(2).all(|w| w[0].observed <= w[1].observed));
    assert!(
        evs.iter()
            .all(|e| e.observed >= ds.config.start && e.observed <= end)
    );
    let mut by_pod: BTreeMap<&str, Vec<&PodEvent>> = BTreeMap::new();
    for e in &evs {
        by_pod.entry(&e.pod).or_default().push(e);
    }
    let mut life = Lives::new();
    for t in &ds.truth {
        let evs = &by_pod[t.workload.as_str()];
        assert_eq!(evs[0].kind, PodEventKind::Added, "{}", t.workload);
        let bound: Vec<_> = evs.iter().filter(|e| e.node.is_some()).collect();
        assert!(!bound.is_empty());
        assert!(
            bound
                .iter()
                .all(|e| e.node.as_deref() == Some(t.host.as_str()))
        );
        let req = evs[0];
        assert!(req.cpu_request_cores > 0.0 && req.memory_request_bytes > 0);
        let Some(running) = evs.iter().find(|e| e.phase == "Running") else {
            // Bound at the very end, its container not started yet.
            assert_eq!(t.seconds, 0.0, "{}", t.workload);
            continue;
        };
        if t.seconds > 0.0 {
            assert_eq!(req.gpus > 0, t.gpu_energy_j > 0.0, "{}", t.workload);
        }
        let started = running.started.unwrap().as_nanos() / 1_000_000_000 - start_s;
        let ran = started + t.seconds as i64;
        let stop = match evs.iter().find(|e| e.phase == "Succeeded") {
            Some(done) => {
                let finished = done.finished.unwrap().as_nanos() / 1_000_000_000 - start_s;
                assert_eq!(finished, ran, "{}", t.workload);
                // Deleted a while later, unless the recording ended first.
                let last = evs.last().unwrap();
                assert!(last.kind == PodEventKind::Deleted || std::ptr::eq(*last, *done));
                Some(ran as u32)
            }
            // Stopped, its events observed after the recording ended.
            None if ran < dur => Some(ran as u32),
            None => None,
        };
        life.insert(t.workload.to_string(), (started as u32, stop));
    }
    // Pods with events but no truth row were never bound: created, then given up (or still
    // waiting at the end).
    for (pod, evs) in &by_pod {
        if !ds.truth.iter().any(|t| t.workload.as_str() == *pod) {
            assert!(
                evs.iter().all(|e| e.node.is_none() && e.phase == "Pending"),
                "{pod}"
            );
        }
    }
    life
}

/// cAdvisor shows a pod exactly at the scrapes with `start ≤ T < stop`; the parent cgroup's
/// counter is the CPU seconds of the pods seen at T plus those of the pods stopped by T.
fn check_cadvisor(ds: &Dataset, life: &Lives) {
    let (scrape, dur) = (ds.config.scrape_s, ds.config.duration_s);
    let pods = samples(ds, "container_cpu_usage_seconds_total");
    let mut seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut at: BTreeMap<(String, u32), f64> = BTreeMap::new();
    let (mut parent, mut root) = (Vec::new(), Vec::new());
    for s in &pods {
        let host = s.labels["instance"].trim_end_matches(":10250").to_string();
        match s.labels.get("pod") {
            Some(p) => {
                seen.entry(p).or_default().push(s.t);
                *at.entry((host, s.t)).or_default() += s.value;
            }
            None if s.labels["id"] == "/" => root.push((host, s.t, s.value)),
            None => {
                assert_eq!(s.labels["id"], "/kubepods.slice");
                parent.push((host, s.t, s.value));
            }
        }
    }
    // The root cgroup counts the pods and the host's own processes: at least the pods'
    // parent, at every scrape.
    assert_eq!(root.len(), parent.len());
    for ((h1, t1, r), (h2, t2, p)) in root.iter().zip(&parent) {
        assert_eq!((h1, t1), (h2, t2));
        assert!(r + 1e-6 >= *p, "{h1} at {t1}: root {r} < pods {p}");
    }
    let mut stops = BTreeMap::new();
    for (pod, &(start, stop)) in life {
        let shown = seen.get(pod.as_str()).cloned().unwrap_or_default();
        // Still running at the end shows in the last scrape; stopped exactly then does not.
        let stop = stop.unwrap_or(if shown.last() == Some(&dur) {
            u32::MAX
        } else {
            dur
        });
        let want: Vec<u32> = (start.div_ceil(scrape) * scrape..stop.min(dur + 1))
            .step_by(scrape as usize)
            .collect();
        assert_eq!(shown, want, "{pod}");
        stops.insert(pod.as_str(), stop);
    }
    let mut last: BTreeMap<&str, f64> = BTreeMap::new();
    let n = ds.truth.len() as f64;
    for (host, t, v) in &parent {
        let stopped: f64 = ds
            .truth
            .iter()
            .filter(|w| w.host.as_str() == host)
            .filter(|w| stops.get(w.workload.as_str()).is_some_and(|s| s <= t))
            .map(|w| w.cpu_s)
            .sum();
        let visible = at.get(&(host.clone(), *t)).copied().unwrap_or(0.0);
        assert!(
            (v - (visible + stopped)).abs() <= 1e-6 * n + 1e-9 * v,
            "{host} at {t}: {v} vs {visible} + {stopped}"
        );
        assert!(
            *v >= last.get(host.as_str()).copied().unwrap_or(0.0),
            "monotonic"
        );
        last.insert(host, *v);
    }
}

/// Per host, wall energy = pods + unreserved idle + system.
fn check_balance(ds: &Dataset) {
    for h in &ds.host_truth {
        let wl: f64 = ds
            .truth
            .iter()
            .filter(|t| t.host == h.host)
            .map(|t| t.energy_j)
            .sum();
        assert!(
            (wl + h.unreserved_idle_j + h.system_j - h.energy_j).abs() <= 1e-6 * h.energy_j,
            "{}",
            h.host
        );
        assert!(h.unreserved_idle_j >= -1e-6 && h.system_j >= -1e-6);
    }
}

/// The DCGM energy counters: per host, their increase over the run is the truth's GPU energy
/// of the pods plus the idle power of the GPUs no pod held; per pod, the increase between its
/// first and last labelled scrape is within what its GPUs can draw outside those scrapes.
fn check_gpu_energy(ds: &Dataset) {
    let (idle_w, max_w) = (72.0, 700.0);
    let energy = samples(ds, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION");
    let mut series: BTreeMap<(String, String), Vec<&Sample>> = BTreeMap::new();
    for s in &energy {
        series
            .entry((s.labels["Hostname"].clone(), s.labels["gpu"].clone()))
            .or_default()
            .push(s);
    }
    let dur = f64::from(ds.config.duration_s);
    let mut gpu_hosts = 0;
    for h in ds.inventory.hosts.iter().filter(|h| h.capacity.gpus > 0) {
        gpu_hosts += 1;
        let measured: f64 = series
            .iter()
            .filter(|((host, _), _)| host == h.id.as_str())
            .map(|(_, s)| (s[s.len() - 1].value - s[0].value) / 1000.0)
            .sum();
        let pods = ds.truth.iter().filter(|t| t.host == h.id);
        let held: f64 = pods_gpus(ds)
            .iter()
            .filter(|(_, host, _, _)| host == h.id.as_str())
            .map(|(_, _, g, secs)| f64::from(*g) * secs)
            .sum();
        let truth: f64 = pods.map(|t| t.gpu_energy_j).sum::<f64>()
            + idle_w * (f64::from(h.capacity.gpus) * dur - held);
        let gpus = f64::from(h.capacity.gpus);
        assert!(
            (measured - truth).abs() <= 2e-3 * gpus + 1e-9 * truth,
            "{}: {measured} vs {truth}",
            h.id
        );
    }
    assert!(gpu_hosts > 0);
    for (pod, _, gpus, secs) in pods_gpus(ds).iter().filter(|w| w.2 > 0) {
        let held: Vec<&Sample> = energy
            .iter()
            .filter(|s| s.labels.get("pod").map(String::as_str) == Some(pod.as_str()))
            .collect();
        let Some(first) = held.first() else {
            continue;
        };
        let t1 = first.t;
        let tn = held.last().map_or(t1, |s| s.t);
        let delta: f64 = held
            .iter()
            .filter(|s| s.t == tn)
            .map(|s| s.value)
            .sum::<f64>()
            - held
                .iter()
                .filter(|s| s.t == t1)
                .map(|s| s.value)
                .sum::<f64>();
        let truth = ds
            .truth
            .iter()
            .find(|t| t.workload.as_str() == pod)
            .unwrap()
            .gpu_energy_j;
        let outside = (secs - f64::from(tn - t1)) * f64::from(*gpus);
        let gap = truth - delta / 1000.0;
        let tol = 2e-3 * f64::from(*gpus);
        assert!(
            gap >= idle_w * outside - tol && gap <= max_w * outside + tol,
            "{pod}: {truth} J vs {} J measured over {t1}..{tn} s",
            delta / 1000.0
        );
    }
}

/// Each truth row's (pod, host, GPUs, seconds run).
fn pods_gpus(ds: &Dataset) -> Vec<(String, String, u32, f64)> {
    let gpus: BTreeMap<String, u32> = events(ds).into_iter().map(|e| (e.pod, e.gpus)).collect();
    ds.truth
        .iter()
        .map(|t| {
            let g = gpus.get(t.workload.as_str()).copied().unwrap_or(0);
            (t.workload.to_string(), t.host.to_string(), g, t.seconds)
        })
        .collect()
}

#[test]
fn churn_pods_match_their_telemetry_and_truth() {
    let cfg = small(19, 7200);
    let ds = simulate(&cfg).unwrap();
    assert_eq!(ds.inventory.hosts.len(), 6);
    assert_eq!(
        ds.inventory
            .hosts
            .iter()
            .filter(|h| h.capacity.gpus == 4)
            .count(),
        2
    );
    assert!(ds.workloads.is_empty(), "pods are in no workloads file");
    let life = check_events(&ds);
    assert!(life.len() > 40, "{} pods", life.len());
    // Pods shorter than a scrape interval exist, and some never show in a scrape.
    let scrape = cfg.scrape_s;
    let short = life
        .values()
        .filter(|(a, b)| b.is_some_and(|b| b - a < scrape))
        .count();
    let unseen: Vec<&String> = life
        .iter()
        .filter(|(_, (a, b))| b.is_some_and(|b| a.div_ceil(scrape) * scrape >= b))
        .map(|(p, _)| p)
        .collect();
    assert!(
        short >= 3 && !unseen.is_empty(),
        "{short} short, {} unseen",
        unseen.len()
    );
    for p in &unseen {
        assert!(!ds.metrics.contains(&format!("pod=\"{p}\"")), "{p}");
    }
    check_cadvisor(&ds, &life);
    check_balance(&ds);
    check_gpu_energy(&ds);
    assert!(ds.truth.iter().any(|t| t.gpu_energy_j > 0.0));
    // SM activity, labelled like the rest of the GPU's lines.
    let sm = samples(&ds, "DCGM_FI_PROF_SM_ACTIVE");
    assert!(sm.iter().all(|s| (0.0..=1.0).contains(&s.value)));
    assert!(
        sm.iter()
            .any(|s| s.value > 0.1 && s.labels.contains_key("pod"))
    );
    assert!(
        sm.iter()
            .filter(|s| !s.labels.contains_key("pod"))
            .all(|s| s.value == 0.0)
    );
}

#[test]
fn churn_is_deterministic_and_streams_what_it_simulates() {
    let cfg = small(5, 3600);
    let a = simulate(&cfg).unwrap();
    let b = simulate(&cfg).unwrap();
    assert_eq!(a.metrics, b.metrics);
    assert_eq!(a.files, b.files);
    assert_eq!(a.truth_csv(), b.truth_csv());
    assert_ne!(
        simulate(&cfg.clone().with_seed(6)).unwrap().metrics,
        a.metrics
    );
    let dir = std::env::temp_dir().join(format!("kelvin-sim-churn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = simulate_to(&cfg, &dir).unwrap();
    assert_eq!((s.pods, s.workloads), (a.truth.len(), 0));
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.prom")).unwrap(),
        a.metrics
    );
    for (name, body) in &a.files {
        assert_eq!(
            &std::fs::read_to_string(dir.join(name)).unwrap(),
            body,
            "{name}"
        );
    }
    // The reader: the events typed, the truth with its GPU column.
    let ds = RecordedDataset::load(&dir).unwrap();
    assert_eq!(ds.pod_events.len() as u64, s.pod_events);
    assert_eq!(ds.pod_events, events(&a));
    assert!(ds.workloads.is_empty());
    assert_eq!(ds.truth.len(), a.truth.len());
    for (read, written) in ds.truth.iter().zip(&a.truth) {
        let g = read.gpu_energy_j.unwrap();
        assert!((g - written.gpu_energy_j).abs() <= 5e-4);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_gpu_preset_truth_has_the_gpu_energy_its_counters_measured() {
    let ds = simulate(&SimConfig::gpu().with_duration_s(600)).unwrap();
    assert!(
        ds.truth_csv()
            .lines()
            .next()
            .unwrap()
            .ends_with(",cpu_s,gpu_energy_j")
    );
    assert!(
        ds.truth
            .iter()
            .all(|t| t.gpu_energy_j > 0.0 && t.seconds == 600.0)
    );
    // Every GPU of the preset is held all run: the counters' increase is the truth's.
    let energy = samples(&ds, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION");
    for t in &ds.truth {
        let mine: Vec<&Sample> = energy
            .iter()
            .filter(|s| s.labels.get("pod").map(String::as_str) == Some(t.workload.as_str()))
            .collect();
        let at = |time: u32| {
            mine.iter()
                .filter(|s| s.t == time)
                .map(|s| s.value)
                .sum::<f64>()
        };
        let measured = (at(600) - at(0)) / 1000.0;
        let gpus = mine.iter().filter(|s| s.t == 0).count() as f64;
        assert!(gpus >= 1.0);
        assert!(
            (measured - t.gpu_energy_j).abs() <= 2e-3 * gpus,
            "{}",
            t.workload
        );
    }
    let ent = simulate(&SimConfig::enterprise().with_duration_s(600)).unwrap();
    assert!(ent.truth_csv().lines().next().unwrap().ends_with(",cpu_s"));
    assert!(!ent.metrics.contains("SM_ACTIVE"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn any_churn_run_is_consistent(seed in 0u64..10_000) {
        let ds = simulate(&small(seed, 3600)).unwrap();
        let life = check_events(&ds);
        check_cadvisor(&ds, &life);
        check_balance(&ds);
        check_gpu_energy(&ds);
    }
}
