//! Decodes telemetry files or trees into canonical readings.
//!
//! ```text
//! cargo run --release --example ingest -- [--format F] [--parquet OUT] PATH...
//! ```
//!
//! Each PATH is a file or a directory walked as one tree (a sysfs/procfs root, a Redfish
//! mockup or service dump). `--format` names one of the built-in decoders of
//! `kelvin_ingest::Decoders` (`ipmitool_sensor`, `redfish`, …; an unknown name lists them);
//! without it, or with `auto`, the format is detected. Prints one JSON object
//! per reading on stdout (`entity`, `sensor`, `kind`, `unit`, `value`, `ts_ns` when the source
//! has a time, `source`), then on stderr `accepted N quarantined M` and one line per
//! quarantine reason with its count. `--parquet OUT` also writes every accepted reading to
//! `OUT` in Kelvin's Parquet layout.
//!
//! A reading whose quality is not `good` also carries `quality` (`warning`, `critical`,
//! `estimated`, `absent`); an absent reading (`na`, `[N/A]`, nvidia-smi's `-`) has no `value`
//! (its value is NaN: it was not measured), never `"value":null` and never a zero.
//!
//! Every PATH is read within the default `Limits` of `kelvin-ingest` (one decode call peaks
//! below 256 MiB of heap; see `docs/limits.md`): only regular files and directories are read,
//! so a FIFO, a device such as `/dev/zero` or a link to one is an error naming the path, not a
//! hang; what is over a limit is quarantined and counted.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use kelvin::ingest::{Context, Decoders, IngestStats, Normalizer, UnknownFormat};

const USAGE: &str = "usage: ingest [--format F] [--parquet OUT] PATH...";

fn main() -> ExitCode {
    let decoders = Decoders::builtin();
    let mut format: Option<String> = None;
    let mut paths = Vec::new();
    let mut parquet_out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--format" => match args.next().as_deref().map(str::parse::<String>) {
                Some(Ok(f)) if f == "auto" => format = None,
                Some(Ok(f)) if decoders.get(&f).is_some() => format = Some(f),
                Some(Ok(f)) => {
                    let known: Vec<&str> = decoders.names().collect();
                    let e = UnknownFormat(f);
                    eprintln!("ingest: {e}; known: auto, {}", known.join(", "));
                    return ExitCode::from(2);
                }
                _ => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--parquet" => match args.next() {
                Some(p) => parquet_out = Some(p),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => paths.push(a),
        }
    }
    if paths.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let normalizer = Normalizer::builtin();
    let mut total = IngestStats::default();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut kept = Vec::new();
    for path in &paths {
        let ctx = Context::new(path.as_str(), &normalizer);
        let batch = match decoders.decode_path(std::path::Path::new(path), format.as_deref(), &ctx)
        {
            Ok(b) => b,
            Err(e) => {
                eprintln!("ingest: {e}");
                failed = true;
                continue;
            }
        };
        for r in &batch.readings {
            let mut obj = serde_json::Map::new();
            obj.insert("entity".into(), r.entity.as_str().into());
            obj.insert("sensor".into(), r.sensor.as_str().into());
            obj.insert("kind".into(), r.kind.as_str().into());
            obj.insert("unit".into(), r.unit().symbol().into());
            // An absent reading has no value (NaN), so it has no `value` field: `null` would
            // read as a measurement of nothing.
            if r.value.is_finite() {
                obj.insert("value".into(), serde_json::json!(r.value));
            }
            if r.quality != kelvin::model::Quality::Good {
                obj.insert("quality".into(), serde_json::json!(r.quality));
            }
            if r.ts.is_known() {
                obj.insert("ts_ns".into(), r.ts.as_nanos().into());
            }
            obj.insert("source".into(), path.as_str().into());
            if writeln!(out, "{}", serde_json::Value::Object(obj)).is_err() {
                return ExitCode::FAILURE; // stdout closed (e.g. piped into `head`)
            }
        }
        total.merge(&batch.stats);
        if parquet_out.is_some() {
            kept.extend(batch.readings);
        }
    }
    if let Some(p) = &parquet_out {
        let written = std::fs::File::create(p)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                kelvin::ingest::parquet::write_parquet(&kept, f).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            eprintln!("ingest: writing {p}: {e}");
            failed = true;
        }
    }
    let _ = out.flush();
    eprintln!(
        "accepted {} quarantined {}",
        total.accepted, total.quarantined
    );
    for (reason, n) in &total.by_reason {
        eprintln!("{reason} {n}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
