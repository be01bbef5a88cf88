//! The churn preset's pods, drawn before the run: arrivals as a Poisson process (and a few
//! services that run all day), lifetimes log-uniform from seconds to hours, requests as a
//! Kubernetes pod spec writes them, a usage pattern, and the names and uids the API gives.
//! Every time is a whole multiple of the physics step, so that the simulation charges each
//! pod exactly the steps it ran.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::build::{GPU_NAMES, SM_FACTORS};
use crate::SimConfig;
use crate::workload::{NAMES, Pattern, ROOM_MIX, pick_pattern};

/// Shortest and longest lifetime of a pod that is not a day-long service, seconds.
const LIFETIME_S: (f64, f64) = (5.0, 6.0 * 3600.0);
/// Share of pods that are GPU pods (when the cluster has GPU hosts).
const GPU_POD_SHARE: f64 = 0.1;
/// Names of short batch pods (a lifetime under ten minutes).
const JOB_NAMES: [&str; 5] = ["batch", "etl", "ci", "cron", "build"];
/// CPU requests of CPU pods, millicores.
const CPU_MILLI: [u32; 7] = [250, 500, 1000, 2000, 2000, 4000, 8000];
/// CPU requests of CPU pods that run all day, millicores.
const SERVICE_CPU_MILLI: [u32; 4] = [2000, 4000, 8000, 16_000];

/// A pod as drawn: when it is created, how long its container runs, what it requests and how
/// it uses it.
pub(super) struct PodSpec {
    /// Second of the run it is created at.
    pub(super) arrive_s: u32,
    /// Seconds from binding to its container's start (kubelet admission and image pull).
    pub(super) pull_s: u32,
    /// Seconds its container runs; `u32::MAX` for a service that runs past the run's end.
    pub(super) run_s: u32,
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) owner: String,
    pub(super) uid: String,
    /// CPU request, millicores.
    pub(super) cpu_milli: u32,
    /// Memory request, MiB.
    pub(super) mem_mib: u64,
    /// Whole GPUs.
    pub(super) gpus: u32,
    pub(super) pattern: Pattern,
    /// SM activity per unit of GPU utilization (GPU pods).
    pub(super) sm_factor: f64,
}

