//! The kernel the bootloader will boot next: the one a DRBD module must exist for before any
//! reboot (a host that reboots into a kernel with no DRBD module comes back with no storage).
//!
//! Where it is written, first found wins:
//! 1. XCP-ng's own `grub.cfg`: `/boot/efi/EFI/xenserver/grub.cfg` (UEFI), `/boot/grub/grub.cfg`
//!    (BIOS) — the order xcp.bootloader itself looks in;
//! 2. EL's `/boot/grub2/grub.cfg` or `/boot/efi/EFI/<vendor>/grub.cfg`, either a menu of its own
//!    or a hand-over to BLS entries (`blscfg`);
//! 3. BLS entries alone (a root whose grub.cfg is not written yet);
//! 4. otherwise the newest installed kernel, which is what installing a kernel makes the
//!    default on every distribution the agent supports.

use crate::host::kernels::InstalledKernel;
use crate::host::{Sysroot, bls, grub, rootfs};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// XCP-ng's configurations, in xcp.bootloader's order.
const XCPNG_CONFIGS: [&str; 2] = ["/boot/efi/EFI/xenserver/grub.cfg", "/boot/grub/grub.cfg"];
const EL_CONFIG: &str = "/boot/grub2/grub.cfg";
const EFI_DIR: &str = "/boot/efi/EFI";
/// Where EL keeps grubenv when the grub.cfg found has none beside it.
const EL_GRUBENV: &str = "/boot/grub2/grubenv";

pub const NEWEST_INSTALLED: &str = "newest installed kernel";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultBoot {
    /// `uname -r` of the kernel that boots next; `None` when nothing says and nothing is installed.
    pub uname_r: Option<String>,
    /// Where that came from: a host path (`/boot/grub/grub.cfg`, `/boot/loader/entries/….conf`)
    /// or "newest installed kernel" (with the reason the bootloader could not tell, if it could
    /// not).
    pub source: String,
}

/// Finds the default boot kernel; `kernels` (newest first) is the last resort.
pub fn default_boot(sysroot: &Sysroot, kernels: &[InstalledKernel]) -> Result<DefaultBoot> {
    let newest = |why: Option<String>| {
        if let Some(why) = &why {
            tracing::warn!("{why}: assuming the newest installed kernel boots next");
        }
        DefaultBoot {
            uname_r: kernels.first().map(|k| k.uname_r.clone()),
            source: match why {
                Some(why) => format!("{NEWEST_INSTALLED} ({why})"),
                None => NEWEST_INSTALLED.to_owned(),
            },
        }
    };

    for config_path in grub_configs(sysroot)? {
        let Some(text) = read(sysroot, &config_path)? else {
            continue;
        };
        let config = grub::parse_config(&text);
        let env = grubenv_beside(sysroot, &config_path)?;
        if config.uses_blscfg {
            if let Some(found) = from_bls(sysroot, &env)? {
                return Ok(found);
            }
            tracing::debug!(config = %config_path.display(), "blscfg but no BLS entries: looking further");
            continue;
        }
        if config.entries.is_empty() {
            // An EFI stub that only chains to another grub.cfg.
            continue;
        }
        let value = config.default_value(&env);
        let entry = match config.select(&value) {
            Some(entry) => entry,
            None => {
                return Ok(newest(Some(format!(
                    "{}: default entry {value:?} is not a menu entry",
                    config_path.display()
                ))));
            }
        };
        let Some(image) = &entry.kernel else {
            return Ok(newest(Some(format!(
                "{}: default entry {:?} boots no Linux kernel",
                config_path.display(),
                entry.title
            ))));
        };
        return Ok(match uname_of_image(sysroot, image)? {
            Ok(uname) => DefaultBoot {
                uname_r: Some(uname),
                source: config_path.display().to_string(),
            },
            Err(why) => newest(Some(format!("{}: {why}", config_path.display()))),
        });
    }

    let env = read_env(sysroot, Path::new(EL_GRUBENV))?;
    if let Some(found) = from_bls(sysroot, &env)? {
        return Ok(found);
    }
    Ok(newest(None))
}

/// Every grub.cfg to consider, in order, as host paths.
fn grub_configs(sysroot: &Sysroot) -> Result<Vec<PathBuf>> {
    let mut configs: Vec<PathBuf> = XCPNG_CONFIGS.iter().map(PathBuf::from).collect();
    configs.push(PathBuf::from(EL_CONFIG));
    let efi = rootfs::real_path(sysroot, Path::new(EFI_DIR))
        .with_context(|| format!("cannot resolve {}", sysroot.path(EFI_DIR).display()))?;
    if let Ok(vendors) = std::fs::read_dir(efi) {
        let mut vendor_configs: Vec<PathBuf> = vendors
            .filter_map(|v| v.ok())
            .map(|v| Path::new(EFI_DIR).join(v.file_name()).join("grub.cfg"))
            .filter(|p| !configs.contains(p))
            .collect();
        vendor_configs.sort();
        configs.extend(vendor_configs);
    }
    Ok(configs)
}

