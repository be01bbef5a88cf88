/// The order in which hosts are tried for each workload (first fit takes the first host, in this
/// order, that has room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostOrder {
    /// [`HostOrder::MarginalPower`] when a marginal-power model is given to
    /// [`place`](crate::place), [`HostOrder::Inventory`] otherwise. The default.
    #[default]
    Auto,
    /// Hosts in the order they are given.
    Inventory,
    /// Most energy-efficient host first, decided per workload: hosts are sorted by ascending
    /// marginal watts per requested CPU core of the workload being placed, as the model reports
    /// for that host. Hosts for which the model has no answer (or a non-finite one) come after
    /// those it has, in the order given; ties keep the order given too.
    ///
    /// For one workload, watts per requested core orders hosts exactly as watts do (it is the
    /// same number divided by the workload's request), so workloads that request no CPU are
    /// ordered by watts.
    ///
    /// Requires a model: [`place`](crate::place) returns
    /// [`InvalidInput`](crate::PlacementErrorKind::InvalidInput) without one.
    MarginalPower,
}

/// Options for [`place`](crate::place).
///
/// Start from [`PlaceOptions::default`] and change what you need with the `with_*` setters;
/// new options will keep today's behaviour as their default.
///
/// ```
/// use kelvin_placement::{HostOrder, PlaceOptions};
///
/// let opts = PlaceOptions::default().with_host_order(HostOrder::Inventory);
/// assert_eq!(opts.host_order, HostOrder::Inventory);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlaceOptions {
    /// The order in which hosts are tried. Default: [`HostOrder::Auto`] (energy-aware when a
    /// marginal-power model is given, inventory order otherwise).
    pub host_order: HostOrder,
    /// Most runners-up each [`Assignment`](crate::Assignment) lists: the next hosts, in the
    /// order tried, on which the workload also fits. Default 2.
    pub runners_up: usize,
}

impl Default for PlaceOptions {
    fn default() -> Self {
        PlaceOptions {
            host_order: HostOrder::default(),
            runners_up: 2,
        }
    }
}

impl PlaceOptions {
    /// Sets [`PlaceOptions::runners_up`].
    pub fn with_runners_up(mut self, n: usize) -> Self {
        self.runners_up = n;
        self
    }

    /// Sets [`PlaceOptions::host_order`].
    pub fn with_host_order(mut self, host_order: HostOrder) -> Self {
        self.host_order = host_order;
        self
    }
}
