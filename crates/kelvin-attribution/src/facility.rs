//! Facility overhead, carbon and cost per account.
//!
//! The ledger bills IT energy: what the servers' meters saw. A data centre also spends energy
//! on cooling, power distribution and UPS losses. This module puts that overhead on the same
//! accounts, in proportion to their IT energy, interval by interval, and prices the result in
//! grams of CO₂-equivalent and money:
//!
//! - **Overhead.** Measured overhead power ([`FacilityInputs::overhead_w`], e.g. the cooling
//!   and UPS-loss share of this IT group from the building management system) is used where it
//!   is defined; elsewhere `IT × (PUE − 1)` with the time-weighted PUE of the interval. PUE is
//!   defined by ISO/IEC 30134-2 (and The Green Grid's White Paper 49) as total facility energy
//!   over IT equipment energy, so `PUE − 1` is overhead per unit of IT energy. Each interval's
//!   overhead is rounded to whole microjoules and split with
//!   [`largest_remainder`](crate::largest_remainder), so the accounts' overhead sums to the
//!   interval's overhead exactly. An account with no IT energy in an interval gets no overhead
//!   in it; measured overhead of an interval with no IT energy at all is kept in
//!   [`FacilityBill::unassigned_overhead_uj`] rather than dropped.
//! - **Carbon and cost.** Each account's `(IT + overhead)` energy of an interval, in kWh, times
//!   the time-weighted mean grid intensity (gCO₂e/kWh) or price per kWh of that interval. The
//!   energy inside an interval is assumed to be spread evenly over it.
//!
//! A series that does not cover part of an interval (it starts later) contributes nothing for
//! that part, and the interval is counted in `intervals_without_overhead`, `…_carbon` or
//! `…_price`: the bill never invents a figure, and says how much it could not price.
//!
//! For a total over a whole window rather than a bill per interval, [`measured_pue`] weighs a
//! facility meter's PUE by energy, and [`overhead_at_pue`] and [`carbon_at_pue`] apply one
//! flat PUE and grid intensity.
//!
//! ```
//! use kelvin_attribution::facility::{FacilityInputs, StepSeries, apportion};
//! use kelvin_model::Timestamp;
//! use ndarray::array;
//!
//! const KWH: u64 = 3_600_000_000_000; // µJ
//! let inputs = FacilityInputs::default()
//!     .with_pue(StepSeries::constant(1.5))
//!     .with_carbon_g_per_kwh(StepSeries::constant(400.0))
//!     .with_price_per_kwh(StepSeries::try_new(vec![
//!         (Timestamp::from_secs(0), 0.10),
//!         (Timestamp::from_secs(5_400), 0.30), // price step half-way through hour 2
//!     ])?)
//!     .with_currency("EUR");
//! // two hours, two accounts: 2 and 1 kWh of IT energy, then 1 and 1
//! let it = array![[2 * KWH, KWH], [KWH, KWH]];
//! let bill = apportion(Timestamp::from_secs(0), 3_600_000_000_000, it.view(), &inputs)?;
//! assert_eq!(bill.accounts[0].overhead_uj, KWH + KWH / 2);
//! assert_eq!(bill.overhead_uj, 5 * KWH / 2);
//! assert!((bill.accounts[0].co2e_g - 1_800.0).abs() < 1e-6);
//! // 3 kWh at 0.10, then 1.5 kWh at the hour's mean price 0.20
//! assert!((bill.accounts[0].cost - 0.60).abs() < 1e-9);
//! # Ok::<(), kelvin_attribution::AttributionError>(())
//! ```

use kelvin_model::Timestamp;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::{AttributionError, largest_remainder_into};

/// Microjoules in one kilowatt-hour (3.6 MJ).
pub const UJ_PER_KWH: f64 = 3.6e12;

/// A piecewise-constant series (each value holds from its timestamp until the next), e.g. PUE,
/// grid carbon intensity gCO2e/kWh, price per kWh.
///
/// The last value holds for ever after its timestamp. Before the first timestamp the series is
/// undefined, except for [`StepSeries::constant`], which holds for all time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSeries {
    points: Vec<(Timestamp, f64)>,
    /// Whether the first value also holds before the first timestamp.
    open_start: bool,
}

/// What a series contributes to a time range: `∫ f(v) dt` over the covered part (value ×
/// nanoseconds), the covered nanoseconds, and the extreme values seen there.
#[derive(Debug, Clone, Copy)]
struct Integral {
    weighted: f64,
    covered_ns: i128,
    min: f64,
    max: f64,
    all_finite: bool,
}

