//! The meter fallback lattice: for every interval, the best energy reading available, where it
//! came from, and how uncertain it is.
//!
//! A host's energy can be known several ways, from best to worst: the PDU outlet it is plugged
//! into, its BMC (IPMI DCMI or Redfish power readings), Intel/AMD RAPL counters (CPU package and
//! DRAM only), a power model fitted on this host, or a generic SPECpower curve. Meters fail and
//! have gaps; [`resolve`] takes, per interval, the best [`MeterSource`] that has data and
//! records its provenance and a 1-σ uncertainty.
//!
//! RAPL measures only part of the machine (no PSU losses, fans, disks, NICs, board VRs). When a
//! wall-level meter (PDU, else BMC) overlaps it in at least [`MIN_CALIBRATION_OVERLAP`]
//! intervals, [`resolve`] fits `wall = offset·dt + scale·rapl` by least squares and maps RAPL
//! readings to wall energy in the intervals where RAPL is the best source.
//!
//! The default accuracies ([`MeterSource::default_rel_sigma`]) and where they come from are
//! listed in `docs/attribution-sources.md`; several are engineering assumptions, and every one
//! can be overridden per candidate ([`Candidate::rel_sigma`]).
//!
//! ```
//! use kelvin_attribution::lattice::{Candidate, MeterSource, resolve};
//!
//! let nan = f64::NAN;
//! let pdu = Candidate::new(MeterSource::Pdu, vec![6_000.0, nan, 6_100.0]);
//! let model = Candidate::new(MeterSource::Model, vec![5_500.0, 5_900.0, 6_000.0]);
//! let r = resolve(&[model, pdu], 60.0)?;
//! assert_eq!(r.energy_j, vec![6_000.0, 5_900.0, 6_100.0]);
//! assert_eq!(r.source, vec![Some(MeterSource::Pdu), Some(MeterSource::Model), Some(MeterSource::Pdu)]);
//! assert_eq!(r.counts[&MeterSource::Pdu], 2);
//! assert!((r.sigma_j[1] - 590.0).abs() < 1e-9); // a fitted model: 10 % by default
//! # Ok::<(), kelvin_attribution::AttributionError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::AttributionError;

/// The fewest intervals in which a wall-level meter and RAPL must both have data before RAPL
/// is calibrated against it. Two parameters are fitted; eight points leave six degrees of
/// freedom for the residual, enough for a usable (if rough) error estimate.
pub const MIN_CALIBRATION_OVERLAP: usize = 8;

/// Extra relative 1-σ added in quadrature to RAPL's own when RAPL cannot be calibrated and is
/// used raw as the host's energy: 0.40.
///
/// Raw RAPL is a lower bound of wall energy: it leaves out PSU conversion losses, fans, disks,
/// NICs, accelerators idling on the bus, and the board's voltage regulators. How much that is
/// depends on the platform and is unknown without a wall meter; on typical two-socket servers
/// package + DRAM is very roughly one half to four fifths of wall power, i.e. wall ≈ 1.25–2 ×
/// RAPL. A 1-σ of 40 % of the RAPL reading spans most of that range. This figure is an
/// engineering assumption, not a measured constant; calibrate against a PDU or BMC whenever one
/// overlaps.
pub const RAPL_UNCALIBRATED_EXTRA_REL: f64 = 0.40;

/// Where an interval's energy came from, best first: PDU outlet → BMC/Redfish → RAPL
/// (package+DRAM, calibrated up to wall power) → fitted model → SPECpower curve.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MeterSource {
    /// A metered PDU outlet (wall power of the host, or of its PSUs).
    Pdu,
    /// The host's BMC: IPMI DCMI "Get Power Reading" or Redfish `PowerControl`/`PowerSubsystem`.
    Bmc,
    /// Intel/AMD RAPL energy counters, package + DRAM.
    Rapl,
    /// A power model fitted on this host's own data (e.g. [`crate::LinearPowerModel`]).
    Model,
    /// A generic SPECpower_ssj2008 load–power curve of a comparable server.
    SpecCurve,
}

impl MeterSource {
    /// Every source, best first.
    pub const ALL: [MeterSource; 5] = [
        MeterSource::Pdu,
        MeterSource::Bmc,
        MeterSource::Rapl,
        MeterSource::Model,
        MeterSource::SpecCurve,
    ];

