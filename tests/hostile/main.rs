//! Hostile input, end to end: every reproducer of a crash, an abort, a runaway allocation or a
//! search that overran its time limit becomes a test here, run within a heap budget.
//!
//! This is a second test binary (the others live in `tests/it`) because it installs a counting
//! global allocator: a test's heap is measured only when no other test allocates beside it, so
//! every test here takes [`within_budget`]'s lock and runs alone.
//!
//! - `binpack`: instance readers (`BinPacking::parse`) and time-limited packing.
//! - `ingest`: decoders, trees and `decode_path` over oversized, deep and special files.
//! - `dataset`: the recorded-dataset loader and `replay` (outlying timestamps, inventories that
//!   make no sense, file limits, error messages that name the file and the cause).
//! - `recording`: the GPU recording reader behind `gpu_attribution`.
//! - `store`: the store's readers of outside files: Parquet imports, the WAL and block files
//!   recovered at open, and the CSV series of the `compress` example.

mod binpack;
mod dataset;
mod ingest;
mod recording;
mod store;

use std::alloc::System;
use std::sync::{Mutex, MutexGuard};

use cap::Cap;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// The heap budget every reproducer must stay within (the acceptance bound).
pub const BUDGET: usize = 256 << 20;

static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one may still run alone.
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` alone with at most `budget` bytes of heap on top of what is already allocated.
/// Going over the budget makes the allocation fail, which aborts the binary with "memory
/// allocation of N bytes failed" (or, for a fallible reservation, returns its error): a
/// regression stops at the budget instead of exhausting the machine.
pub fn within<T>(budget: usize, f: impl FnOnce() -> T) -> T {
    let _alone = alone();
    let base = HEAP.allocated();
    HEAP.set_limit(base.saturating_add(budget))
        .expect("the limit is above what is allocated");
    let out = f();
    HEAP.set_limit(usize::MAX)
        .expect("an unlimited heap is always allowed");
    out
}

/// [`within`] the issue's [`BUDGET`].
pub fn within_budget<T>(f: impl FnOnce() -> T) -> T {
    within(BUDGET, f)
}

#[test]
fn the_budget_is_enforced_by_the_allocator() {
    let v = within(1 << 20, || vec![0u8; 512 << 10]);
    assert_eq!(v.len(), 512 << 10);
    let r = within(1 << 20, || {
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(8 << 20).map(|_| v.capacity())
    });
    assert!(r.is_err(), "an 8 MiB reservation passed a 1 MiB budget");
}