impl StepSeries {
    /// A series from `(time, value)` steps.
    ///
    /// ```
    /// use kelvin_attribution::facility::StepSeries;
    /// use kelvin_model::Timestamp;
    /// let pue = StepSeries::try_new(vec![(Timestamp::from_secs(0), 1.4), (Timestamp::from_secs(60), 1.2)])?;
    /// assert_eq!(pue.mean_over(Timestamp::from_secs(30), Timestamp::from_secs(90)), Some(1.3));
    /// # Ok::<(), kelvin_attribution::AttributionError>(())
    /// ```
    ///
    /// # Errors
    /// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when `points` is empty, a
    /// time is [`Timestamp::UNKNOWN`], the times are not strictly increasing, or a value is not
    /// finite.
    pub fn try_new(points: Vec<(Timestamp, f64)>) -> Result<StepSeries, AttributionError> {
        if points.is_empty() {
            return Err(AttributionError::invalid(
                "step series",
                "a step series needs at least one point",
            ));
        }
        for (i, &(t, v)) in points.iter().enumerate() {
            if !t.is_known() {
                return Err(AttributionError::invalid(
                    format!("step series, point {i}"),
                    "timestamp is unknown",
                ));
            }
            if !v.is_finite() {
                return Err(AttributionError::invalid(
                    format!("step series, point {i} ({t})"),
                    format!("value {v} is not finite"),
                ));
            }
            if i > 0 && points[i - 1].0 >= t {
                return Err(AttributionError::invalid(
                    format!("step series, point {i} ({t})"),
                    format!(
                        "times must be strictly increasing; previous point is at {}",
                        points[i - 1].0
                    ),
                ));
            }
        }
        Ok(StepSeries {
            points,
            open_start: false,
        })
    }

    /// A value that holds for all time. (Not validated: a non-finite constant is reported by
    /// [`apportion`] when it is used.)
    pub fn constant(value: f64) -> StepSeries {
        StepSeries {
            points: vec![(Timestamp::from_nanos(0), value)],
            open_start: true,
        }
    }

    /// The steps, sorted by time. For [`StepSeries::constant`], one step at the epoch.
    pub fn points(&self) -> &[(Timestamp, f64)] {
        &self.points
    }

    /// Whether this series holds for all time (made by [`StepSeries::constant`]).
    pub fn is_constant(&self) -> bool {
        self.open_start
    }

    /// The value in force at `t`; `None` before the first point (unless constant).
    pub fn value_at(&self, t: Timestamp) -> Option<f64> {
        let after = self.points.partition_point(|p| p.0 <= t);
        match after {
            0 if self.open_start => self.points.first().map(|p| p.1),
            0 => None,
            k => Some(self.points[k - 1].1),
        }
    }

    /// Time-weighted mean over [start, end); None if the range begins before the first point
    /// (unless constant). An empty range (`start == end`) gives [`StepSeries::value_at`]`(start)`;
    /// a reversed one gives `None`.
    pub fn mean_over(&self, start: Timestamp, end: Timestamp) -> Option<f64> {
        if end < start {
            return None;
        }
        if end == start {
            return self.value_at(start);
        }
        let full = i128::from(end.as_nanos()) - i128::from(start.as_nanos());
        let int = self.integrate(start.as_nanos(), end.as_nanos(), |v| v);
        (int.covered_ns == full).then(|| int.weighted / full as f64)
    }

    /// `∫ f(v(t)) dt` over the part of `[a, b)` the series covers, in value × nanoseconds.
    fn integrate(&self, a: i64, b: i64, f: impl Fn(f64) -> f64) -> Integral {
        let mut out = Integral {
            weighted: 0.0,
            covered_ns: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            all_finite: true,
        };
        if a >= b {
            return out;
        }
        let (a, b) = (i128::from(a), i128::from(b));
        let n = self.points.len();
        // The segment in force at `a`, or the first one if `a` is before the series.
        let first = self
            .points
            .partition_point(|p| i128::from(p.0.as_nanos()) <= a)
            .saturating_sub(1);
        for i in first..n {
            let seg_start = if i == 0 && self.open_start {
                i128::MIN
            } else {
                i128::from(self.points[i].0.as_nanos())
            };
            if seg_start >= b {
                break;
            }
            let seg_end = if i + 1 < n {
                i128::from(self.points[i + 1].0.as_nanos())
            } else {
                i128::MAX
            };
            let (lo, hi) = (seg_start.max(a), seg_end.min(b));
            if hi <= lo {
                continue;
            }
            let v = self.points[i].1;
            out.all_finite &= v.is_finite();
            out.min = out.min.min(v);
            out.max = out.max.max(v);
            out.weighted += f(v) * (hi - lo) as f64;
            out.covered_ns += hi - lo;
        }
        out
    }
}

/// The facility-side inputs of a bill: PUE or measured overhead, grid carbon intensity and
/// price, each a [`StepSeries`]; any may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FacilityInputs {
    /// Power usage effectiveness (ISO/IEC 30134-2), ≥ 1; overhead = IT × (PUE − 1).
    pub pue: Option<StepSeries>,
    /// Measured facility overhead power in watts (cooling, UPS losses) for this IT group;
    /// takes precedence over `pue` where defined.
    pub overhead_w: Option<StepSeries>,
    /// Grid carbon intensity, grams CO₂-equivalent per kWh (e.g. a location-based hourly
    /// series from the grid operator or a provider such as Electricity Maps).
    pub carbon_g_per_kwh: Option<StepSeries>,
    /// Energy price per kWh, in `currency`.
    pub price_per_kwh: Option<StepSeries>,
    /// The currency of `price_per_kwh` (free text, e.g. an ISO 4217 code); copied to the bill.
    pub currency: String,
}

