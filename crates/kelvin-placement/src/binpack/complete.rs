//! Bin completion at the lower bound, one dimension: a depth-first search for a packing into
//! exactly `target` bins when the instance leaves little room to waste.
//!
//! With `target` bins of capacity `C` and items summing to `Σ`, the packing may leave at most
//! `W = target · C − Σ` free in all its bins together. Where `W` is small (zero on
//! Falkenauer's triplets, less than one item on most of Hard28) a local search wanders among
//! packings that are each one item short, while a search that fills one bin at a time can
//! refuse, at once, every bin that wastes more than what is left of `W`. This is the bin
//! completion of Korf ("A new algorithm for optimal bin packing", AAAI 2002) and the minimum
//! bin slack idea of Gupta & Ho (1999), with Korf's restriction to maximal bins but not his
//! other dominance rules:
//!
//! - each bin starts with the largest item left (some bin must hold it);
//! - it is completed with items of non-increasing size (so each set of sizes is tried once;
//!   items of one size are interchangeable and counted, not listed), fullest completions
//!   first: the largest item that fits is tried first;
//! - an item is a candidate only if the room it leaves is within the waste still allowed or
//!   can still take the smallest item left, so dead ends are cut before they are entered;
//! - a bin closes when its room is within the waste still allowed, which shrinks by it, and
//!   no item left fits in it (an item that fits could move in without costing a bin, so only
//!   such maximal bins need trying).
//!
//! The tree is exponential, so the search is bounded in nodes and runs in two phases:
//!
//! 1. [`RESTARTS`] searches from empty bins of [`RESTART_NODES`] nodes each, the first in
//!    the order above, the others trying each bin's candidates from a random one among the
//!    first [`ROTATE`]; the partial packing that closed the most bins is kept;
//! 2. repairs, a large neighbourhood search: a few bins of the partial packing are emptied at
//!    random and a search of [`REPAIR_NODES`] nodes packs their items and those left over
//!    into the bins still allowed; its deepest partial packing replaces them when it closes
//!    as many bins, so the walk moves across packings with the same number of bins closed,
//!    changing which items are left over, until they fit.
//!
//! Every node spends one unit of the [`Clock`]; random choices come from a seeded [`Rng`],
//! so a node budget gives the same result on every machine.

use super::{BinPacking, Packing};
use crate::clock::Clock;
use crate::rng::Rng;

/// Nodes of each restart of the first phase.
const RESTART_NODES: u64 = 1 << 12;

/// Restarts of the first phase.
const RESTARTS: u64 = 16;

/// Nodes of each repair of the second phase.
const REPAIR_NODES: u64 = 1 << 11;

/// Bins emptied by a repair: from `REPAIR_LEAST` to `REPAIR_LEAST + REPAIR_SPREAD − 1`.
const REPAIR_LEAST: usize = 3;
const REPAIR_SPREAD: usize = 6;

/// From the second restart on, a bin's candidates start at a random one of at most this many.
const ROTATE: usize = 3;

/// Bins as lists of distinct-size indices.
type Bins = Vec<Vec<usize>>;

/// One depth-first search over the sizes left.
struct Search<'a> {
    capacity: u64,
    /// Distinct sizes, largest first.
    size: &'a [u64],
    /// Items left of each distinct size.
    left: Vec<u32>,
    /// Bins closed, then the open one.
    bins: Bins,
    /// The candidates of the nodes on the path, each node's above its parent's.
    stack: Vec<usize>,
    /// The most bins closed at once so far.
    deepest: Bins,
    nodes: u64,
    node_limit: u64,
    rng: Option<&'a mut Rng>,
    clock: &'a mut Clock,
    /// The node limit was reached or the clock expired: unwind without trying more.
    aborted: bool,
}

/// What one search found: a packing of everything, or the most bins it closed.
enum Outcome {
    Complete(Bins),
    /// The deepest partial packing, and whether the tree was searched to the end (then no
    /// complete packing exists).
    Partial(Bins, bool),
}

