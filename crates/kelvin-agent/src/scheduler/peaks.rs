//! The node power model read by the PEAKS scheduler plugin, fitted to measured curves.
//!
//! PEAKS (kubernetes-sigs/scheduler-plugins, `pkg/trimaran/peaks/peaks.go`) scores a node by
//! the power a pod would add to it. Per node it holds `P(u) = k0 + k1·e^(k2·u)`, `u` the
//! node's CPU utilization in percent (0..=100, from load-watcher), and costs a placement
//! `k1·(e^(k2·u_after) − e^(k2·u_now))` watts, which it min–max normalises and inverts into
//! a 0..100 score. The coefficients come from a JSON object keyed by node name:
//!
//! ```json
//! {"node-a": {"k0": 92.4, "k1": 7.9, "k2": 0.0281}}
//! ```
//!
//! Verified against the upstream source: the value type is `PowerModel` in
//! `apis/config/types.go` (and `apis/config/v1/types.go`) — three `float64` fields with the
//! JSON tags `k0`, `k1`, `k2` — and `initNodePowerModels` in `pkg/trimaran/peaks/peaks.go`
//! decodes the file named by the environment variable `NODE_POWER_MODEL` into
//! `map[string]PowerModel` with `DisallowUnknownFields`, so the object must hold exactly those
//! three keys: [`peaks_json`] writes nothing else, and [`parse_peaks_json`] refuses anything
//! else the same way. The upstream sample `pkg/trimaran/peaks/power_model/node_power_model`
//! (`k1 < 0`, `k2 < 0`: a curve that rises and flattens) reads here too.
//!
//! [`fit_peaks`] fits the model to (utilization %, watts) points by least squares;
//! [`peaks_models`] fits it to every power curve a Kelvin engine holds.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kelvin_agent::scheduler::peaks::{fit_peaks, peaks_json};
//! let curve: Vec<(f64, f64)> = (0..=10)
//!     .map(|i| {
//!         let u = 10.0 * f64::from(i);
//!         (u, 100.0 + 20.0 * (0.03 * u).exp())
//!     })
//!     .collect();
//! let fit = fit_peaks(&curve)?;
//! assert!((fit.model.k2() - 0.03).abs() < 1e-6);
//! assert!(fit.rms_watts < 1e-6);
//! let json = peaks_json(&BTreeMap::from([("node-a".to_string(), fit.model)]));
//! assert!(json.starts_with(r#"{"node-a":{"k0":"#));
//! # Ok::<(), kelvin_agent::scheduler::peaks::FitError>(())
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The smallest |k2| searched, per percent of utilization: below it the exponential is a
/// straight line over 0..100 % to within 0.5 %, and smaller values only trade k1 against k0.
pub const K2_MIN: f64 = 1e-4;

/// The largest |k2| searched: e^(0.2·100) ≈ 5·10⁸, steeper than any server's curve.
pub const K2_MAX: f64 = 0.2;

/// Grid points per sign of k2, spaced evenly in log |k2|, before the refinement.
const GRID: usize = 240;

/// Golden-section steps refining the best grid cell.
const REFINE_STEPS: usize = 100;

/// A node's power model for PEAKS: `P(u) = k0 + k1·e^(k2·u)` watts at `u` % CPU utilization.
///
/// Valid by construction: the coefficients are finite and the power never falls as the load
/// rises (`k1·k2 ≥ 0`: either both non-negative, a curve that steepens, or both non-positive,
/// one that flattens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeaksModel {
    k0: f64,
    k1: f64,
    k2: f64,
}

impl PeaksModel {
    /// The model with these coefficients.
    ///
    /// # Errors
    ///
    /// [`FitError::BadCoefficients`] when one is not finite or the power would fall as the
    /// load rises (`k1·k2 < 0`).
    ///
    /// ```
    /// use kelvin_agent::scheduler::peaks::PeaksModel;
    /// let model = PeaksModel::try_new(100.0, 20.0, 0.03)?;
    /// assert_eq!(model.power_watts(0.0), 120.0);
    /// assert!(PeaksModel::try_new(100.0, 20.0, -0.03).is_err());
    /// # Ok::<(), kelvin_agent::scheduler::peaks::FitError>(())
    /// ```
    pub fn try_new(k0: f64, k1: f64, k2: f64) -> Result<PeaksModel, FitError> {
        let reason = if !(k0.is_finite() && k1.is_finite() && k2.is_finite()) {
            Some("a coefficient is not a finite number")
        } else if k1 * k2 < 0.0 {
            Some("the power would fall as the load rises (k1 and k2 of opposite signs)")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(FitError::BadCoefficients { k0, k1, k2, reason }),
            None => Ok(PeaksModel { k0, k1, k2 }),
        }
    }