impl FacilityInputs {
    /// Sets the PUE series.
    #[must_use]
    pub fn with_pue(mut self, pue: StepSeries) -> Self {
        self.pue = Some(pue);
        self
    }

    /// Sets the measured overhead power series (watts).
    #[must_use]
    pub fn with_overhead_w(mut self, overhead_w: StepSeries) -> Self {
        self.overhead_w = Some(overhead_w);
        self
    }

    /// Sets the grid carbon intensity series (gCO₂e/kWh).
    #[must_use]
    pub fn with_carbon_g_per_kwh(mut self, carbon: StepSeries) -> Self {
        self.carbon_g_per_kwh = Some(carbon);
        self
    }

    /// Sets the price series (per kWh, in [`FacilityInputs::currency`]).
    #[must_use]
    pub fn with_price_per_kwh(mut self, price: StepSeries) -> Self {
        self.price_per_kwh = Some(price);
        self
    }

    /// Sets the currency label.
    #[must_use]
    pub fn with_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = currency.into();
        self
    }
}

/// One account's line of a [`FacilityBill`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilityShare {
    /// IT energy, µJ (the input column summed).
    pub it_uj: u64,
    /// Facility overhead energy put on this account, µJ.
    pub overhead_uj: u64,
    /// Grams CO₂-equivalent of `it_uj + overhead_uj`.
    pub co2e_g: f64,
    /// Cost of `it_uj + overhead_uj`, in the bill's currency.
    pub cost: f64,
}

impl FacilityShare {
    /// IT plus overhead energy, µJ.
    pub fn total_uj(&self) -> u64 {
        self.it_uj.saturating_add(self.overhead_uj)
    }
}

/// One interval's totals of a [`FacilityBill`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalFacility {
    /// IT energy of all accounts, µJ.
    pub it_uj: u64,
    /// Overhead energy of the interval, µJ (`Σ accounts' overhead + unassigned_overhead_uj`).
    pub overhead_uj: u64,
    /// Overhead that no account could carry because the interval had no IT energy, µJ.
    pub unassigned_overhead_uj: u64,
    /// Grams CO₂-equivalent of `it_uj + overhead_uj`.
    pub co2e_g: f64,
    /// Cost of `it_uj + overhead_uj`.
    pub cost: f64,
    /// Whether overhead (measured or PUE) was known over the whole interval.
    pub overhead_complete: bool,
    /// Whether carbon intensity was known over the whole interval.
    pub carbon_complete: bool,
    /// Whether the price was known over the whole interval.
    pub price_complete: bool,
}

/// The facility bill: overhead energy, carbon and cost per account, with totals.
///
/// `overhead_uj == Σ accounts' overhead_uj + unassigned_overhead_uj` exactly, and so for every
/// interval; `co2e_g` and `cost` include the unassigned overhead (up to float rounding,
/// `co2e_g == Σ accounts' co2e_g + unassigned_co2e_g`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilityBill {
    /// One line per input column, in order.
    pub accounts: Vec<FacilityShare>,
    /// All overhead energy of the window, µJ, assigned or not.
    pub overhead_uj: u64,
    /// Grams CO₂-equivalent of all IT and overhead energy.
    pub co2e_g: f64,
    /// Cost of all IT and overhead energy.
    pub cost: f64,
    /// The currency of `cost` (from the inputs).
    pub currency: String,
    /// Intervals where part of the time had neither measured overhead nor PUE (that part
    /// carries no overhead).
    pub intervals_without_overhead: usize,
    /// Intervals where part of the time had no carbon intensity (that part carries no carbon).
    pub intervals_without_carbon: usize,
    /// Intervals where part of the time had no price (that part carries no cost).
    pub intervals_without_price: usize,
    /// All IT energy of the window, µJ.
    pub it_uj: u64,
    /// Measured overhead of intervals with no IT energy, µJ: real energy the facility spent on
    /// this IT group that no account used.
    pub unassigned_overhead_uj: u64,
    /// Grams CO₂-equivalent of `unassigned_overhead_uj`.
    pub unassigned_co2e_g: f64,
    /// Cost of `unassigned_overhead_uj`.
    pub unassigned_cost: f64,
    /// Per-interval totals, in grid order.
    pub intervals: Vec<IntervalFacility>,
}

impl FacilityBill {
    /// IT plus overhead energy of the window, µJ.
    pub fn total_uj(&self) -> u64 {
        self.it_uj.saturating_add(self.overhead_uj)
    }
}

