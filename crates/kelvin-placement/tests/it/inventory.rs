//! The inventory → `fleet::Problem` mapping, with power only through `MarginalPower` and
//! measurements as plain numbers.

use kelvin_model::{EntityId, Host, HostLoad, Inventory, MarginalPower, Rack, Resources, Workload};
use kelvin_placement::PlacementErrorKind;
use kelvin_placement::fleet::{Measured, Objective, Placer, Policy, Problem, evaluate};

use crate::support::{GIB, id, pending};

/// A linear model per host: `floor` watts above sleep when awake, `per_core` per busy core;
/// no model for hosts not listed.
struct Linear(Vec<(&'static str, f64, f64)>);

impl Linear {
    fn get(&self, host: &EntityId) -> Option<(f64, f64)> {
        self.0
            .iter()
            .find(|(h, _, _)| *h == host.as_str())
            .map(|(_, f, c)| (*f, *c))
    }
}

impl MarginalPower for Linear {
    fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64> {
        self.get(host).map(|(_, c)| c * added.cpu_cores)
    }
    fn marginal_energy_j(
        &self,
        host: &EntityId,
        load: &HostLoad,
        added: &Resources,
        t: f64,
    ) -> Option<f64> {
        let (floor, per_core) = self.get(host)?;
        // Waking costs the floor over the duration plus a boot the sampling cancels.
        let wake = if load.awake { 0.0 } else { floor * t + 5_000.0 };
        Some(per_core * added.cpu_cores * t + wake)
    }
}

fn inventory() -> Inventory {
    let host = |name: &str, rack: &str, cores: f64| Host {
        id: id(name),
        rack: id(rack),
        capacity: Resources::new(cores, 64 * GIB),
        pdu: None,
    };
    let running = |name: &str, on: &str| Workload {
        host: Some(id(on)),
        ..pending(name, 4.0, 8 * GIB)
    };
    Inventory {
        racks: vec![Rack {
            id: id("r1"),
            room: id("room"),
            row: None,
        }],
        hosts: vec![
            host("h1", "r1", 16.0),
            host("h2", "r1", 16.0),
            // Its rack is not in the inventory: the problem gets one of that id.
            host("h3", "r9", 32.0),
        ],
        workloads: vec![running("a", "h1"), running("b", "h1")],
        ..Inventory::default()
    }
}

#[test]
fn an_inventory_maps_to_a_problem() {
    let inv = inventory();
    let model = Linear(vec![("h1", 60.0, 5.0), ("h2", 40.0, 5.0)]);
    let mut measured = Measured::default();
    measured.record_utilization(id("a"), [0.4, 0.6]);
    // h2 runs nothing but draws 78 W; h3 draws its standby 3 W.
    measured.record_power(id("h1"), [150.0]);
    measured.record_power(id("h2"), [78.0, 78.0]);
    measured.record_power(id("h3"), [3.0]);
    let p = Problem::from_inventory(&inv, &[pending("new", 2.0, GIB)], Some(&model), &measured)
        .unwrap();

    assert_eq!(p.dims, ["cpu", "memory_gib", "gpus"]);
    let racks: Vec<&str> = p.racks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(racks, ["r1", "r9"]);
    assert_eq!(p.hosts[2].rack, 1);
    assert_eq!(p.hosts[0].capacity, [16.0, 64.0, 0.0]);
    // Curves sampled through the trait: floor + per core × cores × load.
    let h1 = p.hosts[0].power.points_w();
    assert!(
        (h1[0] - 60.0).abs() < 1e-9 && (h1[10] - 140.0).abs() < 1e-9,
        "{h1:?}"
    );
    // h3 has no model: the mean per-core curve of the others, on its 32 cores.
    let h3 = p.hosts[2].power.points_w();
    assert!(
        (h3[0] - 100.0).abs() < 1e-9 && (h3[10] - 260.0).abs() < 1e-9,
        "{h3:?}"
    );
    // Awake: drawing at least half the idle floor.
    let awake: Vec<bool> = p.hosts.iter().map(|h| h.awake).collect();
    assert_eq!(awake, [true, true, false]);
    // Tasks: running first with their host and measured utilization, then the pending one
    // at the mean measured utilization.
    let tasks: Vec<(&str, Option<usize>, f64)> = p
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), t.current, t.utilization))
        .collect();
    assert_eq!(
        tasks,
        [("a", Some(0), 0.5), ("b", Some(0), 1.0), ("new", None, 0.5)]
    );
    assert!((p.tasks[0].utilization_sd - 0.1).abs() < 1e-12);

    // The placer, which works on the fleet as it runs, counts h2 awake; a plan lets it sleep.
    let placer = Placer::new(&p, Policy::Kelvin(Objective::default())).unwrap();
    assert_eq!(placer.evaluation().hosts_awake, 2);
    let today = [Some(0), Some(0), None];
    assert_eq!(evaluate(&p, &today).unwrap().hosts_awake, 1);
}

#[test]
fn without_a_model_curves_are_zero_and_placed_pending_work_is_refused() {
    let inv = inventory();
    let p = Problem::from_inventory(&inv, &[], None, &Measured::default()).unwrap();
    assert!(p.hosts.iter().all(|h| h.power.max_w() == 0.0 && !h.awake));
    assert!(p.tasks.iter().all(|t| t.utilization == 1.0));

    let mut placed = pending("new", 2.0, GIB);
    placed.host = Some(id("h2"));
    let e = Problem::from_inventory(&inv, &[placed], None, &Measured::default()).unwrap_err();
    assert_eq!(e.kind(), PlacementErrorKind::InvalidInput);
    assert_eq!(e.workload().map(EntityId::as_str), Some("new"));
    assert!(e.reason().contains("already names a host"), "{e}");
}

#[test]
fn without_a_model_measured_power_is_the_floor_and_waking_a_parked_host_costs_it() {
    let inv = inventory();
    // h1 and h2 draw what hosts draw on; h3's BMC reads its standby power.
    let mut measured = Measured::default();
    measured.record_power(id("h1"), [240.0]);
    measured.record_power(id("h2"), [200.0]);
    measured.record_power(id("h3"), [8.0]);
    let slot = pending("slot", 2.0, GIB);
    let p = Problem::from_inventory(&inv, &[slot], None, &measured).unwrap();
    let floors: Vec<(f64, f64, bool)> = p
        .hosts
        .iter()
        .map(|h| (h.power.idle_w(), h.power.max_w(), h.awake))
        .collect();
    // Flat at what they draw; h3's 8 W is raised to the median floor and it is asleep.
    assert_eq!(
        floors,
        [
            (240.0, 240.0, true),
            (200.0, 200.0, true),
            (200.0, 200.0, false)
        ]
    );
    // A new task costs nothing more on an awake host and the whole floor on h3.
    let mut placer = Placer::new(&p, Policy::Kelvin(Objective::default())).unwrap();
    let probe = placer.probe(2, None, &[0, 1, 2]).unwrap();
    let it_w: Vec<f64> = probe.iter().map(|r| r.as_ref().unwrap().it_w).collect();
    assert_eq!(it_w, [0.0, 0.0, 200.0], "{probe:?}");
    // Measured nothing: still zero curves.
    let none = Problem::from_inventory(&inv, &[], None, &Measured::default()).unwrap();
    assert!(none.hosts.iter().all(|h| h.power.max_w() == 0.0));
}
