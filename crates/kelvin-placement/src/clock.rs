//! Deadlines for the anytime searches: a clock read every few hundred units of work, so that
//! every phase (construction heuristics, sorting, bounds, search moves) notices the deadline
//! within microseconds, in debug builds too, without paying for a system call per operation.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

/// Units of work (about one fit test or one comparison each) between two readings of the
/// clock.
const CHECK_EVERY: u64 = 256;

/// Elements sorted at once by [`sort_within`] between two readings of the clock.
const SORT_RUN: usize = 1 << 11;

/// A deadline and the work done since the clock was last read.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    deadline: Option<Instant>,
    work: u64,
    expired: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::unlimited()
    }
}

impl Clock {
    /// A clock that never expires.
    pub(crate) fn unlimited() -> Clock {
        Clock {
            deadline: None,
            work: 0,
            expired: false,
        }
    }

    /// A clock that expires `ms` milliseconds after `start` (never, if that instant cannot be
    /// represented).
    pub(crate) fn after(start: Instant, ms: u64) -> Clock {
        Clock::until(start.checked_add(Duration::from_millis(ms)))
    }

    /// A clock that expires at `deadline` (never for `None`).
    pub(crate) fn until(deadline: Option<Instant>) -> Clock {
        Clock {
            deadline,
            work: 0,
            expired: false,
        }
    }

    /// Counts `work` units; true once the deadline has passed (the clock is read every
    /// [`CHECK_EVERY`] units, and once expired it stays expired).
    pub(crate) fn spend(&mut self, work: u64) -> bool {
        if self.expired {
            return true;
        }
        if self.deadline.is_none() {
            return false;
        }
        self.work = self.work.saturating_add(work);
        if self.work >= CHECK_EVERY {
            self.work = 0;
            return self.expired();
        }
        false
    }

    /// Reads the clock now: true once the deadline has passed.
    pub(crate) fn expired(&mut self) -> bool {
        if !self.expired
            && let Some(d) = self.deadline
        {
            self.expired = Instant::now() >= d;
        }
        self.expired
    }

    /// A clock for a phase that may use `share` (0 to 1) of the time left: it expires that
    /// far into what is left, or with this clock; unlimited if this one is.
    pub(crate) fn share(&self, share: f64) -> Clock {
        let now = Instant::now();
        match self.deadline {
            None => Clock::unlimited(),
            Some(d) => Clock::until(Some(now + d.saturating_duration_since(now).mul_f64(share))),
        }
    }

    /// True if an earlier reading found the deadline passed (does not read the clock).
    pub(crate) fn has_expired(&self) -> bool {
        self.expired
    }
}

/// Sorts `v` by `cmp` (a total order, so the result does not depend on the algorithm) unless
/// the clock expires first: runs of [`SORT_RUN`] elements are sorted, then merged pairwise,
/// reading the clock between runs and every few hundred merged elements. Returns whether the
/// sort finished; when it did not, `v` is still a permutation of its elements, partly sorted.
pub(crate) fn sort_within<T: Copy>(
    v: &mut [T],
    clock: &mut Clock,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) -> bool {
    let n = v.len();
    for run in v.chunks_mut(SORT_RUN) {
        let len = run.len() as u64;
        if clock.spend(len.saturating_mul(u64::from(len.max(2).ilog2()))) {
            return false;
        }
        run.sort_unstable_by(&mut cmp);
    }
    if n <= SORT_RUN {
        return true;
    }
    let mut buf = v.to_vec();
    let mut width = SORT_RUN;
    // Whether the latest pass wrote into `buf` (else into `v`).
    let mut in_buf = false;
    let mut finished = true;
    while width < n {
        let done = if in_buf {
            merge_pass(&buf, v, width, clock, &mut cmp)
        } else {
            merge_pass(v, &mut buf, width, clock, &mut cmp)
        };
        in_buf = !in_buf;
        width = width.saturating_mul(2);
        if !done {
            finished = false;
            break;
        }
    }
    if in_buf {
        v.copy_from_slice(&buf);
    }
    finished
}

/// Merges neighbouring sorted runs of `width` elements of `src` into `dst`; once the clock
/// expires, copies the rest unmerged (so `dst` is always a permutation of `src`). Returns
/// whether every run was merged.
fn merge_pass<T: Copy>(
    src: &[T],
    dst: &mut [T],
    width: usize,
    clock: &mut Clock,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> bool {
    let n = src.len();
    let mut lo = 0;
    let mut merging = true;
    while lo < n {
        let mid = lo.saturating_add(width).min(n);
        let hi = mid.saturating_add(width).min(n);
        let (mut i, mut j, mut k) = (lo, mid, lo);
        while merging && i < mid && j < hi {
            if cmp(&src[j], &src[i]) == Ordering::Less {
                dst[k] = src[j];
                j += 1;
            } else {
                dst[k] = src[i];
                i += 1;
            }
            k += 1;
            if clock.spend(1) {
                merging = false;
            }
        }
        dst[k..k + (mid - i)].copy_from_slice(&src[i..mid]);
        k += mid - i;
        dst[k..k + (hi - j)].copy_from_slice(&src[j..hi]);
        lo = hi;
    }
    merging
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_fully_without_a_deadline_and_keeps_a_permutation_with_one() {
        let mut x = 12_345u64;
        let v: Vec<u64> = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                x >> 40
            })
            .collect();
        let mut sorted = v.clone();
        sorted.sort_unstable();
        let mut a = v.clone();
        assert!(sort_within(&mut a, &mut Clock::unlimited(), |p, q| p.cmp(q)));
        assert_eq!(a, sorted);
        // An expired clock stops the sort at once: still a permutation.
        let mut b = v.clone();
        let mut clock = Clock::after(Instant::now(), 0);
        assert!(clock.expired());
        assert!(!sort_within(&mut b, &mut clock, |p, q| p.cmp(q)));
        b.sort_unstable();
        assert_eq!(b, sorted);
    }

    #[test]
    fn a_deadline_beyond_representable_time_never_expires() {
        let mut c = Clock::after(Instant::now(), u64::MAX);
        assert!(!c.expired() && !c.spend(1 << 20));
    }
}