impl Search<'_> {
    fn take(&mut self, j: usize) {
        self.left[j] -= 1;
        if let Some(b) = self.bins.last_mut() {
            b.push(j);
        }
    }

    fn untake(&mut self, j: usize) {
        self.left[j] += 1;
        if let Some(b) = self.bins.last_mut() {
            b.pop();
        }
    }

    /// Opens the next bin with the largest item left; `waste` may still be left free,
    /// `bins` bins may still be opened.
    fn open(&mut self, waste: u64, bins: usize) -> bool {
        if self.bins.len() > self.deepest.len() {
            self.deepest.clone_from(&self.bins);
        }
        let Some(first) = (0..self.size.len()).find(|&j| self.left[j] > 0) else {
            return true;
        };
        if bins == 0 {
            return false;
        }
        self.bins.push(Vec::new());
        self.take(first);
        let room = self.capacity - self.size[first];
        if self.fill(room, first, waste, bins) {
            return true;
        }
        self.untake(first);
        self.bins.pop();
        false
    }

    /// Completes the open bin, which has `room` free, with sizes from index `from` on.
    fn fill(&mut self, room: u64, from: usize, waste: u64, bins: usize) -> bool {
        self.nodes += 1;
        if self.nodes > self.node_limit || self.clock.spend(1) {
            self.aborted = true;
            return false;
        }
        // The smallest size left, and the next one up (left once the smallest's last item
        // goes).
        let mut smallest = (0..self.size.len()).rev().filter(|&j| self.left[j] > 0);
        let (min_j, next_j) = (smallest.next(), smallest.next());
        // Sizes that fit: from the first index at or after `from` whose size is ≤ room.
        let start = from + self.size[from..].partition_point(|&s| s > room);
        // This node's candidates go on top of the shared stack and are popped on return.
        let base = self.stack.len();
        for j in start..self.size.len() {
            if self.left[j] == 0 {
                continue;
            }
            let after = room - self.size[j];
            let min_after = if self.left[j] == 1 && Some(j) == min_j {
                next_j
            } else {
                min_j
            };
            if after <= waste || min_after.is_some_and(|m| self.size[m] <= after) {
                self.stack.push(j);
            }
        }
        let n = self.stack.len() - base;
        let first = match self.rng.as_deref_mut() {
            Some(rng) if n > 1 => rng.below(n.min(ROTATE)),
            _ => 0,
        };
        for k in 0..n {
            let j = self.stack[base + (first + k) % n];
            self.take(j);
            if self.fill(room - self.size[j], j, waste, bins) {
                return true;
            }
            self.untake(j);
            if self.aborted {
                self.stack.truncate(base);
                return false;
            }
        }
        self.stack.truncate(base);
        // Close the bin, wasting its room, only if no item left fits in it: moving such an
        // item here would never need more bins, so only maximal bins need trying.
        let maximal = min_j.is_none_or(|m| self.size[m] > room);
        room <= waste && maximal && self.open(waste - room, bins - 1)
    }
}

/// Searches for a packing of the items `left` (counts per distinct size) into `bins` bins
/// leaving at most `waste` free in all.
fn search(
    capacity: u64,
    size: &[u64],
    left: Vec<u32>,
    (waste, bins): (u64, usize),
    node_limit: u64,
    rng: Option<&mut Rng>,
    clock: &mut Clock,
) -> (Outcome, u64) {
    let mut s = Search {
        capacity,
        size,
        left,
        bins: Vec::with_capacity(bins),
        stack: Vec::new(),
        deepest: Vec::new(),
        nodes: 0,
        node_limit,
        rng,
        clock,
        aborted: false,
    };
    let outcome = if s.open(waste, bins) {
        Outcome::Complete(s.bins)
    } else {
        Outcome::Partial(s.deepest, !s.aborted)
    };
    (outcome, s.nodes)
}

