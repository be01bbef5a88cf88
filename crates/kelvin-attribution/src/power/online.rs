//! [`OnlineModel`]: a resource model recalibrated online, with drift detection.

use std::collections::VecDeque;

use ndarray::{Array2, ArrayView1};

use serde::Serialize;

use super::resource::r_squared;
use super::{MAD_TO_SIGMA, Resource, ResourceModel, median_sorted};
use crate::AttributionError;
use crate::nnls::nnls;

/// A change in the level of an [`OnlineModel`]'s residuals, found by the Page–Hinkley test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftEvent {
    /// The update (0-based, counting accepted updates) at which the drift was declared.
    pub sample: u64,
    /// Estimated first update of the change: among the updates from 16 before the test
    /// statistic's extremum on, the one from which the residuals have the largest
    /// `(Σ residual)² / count` in the detected direction (the likelihood-ratio change point
    /// for a shift of unknown size from a zero mean, after Hinkley 1971).
    pub onset: u64,
    /// Signed estimated shift of the mean residual (measured − predicted) since `onset`,
    /// watts: positive when the machine draws more than the model predicts.
    pub shift_w: f64,
}

/// Two-sided Page–Hinkley test (Page 1954; Hinkley 1971) on standardized residuals.
#[derive(Debug, Clone)]
struct PageHinkley {
    n: u64,
    mean: f64,
    up: f64,
    up_min: f64,
    up_onset: u64,
    down: f64,
    down_max: f64,
    down_onset: u64,
}

impl PageHinkley {
    fn new() -> Self {
        PageHinkley {
            n: 0,
            mean: 0.0,
            up: 0.0,
            up_min: 0.0,
            up_onset: 0,
            down: 0.0,
            down_max: 0.0,
            down_onset: 0,
        }
    }

    /// Feeds standardized residual `z` of update `sample`; on detection returns the direction
    /// (+1 up, −1 down) and the update after the statistic's extremum.
    fn push(&mut self, z: f64, sample: u64, delta: f64, threshold: f64) -> Option<(f64, u64)> {
        self.n += 1;
        self.mean += (z - self.mean) / self.n as f64;
        self.up += z - self.mean - delta;
        if self.up < self.up_min {
            self.up_min = self.up;
            self.up_onset = sample + 1;
        }
        self.down += z - self.mean + delta;
        if self.down > self.down_max {
            self.down_max = self.down;
            self.down_onset = sample + 1;
        }
        if self.up - self.up_min > threshold {
            Some((1.0, self.up_onset))
        } else if self.down_max - self.down > threshold {
            Some((-1.0, self.down_onset))
        } else {
            None
        }
    }
}

/// Refines a detected change: over the candidate onsets from `hint − 16` to the last residual,
/// the one maximising `S² / len` (S = sum of the residuals from it on, with the sign of the
/// detected direction) — the likelihood-ratio estimate of a mean shift from a zero mean.
/// Returns `(onset, mean residual from onset)`.
fn refine_change(tail: &VecDeque<(u64, f64)>, direction: f64, hint: u64) -> Option<(u64, f64)> {
    let lo = hint.saturating_sub(16);
    let mut sum = 0.0;
    let mut best: Option<(f64, u64, f64)> = None;
    for (len, &(sample, e)) in tail.iter().rev().enumerate() {
        if sample < lo {
            break;
        }
        sum += e;
        let len = (len + 1) as f64;
        if sum * direction > 0.0 {
            let score = sum * sum / len;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, sample, sum / len));
            }
        }
    }
    best.map(|(_, onset, shift)| (onset, shift))
}

/// Residuals kept for [`refine_change`].
const TAIL: usize = 4096;

/// Initial covariance scale of a cold start and after a drift (a diffuse prior).
const P_RESET: f64 = 1e4;
/// Initial covariance scale of a warm start (a prior worth a few dozen samples).
const P_WARM: f64 = 0.1;
/// Drift-detector allowance, in residual standard deviations.
const PH_DELTA: f64 = 0.5;
/// Drift-detector threshold, in residual standard deviations.
const PH_THRESHOLD: f64 = 25.0;
/// Standardized residuals are clipped to ±this before the drift test, so one wild reading
/// cannot declare a drift on its own (it takes at least four).
const PH_CLIP: f64 = 8.0;
/// Weight of a new squared residual in the running residual scale.
const SCALE_RATE: f64 = 0.01;

