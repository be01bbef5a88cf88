//! The agent put together from its configuration file: what `kelvin-agent --config FILE` runs.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::{self, AgentError};
use crate::config::{Config, read_secret};
use crate::export::FleetExporter;
use crate::http::{ApiAccess, Listener, serve, tls_config};
use crate::remote_write::RemoteWriter;
use crate::schedule::Scheduler;
use crate::scheduler::jobs::SlurmLink;
use crate::scheduler::{Endpoints, Extender, View};

fn io(place: impl Into<String>, e: std::io::Error) -> AgentError {
    AgentError::Io {
        place: place.into(),
        source: e,
    }
}

/// Loads `path` and runs the agent until the process is stopped. There is no shutdown
/// handshake: SIGTERM, SIGINT or SIGKILL end it, and nothing the engine acknowledged is lost
/// (its store's log and journal are crash-safe; the next start resumes them).
///
/// # Errors
/// [`AgentError`]: a configuration refused (with the key and reason), a port taken, the data
/// directory unusable.
pub fn run_file(path: &Path) -> Result<(), AgentError> {
    let cfg = Config::load(path)?;
    run(&cfg, Arc::new(std::sync::atomic::AtomicBool::new(false)))
}

/// Runs the agent of `cfg` until `stop` is set.
///
/// # Errors
/// As [`run_file`].
pub fn run(cfg: &Config, stop: Arc<std::sync::atomic::AtomicBool>) -> Result<(), AgentError> {
    let specs = cfg.sources()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| io(cfg.data_dir.display().to_string(), e))?;
    let inv = agent::inventory(cfg, &specs)?;
    let engine = agent::open_engine(cfg, inv)?;
    let sources = agent::make_sources(&specs, &cfg.data_dir)?;
    let remote = match &cfg.remote_write {
        Some(rw) => Some(Arc::new(
            RemoteWriter::open(rw, &cfg.data_dir.join("remote-write"))
                .map_err(|e| io("remote_write", std::io::Error::other(e.to_string())))?,
        )),
        None => None,
    };
    let health = Scheduler::new_health(specs.len());
    let mut state = agent::state(&specs, health, remote, &cfg.data_dir);
    state.stop = stop;
    state.export = cfg
        .export
        .as_ref()
        .map(|x| std::sync::Mutex::new(FleetExporter::new(x)));
    let endpoints = cfg.scheduler.as_ref().map(|sc| {
        let recent = Duration::from_secs(u64::from(sc.view_window_s));
        let view = View::from_engine(&engine, Some(recent)).unwrap_or_else(|e| {
            eprintln!("kelvin-agent: the scheduler starts with an empty fleet: {e}");
            View::from_problem(kelvin::placement::fleet::Problem::new(Vec::new()))
        });
        let ext = Arc::new(Extender::spawn(view));
        state.extender = Some((ext.clone(), recent));
        Arc::new(Endpoints::new(&sc.prefix, ext, sc.log_decisions))
    });
    let slurm = cfg
        .scheduler
        .as_ref()
        .and_then(|s| s.slurm.as_ref())
        .map(|sl| {
            let ext = state.extender.as_ref().map(|(e, _)| e.clone());
            SlurmLink::start(sl, &cfg.data_dir, &engine, ext, state.stop.clone())
        });
    let state = Arc::new(state);
    let main =
        TcpListener::bind(cfg.listen).map_err(|e| io(format!("listen {}", cfg.listen), e))?;
    let mut threads = Vec::new();
    let api_here = match (&cfg.api, cfg.listen.ip().is_loopback()) {
        (Some(_), _) => ApiAccess::Refused("the API is served on the [api] listener"),
        (None, true) => ApiAccess::Open,
        (None, false) => ApiAccess::Refused(
            "the bills API is not served on a non-loopback listener without TLS: configure [api] (tls_cert, tls_key, token_file)",
        ),
    };
    let l = Listener {
        state: state.clone(),
        api: api_here,
        tls: None,
        scheduler: endpoints.clone(),
    };
    threads.push(std::thread::spawn(move || serve(main, l)));
    if let Some(api) = &cfg.api {
        let tls = tls_config(&api.tls_cert, &api.tls_key)
            .map_err(|e| io("api.tls", std::io::Error::other(e)))?;
        let token = read_secret(&api.token_file)?;
        let sock = TcpListener::bind(api.listen)
            .map_err(|e| io(format!("api.listen {}", api.listen), e))?;
        let l = Listener {
            state: state.clone(),
            api: ApiAccess::Token(token),
            tls: Some(tls),
            scheduler: endpoints.clone(),
        };
        threads.push(std::thread::spawn(move || serve(sock, l)));
    }
    eprintln!(
        "kelvin-agent: listening on {} with {} sources, data in {}",
        cfg.listen,
        specs.len(),
        cfg.data_dir.display()
    );
    let rw = cfg
        .remote_write
        .as_ref()
        .map(|r| Duration::from_secs_f64(r.interval_s));
    let out = agent::run(
        engine,
        sources,
        cfg.workers,
        state.clone(),
        rw,
        f64::from(cfg.attribution_interval_s),
        slurm,
    );
    state.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    out
}
