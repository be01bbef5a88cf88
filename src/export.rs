//! A site's readings and bills as Hive-partitioned Parquet, the fleet layout that DataFusion,
//! Polars, DuckDB and Spark open as two tables:
//!
//! ```text
//! ROOT/readings/site=SITE/date=YYYY-MM-DD/part-0.parquet
//! ROOT/bills/site=SITE/date=YYYY-MM-DD/part-0.parquet
//! ```
//!
//! One file per table, site and UTC day, written whole and renamed into place, so exporting a
//! day again replaces it atomically and an export can be repeated (or resumed from a day on,
//! [`ExportOptions::since`]) without duplicating a row. `site` and `date` are in the paths
//! only (Hive partition columns, read as strings). The schemas, with units in the column
//! names, are [`READINGS_COLUMNS`] and [`BILLS_COLUMNS`]; docs/fleet-data.md describes them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use kelvin_attribution::ledger::{Account, Amount, ClosedInterval};
use kelvin_model::{ErrorKind, ModelError, Place, Timestamp};
use kelvin_store::{Cells, FlatTable, ParquetOptions, TableColumn, write_table_file};

use crate::{Engine, Error};

/// The `readings` table's columns (after the partition columns `site` and `date`): the host the
/// entity belongs to (null when the inventory does not say), the entity, sensor, kind and
/// unit, the instant (`TIMESTAMP(NANOS, UTC)`), the value in that unit, and its quality (the
/// store keeps accepted values only: `good`).
pub const READINGS_COLUMNS: [&str; 8] = [
    "host", "entity", "sensor", "kind", "unit", "ts", "value", "quality",
];

/// The `bills` table's columns (after `site` and `date`), one row per ledger line of a closed
/// interval: its start and end, the meter's host, the meter and its provenance, then either
/// a workload and its tenant (account null) or an account (`idle`, `system`, `unexplained`;
/// workload and tenant null), and the energy in microjoules with its interval's bounds.
pub const BILLS_COLUMNS: [&str; 12] = [
    "interval_start",
    "interval_end",
    "host",
    "meter",
    "provenance",
    "workload",
    "tenant",
    "account",
    "energy_uj",
    "lo_uj",
    "hi_uj",
    "measured_uj",
];

/// Where a meter and a workload belong: a meter's host, a workload's tenant.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Meter → host (a host's own meter is itself; a GPU's is its host).
    pub host_of_meter: HashMap<String, String>,
    /// Workload → tenant.
    pub tenant_of: HashMap<String, String>,
}

impl Names {
    /// From the engine's inventory and the host and workload runs it remembers.
    pub fn of(engine: &Engine) -> Names {
        let inv = engine.inventory();
        let mut n = Names::default();
        for h in &inv.hosts {
            n.host_of_meter.insert(h.id.to_string(), h.id.to_string());
        }
        for c in &inv.components {
            n.host_of_meter.insert(c.id.to_string(), c.host.to_string());
        }
        for s in engine.host_spans() {
            n.host_of_meter
                .insert(s.host.id.to_string(), s.host.id.to_string());
        }
        for w in &inv.workloads {
            n.tenant_of.insert(w.id.to_string(), w.tenant.clone());
        }
        for s in engine.workload_spans() {
            n.tenant_of.insert(s.workload.to_string(), s.tenant.clone());
        }
        n
    }

    /// A meter's host: itself when the inventory does not say.
    pub fn host<'a>(&'a self, meter: &'a str) -> &'a str {
        self.host_of_meter.get(meter).map_or(meter, |h| h.as_str())
    }

    /// A workload's tenant, `""` when unknown.
    pub fn tenant(&self, workload: &str) -> &str {
        self.tenant_of.get(workload).map_or("", |t| t.as_str())
    }
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The partition root.
    pub root: PathBuf,
    /// The site's name, its `site=` partition: letters, digits, `.`, `_` and `-`.
    pub site: String,
    /// Only days from this instant's UTC day on are written (all when `None`): an incremental
    /// export rewrites the last day it wrote and the ones after.
    pub since: Option<Timestamp>,
    /// Compression and row groups.
    pub parquet: ParquetOptions,
}

