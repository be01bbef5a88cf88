use std::collections::HashMap;
use std::fmt;

use kelvin_model::{EntityId, Inventory, Resources};
use serde::Serialize;

/// Slack, in CPU cores, allowed when comparing a CPU request with free CPU.
///
/// CPU amounts are fractional and sums of them pick up rounding error (`0.1 + 0.2 != 0.3`); a
/// request fits when `request <= free + CPU_EPSILON_CORES`. One billionth of a core is far below
/// any real request granularity (Kubernetes' finest is a millicore). Memory is counted in whole
/// bytes and compared exactly.
pub const CPU_EPSILON_CORES: f64 = 1e-9;

/// A constraint that can keep a workload off a host.
///
/// New constraints (power caps, thermal limits) will be added as variants, hence
/// `#[non_exhaustive]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Constraint {
    /// Not enough free CPU cores.
    Cpu,
    /// Not enough free memory.
    Memory,
    /// Not enough free GPUs.
    Gpu,
}

impl Constraint {
    /// Every constraint, in reporting order.
    pub(crate) const ALL: [Constraint; 3] = [Constraint::Cpu, Constraint::Memory, Constraint::Gpu];

    /// The lowercase name used in messages and JSON (`cpu`, `memory`, `gpu`).
    pub fn as_str(self) -> &'static str {
        match self {
            Constraint::Cpu => "cpu",
            Constraint::Memory => "memory",
            Constraint::Gpu => "gpu",
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a demand fits on a host, and if not, which constraints it breaks.
///
/// Returned by [`HostState::fits`]; a demand can break several constraints at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    cpu_ok: bool,
    memory_ok: bool,
    gpu_ok: bool,
}

impl Fit {
    /// `true` when no constraint is broken.
    pub fn is_fit(self) -> bool {
        self.cpu_ok && self.memory_ok && self.gpu_ok
    }

    /// `true` when `constraint` is broken.
    pub fn blocks(self, constraint: Constraint) -> bool {
        match constraint {
            Constraint::Cpu => !self.cpu_ok,
            Constraint::Memory => !self.memory_ok,
            Constraint::Gpu => !self.gpu_ok,
        }
    }

    /// The broken constraints, in [`Constraint`] order (empty when the demand fits).
    pub fn blocking(self) -> impl Iterator<Item = Constraint> {
        Constraint::ALL.into_iter().filter(move |c| self.blocks(*c))
    }
}

/// A host as the optimizer sees it: its capacity and what is already used on it.
///
/// Build them from an [`Inventory`] with [`host_states`], or with [`HostState::new`] and
/// [`HostState::with_used`]. [`place`](crate::place) checks them: ids unique, CPU amounts finite
/// and non-negative. `#[non_exhaustive]` so that later constraints (power caps, inlet
/// temperature) can add fields.
///
/// `used` may exceed `capacity` (an overcommitted host); such a host has nothing free.
/// Whole GPUs are a constraint like CPU and memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HostState {
    /// The host's id.
    pub id: EntityId,
    /// Allocatable capacity.
    pub capacity: Resources,
    /// Sum of the requests of the workloads already on the host.
    pub used: Resources,
}

impl HostState {
    /// An empty host (nothing used).
    pub fn new(id: EntityId, capacity: Resources) -> Self {
        HostState {
            id,
            capacity,
            used: Resources::default(),
        }
    }

    /// The same host with `used` already in use.
    pub fn with_used(mut self, used: Resources) -> Self {
        self.used = used;
        self
    }

    /// Free capacity: `capacity - used` per dimension, never below zero.
    ///
    /// ```
    /// use kelvin_model::{EntityId, Resources};
    /// use kelvin_placement::HostState;
    ///
    /// let h = HostState::new(EntityId::new("h1")?, Resources::new(32.0, 128 << 30))
    ///     .with_used(Resources::new(30.5, 100 << 30));
    /// assert_eq!(h.free(), Resources::new(1.5, 28 << 30));
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn free(&self) -> Resources {
        Resources {
            cpu_cores: (self.capacity.cpu_cores - self.used.cpu_cores).max(0.0),
            memory_bytes: self
                .capacity
                .memory_bytes
                .saturating_sub(self.used.memory_bytes),
            gpus: self.capacity.gpus.saturating_sub(self.used.gpus),
        }
    }

    /// Whether `demand` fits in what is free, per constraint.
    ///
    /// CPU is compared with a slack of [`CPU_EPSILON_CORES`]; memory and GPUs exactly.
    ///
    /// ```
    /// use kelvin_model::{EntityId, Resources};
    /// use kelvin_placement::{Constraint, HostState};
    ///
    /// let h = HostState::new(EntityId::new("h1")?, Resources::new(32.0, 128 << 30));
    /// assert!(h.fits(&Resources::new(32.0, 128 << 30)).is_fit());
    /// let fit = h.fits(&Resources::new(40.0, 64 << 30));
    /// assert_eq!(fit.blocking().collect::<Vec<_>>(), [Constraint::Cpu]);
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn fits(&self, demand: &Resources) -> Fit {
        let free = self.free();
        Fit {
            cpu_ok: demand.cpu_cores <= free.cpu_cores + CPU_EPSILON_CORES,
            memory_ok: demand.memory_bytes <= free.memory_bytes,
            gpu_ok: demand.gpus <= free.gpus,
        }
    }

    /// Adds `demand` to `used` (saturating for the integer dimensions).
    pub(crate) fn take(&mut self, demand: &Resources) {
        self.used.cpu_cores += demand.cpu_cores;
        self.used.memory_bytes = self.used.memory_bytes.saturating_add(demand.memory_bytes);
        self.used.gpus = self.used.gpus.saturating_add(demand.gpus);
    }

