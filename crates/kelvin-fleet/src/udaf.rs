//! Kelvin's store kernels as DataFusion aggregate functions: [`energy_j`] (`kelvin_energy_j`)
//! and [`increase`] (`kelvin_increase`).
//!
//! # Why the state holds every point
//!
//! A two-phase aggregate (and every Ballista plan) builds partial states on arbitrary,
//! time-interleaved subsets of a group's rows and merges them in any order. An integral or a
//! counter increase cannot be merged from summaries (first, last, sum) of interleaved subsets,
//! so a partial state is the group's raw points, two list columns (`ts` as `Int64`
//! nanoseconds, `value` as `Float64`). Merging concatenates; only the final evaluation sorts
//! the points and calls the store's kernel. Memory is therefore proportional to the points in
//! a group: bound it with `GROUP BY host, sensor, date_bin(...)` on long ranges.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, TimeUnit};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use kelvin_model::Timestamp;
use kelvin_store::{Grid, ResampleOptions};

/// The SQL name of [`energy_j`].
pub const ENERGY_J: &str = "kelvin_energy_j";

/// The SQL name of [`increase`].
pub const INCREASE: &str = "kelvin_increase";

/// `kelvin_energy_j(ts, watts [, max_gap])`: the energy in joules of a power gauge over a
/// group's samples, as `Float64`.
///
/// The exact integral of the signal that is linear between consecutive samples (the store's
/// [`kelvin_store::integrate`] with [`kelvin_store::Fill::Linear`]): the samples are sorted by
/// time and split at every gap longer than `max_gap`, and each gap-free run is integrated from
/// its first to its last sample; gaps contribute nothing. At equal timestamps the last value
/// in arrival order wins, as in the store (across partitions the arrival order is not
/// defined: keep one value per instant). Rows with a null `ts` or value are skipped; a group
/// with no such point gives NULL, one with a single instant 0.
///
/// * `ts`: `TIMESTAMP` (any unit; nanoseconds are exact) or `BIGINT` nanoseconds since the epoch.
/// * `watts`: any number.
/// * `max_gap` (optional, a constant): an `INTERVAL` or a number of seconds; default five
///   minutes ([`ResampleOptions::DEFAULT_MAX_GAP_NS`]).
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// ctx.register_udaf(kelvin_fleet::energy_j());
/// // 100 W for 60 s, then a ten-minute gap that is left out, then 200 W for 30 s.
/// let sql = "SELECT kelvin_energy_j(ts, w) AS j FROM (VALUES \
///            (0, 100.0), (60000000000, 100.0), (660000000000, 200.0), (690000000000, 200.0)) AS t(ts, w)";
/// let batches = ctx.sql(sql).await?.collect().await?;
/// let j = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Float64Array>();
/// assert_eq!(j.unwrap().value(0), 12_000.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn energy_j() -> AggregateUDF {
    AggregateUDF::from(KelvinAggregate::new(Kernel::Energy))
}

/// `kelvin_increase(ts, counter [, max_gap])`: the reset-corrected increase of a counter over
/// a group's samples, as `Float64` in the counter's unit.
///
/// The store's [`kelvin_store::increase`] on each gap-free run of the sorted samples (from its
/// first to its last sample), summed: a decrease between consecutive samples is a counter
/// reset, after which the new value counts as the increase since the reset; a gap longer than
/// `max_gap` contributes nothing, so a reset hidden in a gap is not counted twice. Arguments,
/// nulls and equal timestamps as for [`energy_j`].
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// ctx.register_udaf(kelvin_fleet::increase());
/// // An energy counter restarting between the third and fourth sample: 6000 + 1200 + 3000 J.
/// let sql = "SELECT kelvin_increase(ts, j) AS inc FROM (VALUES (0, 1000.0), (15000000000, 4000.0), \
///            (30000000000, 7000.0), (45000000000, 1200.0), (60000000000, 4200.0)) AS t(ts, j)";
/// let batches = ctx.sql(sql).await?.collect().await?;
/// let inc = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Float64Array>();
/// assert_eq!(inc.unwrap().value(0), 10_200.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn increase() -> AggregateUDF {
    AggregateUDF::from(KelvinAggregate::new(Kernel::Increase))
}

