//! The module package is install-only in the agent's transactions (issue 14, point 9).
//!
//! LINBIT's kmod-drbd carries the kernel in its version and Vates' none, and neither provides
//! `installonlypkg(kernel-module)`: to yum and dnf, two of them are two versions of one name.
//! dnf then refuses a transaction that installs modules for two kernels ("cannot install both
//! …"), and a module installed for a new kernel upgrades (replaces) the old kernel's. Naming
//! the package in `installonlypkgs` for the agent's own transactions makes every version an
//! install beside the others; the plan removes, in the same transaction, exactly the modules
//! no served kernel is given (`packages::plan`).

/// yum 3's built-in `installonlypkgs`. `--setopt` replaces yum's list (dnf appends to its own),
/// so yum is given its default back with the module package. The default changed within
/// yum 3.4.3's lifetime (rpm-software-management/yum `yum/config.py`: commit bc5d7767, 2012,
/// added the `installonlypkg(…)` provides; a176dd50, 2013, dropped the `kernel-*` names no
/// package provides any more), and XCP-ng's CentOS 7 build may carry either: this is the
/// union of both, since a name nothing provides changes nothing.
const YUM_DEFAULT_INSTALLONLY: &[&str] = &[
    "kernel",
    "kernel-bigmem",
    "kernel-enterprise",
    "kernel-smp",
    "kernel-modules",
    "kernel-debug",
    "kernel-unsupported",
    "kernel-source",
    "kernel-devel",
    "kernel-PAE",
    "kernel-PAE-debug",
    "installonlypkg(kernel)",
    "installonlypkg(kernel-module)",
    "installonlypkg(vm)",
];

/// The `--setopt` arguments that make `kmod` install-only for one `program` (`yum` or `dnf`)
/// run. `installonly_limit=0` (unlimited, in both) because at the limit (dnf's default 3;
/// CentOS 7's shipped yum.conf sets 5) they remove the oldest install-only package on their
/// own, which could be a served kernel's module; the plan decides which modules go.
pub fn installonly_args(program: &str, kmod: &str) -> [String; 2] {
    let list = if program == "yum" {
        let mut names = YUM_DEFAULT_INSTALLONLY.to_vec();
        names.push(kmod);
        names.join(",")
    } else {
        kmod.to_owned()
    };
    [
        format!("--setopt=installonlypkgs={list}"),
        "--setopt=installonly_limit=0".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnf_appends_the_module_package_to_its_own_list() {
        assert_eq!(
            installonly_args("dnf", "kmod-drbd"),
            [
                "--setopt=installonlypkgs=kmod-drbd".to_owned(),
                "--setopt=installonly_limit=0".to_owned()
            ]
        );
    }

    #[test]
    fn yum_gets_its_default_list_back_with_the_module_package() {
        let [list, limit] = installonly_args("yum", "kmod-drbd-custom");
        let names: Vec<&str> = list
            .strip_prefix("--setopt=installonlypkgs=")
            .expect(&list)
            .split(',')
            .collect();
        // yum/config.py's default of today, and of before 2013, kept: kernels stay install-only.
        for name in [
            "kernel",
            "kernel-devel",
            "kernel-source",
            "installonlypkg(kernel)",
            "installonlypkg(kernel-module)",
            "installonlypkg(vm)",
            "kernel-PAE",
            "kernel-smp",
        ] {
            assert!(names.contains(&name), "{name} missing from {list}");
        }
        assert_eq!(names.last(), Some(&"kmod-drbd-custom"), "{list}");
        assert_eq!(limit, "--setopt=installonly_limit=0");
    }
}
