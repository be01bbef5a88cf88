//! Integration tests of the `kelvin` facade, one binary.
//!
//! - `replay`: the recorded datasets under `datasets/` through `Engine`, end to end: energy
//!   conserved, error against ground truth bounded, quarantine exact, report snapshot.
//! - `datasets`: committed datasets are exactly what `kelvin-sim` regenerates.
//! - `architecture`: dependency direction (facade → domain crates → model) holds.
//! - `engine`: embedder-facing behaviour of `Engine` on small hand-made inputs.
//! - `extend`: the `extend` example in process: a decoder, a policy and an objective term
//!   written outside the crates, each run through `Engine` and each changing its results.
//! - `datacenter`: the simulated fleet of the `datacenter` example: Kelvin at least 10 % below
//!   the spread baseline in facility power, with nothing unplaced and no violation.
//! - `sim_conformance`: every file the simulator writes, for every preset, decodes with
//!   Kelvin's ingest (only the deliberate faults quarantined, counted exactly), and the
//!   committed datasets regenerate byte for byte.
//! - `live`: the live engine bills what the batch path bills, in any arrival order within
//!   the lateness window, and after crashes (SIGKILL at random moments).
//! - `live_props`: properties of the live engine: arrival order within the lateness window,
//!   restatements, conservation per interval, crash recovery.
//! - `lab`: the small hand-made inventory the engine tests share.
//! - `export`: the fleet layout (Hive-partitioned readings and bills) read back exactly, replaced
//!   whole on a second export.
//! - `gpu`: the real H100 recording through `kelvin::gpu`: exact per-phase balance, and the
//!   shared phases against the exclusive runs under every policy.

mod architecture;
mod datacenter;
mod datasets;
mod engine;
mod export;
mod extend;
mod gpu;
mod lab;
mod live;
mod live_props;
mod replay;
mod sim_conformance;