impl ExportOptions {
    /// Every day of `site` under `root`, zstd level 3, row groups of 64 Ki rows.
    pub fn new(root: impl Into<PathBuf>, site: impl Into<String>) -> ExportOptions {
        ExportOptions {
            root: root.into(),
            site: site.into(),
            since: None,
            parquet: ParquetOptions::default(),
        }
    }

    /// Sets [`ExportOptions::since`].
    pub fn since(mut self, t: Timestamp) -> ExportOptions {
        self.since = Some(t);
        self
    }

    /// Checks the options before anything is written: the site must be a name that is safe
    /// as a `site=` directory (letters, digits, `.`, `_` and `-`, not starting with `.`).
    ///
    /// ```
    /// use kelvin::export::ExportOptions;
    ///
    /// assert!(ExportOptions::new("/tmp/fleet", "dc-east.1").check().is_ok());
    /// assert!(ExportOptions::new("/tmp/fleet", "../etc").check().is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Model`] naming `site` and why.
    pub fn check(&self) -> Result<(), Error> {
        let ok = !self.site.is_empty()
            && !self.site.starts_with('.')
            && self
                .site
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(())
        } else {
            Err(invalid(
                "site",
                format!(
                    "{:?}: a site is letters, digits, '.', '_' and '-', not starting with '.'",
                    self.site
                ),
            ))
        }
    }

    fn path(&self, table: &str, date: &str) -> PathBuf {
        self.root
            .join(table)
            .join(format!("site={}", self.site))
            .join(format!("date={date}"))
            .join("part-0.parquet")
    }

    fn wanted(&self, date: &str) -> bool {
        self.since
            .is_none_or(|t| date >= utc_date(t.as_nanos()).as_str())
    }
}

/// One partition file written.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// `readings` or `bills`.
    pub table: &'static str,
    /// Its UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// The file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What [`Engine::export_site`] wrote: the partitions of each table, in date order.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SiteExport {
    /// The `readings` partitions.
    pub readings: Vec<Partition>,
    /// The `bills` partitions.
    pub bills: Vec<Partition>,
}

impl SiteExport {
    /// Rows written to `readings`.
    pub fn reading_rows(&self) -> u64 {
        self.readings.iter().map(|p| p.rows).sum()
    }

    /// Rows written to `bills`.
    pub fn bill_rows(&self) -> u64 {
        self.bills.iter().map(|p| p.rows).sum()
    }

    /// Bytes on disk of every partition written.
    pub fn bytes(&self) -> u64 {
        self.readings
            .iter()
            .chain(&self.bills)
            .map(|p| p.bytes)
            .sum()
    }
}

fn invalid(field: &str, reason: String) -> Error {
    Error::Model(ModelError::new(
        ErrorKind::InvalidInput,
        Place::field(field),
        reason,
    ))
}

/// The UTC day of an instant, `YYYY-MM-DD`.
fn utc_date(ns: i64) -> String {
    let text = Timestamp::from_nanos(ns).to_rfc3339();
    text.get(..10).unwrap_or(&text).to_string()
}

fn write(
    opts: &ExportOptions,
    table: &'static str,
    date: String,
    columns: Vec<TableColumn>,
) -> Result<Partition, Error> {
    let t = FlatTable {
        name: table.into(),
        columns,
        metadata: vec![
            ("kelvin.table".into(), table.into()),
            ("kelvin.site".into(), opts.site.clone()),
            ("kelvin.date".into(), date.clone()),
        ],
    };
    let path = opts.path(table, &date);
    let s = write_table_file(&path, &t, &opts.parquet)?;
    Ok(Partition {
        table,
        date,
        path,
        rows: s.rows,
        bytes: s.bytes,
    })
}

