//! Consistent neighbourhood search for bin packing, after Buljubašić & Vasquez ("Consistent
//! neighborhood search for one-dimensional bin packing and two-dimensional vector packing",
//! Computers & Operations Research 76, 2016).
//!
//! To look for a packing into `m` bins, the search keeps a *partial* packing into `m − 2`
//! bins: every bin is within capacity, and the other items wait in a free set `S`. It
//! succeeds when `S` packs into the two spare bins (exactly, by a subset sum, in one
//! dimension). It minimises the weight of `S` (an item's weight is its size summed over
//! dimensions relative to capacity, in fixed point; in one dimension the size itself), plus a
//! quarter bin for every item larger than half a bin in `S` beyond two (no two of those
//! share a bin). A round is:
//!
//! 1. a descent that fills bins: in one dimension each bin, then random pairs of bins, are
//!    refilled with the subset of their items and `S` that fills them most (subset-sum
//!    tables); then exchanges of up to two items for up to two between two bins that make
//!    the fuller bin fuller, which gathers free room into fewer bins;
//! 2. up to 200 moves of a tabu search over swaps between one bin and `S`: up to two items
//!    out of the bin, one or two free items in, the best move by the change of the objective
//!    (ties at random). An item that leaves a bin may not go back into it, nor may an item of
//!    the same size, for 7 to 13 moves, unless that gives the best objective seen.
//!
//! On success the search drops the lightest bin and looks for `m − 1`.
//!
//! Every loop reads the [`Clock`] every few hundred operations: when time is up, the move in
//! progress is abandoned (the partial packing stays consistent) and the best complete
//! packing found so far is returned.

use super::{BinPacking, Packing, SearchLimit};
use crate::clock::Clock;
use crate::rng::Rng;

/// Least tabu tenure, in moves (drawn from `TENURE..2 * TENURE`).
const TENURE: u64 = 7;
/// Tabu moves per round.
const ROUND_MOVES: u64 = 200;
/// The subset-sum refill is skipped when the table would exceed this many cells.
const DP_CELLS: usize = 4_000_000;
/// Pairs are formed among at most this many items of a bin or of `S` (singles among all of
/// them), so a bin of many tiny items cannot make the move lists quadratic in the instance.
const PAIR_ITEMS: usize = 256;
/// Subset-sum cells filled between two readings of the clock.
const DP_CHECK: usize = 1 << 12;

/// A move between bin `bin` and the free set (`out` leaves the bin, `inn` enters it), or
/// between two bins (`out` goes from the other bin to `bin`, `inn` the other way).
#[derive(Clone, Copy)]
struct Swap {
    bin: usize,
    out: [usize; 2],
    n_out: usize,
    inn: [usize; 2],
    n_in: usize,
}

/// One or two items with their total weight and cost, and how many of them are large.
type Sub = ([usize; 2], usize, u64, u128, usize);

/// Subsets of `items` of size `lo..=2` (pairs among the first [`PAIR_ITEMS`] only), with
/// their total weight and cost.
fn small_subsets(
    items: &[usize],
    weight: &[u64],
    cost: &[u128],
    large: &[bool],
    lo: usize,
    into: &mut Vec<Sub>,
) {
    into.clear();
    if lo == 0 {
        into.push(([0, 0], 0, 0, 0, 0));
    }
    for (x, &i) in items.iter().enumerate() {
        let li = usize::from(large[i]);
        into.push(([i, 0], 1, weight[i], cost[i], li));
        if x >= PAIR_ITEMS {
            continue;
        }
        for &j in &items[x + 1..items.len().min(PAIR_ITEMS)] {
            let l = li + usize::from(large[j]);
            into.push(([i, j], 2, weight[i] + weight[j], cost[i] + cost[j], l));
        }
    }
}