/// Draws the pods of a run: `hosts / 2` (rounded up) services created in the first ten minutes
/// that run all day, then Poisson arrivals at `cfg.pod_rate` per host-hour over the run; in
/// arrival order, named `<app>-<index>-<suffix>`.
pub(super) fn draw_pods(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Vec<PodSpec> {
    let hosts = cfg.racks * cfg.hosts_per_rack;
    let gpu = cfg.gpu_host_count() > 0;
    let step = cfg.step_s;
    let mut arrivals: Vec<(u32, bool)> = Vec::new();
    for _ in 0..hosts.div_ceil(2) {
        arrivals.push((rng.random_range(0..600.min(cfg.duration_s)), true));
    }
    let rate = cfg.pod_rate * hosts as f64 / 3600.0;
    if rate > 0.0 {
        let mut t = 0.0;
        loop {
            // Exponential gaps; 1 - u keeps the logarithm's argument in (0, 1].
            t += -(1.0 - rng.random::<f64>()).ln() / rate;
            if t >= f64::from(cfg.duration_s) {
                break;
            }
            arrivals.push((t as u32, false));
        }
    }
    arrivals.sort_by_key(|a| a.0);
    arrivals
        .into_iter()
        .enumerate()
        .map(|(i, (at, service))| {
            let mut p = draw_pod(
                cfg,
                i,
                service,
                gpu && rng.random::<f64>() < GPU_POD_SHARE,
                rng,
            );
            // On the step grid: created at a step, pulled and run for whole steps.
            p.arrive_s = at - at % step;
            p.pull_s = p.pull_s.div_ceil(step).max(1) * step;
            if p.run_s != u32::MAX {
                p.run_s = p.run_s.div_ceil(step).max(1) * step;
            }
            p
        })
        .collect()
}

/// Pod `i`: a GPU pod (training, inference, notebook, fine-tuning, holding 1, 2 or 4 whole
/// GPUs), a service (`service`: runs all day), a batch job (drawn lifetime under ten minutes,
/// busy throughout) or a service-like pod of the room mix.
fn draw_pod(cfg: &SimConfig, i: usize, service: bool, gpu: bool, rng: &mut ChaCha8Rng) -> PodSpec {
    let run_s = if service {
        u32::MAX
    } else {
        let (lo, hi) = (LIFETIME_S.0.ln(), LIFETIME_S.1.ln());
        rng.random_range(lo..hi).exp().round() as u32
    };
    let (app, cpu_milli, mem_mib, gpus, pattern, sm_factor) = if gpu {
        let g = [1u32, 1, 1, 2, 4][rng.random_range(0..5)].min(cfg.gpus_per_host.max(1));
        let kind = rng.random_range(0..GPU_NAMES.len());
        let pattern = match kind {
            0 | 3 => Pattern::Steady {
                level: rng.random_range(0.8..0.97),
            },
            1 => Pattern::Diurnal {
                mean: rng.random_range(0.35..0.55),
                amplitude: rng.random_range(0.2..0.4),
                peak_hour: rng.random_range(13.0..20.0),
            },
            _ => Pattern::Bursty {
                base: 0.02,
                burst_rate: 1.0 / 400.0,
                burst_s: rng.random_range(60..300),
            },
        };
        let g64 = u64::from(g);
        (
            GPU_NAMES[kind],
            4000 * g,
            32_768 * g64,
            g,
            pattern,
            SM_FACTORS[kind],
        )
    } else if service {
        let cpu = SERVICE_CPU_MILLI[rng.random_range(0..SERVICE_CPU_MILLI.len())];
        let mem = u64::from(cpu) * 1024 / 1000 * rng.random_range(1..=4);
        let app = NAMES[rng.random_range(0..NAMES.len())];
        (app, cpu, mem, 0, pick_pattern(rng, &ROOM_MIX), 0.0)
    } else {
        let cpu = CPU_MILLI[rng.random_range(0..CPU_MILLI.len())];
        let mem = (u64::from(cpu) * 1024 / 1000).max(256) * rng.random_range(1..=4);
        if run_s < 600 {
            let app = JOB_NAMES[rng.random_range(0..JOB_NAMES.len())];
            let level = rng.random_range(0.5..0.95);
            (app, cpu, mem, 0, Pattern::Steady { level }, 0.0)
        } else {
            let app = NAMES[rng.random_range(0..NAMES.len())];
            (app, cpu, mem, 0, pick_pattern(rng, &ROOM_MIX), 0.0)
        }
    };
    let tenant = rng.random_range(0..cfg.tenants.min(26));
    PodSpec {
        arrive_s: 0,
        pull_s: if gpus > 0 {
            rng.random_range(2..=8)
        } else {
            rng.random_range(1..=3)
        },
        run_s,
        name: format!("{app}-{i:06}-{}", suffix(rng)),
        namespace: format!("tenant-{}", (b'a' + tenant as u8) as char),
        owner: format!("team-{}", tenant % 4 + 1),
        uid: uid(rng),
        cpu_milli,
        mem_mib,
        gpus,
        pattern,
        sm_factor,
    }
}

/// Five characters of the alphabet Kubernetes draws generated name suffixes from.
fn suffix(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random (version 4) UUID, as the API server gives every object.
fn uid(rng: &mut ChaCha8Rng) -> String {
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pods_arrive_at_the_rate_with_their_lifetimes_on_the_step_grid() {
        let cfg = SimConfig::churn().with_duration_s(6 * 3600);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let pods = draw_pods(&cfg, &mut rng);
        let hosts = 50.0;
        let expected = 4.5 * hosts * 6.0 + 25.0;
        let n = pods.len() as f64;
        // A Poisson count: within five standard deviations.
        assert!(
            (n - expected).abs() < 5.0 * expected.sqrt(),
            "{n} vs {expected}"
        );
        assert!(pods.windows(2).all(|w| w[0].arrive_s <= w[1].arrive_s));
        let short = pods.iter().filter(|p| p.run_s <= 30).count();
        let long = pods
            .iter()
            .filter(|p| p.run_s != u32::MAX && p.run_s > 3600)
            .count();
        assert!(short > 50 && long > 50, "{short} short, {long} long");
        assert_eq!(pods.iter().filter(|p| p.run_s == u32::MAX).count(), 25);
        let gpu = pods.iter().filter(|p| p.gpus > 0).count() as f64;
        assert!(
            (gpu / n - GPU_POD_SHARE).abs() < 0.03,
            "{gpu} GPU pods of {n}"
        );
        let names: std::collections::BTreeSet<&str> =
            pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), pods.len());
        assert!(
            pods.iter()
                .all(|p| p.uid.len() == 36 && p.run_s >= 5 && p.pull_s >= 1)
        );
        // With a 5 s step every time is a multiple of 5.
        let mut coarse = cfg.clone();
        coarse.step_s = 5;
        let pods = draw_pods(&coarse, &mut ChaCha8Rng::seed_from_u64(1));
        assert!(pods.iter().all(|p| p.arrive_s % 5 == 0
            && p.pull_s % 5 == 0
            && (p.run_s == u32::MAX || p.run_s % 5 == 0)));
    }
}
