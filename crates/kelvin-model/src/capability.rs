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

    /// Additional joules drawn by `host` when `added` resources are busy on it for
    /// `duration_s` seconds, starting from `load`, or `None` without a model.
    ///
    /// Providers with a calibrated non-linear curve answer `[P(u₀ + Δu) − P(u₀)] · T` and,
    /// for a host that is asleep, add its idle floor over `T` and the energy of waking it.
    /// The default is `marginal_power_w · duration_s`, which ignores the load and waking.
    fn marginal_energy_j(
        &self,
        host: &EntityId,
        load: &HostLoad,
        added: &Resources,
        duration_s: f64,
    ) -> Option<f64> {
        let _ = load;
        self.marginal_power_w(host, added).map(|w| w * duration_s)
    }
}

/// The state a marginal-energy estimate starts from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostLoad {
    /// Resources already busy on the host.
    pub busy: Resources,
    /// Whether the host is powered on; an asleep host must be woken to run anything.
    pub awake: bool,
}

impl HostLoad {
    /// A powered-on host with `busy` resources in use.
    pub const fn awake(busy: Resources) -> Self {
        HostLoad { busy, awake: true }
    }

    /// A host that is asleep (nothing busy).
    pub const fn asleep() -> Self {
        HostLoad {
            busy: Resources::new(0.0, 0),
            awake: false,
        }
    }
}
