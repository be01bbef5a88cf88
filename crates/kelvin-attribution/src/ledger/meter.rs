//! One meter's settlement, interval by interval: measure, price the resources, key and split
//! the dynamic and static parts under the policy, accumulate lines, accounts and errors.

use std::collections::HashMap;

use super::policy::{AttributionPolicy, Floor, IntervalView};
use super::types::{Account, Line, MeterInput, MeterSheet};
use super::uncertainty::{Acc, ErrorModel, Settled, accumulate, measured_amount};
use crate::{AttributionError, SplitScratch, largest_remainder_into};

/// Joules to µJ, rounded half away from zero (`(j · 1e6).round() as u64`, saturating, NaN
/// and negatives to 0), without the libm call `round` is on baseline x86-64.
#[inline]
fn to_uj(j: f64) -> u64 {
    let x = j * 1e6;
    // From 2^52 on every float is an integer; below, `x − trunc(x)` is exact.
    if x.is_nan() || x >= (1u64 << 52) as f64 {
        return x as u64;
    }
    let t = (x as i64).max(0);
    (t + i64::from(x - t as f64 >= 0.5)) as u64
}

/// Lines: one per distinct workload, in order of first appearance among the consumers.
/// Returns each consumer's line and each line's workload. (A map, not a scan of the lines so
/// far: a host may run tens of thousands of workloads.)
fn lines_of(m: &MeterInput) -> (Vec<usize>, Vec<usize>) {
    let mut line_of = Vec::with_capacity(m.consumers.len());
    let mut lines: Vec<usize> = Vec::new();
    let mut line_at: HashMap<usize, usize> = HashMap::with_capacity(m.consumers.len());
    for c in &m.consumers {
        let at = *line_at.entry(c.workload).or_insert_with(|| {
            lines.push(c.workload);
            lines.len() - 1
        });
        line_of.push(at);
    }
    (line_of, lines)
}

/// What a meter's settlement knows before its first interval.
struct Meter<'a> {
    m: &'a MeterInput,
    policy: &'a dyn AttributionPolicy,
    absorbed: bool,
    /// Whether the policy's static key is the same in every interval.
    fixed_static: bool,
    dt: f64,
    /// Each consumer's line.
    line_of: Vec<usize>,
    /// Each line's workload.
    lines: Vec<usize>,
    /// Whether consumer `k` is line `k` (one consumer per workload, the usual case): the
    /// consumers' parts are then copied into the lines, not scattered.
    identity: bool,
    /// Lines (workload lines, then the accounts).
    slots: usize,
    /// Usage columns, resource-major: `cols[r * consumers + k]`.
    cols: Vec<&'a [f64]>,
    /// Signature multipliers, resource-major.
    sigs: Vec<f64>,
    /// Σ reservations.
    reserved: f64,
    /// Each resource's curve at utilization 0, watts.
    zero_w: Vec<f64>,
}

/// Buffers reused every interval.
struct Scratch {
    /// Weights of the consumers, then of the account (system or idle).
    dyn_w: Vec<f64>,
    stat_w: Vec<f64>,
    dyn_part: Vec<u64>,
    stat_part: Vec<u64>,
    /// Per line then account, this interval's µJ.
    line_dyn: Vec<u64>,
    line_stat: Vec<u64>,
    split: SplitScratch,
    util: Vec<f64>,
    price: Vec<f64>,
    /// The last static split's weights and total (`None` when it failed): static keys rarely
    /// change (the tariff's never does), so an equal key and total reuse `stat_part`.
    last_stat_w: Vec<f64>,
    last_static: Option<u64>,
    /// Whether `stat_w` holds the meter's fixed static key already.
    stat_w_fixed: bool,
    /// Whether `stat_w` gives every consumer nothing and the account a finite positive weight:
    /// the whole static part goes to the account, which the split would only confirm.
    stat_idle_only: bool,
}

impl Scratch {
    fn new(consumers: usize, slots: usize, resources: usize) -> Scratch {
        Scratch {
            dyn_w: vec![0.0; consumers + 1],
            stat_w: vec![0.0; consumers + 1],
            dyn_part: vec![0; consumers + 1],
            stat_part: vec![0; consumers + 1],
            line_dyn: vec![0; slots],
            line_stat: vec![0; slots],
            split: SplitScratch::default(),
            util: vec![0.0; resources],
            price: vec![0.0; resources],
            last_stat_w: Vec::new(),
            last_static: None,
            stat_w_fixed: false,
            stat_idle_only: false,
        }
    }
}

/// The meter's running totals.
#[derive(Default)]
struct Totals {
    measured: u64,
    floor: u64,
    meas_sigma_j: f64,
    unmeasured: usize,
    gaps: usize,
}

