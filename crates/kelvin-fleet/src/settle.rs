//! `kelvin_settle`: the ledger's settlement of a meter-interval batch as a table function, so
//! a fleet-wide attribution runs where the data is, next to the SQL that prepares its input.
//!
//! The batch is any table or view of the session (a `CREATE VIEW` over `readings`, a Parquet
//! file of another tool) with one row per meter, interval and consumer:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `meter` | text | the metered entity (a host) |
//! | `interval_start` | timestamp or integer ns | the interval's start (UTC) |
//! | `energy_j` | float | the meter's measured energy in the interval, J |
//! | `idle_w` | float | the meter's idle floor, W |
//! | `cores` | float | the meter's allocatable cores |
//! | `dynamic_w` | float | watts the meter adds at full CPU utilization above its floor |
//! | `workload` | text, null | the consumer's workload; null on a row that only carries the meter |
//! | `reservation` | float | the consumer's reserved share of the meter, `[0, 1]` |
//! | `cpu_s` | float, null | the consumer's CPU seconds in the interval (null: unknown) |
//! | `sigma_j` | float (optional column) | 1-σ error of `energy_j`, J (absent: 0) |
//!
//! The meter's columns repeat on each of its rows in an interval and must agree. Each
//! distinct `interval_start` is settled as one interval of `interval_s` seconds with
//! `kelvin_attribution::ledger::settle`, under the named policy (default `two_part_tariff`).
//! The result has the `bills` table's shape: one row per workload line (account null) and per
//! named account (workload null), with the line's 95 % bounds, so the rows of a meter and
//! interval sum to its measured microjoules exactly.
//!
//! ```sql
//! SELECT workload, sum(energy_uj) FROM kelvin_settle('batch', 60) GROUP BY workload
//! ```
//!
//! It runs in the session that plans the query (register it with [`register_settle`] on a
//! local `SessionContext`); it is not registered on a Ballista client.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Builder, RecordBatch, StringBuilder,
    TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType,
};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use kelvin_attribution::ledger::{
    Account, Consumer, KeyCurve, Ledger, LedgerInput, LedgerOptions, MeterInput, MeterResource,
    Policy, settle,
};
use kelvin_attribution::power::Resource;
use kelvin_model::{EntityId, Timestamp};

/// The table function's name.
pub const SETTLE: &str = "kelvin_settle";

/// The columns of a settlement's result, in order.
pub const SETTLE_COLUMNS: [&str; 10] = [
    "interval_start",
    "interval_end",
    "meter",
    "workload",
    "account",
    "energy_uj",
    "lo_uj",
    "hi_uj",
    "measured_uj",
    "policy",
];

/// Registers `kelvin_settle(batch, interval_s [, policy])` on `ctx`: `batch` names a table or
/// view of the session, `interval_s` is the intervals' length in seconds and `policy` a
/// built-in policy's name (`two_part_tariff`, `full_absorption`, `cpu_share`, `kepler_like`,
/// `scaphandre_like`, `allocation`).
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let ctx = datafusion::prelude::SessionContext::new();
/// kelvin_fleet::register_settle(&ctx);
/// // One host, 60 s at 200 W (12 kJ) over a 100 W floor; two workloads reserving half the
/// // host each, using 30 and 90 CPU seconds.
/// ctx.sql(
///     "CREATE VIEW batch AS SELECT * FROM (VALUES \
///        ('h1', 0, 12000.0, 100.0, 4.0, 200.0, 'a', 0.5, 30.0), \
///        ('h1', 0, 12000.0, 100.0, 4.0, 200.0, 'b', 0.5, 90.0)) \
///      AS t(meter, interval_start, energy_j, idle_w, cores, dynamic_w, workload, reservation, cpu_s)",
/// )
/// .await?;
/// let df = ctx
///     .sql("SELECT workload, energy_uj FROM kelvin_settle('batch', 60) WHERE workload IS NOT NULL ORDER BY workload")
///     .await?;
/// let rows = datafusion::arrow::util::pretty::pretty_format_batches(&df.collect().await?)?;
/// // The floor (6 kJ) by reservation, the 6 kJ above it by CPU use, 1 : 3.
/// assert!(rows.to_string().contains("| a        | 4500000000 |"), "{rows}");
/// assert!(rows.to_string().contains("| b        | 7500000000 |"), "{rows}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register_settle(ctx: &SessionContext) {
    ctx.register_udtf(SETTLE, Arc::new(SettleFunction));
}