/// Distinct strings of a column and each row's index into them.
#[derive(Default)]
struct Dict {
    values: Vec<String>,
    index: HashMap<String, u32>,
    keys: Vec<Option<u32>>,
}

impl Dict {
    /// The index of `v`, added when new.
    fn key(&mut self, v: &str) -> u32 {
        if let Some(k) = self.index.get(v) {
            return *k;
        }
        let k = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(v.to_string());
        self.index.insert(v.to_string(), k);
        k
    }

    /// Appends `n` rows holding `v` (null when `None`).
    fn push_n(&mut self, v: Option<&str>, n: usize) {
        let k = v.map(|v| self.key(v));
        self.keys.extend(std::iter::repeat_n(k, n));
    }

    fn column(self, name: &str) -> TableColumn {
        TableColumn {
            name: name.into(),
            cells: Cells::Dict(self.values, self.keys),
        }
    }
}

/// The rows of one day of the `readings` table, column by column: host, entity, sensor, kind
/// and unit as dictionaries (a series' rows repeat them).
#[derive(Default)]
struct ReadingRows {
    text: [Dict; 5],
    ts: Vec<Option<i64>>,
    value: Vec<Option<f64>>,
}

impl ReadingRows {
    /// One series' samples of the day.
    fn push(&mut self, key: [Option<&str>; 5], ts: &[i64], values: &[f64]) {
        for (d, v) in self.text.iter_mut().zip(key) {
            d.push_n(v, ts.len());
        }
        self.ts.extend(ts.iter().map(|t| Some(*t)));
        self.value.extend(values.iter().map(|v| Some(*v)));
    }

    fn columns(self) -> Vec<TableColumn> {
        let n = self.ts.len();
        let mut cols: Vec<TableColumn> = self
            .text
            .into_iter()
            .zip(&READINGS_COLUMNS[..5])
            .map(|(d, name)| d.column(name))
            .collect();
        let (t, v, q) = (
            READINGS_COLUMNS[5],
            READINGS_COLUMNS[6],
            READINGS_COLUMNS[7],
        );
        cols.push(TableColumn {
            name: t.into(),
            cells: Cells::TimestampNs(self.ts),
        });
        cols.push(TableColumn {
            name: v.into(),
            cells: Cells::Float(self.value),
        });
        cols.push(TableColumn {
            name: q.into(),
            cells: Cells::Dict(vec!["good".into()], vec![Some(0); n]),
        });
        cols
    }
}

