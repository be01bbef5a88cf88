//! Closing intervals and restating them: the live engine's two writes to its book.

use std::collections::BTreeMap;
use std::sync::Arc;

use kelvin_attribution::ledger::{ClosedInterval, Restatement};
use kelvin_attribution::{
    AlignedInput, HostSeries, LedgerOptions, PinnedFloor, WorkloadSeries, attribute_with_floors,
};
use kelvin_model::Timestamp;

use super::chunk::Chunk;
use super::floors::calibrate_chunk;
use super::state::{FloorEpoch, Live};
use crate::{Engine, Error};

impl Engine {
    /// Restates the dirty intervals, then closes every interval that ends at or before
    /// `target` (the watermark, or the newest reading when finishing).
    pub(crate) fn live_advance(&mut self, live: &mut Live, target: i64) -> Result<(), Error> {
        self.restate_dirty(live)?;
        let step = self.interval_ns;
        if live.ack.closed_through.is_none()
            && let Some(oldest) = live.ack.oldest
        {
            let start = oldest.div_euclid(step) * step;
            if start.saturating_add(step) <= target {
                live.ack.closed_through = Some(start);
                live.ack.first_interval = Some(start);
            }
        }
        let Some(mut ct) = live.ack.closed_through else {
            return Ok(());
        };
        while ct.saturating_add(step) <= target {
            if ct >= live.ack.next_calibration {
                self.recalibrate(live, ct)?;
            }
            // Close up to the target or the next calibration, whichever comes first, in one
            // aligned read of the store.
            let stop = target.min(live.ack.next_calibration.max(ct + step));
            let k = ((stop - ct) / step).max(1);
            let end = ct + k * step;
            let mut chunk = self.live_chunk(live, ct, end)?;
            live.drift.observe_chunk(&chunk);
            let floors = live.current_floors();
            live.history.record_all(&chunk);
            chunk.fill_from_rapl(&floors);
            for i in 0..k as usize {
                let c = self.settle_one(&chunk, i, &floors, &live.opts.ledger)?;
                live.ack.closed_through = Some(c.start.as_nanos() + step);
                live.book_closed(c, floors.clone());
            }
            ct = end;
        }
        Ok(())
    }

    /// Settles interval `i` of `aligned` with `floors`, as one closed interval.
    fn settle_one(
        &self,
        chunk: &Chunk,
        i: usize,
        floors: &FloorEpoch,
        opts: &LedgerOptions,
    ) -> Result<ClosedInterval, Error> {
        let one = slice(chunk, i);
        let pinned: Vec<Option<PinnedFloor>> = one
            .hosts
            .iter()
            .map(|h| floors.floors.get(h.host.as_str()).copied())
            .collect();
        let ledger = attribute_with_floors(&one, &pinned, opts)?;
        Ok(ClosedInterval::from_ledger(one.start, &ledger, |h| {
            let filled = (!chunk.provenance_at.is_empty())
                .then(|| chunk.provenance_at.get(&(h.clone(), i)))
                .flatten();
            filled
                .or_else(|| chunk.provenance.get(h))
                .cloned()
                .unwrap_or_else(|| Arc::from("none"))
        }))
    }

    /// Calibrates every meter's floor on the closed intervals before `at` (at most the floor
    /// history), puts them in force from `at`, and schedules the next calibration.
    fn recalibrate(&self, live: &mut Live, at: i64) -> Result<(), Error> {
        let epoch = self.calibrate_at(live, at)?;
        let history = at.saturating_sub(live.ack.first_interval.unwrap_or(at));
        let period = calibration_period(history, self.interval_ns, live.opts.recalibrate_ns);
        live.ack.next_calibration = at.saturating_add(period);
        live.push_floors(epoch);
        Ok(())
    }

    /// The floors of every meter calibrated on the closed intervals before `at` (at most the
    /// floor history).
    fn calibrate_at(&self, live: &Live, at: i64) -> Result<FloorEpoch, Error> {
        let from = at
            .saturating_sub(live.opts.floor_history_ns)
            .max(live.ack.first_interval.unwrap_or(at));
        let (floors, rapl) = if at - from >= 3 * self.interval_ns {
            // One read of the history for both fits.
            let chunk = live.history.chunk(from, at, self.interval_ns);
            let floors = calibrate_chunk(
                &chunk,
                &self.inventory,
                live.opts.pool_floors,
                self.interval_ns,
            );
            let rapl = if live.opts.rapl_fallback {
                super::floors::calibrate_rapl(&chunk)
            } else {
                BTreeMap::new()
            };
            (floors, rapl)
        } else {
            (BTreeMap::new(), BTreeMap::new())
        };
        Ok(FloorEpoch {
            from_ns: at,
            floors,
            rapl,
        })
    }

    /// A late reading at `since` also changes the data of every later floor epoch whose
    /// history reaches it: calibrate those again and, where the floors changed, restate
    /// every interval settled with them.
    fn recalibrate_since(&mut self, live: &mut Live, since: i64) -> Result<(), Error> {
        let reach = since.saturating_add(self.resample.max_gap_ns + self.interval_ns);
        let epochs: Vec<i64> = live
            .floors
            .iter()
            .map(|f| f.from_ns)
            .filter(|&at| at > since && at.saturating_sub(live.opts.floor_history_ns) < reach)
            .collect();
        for at in epochs {
            let epoch = self.calibrate_at(live, at)?;
            let same = live
                .floors
                .iter()
                .any(|f| f.from_ns == at && f.floors == epoch.floors && f.rapl == epoch.rapl);
            if same {
                continue;
            }
            let arc = live.push_floors(epoch);
            for (c, f) in live.recent.iter_mut() {
                if f.from_ns == at {
                    *f = arc.clone();
                    live.dirty.entry(c.start.as_nanos()).or_insert_with(|| {
                        "its floors were calibrated again after a late reading".to_owned()
                    });
                }
            }
        }
        Ok(())
    }

