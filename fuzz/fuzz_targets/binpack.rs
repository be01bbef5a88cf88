//! The bin-packing instance reader, `BinPacking::parse` (BPPLIB `.txt`/`.bpp` and `.vbp`),
//! then what `pack_with` does (`pack`, then `improve` under a 5 ms search limit), as the `binpack`
//! example runs an instance.
//!
//! Checks: the packings are feasible, and the time-limited calls (`pack_with`, `improve`)
//! return within a coarse bound of their limit (1 s for a 5 ms limit: far beyond scheduling noise, so only a
//! search that ignores its deadline trips it; the exact 10 % / 50 ms bound is a regression
//! test's job). Instances too large to pack in libFuzzer's timeout show up as timeouts.
#![no_main]

use std::time::{Duration, Instant};

use kelvin_fuzz::{budget, text};
use kelvin_placement::binpack::{BinPacking, SearchLimit};
use libfuzzer_sys::fuzz_target;

/// Short, so that an input costs milliseconds, not a second.
const LIMIT_MS: u64 = 5;

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let text = text(data);
        let Ok(p) = BinPacking::parse(&text) else {
            return;
        };
        let _ = p.lower_bound();
        // `pack()` has no limit (O(items × bins) on vectors): the start comes from the
        // time-limited path a user of untrusted instances calls.
        let limit = SearchLimit::default().with_time_ms(LIMIT_MS);
        let t = Instant::now();
        let start = p.pack_with(&limit).packing;
        let took = t.elapsed();
        assert!(p.is_feasible(&start), "pack_with() gave an infeasible packing");
        assert!(
            took < Duration::from_millis(LIMIT_MS) + Duration::from_secs(1),
            "pack_with() with a {LIMIT_MS} ms limit ran {took:?} on {} items",
            p.len()
        );
        let t = Instant::now();
        let best = p.improve(&start, &limit);
        let took = t.elapsed();
        assert!(p.is_feasible(&best), "improve() gave an infeasible packing");
        assert!(best.bins <= start.bins, "improve() made the packing worse");
        assert!(
            took < Duration::from_millis(LIMIT_MS) + Duration::from_secs(1),
            "improve() with a {LIMIT_MS} ms limit ran {took:?} on {} items",
            p.len()
        );
    });
});