impl Engine {
    /// Writes the engine's stored readings as the `readings` table of the fleet layout, one
    /// partition per UTC day (from [`ExportOptions::since`]'s day on), and returns the
    /// partitions in date order. A reading's host is its entity's: the entity itself for a
    /// host, a component's or a workload's host from the inventory, else null.
    ///
    /// ```
    /// use kelvin::{Batch, Engine, dataset::RecordedDataset, export::ExportOptions};
    ///
    /// let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/edge-small"))?;
    /// let mut engine = Engine::builder().inventory(ds.inventory.clone()).build()?;
    /// engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
    /// let root = std::env::temp_dir().join(format!("kelvin-doc-export-{}", std::process::id()));
    /// let parts = engine.export_readings(&ExportOptions::new(&root, "edge-small"))?;
    /// assert!(parts[0].path.ends_with("readings/site=edge-small/date=2026-11-02/part-0.parquet"));
    /// # std::fs::remove_dir_all(&root)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Model`] for a site name that is not one; [`Error::Store`] when a series cannot
    /// be read or a file cannot be written.
    pub fn export_readings(&self, opts: &ExportOptions) -> Result<Vec<Partition>, Error> {
        opts.check()?;
        let inv = self.inventory();
        let mut host_of: HashMap<&str, &str> = HashMap::new();
        for h in &inv.hosts {
            host_of.insert(h.id.as_str(), h.id.as_str());
        }
        for c in &inv.components {
            host_of.insert(c.id.as_str(), c.host.as_str());
        }
        for w in &inv.workloads {
            if let Some(h) = &w.host {
                host_of.insert(w.id.as_str(), h.as_str());
            }
        }
        let from = opts.since.map_or(i64::MIN, |t| day_start(t.as_nanos()));
        let store = self.store();
        let mut days: BTreeMap<String, ReadingRows> = BTreeMap::new();
        for (id, key) in store.series() {
            let data = store.scan(id, from, i64::MAX)?;
            let host = host_of.get(key.entity.as_str()).copied();
            let text = [
                host,
                Some(key.entity.as_str()),
                Some(key.sensor.as_str()),
                Some(key.kind.as_str()),
                Some(key.kind.unit().symbol()),
            ];
            // The series' samples split at UTC day boundaries.
            let mut a = 0;
            while a < data.ts.len() {
                let end = day_start(data.ts[a]).saturating_add(DAY_NS);
                let b = a + data.ts[a..].partition_point(|t| *t < end);
                let day = days.entry(utc_date(data.ts[a])).or_default();
                day.push(text, &data.ts[a..b], &data.values[a..b]);
                a = b;
            }
        }
        days.into_iter()
            .filter(|(d, _)| opts.wanted(d))
            .map(|(date, rows)| write(opts, "readings", date, rows.columns()))
            .collect()
    }
}

impl Engine {
    /// Writes the site's two tables of the fleet layout from [`ExportOptions::since`]'s UTC
    /// day on: its stored readings ([`Engine::export_readings`]) and the bills of the closed
    /// intervals its book holds ([`export_bills`] of [`read_closed`](crate::read_closed), as
    /// acknowledged in the engine's data directory, each as last restated). Only the
    /// intervals of the days written are read into memory.
    ///
    /// ```
    /// use kelvin::{Batch, Engine, LiveOptions, dataset::RecordedDataset, export::ExportOptions};
    ///
    /// let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/edge-small"))?;
    /// let dir = std::env::temp_dir().join(format!("kelvin-doc-site-{}", std::process::id()));
    /// let mut engine = Engine::builder()
    ///     .inventory(ds.inventory.clone())
    ///     .live(LiveOptions::default().with_sync(false))
    ///     .data_dir(dir.join("engine"))
    ///     .build()?;
    /// engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
    /// engine.commit()?;
    /// engine.finish()?;
    /// let out = engine.export_site(&ExportOptions::new(dir.join("fleet"), "edge-small"))?;
    /// assert!(out.reading_rows() > 0 && out.bill_rows() > 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Model`] for a site name that is not one, or an engine without a data
    /// directory (it keeps no book on disk); as [`Engine::export_readings`],
    /// [`read_closed`](crate::read_closed) and [`export_bills`].
    pub fn export_site(&self, opts: &ExportOptions) -> Result<SiteExport, Error> {
        opts.check()?;
        let Some(dir) = self.data_dir.as_deref() else {
            return Err(invalid(
                "data_dir",
                "an engine without a data directory keeps no book to export".to_owned(),
            ));
        };
        let readings = self.export_readings(opts)?;
        let window = match opts.since {
            Some(t) => Some(kelvin_model::TimeRange::try_new(
                Timestamp::from_nanos(day_start(t.as_nanos())),
                Timestamp::from_nanos(i64::MAX),
            )?),
            None => None,
        };
        let closed = crate::read_closed(dir, window)?;
        let bills = export_bills(&closed, self.interval_ns(), &Names::of(self), opts)?;
        Ok(SiteExport { readings, bills })
    }
}

const DAY_NS: i64 = 86_400 * Timestamp::NANOS_PER_SEC;

