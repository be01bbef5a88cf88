//! Attribution policies: the keys by which [`settle`](super::settle) splits a meter's energy in
//! each interval. [`AttributionPolicy`] is the extension point an embedder implements; Kelvin's
//! own policies ([`Policy`]) implement it too, and [`IntervalView`] offers the keys they use
//! (usage, model, reservation, presence) to any policy.

use std::fmt;
use std::sync::Arc;

use kelvin_model::EntityId;
use serde::Serialize;

use super::types::Consumer;

/// A property of a split (an axiom of cost sharing) that a policy may claim. The property
/// tests (`tests/it/ledger.rs`) check every policy against the axioms it claims and search for
/// counterexamples to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Axiom {
    /// Efficiency: workload lines and named accounts sum to the measured energy exactly, in
    /// every interval. [`settle`](super::settle) guarantees it whatever the key (a part no key
    /// can split goes to a named account), so every policy may claim it.
    Conservation,
    /// Two workloads with equal usage and reservation pay the same (± rounding).
    Symmetry,
    /// A workload that reserves nothing and uses nothing pays nothing.
    NullPlayer,
    /// A workload run as several processes, its usage and reservation divided among them,
    /// pays the same total (± rounding).
    SplitInvariance,
}

impl Axiom {
    /// Every axiom, in the order of the property table of docs/attribution.md.
    pub const ALL: [Axiom; 4] = [
        Axiom::Conservation,
        Axiom::Symmetry,
        Axiom::NullPlayer,
        Axiom::SplitInvariance,
    ];

    /// `conservation`, `symmetry`, `null_player`, `split_invariance`.
    pub fn name(self) -> &'static str {
        match self {
            Axiom::Conservation => "conservation",
            Axiom::Symmetry => "symmetry",
            Axiom::NullPlayer => "null_player",
            Axiom::SplitInvariance => "split_invariance",
        }
    }
}

/// What a policy does with the idle floor `F = min(E, idle_w · dt)` of an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Floor {
    /// A fixed cost split on its own key ([`AttributionPolicy::static_key`]); the dynamic key
    /// splits `E − F`, and with no activity it goes to the `unexplained` account.
    Separate,
    /// Absorbed: the dynamic key splits the whole measured energy `E`, and an interval without
    /// activity goes to the `idle` account. No floor is calibrated for such a policy.
    Absorbed,
}

/// An attribution policy: how a meter's measured energy is split among its consumers in each
/// interval, and which properties ([`Axiom`]s) the split claims.
///
/// [`settle`](super::settle) calls the policy once per meter and interval with an
/// [`IntervalView`] and a slice of weights, then splits the energy in proportion to them with
/// the largest-remainder method, so whatever the keys, every microjoule lands on a workload
/// line or a named account. Two parts are keyed:
///
/// - the *dynamic* part (`E − F`, or `E` when the floor is [`Floor::Absorbed`]):
///   [`dynamic_key`](Self::dynamic_key) writes one weight per consumer and, last, the weight of
///   the `system` account (activity outside any workload);
/// - the *static* part (the floor `F`): [`static_key`](Self::static_key) writes one weight per
///   consumer and, last, the weight of the `idle` account.
///
/// The weights arrive zeroed. Weights that are all zero leave the part unsplit: it goes to
/// `unexplained` (dynamic) or `idle` (static, or dynamic under [`Floor::Absorbed`]); so does a
/// part whose weights include a negative or non-finite one. Several consumers of one workload
/// are summed into its line.
///
/// Implement it outside Kelvin and pass it to
/// [`LedgerOptions::with_policy`](super::LedgerOptions::with_policy):
///
/// ```
/// use kelvin_attribution::ledger::{Axiom, AttributionPolicy, IntervalView};
///
/// /// Dynamic energy by CPU use; the floor split equally among the consumers present.
/// #[derive(Debug)]
/// struct EqualFloor;
///
/// impl AttributionPolicy for EqualFloor {
///     fn name(&self) -> &str {
///         "equal_floor"
///     }
///     fn claims(&self) -> &[Axiom] {
///         // Not the null player: a present but idle consumer pays a floor share.
///         &[Axiom::Conservation, Axiom::Symmetry]
///     }
///     fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
///         iv.usage_key(weights);
///     }
///     fn static_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
///         iv.presence_key(weights);
///     }
/// }
/// # let _ = kelvin_attribution::LedgerOptions::default().with_policy(EqualFloor);
/// ```
pub trait AttributionPolicy: fmt::Debug + Send + Sync {
    /// The policy's name in reports, JSON and CSV (snake case, e.g. `two_part_tariff`).
    fn name(&self) -> &str;

