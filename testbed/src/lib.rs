//! `testbed`: the world linstor-agent's tests run against.
//!
//! Real tools wherever they run on a CI machine, simulations only where they cannot:
//! [`fixture`] builds a yum repository of real, signed RPMs with `rpmbuild`, `rpmsign`,
//! `createrepo_c` and `gpg`; [`sysroot`] lays out XCP-ng hosts as directories and installs
//! kernels into them with `dnf --installroot`, so the agent can be run against them with
//! `--root`.

pub mod cmd;
pub mod fixture;
mod fsutil;
pub mod ids;
pub mod linstor_face;
pub mod simpool;
pub mod synthetic;
pub mod sysroot;
pub mod world;
pub mod xapi_face;

pub use fixture::{BuildOptions, FixtureRepo, MetadataCompression};
pub use sysroot::{HostOptions, HostRoot, build_host};
