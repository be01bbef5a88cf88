//! Replays a recorded dataset through `kelvin::Engine` and prints the report.
//!
//! ```text
//! cargo run --release --example replay                       # the embedded edge-small dataset
//! cargo run --release --example replay -- DIR               # a dataset directory
//! cargo run --release --example replay -- [DIR] [--json FILE|-] [--svg DIR]
//!     [--pue X] [--carbon-g-per-kwh G]
//! ```
//!
//! The text report goes to stdout (energy by workload, tenant and rack with 95 % intervals,
//! the exact balance per host, error against ground truth, facility overhead and carbon,
//! inlet hot spots, placement of the pending workloads and the optimizer's recommendation with
//! its predicted saving). `--json FILE` also writes it machine-readable (`-` for stdout, which
//! then carries only the JSON). `--svg DIR` writes three charts: `power.svg` (stacked
//! per-workload power over time), `inlet.svg` (rack inlet temperature heat map) and
//! `savings.svg` (facility power today, recommended and the lower bound). Exit code 2 on usage
//! errors, 1 on dataset or output errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::io::IsTerminal;

use kelvin_replay::{RecordedDataset, ReplayOptions, ReplayReport, replay_with_progress};
use plotters::prelude::*;

const USAGE: &str =
    "usage: replay [DATASET_DIR] [--json FILE|-] [--svg DIR] [--pue X] [--carbon-g-per-kwh G]";

fn embedded() -> Result<RecordedDataset, kelvin::Error> {
    let ds = RecordedDataset::from_texts(
        "edge-small (embedded)",
        include_str!("../datasets/edge-small/inventory.json"),
        include_str!("../datasets/edge-small/workloads.json"),
        include_str!("../datasets/edge-small/metrics.prom").to_string(),
        Some(include_str!("../datasets/edge-small/ground_truth.csv")),
    )?;
    Ok(ds.with_host_truth(include_str!("../datasets/edge-small/hosts_truth.csv"))?)
}

struct Args {
    dir: Option<String>,
    json: Option<String>,
    svg: Option<PathBuf>,
    opts: ReplayOptions,
}

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        dir: None,
        json: None,
        svg: None,
        opts: ReplayOptions::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => a.json = Some(value("--json")?),
            "--svg" => a.svg = Some(PathBuf::from(value("--svg")?)),
            "--pue" => {
                let v: f64 = value("--pue")?
                    .parse()
                    .map_err(|_| "--pue needs a number".to_string())?;
                if !(v.is_finite() && v >= 1.0) {
                    return Err("--pue must be at least 1".into());
                }
                a.opts = a.opts.with_pue(v);
            }
            "--carbon-g-per-kwh" => {
                let v: f64 = value("--carbon-g-per-kwh")?
                    .parse()
                    .map_err(|_| "--carbon-g-per-kwh needs a number".to_string())?;
                if !(v.is_finite() && v >= 0.0) {
                    return Err("--carbon-g-per-kwh must be non-negative".into());
                }
                a.opts = a.opts.with_carbon_g_per_kwh(Some(v));
            }
            _ if a.dir.is_none() && !arg.starts_with("--") => a.dir = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some(a))
}

fn chart_err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

