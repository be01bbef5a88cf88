//! Kelvin's shared vocabulary.
//!
//! Every other Kelvin crate speaks in these types, and none of them depends on a sibling:
//!
//! - [`Timestamp`] and [`TimeRange`]: nanoseconds since the Unix epoch, half-open ranges.
//! - [`SensorKind`] and [`Unit`]: what a reading measures and its one canonical unit, with a
//!   data-driven conversion table ([`Unit::convert`]).
//! - [`Reading`]: one normalized sample (entity, sensor, kind, value, time, quality).
//! - [`Inventory`]: the entity hierarchy site → room → rack → host → component, PDUs and circuits,
//!   and workloads with tenants and resource requests.
//! - [`Place`] and [`ModelError`]: where a problem is and what it is.
//! - [`MarginalPower`]: the capability placement needs from attribution, wired by the facade.
//! - [`Watermarks`]: event-time progress of many sources, and the watermark below which a
//!   live engine may close its intervals.
//! - [`layout`]: the column names, schema and metadata of Kelvin's one Parquet layout.
//!
//! ```
//! use kelvin_model::{Reading, SensorKind, Timestamp, Unit, EntityId};
//!
//! // A BMC reports 95 °F at the inlet; Kelvin stores degrees Celsius.
//! let celsius = Unit::Fahrenheit.convert(95.0, SensorKind::Temperature)?;
//! let r = Reading::new(EntityId::new("host-01")?, "inlet", SensorKind::Temperature,
//!                      celsius, Timestamp::from_secs(1_700_000_000));
//! assert_eq!(r.value, 35.0);
//! assert_eq!(r.unit(), Unit::Celsius);
//! # Ok::<(), kelvin_model::ModelError>(())
//! ```
//!
//! # Panics and errors
//!
//! Functions that validate input return [`ModelError`] with the [`Place`] and the reason.
//! Constructors named `new` that can fail say so under `# Errors`; nothing in this crate panics
//! on input data.

mod capability;
mod entity;
mod error;
pub mod layout;
mod plausible;
mod reading;
mod time;
mod units;
mod watermark;

pub use capability::{HostLoad, MarginalPower};
pub use entity::{
    Circuit, Component, ComponentKind, EntityId, EntityKind, Host, Inventory, Pdu, Rack, Resources,
    Room, Site, Workload,
};
pub use error::{ErrorKind, ModelError, Place};
pub use plausible::{TimeBounds, TimeGate};
pub use reading::{Quality, Reading, SensorName};
pub use time::{TimeRange, Timestamp};
pub use units::{Dimension, Semantics, SensorKind, Unit};
pub use watermark::Watermarks;