    /// `k0`, watts: with `k1`, the idle power is `k0 + k1`.
    pub fn k0(&self) -> f64 {
        self.k0
    }

    /// `k1`, watts.
    pub fn k1(&self) -> f64 {
        self.k1
    }

    /// `k2`, per percent of utilization.
    pub fn k2(&self) -> f64 {
        self.k2
    }

    /// The modelled power at `utilization_pct` (0..=100), in watts.
    pub fn power_watts(&self, utilization_pct: f64) -> f64 {
        self.k0 + self.k1 * (self.k2 * utilization_pct).exp()
    }

    /// The power PEAKS charges for going from `from_pct` to `to_pct` utilization, in watts:
    /// `k1·(e^(k2·to) − e^(k2·from))`.
    pub fn jump_watts(&self, from_pct: f64, to_pct: f64) -> f64 {
        self.k1 * ((self.k2 * to_pct).exp() - (self.k2 * from_pct).exp())
    }
}

/// A fitted model and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PeaksFit {
    /// The model.
    pub model: PeaksModel,
    /// Root-mean-square error over the points, in watts.
    pub rms_watts: f64,
    /// Coefficient of determination, 1 for a perfect fit (1 too for flat points fitted flat).
    pub r_squared: f64,
    /// How many points were fitted.
    pub points: usize,
}