/// it_uj: intervals × accounts, the IT energy each account (workload or named account) was
/// attributed in each interval of the grid `[start + k·interval_ns, start + (k+1)·interval_ns)`.
///
/// Per interval, the overhead energy (from `overhead_w × dt`, else IT total × (PUE − 1), rounded
/// to µJ) is split over the accounts by their IT share with
/// [`largest_remainder`](crate::largest_remainder), so Σ accounts' overhead == interval
/// overhead exactly; an interval with zero IT energy puts its measured `overhead_w` energy into
/// [`FacilityBill::unassigned_overhead_uj`]. Where `overhead_w` covers only the end of an
/// interval (the series starts inside it), the uncovered beginning uses PUE for its time
/// fraction of the interval's IT energy. Carbon and cost: (IT + overhead) kWh × the interval's
/// time-weighted mean intensity / price.
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when `interval_ns ≤ 0`, `start`
/// is unknown, the grid runs past the representable time range, or, naming the interval
/// (`facility pue, interval 3`), a series value in force during an interval is not finite, a
/// PUE is below 1, or an overhead power, carbon intensity or price is negative.
/// [`Overflow`](crate::AttributionErrorKind::Overflow) when an energy total exceeds `u64` µJ.
pub fn apportion(
    start: Timestamp,
    interval_ns: i64,
    it_uj: ArrayView2<u64>,
    inputs: &FacilityInputs,
) -> Result<FacilityBill, AttributionError> {
    run(start, interval_ns, it_uj, inputs, None)
}

/// [`apportion`], also returning the overhead matrix (intervals × accounts, µJ) whose column
/// sums are the accounts' `overhead_uj` and whose row sums plus the interval's
/// `unassigned_overhead_uj` are the interval's `overhead_uj`.
///
/// ```
/// use kelvin_attribution::facility::{FacilityInputs, StepSeries, apportion_detailed};
/// use kelvin_model::Timestamp;
/// use ndarray::array;
///
/// let inputs = FacilityInputs::default().with_pue(StepSeries::constant(1.25));
/// let it = array![[100u64, 300], [0, 10]];
/// let (bill, overhead) = apportion_detailed(Timestamp::from_secs(0), 1_000_000_000, it.view(), &inputs)?;
/// assert_eq!(overhead, array![[25u64, 75], [0, 3]]);
/// assert_eq!(bill.overhead_uj, 103);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// As [`apportion`].
pub fn apportion_detailed(
    start: Timestamp,
    interval_ns: i64,
    it_uj: ArrayView2<u64>,
    inputs: &FacilityInputs,
) -> Result<(FacilityBill, Array2<u64>), AttributionError> {
    let mut matrix = Array2::zeros(it_uj.raw_dim());
    let bill = run(start, interval_ns, it_uj, inputs, Some(&mut matrix))?;
    Ok((bill, matrix))
}

/// Checks the values a series has in force during interval `k`.
fn check(
    int: &Integral,
    name: &str,
    k: usize,
    at: Timestamp,
    min_allowed: f64,
    what: &str,
) -> Result<(), AttributionError> {
    if int.covered_ns == 0 {
        return Ok(());
    }
    let place = || format!("facility {name}, interval {k}");
    if !int.all_finite {
        return Err(AttributionError::invalid(
            place(),
            format!("{name} in force during the interval starting {at} is not finite"),
        ));
    }
    if int.min < min_allowed {
        return Err(AttributionError::invalid(
            place(),
            format!(
                "{name} {} during the interval starting {at} is {what}",
                int.min
            ),
        ));
    }
    Ok(())
}

fn run(
    start: Timestamp,
    interval_ns: i64,
    it_uj: ArrayView2<u64>,
    inputs: &FacilityInputs,
    mut matrix: Option<&mut Array2<u64>>,
) -> Result<FacilityBill, AttributionError> {
    let (n_intervals, n_accounts) = it_uj.dim();
    check_grid(start, interval_ns, n_intervals)?;
    let mut bill = FacilityBill::empty(n_accounts, n_intervals, &inputs.currency);
    let mut weights = vec![0.0f64; n_accounts];
    let mut parts = vec![0u64; n_accounts];
    let mut scratch = crate::SplitScratch::default();

    for (k, row) in it_uj.rows().into_iter().enumerate() {
        let slot = Slot::new(start, interval_ns, k);
        let mut it_total: u64 = 0;
        for (w, &e) in weights.iter_mut().zip(row.iter()) {
            it_total = it_total
                .checked_add(e)
                .ok_or_else(|| AttributionError::overflow(slot.place()))?;
            *w = e as f64;
        }
        let (overhead_uj, overhead_complete) = slot.overhead(inputs, it_total)?;
        if !overhead_complete {
            bill.intervals_without_overhead += 1;
        }
        // Split it.
        let unassigned = if it_total > 0
            && largest_remainder_into(overhead_uj, &weights, &mut parts, &mut scratch)
        {
            0
        } else {
            parts.iter_mut().for_each(|p| *p = 0);
            overhead_uj
        };
        let carbon = slot.rate(&inputs.carbon_g_per_kwh, "carbon_g_per_kwh")?;
        let price = slot.rate(&inputs.price_per_kwh, "price_per_kwh")?;
        bill.intervals_without_carbon += usize::from(!carbon.1);
        bill.intervals_without_price += usize::from(!price.1);
        let interval = IntervalFacility {
            it_uj: it_total,
            overhead_uj,
            unassigned_overhead_uj: unassigned,
            co2e_g: 0.0,
            cost: 0.0,
            overhead_complete,
            carbon_complete: carbon.1,
            price_complete: price.1,
        };
        bill.add(
            &slot,
            interval,
            row.iter().copied(),
            &parts,
            (carbon.0, price.0),
        )?;
        if let Some(m) = matrix.as_deref_mut() {
            m.row_mut(k)
                .iter_mut()
                .zip(&parts)
                .for_each(|(x, &p)| *x = p);
        }
    }
    Ok(bill)
}

