#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Compression of the store's sealed blocks against pco, tsz (Gorilla) and zstd.
//!
//! Inputs: each sub-corpus of `../shared/corpus/timeseries` beside the project (skipped with a
//! notice when absent) — `datacentertraces` (every column of every file, no timestamps: row i
//! at i s), `nab` (every file), `vega` (both cities), `pvlib` (nine numeric columns of the TMY3
//! file) — and `tsbs-cpu`, generated here: TSBS-like cpu-only host metrics, 30 hosts × 10
//! fields, one day at a 10 s cadence, integer percentages on a random walk (seeded,
//! deterministic).
//!
//! First a table (stdout) of bytes per sample, timestamps and values together, per
//! sub-corpus:
//! - `kelvin`: `encode_block` over blocks of up to `KELVIN_BLOCK` samples (env var, default
//!   8192, the store's block size), headers and checksums included;
//! - `pco`: `pco::standalone::simple_compress` with the default config, once for the whole
//!   series' timestamp column and once for its value column;
//! - `tsz`: Gorilla (`tsz::StdEncoder`), fed timestamps in whole seconds as it expects;
//! - `zstd`: level 3 on the raw little-endian timestamp column followed by the value column;
//!
//! and the ratios kelvin/pco and kelvin/tsz over the whole sub-corpus, then per series: the
//! worst series' kelvin/pco and the mean of the series' kelvin/pco (each series weighing the
//! same, however long), with the worst series named below the table. Then criterion timings (samples/s) of encoding
//! and decoding one sub-corpus (`nab`, else `tsbs-cpu`) with each codec, plus the head chunk's
//! appends and decoding.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin::store::{HeadChunk, decode_block_into, encode_block, parse_csv_series};
use tsz::decode::Error as TszError;
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

struct Series {
    /// The file (and column) it comes from, to name the worst series.
    name: String,
    ts: Vec<i64>,
    values: Vec<f64>,
}

struct Corpus {
    name: &'static str,
    series: Vec<Series>,
}

impl Corpus {
    fn samples(&self) -> usize {
        self.series.iter().map(|s| s.ts.len()).sum()
    }
}

fn block_size() -> usize {
    std::env::var("KELVIN_BLOCK")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(8192)
}

fn load(path: &Path, ts_col: Option<usize>, value_col: usize) -> Series {
    let text = std::fs::read_to_string(path).expect("corpus file reads");
    let (ts, values) = parse_csv_series(&text, ts_col, value_col, &path.display().to_string())
        .expect("corpus file parses");
    let file = path
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned());
    Series {
        name: format!("{file}:{value_col}"),
        ts,
        values,
    }
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn column_count(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("corpus file reads");
    text.lines().next().map_or(0, |l| l.split(',').count())
}