/// Settles one meter over `n` intervals of `dt` seconds under `policy`, with intervals at `z`
/// standard deviations.
pub(super) fn settle_meter(
    m: &MeterInput,
    n: usize,
    dt: f64,
    z: f64,
    policy: &dyn AttributionPolicy,
    opts: &super::LedgerOptions,
) -> Result<MeterSheet, AttributionError> {
    let meter = Meter::new(m, policy, dt);
    let nl = meter.slots - Account::ALL.len();
    let mut acc = vec![Acc::default(); meter.slots];
    let mut per_interval = opts
        .keep_intervals
        .then(|| ndarray::Array2::<u64>::zeros((n, meter.slots)));
    let mut s = Scratch::new(m.consumers.len(), meter.slots, m.resources.len());
    let mut t = Totals::default();
    // Uniform misalignment of up to `alignment_s`: variance (a·Δ)²/3 per interval.
    let align = (opts.alignment_s / dt).min(1.0);
    let errors = ErrorModel {
        idle_sigma_w: m.idle_sigma_w,
        key_var: m.key_rel_sigma * m.key_rel_sigma,
        align_var: align * align / 3.0,
        dt,
    };
    for i in 0..n {
        let e = m.energy_j[i];
        if e.is_nan() {
            t.unmeasured += 1;
            continue;
        }
        let e_uj = to_uj(e);
        t.measured = t
            .measured
            .checked_add(e_uj)
            .ok_or_else(|| AttributionError::overflow(format!("meter {}", m.meter)))?;
        let sigma_e = match &m.sigma_j {
            Some(sj) if !sj[i].is_nan() => sj[i],
            _ => m.rel_sigma * e,
        };
        t.meas_sigma_j += sigma_e;
        let f_uj = to_uj(m.idle_w[i] * dt).min(e_uj);
        t.floor += f_uj;
        t.gaps += meter.price(i, &mut s);
        let dyn_total = meter.split(i, e_uj, f_uj, &mut s);
        let settled = Settled {
            index: i,
            e_uj,
            f_uj,
            d_uj: e_uj - f_uj,
            sigma_e,
            dyn_total,
            absorbed: meter.absorbed,
            dyn_w: &s.dyn_w,
            line_stat: &s.line_stat,
            line_dyn: &s.line_dyn,
        };
        accumulate(&mut acc, &settled, &errors, per_interval.as_mut());
    }
    meter.finish(&acc, nl, z, t, per_interval)
}

