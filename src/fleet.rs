//! The simulator's server models as placement inputs, so that fleets for the optimizer can be
//! built from the same published SPECpower_ssj2008 curves the simulator racks.
//!
//! ```
//! use kelvin::fleet::server_models;
//! use kelvin::placement::fleet::{solve, SolveOptions, Synthetic};
//!
//! let p = Synthetic::new(server_models()?).racks(2).hosts_per_rack(4).tasks(40).build(7)?;
//! let sol = solve(&p, &SolveOptions::default().with_rounds(100).with_time_limit_ms(None))?;
//! assert!(sol.evaluation.violations.is_empty());
//! # Ok::<(), kelvin::placement::PlacementError>(())
//! ```

use kelvin_placement::PlacementError;
use kelvin_placement::fleet::{PowerCurve, ServerModel};

/// The simulator's archetypes (`kelvin_sim::archetypes`) as [`ServerModel`]s: capacity
/// `[threads, memory GiB]` and the published curve.
pub fn server_models() -> Result<Vec<ServerModel>, PlacementError> {
    kelvin_sim::archetypes()
        .into_iter()
        .map(|a| {
            Ok(ServerModel {
                name: a.name.to_string(),
                capacity: [f64::from(a.threads), a.memory_gib as f64],
                curve: PowerCurve::try_new(a.curve.points_w)?,
            })
        })
        .collect()
}
