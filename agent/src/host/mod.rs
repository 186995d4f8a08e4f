//! Facts about the host: OS release, kernels (running, installed, default boot), and the Sysroot
//! through which every host path is reached.

pub mod sysroot;

pub mod bls;
pub mod boot;
pub mod confined;
pub mod facts;
pub mod grub;
pub mod inventory;
pub mod kernels;
pub mod os_release;
pub mod report;
pub mod rootfs;
pub mod rpmdb;
pub mod shell_vars;
pub mod symvers;
pub mod targets;

pub use confined::{FileMode, HostDir};
pub use sysroot::Sysroot;
