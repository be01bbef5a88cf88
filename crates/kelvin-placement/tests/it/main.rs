//! The one integration-test binary of `kelvin-placement`: everything here goes through the
//! public API only, as the facade would.

// Builders and reference implementations shared by the other modules: realistic hosts and
// workloads, a table-backed `MarginalPower`, and the brute-force / replay oracles. No tests.
mod support;

// Property tests with oracles (proptest): capacity respected when recomputed from scratch,
// first fit replayed step by step, determinism and input-order independence, every workload
// accounted for exactly once, monotonicity when a host is appended, and brute force on small
// instances for the lower bound and `hosts_used`.
mod properties;

// End-to-end scenarios with realistic fleets: `Inventory` → `host_states` → `place`, with and
// without a power model, and the explanations (`Display` of unplaced workloads, `Serialize`
// of the plan) a caller would show.
mod scenarios;

// Bin packing on the published BPPLIB sets (skipped without `../shared`): feasibility,
// bounds never above the known optimum, and the FFD baseline's published gaps.
mod binpack;

// The power- and heat-aware optimizer: proptests of hard constraints, seed determinism and
// relaxation monotonicity, brute force on small instances, and a scenario per constraint,
// objective and explanation.
mod fleet;

// Objective terms written outside the crate, honoured by the placer and the search (with no
// limit on their number), and hosts that draw power counting as awake.
mod objective;

// The inventory → fleet problem mapping: curves through `MarginalPower`, awake hosts and
// utilization from measurements as plain numbers.
mod inventory;

// The ROADEF/EURO 2012 machine reassignment instances (skipped without `../shared`): the
// checker against the published initial costs, typed reading errors, a short reassignment.
mod roadef;
