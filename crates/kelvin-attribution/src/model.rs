use std::collections::BTreeMap;

use kelvin_model::{EntityId, HostLoad, MarginalPower, Resources};
use serde::Serialize;

use crate::AlignedInput;
use crate::power::SpecCurve;

/// `P(u) = idle_w + slope_w · u` for CPU utilization `u ∈ [0, 1]`, fitted by least squares
/// with the slope constrained non-negative (a two-parameter non-negative least squares).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinearPowerModel {
    /// Power at zero utilization, watts.
    pub idle_w: f64,
    /// Additional power at full utilization, watts (≥ 0).
    pub slope_w: f64,
    /// Allocatable cores the utilization is relative to.
    pub cores: f64,
    /// Number of intervals the fit used.
    pub samples: usize,
    /// Root-mean-square residual, watts.
    pub rmse_w: f64,
}

impl LinearPowerModel {
    /// Fits `(utilization, watts)` pairs; `None` with fewer than 3 pairs or no spread in
    /// utilization (the slope is then unidentifiable).
    pub fn fit(points: &[(f64, f64)], cores: f64) -> Option<LinearPowerModel> {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(u, p)| u.is_finite() && p.is_finite())
            .collect();
        if pts.len() < 3 {
            return None;
        }
        let n = pts.len() as f64;
        let mu = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let mp = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = pts.iter().map(|p| (p.0 - mu).powi(2)).sum();
        let sxy: f64 = pts.iter().map(|p| (p.0 - mu) * (p.1 - mp)).sum();
        if sxx <= 1e-12 * n {
            return None;
        }
        let (idle_w, slope_w) = if sxy > 0.0 {
            (mp - sxy / sxx * mu, sxy / sxx)
        } else {
            (mp, 0.0)
        };
        let sse: f64 = pts
            .iter()
            .map(|(u, p)| (p - idle_w - slope_w * u).powi(2))
            .sum();
        Some(LinearPowerModel {
            idle_w,
            slope_w,
            cores,
            samples: pts.len(),
            rmse_w: (sse / n).sqrt(),
        })
    }

    /// Predicted watts at utilization `u` (clamped to `[0, 1]`).
    pub fn power_w(&self, u: f64) -> f64 {
        self.idle_w + self.slope_w * u.clamp(0.0, 1.0)
    }
}

/// What waking a sleeping host costs, for marginal-energy estimates.
///
/// Defaults are engineering assumptions, not measurements (docs/attribution.md): a host in
/// soft-off or suspend draws 5 % of its idle power, and boots in 120 s at idle power.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WakeCost {
    /// Power while asleep, as a fraction of the idle floor; default 0.05.
    pub sleep_fraction: f64,
    /// Seconds from wake-up to running work, drawn at idle power; default 120.
    pub boot_s: f64,
}

impl Default for WakeCost {
    fn default() -> Self {
        WakeCost {
            sleep_fraction: 0.05,
            boot_s: 120.0,
        }
    }
}

impl WakeCost {
    /// Sets the sleep power fraction.
    pub fn with_sleep_fraction(mut self, f: f64) -> Self {
        self.sleep_fraction = f;
        self
    }
    /// Sets the boot time, seconds.
    pub fn with_boot_s(mut self, s: f64) -> Self {
        self.boot_s = s;
        self
    }
}

/// A host's calibrated power curve, for marginal energy: `ΔE = [P(u₀ + Δu) − P(u₀)] · T`,
/// plus, for a sleeping host, its idle floor over `T` (less its sleep power) and the boot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HostCurve {
    /// Power against CPU utilization.
    pub curve: SpecCurve,
    /// Allocatable cores utilization is relative to.
    pub cores: f64,
    /// The cost of waking the host.
    pub wake: WakeCost,
}