/// A [`ResourceModel`] recalibrated online.
///
/// Each [`OnlineModel::update`] runs one step of recursive least squares with exponential
/// forgetting on `[1, usage…]` (so old samples weigh `forgetting^age`), then projects the
/// coefficients onto `≥ 0` in the metric of the RLS information matrix (a small non-negative
/// least-squares problem, so coefficients correlated with one held at 0 move with it; plain
/// clipping would leave the state biased for hundreds of updates after a noisy start). The
/// covariance is kept symmetric and its trace bounded, so long stretches of constant usage
/// cannot wind it up.
///
/// The a-priori residual of every update (measured − predicted before the update) is
/// standardized by a running residual scale, clipped to ±8 σ (so a single wild reading cannot
/// declare a drift) and fed to a two-sided Page–Hinkley test (allowance 0.5 σ, threshold
/// 25 σ; a shift of 8 σ or more is declared within four samples, one of 3 σ in about 12, one
/// of 2 σ in about 20). The shift and its onset are then estimated from the residuals
/// themselves (see [`DriftEvent::onset`]). The scale is first estimated as MAD · 1.4826 of the
/// residuals of a warm-up (the last half of `max(100, 20·(resources + 1))` updates, during
/// which no drift is reported), then tracked by an exponentially weighted mean of squared
/// residuals (clipped at 4 σ, weight 0.01). On drift the covariance is reset to a diffuse prior
/// so the model re-learns quickly, the estimated shift is added to the idle power, the detector
/// restarts with a new warm-up, and a [`DriftEvent`] is returned.
///
/// Limits: a shift below about 2 σ may be absorbed by the forgetting before it is declared
/// when `forgetting` is small (memory under ~100 updates); a second drift within the warm-up
/// after a first one is not reported.
///
/// ```
/// use kelvin_attribution::power::{OnlineModel, Resource};
/// let mut m = OnlineModel::new(&[Resource::Cpu], 0.995)?;
/// let mut drift = None;
/// for i in 0..2000 {
///     let u = (i as f64 * 0.61).sin().abs();
///     let noise = 0.5 * (i as f64 * 12.9898).sin();
///     let idle = if i < 1000 { 70.0 } else { 85.0 };
///     if let Some(d) = m.update(&[u], idle + 100.0 * u + noise)? {
///         drift.get_or_insert(d);
///     }
/// }
/// let d = drift.expect("the 15 W step is found");
/// assert!(d.sample >= 1000 && d.sample < 1010 && (d.shift_w - 15.0).abs() < 2.0);
/// let now = m.model();
/// assert!((now.idle_w - 85.0).abs() < 1.0 && (now.coef_w[0] - 100.0).abs() < 2.0);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OnlineModel {
    resources: Vec<Resource>,
    forgetting: f64,
    theta: Vec<f64>,
    /// Row-major `(resources + 1)²` covariance.
    p: Vec<f64>,
    samples: u64,
    /// Recent `(a-priori residual, measured power)` pairs for snapshots.
    recent: VecDeque<(f64, f64)>,
    recent_cap: usize,
    detector: PageHinkley,
    /// `(update, a-priori residual)` fed to the detector since its last restart (bounded).
    tail: VecDeque<(u64, f64)>,
    tail_cap: usize,
    /// Residual scale, watts; `None` while warming up.
    scale: Option<f64>,
    warm: Vec<f64>,
    warmup: usize,
}

impl OnlineModel {
    /// A cold-started model: all coefficients 0, diffuse covariance. `forgetting` ∈ (0, 1]
    /// weighs old samples (0.995 ≈ a memory of 200 updates; 1 never forgets).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `forgetting` is not in (0, 1].
    pub fn new(resources: &[Resource], forgetting: f64) -> Result<OnlineModel, AttributionError> {
        if !(forgetting > 0.0 && forgetting <= 1.0) {
            return Err(AttributionError::invalid(
                "online model",
                format!("forgetting factor {forgetting} is not in (0, 1]"),
            ));
        }
        let d = resources.len() + 1;
        let recent_cap = if forgetting < 1.0 {
            (1.0 / (1.0 - forgetting)).round().clamp(10.0, 10_000.0) as usize
        } else {
            10_000
        };
        Ok(OnlineModel {
            resources: resources.to_vec(),
            forgetting,
            theta: vec![0.0; d],
            p: scaled_identity(d, P_RESET),
            samples: 0,
            recent: VecDeque::with_capacity(recent_cap),
            recent_cap,
            detector: PageHinkley::new(),
            tail: VecDeque::new(),
            tail_cap: TAIL,
            scale: None,
            warm: Vec::new(),
            warmup: (20 * d).max(100),
        })
    }