    /// Whether anything is in use.
    pub(crate) fn is_loaded(&self) -> bool {
        self.used.cpu_cores > 0.0 || self.used.memory_bytes > 0 || self.used.gpus > 0
    }
}

/// The state of every host of an inventory, in inventory order.
///
/// `capacity` is the host's capacity; `used` is the sum of the requests of the workloads placed
/// on it (those whose `host` names it). Workloads naming an unknown host are ignored;
/// [`Inventory::validate`] reports them.
///
/// ```
/// use kelvin_model::{EntityId, Host, Inventory, Resources, Workload};
/// use kelvin_placement::host_states;
///
/// let h1 = EntityId::new("h1")?;
/// let inv = Inventory {
///     hosts: vec![Host {
///         id: h1.clone(),
///         rack: EntityId::new("r1")?,
///         capacity: Resources::new(64.0, 256 << 30),
///         pdu: None,
///     }],
///     workloads: vec![Workload {
///         id: EntityId::new("db-1")?,
///         tenant: "shop".into(),
///         owner: String::new(),
///         requests: Resources::new(8.0, 32 << 30),
///         host: Some(h1),
///     }],
///     ..Inventory::default()
/// };
/// let states = host_states(&inv);
/// assert_eq!(states[0].used, Resources::new(8.0, 32 << 30));
/// assert_eq!(states[0].free(), Resources::new(56.0, 224 << 30));
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
pub fn host_states(inv: &Inventory) -> Vec<HostState> {
    let mut used: HashMap<&EntityId, Resources> = HashMap::new();
    for w in &inv.workloads {
        if let Some(h) = &w.host {
            let u = used.entry(h).or_default();
            u.cpu_cores += w.requests.cpu_cores;
            u.memory_bytes = u.memory_bytes.saturating_add(w.requests.memory_bytes);
            u.gpus = u.gpus.saturating_add(w.requests.gpus);
        }
    }
    inv.hosts
        .iter()
        .map(|h| HostState {
            id: h.id.clone(),
            capacity: h.capacity,
            used: used.get(&h.id).copied().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelvin_model::{Host, Workload};

    const GIB: u64 = 1 << 30;

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    fn host(name: &str, cpu: f64, mem_gib: u64) -> HostState {
        HostState::new(id(name), Resources::new(cpu, mem_gib * GIB))
    }

    #[test]
    fn fit_names_each_failing_dimension() {
        let h = host("h1", 32.0, 128).with_used(Resources::new(24.0, 100 * GIB));
        let check = |cpu: f64, mem_gib: u64, expected: &[Constraint]| {
            let fit = h.fits(&Resources::new(cpu, mem_gib * GIB));
            assert_eq!(
                fit.blocking().collect::<Vec<_>>(),
                expected,
                "{cpu} cores, {mem_gib} GiB"
            );
            assert_eq!(fit.is_fit(), expected.is_empty());
            for c in Constraint::ALL {
                assert_eq!(fit.blocks(c), expected.contains(&c));
            }
        };
        check(8.0, 28, &[]);
        check(8.5, 28, &[Constraint::Cpu]);
        check(8.0, 29, &[Constraint::Memory]);
        check(16.0, 64, &[Constraint::Cpu, Constraint::Memory]);
    }

    #[test]
    fn cpu_rounding_error_does_not_block_an_exact_fit() {
        // 0.1 + 0.2 > 0.3 in binary floating point.
        let h = host("h1", 0.3, 1).with_used(Resources::new(0.1, 0));
        assert!(h.fits(&Resources::new(0.2, 0)).is_fit());
        assert!(!h.fits(&Resources::new(0.2001, 0)).is_fit());
    }

    #[test]
    fn overcommitted_host_has_nothing_free() {
        let h = host("h1", 32.0, 128).with_used(Resources::new(40.0, 200 * GIB));
        assert_eq!(h.free(), Resources::new(0.0, 0));
        assert!(h.fits(&Resources::new(0.0, 0)).is_fit());
        assert!(!h.fits(&Resources::new(0.5, 0)).is_fit());
    }

    #[test]
    fn host_states_sum_requests_of_placed_workloads() {
        let wl = |name: &str, cpu: f64, mem_gib: u64, on: Option<&str>| Workload {
            id: id(name),
            tenant: "t".into(),
            owner: String::new(),
            requests: Resources::new(cpu, mem_gib * GIB),
            host: on.map(id),
        };
        let hw = |name: &str| Host {
            id: id(name),
            rack: id("r1"),
            capacity: Resources::new(64.0, 512 * GIB),
            pdu: None,
        };
        let inv = Inventory {
            hosts: vec![hw("h1"), hw("h2"), hw("h3")],
            workloads: vec![
                wl("a", 4.0, 16, Some("h2")),
                wl("b", 0.5, 2, Some("h2")),
                wl("c", 8.0, 64, Some("h1")),
                wl("pending", 16.0, 64, None),
                wl("ghost", 1.0, 1, Some("h9")),
            ],
            ..Inventory::default()
        };
        let states = host_states(&inv);
        let ids: Vec<&str> = states.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["h1", "h2", "h3"]);
        assert_eq!(states[0].used, Resources::new(8.0, 64 * GIB));
        assert_eq!(states[1].used, Resources::new(4.5, 18 * GIB));
        assert_eq!(states[2].used, Resources::default());
        assert!(
            states
                .iter()
                .all(|s| s.capacity == Resources::new(64.0, 512 * GIB))
        );
    }
}
