//! The simulated estate's skeleton, shared by the edge and the room model: ids built from the
//! configuration's name, one site with one room, racks with their PDUs.

use kelvin_model::{EntityId, Inventory, Pdu, Rack, Room, Site};

use crate::SimConfig;

/// One GiB, bytes.
pub(crate) const GIB: u64 = 1 << 30;

/// An id built from the validated name plus ASCII suffixes.
pub(crate) fn id(s: String) -> EntityId {
    // Ids are built from the validated name plus ASCII suffixes, so they are always valid ids;
    // the fallback only exists to keep this function total.
    EntityId::new(s).unwrap_or_else(|_| unreachable!("SimConfig::validate checks the name"))
}

/// `<name>-r<rack>-h<slot>`, both counted from 1.
pub(crate) fn host_id(cfg: &SimConfig, rack: usize, slot: usize) -> EntityId {
    id(format!("{}-r{}-h{}", cfg.name, rack + 1, slot + 1))
}

/// An inventory holding the site (`<name>-site`) and its one room (`<name>-room-1`), and the
/// room's id.
pub(crate) fn site_and_room(cfg: &SimConfig) -> (Inventory, EntityId) {
    let site = id(format!("{}-site", cfg.name));
    let room = id(format!("{}-room-1", cfg.name));
    let inv = Inventory {
        sites: vec![Site {
            id: site.clone(),
            name: format!("{} site", cfg.name),
        }],
        rooms: vec![Room {
            id: room.clone(),
            site,
        }],
        ..Inventory::default()
    };
    (inv, room)
}

/// Adds rack `r` (from 0) of `room`, in `row`, with its PDU; returns the rack's and the PDU's
/// ids.
pub(crate) fn add_rack(
    inv: &mut Inventory,
    cfg: &SimConfig,
    room: &EntityId,
    r: usize,
    row: &str,
) -> (EntityId, EntityId) {
    let rack = id(format!("{}-r{}", cfg.name, r + 1));
    let pdu = id(format!("{}-r{}-pdu", cfg.name, r + 1));
    inv.racks.push(Rack {
        id: rack.clone(),
        room: room.clone(),
        row: Some(row.into()),
    });
    inv.pdus.push(Pdu {
        id: pdu.clone(),
        rack: rack.clone(),
        circuit: None,
    });
    (rack, pdu)
}
