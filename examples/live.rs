//! Streams a recorded dataset into a live, durable engine, as a live system would receive it:
//! its metrics scrape by scrape and its vendor captures when they were taken, merged in event
//! time, each batch acknowledged (committed) before the next.
//!
//! ```text
//! cargo run --release --example live -- DATASET [--data-dir DIR] [--json OUT]
//!     [--batch-s S] [--policy NAME] [--lateness-s S] [--carbon-g-per-kwh G]
//!     [--store-budget-mib M] [--no-gpu-meters] [--progress] [--export ROOT [--site NAME]]
//! ```
//!
//! With `--export ROOT` (which needs `--data-dir`) it then writes the engine's readings and its
//! closed bills under ROOT in the fleet layout (`readings/site=NAME/date=…/part-0.parquet`,
//! `bills/…`; `kelvin::export`, docs/fleet-data.md), NAME the dataset directory's name unless
//! `--site` says, and prints
//!
//! ```text
//! exported site NAME: readings R rows in D days, bills B rows in E days, X bytes
//! ```
//!
//! With `--progress` it writes `progress: N h of event time fed` to stderr as each hour of the
//! dataset's event time is acknowledged (`scripts/live_rss.sh` reads the resident set then).
//!
//! With `--no-gpu-meters` GPU energy stays in the wall meter and is split by CPU use, as the
//! batch `Engine::attribute` does (GPU servers' floors then reserved half by GPUs).
//!
//! With `--carbon-g-per-kwh` every closed line is also priced with the PUE the dataset
//! measured (`facility_truth.csv`, interval by interval) and that carbon intensity.
//!
//! With `--data-dir DIR` the engine keeps its readings and its book of closed bills in DIR; if
//! DIR already holds state (a run that was killed), the run resumes after the last batch the
//! engine acknowledged and ends with the same bills as an uninterrupted run. At the end it
//! closes every interval up to the newest reading and prints
//!
//! ```text
//! closed N intervals: measured X uJ = attributed Y uJ + unattributed Z uJ
//! ```
//!
//! and writes OUT as JSON `{"intervals", "measured_uj", "attributed_uj", "unattributed_uj",
//! "workloads": {id: uj}}` from the book. The line and the keys are an interface. Exit code 2
//! on usage errors, 1 on dataset or engine errors.

use std::path::PathBuf;
use std::process::ExitCode;

use kelvin::export::ExportOptions;
use kelvin::{LedgerOptions, LiveOptions, Policy};
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, feed_with, live_engine};

const USAGE: &str = "usage: live DATASET [--data-dir DIR] [--json OUT] [--batch-s S] \
                     [--policy NAME] [--lateness-s S] [--carbon-g-per-kwh G] \
                     [--store-budget-mib M] [--no-gpu-meters] [--progress] \
                     [--export ROOT [--site NAME]]";

struct Args {
    dataset: PathBuf,
    data_dir: Option<PathBuf>,
    json: Option<PathBuf>,
    batch_s: u32,
    policy: Policy,
    lateness_s: u32,
    carbon: Option<f64>,
    store_budget_mib: Option<usize>,
    gpu_meters: bool,
    progress: bool,
    export: Option<PathBuf>,
    site: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        dataset: PathBuf::new(),
        data_dir: None,
        json: None,
        batch_s: 30,
        policy: Policy::TwoPartTariff,
        lateness_s: 120,
        carbon: None,
        store_budget_mib: None,
        gpu_meters: true,
        progress: false,
        export: None,
        site: None,
    };
    let mut dataset = None;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => a.data_dir = Some(value("--data-dir")?.into()),
            "--json" => a.json = Some(value("--json")?.into()),
            "--batch-s" => {
                a.batch_s = value("--batch-s")?
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("--batch-s takes a positive number of seconds")?
            }
            "--lateness-s" => {
                a.lateness_s = value("--lateness-s")?
                    .parse()
                    .map_err(|_| "--lateness-s takes a number of seconds")?
            }
            "--carbon-g-per-kwh" => {
                a.carbon = Some(
                    value("--carbon-g-per-kwh")?
                        .parse()
                        .ok()
                        .filter(|g: &f64| g.is_finite() && *g >= 0.0)
                        .ok_or("--carbon-g-per-kwh takes a number of grams, at least 0")?,
                )
            }
            "--store-budget-mib" => {
                a.store_budget_mib = Some(
                    value("--store-budget-mib")?
                        .parse()
                        .ok()
                        .filter(|m| *m > 0)
                        .ok_or("--store-budget-mib takes a positive number of MiB")?,
                )
            }
            "--export" => a.export = Some(value("--export")?.into()),
            "--site" => a.site = Some(value("--site")?),
            "--no-gpu-meters" => a.gpu_meters = false,
            "--progress" => a.progress = true,
            "--policy" => {
                let p = value("--policy")?;
                a.policy = Policy::from_name(&p).ok_or(format!("unknown policy {p:?}"))?;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if dataset.replace(PathBuf::from(s)).is_some() {
                    return Err("one dataset only".into());
                }
            }
        }
    }
    a.dataset = dataset.ok_or("a DATASET directory is required")?;
    if a.export.is_some() && a.data_dir.is_none() {
        return Err("--export reads the bills from the book: it needs --data-dir".into());
    }
    Ok(a)
}