    /// One line on what the policy bills, for report headings; default empty.
    fn description(&self) -> &str {
        ""
    }

    /// The axioms the policy claims; default [`Axiom::Conservation`] only, which
    /// [`settle`](super::settle) guarantees.
    fn claims(&self) -> &[Axiom] {
        &[Axiom::Conservation]
    }

    /// What happens to the idle floor; default [`Floor::Separate`].
    fn floor(&self) -> Floor {
        Floor::Separate
    }

    /// Writes the dynamic part's weights: `weights[k]` for consumer `k`, then
    /// `weights[consumers]` for the `system` account.
    fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]);

    /// Writes the static part's weights: `weights[k]` for consumer `k`, then
    /// `weights[consumers]` for the `idle` account. Default [`IntervalView::idle_key`]: the
    /// whole floor to `idle`. Not called under [`Floor::Absorbed`].
    fn static_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        iv.idle_key(weights);
    }

    /// Whether [`static_key`](Self::static_key) is the same in every interval of a meter (it
    /// reads only reservations, as the tariff's does): [`settle`](super::settle) then asks for
    /// it once per meter and reuses its split while the floor stays the same. Default false.
    fn static_key_is_fixed(&self) -> bool {
        false
    }
}

impl<P: AttributionPolicy + ?Sized> AttributionPolicy for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn description(&self) -> &str {
        (**self).description()
    }
    fn claims(&self) -> &[Axiom] {
        (**self).claims()
    }
    fn floor(&self) -> Floor {
        (**self).floor()
    }
    fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        (**self).dynamic_key(iv, weights);
    }
    fn static_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        (**self).static_key(iv, weights);
    }
    fn static_key_is_fixed(&self) -> bool {
        (**self).static_key_is_fixed()
    }
}

/// One meter in one measured interval, as a policy sees it when it writes its keys: the
/// consumers' usage and reservations, the meter's resources priced by their curves, and the
/// amounts being split. The `*_key` methods are the keys of Kelvin's policies, ready for any
/// policy to use.
#[derive(Debug, Clone, Copy)]
pub struct IntervalView<'a> {
    pub(super) meter: &'a EntityId,
    pub(super) index: usize,
    pub(super) seconds: f64,
    pub(super) energy_uj: u64,
    pub(super) floor_uj: u64,
    pub(super) consumers: &'a [Consumer],
    /// Usage columns, resource-major: `cols[r * consumers + k]`.
    pub(super) cols: &'a [&'a [f64]],
    /// Signature multipliers, resource-major like `cols`.
    pub(super) sigs: &'a [f64],
    pub(super) util: &'a [f64],
    pub(super) price: &'a [f64],
    pub(super) system: Option<&'a [Vec<f64>]>,
    /// Σ reservations of the meter's consumers.
    pub(super) reserved: f64,
}