/// The grubenv beside a grub.cfg (where `load_env` reads it), else EL's usual one.
fn grubenv_beside(sysroot: &Sysroot, config: &Path) -> Result<BTreeMap<String, String>> {
    let beside = config.with_file_name("grubenv");
    if rootfs::exists(sysroot, &beside) {
        read_env(sysroot, &beside)
    } else {
        read_env(sysroot, Path::new(EL_GRUBENV))
    }
}

fn read_env(sysroot: &Sysroot, path: &Path) -> Result<BTreeMap<String, String>> {
    Ok(read(sysroot, path)?
        .map(|t| grub::parse_env(&t))
        .unwrap_or_default())
}

fn read(sysroot: &Sysroot, path: &Path) -> Result<Option<String>> {
    rootfs::read_optional(sysroot, path)
        .with_context(|| format!("cannot read {}", sysroot.path(path).display()))
}

/// The default BLS entry's kernel, or `None` when there are no entries.
fn from_bls(sysroot: &Sysroot, env: &BTreeMap<String, String>) -> Result<Option<DefaultBoot>> {
    let entries = bls::load_entries(sysroot)?;
    let Some(entry) = bls::select(&entries, env) else {
        return Ok(None);
    };
    let source = entry.path.display().to_string();
    let from_image = match &entry.linux {
        Some(image) => uname_of_image(sysroot, image)?,
        None => Err("no `linux` line".to_owned()),
    };
    // `version` is the uname by convention: good enough when the image is not readable here.
    let uname = match (from_image, &entry.version) {
        (Ok(uname), _) => uname,
        (Err(_), Some(version)) => version.clone(),
        (Err(why), None) => {
            tracing::warn!(entry = %source, "{why} and no `version`: cannot tell its kernel");
            return Ok(Some(DefaultBoot {
                uname_r: None,
                source: format!("{source} ({why})"),
            }));
        }
    };
    Ok(Some(DefaultBoot {
        uname_r: Some(uname),
        source,
    }))
}

/// The uname of the kernel image a boot entry names: follow its symlinks inside the root
/// (`/boot/vmlinuz-4.19-xen -> vmlinuz-4.19.0+1`), then strip `vmlinuz-`. The inner `Err` says
/// why the image tells nothing (missing, odd name); the outer one is an I/O failure.
pub fn uname_of_image(sysroot: &Sysroot, image: &str) -> Result<std::result::Result<String, String>> {
    let image = grub::strip_device(image);
    if !image.starts_with('/') {
        return Ok(Err(format!("kernel image {image:?} is not an absolute path")));
    }
    // BLS and EL grub.cfg paths are relative to the partition holding /boot's files, which is
    // /boot itself when /boot is a separate filesystem.
    let mut candidates = vec![PathBuf::from(image)];
    if !image.starts_with("/boot/") {
        candidates.push(Path::new("/boot").join(image.trim_start_matches('/')));
    }
    for candidate in &candidates {
        let resolved = rootfs::resolve(sysroot, candidate)
            .with_context(|| format!("cannot resolve {}", sysroot.path(candidate).display()))?;
        if sysroot.path(&resolved).is_file() {
            return Ok(uname_from_file_name(&resolved)
                .ok_or_else(|| format!("cannot tell the kernel version from {}", resolved.display())));
        }
    }
    Ok(Err(format!("kernel image {image} does not exist")))
}