    /// Default relative 1-σ of an interval's energy from this source. Sources are in
    /// `docs/attribution-sources.md`; in short:
    ///
    /// - `Pdu` 0.01: revenue-grade outlet metering to IEC 62053-21 class 1 (±1 % at reference
    ///   conditions; ANSI C12.20 in North America). The class limit is taken as 1-σ, which is
    ///   conservative for a maximum permissible error.
    /// - `Bmc` 0.05: engineering assumption. BMC readings come from PSU (PMBus) or board
    ///   sensors; vendors rarely state an accuracy and studies comparing them with external
    ///   meters (Diouri et al. 2013; Wang et al. 2019) find errors of a few percent with
    ///   platform-dependent offsets and lag.
    /// - `Rapl` 0.07: RAPL's own error on package + DRAM energy. Khan et al. 2018 ("RAPL in
    ///   Action", ACM TOMPECS 3(2)) find RAPL highly correlated with plug power; Hackenberg et
    ///   al. 2015 and Desrochers et al. 2016 validate package and DRAM domains on Haswell-class
    ///   parts, while older parts model rather than measure DRAM energy. The figure is an
    ///   engineering assumption covering mixed generations. As wall energy, RAPL also needs the
    ///   calibration or the [`RAPL_UNCALIBRATED_EXTRA_REL`] term (see [`resolve`]).
    /// - `Model` 0.10: engineering assumption for a utilisation model fitted on the same host;
    ///   McCullough et al. 2011 (USENIX ATC) show such models can err considerably more on
    ///   some workloads.
    /// - `SpecCurve` 0.25: engineering assumption for a published SPECpower curve of a similar
    ///   but not identical configuration (memory, disks, PSU and firmware settings differ).
    pub fn default_rel_sigma(self) -> f64 {
        match self {
            MeterSource::Pdu => 0.01,
            MeterSource::Bmc => 0.05,
            MeterSource::Rapl => 0.07,
            MeterSource::Model => 0.10,
            MeterSource::SpecCurve => 0.25,
        }
    }

    /// The snake_case name, as serialized: `pdu`, `bmc`, `rapl`, `model`, `spec_curve`.
    pub fn name(self) -> &'static str {
        match self {
            MeterSource::Pdu => "pdu",
            MeterSource::Bmc => "bmc",
            MeterSource::Rapl => "rapl",
            MeterSource::Model => "model",
            MeterSource::SpecCurve => "spec_curve",
        }
    }

    /// Whether this source measures the whole host at the wall (PDU, BMC), and so can
    /// calibrate RAPL.
    pub fn is_wall_meter(self) -> bool {
        matches!(self, MeterSource::Pdu | MeterSource::Bmc)
    }
}

impl fmt::Display for MeterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One source's energy series on the common interval grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Which source.
    pub source: MeterSource,
    /// Energy per interval, joules; NaN = missing.
    pub energy_j: Vec<f64>,
    /// Relative 1-σ overriding [`MeterSource::default_rel_sigma`] (e.g. a PDU certified to
    /// class 0.5).
    pub rel_sigma: Option<f64>,
}

impl Candidate {
    /// A candidate with the source's default accuracy.
    pub fn new(source: MeterSource, energy_j: Vec<f64>) -> Self {
        Candidate {
            source,
            energy_j,
            rel_sigma: None,
        }
    }

    /// Overrides the relative 1-σ.
    #[must_use]
    pub fn with_rel_sigma(mut self, rel_sigma: f64) -> Self {
        self.rel_sigma = Some(rel_sigma);
        self
    }

    /// The relative 1-σ in effect: the override, else the source's default.
    pub fn effective_rel_sigma(&self) -> f64 {
        self.rel_sigma
            .unwrap_or_else(|| self.source.default_rel_sigma())
    }
}

/// The RAPL-to-wall map fitted by [`resolve`]: `wall_j = offset_j_per_s · dt + scale · rapl_j`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct RaplCalibration {
    /// Power outside package + DRAM that does not follow RAPL (fans, disks, PSU fixed losses),
    /// watts; ≥ 0.
    pub offset_j_per_s: f64,
    /// Wall joules per RAPL joule (PSU efficiency and load-following platform power); ≥ 0.
    pub scale: f64,
    /// Residual standard error of the fit over the mean reference energy of the overlap.
    pub rmse_rel: f64,
    /// Intervals in which both RAPL and the reference had data.
    pub overlap: usize,
    /// Residual standard error, joules per interval: `sqrt(SSE / (overlap − fitted
    /// parameters))`.
    pub rmse_j: f64,
    /// The wall meter fitted against (PDU if it overlaps enough, else BMC).
    pub reference: MeterSource,
}