    /// A model warm-started from a fitted one: its coefficients, a moderately confident
    /// covariance and, when its `rmse_w` is positive, that as the residual scale (so drift
    /// detection is active from the first update).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `forgetting` is not in (0, 1], or
    /// the model has a non-finite or negative coefficient or a coefficient count that differs
    /// from its resource count.
    pub fn from_model(m: &ResourceModel, forgetting: f64) -> Result<OnlineModel, AttributionError> {
        let mut o = OnlineModel::new(&m.resources, forgetting)?;
        if m.coef_w.len() != m.resources.len() {
            return Err(AttributionError::invalid(
                "online model",
                format!(
                    "{} coefficients for {} resources",
                    m.coef_w.len(),
                    m.resources.len()
                ),
            ));
        }
        let theta: Vec<f64> = std::iter::once(m.idle_w)
            .chain(m.coef_w.iter().copied())
            .collect();
        if theta.iter().any(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(AttributionError::invalid(
                "online model",
                "a coefficient is negative or not finite",
            ));
        }
        let d = theta.len();
        o.theta = theta;
        o.p = scaled_identity(d, P_WARM);
        if m.rmse_w.is_finite() && m.rmse_w > 0.0 {
            o.scale = Some(m.rmse_w);
        }
        Ok(o)
    }

    /// Keeps at most `n` (at least 32) residuals for dating a change's onset (default 4,096):
    /// an embedder watching thousands of meters trades how far back an onset can be dated
    /// for memory (16 bytes a residual). The residuals' ring is allocated at its full size
    /// here, once.
    pub fn with_tail(mut self, n: usize) -> Self {
        self.tail_cap = n.max(32);
        self.tail = VecDeque::with_capacity(self.tail_cap);
        self
    }

    /// Feeds one sample: usage per resource (same order as the resources) and measured power.
    /// Returns the drift found by this update, if any.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`], leaving the model unchanged, when
    /// `usage` has the wrong length or any value is NaN or infinite.
    pub fn update(
        &mut self,
        usage: &[f64],
        power_w: f64,
    ) -> Result<Option<DriftEvent>, AttributionError> {
        if usage.len() != self.resources.len() {
            return Err(AttributionError::invalid(
                format!("online model, sample {}", self.samples),
                format!(
                    "{} usage values for {} resources",
                    usage.len(),
                    self.resources.len()
                ),
            ));
        }
        if !power_w.is_finite() || usage.iter().any(|u| !u.is_finite()) {
            return Err(AttributionError::invalid(
                format!("online model, sample {}", self.samples),
                "usage or power is NaN or infinite",
            ));
        }
        let d = self.theta.len();
        let x: Vec<f64> = std::iter::once(1.0).chain(usage.iter().copied()).collect();
        let predicted: f64 = self.theta.iter().zip(&x).map(|(t, v)| t * v).sum();
        let e = power_w - predicted;
        let sample = self.samples;
        self.samples += 1;
        if self.recent.len() == self.recent_cap {
            self.recent.pop_front();
        }
        self.recent.push_back((e, power_w));

        // Drift detection on the a-priori residual.
        let mut event = None;
        match self.scale {
            None => {
                self.warm.push(e);
                if self.warm.len() >= self.warmup {
                    let mut tail: Vec<f64> = self.warm[self.warmup / 2..]
                        .iter()
                        .map(|v| v.abs())
                        .collect();
                    tail.sort_by(f64::total_cmp);
                    self.scale = Some((MAD_TO_SIGMA * median_sorted(&tail)).max(1e-3));
                    self.warm.clear();
                }
            }
            Some(s) => {
                let z = (e / s).clamp(-PH_CLIP, PH_CLIP);
                if self.tail.len() >= self.tail_cap {
                    self.tail.pop_front();
                }
                self.tail.push_back((sample, e));
                if let Some((direction, hint)) =
                    self.detector.push(z, sample, PH_DELTA, PH_THRESHOLD)
                {
                    let (onset, shift_w) =
                        refine_change(&self.tail, direction, hint).unwrap_or((hint, 0.0));
                    event = Some(DriftEvent {
                        sample,
                        onset,
                        shift_w,
                    });
                } else {
                    let clipped = e.abs().min(4.0 * s);
                    let var = (1.0 - SCALE_RATE) * s * s + SCALE_RATE * clipped * clipped;
                    self.scale = Some(var.sqrt().max(1e-3));
                }
            }
        }

        // Recursive least squares with forgetting.
        let lambda = self.forgetting;
        let px: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| self.p[i * d + j] * x[j]).sum())
            .collect();
        let denom = lambda + x.iter().zip(&px).map(|(a, b)| a * b).sum::<f64>();
        if denom.is_finite() && denom > 0.0 {
            let k: Vec<f64> = px.iter().map(|v| v / denom).collect();
            for (t, ki) in self.theta.iter_mut().zip(&k) {
                *t += ki * e;
            }
            for (row, ki) in self.p.chunks_mut(d).zip(&k) {
                for (v, pxj) in row.iter_mut().zip(&px) {
                    *v = (*v - ki * pxj) / lambda;
                }
            }
            for i in 0..d {
                for j in i + 1..d {
                    let s = 0.5 * (self.p[i * d + j] + self.p[j * d + i]);
                    self.p[i * d + j] = s;
                    self.p[j * d + i] = s;
                }
            }
            let trace: f64 = (0..d).map(|i| self.p[i * d + i]).sum();
            let cap = P_RESET * d as f64;
            if !(trace.is_finite() && trace > 0.0) {
                self.p = scaled_identity(d, P_RESET);
            } else if trace > cap {
                let f = cap / trace;
                self.p.iter_mut().for_each(|v| *v *= f);
            }
        } else {
            self.p = scaled_identity(d, P_RESET);
        }
        if let Some(ev) = &event {
            self.theta[0] += ev.shift_w;
            self.p = scaled_identity(d, P_RESET);
            self.detector = PageHinkley::new();
            self.tail.clear();
            self.scale = None;
            self.warm.clear();
        }
        project_nonneg(&mut self.theta, &self.p);
        Ok(event)
    }

    /// The current model. `rmse_w` and `r2` are over the recent updates' a-priori residuals
    /// (the last `1 / (1 − forgetting)` updates, between 10 and 10 000), `samples` is how many
    /// that is and `skipped` is 0 (rejected updates change nothing).
    pub fn model(&self) -> ResourceModel {
        let m = self.recent.len();
        let (rmse_w, r2) = if m == 0 {
            (0.0, 0.0)
        } else {
            let sse: f64 = self.recent.iter().map(|(e, _)| e * e).sum();
            let mean = self.recent.iter().map(|(_, y)| y).sum::<f64>() / m as f64;
            let sst: f64 = self
                .recent
                .iter()
                .map(|(_, y)| (y - mean) * (y - mean))
                .sum();
            ((sse / m as f64).sqrt(), r_squared(sse, sst))
        };
        ResourceModel {
            resources: self.resources.clone(),
            idle_w: self.theta[0],
            coef_w: self.theta[1..].to_vec(),
            rmse_w,
            r2,
            samples: m,
            skipped: 0,
        }
    }

    /// Updates accepted so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