/// One dimension: the subset of `cand` with the largest total weight up to `cap`, by a
/// subset-sum table (`reach[x]`: the first candidate with which sum `x` was reached); `None`
/// if the clock expires first.
fn max_subset(
    cand: &[usize],
    weight: &[u64],
    cap: usize,
    reach: &mut Vec<u32>,
    clock: &mut Clock,
) -> Option<(u64, Vec<usize>)> {
    reach.clear();
    reach.resize(cap + 1, u32::MAX);
    reach[0] = cand.len() as u32;
    let mut top = 0;
    for (k, &i) in cand.iter().enumerate() {
        let w = weight[i] as usize;
        for x in (0..=(cap - w).min(top)).rev() {
            if reach[x] != u32::MAX && reach[x + w] == u32::MAX {
                reach[x + w] = k as u32;
                top = top.max(x + w);
            }
            if x % DP_CHECK == 0 && clock.spend(DP_CHECK as u64) {
                return None;
            }
        }
        if top == cap {
            break;
        }
    }
    let mut chosen = Vec::new();
    let mut x = top;
    while x > 0 {
        let i = cand[reach[x] as usize];
        chosen.push(i);
        x -= weight[i] as usize;
    }
    Some((top as u64, chosen))
}

/// The partial packing and the search's memory.
struct State<'a> {
    p: &'a BinPacking,
    d: usize,
    /// Weight of each item (fixed point; the size itself in one dimension).
    weight: Vec<u64>,
    bins: Vec<Vec<usize>>,
    /// Load per bin and dimension, `b * d + k`.
    load: Vec<u64>,
    /// Weight per bin.
    fill: Vec<u64>,
    /// The free set `S`.
    free: Vec<usize>,
    free_weight: u64,
    /// Each item's weight, widened, and their sum over `S`.
    cost: Vec<u128>,
    free_cost: u128,
    /// Items larger than half a bin in some dimension: no two of them share a bin.
    large: Vec<bool>,
    /// Large items in `S`.
    free_large: usize,
    /// Cost of each large item in `S` beyond [`State::spare`].
    large_penalty: u128,
    /// `(bin, weight, until)`: an item of that weight may not enter that bin before
    /// iteration `until` (by weight, so that copies of a removed item are barred too).
    tabu: Vec<(usize, u64, u64)>,
    iter: u64,
    rng: Rng,
    /// Bins kept aside for `S`: the search succeeds when `S` packs into this many bins.
    spare: usize,
    /// Scratch buffers.
    outs: Vec<Sub>,
    inns: Vec<Sub>,
    /// The deadline of the whole search.
    clock: Clock,
}