/// A packing of `p` (one dimension) into at most `target` bins by bin completion, or `None`
/// when the clock expires, `max_nodes` nodes are spent in all, or `target` bins cannot hold
/// the items.
pub(super) fn complete(
    p: &BinPacking,
    target: usize,
    max_nodes: u64,
    seed: u64,
    clock: &mut Clock,
) -> Option<Packing> {
    if p.dims() != 1 || p.is_empty() {
        return None;
    }
    let capacity = p.capacity[0];
    let total: u64 = p.sizes.iter().sum();
    let waste = (target as u64).checked_mul(capacity)?.checked_sub(total)?;
    let mut size: Vec<u64> = p.sizes.clone();
    size.sort_unstable_by(|a, b| b.cmp(a));
    size.dedup();
    let mut left = vec![0u32; size.len()];
    for s in &p.sizes {
        left[size.partition_point(|x| x > s)] += 1;
    }
    let mut rng = Rng(seed ^ 0x5bd1_e995_c0ff_ee00);
    let mut spent = 0u64;
    // First phase: restarts from empty bins, keeping the deepest partial packing.
    let mut best: Bins = Vec::new();
    for restart in 0..RESTARTS {
        if spent >= max_nodes || clock.expired() {
            return None;
        }
        let limit = RESTART_NODES.min(max_nodes - spent);
        let r = (restart > 0).then_some(&mut rng);
        let (outcome, nodes) = search(
            capacity,
            &size,
            left.clone(),
            (waste, target),
            limit,
            r,
            clock,
        );
        spent += nodes;
        match outcome {
            Outcome::Complete(bins) => return Some(packing_of(p, &size, &bins)),
            Outcome::Partial(_, true) => return None,
            Outcome::Partial(d, false) if d.len() > best.len() => best = d,
            Outcome::Partial(..) => {}
        }
    }
    repair(
        p,
        (&size, left),
        (waste, target),
        best,
        (spent, max_nodes),
        &mut rng,
        clock,
    )
}

/// Second phase, from the counts of all items per distinct size (`rest`): empties a few
/// random bins of the partial packing `closed` and searches for
/// a packing of their items and those left over into the bins still allowed; a partial
/// result with at least as many bins closed replaces them.
fn repair(
    p: &BinPacking,
    (size, mut rest): (&[u64], Vec<u32>),
    (waste, target): (u64, usize),
    mut closed: Bins,
    (mut spent, max_nodes): (u64, u64),
    rng: &mut Rng,
    clock: &mut Clock,
) -> Option<Packing> {
    let capacity = p.capacity[0];
    let wasted = |b: &[usize]| capacity - b.iter().map(|&j| size[j]).sum::<u64>();
    // `rest` holds every item; take out those in `closed`.
    let mut used = 0u64;
    for b in &closed {
        b.iter().for_each(|&j| rest[j] -= 1);
        used += wasted(b);
    }
    while spent < max_nodes && !clock.expired() && !closed.is_empty() {
        let k = (REPAIR_LEAST + rng.below(REPAIR_SPREAD)).min(closed.len());
        let mut freed = Vec::with_capacity(k);
        for _ in 0..k {
            let b = closed.swap_remove(rng.below(closed.len()));
            b.iter().for_each(|&j| rest[j] += 1);
            used -= wasted(&b);
            freed.push(b);
        }
        let limit = REPAIR_NODES.min(max_nodes - spent);
        let bins = target - closed.len();
        let (outcome, nodes) = search(
            capacity,
            size,
            rest.clone(),
            (waste - used, bins),
            limit,
            Some(rng),
            clock,
        );
        spent += nodes;
        let kept = match outcome {
            Outcome::Complete(bins) => {
                closed.extend(bins);
                return Some(packing_of(p, size, &closed));
            }
            Outcome::Partial(d, _) if d.len() >= k => d,
            Outcome::Partial(..) => freed,
        };
        for b in kept {
            b.iter().for_each(|&j| rest[j] -= 1);
            used += wasted(&b);
            closed.push(b);
        }
    }
    None
}

