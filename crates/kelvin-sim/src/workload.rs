//! Workloads as the simulator drives them: usage patterns ([`Pattern`]), how a preset mixes
//! them, and each workload's CPU level step by step, with the energy it has been charged so
//! far.

use kelvin_model::Workload;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// A workload's CPU usage pattern, as a fraction of its CPU request over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Constant level with small noise (a database, a cache).
    Steady {
        /// Mean fraction of the request in use.
        level: f64,
    },
    /// A sinusoid (a web tier following its users, compressed in time).
    Periodic {
        /// Mean level.
        mean: f64,
        /// Amplitude.
        amplitude: f64,
        /// Period in seconds.
        period_s: f64,
        /// Phase in seconds.
        phase_s: f64,
    },
    /// Mostly quiet with bursts near full use (batch jobs, CI runners).
    Bursty {
        /// Quiet level.
        base: f64,
        /// Probability per second that a burst starts.
        burst_rate: f64,
        /// Burst length in seconds.
        burst_s: u32,
    },
    /// Reserved but nearly unused (a forgotten dev VM).
    Idle,
    /// Follows the users' day: a cosine over 24 h peaking at `peak_hour` (UTC).
    Diurnal {
        /// Mean level.
        mean: f64,
        /// Amplitude.
        amplitude: f64,
        /// Hour of the day (UTC, 0–24) of the peak.
        peak_hour: f64,
    },
}

/// Workload names, cycled: `web-01`, `api-02`, ….
pub(crate) const NAMES: [&str; 10] = [
    "web", "api", "db", "cache", "batch", "ci", "ml", "etl", "dev", "mq",
];

/// CPU requests drawn for CPU workloads, cores.
pub(crate) const CPU_SIZES: [f64; 8] = [1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0, 16.0];

/// Cores the host's own system processes keep busy.
pub(crate) const SYSTEM_CORES: f64 = 0.3;

/// A workload being simulated: its pattern, its CPU counter and the energy charged to it.
pub(crate) struct SimWorkload {
    pub(crate) wl: Workload,
    pub(crate) host: usize,
    pub(crate) pattern: Pattern,
    pub(crate) burst_left: u32,
    /// The share of its CPU request it keeps busy at level 1 (GPU jobs: 0.4, for data loading
    /// and the driver; others 1).
    pub(crate) cpu_factor: f64,
    /// Its GPUs' SM activity per unit of GPU utilization (0 without GPUs).
    pub(crate) sm_factor: f64,
    pub(crate) cpu_s: f64,
    pub(crate) counter: f64,
    pub(crate) idle_j: f64,
    pub(crate) dynamic_j: f64,
    pub(crate) cpu_share_j: f64,
    /// DC energy its GPUs drew while it held them, joules.
    pub(crate) gpu_j: f64,
    /// Seconds it ran (was charged for).
    pub(crate) seconds: f64,
}

impl SimWorkload {
    /// A running workload on host `host`, nothing used or charged yet.
    pub(crate) fn new(wl: Workload, host: usize, pattern: Pattern) -> SimWorkload {
        SimWorkload {
            wl,
            host,
            pattern,
            burst_left: 0,
            cpu_factor: 1.0,
            sm_factor: 0.0,
            cpu_s: 0.0,
            counter: 0.0,
            idle_j: 0.0,
            dynamic_j: 0.0,
            cpu_share_j: 0.0,
            gpu_j: 0.0,
            seconds: 0.0,
        }
    }

    /// Fraction of the request in use during second `t` (one-second steps).
    pub(crate) fn level(&mut self, t: u32, rng: &mut ChaCha8Rng) -> f64 {
        self.level_step(i64::from(t), 1, rng)
    }