impl IntervalView<'_> {
    /// The meter being settled.
    pub fn meter(&self) -> &EntityId {
        self.meter
    }

    /// The interval's index on the window's grid.
    pub fn interval(&self) -> usize {
        self.index
    }

    /// Interval length, seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Measured energy of the interval, µJ.
    pub fn energy_uj(&self) -> u64 {
        self.energy_uj
    }

    /// The idle floor of the interval, µJ (`≤ energy_uj`).
    pub fn floor_uj(&self) -> u64 {
        self.floor_uj
    }

    /// Number of consumers (the key slices hold one more slot, for the account).
    pub fn consumers(&self) -> usize {
        self.consumers.len()
    }

    /// Number of resources the meter's usage is given in.
    pub fn resources(&self) -> usize {
        self.util.len()
    }

    /// The workload (index into [`LedgerInput::workloads`](super::LedgerInput::workloads))
    /// consumer `k` belongs to.
    pub fn workload(&self, k: usize) -> usize {
        self.consumers[k].workload
    }

    /// Consumer `k`'s reservation, `[0, 1]`.
    pub fn reservation(&self, k: usize) -> f64 {
        self.consumers[k].reservation
    }

    /// Consumer `k`'s use of resource `r` in this interval (resource units × seconds); NaN
    /// where unknown.
    pub fn usage(&self, k: usize, r: usize) -> f64 {
        self.cols[r * self.consumers.len() + k][self.index]
    }

    /// Whether consumer `k` is present in the interval (some usage is known).
    pub fn present(&self, k: usize) -> bool {
        self.consumers[k]
            .usage
            .iter()
            .any(|u| !u[self.index].is_nan())
    }

    /// Use of resource `r` by activity outside any workload; NaN where unknown, 0 when the
    /// meter reports none.
    pub fn system_usage(&self, r: usize) -> f64 {
        self.system.map_or(0.0, |s| s[r][self.index])
    }

    /// Consumer `k`'s calibrated multiplier of resource `r`'s curve (1 without a signature).
    pub fn signature(&self, k: usize, r: usize) -> f64 {
        self.sigs[r * self.consumers.len() + k]
    }

    /// Utilization of resource `r` (all known usage, system included, over capacity × seconds).
    pub fn utilization(&self, r: usize) -> f64 {
        self.util[r]
    }

    /// The Aumann–Shapley price of one unit of resource `r`'s usage in this interval: the
    /// curve's `(f(X) − f(0)) / X` at the interval's utilization, over capacity × seconds.
    pub fn unit_price(&self, r: usize) -> f64 {
        self.price[r]
    }

    /// The usage key: each consumer's use of the first resource (unknown as 0), then the
    /// system's. The key of [`Policy::CpuShare`], [`Policy::KeplerLike`] and
    /// [`Policy::ScaphandreLike`].
    pub fn usage_key(&self, weights: &mut [f64]) {
        let nc = self.consumers.len();
        for (w, col) in weights.iter_mut().zip(&self.cols[..nc]) {
            let u = col[self.index];
            *w = if u.is_nan() { 0.0 } else { u };
        }
        weights[nc] = match self.system {
            None => 0.0,
            Some(s) => {
                let u = s[0][self.index];
                if u.is_nan() { 0.0 } else { u }
            }
        };
    }

    /// The model key: each consumer's Aumann–Shapley value on the meter's separable curve,
    /// `Σ_r s_kr · u_kr · price_r`, then the system's. The dynamic key of
    /// [`Policy::TwoPartTariff`] and [`Policy::FullAbsorption`].
    pub fn model_key(&self, weights: &mut [f64]) {
        let nc = self.consumers.len();
        let i = self.index;
        weights[..nc].iter_mut().for_each(|w| *w = 0.0);
        for (r, &p) in self.price.iter().enumerate() {
            let col_r = &self.cols[r * nc..(r + 1) * nc];
            let sig_r = &self.sigs[r * nc..(r + 1) * nc];
            for k in 0..nc {
                let u = col_r[k][i];
                if !u.is_nan() {
                    weights[k] += u * p * sig_r[k];
                }
            }
        }
        weights[nc] = match self.system {
            None => 0.0,
            Some(s) => (0..self.price.len())
                .map(|r| {
                    let u = s[r][i];
                    if u.is_nan() { 0.0 } else { u * self.price[r] }
                })
                .sum(),
        };
    }

    /// The reservation key: each consumer's reservation, then what nobody reserved
    /// (`1 − Σ reservations`, at least 0) for the `idle` account. The static key of
    /// [`Policy::TwoPartTariff`] and both keys of [`Policy::Allocation`] (whose dynamic part
    /// gives the unreserved share to `system`, the slot a dynamic key ends with).
    pub fn reservation_key(&self, weights: &mut [f64]) {
        let nc = self.consumers.len();
        for (w, c) in weights.iter_mut().zip(self.consumers) {
            *w = c.reservation;
        }
        weights[nc] = (1.0 - self.reserved).max(0.0);
    }

    /// The presence key: 1 for every consumer present in the interval, busy or not, and 0
    /// for the `idle` account. The static key of [`Policy::KeplerLike`].
    pub fn presence_key(&self, weights: &mut [f64]) {
        let nc = self.consumers.len();
        for (k, w) in weights[..nc].iter_mut().enumerate() {
            *w = if self.present(k) { 1.0 } else { 0.0 };
        }
        weights[nc] = 0.0;
    }

    /// Everything to the account (the last slot), nothing to consumers.
    pub fn idle_key(&self, weights: &mut [f64]) {
        let nc = self.consumers.len();
        weights[..nc].iter_mut().for_each(|w| *w = 0.0);
        weights[nc] = 1.0;
    }
}

