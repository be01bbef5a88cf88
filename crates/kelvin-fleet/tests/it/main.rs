//! kelvin-fleet's integration tests: one binary, one module per subject. All of them query a
//! fleet exported once per run from two committed datasets (edge-small and enterprise-room,
//! replayed through live engines: `fleet::fleet()`), and compare against what the engines
//! themselves hold.

/// The shared export and the oracles computed from the engines (no assertions of its own).
mod fleet;

/// The `bills` table against the live books: per-tenant energy to the microjoule.
mod bills;

/// `kelvin_energy_j` and `kelvin_increase` against the store's kernels, on the export and on a
/// hand-made counter with a reset and a gap.
mod udafs;

/// The same queries on an in-process Ballista cluster (a scheduler and two executors on
/// loopback), row for row equal to the local run.
mod ballista;

/// `kelvin_settle` over a batch prepared by SQL from the readings: conserved per meter and
/// minute, policies honoured, bad batches refused with the place.
mod settle;

/// Bad input gives errors, not panics.
mod errors;
