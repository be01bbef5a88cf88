//! `fleet`: export recorded datasets as a fleet, query it with SQL, locally or on Ballista.
//!
//! ```text
//! fleet export DATASET... --out ROOT
//! fleet query ROOT --sql SQL [--ballista HOST:PORT]
//! fleet scheduler [--listen ADDR]                     (default 127.0.0.1:50050)
//! fleet executor [--scheduler ADDR] [--listen ADDR]   (defaults 127.0.0.1:50050, 127.0.0.1:50051)
//! ```
//!
//! `export` replays each dataset directory into a live engine (its data directory a temporary
//! one, removed afterwards) and exports it as one site named after the directory; it prints
//! `exported site SITE: readings R rows, bills B rows`, then the replay's report per tenant,
//! `site SITE tenant TENANT energy_uj UJ` (what its book billed the tenant's workloads, which
//! `SELECT site, tenant, sum(energy_uj) FROM bills WHERE workload IS NOT NULL GROUP BY site,
//! tenant` gives back). `query`
//! prints the result as CSV (header first, timestamps RFC 3339). An executor serves Arrow
//! Flight on its `--listen` port and its gRPC task service on the next port, and keeps its
//! shuffle files in a temporary directory named after the port.
//!
//! ```sh
//! cargo run --release --manifest-path crates/kelvin-fleet/Cargo.toml --example fleet -- \
//!     export datasets/edge-small datasets/enterprise-room --out /tmp/fleet
//! cargo run --release --manifest-path crates/kelvin-fleet/Cargo.toml --example fleet -- \
//!     query /tmp/fleet --sql "SELECT tenant, sum(energy_uj) AS uj FROM bills GROUP BY tenant"
//! ```
//!
//! Usage errors exit with status 2, other errors with 1.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use kelvin::export::{ExportOptions, Names};
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, feed, live_engine};

const USAGE: &str = concat!(
    "usage:\n",
    "  fleet export DATASET... --out ROOT\n",
    "  fleet query ROOT --sql SQL [--ballista HOST:PORT]\n",
    "  fleet scheduler [--listen ADDR]\n",
    "  fleet executor [--scheduler ADDR] [--listen ADDR]",
);

type BoxError = Box<dyn Error + Send + Sync>;

/// A parsed command line.
enum Command {
    Export {
        datasets: Vec<PathBuf>,
        out: PathBuf,
    },
    Query {
        root: PathBuf,
        sql: String,
        ballista: Option<String>,
    },
    Scheduler {
        listen: SocketAddr,
    },
    Executor {
        scheduler: SocketAddr,
        listen: SocketAddr,
    },
}

/// Positional arguments and `--flag value` pairs, in order.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn split(args: &[String], known: &[&str]) -> Result<Args, String> {
        let (mut positional, mut flags) = (Vec::new(), Vec::new());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                if !known.contains(&name) {
                    return Err(format!("unknown option --{name}"));
                }
                let Some(v) = it.next() else {
                    return Err(format!("--{name} needs a value"));
                };
                if flags.iter().any(|(n, _)| n == name) {
                    return Err(format!("--{name} given twice"));
                }
                flags.push((name.to_string(), v.clone()));
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args { positional, flags })
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn addr(&self, name: &str, default: &str) -> Result<SocketAddr, String> {
        let v = self.flag(name).unwrap_or(default);
        v.parse()
            .map_err(|e| format!("--{name} {v}: not an IP:PORT address ({e})"))
    }
}

