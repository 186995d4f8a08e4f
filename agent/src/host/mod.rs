//! Facts about the host: OS release, kernels (running, installed, default boot), and the Sysroot
//! through which every host path is reached.

pub mod sysroot;

pub use sysroot::Sysroot;
