//! `[export]`: the engine's readings and closed bills written on a schedule as the fleet layout
//! (`ROOT/{readings,bills}/site=SITE/date=YYYY-MM-DD/part-0.parquet`, docs/fleet-data.md), so
//! a fleet of agents fills one partition tree that DataFusion, Ballista, Polars, DuckDB or
//! Spark query where it lies.
//!
//! Each run is incremental and idempotent: it rewrites, atomically, the UTC day of the newest
//! reading the previous run exported and every day after it. The first run after a start
//! writes every day the engine holds. A failed run is counted, logged and retried at the next
//! interval; nothing is lost, since the engine's store and journal still hold it all.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kelvin::Engine;
use kelvin::export::ExportOptions;
use kelvin::model::Timestamp;

use crate::config::ExportConfig;
use crate::exposition::Family;

/// What one run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Readings rows written (the days rewritten, whole).
    pub readings: u64,
    /// Bills rows written.
    pub bills: u64,
    /// Days of readings written.
    pub days: usize,
}

/// The schedule and the progress of the export.
#[derive(Debug)]
pub struct FleetExporter {
    root: PathBuf,
    site: String,
    every: Duration,
    last_run: Option<Instant>,
    /// The newest reading the last successful run exported: the next run starts at its day.
    since: Option<Timestamp>,
    runs: u64,
    failures: u64,
    rows: [u64; 2],
    last_success_s: Option<f64>,
}

impl FleetExporter {
    /// An exporter of `cfg` (for a durable engine: its book is read from the engine's data
    /// directory); its first run is due at once.
    pub fn new(cfg: &ExportConfig) -> FleetExporter {
        FleetExporter {
            root: cfg.root.clone(),
            site: cfg.site.clone(),
            every: Duration::from_secs_f64(cfg.interval_s),
            last_run: None,
            since: None,
            runs: 0,
            failures: 0,
            rows: [0, 0],
            last_success_s: None,
        }
    }

    /// Whether a run is due.
    pub fn due(&self) -> bool {
        self.last_run.is_none_or(|t| t.elapsed() >= self.every)
    }

    /// Exports what is new since the last successful run (everything, the first time).
    ///
    /// # Errors
    /// [`kelvin::Error`]: a series or the journal cannot be read, a file cannot be written. The
    /// failure is counted and the next run starts where this one should have.
    pub fn run(&mut self, engine: &Engine) -> Result<Exported, kelvin::Error> {
        self.last_run = Some(Instant::now());
        self.runs += 1;
        let newest = engine.data_span().map(|w| w.end());
        let out = self.export(engine);
        match &out {
            Ok(e) => {
                self.rows[0] += e.readings;
                self.rows[1] += e.bills;
                self.since = newest.or(self.since);
                self.last_success_s = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs_f64());
            }
            Err(_) => self.failures += 1,
        }
        out
    }

    fn export(&self, engine: &Engine) -> Result<Exported, kelvin::Error> {
        let mut opts = ExportOptions::new(&self.root, self.site.as_str());
        if let Some(t) = self.since {
            opts = opts.since(t);
        }
        let out = engine.export_site(&opts)?;
        Ok(Exported {
            readings: out.reading_rows(),
            bills: out.bill_rows(),
            days: out.readings.len(),
        })
    }

    /// The export's own metrics: runs and failures, rows written per table, and when the last
    /// run succeeded.
    pub fn families(&self) -> Vec<Family> {
        let mut runs = Family::counter(
            "kelvin_export_runs",
            "Scheduled fleet exports run, by result.",
            None,
        );
        runs.push(&[("result", "ok")], (self.runs - self.failures) as f64);
        runs.push(&[("result", "failed")], self.failures as f64);
        let mut rows = Family::counter(
            "kelvin_export_rows",
            "Rows written by the fleet export, by table (a rewritten day counts again).",
            None,
        );
        rows.push(&[("table", "readings")], self.rows[0] as f64);
        rows.push(&[("table", "bills")], self.rows[1] as f64);
        let mut last = Family::gauge(
            "kelvin_export_last_success_timestamp_seconds",
            "When the last fleet export succeeded.",
            Some("seconds"),
        );
        if let Some(t) = self.last_success_s {
            last.push(&[], t);
        }
        vec![runs, rows, last]
    }
}
