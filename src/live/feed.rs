//! What a live engine does with each batch it absorbs, and the calls an embedder makes to
//! acknowledge and to finish.

use kelvin_ingest::{Batch, IngestBatch, Reason};
use kelvin_model::Place;

use super::state::{Live, LiveStatus};
use crate::{Engine, Error};

/// Readings for intervals already closed: inside the restatement window they mark the
/// intervals their interpolation reaches (±`max_gap_ns`) for restating; older ones move to the
/// quarantine, counted.
pub(crate) fn sift_late(live: &mut Live, parsed: &mut IngestBatch, step: i64, max_gap_ns: i64) {
    let Some(ct) = live.ack.closed_through else {
        return;
    };
    // Closed intervals interpolate up to `max_gap` past their end: a reading before
    // `ct + max_gap` may change them (one arriving in time is never there: intervals close
    // only when the watermark is `max_gap` past them).
    let reach = ct.saturating_add(max_gap_ns);
    if parsed.readings.iter().all(|r| r.ts.as_nanos() >= reach) {
        return;
    }
    let horizon = ct.saturating_sub(live.opts.restatement_ns);
    let first = live.ack.first_interval.unwrap_or(ct);
    let why = format!(
        "late: its interval closed and the restatement window ({} s) ended before it arrived",
        live.opts.restatement_ns / 1_000_000_000
    );
    let late = parsed.sift_readings(&Place::source("live"), Reason::ImplausibleTime, |r| {
        let t = r.ts.as_nanos();
        if t >= reach {
            return None;
        }
        if t < horizon {
            return Some(why.clone());
        }
        let lo = t.saturating_sub(max_gap_ns).max(first).div_euclid(step) * step;
        let hi = t.saturating_add(max_gap_ns).min(ct - 1);
        let mut s = lo;
        while s <= hi {
            live.dirty.entry(s).or_insert_with(|| {
                format!(
                    "late reading of {} {} at {}",
                    r.entity,
                    r.sensor,
                    r.ts.to_rfc3339()
                )
            });
            s += step;
        }
        None
    });
    live.ack.late += late as u64;
}

/// Which source a batch came from, for the watermarks, and when it was polled.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The collector: the entity a capture describes (its BMC, PDU or GPU sampler), else the
    /// batch's source name. Not the file name: a collector's captures are one source.
    pub(crate) source: String,
    /// When the collector polled it, when known.
    pub(crate) poll: Option<i64>,
    /// A capture (a device's snapshot or log), whose own clock may be wrong.
    pub(crate) capture: bool,
}

impl Origin {
    pub(crate) fn of(batch: &Batch) -> Origin {
        match batch {
            Batch::Capture {
                entity,
                taken_at,
                source,
                ..
            } => Origin {
                source: entity
                    .as_ref()
                    .map_or_else(|| source.clone(), |e| format!("capture:{e}")),
                poll: taken_at.map(|t| t.as_nanos()),
                capture: true,
            },
            _ => Origin {
                source: batch.source().to_owned(),
                poll: batch.poll_time().map(|t| t.as_nanos()),
                capture: false,
            },
        }
    }

    pub(crate) fn named(source: &str) -> Origin {
        Origin {
            source: source.to_owned(),
            poll: None,
            capture: false,
        }
    }
}

impl Engine {
    /// After a batch is stored: the source's progress, the first interval, and whatever the
    /// watermark now lets close.
    pub(crate) fn live_absorbed(
        &mut self,
        live: &mut Live,
        origin: &Origin,
        parsed: &IngestBatch,
    ) -> Result<(), Error> {
        let mut span: Option<(i64, i64)> = None;
        for r in &parsed.readings {
            let t = r.ts.as_nanos();
            span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
        let Some((lo, hi)) = span else {
            return Ok(());
        };
        // The first interval is fixed only when the first one closes, from the oldest reading
        // seen by then: any arrival order within the lateness window gives the same grid.
        live.ack.oldest = Some(live.ack.oldest.map_or(lo, |o| o.min(lo)));
        live.ack
            .marks
            .observe(&origin.source, hi, origin.poll.unwrap_or(hi));
        // An interval's integral interpolates up to `max_gap` past its end, so it closes only
        // when the watermark has passed that too: no reading that can still arrive in time
        // changes it.
        match live.ack.marks.watermark() {
            Some(w) => self.live_advance(live, w.saturating_sub(self.resample.max_gap_ns)),
            None => Ok(()),
        }
    }

    /// Acknowledges everything ingested so far: the readings are in the store's log, the
    /// intervals closed and restated since the last commit are in the book, and (with a data
    /// directory) both are on disk when this returns. A live engine counts its commits
    /// ([`LiveStatus::acknowledged`]), so a feeder that commits once per batch knows where to
    /// resume after a crash.
    ///
    /// # Errors
    /// [`Error::Store`] when writing fails; what was acknowledged before stays.
    pub fn commit(&mut self) -> Result<(), Error> {
        // Restatements that calls asked for are booked before the acknowledgement, so a crash
        // right after it cannot lose them.
        if let Some(mut live) = self.live.take() {
            let out = self.restate_dirty(&mut live);
            self.live = Some(live);
            out?;
        }
        self.store.commit()?;
        if let Some(live) = &mut self.live {
            live.ack.ingest.clone_from(&self.stats);
            live.ack.quarantined.clone_from(self.log.counts());
            live.ack.counters = self.counters.totals();
            live.commit()?;
        }
        Ok(())
    }

    /// Closes every interval up to the newest reading, without waiting for the lateness window
    /// (the end of a stream), and commits.
    ///
    /// # Errors
    /// As [`Engine::commit`], and [`Error::Attribution`] for data that cannot be settled.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(mut live) = self.live.take() {
            let out = match live.ack.marks.newest() {
                Some(n) => self.live_advance(&mut live, n),
                None => Ok(()),
            };
            self.live = Some(live);
            out?;
        }
        self.commit()
    }

    /// Where a live engine stands (`None` for an engine that is not live).
    pub fn live_status(&self) -> Option<LiveStatus> {
        self.live.as_ref().map(|l| {
            let mut s = l.status();
            s.store_bytes = (
                self.store.memory_estimate(),
                self.store.options().memory_budget,
            );
            s
        })
    }
}
