//! Secure Boot (issue 14, point 10): before a kernel module package is installed on a host that
//! boots with Secure Boot, every module in it must carry a signature the target kernel accepts.
//!
//! - `state`: is Secure Boot enforced (the root's UEFI variables; `mokutil --sb-state` as a
//!   fallback on a live host)?
//! - `efi`: efivarfs files and EFI signature lists.
//! - `keys`: the keys a kernel trusts: `db`, shim's MOK list, the kernel's built-in keys;
//!   `dbx` and `MokListXRT` revocations.
//! - `module_sig`: a module's appended PKCS#7 signature, parsed and verified.
//! - `payload`: the module files of a verified package, from its payload.
//! - `check`: every module against every kernel it serves; the report and the refusal.
//!
//! The formats, and where each rule comes from in the kernel's and shim's sources, are in
//! docs/design-notes.md "Secure Boot (issue 14, point 10)".

pub mod check;
pub mod efi;
pub mod keys;
pub mod module_sig;
pub mod payload;
pub mod state;

pub use check::{Candidate, Report, check};
pub use state::{State, read as read_state};
