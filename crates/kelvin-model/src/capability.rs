use crate::{EntityId, Resources};

/// The marginal electrical power of running more work on a host.
///
/// Placement needs it; attribution provides it (from power models calibrated on measured data);
/// the facade wires one to the other. Keeping the trait here means neither crate depends on the
/// other.
///
/// ```
/// use kelvin_model::{EntityId, MarginalPower, Resources};
///
/// /// 3 W per busy core on every host.
/// struct Flat;
/// impl MarginalPower for Flat {
///     fn marginal_power_w(&self, _host: &EntityId, added: &Resources) -> Option<f64> {
///         Some(3.0 * added.cpu_cores)
///     }
/// }
/// let h = EntityId::new("h1")?;
/// assert_eq!(Flat.marginal_power_w(&h, &Resources::new(2.0, 0)), Some(6.0));
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
pub trait MarginalPower {
    /// Additional watts drawn by `host` when `added` resources are busy on it, or `None` when
    /// the provider has no model for that host.
    fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64>;
}
