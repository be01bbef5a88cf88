use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use kelvin::export::{ExportOptions, Names, export_bills};
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, feed, live_engine};

/// The committed datasets exported as sites, each under its directory name.
pub(crate) const SITES: [&str; 2] = ["edge-small", "enterprise-room"];

/// One stored series, as the engine holds it.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) site: String,
    pub(crate) entity: String,
    pub(crate) sensor: String,
    pub(crate) kind: String,
    pub(crate) ts: Vec<i64>,
    pub(crate) values: Vec<f64>,
}

/// The exported fleet and what the engines said about it.
#[derive(Debug)]
pub(crate) struct Fleet {
    /// The export root (`readings/`, `bills/`).
    pub(crate) root: PathBuf,
    /// Tenant → microjoules attributed to its workloads, over all sites, from the live books.
    pub(crate) tenant_uj: BTreeMap<String, i128>,
    /// Every stored series of every site.
    pub(crate) series: Vec<Series>,
}

pub(crate) fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-fleet-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(name)
}

/// Replays `site`'s dataset, exports it under `root`, and adds its book and series to `fleet`.
fn export_site(fleet: &mut Fleet, site: &str, work: &Path) {
    let ds = RecordedDataset::open(dataset(site)).unwrap();
    let opts = FeedOptions::default().with_data_dir(work);
    let mut engine = live_engine(&ds, &opts).unwrap();
    let book = feed(&ds, &mut engine, &opts).unwrap().json();
    let out = ExportOptions::new(&fleet.root, site);
    engine.export_readings(&out).unwrap();
    let closed = kelvin::read_closed(work, None).unwrap();
    let names = Names::of(&engine);
    export_bills(&closed, engine.interval_ns(), &names, &out).unwrap();

    let workloads = book["workloads"].as_object().unwrap();
    assert!(!workloads.is_empty(), "{site}: a book with workloads");
    for (w, uj) in workloads {
        let uj = i128::from(uj.as_u64().unwrap());
        *fleet
            .tenant_uj
            .entry(names.tenant(w).to_string())
            .or_default() += uj;
    }
    let store = engine.store();
    for (id, key) in store.series() {
        let data = store.scan(id, i64::MIN, i64::MAX).unwrap();
        fleet.series.push(Series {
            site: site.to_string(),
            entity: key.entity.to_string(),
            sensor: key.sensor.to_string(),
            kind: key.kind.as_str().to_string(),
            ts: data.ts.to_vec(),
            values: data.values.to_vec(),
        });
    }
}

/// The fleet, exported on first use (once per test run).
pub(crate) fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let dir = scratch("fleet");
        let mut fleet = Fleet {
            root: dir.join("export"),
            tenant_uj: BTreeMap::new(),
            series: Vec::new(),
        };
        for site in SITES {
            let work = dir.join(format!("data-{site}"));
            export_site(&mut fleet, site, &work);
            std::fs::remove_dir_all(&work).unwrap();
        }
        fleet
    })
}

/// A local context with Kelvin's functions and the fleet's tables.
pub(crate) async fn local_context() -> SessionContext {
    let ctx = SessionContext::new();
    kelvin_fleet::register_udfs(&ctx);
    kelvin_fleet::register_tables(&ctx, &fleet().root)
        .await
        .unwrap();
    ctx
}

/// Runs `sql` and returns its rows as display strings, sorted.
pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = strings(&batches);
    out.sort();
    out
}

/// Every row of `batches` as display strings.
pub(crate) fn strings(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let row = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect();
            out.push(row);
        }
    }
    out
}

/// The SQL of the per-tenant check.
pub(crate) const TENANT_SQL: &str = "SELECT tenant, sum(energy_uj) AS uj FROM bills \
     WHERE workload IS NOT NULL GROUP BY tenant";

/// The SQL of the per-series energy check.
pub(crate) const ENERGY_SQL: &str = "SELECT site, entity, sensor, kelvin_energy_j(ts, value) AS j, \
     count(*) AS n FROM readings WHERE kind = 'power' GROUP BY site, entity, sensor";