/// The table function behind [`SETTLE`].
#[derive(Debug)]
struct SettleFunction;

impl TableFunctionImpl for SettleFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(2..=3).contains(&exprs.len()) {
            return plan_err!(
                "{SETTLE}(batch, interval_s [, policy]) takes 2 or 3 arguments, got {}",
                exprs.len()
            );
        }
        let batch = text(&exprs[0], "batch")?;
        let interval_s = number(&exprs[1], "interval_s")?;
        let interval_ns = interval_s * 1e9;
        if !(interval_ns >= 1.0 && interval_ns < i64::MAX as f64) {
            return plan_err!("{SETTLE}: interval_s {interval_s}: not a positive length");
        }
        let policy = match exprs.get(2) {
            None => Policy::TwoPartTariff,
            Some(e) => {
                let name = text(e, "policy")?;
                Policy::from_name(&name).ok_or_else(|| {
                    let known: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
                    DataFusionError::Plan(format!(
                        "{SETTLE}: policy {name:?}: not one of {}",
                        known.join(", ")
                    ))
                })?
            }
        };
        Ok(Arc::new(Settlement {
            batch,
            interval_ns: interval_ns.round() as i64,
            policy,
        }))
    }
}

/// A string literal argument.
fn text(e: &Expr, what: &str) -> Result<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => {
            Ok(s.clone())
        }
        other => plan_err!("{SETTLE}: {what} must be a string literal, got {other}"),
    }
}

/// A numeric literal argument.
fn number(e: &Expr, what: &str) -> Result<f64> {
    let v = match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int64(Some(x)) => Some(*x as f64),
            ScalarValue::Int32(Some(x)) => Some(f64::from(*x)),
            ScalarValue::Float64(Some(x)) => Some(*x),
            ScalarValue::Float32(Some(x)) => Some(f64::from(*x)),
            _ => None,
        },
        _ => None,
    };
    v.ok_or_else(|| DataFusionError::Plan(format!("{SETTLE}: {what} must be a number, got {e}")))
}

/// One call of the table function: which batch, on which grid, under which policy.
#[derive(Debug)]
struct Settlement {
    batch: String,
    interval_ns: i64,
    policy: Policy,
}

/// The schema of [`SETTLE_COLUMNS`].
fn output_schema() -> SchemaRef {
    let ts = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        )
    };
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        ts(SETTLE_COLUMNS[0]),
        ts(SETTLE_COLUMNS[1]),
        text(SETTLE_COLUMNS[2], false),
        text(SETTLE_COLUMNS[3], true),
        text(SETTLE_COLUMNS[4], true),
        int(SETTLE_COLUMNS[5]),
        int(SETTLE_COLUMNS[6]),
        int(SETTLE_COLUMNS[7]),
        int(SETTLE_COLUMNS[8]),
        text(SETTLE_COLUMNS[9], false),
    ]))
}

#[async_trait]
impl TableProvider for Settlement {
    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return exec_err!("{SETTLE}: runs in a local DataFusion session only");
        };
        let ctx = SessionContext::new_with_state(state.clone());
        let input = ctx
            .table(self.batch.as_str())
            .await
            .map_err(|e| DataFusionError::Plan(format!("{SETTLE}: batch {:?}: {e}", self.batch)))?
            .collect()
            .await?;
        let intervals = read_batch(&input, &self.batch)?;
        let batch = self.settle_all(&intervals)?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], output_schema(), projection.cloned())?;
        Ok(exec)
    }
}

/// A meter's row values in one interval.
#[derive(Debug, Clone, PartialEq)]
struct MeterAt {
    energy_j: f64,
    sigma_j: f64,
    idle_w: f64,
    cores: f64,
    dynamic_w: f64,
    /// Workload, reservation, CPU seconds (NaN: unknown).
    consumers: Vec<(String, f64, f64)>,
}

/// Interval start (ns) → meter → its values.
type Intervals = BTreeMap<i64, BTreeMap<String, MeterAt>>;

/// A column of the batch cast to `to`, or a planning error naming it.
fn column(b: &RecordBatch, name: &str, to: &DataType, batch: &str) -> Result<Option<ArrayRef>> {
    let Some(c) = b.column_by_name(name) else {
        return Ok(None);
    };
    cast(c, to).map(Some).map_err(|e| {
        DataFusionError::Plan(format!(
            "{SETTLE}: batch {batch:?}: column {name} ({}) is not {to}: {e}",
            c.data_type()
        ))
    })
}

