//! Construction heuristics under a [`Clock`]: first and best fit decreasing (in one dimension
//! in `O(n log n)`, with a tree of free room and an ordered set of bins; for vectors by a scan
//! of the open bins), the bin-centric vector heuristics, and next fit, the linear fallback
//! every fit switches to for the items left when the clock expires. Whatever the clock does,
//! each returns a complete, feasible packing (the bin-centric ones return nothing instead).

use std::collections::BTreeSet;

use super::{BinPacking, Packing};
use crate::clock::{Clock, sort_within};

/// The bins being filled: load per bin and dimension, `b * d + k`.
struct Bins<'a> {
    p: &'a BinPacking,
    d: usize,
    loads: Vec<u64>,
    bin_of: Vec<usize>,
}

impl<'a> Bins<'a> {
    fn new(p: &'a BinPacking) -> Self {
        Bins {
            p,
            d: p.dims(),
            loads: Vec::new(),
            bin_of: vec![0; p.len()],
        }
    }

    fn count(&self) -> usize {
        self.loads.len() / self.d
    }

    fn load(&self, b: usize) -> &[u64] {
        &self.loads[b * self.d..(b + 1) * self.d]
    }

    fn fits(&self, b: usize, i: usize) -> bool {
        self.p.fits(self.load(b), self.p.item(i))
    }

    /// Puts item `i` into bin `b`, or into a new bin when `b` is the count of bins.
    fn put(&mut self, b: usize, i: usize) {
        if b == self.count() {
            self.loads.extend(std::iter::repeat_n(0, self.d));
        }
        for (l, w) in self.loads[b * self.d..(b + 1) * self.d]
            .iter_mut()
            .zip(self.p.item(i))
        {
            *l += w;
        }
        self.bin_of[i] = b;
    }

    /// Next fit for every item of `rest`, in plain index loops: the fallback once time is
    /// up, so it must cost little even without optimisation.
    fn next_fit_all(&mut self, rest: &[usize]) {
        let (d, sizes, cap) = (self.d, &self.p.sizes, &self.p.capacity);
        for &i in rest {
            let n = self.loads.len() / d;
            let fits =
                n > 0 && (0..d).all(|k| self.loads[(n - 1) * d + k] + sizes[i * d + k] <= cap[k]);
            if !fits {
                self.loads.resize((n + 1) * d, 0);
            }
            let b = self.loads.len() / d - 1;
            for k in 0..d {
                self.loads[b * d + k] += sizes[i * d + k];
            }
            self.bin_of[i] = b;
        }
    }

    fn packing(self) -> Packing {
        Packing {
            bins: self.count(),
            bin_of: self.bin_of,
        }
    }
}

/// Free room per bin in one dimension, plus one (0 marks a bin not opened yet), in a
/// max-tree: the first bin with room for an item in `O(log bins)`.
struct RoomTree {
    leaves: usize,
    tree: Vec<u64>,
}

impl RoomTree {
    fn new() -> Self {
        RoomTree {
            leaves: 64,
            tree: vec![0; 128],
        }
    }

    fn set(&mut self, b: usize, room: u64) {
        if b >= self.leaves {
            let leaves = self.leaves * 2;
            let mut tree = vec![0; 2 * leaves];
            tree[leaves..leaves + self.leaves].copy_from_slice(&self.tree[self.leaves..]);
            for x in (1..leaves).rev() {
                tree[x] = tree[2 * x].max(tree[2 * x + 1]);
            }
            *self = RoomTree { leaves, tree };
        }
        let mut x = self.leaves + b;
        self.tree[x] = room + 1;
        while x > 1 {
            x /= 2;
            self.tree[x] = self.tree[2 * x].max(self.tree[2 * x + 1]);
        }
    }

    /// The first bin with at least `w` free.
    fn first(&self, w: u64) -> Option<usize> {
        if self.tree[1] < w + 1 {
            return None;
        }
        let mut x = 1;
        while x < self.leaves {
            x = if self.tree[2 * x] > w {
                2 * x
            } else {
                2 * x + 1
            };
        }
        Some(x - self.leaves)
    }
}