/// Stacked per-workload power over time: the eight largest workloads, the rest summed.
fn power_chart(r: &ReplayReport, path: &Path) -> Result<(), String> {
    let s = &r.series;
    let n = s.workload_w.first().map_or(0, |(_, v)| v.len());
    let mut order: Vec<(usize, f64)> = s
        .workload_w
        .iter()
        .enumerate()
        .map(|(i, (_, v))| (i, v.iter().filter(|x| x.is_finite()).sum()))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut layers: Vec<(String, Vec<f64>)> = order
        .iter()
        .take(8)
        .map(|(i, _)| {
            let (id, v) = &s.workload_w[*i];
            (id.to_string(), v.iter().map(|x| x.max(0.0)).collect())
        })
        .collect();
    if order.len() > 8 {
        let mut rest = vec![0.0; n];
        for (i, _) in order.iter().skip(8) {
            for (acc, x) in rest.iter_mut().zip(&s.workload_w[*i].1) {
                if x.is_finite() {
                    *acc += x;
                }
            }
        }
        layers.push((format!("{} others", order.len() - 8), rest));
    }
    let mut cumulative = vec![0.0; n];
    let mut stacked = Vec::new();
    for (name, v) in &layers {
        for (c, x) in cumulative.iter_mut().zip(v) {
            *c += if x.is_finite() { *x } else { 0.0 };
        }
        stacked.push((name.clone(), cumulative.clone()));
    }
    let top = cumulative.iter().copied().fold(1.0, f64::max) * 1.1;
    let minutes = n as f64 * s.interval_s / 60.0;
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: attributed power by workload", r.dataset),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..minutes.max(1.0), 0.0..top)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("W")
        .draw()
        .map_err(chart_err)?;
    for (k, (name, v)) in stacked.iter().enumerate().rev() {
        let color = Palette99::pick(k).to_rgba();
        let points = v
            .iter()
            .enumerate()
            .map(|(i, w)| (i as f64 * s.interval_s / 60.0, *w));
        chart
            .draw_series(AreaSeries::new(points, 0.0, color.mix(0.8).filled()))
            .map_err(chart_err)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(chart_err)?;
    root.present().map_err(chart_err)
}

/// Rack inlet temperature heat map: racks down, time across, blue (cool) to red (redline).
fn inlet_chart(r: &ReplayReport, path: &Path) -> Result<(), String> {
    let s = &r.series;
    let racks = &s.rack_inlet_c;
    let n = racks.first().map_or(0, |(_, v)| v.len());
    let root =
        SVGBackend::new(path, (960, 120 + 40 * racks.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (lo, hi) = racks
        .iter()
        .flat_map(|(_, v)| v.iter().copied().filter(|x| x.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo.min(r.redline_c - 10.0), hi.max(r.redline_c))
    } else {
        (15.0, r.redline_c)
    };
    let minutes = n as f64 * s.interval_s / 60.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "rack inlet temperature, {lo:.0}–{hi:.0} °C (red = {:.0} °C redline)",
                r.redline_c
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..minutes.max(1.0), 0.0..racks.len().max(1) as f64)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_desc("minutes")
        .draw()
        .map_err(chart_err)?;
    for (row, (_, v)) in racks.iter().enumerate() {
        let cells = v
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_finite())
            .map(|(i, t)| {
                let f = ((t - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
                let color = RGBColor((255.0 * f) as u8, 64, (255.0 * (1.0 - f)) as u8);
                let x0 = i as f64 * s.interval_s / 60.0;
                Rectangle::new(
                    [
                        (x0, row as f64),
                        (x0 + s.interval_s / 60.0, row as f64 + 0.9),
                    ],
                    color.filled(),
                )
            });
        chart.draw_series(cells).map_err(chart_err)?;
    }
    // Rack names inside their rows, with the row's mean.
    chart
        .draw_series(racks.iter().enumerate().map(|(row, (id, v))| {
            let known: Vec<f64> = v.iter().copied().filter(|t| t.is_finite()).collect();
            let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
            Text::new(
                format!("{id}  mean {mean:.1} °C"),
                (minutes * 0.01, row as f64 + 0.3),
                ("sans-serif", 14).into_font().color(&WHITE),
            )
        }))
        .map_err(chart_err)?;
    root.present().map_err(chart_err)
}

/// Facility power today, after the recommendation, and the lower bound.
fn savings_chart(r: &ReplayReport, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let Some(rec) = &r.recommendation else {
        return root.present().map_err(chart_err);
    };
    let bars = [
        ("today + first fit", rec.before_w),
        ("recommended", rec.after_w),
        ("lower bound", rec.bound_w),
    ];
    let top = rec.before_w.max(rec.after_w) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("predicted facility power: saves {:.0} W", rec.saving_w()),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..3.0, 0.0..top.max(1.0))
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("W")
        .draw()
        .map_err(chart_err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (name, w))| {
            Text::new(
                format!("{name}: {w:.0} W"),
                (i as f64 + 0.2, w + top * 0.08),
                ("sans-serif", 14),
            )
        }))
        .map_err(chart_err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, w))| {
            Rectangle::new(
                [(i as f64 + 0.2, 0.0), (i as f64 + 0.8, *w)],
                Palette99::pick(i).filled(),
            )
        }))
        .map_err(chart_err)?;
    root.present().map_err(chart_err)
}

fn write_outputs(r: &ReplayReport, a: &Args) -> Result<(), String> {
    if let Some(dir) = &a.svg {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        power_chart(r, &dir.join("power.svg"))?;
        inlet_chart(r, &dir.join("inlet.svg"))?;
        savings_chart(r, &dir.join("savings.svg"))?;
        eprintln!(
            "wrote power.svg, inlet.svg and savings.svg to {}",
            dir.display()
        );
    }
    match a.json.as_deref() {
        Some("-") => println!("{:#}", r.to_json()),
        Some(file) => {
            let text = format!("{:#}\n", r.to_json());
            std::fs::write(file, text).map_err(|e| format!("{file}: {e}"))?;
        }
        None => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("replay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let ds = match &args.dir {
        None => embedded(),
        Some(dir) => RecordedDataset::open(dir).map_err(kelvin::Error::from),
    };
    // A progress line on stderr for recordings over 32 MiB: redrawn in place on a terminal,
    // every 10 % otherwise.
    let size = ds
        .as_ref()
        .ok()
        .and_then(|d| d.metrics_file.as_ref())
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let tty = std::io::stderr().is_terminal();
    let start = std::time::Instant::now();
    let mut shown = 0u64;
    let mut progress = |bytes: u64, records: u64| {
        if size < 32 << 20 {
            return;
        }
        let pct = 100 * bytes / size.max(1);
        if !tty && pct < shown + 10 && bytes < size {
            return;
        }
        shown = pct;
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let line = format!(
            "replay: {} of {} MiB ({pct} %), {:.1} M records, {:.2} M records/s",
            bytes >> 20,
            size >> 20,
            records as f64 / 1e6,
            records as f64 / secs / 1e6
        );
        if tty {
            eprint!("\r{line}");
            if bytes >= size {
                eprintln!();
            }
        } else {
            eprintln!("{line}");
        }
    };
    let report = match ds.and_then(|ds| replay_with_progress(&ds, &args.opts, &mut progress)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json.as_deref() != Some("-") {
        print!("{report}");
    }
    match write_outputs(&report, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}