/// Points or coefficients that cannot make a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// Three coefficients need at least three distinct utilizations.
    #[error("{points} points at {distinct} distinct utilizations: a PEAKS fit needs at least 3")]
    TooFewPoints {
        /// Points given.
        points: usize,
        /// Distinct utilizations among them.
        distinct: usize,
    },
    /// A point with a NaN or infinite value.
    #[error("point {index} ({utilization_pct} %, {watts} W): not a finite number")]
    NotFinite {
        /// The point's index.
        index: usize,
        /// Its utilization.
        utilization_pct: f64,
        /// Its power.
        watts: f64,
    },
    /// A utilization outside 0..=100 % (a fraction 0..1 passed as percent is a common slip).
    #[error("point {index}: utilization {utilization_pct} is outside 0..=100 %")]
    UtilizationOutOfRange {
        /// The point's index.
        index: usize,
        /// Its utilization.
        utilization_pct: f64,
    },
    /// A negative power.
    #[error("point {index}: power {watts} W is negative")]
    NegativePower {
        /// The point's index.
        index: usize,
        /// Its power.
        watts: f64,
    },
    /// Coefficients that are not a model (see [`PeaksModel::try_new`]).
    #[error("k0 = {k0}, k1 = {k1}, k2 = {k2}: {reason}")]
    BadCoefficients {
        /// `k0`.
        k0: f64,
        /// `k1`.
        k1: f64,
        /// `k2`.
        k2: f64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Fits `P(u) = k0 + k1·e^(k2·u)` to `(utilization %, watts)` points by least squares.
///
/// For each k2, k0 and k1 have a closed form (a straight-line fit of the watts against
/// `e^(k2·u)`); k2 is searched on a log-spaced grid over `K2_MIN..=K2_MAX` and over its
/// negatives (curves that flatten, as upstream's sample model does), then refined by
/// golden-section search around the best grid point. k1 is held to the sign of k2, so the
/// power never falls with load: points that fall are fitted flat (`k1 = k2 = 0`, `k0` their
/// mean), as is a flat curve.
///
/// # Errors
///
/// [`FitError::TooFewPoints`] for fewer than three distinct utilizations;
/// [`FitError::NotFinite`], [`FitError::UtilizationOutOfRange`] or
/// [`FitError::NegativePower`] naming the first bad point.
///
/// ```
/// use kelvin_agent::scheduler::peaks::fit_peaks;
/// // A SPECpower-style curve, 0 to 100 % in steps of 10.
/// let watts = [58.0, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0];
/// let points: Vec<(f64, f64)> = watts.iter().enumerate()
///     .map(|(i, &w)| (10.0 * i as f64, w))
///     .collect();
/// let fit = fit_peaks(&points)?;
/// assert!(fit.rms_watts < 10.0 && fit.r_squared > 0.95);
/// assert!(fit.model.jump_watts(50.0, 60.0) > 0.0);
/// # Ok::<(), kelvin_agent::scheduler::peaks::FitError>(())
/// ```
pub fn fit_peaks(points: &[(f64, f64)]) -> Result<PeaksFit, FitError> {
    check_points(points)?;
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let flat = Candidate {
        k0: mean,
        k1: 0.0,
        k2: 0.0,
        sse: points.iter().map(|p| (p.1 - mean).powi(2)).sum(),
    };
    let mut best = flat;
    for sign in [1.0, -1.0] {
        let candidate = search_sign(points, sign);
        // Strictly better only: ties keep the flat model, then the rising branch.
        if candidate.k1 != 0.0 && candidate.sse < best.sse {
            best = candidate;
        }
    }
    let model = PeaksModel::try_new(best.k0, best.k1, best.k2)?;
    let total = flat.sse;
    Ok(PeaksFit {
        model,
        rms_watts: (best.sse / points.len() as f64).sqrt(),
        r_squared: if total > 0.0 {
            1.0 - best.sse / total
        } else {
            1.0
        },
        points: points.len(),
    })
}

fn check_points(points: &[(f64, f64)]) -> Result<(), FitError> {
    for (index, &(utilization_pct, watts)) in points.iter().enumerate() {
        if !(utilization_pct.is_finite() && watts.is_finite()) {
            return Err(FitError::NotFinite {
                index,
                utilization_pct,
                watts,
            });
        }
        if !(0.0..=100.0).contains(&utilization_pct) {
            return Err(FitError::UtilizationOutOfRange {
                index,
                utilization_pct,
            });
        }
        if watts < 0.0 {
            return Err(FitError::NegativePower { index, watts });
        }
    }
    let mut utilizations: Vec<f64> = points.iter().map(|p| p.0).collect();
    utilizations.sort_by(f64::total_cmp);
    utilizations.dedup();
    if utilizations.len() < 3 {
        return Err(FitError::TooFewPoints {
            points: points.len(),
            distinct: utilizations.len(),
        });
    }
    Ok(())
}

/// A model and its sum of squared errors.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    k0: f64,
    k1: f64,
    k2: f64,
    sse: f64,
}

/// The best fit with k2 of this sign: the grid, then golden-section search in log |k2|.
fn search_sign(points: &[(f64, f64)], sign: f64) -> Candidate {
    let (low, high) = (K2_MIN.ln(), K2_MAX.ln());
    let at = |log_k2: f64| solve_linear(points, sign * log_k2.exp());
    let step = (high - low) / (GRID - 1) as f64;
    let grid: Vec<Candidate> = (0..GRID).map(|i| at(low + step * i as f64)).collect();
    let best_index = (0..GRID)
        .min_by(|&a, &b| grid[a].sse.total_cmp(&grid[b].sse))
        .unwrap_or(0);
    let mut a = low + step * best_index.saturating_sub(1) as f64;
    let mut b = low + step * (best_index + 1).min(GRID - 1) as f64;
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (at(c), at(d));
    for _ in 0..REFINE_STEPS {
        if fc.sse <= fd.sse {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = at(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = at(d);
        }
    }
    [grid[best_index], fc, fd]
        .into_iter()
        .min_by(|x, y| x.sse.total_cmp(&y.sse))
        .unwrap_or(grid[best_index])
}

/// k0 and k1 by least squares for a fixed k2, with k1 held to the sign of k2.
///
/// Works on `g = e^(k2·u) − 1` (computed without cancellation), fitting `P = a + k1·g` with
/// `a = k0 + k1`: for small k2 the columns `1` and `e^(k2·u)` are nearly parallel, and `g`
/// keeps the slope accurate.
fn solve_linear(points: &[(f64, f64)], k2: f64) -> Candidate {
    let n = points.len() as f64;
    let g = |u: f64| (k2 * u).exp_m1();
    let g_mean = points.iter().map(|p| g(p.0)).sum::<f64>() / n;
    let p_mean = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sgg, mut sgp) = (0.0, 0.0);
    for &(u, watts) in points {
        let dg = g(u) - g_mean;
        sgg += dg * dg;
        sgp += dg * (watts - p_mean);
    }
    let mut k1 = if sgg > 0.0 { sgp / sgg } else { 0.0 };
    if k1 * k2 < 0.0 || !k1.is_finite() {
        k1 = 0.0;
    }
    let a = p_mean - k1 * g_mean;
    let sse = points
        .iter()
        .map(|&(u, watts)| (watts - a - k1 * g(u)).powi(2))
        .sum();
    Candidate {
        k0: a - k1,
        k1,
        k2,
        sse,
    }
}

