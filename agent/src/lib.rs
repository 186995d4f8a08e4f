//! linstor-agent: turns an XCP-ng host into a healthy member of a DRBD/LINSTOR pool, and keeps the
//! pool that way through upgrades. The library holds everything; `main.rs` only parses and exits.

pub mod app;
pub mod bounds;
pub mod cidr;
pub mod cli;
pub mod context;
pub mod error;
pub mod exec;
pub mod host;
pub mod kernel_guard;
pub mod linstor;
pub mod logging;
pub mod metrics;
pub mod network;
pub mod observed;
pub mod output;
pub mod packages;
pub mod pool;
pub mod probe;
pub mod progress;
pub mod provision;
pub mod register;
pub mod repo;
pub mod report;
pub mod rpmver;
pub mod secure_boot;
pub mod settings;
pub mod status;
pub mod steps;
pub mod storage;
pub mod utc;
pub mod xapi;
pub mod xostor;