/// Which store kernel an aggregate runs on each gap-free run of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kernel {
    /// [`kelvin_store::integrate`]: joules from watts.
    Energy,
    /// [`kelvin_store::increase`]: a counter's reset-corrected increase.
    Increase,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Energy => ENERGY_J,
            Kernel::Increase => INCREASE,
        }
    }

    /// The kernel over one gap-free run (sorted, at least two distinct instants).
    fn over_run(self, ts: &[i64], values: &[f64], opts: &ResampleOptions) -> Result<f64> {
        let (first, last) = (ts[0], ts[ts.len() - 1]);
        let Some(span) = last.checked_sub(first) else {
            return exec_err!(
                "{}: samples from {first} to {last} ns span more than i64",
                self.name()
            );
        };
        let grid = Grid::try_new(Timestamp::from_nanos(first), span, 2)
            .map_err(|e| store_error(self, e))?;
        let v = match self {
            Kernel::Energy => kelvin_store::integrate(ts, values, &grid, opts),
            Kernel::Increase => kelvin_store::increase(ts, values, &grid, opts).map(|c| c.values),
        }
        .map_err(|e| store_error(self, e))?;
        Ok(v[0])
    }
}

fn store_error(kernel: Kernel, e: kelvin_store::StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e)).context(kernel.name())
}

/// The aggregate UDF behind [`energy_j`] and [`increase`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct KelvinAggregate {
    kernel: Kernel,
    signature: Signature,
}

