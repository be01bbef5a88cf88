//! Times as the collector saw them: readings checked against the poll that fetched them, and
//! a snapshot capture whose device clock runs ahead or behind (a BMC 137 s fast) moved onto
//! the collector's clock.

use kelvin_ingest::{IngestBatch, PollBounds};
use kelvin_model::Timestamp;

/// A device clock this far from the poll is corrected (2 s: within it, the offset is the
/// BMC's own sampling delay, not a wrong clock).
const CLOCK_TOLERANCE_NS: i64 = 2_000_000_000;

/// Own-clock readings of a capture spread over at most this are one snapshot, whose offset
/// from the poll is the device clock's error; a longer spread is a log (an NVML sampler file)
/// and is left as it is.
const SNAPSHOT_SPREAD_NS: i64 = 60_000_000_000;

/// What [`check_times`] did to a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClockFix {
    /// The device clock's measured offset from the poll, ns, when it was corrected.
    pub(crate) offset_ns: Option<i64>,
    /// Readings moved onto the collector's clock.
    pub(crate) corrected: usize,
}

/// Checks a batch's times against its poll: a snapshot capture's own clock, when off by more
/// than [`CLOCK_TOLERANCE_NS`] (and less than the bounds allow), is corrected first; then
/// readings too far from the poll are quarantined ([`IngestBatch::sift_poll`]). A log-like
/// capture (own-clock readings spread over more than a minute) is only corrected, never
/// sifted against its start.
pub(crate) fn check_times(
    parsed: &mut IngestBatch,
    poll: Timestamp,
    capture: bool,
    bounds: &PollBounds,
    source: &str,
) -> ClockFix {
    let mut fix = ClockFix::default();
    let spread = own_clock_spread(parsed);
    let snapshot = spread.is_none_or(|s| s <= SNAPSHOT_SPREAD_NS);
    if capture
        && snapshot
        && let Some(off) = parsed.clock_offset_ns(poll)
        && off.abs() > CLOCK_TOLERANCE_NS
        && off <= bounds.ahead_ns
        && -off <= bounds.behind_ns
    {
        fix.corrected = parsed.shift_times(-off);
        fix.offset_ns = Some(off);
    }
    if snapshot {
        parsed.sift_poll(poll, bounds, source);
    }
    fix
}

/// The spread (newest − oldest) of the readings that carry the source's own timestamps.
fn own_clock_spread(parsed: &IngestBatch) -> Option<i64> {
    let marks = parsed.defaulted()?;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (r, defaulted) in parsed.readings.iter().zip(marks) {
        if !defaulted && r.ts.is_known() {
            lo = lo.min(r.ts.as_nanos());
            hi = hi.max(r.ts.as_nanos());
        }
    }
    (hi >= lo).then(|| hi.saturating_sub(lo))
}