/// Checks the grid: a positive interval, a known start, and an end before year 2262.
fn check_grid(
    start: Timestamp,
    interval_ns: i64,
    n_intervals: usize,
) -> Result<(), AttributionError> {
    if interval_ns <= 0 {
        return Err(AttributionError::invalid(
            "facility",
            format!("interval_ns must be positive, got {interval_ns}"),
        ));
    }
    if !start.is_known() {
        return Err(AttributionError::invalid("facility", "start is unknown"));
    }
    let grid_end = i128::from(start.as_nanos()) + i128::from(interval_ns) * n_intervals as i128;
    if grid_end > i128::from(i64::MAX) {
        return Err(AttributionError::invalid(
            "facility",
            format!("{n_intervals} intervals of {interval_ns} ns from {start} run past year 2262"),
        ));
    }
    Ok(())
}

/// Interval `k` of a checked grid: `[a, b)` in nanoseconds.
struct Slot {
    k: usize,
    a: i64,
    b: i64,
    at: Timestamp,
    interval_ns: i64,
}

impl Slot {
    fn new(start: Timestamp, interval_ns: i64, k: usize) -> Slot {
        // start ≤ a < b ≤ grid_end ≤ i64::MAX (checked by `check_grid`); the product alone may
        // not fit in i64 when start is negative, so compute in i128.
        let a = i128::from(start.as_nanos()) + i128::from(interval_ns) * k as i128;
        let (a, b) = (a as i64, (a + i128::from(interval_ns)) as i64);
        Slot {
            k,
            a,
            b,
            at: Timestamp::from_nanos(a),
            interval_ns,
        }
    }

    fn place(&self) -> String {
        format!("facility, interval {}", self.k)
    }

    /// The interval's overhead energy, µJ, and whether overhead was known all along: measured
    /// power where defined, PUE on the rest.
    fn overhead(
        &self,
        inputs: &FacilityInputs,
        it_total: u64,
    ) -> Result<(u64, bool), AttributionError> {
        let (a, b, k, at) = (self.a, self.b, self.k, self.at);
        let dt = self.interval_ns as f64;
        let mut overhead = 0.0; // µJ
        let mut covered: i128 = 0;
        if let Some(ow) = &inputs.overhead_w {
            let int = ow.integrate(a, b, |v| v);
            check(&int, "overhead_w", k, at, 0.0, "negative")?;
            overhead += int.weighted / 1e3; // W·ns = nJ
            covered += int.covered_ns;
        }
        // A step series covers a suffix of any range, so what it misses is [a, a + rest).
        let rest = i128::from(self.interval_ns) - covered;
        if rest > 0
            && let Some(pue) = &inputs.pue
        {
            // 0 < rest ≤ interval_ns, so a + rest ≤ b fits in i64.
            let rest_end = a + rest as i64;
            let int = pue.integrate(a, rest_end, |v| v - 1.0);
            check(&int, "pue", k, at, 1.0, "below 1")?;
            overhead += it_total as f64 * int.weighted / dt;
            covered += int.covered_ns;
        }
        let complete = covered == i128::from(self.interval_ns);
        let overhead = overhead.round();
        if overhead.is_nan() || overhead >= u64::MAX as f64 {
            return Err(AttributionError::overflow(self.place()));
        }
        Ok((overhead.max(0.0) as u64, complete))
    }

    /// A carbon or price rate per µJ (Σ value·ns / interval ns, uncovered time counting as 0)
    /// and whether the series covered the whole interval.
    fn rate(
        &self,
        series: &Option<StepSeries>,
        name: &str,
    ) -> Result<(f64, bool), AttributionError> {
        let Some(s) = series else {
            return Ok((0.0, false));
        };
        let int = s.integrate(self.a, self.b, |v| v);
        check(&int, name, self.k, self.at, 0.0, "negative")?;
        let complete = int.covered_ns == i128::from(self.interval_ns);
        Ok((
            int.weighted / self.interval_ns as f64 / UJ_PER_KWH,
            complete,
        ))
    }
}