/// Projects `theta` onto `θ ≥ 0` in the metric of the information matrix `P⁻¹`:
/// `min (θ − θ₀)ᵀ P⁻¹ (θ − θ₀)` subject to `θ ≥ 0`, solved as the non-negative least-squares
/// problem `min ‖L⁻¹ θ − L⁻¹ θ₀‖` with `P = L Lᵀ`. Unlike clipping each coefficient, this
/// moves the correlated ones too (clipping a coefficient the data want negative raises the
/// intercept), so the state stays the constrained least-squares fit of the data seen. Falls
/// back to clipping if `P` is not numerically positive definite.
fn project_nonneg(theta: &mut [f64], p: &[f64]) {
    if theta.iter().all(|t| t.is_finite() && *t >= 0.0) {
        return;
    }
    let d = theta.len();
    let projected = cholesky_lower(p, d).and_then(|l| {
        // M = L⁻¹ by forward substitution, column by column.
        let mut m = Array2::<f64>::zeros((d, d));
        for c in 0..d {
            for i in c..d {
                let mut v = if i == c { 1.0 } else { 0.0 };
                for k in c..i {
                    v -= l[i * d + k] * m[[k, c]];
                }
                m[[i, c]] = v / l[i * d + i];
            }
        }
        let b = m.dot(&ArrayView1::from(&*theta));
        nnls(m.view(), b.view()).ok()
    });
    match projected {
        Some(sol) if sol.x.iter().all(|v| v.is_finite()) => {
            theta.iter_mut().zip(&sol.x).for_each(|(t, v)| *t = *v);
        }
        _ => theta.iter_mut().for_each(|t| {
            if !(t.is_finite() && *t >= 0.0) {
                *t = 0.0;
            }
        }),
    }
}

/// Lower Cholesky factor (row-major) of the symmetric `d × d` matrix `a`, if positive definite.
fn cholesky_lower(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= l[j * d + k] * l[j * d + k];
        }
        if !(s.is_finite() && s > 0.0) {
            return None;
        }
        let s = s.sqrt();
        l[j * d + j] = s;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = v / s;
        }
    }
    Some(l)
}

