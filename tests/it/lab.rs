//! The small hand-made inventory the engine tests share: one site, one room, one rack `r1`,
//! hosts of 16 cores and 64 GiB.

use kelvin_model::{EntityId, Host, Inventory, Rack, Resources, Room, Site, Workload};

/// An entity id that the test knows is valid.
pub(crate) fn id(s: &str) -> EntityId {
    EntityId::new(s).unwrap()
}

/// A host of 16 cores and 64 GiB in rack `r1`.
pub(crate) fn host(name: &str) -> Host {
    Host {
        id: id(name),
        rack: id("r1"),
        capacity: Resources::new(16.0, 64 << 30),
        pdu: None,
    }
}

/// The lab: site `s`, room `room`, rack `r1`, with `hosts` and `workloads`.
pub(crate) fn lab(hosts: Vec<Host>, workloads: Vec<Workload>) -> Inventory {
    Inventory {
        sites: vec![Site {
            id: id("s"),
            name: "lab".into(),
        }],
        rooms: vec![Room {
            id: id("room"),
            site: id("s"),
        }],
        racks: vec![Rack {
            id: id("r1"),
            room: id("room"),
            row: None,
        }],
        hosts,
        workloads,
        ..Inventory::default()
    }
}