/// PEAKS models for every inventory host the engine has fitted a power curve for
/// ([`kelvin::Engine::power_models`], [`kelvin::attribution::PowerModels::curve`]): each
/// curve's 11 points (watts at 0, 10, …, 100 % CPU utilization) fitted with [`fit_peaks`], by
/// host name. Hosts without a curve, and curves that cannot be fitted, are left out (PEAKS
/// then prices that node at zero); empty when the engine has no models.
///
/// The curves are fitted against the CPU utilization the load-watcher document reports
/// ([`super::watcher`]), so the `u` PEAKS reads and the `u` of these models agree.
///
/// ```
/// use std::collections::BTreeMap;
/// use kelvin::{Batch, Engine, dataset::RecordedDataset};
/// use kelvin_agent::scheduler::peaks::{peaks_json, peaks_models};
///
/// let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/edge-small"))?;
/// let mut engine = Engine::builder()
///     .inventory(ds.inventory.clone())
///     .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
///     .build()?;
/// engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
/// let fits = peaks_models(&engine);
/// assert!(!fits.is_empty());
/// let models: BTreeMap<_, _> = fits.iter().map(|(node, fit)| (node.clone(), fit.model)).collect();
/// let file = peaks_json(&models); // the NODE_POWER_MODEL file, or the NodePowerModel arg
/// assert!(file.starts_with(r#"{"edge-r1-h1":{"k0":"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn peaks_models(engine: &kelvin::Engine) -> BTreeMap<String, PeaksFit> {
    let Ok(models) = engine.power_models() else {
        return BTreeMap::new();
    };
    engine
        .inventory()
        .hosts
        .iter()
        .filter_map(|host| {
            let curve = models.curve(&host.id)?;
            let points: Vec<(f64, f64)> = curve
                .curve
                .watts
                .iter()
                .enumerate()
                .map(|(k, &watts)| (10.0 * k as f64, watts))
                .collect();
            let fit = fit_peaks(&points).ok()?;
            Some((host.id.as_str().to_string(), fit))
        })
        .collect()
}

/// The PEAKS power-model JSON for these nodes: `{"<node>": {"k0": …, "k1": …, "k2": …}}`,
/// compact, nodes in name order, numbers in the shortest form that reads back exactly.
///
/// ```
/// use std::collections::BTreeMap;
/// use kelvin_agent::scheduler::peaks::{peaks_json, PeaksModel};
/// let models = BTreeMap::from([("node-a".to_string(), PeaksModel::try_new(58.5, 2.5, 0.031)?)]);
/// assert_eq!(peaks_json(&models), r#"{"node-a":{"k0":58.5,"k1":2.5,"k2":0.031}}"#);
/// # Ok::<(), kelvin_agent::scheduler::peaks::FitError>(())
/// ```
pub fn peaks_json(models: &BTreeMap<String, PeaksModel>) -> String {
    let number = |x: f64| Number::from_f64(x).map_or(Value::Null, Value::Number);
    let nodes: Map<String, Value> = models
        .iter()
        .map(|(node, model)| {
            let mut coefficients = Map::new();
            coefficients.insert("k0".into(), number(model.k0));
            coefficients.insert("k1".into(), number(model.k1));
            coefficients.insert("k2".into(), number(model.k2));
            (node.clone(), Value::Object(coefficients))
        })
        .collect();
    Value::Object(nodes).to_string()
}

