//! Power models: how a machine's power depends on what it is doing.
//!
//! - [`ResourceModel`]: `P = idle + Σ_r coef_r · usage_r`, fitted by non-negative least
//!   squares ([`crate::nnls`]) so no resource is ever credited with negative watts;
//! - [`SpecCurve`]: a SPECpower_ssj2008-style curve (watts at 0 %, 10 %, …, 100 % load),
//!   either published or fitted as a monotone piecewise-linear function of utilization;
//! - [`calibrate_idle`]: the idle floor per interval, calibrated from quiet intervals (a robust
//!   local median, so it may move up and down with temperature, firmware or fans, and is not
//!   dragged down by a single low reading the way the minimum observed power is);
//! - [`OnlineModel`]: the resource model recalibrated online by recursive least squares with
//!   exponential forgetting and a Page–Hinkley drift detector on its residuals.
//!
//! Modules: `resource` ([`ResourceModel`]), `spec` ([`SpecCurve`]), `idle`
//! ([`calibrate_idle`]), `online` ([`OnlineModel`]).

use std::fmt;

use serde::Serialize;

mod idle;
mod online;
mod resource;
mod spec;

pub use idle::{IdleFloor, IdleMethod, IdleOptions, calibrate_idle};
pub use online::{DriftEvent, OnlineModel};
pub use resource::ResourceModel;
pub use spec::SpecCurve;

/// Consistency factor turning a median absolute deviation into a Gaussian standard deviation.
const MAD_TO_SIGMA: f64 = 1.4826;

/// A resource whose use draws power. Usage of every resource is normalized so that 1.0 means
/// the resource is fully used (all cores busy, memory bandwidth saturated, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// CPU time (utilization of the allocatable cores).
    Cpu,
    /// Memory traffic or occupancy.
    Memory,
    /// GPU streaming-multiprocessor activity.
    GpuSm,
    /// GPU memory-controller activity.
    GpuMemory,
    /// Storage and network I/O.
    Io,
}

impl Resource {
    /// Every resource, in declaration order.
    pub const ALL: [Resource; 5] = [
        Resource::Cpu,
        Resource::Memory,
        Resource::GpuSm,
        Resource::GpuMemory,
        Resource::Io,
    ];

    /// The stable snake-case name: `cpu`, `memory`, `gpu_sm`, `gpu_memory`, `io`.
    pub fn name(&self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::GpuSm => "gpu_sm",
            Resource::GpuMemory => "gpu_memory",
            Resource::Io => "io",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Median of a sorted slice; 0 for an empty one.
pub(super) fn median_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["cpu", "memory", "gpu_sm", "gpu_memory", "io"]);
        assert_eq!(Resource::GpuSm.to_string(), "gpu_sm");
    }
}

/// Test helpers shared by the modules' tests.
#[cfg(test)]
pub(super) mod testing {
    use rand::Rng;
    use rand_chacha::ChaCha8Rng;

    /// A standard normal sample (Box–Muller).
    pub(in crate::power) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
