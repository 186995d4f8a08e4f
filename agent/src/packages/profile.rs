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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::os_release::OsRelease;
    use crate::repo::{Dependency, RepoPackage};

    fn facts(os_release: &str) -> Facts {
        Facts {
            os: OsRelease::parse(os_release),
            xcpng_version: None,
            hostname: None,
            running_kernel: None,
            kernels: Vec::new(),
            default_boot_kernel: None,
            default_boot_source: String::new(),
        }
    }

    fn package(name: &str, requires: &[&str]) -> RepoPackage {
        RepoPackage {
            name: name.into(),
            epoch: 0,
            version: "1".into(),
            release: "1".into(),
            arch: "noarch".into(),
            location: String::new(),
            sha256: String::new(),
            size: 0,
            provides: Vec::new(),
            requires: requires
                .iter()
                .map(|r| Dependency {
                    name: r.to_string(),
                    flags: None,
                    epoch: None,
                    version: None,
                    release: None,
                })
                .collect(),
            files: Vec::new(),
        }
    }

    fn metadata(with_meta: bool) -> RepoMetadata {
        let mut packages: Vec<RepoPackage> = [
            "drbd",
            "drbd-reactor",
            "http-nbd-transfer",
            "linstor-client",
            "linstor-controller",
            "linstor-satellite",
            "kmod-drbd",
            RELEASE,
        ]
        .iter()
        .map(|n| package(n, &[]))
        .collect();
        if with_meta {
            packages.push(package(
                META,
                &[
                    "drbd",
                    "drbd-reactor",
                    "http-nbd-transfer",
                    "kmod-drbd",
                    "linstor-client",
                    "linstor-controller",
                    "linstor-satellite",
                    "/bin/sh",
                ],
            ));
        }
        RepoMetadata {
            revision: "r".into(),
            packages,
        }
    }

    const EL: &str = "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.4\"\n";

    #[test]
    fn xcp_ng_with_the_meta_package_gets_what_vates_installs() {
        let xcp = facts(crate::host::os_release::tests::XCPNG_83);
        let got = apply(&xcp, &metadata(true), PackagesSettings::default());
        assert_eq!(
            got.userland,
            [
                RELEASE,
                META,
                "drbd",
                "drbd-reactor",
                "http-nbd-transfer",
                "linstor-client",
                "linstor-controller",
                "linstor-satellite"
            ]
        );
        // Without the meta-package, on EL, or with a list in the config: the list as it is.
        let default = PackagesSettings::default();
        assert_eq!(
            apply(&xcp, &metadata(false), default.clone()).userland,
            default.userland
        );
        assert_eq!(
            apply(&facts(EL), &metadata(true), default.clone()).userland,
            default.userland
        );
        let explicit = PackagesSettings {
            userland_explicit: true,
            ..default.clone()
        };
        assert_eq!(apply(&xcp, &metadata(true), explicit).userland, default.userland);
    }
}