fn run(args: &Args) -> Result<(), kelvin::Error> {
    let ds = RecordedDataset::open(&args.dataset)?;
    let mut live = LiveOptions::default()
        .with_lateness_secs(args.lateness_s)
        .with_gpu_meters(args.gpu_meters)
        .with_ledger(LedgerOptions::default().with_policy(args.policy));
    if let Some(m) = args.store_budget_mib {
        live = live.with_store_budget(m << 20);
    }
    let mut opts = FeedOptions::default()
        .with_live(live)
        .with_batch_secs(args.batch_s)
        .with_carbon_g_per_kwh(args.carbon);
    if let Some(dir) = &args.data_dir {
        opts = opts.with_data_dir(dir);
    }
    let mut engine = live_engine(&ds, &opts)?;
    let (mut first, mut hours) = (None, 0);
    let mut trimmed = std::time::Instant::now();
    let r = feed_with(&ds, &mut engine, &opts, |t| {
        if trimmed.elapsed() >= std::time::Duration::from_secs(1) {
            trim_heap();
            trimmed = std::time::Instant::now();
        }
        let from = *first.get_or_insert(t.as_nanos());
        let h = (t.as_nanos() - from) / (3_600 * 1_000_000_000);
        if args.progress && h > hours {
            hours = h;
            eprintln!("progress: {h} h of event time fed");
        }
    })?;
    if r.resumed_after > 0 {
        eprintln!("resumed after {} acknowledged batches", r.resumed_after);
    }
    let t = &r.status.totals;
    println!(
        "closed {} intervals: measured {} uJ = attributed {} uJ + unattributed {} uJ",
        t.intervals, t.measured_uj, t.attributed_uj, t.unattributed_uj
    );
    println!(
        "policy {}; {} batches fed; {} restatements; {} late readings quarantined",
        args.policy.name(),
        r.fed,
        t.restatements,
        r.status.late
    );
    if let (bytes, Some(budget)) = r.status.store_bytes {
        println!(
            "store: {:.1} MiB held of a {:.1} MiB budget",
            bytes as f64 / (1 << 20) as f64,
            budget as f64 / (1 << 20) as f64
        );
    }
    let (drifts, found) = &r.status.drifts;
    if let Some(d) = drifts.last() {
        println!(
            "meter drifts: {found} found; newest {} from {} ({:+.1} W)",
            d.meter,
            d.onset.to_rfc3339(),
            d.shift_w
        );
    }
    if args.carbon.is_some() {
        let f = &r.status.facility;
        println!(
            "facility: overhead {} uJ, carbon {} ug CO2e on the workloads' lines",
            f.overhead_uj.values().sum::<i128>(),
            f.carbon_ug.values().sum::<i128>()
        );
    }
    if let Some(c) = r.against_truth(&ds) {
        let gpu = c
            .gpu_weighted_error
            .map_or(String::new(), |g| format!(", GPU part {:.2} %", g * 100.0));
        println!(
            "truth: {} workloads, {} billed, energy-weighted error {:.2} %{gpu}",
            c.workloads,
            c.billed,
            c.weighted_error * 100.0
        );
        if !c.unbilled.is_empty() {
            println!("unbilled: {}", c.unbilled.join(" "));
        }
    }
    if !r.status.unmetered.is_empty() {
        let hosts: Vec<String> = r
            .status
            .unmetered
            .iter()
            .map(|(h, n)| format!("{h} ({n} intervals)"))
            .collect();
        println!("warning: no wall meter for {}", hosts.join(", "));
    }
    if let Some(root) = &args.export {
        export(args, &engine, root)?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r.json()).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| kelvin::Error::Io {
            place: path.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

/// Writes the engine's readings and its book's closed intervals in the fleet layout.
fn export(
    args: &Args,
    engine: &kelvin::Engine,
    root: &std::path::Path,
) -> Result<(), kelvin::Error> {
    let site = args.site.clone().unwrap_or_else(|| {
        let name = args.dataset.file_name().unwrap_or_default();
        name.to_string_lossy().into_owned()
    });
    let opts = ExportOptions::new(root, site.as_str());
    let began = std::time::Instant::now();
    let out = engine.export_site(&opts)?;
    eprintln!("export took {:.3} s", began.elapsed().as_secs_f64());
    println!(
        "exported site {site}: readings {} rows in {} days, bills {} rows in {} days, {} bytes",
        out.reading_rows(),
        out.readings.len(),
        out.bill_rows(),
        out.bills.len(),
        out.bytes()
    );
    Ok(())
}

/// Gives the heap's free pages back to the kernel, at most once a second of wall time.
///
/// glibc's malloc keeps the pages a process freed inside its heap until the top of the heap is
/// free; the engine's checkpoints and calibrations free memory in the middle of it, so a
/// day-long run's resident set would keep what its largest moments needed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_heap() {
    // SAFETY: malloc_trim(3) takes an integer and no pointer, and has no precondition: it
    // locks each glibc arena in turn and returns its free pages to the kernel (madvise
    // MADV_DONTNEED) without moving or freeing any allocation in use. This program's global
    // allocator is the system malloc, so every live allocation stays valid.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return free memory by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live: {e}");
            ExitCode::from(1)
        }
    }
}