impl KelvinAggregate {
    fn new(kernel: Kernel) -> Self {
        KelvinAggregate {
            kernel,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for KelvinAggregate {
    fn name(&self) -> &str {
        self.kernel.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "{name}(ts, value [, max_gap]) takes 2 or 3 arguments, got {}",
                arg_types.len()
            );
        }
        let ts = match &arg_types[0] {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
            DataType::Null => DataType::Int64,
            t if t.is_integer() => DataType::Int64,
            t => {
                return plan_err!(
                    "{name}: ts must be a TIMESTAMP or BIGINT nanoseconds since the epoch, got {t}"
                );
            }
        };
        let value = match &arg_types[1] {
            t if t.is_numeric() || *t == DataType::Null => DataType::Float64,
            t => return plan_err!("{name}: the value must be a number, got {t}"),
        };
        let mut out = vec![ts, value];
        if let Some(gap) = arg_types.get(2) {
            out.push(match gap {
                DataType::Interval(_) => gap.clone(),
                t if t.is_numeric() => DataType::Float64,
                t => {
                    return plan_err!(
                        "{name}: max_gap must be an INTERVAL or a number of seconds, got {t}"
                    );
                }
            });
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |part: &str, item: DataType| {
            Arc::new(Field::new_list(
                format_state_name(args.name, part),
                Field::new_list_field(item, true),
                true,
            ))
        };
        Ok(vec![
            list("ts", DataType::Int64),
            list("value", DataType::Float64),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let max_gap_ns = match args.exprs.get(2) {
            None => ResampleOptions::DEFAULT_MAX_GAP_NS,
            Some(e) => match e.downcast_ref::<Literal>() {
                Some(lit) => max_gap_ns(self.kernel, lit.value())?,
                None => return plan_err!("{}: max_gap must be a constant, got {e}", self.name()),
            },
        };
        Ok(Box::new(PointsAccumulator {
            kernel: self.kernel,
            opts: ResampleOptions::default().with_max_gap_ns(max_gap_ns),
            ts: Vec::new(),
            values: Vec::new(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        // The accumulator sorts by its own `ts` argument, whatever order rows arrive in.
        AggregateOrderSensitivity::Insensitive
    }
}

/// A constant `max_gap` argument in nanoseconds: an interval without months, or seconds.
fn max_gap_ns(kernel: Kernel, v: &ScalarValue) -> Result<i64> {
    const NS_PER_DAY: i128 = 86_400 * Timestamp::NANOS_PER_SEC as i128;
    let name = kernel.name();
    let ns: Option<i128> = match v {
        ScalarValue::IntervalDayTime(Some(d)) => {
            Some(i128::from(d.days) * NS_PER_DAY + i128::from(d.milliseconds) * 1_000_000)
        }
        ScalarValue::IntervalMonthDayNano(Some(d)) if d.months == 0 => {
            Some(i128::from(d.days) * NS_PER_DAY + i128::from(d.nanoseconds))
        }
        ScalarValue::IntervalMonthDayNano(Some(_)) | ScalarValue::IntervalYearMonth(Some(_)) => {
            return plan_err!("{name}: max_gap cannot be counted in months: use days or less");
        }
        ScalarValue::Float64(Some(s)) if s.is_finite() => {
            Some((s * Timestamp::NANOS_PER_SEC as f64).round() as i128)
        }
        _ => None,
    };
    match ns.map(i64::try_from) {
        Some(Ok(ns)) if ns >= 0 => Ok(ns),
        _ => plan_err!(
            "{name}: max_gap must be a non-negative duration that fits i64 nanoseconds, got {v}"
        ),
    }
}

/// A group's points, in arrival order, and what to compute from them.
#[derive(Debug)]
struct PointsAccumulator {
    kernel: Kernel,
    opts: ResampleOptions,
    ts: Vec<i64>,
    values: Vec<f64>,
}

impl PointsAccumulator {
    /// Appends the non-null pairs of an `Int64`-castable `ts` and a `Float64` value column.
    fn push_columns(&mut self, ts: &ArrayRef, values: &ArrayRef) -> Result<()> {
        let ts = cast(ts, &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let Some(values) = values.as_primitive_opt::<Float64Type>() else {
            return exec_err!(
                "{}: expected Float64 values, got {}",
                self.kernel.name(),
                values.data_type()
            );
        };
        if ts.len() != values.len() {
            return exec_err!(
                "{}: {} timestamps for {} values",
                self.kernel.name(),
                ts.len(),
                values.len()
            );
        }
        for i in 0..ts.len() {
            if ts.is_valid(i) && values.is_valid(i) {
                self.ts.push(ts.value(i));
                self.values.push(values.value(i));
            }
        }
        Ok(())
    }

    /// The points sorted by time (stable: equal instants keep their arrival order).
    fn sorted(&self) -> (Vec<i64>, Vec<f64>) {
        let mut order: Vec<usize> = (0..self.ts.len()).collect();
        order.sort_by_key(|&i| self.ts[i]);
        let ts = order.iter().map(|&i| self.ts[i]).collect();
        let values = order.iter().map(|&i| self.values[i]).collect();
        (ts, values)
    }
}

/// Whether consecutive sorted instants `a <= b` are further apart than `max_gap_ns` (an
/// overflowing distance is further than any).
fn is_gap(a: i64, b: i64, max_gap_ns: i64) -> bool {
    b.checked_sub(a).is_none_or(|d| d > max_gap_ns)
}

impl Accumulator for PointsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [ts, v, ..] => self.push_columns(ts, v),
            _ => exec_err!("{}: expected ts and value columns", self.kernel.name()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [ts, values] = states else {
            return exec_err!(
                "{}: expected 2 state columns, got {}",
                self.kernel.name(),
                states.len()
            );
        };
        let (ts, values) = (ts.as_list::<i32>(), values.as_list::<i32>());
        for row in 0..ts.len() {
            if ts.is_valid(row) && values.is_valid(row) {
                self.push_columns(&ts.value(row), &values.value(row))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let ts = Int64Array::from(std::mem::take(&mut self.ts));
        let values = Float64Array::from(std::mem::take(&mut self.values));
        Ok(vec![
            SingleRowListArrayBuilder::new(Arc::new(ts)).build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(values)).build_list_scalar(),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.ts.is_empty() {
            return Ok(ScalarValue::Float64(None));
        }
        let (ts, values) = self.sorted();
        let gap = self.opts.max_gap_ns;
        let mut total = 0.0;
        let mut start = 0;
        for end in 1..=ts.len() {
            if end < ts.len() && !is_gap(ts[end - 1], ts[end], gap) {
                continue;
            }
            // `start..end` is a gap-free run; a single instant spans no time.
            if ts[end - 1] > ts[start] {
                total += self
                    .kernel
                    .over_run(&ts[start..end], &values[start..end], &self.opts)?;
            }
            start = end;
        }
        Ok(ScalarValue::Float64(Some(total)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.ts.capacity() * size_of::<i64>()
            + self.values.capacity() * size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn acc(kernel: Kernel, gap_ns: i64) -> PointsAccumulator {
        PointsAccumulator {
            kernel,
            opts: ResampleOptions::default().with_max_gap_ns(gap_ns),
            ts: Vec::new(),
            values: Vec::new(),
        }
    }

    fn batch(ts: &[Option<i64>], v: &[Option<f64>]) -> [ArrayRef; 2] {
        [
            Arc::new(Int64Array::from(ts.to_vec())),
            Arc::new(Float64Array::from(v.to_vec())),
        ]
    }

    fn value(s: ScalarValue) -> Option<f64> {
        match s {
            ScalarValue::Float64(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn energy_skips_gaps_and_nulls() {
        let mut a = acc(Kernel::Energy, 300 * S);
        let ts = [Some(0), Some(60 * S), None, Some(1000 * S), Some(1030 * S)];
        let w = [Some(100.0), Some(200.0), Some(7.0), Some(50.0), None];
        a.update_batch(&batch(&ts, &w)).unwrap();
        // The lone sample after the gap spans no time; [0, 60 s] averages 150 W.
        assert_eq!(value(a.evaluate().unwrap()), Some(9000.0));
        assert_eq!(value(acc(Kernel::Energy, S).evaluate().unwrap()), None);
    }

    #[test]
    fn merged_interleaved_states_equal_one_pass() {
        let ts: Vec<i64> = (0..40).map(|i| i * 15 * S + (i % 3) * S).collect();
        let v: Vec<f64> = (0..40).map(|i| ((i * 37) % 11) as f64 * 10.0).collect();
        for kernel in [Kernel::Energy, Kernel::Increase] {
            let mut whole = acc(kernel, 60 * S);
            whole
                .update_batch(&batch(
                    &ts.iter().map(|&t| Some(t)).collect::<Vec<_>>(),
                    &v.iter().map(|&x| Some(x)).collect::<Vec<_>>(),
                ))
                .unwrap();
            let want = value(whole.evaluate().unwrap()).unwrap();
            // Three partial states over interleaved rows, merged in reverse.
            let mut states: Vec<Vec<ScalarValue>> = (0..3)
                .map(|k| {
                    let mut p = acc(kernel, 60 * S);
                    let idx: Vec<usize> = (0..40).filter(|i| i % 3 == k).collect();
                    let t: Vec<_> = idx.iter().map(|&i| Some(ts[i])).collect();
                    let x: Vec<_> = idx.iter().map(|&i| Some(v[i])).collect();
                    p.update_batch(&batch(&t, &x)).unwrap();
                    p.state().unwrap()
                })
                .collect();
            states.reverse();
            let mut fin = acc(kernel, 60 * S);
            for s in states {
                let cols: Vec<ArrayRef> = s.iter().map(|x| x.to_array().unwrap()).collect();
                fin.merge_batch(&cols).unwrap();
            }
            assert_eq!(value(fin.evaluate().unwrap()), Some(want), "{kernel:?}");
        }
    }

    #[test]
    fn increase_counts_resets_within_runs_only() {
        let mut a = acc(Kernel::Increase, 300 * S);
        let ts = [0, 15, 30, 45, 60, 1000, 1015].map(|s| Some(s * S));
        let c = [1000.0, 4000.0, 7000.0, 1200.0, 4200.0, 10.0, 30.0].map(Some);
        a.update_batch(&batch(&ts, &c)).unwrap();
        // 6000 + 1200 + 3000 in the first run; the drop across the gap is not a reset; 20 after.
        assert_eq!(value(a.evaluate().unwrap()), Some(10_220.0));
    }

    #[test]
    fn max_gap_literals() {
        use datafusion::arrow::datatypes::IntervalMonthDayNano;
        let k = Kernel::Energy;
        assert_eq!(
            max_gap_ns(k, &ScalarValue::Float64(Some(90.0))).unwrap(),
            90 * S
        );
        let iv = IntervalMonthDayNano::new(0, 1, 5 * S);
        assert_eq!(
            max_gap_ns(k, &ScalarValue::IntervalMonthDayNano(Some(iv))).unwrap(),
            86_405 * S
        );
        let month = IntervalMonthDayNano::new(1, 0, 0);
        assert!(max_gap_ns(k, &ScalarValue::IntervalMonthDayNano(Some(month))).is_err());
        assert!(max_gap_ns(k, &ScalarValue::Float64(Some(-1.0))).is_err());
        assert!(max_gap_ns(k, &ScalarValue::Float64(None)).is_err());
    }
}
