//! Kelvin's functions on a Ballista cluster: the scheduler's session builder, the executors'
//! function registry, processes started with them, and a client context.
//!
//! Ballista sends functions by name: the client plans SQL with its own registry, the
//! scheduler decodes the logical plan with the session state its builder makes, and each
//! executor decodes its physical plan with its function registry. All three need Kelvin's
//! aggregates, which is what [`session_builder`], [`function_registry`] and
//! [`remote_context`] install.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};
use tokio::task::JoinHandle;

use crate::{register_tables, register_udfs, udafs};

/// The scheduler's session state for a job: Ballista's default (its optimizer rules and
/// DataFusion's functions) with Kelvin's aggregates registered. It is what
/// [`scheduler_config`] installs as `override_session_builder`.
///
/// # Errors
/// When the runtime environment cannot be built.
///
/// ```
/// let state = kelvin_fleet::session_builder(datafusion::prelude::SessionConfig::new())?;
/// assert!(state.aggregate_functions().contains_key("kelvin_energy_j"));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
pub fn session_builder(config: SessionConfig) -> Result<SessionState> {
    let mut state = default_session_builder(config)?;
    for udaf in udafs() {
        state.register_udaf(udaf)?;
    }
    Ok(state)
}

/// An executor's function registry: DataFusion's built-in functions and Kelvin's aggregates.
///
/// ```
/// let registry = kelvin_fleet::function_registry();
/// assert!(registry.aggregate_functions.contains_key("kelvin_increase"));
/// assert!(registry.aggregate_functions.contains_key("sum"));
/// ```
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for udaf in udafs() {
        registry
            .aggregate_functions
            .insert(udaf.name().to_string(), udaf);
    }
    registry
}

/// A scheduler serving gRPC (and executors' results through its Flight proxy routes) on
/// `listen`, with [`session_builder`] for its sessions. Other fields keep Ballista's
/// defaults (push-staged scheduling, in-memory cluster state); adjust them on the returned
/// value. `listen` needs a fixed port: the port is also the scheduler's advertised endpoint.
///
/// ```
/// let cfg = kelvin_fleet::scheduler_config("127.0.0.1:50050".parse()?);
/// assert_eq!(cfg.bind_port, 50050);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn scheduler_config(listen: SocketAddr) -> SchedulerConfig {
    SchedulerConfig {
        bind_host: listen.ip().to_string(),
        bind_port: listen.port(),
        external_host: listen.ip().to_string(),
        override_session_builder: Some(Arc::new(session_builder)),
        ..SchedulerConfig::default()
    }
}

/// An executor that registers with the scheduler at `scheduler`, serves Arrow Flight (task
/// results, shuffle reads) on `listen` and its gRPC task service on the next port
/// (`listen.port() + 1`), keeps shuffle files in `work_dir`, runs one task at a time per
/// core of this machine, and decodes plans with [`function_registry`].
///
/// Both ports must be fixed (not 0): they are what the executor registers. Other fields keep
/// Ballista's defaults; adjust them on the returned value.
///
/// ```
/// let cfg = kelvin_fleet::executor_config(
///     "127.0.0.1:50050".parse()?,
///     "127.0.0.1:50051".parse()?,
///     std::path::Path::new("/tmp/kelvin-executor"),
/// );
/// assert_eq!((cfg.port, cfg.grpc_port), (50051, 50052));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn executor_config(
    scheduler: SocketAddr,
    listen: SocketAddr,
    work_dir: &Path,
) -> ExecutorProcessConfig {
    ExecutorProcessConfig {
        bind_host: listen.ip().to_string(),
        external_host: Some(listen.ip().to_string()),
        port: listen.port(),
        grpc_port: listen.port().wrapping_add(1),
        scheduler_host: scheduler.ip().to_string(),
        scheduler_port: scheduler.port(),
        scheduler_connect_timeout_seconds: 30,
        work_dir: Some(work_dir.display().to_string()),
        override_function_registry: Some(Arc::new(function_registry())),
        ..ExecutorProcessConfig::default()
    }
}

/// A scheduler running on the current tokio runtime: [`start_scheduler`].
pub struct Scheduler {
    cluster: BallistaCluster,
    server: JoinHandle<Result<()>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("running", &!self.server.is_finished())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// The ids of the executors registered with this scheduler.
    ///
    /// ```no_run
    /// # async fn f(s: kelvin_fleet::Scheduler) {
    /// println!("{} executors", s.executors().await.len());
    /// # }
    /// ```
    pub async fn executors(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .cluster
            .cluster_state()
            .registered_executor_metadata()
            .await
            .into_iter()
            .map(|m| m.id)
            .collect();
        ids.sort();
        ids
    }

