//! Bin packing on the published benchmark instances in `../shared/instances` (skipped when
//! missing): every packing is feasible, never below the lower bound, never below the known
//! optimum and never worse than first fit decreasing, whose gaps reproduce the ones the
//! instance README reports, and the same seed gives the same packing. Prints a per-set table
//! with `--nocapture` (a small fixed round budget here, so the figures do not depend on the
//! machine; docs/placement.md has the example's figures at its time limit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kelvin_placement::binpack::{BinPacking, SearchLimit};

/// Search rounds per vector instance (the one-dimensional sets give theirs in the table
/// below; a debug build on two cores stays under a minute).
const ROUNDS_VECTOR: u64 = 3;

fn limit(rounds: u64, seed: u64) -> SearchLimit {
    SearchLimit::default()
        .with_attempts(rounds)
        .with_time_ms(600_000)
        .with_seed(seed)
}

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
    println!("| set | instances | mean gap FFD | mean gap Kelvin (sample) | optimal (sample) |");
    println!("|---|---|---|---|---|");
    // (set, folder, FFD's mean gap in the README, search rounds, search every k-th instance):
    // a budget under a minute for a debug build on two cores.
    println!("(Kelvin: a fixed round budget on a sample of each set, not the docs' figures)");
    for (set, dir, ffd_ref, rounds, stride) in [
        (
            "Falkenauer_U",
            "1_Falkenauer/Falkenauer/Falkenauer_U",
            1.37,
            3,
            5,
        ),
        (
            "Falkenauer_T",
            "1_Falkenauer/Falkenauer/Falkenauer_T",
            14.69,
            3,
            5,
        ),
        ("Hard28", "5_Hard28/Hard28", 1.20, 1, 4),
    ] {
        let fs = files(dir);
        assert!(!fs.is_empty(), "{dir}");
        let (mut gap_ffd, mut gap, mut optimal, mut searched) = (0.0, 0.0, 0, 0);
        for (k, f) in fs.iter().enumerate() {
            let p = BinPacking::parse(&std::fs::read_to_string(f).unwrap()).unwrap();
            let name = f.file_stem().unwrap().to_str().unwrap();
            let (lb, ub) = opt[name];
            assert_eq!(lb, ub, "{name} has a known optimum");
            let ffd = p.first_fit_decreasing();
            assert!(p.is_feasible(&ffd) && ffd.bins >= lb, "{name}");
            gap_ffd += (ffd.bins - lb) as f64 / lb as f64;
            if k % stride != 0 {
                continue;
            }
            searched += 1;
            // A fixed round budget, so the result does not depend on the machine.
            let r = p.pack_with(&limit(rounds, 0));
            if k == 0 {
                let again = p.pack_with(&limit(rounds, 0));
                assert_eq!(r.packing, again.packing, "{name}: same seed, same packing");
            }
            assert!(p.is_feasible(&r.packing), "{name}");
            assert!(
                r.lower_bound <= lb,
                "{name}: bound {} above optimum {lb}",
                r.lower_bound
            );
            assert!(r.packing.bins >= lb && r.packing.bins <= ffd.bins, "{name}");
            gap += (r.packing.bins - lb) as f64 / lb as f64;
            optimal += (r.packing.bins == lb) as usize;
        }
        let n = fs.len() as f64;
        println!(
            "| {set} | {} | {:.2} % | {:.2} % | {optimal}/{searched} |",
            fs.len(),
            100.0 * gap_ffd / n,
            100.0 * gap / searched as f64,
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
            let r = p.pack_with(&limit(ROUNDS_VECTOR, 0));
            assert!(p.is_feasible(&r.packing), "{name}");
            assert!(r.packing.bins <= p.pack().packing.bins, "{name}");
            assert!(r.packing.bins >= r.lower_bound, "{name}");
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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random instances, edge cases included (items of size 0 and of a whole bin, one item,
    /// one to three dimensions), need no `../shared`: the search returns a feasible packing
    /// no worse than the decreasing fits and never below the lower bound, and the same seed
    /// gives the same packing. The dot-product and L2-norm packings are feasible too.
    #[test]
    fn random_instances_are_packed_feasibly_and_reproducibly(
        dims in 1usize..=3,
        cap in 1u64..=60,
        raw in proptest::collection::vec(proptest::collection::vec(0u64..=1_000, 3), 1..40),
        seed in proptest::prelude::any::<u64>(),
    ) {
        let items: Vec<Vec<u64>> = raw.iter().map(|it| it[..dims].iter().map(|w| w % (cap + 1)).collect()).collect();
        let p = BinPacking::try_new(vec![cap; dims], items).unwrap();
        let report = p.pack_with(&limit(3, seed));
        proptest::prop_assert!(p.is_feasible(&report.packing));
        proptest::prop_assert!(report.packing.bins >= report.lower_bound);
        for heuristic in [p.dot_product(), p.norm_l2()] {
            proptest::prop_assert!(p.is_feasible(&heuristic));
            proptest::prop_assert!(heuristic.bins >= report.lower_bound);
        }
        let greedy = p.first_fit_decreasing().bins.min(p.best_fit_decreasing().bins);
        proptest::prop_assert!(report.packing.bins <= greedy);
        proptest::prop_assert_eq!(&p.pack_with(&limit(3, seed)).packing, &report.packing);
    }
}