impl RaplCalibration {
    /// Wall energy for a RAPL reading over an interval of `interval_s` seconds.
    pub fn apply(&self, rapl_j: f64, interval_s: f64) -> f64 {
        self.offset_j_per_s * interval_s + self.scale * rapl_j
    }
}

/// The lattice's answer: one energy per interval, with provenance and uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// Energy per interval, joules; NaN only where no candidate has data.
    pub energy_j: Vec<f64>,
    /// The source used per interval; `None` where no candidate has data.
    pub source: Vec<Option<MeterSource>>,
    /// 1-σ absolute uncertainty per interval, joules; NaN where no candidate has data.
    pub sigma_j: Vec<f64>,
    /// Intervals taken from each source; every candidate's source appears, possibly with 0.
    pub counts: BTreeMap<MeterSource, usize>,
    /// The RAPL calibration, when a RAPL candidate overlapped a wall meter enough.
    pub rapl_calibration: Option<RaplCalibration>,
}

impl Resolved {
    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.energy_j.len()
    }

    /// Whether there are no intervals.
    pub fn is_empty(&self) -> bool {
        self.energy_j.is_empty()
    }

    /// Intervals no candidate covered.
    pub fn missing(&self) -> usize {
        self.source.iter().filter(|s| s.is_none()).count()
    }

    /// Energy of the covered intervals, joules.
    pub fn total_j(&self) -> f64 {
        self.energy_j.iter().filter(|e| !e.is_nan()).sum()
    }
}

/// Per interval, take the best source with data.
///
/// - PDU, BMC, model and SPECpower-curve values are used as given, with `sigma = rel · E`.
/// - RAPL covers only CPU package + DRAM. When a PDU (else BMC) candidate has data in at least
///   [`MIN_CALIBRATION_OVERLAP`] of the same intervals, `wall = offset·dt + scale·rapl` is fitted
///   by least squares with `offset ≥ 0`, `scale ≥ 0` (the constrained optimum of the two-variable
///   problem is the unconstrained one if feasible, else the better of the two one-variable fits
///   on the boundary). Where RAPL is the best source the map is applied, with
///   `sigma² = rmse_j² + (scale · rel_rapl · rapl)² + (rel_ref · E)²`: the fit's residual, RAPL's
///   own error propagated, and the reference's accuracy, which the map inherits. (The residual
///   already contains part of RAPL's random error, so this is conservative.)
/// - Without enough overlap RAPL is used raw (a lower bound of wall energy) with
///   `sigma = rapl · sqrt(rel_rapl² + RAPL_UNCALIBRATED_EXTRA_REL²)`, i.e. about 41 % by
///   default, because the platform power outside the package is unknown; see
///   [`RAPL_UNCALIBRATED_EXTRA_REL`].
///
/// Uncertainties are relative only (no absolute floor), so a zero reading has zero sigma
/// except for calibrated RAPL.
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) for candidates of different
/// lengths, duplicate sources, a negative or infinite energy (naming source and interval), a
/// negative or non-finite `rel_sigma` override, or `interval_s` not finite and positive.
pub fn resolve(candidates: &[Candidate], interval_s: f64) -> Result<Resolved, AttributionError> {
    if !(interval_s.is_finite() && interval_s > 0.0) {
        return Err(AttributionError::invalid(
            "lattice",
            format!("interval_s must be finite and positive, got {interval_s}"),
        ));
    }
    let n = candidates.first().map_or(0, |c| c.energy_j.len());
    let mut by_source: [Option<&Candidate>; 5] = [None; 5];
    for c in candidates {
        let name = c.source.name();
        if c.energy_j.len() != n {
            return Err(AttributionError::invalid(
                format!("lattice {name}"),
                format!(
                    "has {} intervals, the first candidate ({}) has {n}",
                    c.energy_j.len(),
                    candidates[0].source
                ),
            ));
        }
        let slot = &mut by_source[c.source as usize];
        if slot.is_some() {
            return Err(AttributionError::invalid(
                format!("lattice {name}"),
                "duplicate source",
            ));
        }
        *slot = Some(c);
        if let Some(s) = c.rel_sigma
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(AttributionError::invalid(
                format!("lattice {name}"),
                format!("rel_sigma must be finite and non-negative, got {s}"),
            ));
        }
        if let Some((i, e)) = c
            .energy_j
            .iter()
            .enumerate()
            .find(|(_, e)| e.is_infinite() || **e < 0.0)
        {
            return Err(AttributionError::invalid(
                format!("lattice {name}, interval {i}"),
                format!("energy {e} J is negative or infinite"),
            ));
        }
    }

    let rapl = by_source[MeterSource::Rapl as usize];
    let calibration = rapl.and_then(|r| {
        [MeterSource::Pdu, MeterSource::Bmc]
            .into_iter()
            .filter_map(|s| by_source[s as usize])
            .find_map(|reference| calibrate(r, reference, interval_s))
    });
    let reference_rel = calibration
        .and_then(|c| by_source[c.reference as usize])
        .map_or(0.0, Candidate::effective_rel_sigma);

    let mut out = Resolved {
        energy_j: Vec::with_capacity(n),
        source: Vec::with_capacity(n),
        sigma_j: Vec::with_capacity(n),
        counts: candidates.iter().map(|c| (c.source, 0)).collect(),
        rapl_calibration: calibration,
    };
    let ordered: Vec<&Candidate> = by_source.iter().flatten().copied().collect();
    for i in 0..n {
        let best = ordered
            .iter()
            .find_map(|c| (!c.energy_j[i].is_nan()).then_some((*c, c.energy_j[i])));
        let Some((c, v)) = best else {
            out.energy_j.push(f64::NAN);
            out.source.push(None);
            out.sigma_j.push(f64::NAN);
            continue;
        };
        let rel = c.effective_rel_sigma();
        let (e, sigma) = match (c.source, &calibration) {
            (MeterSource::Rapl, Some(cal)) => {
                let e = cal.apply(v, interval_s);
                let own = cal.scale * rel * v;
                let reference = reference_rel * e;
                (
                    e,
                    (cal.rmse_j * cal.rmse_j + own * own + reference * reference).sqrt(),
                )
            }
            (MeterSource::Rapl, None) => (v, v * rel.hypot(RAPL_UNCALIBRATED_EXTRA_REL)),
            _ => (v, v * rel),
        };
        out.energy_j.push(e);
        out.source.push(Some(c.source));
        out.sigma_j.push(sigma);
        *out.counts.entry(c.source).or_insert(0) += 1;
    }
    Ok(out)
}

