//! The simulated pool ("world") behind the LINSTOR and XAPI faces. One `World` per pool,
//! shared by both servers: every request locks it, lets the clock catch up (reboots finish,
//! resyncs complete, violations are recorded), then reads or changes the state.
//!
//! One concern per module:
//! - [`model`]: the plain data both faces read and change;
//! - [`scenario`]: the TOML that gives the pool's shape and durations;
//! - [`build`]: a scenario plus host sysroots → the initial [`State`];
//! - [`shared`]: the [`World`] itself, the state behind one lock, and the simulated [`Clock`];
//! - [`power_on`]: what a host boots into, read from its sysroot;
//! - [`replication`]: what the state says of DRBD and LINSTOR now (presence, quorum,
//!   connection and replication states);
//! - [`dynamics`]: time passing (reboots, migrations, resync, quorum, eviction);
//! - [`accounting`]: the time spent on scenario activities and host-side work;
//! - [`violations`]: the intervals in which the pool was not healthy;
//! - [`ops`]: XAPI operations with XAPI's checks and error codes;
//! - [`services`]: `systemctl` of the LINSTOR services (XCP-ng's `service.py` plugin);
//! - [`faults`]: what tests inject.

pub mod accounting;
pub mod build;
pub mod dynamics;
pub mod faults;
pub mod model;
pub mod ops;
pub mod power_on;
pub mod replication;
pub mod scenario;
pub mod services;
pub mod shared;
pub mod violations;

pub use model::*;
pub use ops::{XapiError, opaque_ref};
pub use replication::{
    connection_status, has_quorum, replication_state, sync_done_percent, unsupported_layers,
};
pub use scenario::Scenario;
pub use shared::{Clock, HostWork, World};