/// Kelvin's built-in policies, each an [`AttributionPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Policy {
    /// Kelvin's default, a two-part tariff. The idle floor is a fixed cost split by
    /// reservation share (the unreserved rest stays in the `idle` account); the dynamic part
    /// is split by the model key (Aumann–Shapley on the meter's curve). Conserving,
    /// non-negative, symmetric, null-player and split invariant.
    #[default]
    TwoPartTariff,
    /// Full absorption: the whole measured energy, idle floor included, is split by the model
    /// key; intervals without activity go to `idle`. Same properties as the tariff, but a
    /// workload's bill depends on how busy its neighbours are.
    FullAbsorption,
    /// Full absorption keyed on raw usage of the first resource (CPU seconds): Kelvin 0.1's
    /// policy, kept for comparison.
    CpuShare,
    /// Reproduces legacy Kepler (≤ 0.7): dynamic energy by raw usage ratio, idle energy split
    /// equally among the processes present in the interval, busy or not. Violates the null
    /// player property and split invariance (a workload run as k processes pays k idle shares).
    KeplerLike,
    /// Reproduces Scaphandre ≥ 1.0 (and Kepler ≥ 0.10): dynamic energy by raw usage share of
    /// all activity; idle energy is attributed to nobody (`idle` account).
    ScaphandreLike,
    /// By allocation, as a batch scheduler bills: the idle floor and the energy above it are
    /// both split by reservation share (a Slurm job's allocated cores over the node's), the
    /// floor nobody reserved to `idle` and the energy above it to `system`. For sites whose
    /// jobs carry no usage signal: jobs that hold the whole node are billed all of it.
    /// Conserving, non-negative, symmetric, null-player and split invariant.
    Allocation,
}

impl Policy {
    /// Every policy, in declaration order.
    pub const ALL: [Policy; 6] = [
        Policy::TwoPartTariff,
        Policy::FullAbsorption,
        Policy::CpuShare,
        Policy::KeplerLike,
        Policy::ScaphandreLike,
        Policy::Allocation,
    ];

    /// The name used in reports and CSV (`two_part_tariff`, `kepler_like`, …).
    pub fn name(self) -> &'static str {
        match self {
            Policy::TwoPartTariff => "two_part_tariff",
            Policy::FullAbsorption => "full_absorption",
            Policy::CpuShare => "cpu_share",
            Policy::KeplerLike => "kepler_like",
            Policy::ScaphandreLike => "scaphandre_like",
            Policy::Allocation => "allocation",
        }
    }

    /// The built-in policy of that name.
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The axioms of the policies that hold them all.
const ALL_AXIOMS: &[Axiom] = &Axiom::ALL;

impl AttributionPolicy for Policy {
    fn name(&self) -> &str {
        Policy::name(*self)
    }

    fn description(&self) -> &str {
        match self {
            Policy::TwoPartTariff => {
                "idle floor by reservation, the unreserved rest to the idle account; energy above it by use"
            }
            Policy::FullAbsorption => "all measured energy by use, priced on the power curve",
            Policy::CpuShare => "all measured energy by CPU-time share",
            Policy::KeplerLike => {
                "idle floor equally per process present; energy above it by usage ratio"
            }
            Policy::ScaphandreLike => {
                "idle floor to the idle account; energy above it by usage share"
            }
            Policy::Allocation => {
                "all measured energy by reservation share; the unreserved rest to idle and system"
            }
        }
    }

    fn claims(&self) -> &[Axiom] {
        match self {
            Policy::KeplerLike => &[Axiom::Conservation, Axiom::Symmetry],
            _ => ALL_AXIOMS,
        }
    }

    fn floor(&self) -> Floor {
        match self {
            Policy::FullAbsorption | Policy::CpuShare => Floor::Absorbed,
            _ => Floor::Separate,
        }
    }

    fn dynamic_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        match self {
            Policy::CpuShare | Policy::KeplerLike | Policy::ScaphandreLike => {
                iv.usage_key(weights);
            }
            Policy::TwoPartTariff | Policy::FullAbsorption => iv.model_key(weights),
            // The unreserved share's slot is the `system` account's here.
            Policy::Allocation => iv.reservation_key(weights),
        }
    }

    fn static_key(&self, iv: &IntervalView<'_>, weights: &mut [f64]) {
        match self {
            Policy::TwoPartTariff | Policy::Allocation => iv.reservation_key(weights),
            Policy::KeplerLike => iv.presence_key(weights),
            _ => iv.idle_key(weights),
        }
    }

    fn static_key_is_fixed(&self) -> bool {
        !matches!(self, Policy::KeplerLike)
    }
}
