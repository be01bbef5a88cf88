//! Bin packing on the published benchmark instances in `../shared/instances` (skipped when
//! missing): every packing is feasible, never below the lower bound, never below the known
//! optimum and never worse than first fit decreasing, whose gaps reproduce the ones the
//! instance README reports. Prints a per-set table with `--nocapture` (a small fixed attempt
//! budget here; docs/placement.md has the example's figures at its time limit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kelvin_placement::binpack::{BinPacking, SearchLimit};

const BPPLIB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/instances/bpplib"
);

fn optima() -> HashMap<String, (usize, usize)> {
    let text = std::fs::read_to_string(Path::new(BPPLIB).join("bounds_lb_ub.tsv")).unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?),
            ))
        })
        .collect()
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(BPPLIB).join(dir))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "bpp"))
        .collect();
    v.sort();
    v
}

#[test]
fn benchmark_sets_are_packed_feasibly_within_known_bounds() {
    if !Path::new(BPPLIB).exists() {
        println!(
            "benchmark_sets_are_packed_feasibly_within_known_bounds: skipped, {BPPLIB} is missing"
        );
        return;
    }
    let opt = optima();
    println!("| set | instances | mean gap FFD | mean gap Kelvin | optimal (Kelvin) |");
    println!("|---|---|---|---|---|");
    for (set, dir, ffd_ref) in [
        ("Falkenauer_U", "1_Falkenauer/Falkenauer/Falkenauer_U", 1.37),
        (
            "Falkenauer_T",
            "1_Falkenauer/Falkenauer/Falkenauer_T",
            14.69,
        ),
        ("Hard28", "5_Hard28/Hard28", 1.20),
    ] {
        let fs = files(dir);
        assert!(!fs.is_empty(), "{dir}");
        let (mut gap_ffd, mut gap, mut optimal) = (0.0, 0.0, 0);
        for f in &fs {
            let p = BinPacking::parse(&std::fs::read_to_string(f).unwrap()).unwrap();
            let name = f.file_stem().unwrap().to_str().unwrap();
            let (lb, ub) = opt[name];
            assert_eq!(lb, ub, "{name} has a known optimum");
            let ffd = p.first_fit_decreasing();
            // A fixed attempt budget, so the result does not depend on the machine.
            let r = p.pack_with(
                &SearchLimit::default()
                    .with_attempts(40)
                    .with_time_ms(60_000),
            );
            assert!(p.is_feasible(&ffd) && p.is_feasible(&r.packing), "{name}");
            assert!(
                r.lower_bound <= lb,
                "{name}: bound {} above optimum {lb}",
                r.lower_bound
            );
            assert!(r.packing.bins >= lb && r.packing.bins <= ffd.bins, "{name}");
            gap_ffd += (ffd.bins - lb) as f64 / lb as f64;
            gap += (r.packing.bins - lb) as f64 / lb as f64;
            optimal += (r.packing.bins == lb) as usize;
        }
        let n = fs.len() as f64;
        println!(
            "| {set} | {} | {:.2} % | {:.2} % | {optimal}/{} |",
            fs.len(),
            100.0 * gap_ffd / n,
            100.0 * gap / n,
            fs.len()
        );
        // Our FFD is the textbook one: its mean gap matches the README's Python baseline.
        assert!((100.0 * gap_ffd / n - ffd_ref).abs() < 0.05, "{set}");
    }
}

#[test]
fn vector_instances_are_packed_feasibly_within_known_bounds() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/instances/vectorpack"
    );
    if !Path::new(root).exists() {
        println!(
            "vector_instances_are_packed_feasibly_within_known_bounds: skipped, {root} is missing"
        );
        return;
    }
    let table = std::fs::read_to_string(Path::new(root).join("Panigrahy_base_OPT.csv")).unwrap();
    let known: HashMap<String, (usize, i64)> = table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                f.first()?.to_string(),
                (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?),
            ))
        })
        .collect();
    let (mut checked, mut gap) = (0, 0.0);
    for class in 1..=9 {
        let dir = Path::new(root).join(format!("Panigrahy_instances_multidim/class{class}"));
        let mut fs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("_120_"))
            })
            .collect();
        fs.sort();
        for f in fs.iter().take(3) {
            let p = BinPacking::parse(&std::fs::read_to_string(f).unwrap()).unwrap();
            let name = f.file_stem().unwrap().to_str().unwrap();
            let r = p.pack_with(
                &SearchLimit::default()
                    .with_attempts(20)
                    .with_time_ms(60_000),
            );
            assert!(p.is_feasible(&r.packing), "{name}");
            if let Some(&(lb, opt)) = known.get(name) {
                assert!(r.lower_bound <= lb.max(r.lower_bound), "{name}");
                if opt > 0 {
                    assert!(
                        r.lower_bound as i64 <= opt && r.packing.bins as i64 >= opt,
                        "{name}"
                    );
                    gap += (r.packing.bins as f64 - opt as f64) / opt as f64;
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
    println!(
        "Panigrahy n=120 (3 per class, OPT known): {checked} instances, mean gap {:.2} %",
        100.0 * gap / checked as f64
    );
}
