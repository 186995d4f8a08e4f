//! Which userland a host gets when `[packages] userland` is not written in the config.
//!
//! - **XCP-ng profile**: when the repository carries Vates' meta-package `xcp-ng-linstor`, the
//!   host gets what Vates installs (Xen Orchestra's XOSTOR code installs
//!   `xcp-ng-release-linstor`, then `xcp-ng-linstor`; docs/xostor.md §8.1): the release package
//!   if the repository has it, the meta-package, and every package the meta-package requires
//!   (`drbd`, `drbd-reactor`, `http-nbd-transfer`, `linstor-client`, `linstor-controller`,
//!   `linstor-satellite`; the module is the kmod step's). `linstor-controller` is among them,
//!   so drbd-reactor can start the controller on any host. The meta-package also enables the
//!   `linstor` SM driver (`/etc/xapi.conf.d/99-enable-sm-driver-linstor.conf`, §7).
//! - **EL profile** (any other OS), or an XCP-ng repository without the meta-package: the
//!   explicit default list of `settings`.
//!
//! A list written in the config always wins.

use crate::host::facts::Facts;
use crate::repo::RepoMetadata;
use crate::settings::PackagesSettings;

/// Vates' meta-package.
pub const META: &str = "xcp-ng-linstor";
/// Vates' release package (the repository definition and the DRBD transport options).
pub const RELEASE: &str = "xcp-ng-release-linstor";
/// The file the meta-package installs to enable the `linstor` SM driver in xapi.
pub const SM_DRIVER_CONF: &str = "/etc/xapi.conf.d/99-enable-sm-driver-linstor.conf";

/// Which profile applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The meta-package and what it requires.
    XcpNg,
    /// The explicit list.
    Explicit,
}

/// The profile for this host and repository.
pub fn profile(facts: &Facts, metadata: &RepoMetadata, packages: &PackagesSettings) -> Profile {
    if !packages.userland_explicit && facts.os.is_xcpng() && metadata.named(META).next().is_some() {
        Profile::XcpNg
    } else {
        Profile::Explicit
    }
}

/// `packages` with the userland of its profile.
pub fn apply(facts: &Facts, metadata: &RepoMetadata, mut packages: PackagesSettings) -> PackagesSettings {
    if profile(facts, metadata, &packages) == Profile::XcpNg {
        packages.userland = xcpng_userland(metadata, &packages.kmod);
    }
    packages
}

/// The release package (when in the repository), the meta-package, and the names the newest
/// meta-package requires that the repository has (the module package left to the kmod step).
fn xcpng_userland(metadata: &RepoMetadata, kmod: &str) -> Vec<String> {
    let mut names = Vec::new();
    if metadata.named(RELEASE).next().is_some() {
        names.push(RELEASE.to_string());
    }
    names.push(META.to_string());
    let newest = metadata
        .named(META)
        .max_by(|a, b| crate::rpmver::compare_evr(&a.evr(), &b.evr()));
    for dep in newest.map(|m| m.requires.as_slice()).unwrap_or_default() {
        let wanted =
            dep.name != kmod && !names.contains(&dep.name) && metadata.named(&dep.name).next().is_some();
        if wanted {
            names.push(dep.name.clone());
        }
    }
    names
}