impl BinPacking {
    /// Items in decreasing order of their size relative to capacity, summed over dimensions
    /// (ties by index); only partly sorted if the clock expires first.
    pub(super) fn decreasing_within(&self, clock: &mut Clock) -> Vec<usize> {
        let size: Vec<f64> = if self.dims() == 1 {
            // The same number as the sum below over one dimension, cheaper.
            let c = self.capacity[0] as f64;
            self.sizes.iter().map(|w| *w as f64 / c).collect()
        } else {
            (0..self.len())
                .map(|i| {
                    self.item(i)
                        .iter()
                        .zip(&self.capacity)
                        .map(|(w, c)| *w as f64 / *c as f64)
                        .sum()
                })
                .collect()
        };
        let mut order: Vec<usize> = (0..self.len()).collect();
        sort_within(&mut order, clock, |&a, &b| {
            size[b].total_cmp(&size[a]).then(a.cmp(&b))
        });
        order
    }

    /// Next fit over `order`: linear, the fallback when time is up.
    pub(super) fn next_fit(&self, order: &[usize]) -> Packing {
        let mut bins = Bins::new(self);
        bins.next_fit_all(order);
        bins.packing()
    }

    /// First fit over `order` (each item into the first bin it fits); next fit for the items
    /// left when the clock expires.
    pub(super) fn first_fit_within(&self, order: &[usize], clock: &mut Clock) -> Packing {
        if self.dims() > 1 {
            return self.scan_fit(order, clock, |_, _, _| 0.0);
        }
        let c = self.capacity[0];
        let mut bins = Bins::new(self);
        let mut tree = RoomTree::new();
        for (pos, &i) in order.iter().enumerate() {
            if clock.spend(1 + u64::from(bins.count().max(1).ilog2())) {
                bins.next_fit_all(&order[pos..]);
                break;
            }
            let w = self.item(i)[0];
            let b = tree.first(w).unwrap_or(bins.count());
            bins.put(b, i);
            tree.set(b, c - bins.load(b)[0]);
        }
        bins.packing()
    }

    /// Best fit over `order` (each item into the bin it leaves with the least room, summed
    /// relative to capacity over dimensions; the first such bin on ties); next fit for the
    /// items left when the clock expires.
    pub(super) fn best_fit_within(&self, order: &[usize], clock: &mut Clock) -> Packing {
        if self.dims() > 1 {
            return self.scan_fit(order, clock, |p, load, it| {
                (0..p.dims())
                    .map(|k| (p.capacity[k] - load[k] - it[k]) as f64 / p.capacity[k] as f64)
                    .sum()
            });
        }
        let c = self.capacity[0];
        let mut bins = Bins::new(self);
        // (room, bin): the least room that holds the item, then the first bin.
        let mut rooms: BTreeSet<(u64, usize)> = BTreeSet::new();
        for (pos, &i) in order.iter().enumerate() {
            if clock.spend(1 + u64::from(bins.count().max(1).ilog2())) {
                bins.next_fit_all(&order[pos..]);
                break;
            }
            let w = self.item(i)[0];
            let b = match rooms.range((w, 0)..).next().copied() {
                Some(slot) => {
                    rooms.remove(&slot);
                    slot.1
                }
                None => bins.count(),
            };
            bins.put(b, i);
            rooms.insert((c - bins.load(b)[0], b));
        }
        bins.packing()
    }

    /// Items in `order`, each into the open bin where it fits with the lowest `cost(instance,
    /// load, item)` (the first such bin on ties), else into a new bin; next fit for the items
    /// left when the clock expires.
    fn scan_fit(
        &self,
        order: &[usize],
        clock: &mut Clock,
        cost: impl Fn(&BinPacking, &[u64], &[u64]) -> f64,
    ) -> Packing {
        let mut bins = Bins::new(self);
        for (pos, &i) in order.iter().enumerate() {
            if clock.spend(bins.count() as u64 + 1) {
                bins.next_fit_all(&order[pos..]);
                break;
            }
            let it = self.item(i);
            let mut best: Option<(f64, usize)> = None;
            for b in 0..bins.count() {
                if bins.fits(b, i) {
                    let c = cost(self, bins.load(b), it);
                    if best.is_none_or(|(bc, _)| c < bc) {
                        best = Some((c, b));
                    }
                }
            }
            let b = best.map_or(bins.count(), |(_, b)| b);
            bins.put(b, i);
        }
        bins.packing()
    }