fn real_corpora() -> Vec<Corpus> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/timeseries");
    if !root.is_dir() {
        eprintln!(
            "SKIP datacentertraces, nab, vega, pvlib: {} not found",
            root.display()
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    let dct: Vec<Series> = csv_files(&root.join("datacentertraces"))
        .iter()
        .flat_map(|f| (0..column_count(f)).map(move |c| load(f, None, c)))
        .collect();
    out.push(Corpus {
        name: "datacentertraces",
        series: dct,
    });
    let nab = csv_files(&root.join("nab"))
        .iter()
        .map(|f| load(f, Some(0), 1))
        .collect();
    out.push(Corpus {
        name: "nab",
        series: nab,
    });
    let vega = vec![
        load(&root.join("vega/seattle-temps.csv"), Some(0), 1),
        load(&root.join("vega/sf-temps.csv"), Some(1), 0),
    ];
    out.push(Corpus {
        name: "vega",
        series: vega,
    });
    // GHI, DNI, DHI, dry-bulb, dew point, relative humidity, pressure, wind direction, speed.
    let tmy = root.join("pvlib/723170TYA.CSV");
    let pvlib = [4, 7, 10, 31, 34, 37, 40, 43, 46]
        .into_iter()
        .map(|c| load(&tmy, Some(0), c))
        .collect();
    out.push(Corpus {
        name: "pvlib",
        series: pvlib,
    });
    out.retain(|c| {
        let keep = !c.series.is_empty();
        if !keep {
            eprintln!("SKIP {}: no files", c.name);
        }
        keep
    });
    out
}

/// splitmix64 (Steele, Lea & Flood 2014): a small deterministic generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// TSBS-like cpu-only: 30 hosts × 10 `usage_*` fields, 8640 samples (one day at 10 s) each,
/// integer percentages on a clamped random walk (steps −3..=3).
fn tsbs_cpu() -> Corpus {
    const START_NS: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z, TSBS's default
    const STEP_NS: i64 = 10_000_000_000;
    let mut rng = SplitMix(0x5eed_2016);
    let mut series = Vec::new();
    for host in 0..30 {
        for field in 0..10 {
            let mut v = rng.below(101) as i64;
            let mut values = Vec::with_capacity(8640);
            for _ in 0..8640 {
                v = (v + rng.below(7) as i64 - 3).clamp(0, 100);
                values.push(v as f64);
            }
            let ts = (0..8640).map(|i| START_NS + i * STEP_NS).collect();
            series.push(Series {
                name: format!("host_{host}:usage_{field}"),
                ts,
                values,
            });
        }
    }
    Corpus {
        name: "tsbs-cpu",
        series,
    }
}

fn kelvin_encode(s: &Series, block: usize) -> Vec<Vec<u8>> {
    s.ts.chunks(block)
        .zip(s.values.chunks(block))
        .map(|(t, v)| encode_block(t, v).expect("block encodes"))
        .collect()
}

fn pco_encode(s: &Series) -> (Vec<u8>, Vec<u8>) {
    let cfg = pco::ChunkConfig::default();
    (
        pco::standalone::simple_compress(&s.ts, &cfg).expect("pco compresses"),
        pco::standalone::simple_compress(&s.values, &cfg).expect("pco compresses"),
    )
}

fn secs(t: i64) -> u64 {
    t.div_euclid(1_000_000_000) as u64
}

fn tsz_encode(s: &Series) -> Box<[u8]> {
    let mut e = StdEncoder::new(s.ts.first().map_or(0, |&t| secs(t)), BufferedWriter::new());
    for (&t, &v) in s.ts.iter().zip(&s.values) {
        e.encode(DataPoint::new(secs(t), v));
    }
    e.close()
}

fn tsz_decode(bytes: &[u8], out: &mut Vec<DataPoint>) {
    let mut d = StdDecoder::new(BufferedReader::new(bytes.into()));
    loop {
        match d.next() {
            Ok(dp) => out.push(dp),
            Err(TszError::EndOfStream) => break,
            Err(e) => panic!("tsz decodes its own stream: {e:?}"),
        }
    }
}

fn raw_le(s: &Series) -> Vec<u8> {
    let mut raw = Vec::with_capacity(s.ts.len() * 16);
    raw.extend(s.ts.iter().flat_map(|t| t.to_le_bytes()));
    raw.extend(s.values.iter().flat_map(|v| v.to_le_bytes()));
    raw
}

fn zstd_encode(s: &Series) -> Vec<u8> {
    zstd::bulk::compress(&raw_le(s), 3).expect("zstd compresses")
}

fn print_table(corpora: &[Corpus], block: usize) {
    println!();
    println!("bytes per sample (timestamps + values), Kelvin blocks of up to {block} samples");
    println!(
        "{:<17} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>9} {:>9}",
        "corpus",
        "series",
        "samples",
        "kelvin",
        "pco",
        "tsz",
        "zstd",
        "kelvin/pco",
        "kelvin/tsz",
        "worst k/p",
        "mean k/p"
    );
    let mut worst_names = Vec::new();
    for c in corpora {
        let n = c.samples() as f64;
        let (mut k, mut p, mut g, mut z) = (0usize, 0usize, 0usize, 0usize);
        // Per series: Kelvin's bytes over pco's (the same samples, so bytes per sample too).
        let mut ratios = Vec::with_capacity(c.series.len());
        for s in &c.series {
            let ks = kelvin_encode(s, block).iter().map(Vec::len).sum::<usize>();
            let (pt, pv) = pco_encode(s);
            k += ks;
            p += pt.len() + pv.len();
            ratios.push((ks as f64 / (pt.len() + pv.len()) as f64, &s.name));
            g += tsz_encode(s).len();
            z += zstd_encode(s).len();
        }
        let (k, p, g, z) = (k as f64 / n, p as f64 / n, g as f64 / n, z as f64 / n);
        let mean = ratios.iter().map(|r| r.0).sum::<f64>() / ratios.len() as f64;
        let worst = ratios
            .iter()
            .copied()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .expect("a corpus has series");
        worst_names.push(format!("{}: {} ({:.3})", c.name, worst.1, worst.0));
        println!(
            "{:<17} {:>6} {:>9} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>11.3} {:>11.3} {:>9.3} {:>9.3}",
            c.name,
            c.series.len(),
            c.samples(),
            k,
            p,
            g,
            z,
            k / p,
            k / g,
            worst.0,
            mean
        );
    }
    println!("worst series kelvin/pco: {}", worst_names.join("; "));
    println!();
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so a figure holds even
/// when other processes compete for the cores; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The head chunk's append and decode cost per sample in on-CPU time.
fn print_head_chunk_cost(corpus: &Corpus) {
    let Some(start) = thread_cpu_ns() else {
        eprintln!("SKIP head chunk CPU time: no /proc/thread-self/schedstat");
        return;
    };
    let rounds = 20;
    let mut head = HeadChunk::new();
    let mut bits = 0;
    for _ in 0..rounds {
        for s in &corpus.series {
            head.clear();
            for (&t, &v) in s.ts.iter().zip(&s.values) {
                head.push(t, v).expect("time-sorted");
            }
            bits += head.bit_len();
        }
    }
    let pushed = thread_cpu_ns().unwrap_or(start);
    let heads: Vec<HeadChunk> = corpus
        .series
        .iter()
        .map(|s| {
            let mut h = HeadChunk::new();
            for (&t, &v) in s.ts.iter().zip(&s.values) {
                h.push(t, v).expect("time-sorted");
            }
            h
        })
        .collect();
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    let before = thread_cpu_ns().unwrap_or(pushed);
    for _ in 0..rounds {
        for h in &heads {
            ts.clear();
            values.clear();
            h.decode_into(&mut ts, &mut values);
        }
    }
    let decoded = thread_cpu_ns().unwrap_or(before);
    let n = (corpus.samples() * rounds) as f64;
    println!(
        "head chunk on {}: push {:.1} ns/sample, decode {:.1} ns/sample (on-CPU time), {:.2} bytes/sample",
        corpus.name,
        (pushed - start) as f64 / n,
        (decoded - before) as f64 / n,
        black_box(bits) as f64 / 8.0 / n,
    );
    println!();
}

fn bench(c: &mut Criterion) {
    let block = block_size();
    let mut corpora = real_corpora();
    corpora.push(tsbs_cpu());
    print_table(&corpora, block);

    let corpus = corpora
        .iter()
        .find(|c| c.name == "nab")
        .unwrap_or_else(|| corpora.last().expect("the generated corpus is there"));
    print_head_chunk_cost(corpus);
    let series = &corpus.series;
    let n = corpus.samples() as u64;

    let mut g = c.benchmark_group(format!("encode/{}", corpus.name));
    g.throughput(Throughput::Elements(n));
    g.bench_function("kelvin", |b| {
        b.iter(|| {
            series
                .iter()
                .map(|s| kelvin_encode(s, block).len())
                .sum::<usize>()
        })
    });
    g.bench_function("kelvin/head_push", |b| {
        let mut head = HeadChunk::new();
        b.iter(|| {
            let mut bits = 0;
            for s in series {
                head.clear();
                for (&t, &v) in s.ts.iter().zip(&s.values) {
                    head.push(t, v).expect("time-sorted");
                }
                bits += head.bit_len();
            }
            black_box(bits)
        })
    });
    g.bench_function("pco", |b| {
        b.iter(|| series.iter().map(|s| pco_encode(s).0.len()).sum::<usize>())
    });
    g.bench_function("tsz", |b| {
        b.iter(|| series.iter().map(|s| tsz_encode(s).len()).sum::<usize>())
    });
    g.bench_function("zstd", |b| {
        b.iter(|| series.iter().map(|s| zstd_encode(s).len()).sum::<usize>())
    });
    g.finish();

    let kelvin: Vec<Vec<Vec<u8>>> = series.iter().map(|s| kelvin_encode(s, block)).collect();
    let heads: Vec<HeadChunk> = series
        .iter()
        .map(|s| {
            let mut h = HeadChunk::new();
            for (&t, &v) in s.ts.iter().zip(&s.values) {
                h.push(t, v).expect("time-sorted");
            }
            h
        })
        .collect();
    let pco: Vec<(Vec<u8>, Vec<u8>)> = series.iter().map(pco_encode).collect();
    let tsz: Vec<Box<[u8]>> = series.iter().map(tsz_encode).collect();
    let zstd: Vec<(Vec<u8>, usize)> = series
        .iter()
        .map(|s| (zstd_encode(s), s.ts.len() * 16))
        .collect();

    let mut g = c.benchmark_group(format!("decode/{}", corpus.name));
    g.throughput(Throughput::Elements(n));
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    g.bench_function("kelvin", |b| {
        b.iter(|| {
            let mut total = 0;
            for blocks in &kelvin {
                ts.clear();
                values.clear();
                for block in blocks {
                    total += decode_block_into(block, &mut ts, &mut values).expect("decodes");
                }
            }
            black_box(total)
        })
    });
    g.bench_function("kelvin/head_decode", |b| {
        b.iter(|| {
            for h in &heads {
                ts.clear();
                values.clear();
                h.decode_into(&mut ts, &mut values);
            }
            black_box(ts.len())
        })
    });
    g.bench_function("pco", |b| {
        b.iter(|| {
            let mut total = 0;
            for (t, v) in &pco {
                total += pco::standalone::simple_decompress::<i64>(t)
                    .expect("decodes")
                    .len();
                total += pco::standalone::simple_decompress::<f64>(v)
                    .expect("decodes")
                    .len();
            }
            black_box(total)
        })
    });
    let mut points = Vec::new();
    g.bench_function("tsz", |b| {
        b.iter(|| {
            for bytes in &tsz {
                points.clear();
                tsz_decode(bytes, &mut points);
            }
            black_box(points.len())
        })
    });
    g.bench_function("zstd", |b| {
        b.iter(|| {
            let mut total = 0;
            for (bytes, raw_len) in &zstd {
                total += zstd::bulk::decompress(bytes, *raw_len)
                    .expect("decodes")
                    .len();
            }
            black_box(total)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