impl FacilityBill {
    /// A bill with nothing on it yet.
    fn empty(n_accounts: usize, n_intervals: usize, currency: &str) -> FacilityBill {
        FacilityBill {
            accounts: vec![
                FacilityShare {
                    it_uj: 0,
                    overhead_uj: 0,
                    co2e_g: 0.0,
                    cost: 0.0,
                };
                n_accounts
            ],
            overhead_uj: 0,
            co2e_g: 0.0,
            cost: 0.0,
            currency: currency.to_string(),
            intervals_without_overhead: 0,
            intervals_without_carbon: 0,
            intervals_without_price: 0,
            it_uj: 0,
            unassigned_overhead_uj: 0,
            unassigned_co2e_g: 0.0,
            unassigned_cost: 0.0,
            intervals: Vec::with_capacity(n_intervals),
        }
    }

    /// Adds an interval: each account's IT energy `it` and overhead `parts`, priced at
    /// `(carbon, price)` per µJ, and the unassigned overhead.
    fn add(
        &mut self,
        slot: &Slot,
        mut interval: IntervalFacility,
        it: impl Iterator<Item = u64>,
        parts: &[u64],
        (carbon_per_uj, price_per_uj): (f64, f64),
    ) -> Result<(), AttributionError> {
        let k = slot.k;
        for (j, (share, (e, &o))) in self.accounts.iter_mut().zip(it.zip(parts)).enumerate() {
            let account_place = || format!("facility, account {j}, interval {k}");
            share.it_uj = share
                .it_uj
                .checked_add(e)
                .ok_or_else(|| AttributionError::overflow(account_place()))?;
            share.overhead_uj = share
                .overhead_uj
                .checked_add(o)
                .ok_or_else(|| AttributionError::overflow(account_place()))?;
            let energy = e as f64 + o as f64;
            let (c, p) = (energy * carbon_per_uj, energy * price_per_uj);
            share.co2e_g += c;
            share.cost += p;
            interval.co2e_g += c;
            interval.cost += p;
        }
        let unassigned = interval.unassigned_overhead_uj;
        let (uc, up) = (
            unassigned as f64 * carbon_per_uj,
            unassigned as f64 * price_per_uj,
        );
        interval.co2e_g += uc;
        interval.cost += up;
        self.unassigned_co2e_g += uc;
        self.unassigned_cost += up;
        self.it_uj = self
            .it_uj
            .checked_add(interval.it_uj)
            .ok_or_else(|| AttributionError::overflow(slot.place()))?;
        self.overhead_uj = self
            .overhead_uj
            .checked_add(interval.overhead_uj)
            .ok_or_else(|| AttributionError::overflow(slot.place()))?;
        self.unassigned_overhead_uj += unassigned; // ≤ overhead_uj, which did not overflow
        self.co2e_g += interval.co2e_g;
        self.cost += interval.cost;
        self.intervals.push(interval);
        Ok(())
    }
}

/// The PUE measured over intervals of `(seconds, IT watts, overhead watts)`, weighted by
/// energy: `1 + Σ overhead energy / Σ IT energy` (ISO/IEC 30134-2's total over IT energy);
/// `None` when the intervals hold no IT energy.
///
/// ```
/// use kelvin_attribution::facility::measured_pue;
/// // 60 s at 10 kW IT with 4 kW cooling, then 60 s at 30 kW with 8 kW.
/// assert_eq!(measured_pue([(60.0, 10e3, 4e3), (60.0, 30e3, 8e3)]), Some(1.3));
/// assert_eq!(measured_pue([]), None);
/// ```
pub fn measured_pue(intervals: impl IntoIterator<Item = (f64, f64, f64)>) -> Option<f64> {
    let (mut it_j, mut overhead_j) = (0.0, 0.0);
    for (secs, it_w, overhead_w) in intervals {
        it_j += it_w * secs;
        overhead_j += overhead_w * secs;
    }
    (it_j > 0.0).then(|| 1.0 + overhead_j / it_j)
}

/// The overhead of `it_j` joules of IT energy at a flat `pue`, joules: `IT × (PUE − 1)`, what
/// [`apportion`] puts on an account interval by interval, on a total.
pub fn overhead_at_pue(it_j: f64, pue: f64) -> f64 {
    it_j * (pue - 1.0)
}