/// The items of `p` assigned to `bins` (lists of distinct-size indices into `size`).
fn packing_of(p: &BinPacking, size: &[u64], bins: &[Vec<usize>]) -> Packing {
    // Items of each distinct size, handed out in turn.
    let mut of_size: Vec<Vec<usize>> = vec![Vec::new(); size.len()];
    for (i, s) in p.sizes.iter().enumerate() {
        of_size[size.partition_point(|x| x > s)].push(i);
    }
    let mut bin_of = vec![0; p.len()];
    for (b, bin) in bins.iter().enumerate() {
        for &j in bin {
            let i = of_size[j]
                .pop()
                .expect("a size is taken at most as often as it occurs");
            bin_of[i] = b;
        }
    }
    Packing {
        bins: bins.len(),
        bin_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(c: u64, sizes: &[u64]) -> BinPacking {
        BinPacking::try_new(vec![c], sizes.iter().map(|&s| vec![s]).collect()).unwrap()
    }

    #[test]
    fn finds_exact_triplets_first_fit_decreasing_misses() {
        // Two bins of exactly three items each; first fit decreasing needs three.
        let p = instance(100, &[40, 35, 25, 45, 30, 25]);
        assert_eq!(p.first_fit_decreasing().bins, 3);
        let got = complete(&p, 2, 1 << 20, 0, &mut Clock::unlimited()).unwrap();
        assert_eq!(got.bins, 2);
        assert!(p.is_feasible(&got));
    }

    /// Random perfect packings: `bins` bins each filled exactly by three to five items
    /// (a triplet-like instance with no room to waste), shuffled.
    fn perfect(bins: usize, seed: u64) -> BinPacking {
        let mut rng = Rng(seed);
        let mut sizes = Vec::new();
        for _ in 0..bins {
            let parts = 3 + rng.below(3);
            let mut left = 1_000u64;
            for k in 0..parts - 1 {
                let most = left - 100 * (parts - 1 - k) as u64;
                let s = 100 + rng.below((most - 100) as usize + 1) as u64;
                sizes.push(s);
                left -= s;
            }
            sizes.push(left);
        }
        rng.shuffle(&mut sizes);
        instance(1_000, &sizes)
    }

    #[test]
    fn finds_perfect_packings_of_random_instances() {
        for seed in 0..20 {
            let p = perfect(40, seed);
            assert_eq!(p.lower_bound(), 40);
            let got = complete(&p, 40, 1 << 22, seed, &mut Clock::unlimited())
                .unwrap_or_else(|| panic!("seed {seed}: no packing into 40 bins"));
            assert_eq!(got.bins, 40, "seed {seed}");
            assert!(p.is_feasible(&got), "seed {seed}");
            // Same seed and budget, same packing.
            let again = complete(&p, 40, 1 << 22, seed, &mut Clock::unlimited()).unwrap();
            assert_eq!(got, again, "seed {seed}");
        }
    }

    #[test]
    fn stops_on_its_node_budget_and_the_clock() {
        let p = perfect(60, 7);
        // One restart's worth of nodes is not enough to finish, and says so by `None`.
        assert!(complete(&p, 60, 10, 0, &mut Clock::unlimited()).is_none());
        let mut expired = Clock::after(std::time::Instant::now(), 0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(complete(&p, 60, u64::MAX, 0, &mut expired).is_none());
    }

    #[test]
    fn proves_a_target_impossible() {
        // Three items of 60 need three bins: the search exhausts the tree for two.
        let p = instance(100, &[60, 60, 60]);
        assert!(complete(&p, 2, 1 << 20, 0, &mut Clock::unlimited()).is_none());
        // Too little capacity in all: refused before searching.
        assert!(complete(&p, 1, 1 << 20, 0, &mut Clock::unlimited()).is_none());
    }
}