/// Fits `wall = c + b·rapl` (c = offset·dt) with c, b ≥ 0 over the intervals where both have
/// data; `None` with fewer than [`MIN_CALIBRATION_OVERLAP`] of them.
fn calibrate(rapl: &Candidate, wall: &Candidate, interval_s: f64) -> Option<RaplCalibration> {
    let pairs: Vec<(f64, f64)> = rapl
        .energy_j
        .iter()
        .zip(&wall.energy_j)
        .filter(|(x, y)| !x.is_nan() && !y.is_nan())
        .map(|(&x, &y)| (x, y))
        .collect();
    let m = pairs.len();
    if m < MIN_CALIBRATION_OVERLAP {
        return None;
    }
    let mf = m as f64;
    let x_mean = pairs.iter().map(|p| p.0).sum::<f64>() / mf;
    let y_mean = pairs.iter().map(|p| p.1).sum::<f64>() / mf;
    let (mut sxx, mut sxy, mut xx, mut xy) = (0.0, 0.0, 0.0, 0.0);
    for &(x, y) in &pairs {
        let (dx, dy) = (x - x_mean, y - y_mean);
        sxx += dx * dx;
        sxy += dx * dy;
        xx += x * x;
        xy += x * y;
    }
    let sse = |c: f64, b: f64| -> f64 {
        pairs
            .iter()
            .map(|&(x, y)| {
                let r = y - c - b * x;
                r * r
            })
            .sum()
    };
    // (intercept, scale, free parameters)
    let interior = (sxx > 0.0)
        .then(|| {
            let b = sxy / sxx;
            (y_mean - b * x_mean, b)
        })
        .filter(|&(c, b)| c >= 0.0 && b >= 0.0 && c.is_finite() && b.is_finite());
    let (c, b, params) = match interior {
        Some((c, b)) => (c, b, 2),
        None => {
            // Boundary fits: through the origin (c = 0), or constant (b = 0).
            let b0 = if xx > 0.0 { (xy / xx).max(0.0) } else { 0.0 };
            let c0 = y_mean.max(0.0);
            if sse(0.0, b0) <= sse(c0, 0.0) {
                (0.0, b0, 1)
            } else {
                (c0, 0.0, 1)
            }
        }
    };
    let dof = m.saturating_sub(params).max(1) as f64;
    let rmse_j = (sse(c, b) / dof).sqrt();
    Some(RaplCalibration {
        offset_j_per_s: c / interval_s,
        scale: b,
        rmse_rel: if y_mean > 0.0 { rmse_j / y_mean } else { 0.0 },
        overlap: m,
        rmse_j,
        reference: wall.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttributionErrorKind;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const NAN: f64 = f64::NAN;

    #[test]
    fn precedence_and_counts() {
        let cands = [
            Candidate::new(MeterSource::SpecCurve, vec![4.0, 4.0, 4.0, 4.0, NAN]),
            Candidate::new(MeterSource::Bmc, vec![2.0, 2.0, NAN, NAN, NAN]),
            Candidate::new(MeterSource::Pdu, vec![1.0, NAN, NAN, NAN, NAN]),
            Candidate::new(MeterSource::Model, vec![3.0, 3.0, 3.0, NAN, NAN]),
        ];
        let r = resolve(&cands, 15.0).unwrap();
        assert_eq!(&r.energy_j[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert!(r.energy_j[4].is_nan() && r.sigma_j[4].is_nan());
        use MeterSource::*;
        assert_eq!(
            r.source,
            vec![Some(Pdu), Some(Bmc), Some(Model), Some(SpecCurve), None]
        );
        let counts: Vec<_> = r.counts.iter().map(|(s, n)| (*s, *n)).collect();
        assert_eq!(counts, vec![(Pdu, 1), (Bmc, 1), (Model, 1), (SpecCurve, 1)]);
        assert_eq!(r.missing(), 1);
        assert_eq!(r.total_j(), 10.0);
        assert_eq!(r.rapl_calibration, None);
        // a source that is never best still appears, with 0
        let r = resolve(
            &[
                Candidate::new(Pdu, vec![1.0]),
                Candidate::new(Model, vec![2.0]),
            ],
            1.0,
        )
        .unwrap();
        assert_eq!(r.counts[&Model], 0);
    }

    #[test]
    fn sigma_ordering() {
        for w in MeterSource::ALL.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].default_rel_sigma() < w[1].default_rel_sigma());
        }
        // the same energy from each source alone: uncertainty grows down the lattice...
        let alone = |s| {
            resolve(&[Candidate::new(s, vec![1_000.0])], 60.0)
                .unwrap()
                .sigma_j[0]
        };
        let sigmas: Vec<f64> = [
            MeterSource::Pdu,
            MeterSource::Bmc,
            MeterSource::Model,
            MeterSource::SpecCurve,
        ]
        .into_iter()
        .map(alone)
        .collect();
        assert_eq!(sigmas, vec![10.0, 50.0, 100.0, 250.0]);
        // ...except raw, uncalibrated RAPL, which is the least certain of all (a lower bound of
        // wall energy) although it ranks above the models
        let raw = alone(MeterSource::Rapl);
        assert!((raw - 1_000.0 * 0.07f64.hypot(0.40)).abs() < 1e-9);
        assert!(raw > sigmas[3]);
        // override
        let r = resolve(
            &[Candidate::new(MeterSource::Pdu, vec![1_000.0]).with_rel_sigma(0.005)],
            60.0,
        )
        .unwrap();
        assert!((r.sigma_j[0] - 5.0).abs() < 1e-12);
        assert_eq!(MeterSource::SpecCurve.to_string(), "spec_curve");
    }

    #[test]
    fn rapl_calibration_recovers_offset_and_scale() {
        let dt = 60.0;
        let n = 300;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let rapl: Vec<f64> = (0..n)
            .map(|_| rng.random_range(3_000.0..12_000.0))
            .collect();
        let truth: Vec<f64> = rapl.iter().map(|r| 80.0 * dt + 1.15 * r).collect();
        let pdu: Vec<f64> = truth
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i % 10 == 3 {
                    NAN // PDU gap
                } else {
                    t + rng.random_range(-60.0..60.0)
                }
            })
            .collect();
        let r = resolve(
            &[
                Candidate::new(MeterSource::Rapl, rapl.clone()),
                Candidate::new(MeterSource::Pdu, pdu),
            ],
            dt,
        )
        .unwrap();
        let cal = r.rapl_calibration.unwrap();
        assert_eq!(cal.reference, MeterSource::Pdu);
        assert_eq!(cal.overlap, 270);
        assert!((cal.offset_j_per_s - 80.0).abs() < 1.0, "{cal:?}");
        assert!((cal.scale - 1.15).abs() < 0.005, "{cal:?}");
        // uniform ±60 J noise has σ ≈ 34.6 J
        assert!((cal.rmse_j - 34.6).abs() < 5.0, "{cal:?}");
        assert!(cal.rmse_rel < 0.01);
        assert_eq!(r.counts[&MeterSource::Rapl], 30);
        assert_eq!(r.counts[&MeterSource::Pdu], 270);
        for i in (3..n).step_by(10) {
            assert_eq!(r.source[i], Some(MeterSource::Rapl));
            assert!((r.energy_j[i] - truth[i]).abs() < 30.0, "interval {i}");
            // sigma: fit residual, RAPL's own 7 %, and the PDU's 1 %
            let own = cal.scale * 0.07 * rapl[i];
            let reference = 0.01 * r.energy_j[i];
            let expected = (cal.rmse_j.powi(2) + own * own + reference * reference).sqrt();
            assert!((r.sigma_j[i] - expected).abs() < 1e-9);
            assert!(r.sigma_j[i] > r.energy_j[i] * 0.01);
        }
        assert_eq!(r.source[0], Some(MeterSource::Pdu));
    }

    #[test]
    fn rapl_falls_back_to_bmc_reference_and_needs_overlap() {
        let rapl: Vec<f64> = (0..20).map(|i| 100.0 + 10.0 * i as f64).collect();
        let wall: Vec<f64> = rapl.iter().map(|r| 50.0 + 2.0 * r).collect();
        // PDU overlaps in only 7 intervals; BMC in 12.
        let pdu: Vec<f64> = (0..20).map(|i| if i < 7 { wall[i] } else { NAN }).collect();
        let bmc: Vec<f64> = (0..20)
            .map(|i| if (7..19).contains(&i) { wall[i] } else { NAN })
            .collect();
        let r = resolve(
            &[
                Candidate::new(MeterSource::Pdu, pdu.clone()),
                Candidate::new(MeterSource::Bmc, bmc),
                Candidate::new(MeterSource::Rapl, rapl.clone()),
            ],
            10.0,
        )
        .unwrap();
        let cal = r.rapl_calibration.unwrap();
        assert_eq!(cal.reference, MeterSource::Bmc);
        assert_eq!(cal.overlap, 12);
        assert!((cal.offset_j_per_s - 5.0).abs() < 1e-9 && (cal.scale - 2.0).abs() < 1e-12);
        assert_eq!(r.source[19], Some(MeterSource::Rapl));
        assert!((r.energy_j[19] - wall[19]).abs() < 1e-9);
        // exact fit: sigma is RAPL's own (scaled) and the BMC's
        let expected = (2.0 * 0.07 * rapl[19]).hypot(0.05 * wall[19]);
        assert!((r.sigma_j[19] - expected).abs() < 1e-9);

        // 7 overlapping intervals only: raw RAPL
        let r = resolve(
            &[
                Candidate::new(MeterSource::Pdu, pdu),
                Candidate::new(MeterSource::Rapl, rapl.clone()),
            ],
            10.0,
        )
        .unwrap();
        assert_eq!(r.rapl_calibration, None);
        assert_eq!(r.energy_j[10], rapl[10]);
        assert!(
            (r.sigma_j[10] - rapl[10] * 0.07f64.hypot(RAPL_UNCALIBRATED_EXTRA_REL)).abs() < 1e-9
        );
    }

    #[test]
    fn calibration_respects_non_negativity() {
        // wall = 1.5·rapl − 100: the unconstrained intercept is negative
        let rapl: Vec<f64> = (0..10).map(|i| 200.0 + 50.0 * i as f64).collect();
        let wall: Vec<f64> = rapl.iter().map(|r| 1.5 * r - 100.0).collect();
        let r = resolve(
            &[
                Candidate::new(MeterSource::Pdu, wall),
                Candidate::new(MeterSource::Rapl, rapl),
            ],
            1.0,
        )
        .unwrap();
        let cal = r.rapl_calibration.unwrap();
        assert_eq!(cal.offset_j_per_s, 0.0);
        assert!(cal.scale > 1.0 && cal.scale < 1.5, "{cal:?}");
        assert!(cal.rmse_j > 0.0);

        // wall falls as RAPL rises: scale clamps to 0, offset is the mean
        let rapl: Vec<f64> = (0..10).map(|i| 100.0 + i as f64).collect();
        let wall: Vec<f64> = (0..10).map(|i| 500.0 - i as f64).collect();
        let r = resolve(
            &[
                Candidate::new(MeterSource::Pdu, wall),
                Candidate::new(MeterSource::Rapl, rapl),
            ],
            2.0,
        )
        .unwrap();
        let cal = r.rapl_calibration.unwrap();
        assert_eq!(cal.scale, 0.0);
        assert!((cal.offset_j_per_s - 495.5 / 2.0).abs() < 1e-9);

        // constant RAPL (collinear with the offset): still a finite, feasible map
        let r = resolve(
            &[
                Candidate::new(MeterSource::Pdu, vec![300.0; 9]),
                Candidate::new(MeterSource::Rapl, vec![100.0; 9]),
            ],
            1.0,
        )
        .unwrap();
        let cal = r.rapl_calibration.unwrap();
        assert!((cal.apply(100.0, 1.0) - 300.0).abs() < 1e-9);
    }

    #[test]
    fn bad_inputs() {
        let kind = |r: Result<Resolved, AttributionError>| r.unwrap_err();
        let e = kind(resolve(
            &[
                Candidate::new(MeterSource::Pdu, vec![1.0, 2.0]),
                Candidate::new(MeterSource::Bmc, vec![1.0]),
            ],
            1.0,
        ));
        assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
        assert_eq!(e.place(), "lattice bmc");
        let e = kind(resolve(
            &[
                Candidate::new(MeterSource::Bmc, vec![1.0]),
                Candidate::new(MeterSource::Bmc, vec![1.0]),
            ],
            1.0,
        ));
        assert!(e.reason().contains("duplicate"));
        let e = kind(resolve(
            &[Candidate::new(MeterSource::Rapl, vec![1.0, NAN, -1.0])],
            1.0,
        ));
        assert_eq!(e.place(), "lattice rapl, interval 2");
        let e = kind(resolve(
            &[Candidate::new(MeterSource::Model, vec![f64::INFINITY])],
            1.0,
        ));
        assert_eq!(e.place(), "lattice model, interval 0");
        for dt in [0.0, -1.0, NAN, f64::INFINITY] {
            assert!(resolve(&[Candidate::new(MeterSource::Pdu, vec![1.0])], dt).is_err());
        }
        assert!(
            resolve(
                &[Candidate::new(MeterSource::Pdu, vec![1.0]).with_rel_sigma(-0.1)],
                1.0
            )
            .is_err()
        );
        let empty = resolve(&[], 1.0).unwrap();
        assert!(empty.is_empty() && empty.counts.is_empty());
    }

    proptest! {
        #[test]
        fn provenance_is_consistent(
            rows in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![3 => 0.0f64..1e4, 2 => Just(NAN)], 5),
                0..40,
            ),
            present in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let n = rows.len();
            let cands: Vec<Candidate> = MeterSource::ALL
                .iter()
                .enumerate()
                .filter(|(k, _)| present[*k])
                .map(|(k, &s)| Candidate::new(s, rows.iter().map(|r| r[k]).collect()))
                .collect();
            let r = resolve(&cands, 60.0).unwrap();
            let n = if cands.is_empty() { 0 } else { n };
            prop_assert_eq!(r.len(), n);
            prop_assert_eq!(r.counts.values().sum::<usize>() + r.missing(), n);
            for i in 0..n {
                let best = cands.iter().find(|c| !c.energy_j[i].is_nan());
                prop_assert_eq!(r.source[i], best.map(|c| c.source));
                prop_assert_eq!(r.energy_j[i].is_nan(), best.is_none());
                if let Some(b) = best {
                    prop_assert!(r.sigma_j[i] >= 0.0 && r.energy_j[i] >= 0.0);
                    if b.source != MeterSource::Rapl {
                        prop_assert_eq!(r.energy_j[i], b.energy_j[i]);
                    }
                }
            }
        }
    }
}