    /// Waits for the server to stop, which it does only on an error (a port in use, …).
    ///
    /// # Errors
    /// The server's error, or a join error when its task panicked or was aborted.
    ///
    /// ```no_run
    /// # async fn f() -> datafusion::error::Result<()> {
    /// let cfg = kelvin_fleet::scheduler_config("127.0.0.1:50050".parse().unwrap());
    /// kelvin_fleet::start_scheduler(cfg).await?.wait().await
    /// # }
    /// ```
    pub async fn wait(self) -> Result<()> {
        self.server
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)).context("scheduler task"))?
    }

    /// Stops the server.
    pub fn abort(&self) {
        self.server.abort();
    }
}

/// Starts a Ballista scheduler with `config` (see [`scheduler_config`]) as a task on the
/// current tokio runtime and returns at once; the server binds its port in that task.
///
/// # Errors
/// When the configuration does not validate.
///
/// ```no_run
/// # async fn f() -> datafusion::error::Result<()> {
/// let scheduler = kelvin_fleet::start_scheduler(
///     kelvin_fleet::scheduler_config("127.0.0.1:50050".parse().unwrap()),
/// ).await?;
/// scheduler.wait().await
/// # }
/// ```
pub async fn start_scheduler(config: SchedulerConfig) -> Result<Scheduler> {
    config.validate().map_err(ballista_error)?;
    let addr: SocketAddr = format!("{}:{}", config.bind_host, config.bind_port)
        .parse()
        .map_err(|e| DataFusionError::External(Box::new(e)).context("scheduler bind address"))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error)?;
    let server = tokio::spawn({
        let cluster = cluster.clone();
        async move {
            start_server(cluster, addr, Arc::new(config))
                .await
                .map_err(|e| ballista_error(e).context(format!("scheduler on {addr}")))
        }
    });
    Ok(Scheduler { cluster, server })
}

/// Runs a Ballista executor with `config` (see [`executor_config`]) until it is told to stop
/// (Ctrl-C, or a stop request from the scheduler).
///
/// # Errors
/// When the scheduler cannot be reached within the configured timeout or a port cannot be
/// bound.
///
/// ```no_run
/// # async fn f() -> datafusion::error::Result<()> {
/// let cfg = kelvin_fleet::executor_config(
///     "127.0.0.1:50050".parse().unwrap(),
///     "127.0.0.1:50051".parse().unwrap(),
///     std::path::Path::new("/tmp/kelvin-executor"),
/// );
/// kelvin_fleet::run_executor(cfg).await
/// # }
/// ```
pub async fn run_executor(config: ExecutorProcessConfig) -> Result<()> {
    let listen = format!("{}:{}", config.bind_host, config.port);
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_error(e).context(format!("executor on {listen}")))
}

/// A client context that runs its queries on the Ballista scheduler at `scheduler`
/// (`HOST:PORT`), with Kelvin's aggregates ([`register_udfs`]) and the fleet export under
/// `root` ([`register_tables`]) registered. The executors read the tables' files by the same
/// absolute paths, so they must share this machine's filesystem (or a mount at that path).
///
/// # Errors
/// Those of [`register_tables`], or when `scheduler` is not a valid address. The scheduler
/// is first contacted by the first query.
///
/// ```no_run
/// # async fn f() -> datafusion::error::Result<()> {
/// let ctx = kelvin_fleet::remote_context("127.0.0.1:50050", std::path::Path::new("/data/fleet")).await?;
/// ctx.sql("SELECT tenant, sum(energy_uj) FROM bills GROUP BY tenant").await?.show().await?;
/// # Ok(())
/// # }
/// ```
pub async fn remote_context(scheduler: &str, root: &Path) -> Result<SessionContext> {
    let ctx = SessionContext::remote(&format!("df://{scheduler}"))
        .await
        .map_err(|e| {
            e.context(format!(
                "connecting to the Ballista scheduler at {scheduler}"
            ))
        })?;
    register_udfs(&ctx);
    register_tables(&ctx, root).await?;
    Ok(ctx)
}

fn ballista_error(e: ballista_core::error::BallistaError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
