//! The push form of the Prometheus decoder (`kelvin_ingest::prometheus::Decoder`), fed in
//! chunks of random sizes (and drained at random points), as a scrape arrives from a socket.
//!
//! Input: 8 bytes seed the chunk sizes, one byte chooses the options, the rest is the text.
//! Besides the batch invariants, a valid UTF-8 text must decode exactly as the pull form
//! (`prometheus::parse_str`) decodes it whole: same readings, same counts, same quarantine
//! places and reasons.
#![no_main]

use kelvin_fuzz::{Bytes, Rng, budget, check_batch, rules};
use kelvin_ingest::prometheus::{Decoder, ParseOptions, parse_str};
use kelvin_ingest::{IngestBatch, Quarantined};
use kelvin_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fn options(flags: u8) -> ParseOptions {
    let mut opts = ParseOptions::default();
    if flags & 1 != 0 {
        opts = opts.with_default_timestamp(Timestamp::from_millis(1_700_000_000_000));
    }
    if flags & 2 != 0 {
        opts = opts.with_target_label("instance", "fuzz-host");
    }
    if flags & 4 != 0 {
        // Small limits reach the over-long-line and too-many-labels paths with short inputs.
        opts = opts.with_max_line_bytes(64).with_max_labels(2);
    }
    if flags & 8 != 0 {
        opts.require_timestamp = false;
    }
    opts
}

fn shape(q: &[Quarantined]) -> Vec<String> {
    q.iter()
        .map(|q| format!("{} {}", q.place, q.reason))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let mut input = Bytes::new(data);
        let mut rng = Rng::new(input.take(8));
        let flags = input.u8();
        let body = input.rest();
        let opts = options(flags);
        let mut d = Decoder::new("fuzz.prom", rules(), opts.clone());
        let mut pushed = IngestBatch::default();
        let mut rest = body;
        while !rest.is_empty() {
            let n = rng.range1(257).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            d.push(chunk);
            rest = tail;
            if rng.next_u64().is_multiple_of(8) {
                pushed.append(d.drain());
            }
        }
        pushed.append(d.finish());
        check_batch(&pushed, "prometheus push");
        if let Ok(text) = std::str::from_utf8(body) {
            let whole = parse_str(text, "fuzz.prom", rules(), &opts);
            check_batch(&whole, "prometheus parse_str");
            assert_eq!(pushed.stats, whole.stats, "push and pull counts differ");
            assert_eq!(
                format!("{:?}", pushed.readings),
                format!("{:?}", whole.readings),
                "push and pull readings differ"
            );
            assert_eq!(
                shape(&pushed.quarantine),
                shape(&whole.quarantine),
                "push and pull quarantine differ"
            );
        }
    });
});