/// Nanoseconds of the start of the UTC day holding `ns`.
fn day_start(ns: i64) -> i64 {
    ns.div_euclid(DAY_NS) * DAY_NS
}

/// The rows of one day of the `bills` table, column by column.
#[derive(Default)]
struct BillRows {
    start: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    text: [Dict; 6],
    amounts: [Vec<Option<i64>>; 4],
}

impl BillRows {
    /// One line: host, meter, provenance, workload, tenant, account; the amount; the sheet's
    /// measured energy.
    fn push(&mut self, span: (i64, i64), text: [Option<&str>; 6], a: Amount, measured: u64) {
        self.start.push(Some(span.0));
        self.end.push(Some(span.1));
        for (col, t) in self.text.iter_mut().zip(text) {
            col.push_n(t, 1);
        }
        let uj = |x: u64| Some(i64::try_from(x).unwrap_or(i64::MAX));
        for (col, x) in self
            .amounts
            .iter_mut()
            .zip([a.uj, a.lo_uj, a.hi_uj, measured])
        {
            col.push(uj(x));
        }
    }

    fn columns(self) -> Vec<TableColumn> {
        let ts = |v, name: &str| TableColumn {
            name: name.into(),
            cells: Cells::TimestampNs(v),
        };
        let mut cols = vec![
            ts(self.start, BILLS_COLUMNS[0]),
            ts(self.end, BILLS_COLUMNS[1]),
        ];
        for (d, name) in self.text.into_iter().zip(&BILLS_COLUMNS[2..8]) {
            cols.push(d.column(name));
        }
        for (v, name) in self.amounts.into_iter().zip(&BILLS_COLUMNS[8..]) {
            cols.push(TableColumn {
                name: (*name).into(),
                cells: Cells::Int(v),
            });
        }
        cols
    }
}

/// Writes closed intervals as the `bills` table of the fleet layout, one partition per UTC day
/// of the intervals' starts (from [`ExportOptions::since`]'s day on), and returns the
/// partitions in date order. Every workload line and every named account of every sheet is a
/// row, zero ones included, so the rows of a sheet sum to its `measured_uj` exactly.
/// `interval_ns` is the intervals' length; `names` gives meters' hosts and workloads'
/// tenants ([`Names::of`]). A day's intervals are the ones given: pass all of a day's, as
/// [`read_closed`](crate::read_closed) returns them.
///
/// # Errors
/// [`Error::Model`] for a site name that is not one or an interval length not positive;
/// [`Error::Store`] when a file cannot be written.
pub fn export_bills(
    intervals: &[ClosedInterval],
    interval_ns: i64,
    names: &Names,
    opts: &ExportOptions,
) -> Result<Vec<Partition>, Error> {
    opts.check()?;
    if interval_ns <= 0 {
        return Err(invalid(
            "interval_ns",
            format!("{interval_ns}: an interval is longer than 0 ns"),
        ));
    }
    let mut days: BTreeMap<String, BillRows> = BTreeMap::new();
    for c in intervals {
        let start = c.start.as_nanos();
        let date = utc_date(start);
        if !opts.wanted(&date) {
            continue;
        }
        let span = (start, start.saturating_add(interval_ns));
        let rows = days.entry(date).or_default();
        for s in &c.sheets {
            let host = names.host(&s.meter);
            let at = [Some(host), Some(&*s.meter), Some(&*s.provenance)];
            for (w, a) in &s.lines {
                let t = names.tenant(w);
                let row = [at[0], at[1], at[2], Some(&**w), Some(t), None];
                rows.push(span, row, *a, s.measured.uj);
            }
            for (acc, a) in Account::ALL.iter().zip(&s.accounts) {
                let row = [at[0], at[1], at[2], None, None, Some(acc.name())];
                rows.push(span, row, *a, s.measured.uj);
            }
        }
    }
    days.into_iter()
        .map(|(date, rows)| write(opts, "bills", date, rows.columns()))
        .collect()
}