fn scaled_identity(d: usize, s: f64) -> Vec<f64> {
    let mut p = vec![0.0; d * d];
    for i in 0..d {
        p[i * d + i] = s;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::testing::gauss;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    fn stream(rng: &mut ChaCha8Rng, idle: f64) -> ([f64; 2], f64) {
        let (c, m): (f64, f64) = (rng.random(), rng.random());
        ([c, m], idle + 120.0 * c + 30.0 * m + 2.0 * gauss(rng))
    }

    #[test]
    fn online_model_has_no_false_alarm_on_a_stationary_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut m = OnlineModel::new(&[Resource::Cpu, Resource::Memory], 0.995).unwrap();
        for _ in 0..10_000 {
            let (u, p) = stream(&mut rng, 80.0);
            assert_eq!(m.update(&u, p).unwrap(), None, "at {}", m.samples());
        }
        let s = m.model();
        assert!((s.idle_w - 80.0).abs() < 2.0, "{s:?}");
        assert!(
            (s.coef_w[0] - 120.0).abs() < 3.0 && (s.coef_w[1] - 30.0).abs() < 3.0,
            "{s:?}"
        );
        assert!((s.rmse_w - 2.0).abs() < 0.4, "{s:?}");
        assert_eq!(m.samples(), 10_000);
    }

    #[test]
    fn online_model_detects_a_step_in_idle_and_relearns() {
        for (seed, step) in [(1u64, 15.0), (2, -12.0), (3, 8.0)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut m = OnlineModel::new(&[Resource::Cpu, Resource::Memory], 0.995).unwrap();
            let mut events = vec![];
            for i in 0..4000u64 {
                let (u, p) = stream(&mut rng, if i < 2500 { 80.0 } else { 80.0 + step });
                if let Some(e) = m.update(&u, p).unwrap() {
                    events.push(e);
                }
            }
            println!("step {step}: {events:?}");
            assert_eq!(events.len(), 1, "step {step}: {events:?}");
            let e = events[0];
            assert!(e.sample >= 2500 && e.sample < 2540, "step {step}: {e:?}");
            assert!(e.onset.abs_diff(2500) <= 3, "step {step}: {e:?}");
            assert!(e.shift_w.signum() == step.signum(), "{e:?}");
            assert!(
                (e.shift_w - step).abs() < 0.4 * step.abs(),
                "step {step}: {e:?}"
            );
            let s = m.model();
            assert!((s.idle_w - (80.0 + step)).abs() < 2.0, "step {step}: {s:?}");
        }
    }

    #[test]
    fn online_model_rejects_bad_input_without_changing_state() {
        assert!(OnlineModel::new(&[Resource::Cpu], 0.0).is_err());
        assert!(OnlineModel::new(&[Resource::Cpu], 1.5).is_err());
        assert!(OnlineModel::new(&[Resource::Cpu], f64::NAN).is_err());
        let mut m = OnlineModel::new(&[Resource::Cpu], 1.0).unwrap();
        m.update(&[0.5], 100.0).unwrap();
        let before = m.model();
        assert!(m.update(&[f64::NAN], 100.0).is_err());
        assert!(m.update(&[0.5], f64::INFINITY).is_err());
        assert!(m.update(&[0.5, 0.5], 100.0).is_err());
        assert_eq!(m.model(), before);
        assert_eq!(m.samples(), 1);
    }

    #[test]
    fn online_model_warm_start() {
        let fitted = ResourceModel {
            resources: vec![Resource::Cpu],
            idle_w: 70.0,
            coef_w: vec![100.0],
            rmse_w: 1.0,
            r2: 0.99,
            samples: 1000,
            skipped: 0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut m = OnlineModel::from_model(&fitted, 0.99).unwrap();
        assert_eq!(m.model().idle_w, 70.0);
        let mut events = vec![];
        for i in 0..600u64 {
            let u: f64 = rng.random();
            let idle = if i < 50 { 70.0 } else { 78.0 };
            if let Some(e) = m.update(&[u], idle + 100.0 * u + gauss(&mut rng)).unwrap() {
                events.push(e);
            }
        }
        // Detection is active from the first update: the step at 50 is found quickly.
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].sample >= 50 && events[0].sample < 60,
            "{events:?}"
        );
        assert!((m.model().idle_w - 78.0).abs() < 1.0);
        let mut bad = fitted.clone();
        bad.coef_w[0] = -1.0;
        assert!(OnlineModel::from_model(&bad, 0.99).is_err());
    }
}