    /// Fraction of the request in use during the step starting at absolute second `abs_s`.
    pub(crate) fn level_step(&mut self, abs_s: i64, step: u32, rng: &mut ChaCha8Rng) -> f64 {
        let noise = 0.03 * gauss(rng);
        let l = match self.pattern {
            Pattern::Steady { level } => level + noise,
            Pattern::Periodic {
                mean,
                amplitude,
                period_s,
                phase_s,
            } => {
                mean + amplitude
                    * (std::f64::consts::TAU * (abs_s as f64 + phase_s) / period_s).sin()
                    + noise
            }
            Pattern::Bursty {
                base,
                burst_rate,
                burst_s,
            } => {
                // Chance of a burst starting within the step (exactly the rate for one second).
                let p = if step == 1 {
                    burst_rate
                } else {
                    1.0 - (1.0 - burst_rate).powi(step as i32)
                };
                if self.burst_left == 0 && rng.random::<f64>() < p {
                    self.burst_left = burst_s;
                }
                if self.burst_left > 0 {
                    self.burst_left = self.burst_left.saturating_sub(step);
                    0.95 + noise / 3.0
                } else {
                    base + noise / 3.0
                }
            }
            Pattern::Idle => 0.01 + noise.abs() / 10.0,
            Pattern::Diurnal {
                mean,
                amplitude,
                peak_hour,
            } => {
                let hour = abs_s.rem_euclid(86_400) as f64 / 3600.0;
                mean + amplitude * (std::f64::consts::TAU * (hour - peak_hour) / 24.0).cos() + noise
            }
        };
        if l.is_finite() {
            l.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// A standard normal draw.
pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// How a preset's workloads divide among usage patterns: of ten draws, the first `steady`
/// are steady, up to `periodic` periodic, up to `bursty` bursty, up to `diurnal` diurnal, the
/// rest idle (cumulative bounds); and how bursty ones burst.
pub(crate) struct PatternMix {
    pub(crate) steady: i32,
    pub(crate) periodic: i32,
    pub(crate) bursty: i32,
    pub(crate) diurnal: i32,
    pub(crate) burst_rate: f64,
    pub(crate) burst_s: std::ops::Range<u32>,
}

/// The edge preset's mix: 3 steady, 3 periodic, 3 bursty, 1 idle in ten.
pub(crate) const EDGE_MIX: PatternMix = PatternMix {
    steady: 3,
    periodic: 6,
    bursty: 9,
    diurnal: 9,
    burst_rate: 1.0 / 300.0,
    burst_s: 60..240,
};

/// The room presets' mix: 2 steady, 2 periodic, 2 bursty (rarer, longer bursts than the
/// edge's), 3 diurnal, 1 idle in ten.
pub(crate) const ROOM_MIX: PatternMix = PatternMix {
    steady: 2,
    periodic: 4,
    bursty: 6,
    diurnal: 9,
    burst_rate: 1.0 / 600.0,
    burst_s: 60..600,
};

/// Draws a usage pattern from a preset's mix.
pub(crate) fn pick_pattern(rng: &mut ChaCha8Rng, mix: &PatternMix) -> Pattern {
    let k: i32 = rng.random_range(0..10);
    if k < mix.steady {
        Pattern::Steady {
            level: rng.random_range(0.3..0.8),
        }
    } else if k < mix.periodic {
        Pattern::Periodic {
            mean: rng.random_range(0.3..0.6),
            amplitude: rng.random_range(0.15..0.35),
            period_s: rng.random_range(600.0..1800.0),
            phase_s: rng.random_range(0.0..1800.0),
        }
    } else if k < mix.bursty {
        Pattern::Bursty {
            base: rng.random_range(0.03..0.1),
            burst_rate: mix.burst_rate,
            burst_s: rng.random_range(mix.burst_s.clone()),
        }
    } else if k < mix.diurnal {
        Pattern::Diurnal {
            mean: rng.random_range(0.3..0.55),
            amplitude: rng.random_range(0.15..0.4),
            peak_hour: rng.random_range(13.0..20.0),
        }
    } else {
        Pattern::Idle
    }
}