/// The batch's rows grouped by interval and meter, each checked.
fn read_batch(batches: &[RecordBatch], batch: &str) -> Result<Intervals> {
    let f64s = DataType::Float64;
    let mut out = Intervals::new();
    for b in batches {
        let need = |name: &str, to: &DataType| {
            column(b, name, to, batch)?.ok_or_else(|| {
                DataFusionError::Plan(format!("{SETTLE}: batch {batch:?} has no column {name}"))
            })
        };
        let meter = need("meter", &DataType::Utf8)?;
        let start = need(
            "interval_start",
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
        )?;
        let floats: Vec<ArrayRef> = [
            "energy_j",
            "idle_w",
            "cores",
            "dynamic_w",
            "reservation",
            "cpu_s",
        ]
        .into_iter()
        .map(|n| need(n, &f64s))
        .collect::<Result<_>>()?;
        let workload = need("workload", &DataType::Utf8)?;
        let sigma = column(b, "sigma_j", &f64s, batch)?;
        let meter = meter.as_string::<i32>();
        let start = start.as_primitive::<TimestampNanosecondType>();
        let workload = workload.as_string::<i32>();
        let f: Vec<&Float64Array> = floats
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let sigma = sigma.as_ref().map(|a| a.as_primitive::<Float64Type>());
        for r in 0..b.num_rows() {
            let at = |what: &str| format!("{SETTLE}: batch {batch:?} row {r}: {what}");
            if meter.is_null(r) || start.is_null(r) {
                return exec_err!("{}", at("meter and interval_start are required"));
            }
            let value = |a: &Float64Array, name: &str| -> Result<f64> {
                if a.is_null(r) {
                    return exec_err!("{}", at(&format!("{name} is null")));
                }
                Ok(a.value(r))
            };
            let m = MeterAt {
                energy_j: value(f[0], "energy_j")?,
                sigma_j: sigma.map_or(Ok(0.0), |s| value(s, "sigma_j"))?,
                idle_w: value(f[1], "idle_w")?,
                cores: value(f[2], "cores")?,
                dynamic_w: value(f[3], "dynamic_w")?,
                consumers: Vec::new(),
            };
            check_meter(&m).map_err(|why| DataFusionError::Execution(at(&why)))?;
            let name = meter.value(r).to_string();
            let slot = out.entry(start.value(r)).or_default();
            let held = slot.entry(name.clone()).or_insert_with(|| m.clone());
            if (
                held.energy_j,
                held.sigma_j,
                held.idle_w,
                held.cores,
                held.dynamic_w,
            ) != (m.energy_j, m.sigma_j, m.idle_w, m.cores, m.dynamic_w)
            {
                return exec_err!(
                    "{}",
                    at(&format!(
                        "meter {name}: its columns differ from an earlier row of the same interval"
                    ))
                );
            }
            if workload.is_null(r) {
                continue;
            }
            let reservation = value(f[4], "reservation")?;
            if !(0.0..=1.0).contains(&reservation) {
                return exec_err!(
                    "{}",
                    at(&format!("reservation {reservation}: not in [0, 1]"))
                );
            }
            let cpu_s = if f[5].is_null(r) {
                f64::NAN
            } else {
                f[5].value(r)
            };
            if cpu_s < 0.0 || cpu_s.is_infinite() {
                return exec_err!("{}", at(&format!("cpu_s {cpu_s}: not a usage")));
            }
            held.consumers
                .push((workload.value(r).to_string(), reservation, cpu_s));
        }
    }
    Ok(out)
}

/// Why a meter's values cannot be settled, if they cannot.
fn check_meter(m: &MeterAt) -> std::result::Result<(), String> {
    let checks = [
        ("energy_j", m.energy_j, false),
        ("sigma_j", m.sigma_j, false),
        ("idle_w", m.idle_w, false),
        ("cores", m.cores, true),
        ("dynamic_w", m.dynamic_w, false),
    ];
    for (name, v, positive) in checks {
        if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
            let want = if positive { "positive" } else { "≥ 0" };
            return Err(format!("{name} {v}: not finite and {want}"));
        }
    }
    Ok(())
}