/// A PEAKS power-model file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeaksJsonError {
    /// Not JSON of the shape PEAKS decodes (an unknown key is refused, as PEAKS refuses it).
    #[error("PEAKS power model: {0}")]
    Json(#[from] serde_json::Error),
    /// One node's coefficients are not a model.
    #[error("PEAKS power model of node {node:?}: {source}")]
    Model {
        /// The node.
        node: String,
        /// What is wrong.
        source: FitError,
    },
}

/// One node's coefficients as PEAKS decodes them: a missing key reads as 0, as in Go.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Coefficients {
    #[serde(default)]
    k0: f64,
    #[serde(default)]
    k1: f64,
    #[serde(default)]
    k2: f64,
}

/// Reads a PEAKS power-model file (the shape [`peaks_json`] writes), as strictly as PEAKS.
///
/// # Errors
///
/// [`PeaksJsonError::Json`] for malformed JSON or a key other than `k0`, `k1`, `k2`;
/// [`PeaksJsonError::Model`] naming the node whose coefficients are not a model.
///
/// ```
/// use kelvin_agent::scheduler::peaks::parse_peaks_json;
/// // The sample model shipped with the plugin: a curve that rises and flattens.
/// let upstream = r#"{"node-1":{"k0":471.7412504314313,"k1":-91.50493019588365,"k2":-0.07186049052516227}}"#;
/// let models = parse_peaks_json(upstream)?;
/// assert!(models["node-1"].jump_watts(10.0, 20.0) > 0.0);
/// assert!(parse_peaks_json(r#"{"n":{"k0":1,"k1":1,"k2":0.1,"rms":2}}"#).is_err());
/// # Ok::<(), kelvin_agent::scheduler::peaks::PeaksJsonError>(())
/// ```
pub fn parse_peaks_json(text: &str) -> Result<BTreeMap<String, PeaksModel>, PeaksJsonError> {
    let raw: BTreeMap<String, Coefficients> = serde_json::from_str(text)?;
    raw.into_iter()
        .map(|(node, c)| match PeaksModel::try_new(c.k0, c.k1, c.k2) {
            Ok(model) => Ok((node, model)),
            Err(source) => Err(PeaksJsonError::Model { node, source }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(k0: f64, k1: f64, k2: f64, utilizations: &[f64]) -> Vec<(f64, f64)> {
        utilizations
            .iter()
            .map(|&u| (u, k0 + k1 * (k2 * u).exp()))
            .collect()
    }

    fn deciles() -> Vec<f64> {
        (0..=10).map(|i| 10.0 * f64::from(i)).collect()
    }

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs()
    }

    #[test]
    fn recovers_a_known_exponential() {
        let fit = fit_peaks(&curve(100.0, 20.0, 0.03, &deciles())).unwrap();
        let m = fit.model;
        assert!(close(m.k0(), 100.0, 1e-6), "{m:?}");
        assert!(close(m.k1(), 20.0, 1e-6), "{m:?}");
        assert!(close(m.k2(), 0.03, 1e-6), "{m:?}");
        assert!(fit.rms_watts < 1e-3 && fit.r_squared > 0.999_999, "{fit:?}");
        assert_eq!(fit.points, 11);
    }

    #[test]
    fn recovers_a_flattening_curve_like_upstreams_sample() {
        let points = curve(471.74, -91.505, -0.07186, &deciles());
        let m = fit_peaks(&points).unwrap().model;
        assert!(close(m.k0(), 471.74, 1e-3), "{m:?}");
        assert!(close(m.k1(), -91.505, 1e-3), "{m:?}");
        assert!(close(m.k2(), -0.07186, 1e-3), "{m:?}");
    }

    #[test]
    fn fits_a_specpower_curve_within_ten_watts() {
        let watts = [
            58., 98., 109., 118., 128., 140., 153., 170., 189., 205., 222.,
        ];
        let points: Vec<(f64, f64)> = deciles().into_iter().zip(watts).collect();
        let fit = fit_peaks(&points).unwrap();
        assert!(fit.rms_watts < 10.0, "{fit:?}");
        assert!(fit.r_squared > 0.95, "{fit:?}");
        // The least-squares optimum of this curve, found by a dense scan, is 6.70 W.
        assert!(fit.rms_watts < 6.71, "{fit:?}");
        // Power rises with load over the whole range.
        for u in 0..100 {
            let u = f64::from(u);
            assert!(fit.model.jump_watts(u, u + 1.0) > 0.0);
        }
    }

    #[test]
    fn flat_and_falling_points_fit_flat() {
        let flat = fit_peaks(&[(0.0, 80.0), (50.0, 80.0), (100.0, 80.0)]).unwrap();
        assert_eq!((flat.model.k0(), flat.model.k1()), (80.0, 0.0));
        assert_eq!((flat.rms_watts, flat.r_squared), (0.0, 1.0));
        let falling = fit_peaks(&[(0.0, 90.0), (50.0, 80.0), (100.0, 70.0)]).unwrap();
        assert_eq!((falling.model.k0(), falling.model.k1()), (80.0, 0.0));
        assert_eq!(falling.r_squared, 0.0);
    }

    #[test]
    fn bad_points_are_refused() {
        let too_few = fit_peaks(&[(0.0, 50.0), (100.0, 90.0), (100.0, 91.0)]);
        assert_eq!(
            too_few,
            Err(FitError::TooFewPoints {
                points: 3,
                distinct: 2
            })
        );
        assert!(matches!(fit_peaks(&[]), Err(FitError::TooFewPoints { .. })));
        let nan = fit_peaks(&[(0.0, 50.0), (50.0, f64::NAN), (100.0, 90.0)]);
        assert!(matches!(nan, Err(FitError::NotFinite { index: 1, .. })));
        let fraction = fit_peaks(&[(0.0, 50.0), (0.5, 70.0), (101.0, 90.0)]);
        assert!(matches!(
            fraction,
            Err(FitError::UtilizationOutOfRange { index: 2, .. })
        ));
        let negative = fit_peaks(&[(0.0, -1.0), (50.0, 70.0), (100.0, 90.0)]);
        assert_eq!(
            negative.unwrap_err().to_string(),
            "point 0: power -1 W is negative"
        );
    }

    #[test]
    fn json_has_exactly_the_shape_peaks_decodes() {
        let fit = fit_peaks(&curve(100.0, 20.0, 0.03, &deciles())).unwrap();
        let models = BTreeMap::from([
            (
                "node-b".to_string(),
                PeaksModel::try_new(1.0, 0.0, 0.0).unwrap(),
            ),
            ("node-a".to_string(), fit.model),
        ]);
        let text = peaks_json(&models);
        let value: Value = serde_json::from_str(&text).unwrap();
        let nodes = value.as_object().unwrap();
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["node-a", "node-b"]);
        for coefficients in nodes.values() {
            let keys: Vec<&String> = coefficients.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["k0", "k1", "k2"]);
            assert!(
                coefficients
                    .as_object()
                    .unwrap()
                    .values()
                    .all(Value::is_f64)
            );
        }
        assert_eq!(parse_peaks_json(&text).unwrap(), models);
        assert_eq!(peaks_json(&BTreeMap::new()), "{}");
    }

    #[test]
    fn parsing_is_as_strict_as_peaks() {
        let missing = parse_peaks_json(r#"{"n":{"k0":5}}"#).unwrap();
        assert_eq!(missing["n"], PeaksModel::try_new(5.0, 0.0, 0.0).unwrap());
        assert!(matches!(
            parse_peaks_json(r#"{"n":{"k0":1,"k1":1,"k2":0.1,"extra":0}}"#),
            Err(PeaksJsonError::Json(_))
        ));
        assert!(matches!(
            parse_peaks_json(r#"{"n":{"k0":"1","k1":1,"k2":0.1}}"#),
            Err(PeaksJsonError::Json(_))
        ));
        let falling = parse_peaks_json(r#"{"n":{"k0":1,"k1":1,"k2":-0.1}}"#).unwrap_err();
        assert!(
            falling
                .to_string()
                .starts_with(r#"PEAKS power model of node "n": "#)
        );
    }
}