/// `/boot/vmlinuz-<uname>`, or `/lib/modules/<uname>/vmlinuz` (where EL ships the image).
fn uname_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if let Some(uname) = name.strip_prefix("vmlinuz-").filter(|u| !u.is_empty()) {
        return Some(uname.to_owned());
    }
    let parent = path.parent()?;
    let in_modules = parent.parent().is_some_and(|p| p.ends_with("lib/modules"));
    (name == "vmlinuz" && in_modules).then(|| parent.file_name()?.to_str().map(str::to_owned))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::bls::tests::{MACHINE_ID, write_entry};
    use crate::host::grub::tests::XCPNG_GRUB_CFG;
    use std::os::unix::fs::symlink;

    fn kernel(uname: &str) -> InstalledKernel {
        InstalledKernel {
            package: format!("kernel-{uname}"),
            uname_r: uname.to_owned(),
            kabi: BTreeMap::new(),
            kabi_source: None,
        }
    }

    fn write(root: &Sysroot, host_path: &str, text: &str) {
        let path = root.path(host_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// An XCP-ng /boot: real images, `vmlinuz-4.19-xen` an absolute symlink (so that following
    /// it from the test machine's `/` would find nothing), `vmlinuz-fallback` a relative one.
    fn xcpng_boot(root: &Sysroot, config: &str) {
        write(root, "/boot/vmlinuz-4.19.0+1", "k");
        write(root, "/boot/vmlinuz-4.19.0+0", "k");
        symlink("/boot/vmlinuz-4.19.0+1", root.path("/boot/vmlinuz-4.19-xen")).unwrap();
        symlink("vmlinuz-4.19.0+0", root.path("/boot/vmlinuz-fallback")).unwrap();
        write(root, config, XCPNG_GRUB_CFG);
    }

    #[test]
    fn xcpng_bios_default_follows_the_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        xcpng_boot(&root, "/boot/grub/grub.cfg");
        let boot = default_boot(&root, &[kernel("9.9.9")]).unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some("4.19.0+1"));
        assert_eq!(boot.source, "/boot/grub/grub.cfg");
    }

    #[test]
    fn xcpng_uefi_with_override_entry() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        xcpng_boot(&root, "/boot/efi/EFI/xenserver/grub.cfg");
        write(
            &root,
            "/boot/efi/EFI/xenserver/grubenv",
            "# GRUB Environment Block\noverride_entry=3\n#####\n",
        );
        let boot = default_boot(&root, &[]).unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some("4.19.0+0"));
        assert_eq!(boot.source, "/boot/efi/EFI/xenserver/grub.cfg");
    }

    #[test]
    fn missing_image_falls_back_to_newest_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        write(&root, "/boot/grub/grub.cfg", XCPNG_GRUB_CFG);
        let boot = default_boot(&root, &[kernel("4.19.0+1")]).unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some("4.19.0+1"));
        assert!(boot.source.starts_with(NEWEST_INSTALLED), "{}", boot.source);
        assert!(
            boot.source.contains("/boot/vmlinuz-4.19-xen does not exist"),
            "{}",
            boot.source
        );
    }

    #[test]
    fn bls_with_grubenv_saved_entry() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let (old, new) = ("4.18.0-553.el8_10.x86_64", "4.18.0-553.5.1.el8_10.x86_64");
        for uname in [old, new] {
            write_entry(&root, uname);
            // /boot is a separate filesystem on EL: entries say /vmlinuz-X for /boot/vmlinuz-X.
            write(&root, &format!("/boot/vmlinuz-{uname}"), "k");
        }
        write(
            &root,
            "/boot/grub2/grub.cfg",
            "set default=\"${saved_entry}\"\nblscfg\n",
        );
        let installed = [kernel(new), kernel(old)];

        let boot = default_boot(&root, &installed).unwrap();
        assert_eq!(
            boot.uname_r.as_deref(),
            Some(new),
            "no saved_entry: highest version"
        );

        write(
            &root,
            "/boot/grub2/grubenv",
            &format!("# GRUB Environment Block\nsaved_entry={MACHINE_ID}-{old}\n###\n"),
        );
        let boot = default_boot(&root, &installed).unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some(old));
        assert_eq!(
            boot.source,
            format!("/boot/loader/entries/{MACHINE_ID}-{old}.conf")
        );
    }

    #[test]
    fn bls_entries_without_grub_cfg_and_without_images_use_version() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        write_entry(&root, "6.6.0-1.el10.x86_64");
        let boot = default_boot(&root, &[]).unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some("6.6.0-1.el10.x86_64"));
    }

    #[test]
    fn no_bootloader_means_newest_installed() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let boot = default_boot(
            &root,
            &[kernel("5.14.0-503.el9.x86_64"), kernel("5.14.0-427.el9.x86_64")],
        )
        .unwrap();
        assert_eq!(boot.uname_r.as_deref(), Some("5.14.0-503.el9.x86_64"));
        assert_eq!(boot.source, NEWEST_INSTALLED);
        assert_eq!(default_boot(&root, &[]).unwrap().uname_r, None);
    }

    #[test]
    fn image_names() {
        assert_eq!(
            uname_from_file_name(Path::new("/boot/vmlinuz-4.19.0+1")).as_deref(),
            Some("4.19.0+1")
        );
        assert_eq!(
            uname_from_file_name(Path::new("/usr/lib/modules/6.6.0/vmlinuz")).as_deref(),
            Some("6.6.0")
        );
        assert_eq!(uname_from_file_name(Path::new("/boot/bzImage")), None);
    }
}