    /// Settles again every closed interval that late readings or calls touched, and books a
    /// restatement for each whose sheets changed.
    pub(crate) fn restate_dirty(&mut self, live: &mut Live) -> Result<(), Error> {
        // The floor history first learns what the late readings changed: the epochs
        // calibrated on it are calibrated again below.
        let mut chunks = BTreeMap::new();
        for &start in live.dirty.keys() {
            if live.recent.iter().any(|(c, _)| c.start.as_nanos() == start) {
                let chunk = self.live_chunk(live, start, start + self.interval_ns)?;
                live.history.record_all(&chunk);
                chunks.insert(start, chunk);
            }
        }
        if let Some(&since) = live.dirty.keys().next() {
            self.recalibrate_since(live, since)?;
        }
        let dirty = std::mem::take(&mut live.dirty);
        for (start, why) in dirty {
            let Some(index) = live
                .recent
                .iter()
                .position(|(c, _)| c.start.as_nanos() == start)
            else {
                continue;
            };
            let floors = live.recent[index].1.clone();
            let mut chunk = match chunks.remove(&start) {
                Some(c) => c,
                None => self.live_chunk(live, start, start + self.interval_ns)?,
            };
            chunk.fill_from_rapl(&floors);
            let new = self.settle_one(&chunk, 0, &floors, &live.opts.ledger)?;
            let old = &live.recent[index].0;
            if *old != new {
                let old = old.clone();
                live.book_restated(index, Restatement { old, new, why });
            }
        }
        Ok(())
    }
}

impl Engine {
    /// After reopening: the floor history rebuilt from the store for the closed intervals
    /// a recalibration may still read (the rows an uninterrupted engine recorded as it
    /// closed them; see `history`).
    pub(crate) fn rebuild_floor_history(&mut self) -> Result<(), Error> {
        let Some(mut live) = self.live.take() else {
            return Ok(());
        };
        let out = (|| {
            let (Some(ct), Some(first)) = (live.ack.closed_through, live.ack.first_interval) else {
                return Ok(());
            };
            let reach = live
                .opts
                .restatement_ns
                .saturating_add(self.resample.max_gap_ns)
                .saturating_add(live.opts.floor_history_ns)
                .saturating_add(self.interval_ns);
            let from = ct.saturating_sub(reach).max(first);
            let from = from - (from - first).rem_euclid(self.interval_ns);
            if from < ct {
                let chunk = self.live_chunk(&live, from, ct)?;
                live.history.record_all(&chunk);
            }
            Ok(())
        })();
        self.live = Some(live);
        out
    }
}

/// How long after a calibration on `history` ns of closed intervals the next one comes: while
/// the history is shorter than the recalibration period, as soon as it has doubled (after one
/// interval, two, four, …), so that a new engine has floors within minutes rather than after
/// its first period; then every period.
fn calibration_period(history: i64, interval_ns: i64, recalibrate_ns: i64) -> i64 {
    history.clamp(interval_ns, recalibrate_ns.max(interval_ns))
}

/// Interval `i` of a chunk as a one-interval input: the workloads valid in it, each
/// reserving its requested cores for the share of the interval it was there.
fn slice(chunk: &Chunk, i: usize) -> AlignedInput {
    let input = &chunk.input;
    let at = |v: &[f64]| vec![v.get(i).copied().unwrap_or(f64::NAN)];
    let hosts = input
        .hosts
        .iter()
        .zip(&chunk.share)
        .map(|(h, shares)| HostSeries {
            host: h.host.clone(),
            cores: h.cores,
            energy_j: at(&h.energy_j),
            meter_rel_sigma: h.meter_rel_sigma,
            workloads: h
                .workloads
                .iter()
                .zip(shares)
                .filter(|(_, sh)| sh[i] > 0.0)
                .map(|(w, sh)| {
                    let one = WorkloadSeries::new(
                        w.workload.clone(),
                        w.requested_cores * sh[i],
                        at(&w.cpu_s),
                    );
                    match w.reservation {
                        Some(r) => one.with_reservation(r * sh[i]),
                        None => one,
                    }
                })
                .collect(),
            system_cpu_s: h.system_cpu_s.as_ref().map(|v| at(v)),
        })
        .collect();
    AlignedInput {
        start: Timestamp::from_nanos(input.start.as_nanos() + i as i64 * input.interval_ns),
        interval_ns: input.interval_ns,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::calibration_period;

    #[test]
    fn a_new_engine_calibrates_as_its_history_doubles() {
        const MIN: i64 = 60_000_000_000;
        let (mut at, mut times) = (0, Vec::new());
        while at < 40 * MIN {
            times.push(at / MIN);
            at += calibration_period(at, MIN, 15 * MIN);
        }
        assert_eq!(times, [0, 1, 2, 4, 8, 16, 31]);
        // A period shorter than the interval is one interval.
        assert_eq!(calibration_period(10 * MIN, MIN, 1), MIN);
    }
}