impl HostCurve {
    /// Joules added by running `added` on the host for `duration_s` from `load` (utilization
    /// saturates at 1; a non-positive or non-finite duration adds nothing but the boot).
    ///
    /// ```
    /// use kelvin_attribution::{HostCurve, WakeCost};
    /// use kelvin_attribution::power::SpecCurve;
    /// use kelvin_model::{HostLoad, Resources};
    /// let c = HostCurve {
    ///     curve: SpecCurve::try_new([60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0])?,
    ///     cores: 10.0,
    ///     wake: WakeCost::default(),
    /// };
    /// // One more busy core for an hour on a host at 40 %: P(0.5) − P(0.4) = 9 W.
    /// let awake = c.delta_energy_j(&HostLoad::awake(Resources::new(4.0, 0)), &Resources::new(1.0, 0), 3600.0);
    /// assert!((awake - 9.0 * 3600.0).abs() < 1e-6);
    /// // Waking a sleeping host costs its idle floor too, and the boot.
    /// let asleep = c.delta_energy_j(&HostLoad::asleep(), &Resources::new(1.0, 0), 3600.0);
    /// assert!(asleep > awake + 0.95 * 60.0 * 3600.0);
    /// # Ok::<(), kelvin_attribution::AttributionError>(())
    /// ```
    pub fn delta_energy_j(&self, load: &HostLoad, added: &Resources, duration_s: f64) -> f64 {
        let t = if duration_s.is_finite() {
            duration_s.max(0.0)
        } else {
            0.0
        };
        let cores = self.cores.max(f64::MIN_POSITIVE);
        let u0 = if load.awake {
            (load.busy.cpu_cores / cores).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let u1 = (u0 + added.cpu_cores.max(0.0) / cores).clamp(0.0, 1.0);
        let mut de = (self.curve.power_w(u1) - self.curve.power_w(u0)) * t;
        if !load.awake {
            let idle = self.curve.idle_w();
            de += idle * (1.0 - self.wake.sleep_fraction) * t + idle * self.wake.boot_s;
        }
        de
    }
}

/// Per-host power models, fitted from aligned data; implements [`MarginalPower`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct PowerModels {
    models: BTreeMap<EntityId, LinearPowerModel>,
    curves: BTreeMap<EntityId, HostCurve>,
}

impl PowerModels {
    /// Fits one model per host: utilization is Σ workload CPU seconds / (interval seconds ×
    /// cores) and power is interval energy / interval seconds. Hosts whose data cannot identify
    /// a model are left out (the trait then answers `None` for them).
    pub fn fit(input: &AlignedInput) -> PowerModels {
        let secs = input.interval_ns as f64 / 1e9;
        let mut models = BTreeMap::new();
        let mut curves = BTreeMap::new();
        if secs <= 0.0 {
            return PowerModels { models, curves };
        }
        for h in &input.hosts {
            if h.cores.is_nan() || h.cores <= 0.0 {
                continue;
            }
            let pts: Vec<(f64, f64)> = (0..h.energy_j.len())
                .filter_map(|i| {
                    let cpu: f64 = h
                        .workloads
                        .iter()
                        .map(|w| w.cpu_s.get(i).copied().unwrap_or(f64::NAN))
                        .sum();
                    let e = h.energy_j[i];
                    (cpu.is_finite() && e.is_finite()).then(|| (cpu / (secs * h.cores), e / secs))
                })
                .collect();
            if let Some(m) = LinearPowerModel::fit(&pts, h.cores) {
                models.insert(h.host.clone(), m);
            }
            let (u, p): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
            if let Ok(curve) = SpecCurve::fit(&u, &p) {
                curves.insert(
                    h.host.clone(),
                    HostCurve {
                        curve,
                        cores: h.cores,
                        wake: WakeCost::default(),
                    },
                );
            }
        }
        PowerModels { models, curves }
    }

    /// Sets (or replaces) a host's curve, e.g. from its SPECpower result.
    pub fn set_curve(&mut self, host: EntityId, curve: HostCurve) {
        self.curves.insert(host, curve);
    }

    /// The calibrated curve of a host.
    pub fn curve(&self, host: &EntityId) -> Option<&HostCurve> {
        self.curves.get(host)
    }

    /// The model of a host.
    pub fn get(&self, host: &EntityId) -> Option<&LinearPowerModel> {
        self.models.get(host)
    }

    /// Every fitted model, by host id.
    pub fn iter(&self) -> impl Iterator<Item = (&EntityId, &LinearPowerModel)> {
        self.models.iter()
    }
}

impl MarginalPower for PowerModels {
    /// Watts added when `added.cpu_cores` more cores are busy: `slope · cores_added / cores`.
    /// Uses the request as the busy estimate, so it is an upper bound at full use.
    fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64> {
        let m = self.models.get(host)?;
        Some(m.slope_w * (added.cpu_cores / m.cores).min(1.0))
    }

