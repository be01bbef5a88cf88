//! Facility overhead and carbon on every ledger line of a live engine: each closed line's
//! energy priced at the PUE and the grid's carbon intensity of its interval (time-varying
//! series the embedder gives, [`LiveFacility`]), summed per workload; a restatement moves
//! them by exactly its difference.

use std::collections::BTreeMap;
use std::sync::Arc;

use kelvin_attribution::facility::StepSeries;
use kelvin_attribution::ledger::ClosedInterval;

/// The facility series a live engine prices its lines with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LiveFacility {
    /// Power usage effectiveness over time (total facility power ÷ IT power, ≥ 1): a line's
    /// overhead is its energy × (PUE − 1).
    pub pue: StepSeries,
    /// Grid carbon intensity over time, gCO2e per kWh, applied to a line's energy and its
    /// overhead.
    pub carbon_g_per_kwh: StepSeries,
}

impl LiveFacility {
    /// Overhead at `pue` and carbon at `carbon_g_per_kwh`.
    pub fn new(pue: StepSeries, carbon_g_per_kwh: StepSeries) -> Self {
        LiveFacility {
            pue,
            carbon_g_per_kwh,
        }
    }
}

/// Per workload: facility overhead, µJ, and carbon, µg CO2e.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FacilityTotals {
    /// Overhead per workload, µJ.
    pub overhead_uj: BTreeMap<Arc<str>, i128>,
    /// Carbon per workload (its energy and its overhead), µg CO2e.
    pub carbon_ug: BTreeMap<Arc<str>, i128>,
}

impl FacilityTotals {
    /// Adds (`sign` 1) or removes (−1) the lines of a closed interval.
    pub(crate) fn apply(&mut self, f: &LiveFacility, c: &ClosedInterval, sign: i128) {
        let pue = f.pue.value_at(c.start).unwrap_or(1.0).max(1.0);
        let g_per_kwh = f.carbon_g_per_kwh.value_at(c.start).unwrap_or(0.0).max(0.0);
        for s in &c.sheets {
            for (w, a) in &s.lines {
                let it = a.uj as f64;
                let overhead = (it * (pue - 1.0)).round();
                // µJ × g/kWh ÷ 3.6e6 = µg (1 kWh = 3.6e12 µJ, 1 g = 1e6 µg).
                let carbon = ((it + overhead) * g_per_kwh / 3.6e6).round();
                *self.overhead_uj.entry(w.clone()).or_default() += sign * overhead as i128;
                *self.carbon_ug.entry(w.clone()).or_default() += sign * carbon as i128;
            }
        }
    }
}
