//! Each wall meter's power model, recalibrated online as its intervals close, and the drifts
//! it finds: a host that starts drawing more (or less) than its own recent behaviour predicts
//! at the same CPU utilization — a failed fan, a firmware power-profile change, a PSU going
//! bad, a BMC whose reading jumped.
//!
//! Every closed interval of a host wall meter with a measured energy feeds its
//! [`OnlineModel`] (recursive least squares of power on CPU utilization, forgetting factor
//! 0.995, about 200 intervals of memory) and the model's Page–Hinkley test. A drift of at
//! least 10 W and 5 % of the meter's mean power is reported once, when declared, with its
//! estimated onset and size ([`MeterDrift`]); the model then goes on from the new level. Drifts do not change bills (a restarted engine warms its
//! models up again and would not find the same ones at the same intervals); they are the
//! signal that a meter's floors and curves no longer describe the machine.

use std::collections::{BTreeMap, VecDeque};

use kelvin_attribution::busy_cores;
use kelvin_attribution::power::{OnlineModel, Resource};
use kelvin_model::Timestamp;

use super::chunk::Chunk;

/// Drifts kept (the newest).
const KEPT: usize = 256;

/// Smallest shift reported, watts, and as a share of the meter's mean power (the larger
/// applies): a failed fan or a PSU going bad moves a server by tens of watts.
const MIN_SHIFT_W: f64 = 10.0;
const MIN_SHIFT_REL: f64 = 0.05;

/// Forgetting factor of each meter's model.
const FORGETTING: f64 = 0.995;

/// A change in a meter's power at the same utilization, found online.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterDrift {
    /// The meter (a host's wall meter or a GPU).
    pub meter: String,
    /// Start of the closed interval at which the drift was declared.
    pub declared: Timestamp,
    /// Start of the interval from which the change is estimated to run.
    pub onset: Timestamp,
    /// The estimated shift, watts: positive when the meter draws more than its model
    /// predicts.
    pub shift_w: f64,
}

/// One model per meter and the drifts found so far.
#[derive(Debug, Default)]
pub(crate) struct DriftWatch {
    models: BTreeMap<String, Meter>,
    drifts: VecDeque<MeterDrift>,
    found: u64,
}

#[derive(Debug)]
struct Meter {
    model: OnlineModel,
    /// Mean power, watts (exponentially weighted over about 100 intervals).
    mean_w: f64,
}

/// Residuals each meter's model keeps to date an onset (about 2 h of one-minute intervals;
/// 2 KB a meter).
const TAIL: usize = 128;

impl DriftWatch {
    /// Feeds the interval at `start` (of `interval_ns`) of `meter`: its mean power and its
    /// CPU utilization (0..1). Intervals without a finite measurement are skipped.
    pub(crate) fn observe(
        &mut self,
        meter: &str,
        (start, interval_ns): (i64, i64),
        watts: f64,
        utilization: f64,
    ) {
        if !(watts.is_finite() && utilization.is_finite()) {
            return;
        }
        let m = match self.models.get_mut(meter) {
            Some(m) => m,
            None => {
                let Ok(model) = OnlineModel::new(&[Resource::Cpu], FORGETTING) else {
                    return;
                };
                self.models.entry(meter.to_owned()).or_insert(Meter {
                    model: model.with_tail(TAIL),
                    mean_w: watts,
                })
            }
        };
        let n = m.model.samples();
        m.mean_w += (watts - m.mean_w) * 0.01;
        let Ok(Some(event)) = m.model.update(&[utilization.clamp(0.0, 1.0)], watts) else {
            return;
        };
        // A shift the test finds but no operator would act on (a linear model's misfit on a
        // concave power curve as the load moves) is not reported.
        if event.shift_w.abs() < MIN_SHIFT_W.max(MIN_SHIFT_REL * m.mean_w) {
            return;
        }
        // Dated by counting the meter's intervals back (a gap in its measurements makes the
        // date early by the gap).
        let back = i64::try_from(n.saturating_sub(event.onset)).unwrap_or(i64::MAX);
        let onset = start.saturating_sub(back.saturating_mul(interval_ns));
        if self.drifts.len() == KEPT {
            self.drifts.pop_front();
        }
        self.found += 1;
        self.drifts.push_back(MeterDrift {
            meter: meter.to_owned(),
            declared: Timestamp::from_nanos(start),
            onset: Timestamp::from_nanos(onset),
            shift_w: event.shift_w,
        });
    }

    /// Feeds every interval of `chunk`: each host wall meter's mean power against its CPU
    /// utilization (busy cores, the host's own included, over its cores). GPUs and GPU
    /// servers are not watched: a GPU's power per unit of SM activity changes with what runs
    /// on it, and a GPU server's power follows its GPUs.
    pub(crate) fn observe_chunk(&mut self, chunk: &Chunk) {
        let input = &chunk.input;
        let secs = (input.interval_ns as f64 / 1e9).max(f64::MIN_POSITIVE);
        let mut watched = vec![true; input.hosts.len()];
        for (m, p) in chunk.parent.iter().enumerate() {
            if let Some(p) = *p {
                // A GPU's power per unit of SM activity depends on what runs on it, and the
                // rest of a GPU server's wall follows its GPUs, not its CPUs.
                watched[m] = false;
                watched[p] = false;
            }
        }
        for (m, h) in input.hosts.iter().enumerate() {
            if !watched[m] {
                continue;
            }
            let busy = busy_cores(h, input.interval_ns);
            for (i, (&e, b)) in h.energy_j.iter().zip(busy).enumerate() {
                let start = input.start.as_nanos() + i as i64 * input.interval_ns;
                self.observe(
                    h.host.as_str(),
                    (start, input.interval_ns),
                    e / secs,
                    b / h.cores.max(1.0),
                );
            }
        }
    }

    /// The newest drifts, oldest first.
    pub(crate) fn drifts(&self) -> impl Iterator<Item = &MeterDrift> {
        self.drifts.iter()
    }

    /// Drifts found since the engine started (including those no longer kept).
    pub(crate) fn found(&self) -> u64 {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * Timestamp::NANOS_PER_SEC;

    /// A host idling at 180 W plus 220 W at full load, with a fan failure adding 25 W from
    /// interval 700 on: one drift, dated near 700, about +25 W; its neighbour, unchanged,
    /// none.
    #[test]
    fn a_step_in_one_meter_is_found_and_dated_and_the_other_stays_quiet() {
        let mut w = DriftWatch::default();
        for i in 0..1_400_i64 {
            let u = 0.3 + 0.25 * ((i as f64) * 0.37).sin().abs();
            let noise = 1.5 * ((i as f64) * 12.9898).sin();
            let step = if i >= 700 { 25.0 } else { 0.0 };
            w.observe("h1", (i * MIN, MIN), 180.0 + 220.0 * u + noise + step, u);
            w.observe("h2", (i * MIN, MIN), 175.0 + 210.0 * u + noise, u);
            w.observe("h3", (i * MIN, MIN), f64::NAN, u);
        }
        let d: Vec<&MeterDrift> = w.drifts().collect();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].meter, "h1");
        let onset = d[0].onset.as_nanos() / MIN;
        let declared = d[0].declared.as_nanos() / MIN;
        assert!((695..=710).contains(&onset), "onset {onset}");
        assert!((700..730).contains(&declared), "declared {declared}");
        assert!((d[0].shift_w - 25.0).abs() < 5.0, "{}", d[0].shift_w);
        assert_eq!(w.found(), 1);
    }
}
