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
//! - [`faults`]: what tests inject;
//! - [`xapi_error`]: XAPI's error shape and the SM drivers' errors;
//! - [`controller`]: where the LINSTOR controller runs (drbd-reactor's promoter) and whether
//!   it answers;
//! - [`attach`]: whether a PBD can be plugged, and PBDs following their hosts;
//! - [`reactor`]: drbd-reactor's promoter config (state and the file in the sysroot);
//! - [`lvm`]: a host's volume group, from the real LVM;
//! - [`prebuilt_sr`]: a scenario's `[sr]`, the pool as `SR.create` leaves it;
//! - [`sr_create`]: `SR.create` of a `linstor` SR (the driver's create path);
//! - [`storage_repo`]: the SR's PBDs (`PBD.create`/`plug`/`unplug`/`destroy`);
//! - [`vdis`]: `VDI.create`/`destroy` (LINSTOR resources) and `VBD.create`;
//! - [`xostor_host`]: linstor-manager's host functions (`addHost`, `removeHost`, …).

pub mod accounting;
pub mod attach;
pub mod build;
pub mod controller;
pub mod dynamics;
pub mod faults;
pub mod lvm;
pub mod model;
pub mod ops;
pub mod power_on;
pub mod prebuilt_sr;
pub mod reactor;
pub mod replication;
pub mod scenario;
pub mod services;
pub mod shared;
pub mod sr_create;
pub mod storage_repo;
pub mod vdis;
pub mod violations;
pub mod xapi_error;
pub mod xostor_host;

pub use model::*;
pub use replication::{
    connection_status, has_quorum, replication_state, sync_done_percent, unsupported_layers,
};
pub use scenario::Scenario;
pub use shared::{Clock, HostWork, World};
pub use xapi_error::{SmError, XapiError, opaque_ref};