impl Settlement {
    /// Settles every interval of the batch and returns the rows of all of them.
    fn settle_all(&self, intervals: &Intervals) -> Result<RecordBatch> {
        let opts = LedgerOptions::default().with_policy(self.policy);
        let mut rows = Rows::default();
        for (&start, meters) in intervals {
            let input = self.input(start, meters)?;
            let ledger = settle(&input, &opts).map_err(|e| {
                DataFusionError::Execution(format!(
                    "{SETTLE}: interval {}: {e}",
                    Timestamp::from_nanos(start).to_rfc3339()
                ))
            })?;
            rows.push(
                start,
                start.saturating_add(self.interval_ns),
                &ledger,
                self.policy,
            )?;
        }
        rows.finish()
    }

    /// One interval's ledger input.
    fn input(&self, start: i64, meters: &BTreeMap<String, MeterAt>) -> Result<LedgerInput> {
        let id = |s: &str| {
            EntityId::new(s)
                .map_err(|e| DataFusionError::Execution(format!("{SETTLE}: {s:?}: {e}")))
        };
        let mut workloads: Vec<EntityId> = Vec::new();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut input = Vec::with_capacity(meters.len());
        for (meter, m) in meters {
            let mut consumers = Vec::with_capacity(m.consumers.len());
            for (w, reservation, cpu_s) in &m.consumers {
                let k = match index.get(w.as_str()) {
                    Some(k) => *k,
                    None => {
                        workloads.push(id(w)?);
                        index.insert(w, workloads.len() - 1);
                        workloads.len() - 1
                    }
                };
                consumers.push(Consumer {
                    workload: k,
                    reservation: *reservation,
                    usage: vec![vec![*cpu_s]],
                    signature: None,
                });
            }
            input.push(MeterInput {
                meter: id(meter)?,
                energy_j: vec![m.energy_j],
                sigma_j: Some(vec![m.sigma_j]),
                rel_sigma: 0.0,
                idle_w: vec![m.idle_w],
                idle_sigma_w: 0.0,
                resources: vec![MeterResource {
                    resource: Resource::Cpu,
                    capacity: m.cores,
                    curve: KeyCurve::Linear {
                        watts_at_full: m.dynamic_w,
                    },
                }],
                consumers,
                system: None,
                key_rel_sigma: 0.0,
            });
        }
        Ok(LedgerInput {
            start: Timestamp::from_nanos(start),
            interval_ns: self.interval_ns,
            workloads,
            meters: input,
        })
    }
}

/// The result's columns as they are built.
#[derive(Default)]
struct Rows {
    start: Vec<i64>,
    end: Vec<i64>,
    meter: StringBuilder,
    workload: StringBuilder,
    account: StringBuilder,
    amounts: [Int64Builder; 4],
    policy: StringBuilder,
}

impl Rows {
    /// Adds every line and account of `ledger`'s sheets.
    fn push(&mut self, start: i64, end: i64, ledger: &Ledger, policy: Policy) -> Result<()> {
        for sheet in &ledger.meters {
            let lines = sheet
                .lines
                .iter()
                .map(|l| (Some(ledger.workloads[l.workload].as_str()), None, l.energy));
            let accounts = Account::ALL
                .iter()
                .zip(sheet.accounts)
                .map(|(a, amount)| (None, Some(a.name()), amount));
            for (workload, account, amount) in lines.chain(accounts) {
                self.start.push(start);
                self.end.push(end);
                self.meter.append_value(sheet.meter.as_str());
                self.workload.append_option(workload);
                self.account.append_option(account);
                let v = [amount.uj, amount.lo_uj, amount.hi_uj, sheet.measured.uj];
                for (b, v) in self.amounts.iter_mut().zip(v) {
                    let v = i64::try_from(v).map_err(|_| {
                        DataFusionError::Execution(format!(
                            "{SETTLE}: meter {}: {v} uJ in one interval does not fit a BIGINT",
                            sheet.meter
                        ))
                    })?;
                    b.append_value(v);
                }
                self.policy.append_value(policy.name());
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let ts = |v: Vec<i64>| -> ArrayRef {
            Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"))
        };
        let mut cols: Vec<ArrayRef> = vec![
            ts(std::mem::take(&mut self.start)),
            ts(std::mem::take(&mut self.end)),
            Arc::new(self.meter.finish()),
            Arc::new(self.workload.finish()),
            Arc::new(self.account.finish()),
        ];
        for b in &mut self.amounts {
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(self.policy.finish()));
        Ok(RecordBatch::try_new(output_schema(), cols)?)
    }
}