    /// One bin at a time: add the fitting unpacked item with the lowest `cost(instance,
    /// room, item)` (the first in `order` on ties) until none fits; nothing if the clock
    /// expires first.
    pub(super) fn bin_centric_within(
        &self,
        order: &[usize],
        clock: &mut Clock,
        cost: impl Fn(&BinPacking, &[u64], &[u64]) -> f64,
    ) -> Option<Packing> {
        let d = self.dims();
        let mut left: Vec<usize> = order.to_vec();
        let mut bin_of = vec![0; self.len()];
        let mut bins = 0;
        let mut room = vec![0u64; d];
        while !left.is_empty() {
            room.copy_from_slice(&self.capacity);
            loop {
                if clock.spend(left.len() as u64) {
                    return None;
                }
                let mut best: Option<(f64, usize)> = None;
                for (pos, &i) in left.iter().enumerate() {
                    let it = self.item(i);
                    if it.iter().zip(&room).all(|(w, r)| w <= r) {
                        let c = cost(self, &room, it);
                        if best.is_none_or(|(bc, _)| c < bc) {
                            best = Some((c, pos));
                        }
                    }
                }
                let Some((_, pos)) = best else { break };
                let i = left.remove(pos);
                for (r, w) in room.iter_mut().zip(self.item(i)) {
                    *r -= w;
                }
                bin_of[i] = bins;
            }
            bins += 1;
        }
        Some(Packing { bin_of, bins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook first and best fit, scanning every open bin: the tree and the ordered
    /// set must choose the same bins.
    fn scan(p: &BinPacking, order: &[usize], best: bool) -> Packing {
        let c = p.capacity[0];
        let mut room: Vec<u64> = Vec::new();
        let mut bin_of = vec![0; p.len()];
        for &i in order {
            let w = p.item(i)[0];
            let fits = (0..room.len()).filter(|&b| room[b] >= w);
            let b = if best {
                fits.min_by_key(|&b| (room[b], b))
            } else {
                fits.min()
            };
            let b = b.unwrap_or_else(|| {
                room.push(c);
                room.len() - 1
            });
            room[b] -= w;
            bin_of[i] = b;
        }
        Packing {
            bins: room.len(),
            bin_of,
        }
    }

    #[test]
    fn one_dimensional_fits_match_the_textbook_scan() {
        let mut x = 99u64;
        for n in [0usize, 1, 5, 63, 64, 65, 300, 2_000] {
            let items: Vec<Vec<u64>> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    vec![(x >> 33) % 101]
                })
                .collect();
            let p = BinPacking::try_new(vec![100], items).unwrap();
            let order = p.decreasing_within(&mut Clock::unlimited());
            let mut clock = Clock::unlimited();
            assert_eq!(
                p.first_fit_within(&order, &mut clock),
                scan(&p, &order, false)
            );
            assert_eq!(
                p.best_fit_within(&order, &mut clock),
                scan(&p, &order, true)
            );
        }
    }

    #[test]
    fn an_expired_clock_still_gives_a_feasible_packing() {
        let items: Vec<Vec<u64>> = (0..5_000u64).map(|i| vec![i % 97, (i * 7) % 89]).collect();
        let p = BinPacking::try_new(vec![100, 100], items).unwrap();
        let mut clock = Clock::after(std::time::Instant::now(), 0);
        assert!(clock.expired());
        let order = p.decreasing_within(&mut clock);
        for q in [
            p.first_fit_within(&order, &mut clock),
            p.best_fit_within(&order, &mut clock),
            p.next_fit(&order),
        ] {
            assert!(p.is_feasible(&q));
        }
        assert!(
            p.bin_centric_within(&order, &mut clock, |_, _, _| 0.0)
                .is_none()
        );
    }
}