/// The gCO₂e of `it_j` joules of IT energy and its overhead at a flat `pue`, at a grid
/// intensity of `g_per_kwh`: `IT × PUE` in kWh × intensity.
///
/// ```
/// use kelvin_attribution::facility::{carbon_at_pue, overhead_at_pue};
/// let it_j = 3.6e6; // 1 kWh
/// assert_eq!(overhead_at_pue(it_j, 1.5), 1.8e6);
/// assert_eq!(carbon_at_pue(it_j, 1.5, 400.0), 600.0);
/// ```
pub fn carbon_at_pue(it_j: f64, pue: f64, g_per_kwh: f64) -> f64 {
    it_j * pue / 3.6e6 * g_per_kwh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttributionErrorKind;
    use ndarray::array;

    const H: i64 = 3_600_000_000_000;
    const KWH: u64 = 3_600_000_000_000;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn step_series_validation() {
        assert!(StepSeries::try_new(vec![]).is_err());
        assert!(StepSeries::try_new(vec![(ts(1), 1.0), (ts(1), 2.0)]).is_err());
        assert!(StepSeries::try_new(vec![(ts(2), 1.0), (ts(1), 2.0)]).is_err());
        assert!(StepSeries::try_new(vec![(ts(1), f64::NAN)]).is_err());
        assert!(StepSeries::try_new(vec![(Timestamp::UNKNOWN, 1.0)]).is_err());
        let e = StepSeries::try_new(vec![(ts(1), 1.0), (ts(2), f64::INFINITY)]).unwrap_err();
        assert!(e.place().contains("point 1"), "{e}");
    }

    #[test]
    fn mean_over_is_time_weighted() {
        let s = StepSeries::try_new(vec![(ts(0), 1.0), (ts(10), 3.0), (ts(20), 5.0)]).unwrap();
        assert_eq!(s.mean_over(ts(0), ts(10)), Some(1.0));
        assert_eq!(s.mean_over(ts(5), ts(15)), Some(2.0));
        assert_eq!(s.mean_over(ts(0), ts(20)), Some(2.0));
        // the last value holds for ever
        assert_eq!(s.mean_over(ts(100), ts(200)), Some(5.0));
        assert_eq!(s.mean_over(ts(15), ts(25)), Some(4.0));
        // begins before the first point
        assert_eq!(s.mean_over(ts(-1), ts(5)), None);
        assert_eq!(s.mean_over(ts(7), ts(7)), Some(1.0));
        assert_eq!(s.mean_over(ts(7), ts(6)), None);
        let c = StepSeries::constant(2.5);
        assert_eq!(c.mean_over(ts(-1_000_000), ts(1_000_000)), Some(2.5));
        assert_eq!(
            c.mean_over(Timestamp::from_nanos(i64::MIN + 1), ts(0)),
            Some(2.5)
        );
        assert_eq!(c.value_at(ts(-5)), Some(2.5));
        assert_eq!(s.value_at(ts(-5)), None);
        assert_eq!(s.value_at(ts(10)), Some(3.0));
    }

    #[test]
    fn pue_overhead_split_by_it_share() {
        let inputs = FacilityInputs::default().with_pue(StepSeries::constant(1.5));
        let it = array![[100u64, 0, 300], [1, 1, 1], [0, 0, 0]];
        let (bill, m) = apportion_detailed(ts(0), 1_000_000_000, it.view(), &inputs).unwrap();
        assert_eq!(m, array![[50u64, 0, 150], [1, 1, 0], [0, 0, 0]]);
        assert_eq!(bill.overhead_uj, 202);
        assert_eq!(bill.unassigned_overhead_uj, 0);
        assert_eq!(bill.intervals_without_overhead, 0);
        assert_eq!(bill.intervals_without_carbon, 3);
        assert_eq!(bill.intervals_without_price, 3);
        assert_eq!(bill.it_uj, 403);
        assert_eq!(bill.accounts[0].total_uj(), 101 + 51);
    }

    #[test]
    fn measured_overhead_takes_precedence_and_is_kept_when_idle() {
        // 100 W measured from t = 30 s; PUE 2 before that.
        let inputs = FacilityInputs::default()
            .with_pue(StepSeries::constant(2.0))
            .with_overhead_w(StepSeries::try_new(vec![(ts(30), 100.0)]).unwrap());
        let it = array![[60_000_000u64], [0], [6_000_000]];
        let (bill, m) = apportion_detailed(ts(0), 60_000_000_000, it.view(), &inputs).unwrap();
        // interval 0: first half PUE (half of 60 J × 1), second half 100 W × 30 s = 3000 J
        assert_eq!(m[[0, 0]], 30_000_000 + 3_000_000_000);
        // interval 1: no IT energy, 6000 J of measured overhead stays unassigned
        assert_eq!(m[[1, 0]], 0);
        assert_eq!(bill.intervals[1].unassigned_overhead_uj, 6_000_000_000);
        assert_eq!(bill.unassigned_overhead_uj, 6_000_000_000);
        // interval 2: measured wins over PUE
        assert_eq!(m[[2, 0]], 6_000_000_000);
        assert_eq!(
            bill.overhead_uj,
            bill.accounts[0].overhead_uj + bill.unassigned_overhead_uj
        );
        assert_eq!(bill.intervals_without_overhead, 0);
    }

    #[test]
    fn missing_overhead_is_counted() {
        let inputs =
            FacilityInputs::default().with_pue(StepSeries::try_new(vec![(ts(90), 1.5)]).unwrap());
        let it = array![[1_000u64], [1_000], [1_000]];
        let bill = apportion(ts(0), 60_000_000_000, it.view(), &inputs).unwrap();
        // interval 0 has no PUE; interval 1 only for its second half
        assert_eq!(bill.intervals_without_overhead, 2);
        assert_eq!(
            bill.intervals
                .iter()
                .map(|i| i.overhead_uj)
                .collect::<Vec<_>>(),
            vec![0, 250, 500]
        );
        let none = apportion(ts(0), 60_000_000_000, it.view(), &FacilityInputs::default()).unwrap();
        assert_eq!(none.intervals_without_overhead, 3);
        assert_eq!(none.overhead_uj, 0);
    }

    #[test]
    fn three_interval_example_with_price_step() {
        let inputs = FacilityInputs::default()
            .with_pue(StepSeries::constant(1.5))
            .with_overhead_w(StepSeries::try_new(vec![(ts(7_200), 500.0)]).unwrap())
            .with_carbon_g_per_kwh(StepSeries::constant(400.0))
            .with_price_per_kwh(
                StepSeries::try_new(vec![(ts(0), 0.10), (ts(5_400), 0.30)]).unwrap(),
            )
            .with_currency("EUR");
        let it = array![[2 * KWH, KWH], [KWH, KWH], [0, 0]];
        let bill = apportion(ts(0), H, it.view(), &inputs).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        assert_eq!(bill.accounts[0].overhead_uj, KWH + KWH / 2);
        assert_eq!(bill.accounts[1].overhead_uj, KWH);
        assert_eq!(bill.unassigned_overhead_uj, KWH / 2);
        assert_eq!(bill.overhead_uj, 3 * KWH);
        assert!(close(bill.accounts[0].co2e_g, 1_800.0));
        assert!(close(bill.accounts[1].co2e_g, 1_200.0));
        assert!(close(bill.unassigned_co2e_g, 200.0));
        assert!(close(bill.co2e_g, 3_200.0));
        assert!(close(bill.accounts[0].cost, 0.60));
        assert!(close(bill.accounts[1].cost, 0.45));
        assert!(close(bill.unassigned_cost, 0.15));
        assert!(close(bill.cost, 1.20));
        assert_eq!(bill.currency, "EUR");
        assert_eq!(
            (
                bill.intervals_without_overhead,
                bill.intervals_without_carbon,
                bill.intervals_without_price
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn bad_inputs_name_the_interval() {
        let it = array![[1_000u64], [1_000], [1_000]];
        let low_pue = FacilityInputs::default()
            .with_pue(StepSeries::try_new(vec![(ts(0), 1.2), (ts(130), 0.9)]).unwrap());
        let e = apportion(ts(0), 60_000_000_000, it.view(), &low_pue).unwrap_err();
        assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
        assert_eq!(e.place(), "facility pue, interval 2");
        let neg = FacilityInputs::default().with_carbon_g_per_kwh(
            StepSeries::try_new(vec![(ts(0), 1.0), (ts(60), -1.0)]).unwrap(),
        );
        let e = apportion(ts(0), 60_000_000_000, it.view(), &neg).unwrap_err();
        assert_eq!(e.place(), "facility carbon_g_per_kwh, interval 1");
        let nan = FacilityInputs::default().with_price_per_kwh(StepSeries::constant(f64::NAN));
        let e = apportion(ts(0), 60_000_000_000, it.view(), &nan).unwrap_err();
        assert_eq!(e.place(), "facility price_per_kwh, interval 0");
        let neg_w = FacilityInputs::default().with_overhead_w(StepSeries::constant(-5.0));
        let e = apportion(ts(0), 60_000_000_000, it.view(), &neg_w).unwrap_err();
        assert_eq!(e.place(), "facility overhead_w, interval 0");
        let ok = FacilityInputs::default();
        assert!(apportion(ts(0), 0, it.view(), &ok).is_err());
        assert!(apportion(Timestamp::UNKNOWN, 1, it.view(), &ok).is_err());
        assert!(apportion(Timestamp::from_nanos(i64::MAX - 10), 5, it.view(), &ok).is_err());
        let big = array![[u64::MAX, 1]];
        let e = apportion(ts(0), 1, big.view(), &ok).unwrap_err();
        assert_eq!(e.kind(), AttributionErrorKind::Overflow);
    }

    #[test]
    fn extreme_grids_do_not_overflow() {
        let inputs = FacilityInputs::default().with_pue(StepSeries::constant(1.5));
        let it = array![[2u64], [2], [2]];
        let interval = i64::MAX / 2 + 1;
        let bill = apportion(
            Timestamp::from_nanos(i64::MIN + 1),
            interval,
            it.view(),
            &inputs,
        )
        .unwrap();
        assert_eq!(bill.overhead_uj, 3);
        assert!(apportion(Timestamp::from_nanos(0), interval, it.view(), &inputs).is_err());
    }

    #[test]
    fn empty_grid_and_no_accounts() {
        let inputs = FacilityInputs::default().with_overhead_w(StepSeries::constant(1.0));
        let it = Array2::<u64>::zeros((2, 0));
        let bill = apportion(ts(0), 1_000_000_000, it.view(), &inputs).unwrap();
        assert!(bill.accounts.is_empty());
        assert_eq!(bill.unassigned_overhead_uj, 2_000_000);
        let it = Array2::<u64>::zeros((0, 3));
        let bill = apportion(ts(0), 1_000_000_000, it.view(), &inputs).unwrap();
        assert_eq!(bill.accounts.len(), 3);
        assert_eq!(bill.overhead_uj, 0);
    }
}
