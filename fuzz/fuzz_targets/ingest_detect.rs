//! Format detection as `--format auto` runs it: `detect` on the input's head, then
//! `decode_str(None, ..)`; then the generic push adapter (`Pushed`) around the detected
//! decoder, fed in chunks of random sizes, which must give what one whole decode gives.
//!
//! Input: the whole input is the text; chunk sizes are drawn from a generator seeded with its
//! first bytes (which stay part of the text).
#![no_main]

use kelvin_fuzz::{Rng, budget, check_batch, normalizer, text};
use kelvin_ingest::{Context, IngestBatch, Pushed, decode_str, decoder, detect};
use libfuzzer_sys::fuzz_target;

/// What `decode_str` sniffs (`dispatch::SNIFF_BYTES`).
const SNIFF_BYTES: usize = 8 << 10;

fn head(text: &str) -> &str {
    let mut end = text.len().min(SNIFF_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let text = text(data);
        let ctx = Context::new("fuzz-input", normalizer());
        let auto = decode_str(None, &text, &ctx);
        check_batch(&auto, "auto");
        let Some(format) = detect(head(&text)) else {
            assert_eq!(auto.readings.len(), 0, "undetected input gave readings");
            return;
        };
        let Some(d) = decoder(format) else {
            return;
        };
        let mut whole = IngestBatch::default();
        d.decode(&text, &ctx, &mut whole);
        check_batch(&whole, format.as_str());
        assert_eq!(
            whole.stats, auto.stats,
            "{format}: auto and explicit differ"
        );
        let mut rng = Rng::new(data);
        let mut p = Pushed::new(d, &ctx);
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            let n = rng.range1(4096).min(rest.len());
            p.push(&rest[..n]);
            rest = &rest[n..];
        }
        let pushed = p.finish();
        check_batch(&pushed, "pushed");
        assert_eq!(
            pushed.stats, whole.stats,
            "{format}: pushed and whole differ"
        );
        assert_eq!(
            format!("{:?}", pushed.readings),
            format!("{:?}", whole.readings),
            "{format}: pushed and whole readings differ"
        );
    });
});
