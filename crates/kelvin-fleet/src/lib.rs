//! SQL over Kelvin's fleet export with [Apache DataFusion](https://datafusion.apache.org),
//! in this process or distributed on [Ballista](https://datafusion.apache.org/ballista/).
//!
//! The `kelvin` facade exports each site's readings and closed bills as Hive-partitioned
//! Parquet (`ROOT/{readings,bills}/site=SITE/date=YYYY-MM-DD/part-0.parquet`). This crate
//! opens that tree as two tables and adds the store's two time-series kernels as aggregate
//! functions, so a fleet's energy questions are one `GROUP BY`:
//!
//! * [`register_tables`]: the tables `readings` and `bills`, partitioned by `site` and `date`.
//! * [`register_udfs`]: `kelvin_energy_j(ts, watts)` ([`energy_j`], the exact integral of a
//!   power gauge, gaps left out) and `kelvin_increase(ts, counter)` ([`increase`], a
//!   reset-corrected counter increase), both computed by `kelvin_store`'s own kernels and
//!   correct under any partitioning.
//! * [`register_settle`]: the table function `kelvin_settle(batch, interval_s [, policy])`,
//!   the ledger's settlement of a meter-interval batch (any table or view of the session),
//!   returning rows in the `bills` table's shape, conserved per meter and interval.
//! * A Ballista cluster with the same functions on every node: [`scheduler_config`] and
//!   [`start_scheduler`], [`executor_config`] and [`run_executor`], and a client from
//!   [`remote_context`].
//!
//! **Architecture Invariant:** this crate only reads the export's files; it never links a
//! `kelvin` engine (the settlement is `kelvin_attribution`'s own), and no Arrow or Parquet
//! type crosses between DataFusion (Arrow 59) and `kelvin_store` (its own Parquet writer):
//! the kernels see plain slices.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! kelvin_fleet::register_udfs(&ctx);
//! // 150 W rising to 390 W over a minute: 16,200 J.
//! let df = ctx
//!     .sql("SELECT kelvin_energy_j(ts, w) FROM (VALUES (0, 150.0), (60000000000, 390.0)) AS t(ts, w)")
//!     .await?;
//! let batches = df.collect().await?;
//! let j = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Float64Array>();
//! assert_eq!(j.unwrap().value(0), 16_200.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;

mod cluster;
mod settle;
mod tables;
mod udaf;

pub use cluster::{
    Scheduler, executor_config, function_registry, remote_context, run_executor, scheduler_config,
    session_builder, start_scheduler,
};
pub use settle::{SETTLE, SETTLE_COLUMNS, register_settle};
pub use tables::{PARTITION_COLUMNS, TABLES, register_tables};
pub use udaf::{ENERGY_J, INCREASE, energy_j, increase};

/// Kelvin's aggregate functions, [`energy_j`] and [`increase`], for a `FunctionRegistry` or a
/// `SessionStateBuilder` (`with_aggregate_functions` *replaces* the built-in ones: register
/// these after `build()` instead, as [`session_builder`] does).
///
/// ```
/// let names: Vec<String> = kelvin_fleet::udafs().iter().map(|f| f.name().to_string()).collect();
/// assert_eq!(names, ["kelvin_energy_j", "kelvin_increase"]);
/// ```
pub fn udafs() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(energy_j()), Arc::new(increase())]
}

/// Registers Kelvin's aggregate functions ([`udafs`]) on `ctx`, replacing any of the same
/// name.
///
/// ```
/// use datafusion::execution::FunctionRegistry;
///
/// let ctx = datafusion::prelude::SessionContext::new();
/// kelvin_fleet::register_udfs(&ctx);
/// assert!(ctx.udaf("kelvin_energy_j").is_ok());
/// ```
pub fn register_udfs(ctx: &SessionContext) {
    for udaf in udafs() {
        ctx.register_udaf(Arc::unwrap_or_clone(udaf));
    }
}
