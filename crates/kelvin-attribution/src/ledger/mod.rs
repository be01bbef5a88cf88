//! The balance sheet: measured energy of every meter and interval split into workload lines
//! and named accounts, exactly, under an [`AttributionPolicy`].
//!
//! Per meter and interval, with `E` the measured energy and `F = min(E, idle_w · dt)` the idle
//! floor (calibrated elsewhere, see [`crate::power::calibrate_idle`]):
//!
//! `E = Σ workloads + idle + system + unexplained`, in integer microjoules, exactly.
//!
//! A policy keys two parts ([`AttributionPolicy`]): the floor (a fixed cost, split by
//! reservation under Kelvin's default two-part tariff, or absorbed into the dynamic part) and
//! the dynamic part `E − F`. The dynamic key is either raw usage (the first resource, e.g. CPU
//! seconds) or a model key: for a meter whose power is a separable curve
//! `P(x) = Σ_r f_r(x_r)` of utilizations, the Aumann–Shapley value of consumer `c` is
//! `Σ_r u_cr · (f_r(X_r) − f_r(0)) / X_r` — exact for separable curves, proportional to usage
//! for linear ones — optionally scaled per consumer by a calibrated signature (a GPU workload
//! whose kernels draw more watts per SM-second than another's). Kelvin's policies are the
//! variants of [`Policy`]; an embedder's own policy implements the same trait and is passed
//! to [`LedgerOptions::with_policy`].
//!
//! Modules: `types` (the input and the sheets), `policy` (the trait, [`IntervalView`] and the
//! built-in policies), `settle` (options, checks, the window), `meter` (one meter's
//! settlement, interval by interval), `uncertainty` (the intervals around every amount), `book`
//! (closed intervals, restatements and their totals, as a live engine keeps them, with their
//! binary records).

mod book;
mod meter;
mod policy;
mod settle;
mod types;
mod uncertainty;

pub use book::{
    BookReader, BookRecord, BookTotals, BookWriter, ClosedInterval, IntervalSheet, Restatement,
};
pub use policy::{AttributionPolicy, Axiom, Floor, IntervalView, Policy};
pub use settle::{LedgerOptions, settle};
pub use types::{
    Account, Amount, Consumer, KeyCurve, Ledger, LedgerInput, Line, MeterInput, MeterResource,
    MeterSheet,
};
