//! Streams a recorded dataset into a live, durable engine, as a live system would receive it:
//! its metrics scrape by scrape and its vendor captures when they were taken, merged in event
//! time, each batch acknowledged (committed) before the next.
//!
//! ```text
//! cargo run --release --example live -- DATASET [--data-dir DIR] [--json OUT]
//!     [--batch-s S] [--policy NAME] [--lateness-s S]
//! ```
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

use kelvin::{LedgerOptions, LiveOptions, Policy};
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, feed, live_engine};

const USAGE: &str = "usage: live DATASET [--data-dir DIR] [--json OUT] [--batch-s S] \
                     [--policy NAME] [--lateness-s S]";

struct Args {
    dataset: PathBuf,
    data_dir: Option<PathBuf>,
    json: Option<PathBuf>,
    batch_s: u32,
    policy: Policy,
    lateness_s: u32,
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
    Ok(a)
}

fn run(args: &Args) -> Result<(), kelvin::Error> {
    let ds = RecordedDataset::open(&args.dataset)?;
    let live = LiveOptions::default()
        .with_lateness_secs(args.lateness_s)
        .with_ledger(LedgerOptions::default().with_policy(args.policy));
    let mut opts = FeedOptions::default()
        .with_live(live)
        .with_batch_secs(args.batch_s);
    if let Some(dir) = &args.data_dir {
        opts = opts.with_data_dir(dir);
    }
    let mut engine = live_engine(&ds, &opts)?;
    let r = feed(&ds, &mut engine, &opts)?;
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
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r.json()).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| kelvin::Error::Io {
            place: path.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

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