    /// From the host's calibrated curve when there is one (load-dependent, with the cost of
    /// waking a sleeping host), else the linear model's `marginal_power_w · duration_s`, plus
    /// its fitted idle power over the duration when the host is asleep (waking it costs its
    /// floor; the linear model knows no boot energy or sleep power).
    fn marginal_energy_j(
        &self,
        host: &EntityId,
        load: &HostLoad,
        added: &Resources,
        duration_s: f64,
    ) -> Option<f64> {
        if let Some(c) = self.curves.get(host) {
            return Some(c.delta_energy_j(load, added, duration_s));
        }
        let m = self.models.get(host)?;
        let t = if duration_s.is_finite() {
            duration_s.max(0.0)
        } else {
            0.0
        };
        let floor = if load.awake {
            0.0
        } else {
            m.idle_w.max(0.0) * t
        };
        self.marginal_power_w(host, added).map(|w| w * t + floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostSeries, WorkloadSeries};
    use kelvin_model::Timestamp;

    #[test]
    fn fit_recovers_a_line_and_clamps_negative_slopes() {
        let pts: Vec<_> = (0..20)
            .map(|i| (i as f64 / 20.0, 90.0 + 160.0 * i as f64 / 20.0))
            .collect();
        let m = LinearPowerModel::fit(&pts, 32.0).unwrap();
        assert!((m.idle_w - 90.0).abs() < 1e-9 && (m.slope_w - 160.0).abs() < 1e-9);
        assert!(m.rmse_w < 1e-9);
        let down: Vec<_> = (0..5).map(|i| (i as f64 / 5.0, 100.0 - i as f64)).collect();
        let m = LinearPowerModel::fit(&down, 8.0).unwrap();
        assert_eq!(m.slope_w, 0.0);
        assert!(LinearPowerModel::fit(&[(0.5, 1.0); 10], 8.0).is_none());
        assert!(LinearPowerModel::fit(&pts[..2], 8.0).is_none());
    }

    #[test]
    fn marginal_power_from_aligned_data() {
        // 10 s intervals, 4 cores: u = cpu/40, P = 50 + 100u
        let cpu: Vec<f64> = (0..10).map(|i| 4.0 * i as f64).collect();
        let energy: Vec<f64> = cpu
            .iter()
            .map(|c| (50.0 + 100.0 * c / 40.0) * 10.0)
            .collect();
        let input = AlignedInput {
            start: Timestamp::from_secs(0),
            interval_ns: 10_000_000_000,
            hosts: vec![HostSeries {
                host: EntityId::new("h").unwrap(),
                cores: 4.0,
                energy_j: energy,
                meter_rel_sigma: 0.0,
                workloads: vec![WorkloadSeries::new(EntityId::new("w").unwrap(), 0.0, cpu)],
                system_cpu_s: None,
            }],
        };
        let models = PowerModels::fit(&input);
        let h = EntityId::new("h").unwrap();
        let dp = models
            .marginal_power_w(&h, &Resources::new(2.0, 0))
            .unwrap();
        assert!((dp - 50.0).abs() < 1e-6, "{dp}");
        assert!(
            models
                .marginal_power_w(&EntityId::new("x").unwrap(), &Resources::new(1.0, 0))
                .is_none()
        );
    }

    #[test]
    fn marginal_energy_follows_the_fitted_curve_and_wakes_hosts() {
        // 10 s intervals, 8 cores, a concave curve P = 60 + 130·√u.
        let cpu: Vec<f64> = (0..66).map(|i| 80.0 * (i % 11) as f64 / 10.0).collect();
        let energy: Vec<f64> = cpu
            .iter()
            .map(|c| (60.0 + 130.0 * (c / 80.0f64).sqrt()) * 10.0)
            .collect();
        let h = EntityId::new("h").unwrap();
        let input = AlignedInput {
            start: Timestamp::from_secs(0),
            interval_ns: 10_000_000_000,
            hosts: vec![HostSeries {
                host: h.clone(),
                cores: 8.0,
                energy_j: energy,
                meter_rel_sigma: 0.0,
                workloads: vec![WorkloadSeries::new(EntityId::new("w").unwrap(), 0.0, cpu)],
                system_cpu_s: None,
            }],
        };
        let models = PowerModels::fit(&input);
        let curve = models.curve(&h).expect("a curve is fitted");
        assert!((curve.curve.idle_w() - 60.0).abs() < 1.0);
        let one_core = Resources::new(1.0, 0);
        let at = |busy: f64| {
            models
                .marginal_energy_j(
                    &h,
                    &HostLoad::awake(Resources::new(busy, 0)),
                    &one_core,
                    3600.0,
                )
                .unwrap()
        };
        // Concave: the same core costs more on an idle host than on a busy one.
        assert!(
            at(0.0) > at(6.0) && at(6.0) > 0.0,
            "{} {}",
            at(0.0),
            at(6.0)
        );
        // From the curve: P(1/8) − P(0) over an hour, within the fit's knot error.
        let exact = 130.0 * (0.125f64).sqrt() * 3600.0;
        assert!(
            (at(0.0) - exact).abs() < 0.1 * exact,
            "{} vs {exact}",
            at(0.0)
        );
        // Waking a sleeping host adds its floor and the boot.
        let asleep = models
            .marginal_energy_j(&h, &HostLoad::asleep(), &one_core, 3600.0)
            .unwrap();
        assert!(asleep > at(0.0) + 0.9 * 60.0 * 3600.0);
        assert!(
            models
                .marginal_energy_j(
                    &EntityId::new("x").unwrap(),
                    &HostLoad::asleep(),
                    &one_core,
                    1.0
                )
                .is_none()
        );
    }
}
