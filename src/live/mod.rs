//! The live side of the [`Engine`](crate::Engine): readings from many sources in event time,
//! intervals closed when every source has passed them, bills written once to a durable book,
//! restatements for readings that arrive after their interval closed.
//!
//! Wiring only: the watermarks are [`kelvin_model::Watermarks`], the book and its records are
//! [`kelvin_attribution::ledger`]'s (`ClosedInterval`, `Restatement`, `BookTotals`), each
//! interval is settled by [`kelvin_attribution::attribute_with_floors`] with floors calibrated
//! on a trailing window ([`kelvin_attribution::calibrate_floor`], alike meters pooled), and
//! durability is the store's write-ahead log plus a [`kelvin_store::Journal`] beside it.
//!
//! Submodules: `state` (options, the persisted acknowledgement and the journal replay),
//! `feed` (each absorbed batch, lifecycle calls, commit and finish), `workloads` (workloads
//! that come and go, as spans), `chunk` (a run of intervals aligned, with the workloads valid
//! in each), `gpu` (GPUs as meters of their own, keyed by SM activity), `floors` (the floors
//! pinned for the intervals closed next), `close` (closing and restating intervals),
//! `facility` (overhead and carbon per line), `hosts` (hosts that join and leave).

mod book;
mod chunk;
mod close;
mod drift;
mod facility;
mod feed;
mod floors;
mod gpu;
mod history;
mod hosts;
mod lifecycle;
mod state;
mod workloads;

pub use book::{read_book, read_closed};
pub use drift::MeterDrift;
pub use facility::{FacilityTotals, LiveFacility};
pub(crate) use feed::{Origin, sift_late};
pub use hosts::HostSpan;
pub(crate) use state::{Live, open_journal};
pub use state::{LiveOptions, LiveStatus};
pub use workloads::{SpanOrigin, WorkloadSpan};