fn parse(argv: &[String]) -> Result<Command, String> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err("missing command".into());
    };
    match cmd.as_str() {
        "export" => {
            let a = Args::split(rest, &["out"])?;
            let out = a.flag("out").ok_or("export needs --out ROOT")?;
            if a.positional.is_empty() {
                return Err("export needs at least one DATASET directory".into());
            }
            let datasets = a.positional.iter().map(PathBuf::from).collect();
            Ok(Command::Export {
                datasets,
                out: out.into(),
            })
        }
        "query" => {
            let a = Args::split(rest, &["sql", "ballista"])?;
            let [root] = &a.positional[..] else {
                return Err("query needs exactly one ROOT".into());
            };
            let sql = a.flag("sql").ok_or("query needs --sql SQL")?.to_string();
            let ballista = a.flag("ballista").map(str::to_string);
            Ok(Command::Query {
                root: root.into(),
                sql,
                ballista,
            })
        }
        "scheduler" => {
            let a = Args::split(rest, &["listen"])?;
            no_positional(&a)?;
            Ok(Command::Scheduler {
                listen: a.addr("listen", "127.0.0.1:50050")?,
            })
        }
        "executor" => {
            let a = Args::split(rest, &["scheduler", "listen"])?;
            no_positional(&a)?;
            Ok(Command::Executor {
                scheduler: a.addr("scheduler", "127.0.0.1:50050")?,
                listen: a.addr("listen", "127.0.0.1:50051")?,
            })
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn no_positional(a: &Args) -> Result<(), String> {
    match a.positional.first() {
        Some(p) => Err(format!("unexpected argument {p:?}")),
        None => Ok(()),
    }
}

/// What exporting one site wrote, and its replay's report per tenant.
struct Exported {
    readings: u64,
    bills: u64,
    /// Tenant → microjoules the replay's book billed its workloads.
    tenants: BTreeMap<String, i128>,
}

/// Replays `dataset` into a live engine whose data directory is `work`, exports it under
/// `out` as the site `site`, and returns the rows written and the replay's per-tenant report.
fn export_site(dataset: &Path, site: &str, out: &Path, work: &Path) -> Result<Exported, BoxError> {
    let ds = RecordedDataset::open(dataset)?;
    let opts = FeedOptions::default().with_data_dir(work);
    let mut engine = live_engine(&ds, &opts)?;
    let report = feed(&ds, &mut engine, &opts)?;
    let export = ExportOptions::new(out, site);
    let out = engine.export_site(&export)?;
    let names = Names::of(&engine);
    let mut tenants = BTreeMap::new();
    for (workload, uj) in &report.status.totals.workloads {
        *tenants
            .entry(names.tenant(workload).to_string())
            .or_default() += *uj;
    }
    Ok(Exported {
        readings: out.reading_rows(),
        bills: out.bill_rows(),
        tenants,
    })
}

fn export(datasets: &[PathBuf], out: &Path) -> Result<(), BoxError> {
    for dataset in datasets {
        let site = dataset
            .canonicalize()
            .map_err(|e| format!("dataset {}: {e}", dataset.display()))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("dataset {}: no directory name", dataset.display()))?;
        let work = std::env::temp_dir().join(format!("kelvin-fleet-{site}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let result = export_site(dataset, &site, out, &work);
        let _ = std::fs::remove_dir_all(&work);
        let e = result.map_err(|e| format!("dataset {}: {e}", dataset.display()))?;
        println!(
            "exported site {site}: readings {} rows, bills {} rows",
            e.readings, e.bills
        );
        for (tenant, uj) in &e.tenants {
            println!("site {site} tenant {tenant} energy_uj {uj}");
        }
    }
    Ok(())
}

async fn query(root: &Path, sql: &str, ballista: Option<&str>) -> Result<(), BoxError> {
    let ctx = match ballista {
        Some(addr) => kelvin_fleet::remote_context(addr, root).await?,
        None => {
            let ctx = SessionContext::new();
            kelvin_fleet::register_udfs(&ctx);
            kelvin_fleet::register_settle(&ctx);
            kelvin_fleet::register_tables(&ctx, root).await?;
            ctx
        }
    };
    let df = ctx.sql(sql).await?;
    let schema = df.schema().inner().clone();
    let batches = df.collect().await?;
    let schema = batches.first().map_or(schema, RecordBatch::schema);
    let mut stdout = std::io::stdout().lock();
    let mut writer = WriterBuilder::new().with_header(true).build(&mut stdout);
    // An empty batch first, so an empty result still prints its header.
    writer.write(&RecordBatch::new_empty(schema))?;
    for b in &batches {
        writer.write(b)?;
    }
    drop(writer);
    stdout.flush()?;
    Ok(())
}

async fn run(cmd: Command) -> Result<(), BoxError> {
    match cmd {
        Command::Export { datasets, out } => export(&datasets, &out),
        Command::Query {
            root,
            sql,
            ballista,
        } => query(&root, &sql, ballista.as_deref()).await,
        Command::Scheduler { listen } => {
            let scheduler =
                kelvin_fleet::start_scheduler(kelvin_fleet::scheduler_config(listen)).await?;
            eprintln!("fleet scheduler listening on {listen}");
            Ok(scheduler.wait().await?)
        }
        Command::Executor { scheduler, listen } => {
            let work =
                std::env::temp_dir().join(format!("kelvin-fleet-executor-{}", listen.port()));
            std::fs::create_dir_all(&work)?;
            let cfg = kelvin_fleet::executor_config(scheduler, listen, &work);
            eprintln!(
                "fleet executor: Flight on {listen}, gRPC on port {}, scheduler {scheduler}",
                cfg.grpc_port
            );
            kelvin_fleet::run_executor(cfg).await?;
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleet: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e}");
            ExitCode::from(1)
        }
    }
}