impl<'a> Meter<'a> {
    fn new(m: &'a MeterInput, policy: &'a dyn AttributionPolicy, dt: f64) -> Meter<'a> {
        let (line_of, lines) = lines_of(m);
        let nc = m.consumers.len();
        let nr = m.resources.len();
        let cols: Vec<&[f64]> = (0..nr)
            .flat_map(|r| m.consumers.iter().map(move |c| c.usage[r].as_slice()))
            .collect();
        let sigs: Vec<f64> = (0..nr)
            .flat_map(|r| {
                m.consumers
                    .iter()
                    .map(move |c| c.signature.as_ref().map_or(1.0, |s| s[r]))
            })
            .collect();
        debug_assert_eq!(cols.len(), nr * nc);
        Meter {
            m,
            policy,
            absorbed: policy.floor() == Floor::Absorbed,
            fixed_static: policy.static_key_is_fixed(),
            dt,
            identity: line_of.iter().enumerate().all(|(k, &l)| k == l),
            line_of,
            slots: lines.len() + Account::ALL.len(),
            lines,
            cols,
            sigs,
            reserved: m.consumers.iter().map(|c| c.reservation).sum(),
            zero_w: m.resources.iter().map(|r| r.curve.zero_w()).collect(),
        }
    }

    /// Utilization and unit price of each resource in interval `i`; returns the unknown
    /// usage cells.
    #[inline(always)]
    fn price(&self, i: usize, s: &mut Scratch) -> usize {
        let m = self.m;
        let nc = m.consumers.len();
        let mut gaps = 0;
        for r in 0..m.resources.len() {
            let mut x = 0.0;
            for col in self.cols[r * nc..(r + 1) * nc].iter() {
                let u = col[i];
                if u.is_nan() {
                    gaps += 1;
                } else {
                    x += u;
                }
            }
            if let Some(sys) = &m.system {
                let u = sys[r][i];
                if !u.is_nan() {
                    x += u;
                }
            }
            let cap = m.resources[r].capacity * self.dt;
            s.util[r] = x / cap;
            s.price[r] = m.resources[r]
                .curve
                .unit_price_from(s.util[r], self.zero_w[r])
                / cap;
        }
        gaps
    }

    /// Keys and splits interval `i`'s energy into `s.line_dyn` and `s.line_stat`; returns the
    /// total the dynamic split covered.
    #[inline(always)]
    fn split(&self, i: usize, e_uj: u64, f_uj: u64, s: &mut Scratch) -> u64 {
        let nc = self.m.consumers.len();
        let nl = self.slots - Account::ALL.len();
        let (idle, system, unexplained) = (
            nl + Account::Idle as usize,
            nl + Account::System as usize,
            nl + Account::Unexplained as usize,
        );
        let view = IntervalView {
            meter: &self.m.meter,
            index: i,
            seconds: self.dt,
            energy_uj: e_uj,
            floor_uj: f_uj,
            consumers: &self.m.consumers,
            cols: &self.cols,
            sigs: &self.sigs,
            util: &s.util,
            price: &s.price,
            system: self.m.system.as_deref(),
            reserved: self.reserved,
        };
        s.line_dyn.iter_mut().for_each(|x| *x = 0);
        s.line_stat.iter_mut().for_each(|x| *x = 0);
        // What the dynamic split covers and what the static one does.
        let (dyn_total, stat_total) = if self.absorbed {
            (e_uj, 0)
        } else {
            (e_uj - f_uj, f_uj)
        };
        s.dyn_w.iter_mut().for_each(|w| *w = 0.0);
        self.policy.dynamic_key(&view, &mut s.dyn_w);
        if largest_remainder_into(dyn_total, &s.dyn_w, &mut s.dyn_part, &mut s.split) {
            self.add_to_lines(&s.dyn_part[..nc], &mut s.line_dyn);
            s.line_dyn[system] += s.dyn_part[nc];
        } else if self.absorbed {
            s.line_dyn[idle] += dyn_total;
        } else {
            s.line_dyn[unexplained] += dyn_total;
        }
        // The static part (none when absorbed: splitting zero changes nothing).
        if stat_total > 0 {
            let reuse = if s.stat_w_fixed {
                s.last_static == Some(stat_total)
            } else {
                s.stat_w.iter_mut().for_each(|w| *w = 0.0);
                self.policy.static_key(&view, &mut s.stat_w);
                s.stat_w_fixed = self.fixed_static;
                let (account, consumers) = s.stat_w.split_last().unwrap_or((&0.0, &[]));
                s.stat_idle_only =
                    account.is_finite() && *account > 0.0 && consumers.iter().all(|w| *w == 0.0);
                s.last_static == Some(stat_total) && s.last_stat_w == s.stat_w
            };
            if s.stat_idle_only {
                // What the largest-remainder split gives a single positive weight.
                s.line_stat[idle] += stat_total;
            } else {
                if !reuse {
                    let ok = largest_remainder_into(
                        stat_total,
                        &s.stat_w,
                        &mut s.stat_part,
                        &mut s.split,
                    );
                    s.last_static = ok.then_some(stat_total);
                    if !self.fixed_static {
                        s.last_stat_w.clone_from(&s.stat_w);
                    }
                }
                if s.last_static.is_some() {
                    self.add_to_lines(&s.stat_part[..nc], &mut s.line_stat);
                    s.line_stat[idle] += s.stat_part[nc];
                } else {
                    s.line_stat[idle] += stat_total;
                }
            }
        }
        dyn_total
    }

    /// Adds each consumer's part to its line (of lines that were zero).
    #[inline(always)]
    fn add_to_lines(&self, parts: &[u64], lines: &mut [u64]) {
        if self.identity {
            lines[..parts.len()].copy_from_slice(parts);
        } else {
            for (&l, &p) in self.line_of.iter().zip(parts) {
                lines[l] += p;
            }
        }
    }

    /// The sheet from the accumulators.
    fn finish(
        &self,
        acc: &[Acc],
        nl: usize,
        z: f64,
        t: Totals,
        per_interval: Option<ndarray::Array2<u64>>,
    ) -> Result<MeterSheet, AttributionError> {
        let m = self.m;
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                let a = &acc[l];
                let uj = a
                    .static_uj
                    .checked_add(a.dynamic_uj)
                    .ok_or_else(|| AttributionError::overflow(format!("meter {}", m.meter)))?;
                Ok(Line {
                    workload: w,
                    energy: a.amount(z, uj),
                    static_uj: a.static_uj,
                    dynamic_uj: a.dynamic_uj,
                })
            })
            .collect::<Result<Vec<_>, AttributionError>>()?;
        let mut accounts = [Default::default(); 3];
        for (k, slot) in accounts.iter_mut().enumerate() {
            let a = &acc[nl + k];
            *slot = a.amount(z, a.static_uj + a.dynamic_uj);
        }
        Ok(MeterSheet {
            meter: m.meter.clone(),
            measured: measured_amount(t.measured, t.meas_sigma_j, z),
            floor_uj: t.floor,
            lines,
            accounts,
            intervals: m.energy_j.len(),
            unmeasured_intervals: t.unmeasured,
            usage_gaps: t.gaps,
            per_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::to_uj;
    use proptest::prelude::*;

    #[test]
    fn to_uj_edges() {
        for j in [
            0.0,
            -0.0,
            0.4999999e-6,
            0.5e-6,
            1.5e-6,
            2.5e-6,
            -3.0,
            -0.6e-6,
            4_503_599_627.370_497,
            4503599627.370496,
            9.2e12,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(to_uj(j), (j * 1e6).round() as u64, "{j}");
        }
    }

    proptest! {
        #[test]
        fn to_uj_is_round(j in prop_oneof![-1e3f64..1e13, 0.0f64..1e-3, 0.0f64..1e4]) {
            prop_assert_eq!(to_uj(j), (j * 1e6).round() as u64);
        }
    }
}
