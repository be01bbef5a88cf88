//! The integration tests of `kelvin-store`: one test binary, one module per concern, each
//! using only the crate's public API.

/// Properties that hold for every input (proptest), each checked against an oracle computed
/// independently in the test (a direct integral over the whole span, the true total of a
/// simulated counter) or a metamorphic relation (insertion order does not matter). New
/// invariants of the store's queries belong here.
mod properties;

/// End-to-end scenarios with realistic telemetry (PSU power every 15 s, energy and CPU-time
/// counters, exporter restarts, scrape outages, several hosts), checking results a reader can
/// verify by hand or by physics (energy from power equals the energy counter's increase).
/// Worked examples of how other crates use the store belong here.
mod scenarios;