impl<'a> State<'a> {
    fn new(p: &'a BinPacking, start: &Packing, seed: u64, clock: Clock) -> Self {
        let d = p.dims();
        let weight: Vec<u64> = (0..p.len())
            .map(|i| {
                let it = p.item(i);
                if d == 1 {
                    it[0]
                } else {
                    it.iter()
                        .zip(&p.capacity)
                        .map(|(&w, &c)| ((u128::from(w) << 32) / u128::from(c)) as u64)
                        .sum()
                }
            })
            .collect();
        let cost: Vec<u128> = weight.iter().map(|&w| u128::from(w)).collect();
        let large: Vec<bool> = (0..p.len())
            .map(|i| p.item(i).iter().zip(&p.capacity).any(|(&w, &c)| 2 * w > c))
            .collect();
        let full = if d == 1 {
            p.capacity[0]
        } else {
            (d as u64) << 32
        };
        let large_penalty = u128::from(full / 4);
        let mut s = State {
            p,
            d,
            weight,
            bins: vec![Vec::new(); start.bins],
            load: vec![0; start.bins * d],
            fill: vec![0; start.bins],
            free: Vec::new(),
            free_weight: 0,
            cost,
            free_cost: 0,
            large,
            free_large: 0,
            large_penalty,
            tabu: Vec::new(),
            iter: 0,
            rng: Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B),
            spare: 0,
            outs: Vec::new(),
            inns: Vec::new(),
            clock,
        };
        for (i, &b) in start.bin_of.iter().enumerate() {
            s.put(b, i);
        }
        s
    }

    fn put(&mut self, b: usize, i: usize) {
        self.bins[b].push(i);
        for k in 0..self.d {
            self.load[b * self.d + k] += self.p.item(i)[k];
        }
        self.fill[b] += self.weight[i];
    }

    fn take(&mut self, b: usize, i: usize) {
        if let Some(pos) = self.bins[b].iter().position(|&x| x == i) {
            self.bins[b].swap_remove(pos);
            for k in 0..self.d {
                self.load[b * self.d + k] -= self.p.item(i)[k];
            }
            self.fill[b] -= self.weight[i];
        }
    }

    fn free_push(&mut self, i: usize) {
        self.free.push(i);
        self.free_weight += self.weight[i];
        self.free_cost += self.cost[i];
        self.free_large += usize::from(self.large[i]);
    }

    fn free_remove(&mut self, i: usize) {
        if let Some(pos) = self.free.iter().position(|&x| x == i) {
            self.free.swap_remove(pos);
            self.free_weight -= self.weight[i];
            self.free_cost -= self.cost[i];
            self.free_large -= usize::from(self.large[i]);
        }
    }

    /// Whether bin `b` fits with `out` taken out and `inn` put in.
    fn fits(&self, b: usize, out: &[usize], inn: &[usize]) -> bool {
        (0..self.d).all(|k| {
            let mut l = self.load[b * self.d + k];
            for &i in inn {
                l += self.p.item(i)[k];
            }
            for &i in out {
                l -= self.p.item(i)[k];
            }
            l <= self.p.capacity[k]
        })
    }

    /// Removes the lightest bin (ties at random), its items to `S`, and puts what fits of
    /// `S` back best-fit, largest first.
    fn drop_lightest_bin(&mut self) {
        let min = self.fill.iter().copied().min().unwrap_or(0);
        let lightest: Vec<usize> = (0..self.bins.len())
            .filter(|&b| self.fill[b] == min)
            .collect();
        let Some(&victim) = lightest.get(self.rng.below(lightest.len().max(1))) else {
            return;
        };
        for i in std::mem::take(&mut self.bins[victim]) {
            self.free_push(i);
        }
        self.bins.swap_remove(victim);
        self.fill.swap_remove(victim);
        let last = self.bins.len();
        for k in 0..self.d {
            self.load[victim * self.d + k] = self.load[last * self.d + k];
        }
        self.load.truncate(last * self.d);
        // Tabu marks name bins by index; the swap renamed one, so forget them all.
        self.tabu.clear();
        let mut order = self.free.clone();
        order.sort_by(|&a, &b| self.weight[b].cmp(&self.weight[a]).then(a.cmp(&b)));
        for i in order {
            if self.clock.spend(self.bins.len() as u64) {
                return;
            }
            let best = (0..self.bins.len())
                .filter(|&b| self.fits(b, &[], &[i]))
                .max_by_key(|&b| (self.fill[b], usize::MAX - b));
            if let Some(b) = best {
                self.free_remove(i);
                self.put(b, i);
            }
        }
    }

    /// The objective: the cost of `S` plus the penalty for its large items beyond the
    /// spare bins.
    fn objective(&self) -> u128 {
        self.free_cost + self.large_penalty * self.free_large.saturating_sub(self.spare) as u128
    }

    /// Change of the large-item penalty when `out` large items enter `S` and `inn` leave.
    fn large_change(&self, out: usize, inn: usize) -> i128 {
        let before = self.free_large.saturating_sub(self.spare);
        let after = (self.free_large + out - inn).saturating_sub(self.spare);
        (after as i128 - before as i128) * self.large_penalty as i128
    }

    /// Whether `a` and `b` (one or two items each, as many in both) hold the same sizes.
    fn same_sizes(&self, a: &[usize], b: &[usize]) -> bool {
        let it = |i: &usize| self.p.item(*i);
        match (a, b) {
            ([x], [y]) => it(x) == it(y),
            ([x1, x2], [y1, y2]) => {
                (it(x1) == it(y1) && it(x2) == it(y2)) || (it(x1) == it(y2) && it(x2) == it(y1))
            }
            _ => false,
        }
    }

    /// One tabu move (the best non-tabu swap between a bin and `S`); false if none exists or
    /// the clock expires first.
    fn tabu_step(&mut self, best_free: u128) -> bool {
        self.iter += 1;
        let now = self.iter;
        self.tabu.retain(|&(_, _, until)| until > now);
        let mut best: Option<(i128, Swap)> = None;
        let mut ties = 0u64;
        let mut inns = std::mem::take(&mut self.inns);
        let mut outs = std::mem::take(&mut self.outs);
        small_subsets(
            &self.free,
            &self.weight,
            &self.cost,
            &self.large,
            1,
            &mut inns,
        );
        // Costliest first: along the list the change of `S`'s cost only grows (up to the
        // large-item term, at most `max_bonus` lower).
        let max_bonus = 2 * self.large_penalty as i128;
        inns.sort_by_key(|x| std::cmp::Reverse(x.3));
        let mut expired = false;
        'bins: for b in 0..self.bins.len() {
            small_subsets(
                &self.bins[b],
                &self.weight,
                &self.cost,
                &self.large,
                0,
                &mut outs,
            );
            for &(out, n_out, wo, co, lo) in &outs {
                // Room for weight (one dimension only; vectors check every dimension).
                let room = if self.d == 1 {
                    self.p.capacity[0] + wo - self.fill[b]
                } else {
                    u64::MAX
                };
                let mut tried = 1u64;
                for &(inn, n_in, wi, ci, li) in &inns {
                    tried += 1;
                    let delta = co as i128 - ci as i128;
                    if best.as_ref().is_some_and(|(bd, _)| delta > *bd + max_bonus) {
                        break;
                    }
                    let delta = delta + self.large_change(lo, li);
                    if best.as_ref().is_some_and(|(bd, _)| delta > *bd) {
                        continue;
                    }
                    if self.d == 1 && wi > room {
                        continue;
                    }
                    // Trading items for copies of themselves changes nothing.
                    if delta == 0 && n_out == n_in && self.same_sizes(&out[..n_out], &inn[..n_in]) {
                        continue;
                    }
                    if self.d > 1 && !self.fits(b, &out[..n_out], &inn[..n_in]) {
                        continue;
                    }
                    let tabu = inn[..n_in].iter().any(|&i| {
                        self.tabu
                            .iter()
                            .any(|&(tb, tw, _)| tb == b && tw == self.weight[i])
                    });
                    if tabu && (self.objective() as i128 + delta) >= best_free as i128 {
                        continue;
                    }
                    let mv = Swap {
                        bin: b,
                        out,
                        n_out,
                        inn,
                        n_in,
                    };
                    match &best {
                        Some((bd, _)) if *bd == delta => {
                            ties += 1;
                            if self.rng.below(ties as usize + 1) == 0 {
                                best = Some((delta, mv));
                            }
                        }
                        _ => {
                            ties = 0;
                            best = Some((delta, mv));
                        }
                    }
                }
                if self.clock.spend(tried) {
                    expired = true;
                    break 'bins;
                }
            }
        }
        self.inns = inns;
        self.outs = outs;
        let Some((_, mv)) = best.filter(|_| !expired) else {
            return false;
        };
        let tenure = TENURE + self.rng.below(TENURE as usize) as u64;
        for &i in &mv.out[..mv.n_out] {
            self.take(mv.bin, i);
            self.free_push(i);
            self.tabu.push((mv.bin, self.weight[i], self.iter + tenure));
        }
        for &i in &mv.inn[..mv.n_in] {
            self.free_remove(i);
            self.put(mv.bin, i);
        }
        true
    }

    /// One dimension: refills every bin (in random order) with the subset of its items and
    /// `S` that fills it most, when that is fuller than now; then as many random pairs of
    /// bins with the items of both and `S` (the first bin filled most, then the second).
    fn refill(&mut self) {
        let cap = self.p.capacity[0] as usize;
        let nb = self.bins.len();
        let mut order: Vec<usize> = (0..nb).collect();
        self.rng.shuffle(&mut order);
        let mut reach: Vec<u32> = Vec::new();
        let small = |len: usize| len <= 64 && cap.saturating_add(1).saturating_mul(len) <= DP_CELLS;
        for b in order {
            if self.free.is_empty() || self.clock.spend(1) {
                return;
            }
            if !small(self.bins[b].len() + self.free.len()) {
                continue;
            }
            let mut cand: Vec<usize> = self.bins[b].iter().chain(&self.free).copied().collect();
            self.rng.shuffle(&mut cand);
            let Some((top, chosen)) =
                max_subset(&cand, &self.weight, cap, &mut reach, &mut self.clock)
            else {
                return;
            };
            if top <= self.fill[b] {
                continue;
            }
            self.rebin(b, &chosen);
        }
        if nb < 2 {
            return;
        }
        for _ in 0..nb {
            if self.free.is_empty() || self.clock.spend(1) {
                return;
            }
            let b1 = self.rng.below(nb);
            let b2 = (b1 + 1 + self.rng.below(nb - 1)) % nb;
            if !small(self.bins[b1].len() + self.bins[b2].len() + self.free.len()) {
                continue;
            }
            let mut cand: Vec<usize> = self.bins[b1]
                .iter()
                .chain(&self.bins[b2])
                .chain(&self.free)
                .copied()
                .collect();
            self.rng.shuffle(&mut cand);
            let Some((top1, first)) =
                max_subset(&cand, &self.weight, cap, &mut reach, &mut self.clock)
            else {
                return;
            };
            cand.retain(|i| !first.contains(i));
            let Some((top2, second)) =
                max_subset(&cand, &self.weight, cap, &mut reach, &mut self.clock)
            else {
                return;
            };
            if top1 + top2 <= self.fill[b1] + self.fill[b2] {
                continue;
            }
            self.rebin(b1, &[]);
            self.rebin(b2, &second);
            self.rebin(b1, &first);
        }
    }

    /// Empties bin `b` into `S`, then moves `items` (from `S`) into it.
    fn rebin(&mut self, b: usize, items: &[usize]) {
        for i in std::mem::take(&mut self.bins[b]) {
            self.take_all_of(b, i);
            self.free_push(i);
        }
        for &i in items {
            self.free_remove(i);
            self.put(b, i);
        }
    }

    /// Bookkeeping for an item already removed from `bins[b]`'s list.
    fn take_all_of(&mut self, b: usize, i: usize) {
        for k in 0..self.d {
            self.load[b * self.d + k] -= self.p.item(i)[k];
        }
        self.fill[b] -= self.weight[i];
    }

    /// Exchanges of up to two items for up to two between two bins that make the fuller bin
    /// strictly fuller, best first per bin, until none is left (bounded passes) or the clock
    /// expires.
    fn concentrate(&mut self) {
        let nb = self.bins.len();
        let mut outs = std::mem::take(&mut self.outs);
        let mut inns = std::mem::take(&mut self.inns);
        'passes: for _ in 0..4 {
            let mut changed = false;
            let mut order: Vec<usize> = (0..nb).collect();
            self.rng.shuffle(&mut order);
            for &b1 in &order {
                let mut best: Option<(u64, Swap)> = None;
                small_subsets(
                    &self.bins[b1],
                    &self.weight,
                    &self.cost,
                    &self.large,
                    0,
                    &mut outs,
                );
                for b2 in 0..nb {
                    if self.clock.spend(1) {
                        break 'passes;
                    }
                    if b2 == b1 || self.fill[b2] > self.fill[b1] {
                        continue;
                    }
                    small_subsets(
                        &self.bins[b2],
                        &self.weight,
                        &self.cost,
                        &self.large,
                        1,
                        &mut inns,
                    );
                    for &(o, no, wo, _, _) in &outs {
                        for &(i, ni, wi, _, _) in &inns {
                            if wi <= wo || best.is_some_and(|bb| wi - wo <= bb.0) {
                                continue;
                            }
                            let ok = if self.d == 1 {
                                // `b2` loses weight, so only `b1` can overflow.
                                self.fill[b1] + wi - wo <= self.p.capacity[0]
                            } else {
                                self.fits(b1, &o[..no], &i[..ni])
                                    && self.fits(b2, &i[..ni], &o[..no])
                            };
                            if ok {
                                let mv = Swap {
                                    bin: b2,
                                    out: o,
                                    n_out: no,
                                    inn: i,
                                    n_in: ni,
                                };
                                best = Some((wi - wo, mv));
                            }
                        }
                    }
                    if self.clock.spend((outs.len() * inns.len()) as u64) {
                        break 'passes;
                    }
                }
                if let Some((_, mv)) = best {
                    let b2 = mv.bin;
                    for &x in &mv.out[..mv.n_out] {
                        self.take(b1, x);
                        self.put(b2, x);
                    }
                    for &x in &mv.inn[..mv.n_in] {
                        self.take(b2, x);
                        self.put(b1, x);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.outs = outs;
        self.inns = inns;
    }

    /// A packing of `S` into at most [`State::spare`] bins, if one is found: exactly by a
    /// subset sum in one dimension, else by first fit decreasing or, for up to 14 items, by
    /// trying every split into two bins. `None` as well when the clock expires first.
    fn pack_free(&mut self) -> Option<Vec<Vec<usize>>> {
        let n = self.free.len();
        if n == 0 {
            return Some(Vec::new());
        }
        let total = |k: usize| self.free.iter().map(|&i| self.p.item(i)[k]).sum::<u64>();
        if (0..self.d).any(|k| total(k) > self.spare as u64 * self.p.capacity[k]) {
            return None;
        }
        if n <= self.spare {
            return Some(self.free.iter().map(|&i| vec![i]).collect());
        }
        if self.d == 1 && self.spare == 2 && self.p.capacity[0] < DP_CELLS as u64 {
            let cap = self.p.capacity[0] as usize;
            let need = total(0).saturating_sub(self.p.capacity[0]) as usize;
            let mut reach = vec![u32::MAX; cap + 1];
            reach[0] = n as u32;
            for (k, &i) in self.free.iter().enumerate() {
                let w = self.p.item(i)[0] as usize;
                for x in (0..=cap - w).rev() {
                    if reach[x] != u32::MAX && reach[x + w] == u32::MAX {
                        reach[x + w] = k as u32;
                    }
                    if x % DP_CHECK == 0 && self.clock.spend(DP_CHECK as u64) {
                        return None;
                    }
                }
            }
            let mut x = (need..=cap).find(|&x| reach[x] != u32::MAX)?;
            let mut first = Vec::new();
            while x > 0 {
                let k = reach[x] as usize;
                first.push(self.free[k]);
                x -= self.p.item(self.free[k])[0] as usize;
            }
            let second = self
                .free
                .iter()
                .copied()
                .filter(|i| !first.contains(i))
                .collect();
            return Some(vec![first, second]);
        }
        // First fit decreasing into the spare bins.
        let mut order = self.free.clone();
        order.sort_by(|&a, &b| self.weight[b].cmp(&self.weight[a]).then(a.cmp(&b)));
        let mut loads = vec![vec![0u64; self.d]; self.spare];
        let mut bins = vec![Vec::new(); self.spare];
        let mut ok = true;
        for &i in &order {
            if self.clock.spend(self.spare as u64) {
                return None;
            }
            let it = self.p.item(i);
            let Some(b) = (0..self.spare)
                .find(|&b| (0..self.d).all(|k| loads[b][k] + it[k] <= self.p.capacity[k]))
            else {
                ok = false;
                break;
            };
            for k in 0..self.d {
                loads[b][k] += it[k];
            }
            bins[b].push(i);
        }
        if ok {
            return Some(bins);
        }
        if self.spare != 2 || n > 14 {
            return None;
        }
        // Every split with the first item in bin 0.
        for mask in 0u32..(1 << (n - 1)) {
            if self.clock.spend(n as u64) {
                return None;
            }
            let mask = (mask << 1) | 1;
            let fits = |side: u32| {
                (0..self.d).all(|k| {
                    let l: u64 = (0..n)
                        .filter(|&x| (mask >> x) & 1 == side)
                        .map(|x| self.p.item(self.free[x])[k])
                        .sum();
                    l <= self.p.capacity[k]
                })
            };
            if fits(1) && fits(0) {
                let (a, b): (Vec<usize>, Vec<usize>) = (0..n).partition(|&x| (mask >> x) & 1 == 1);
                return Some(vec![
                    a.into_iter().map(|x| self.free[x]).collect(),
                    b.into_iter().map(|x| self.free[x]).collect(),
                ]);
            }
        }
        None
    }

    /// The complete packing: the bins plus `extra` (bins of `S`), empty bins left out.
    fn packing(&self, extra: &[Vec<usize>]) -> Packing {
        let mut bin_of = vec![0; self.p.len()];
        let mut bins = 0;
        for items in self.bins.iter().chain(extra).filter(|b| !b.is_empty()) {
            for &i in items {
                bin_of[i] = bins;
            }
            bins += 1;
        }
        Packing { bin_of, bins }
    }
}

/// See [`BinPacking::improve`]: `start` is feasible with no empty bin, `lb` a lower bound;
/// the search stops at the bound, after `limit.attempts` rounds or when `clock` expires,
/// whichever comes first.
pub(super) fn improve(
    p: &BinPacking,
    start: &Packing,
    lb: usize,
    limit: &SearchLimit,
    mut clock: Clock,
) -> Packing {
    let mut best = start.clone();
    if best.bins <= lb || p.is_empty() || clock.expired() {
        return best;
    }
    let mut s = State::new(p, start, limit.seed, clock);
    let mut rounds = 0u64;
    'targets: while best.bins > lb {
        // Search for `target` bins: `target − spare` bins in the partial packing, and `S`
        // must fit the spare ones.
        let target = best.bins - 1;
        s.spare = target.min(2);
        while s.bins.len() > target - s.spare {
            s.drop_lightest_bin();
            if s.clock.has_expired() {
                break 'targets;
            }
        }
        let mut best_free = s.objective();
        let mut extra = s.pack_free();
        while extra.is_none() {
            if rounds >= limit.attempts || s.clock.expired() {
                break 'targets;
            }
            rounds += 1;
            if s.d == 1 {
                s.refill();
            }
            s.concentrate();
            best_free = best_free.min(s.objective());
            extra = s.pack_free();
            for _ in 0..ROUND_MOVES {
                if extra.is_some() || s.clock.has_expired() || !s.tabu_step(best_free) {
                    break;
                }
                best_free = best_free.min(s.objective());
                extra = s.pack_free();
            }
        }
        let found = s.packing(extra.as_deref().unwrap_or_default());
        debug_assert!(p.is_feasible(&found));
        if found.bins < best.bins && p.is_feasible(&found) {
            best = found;
        } else {
            break;
        }
    }
    best
}
