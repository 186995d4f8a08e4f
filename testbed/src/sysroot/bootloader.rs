//! Boot loader configuration: what says which kernel the host boots next.
//!
//! Two layouts, as on real hosts:
//! - XCP-ng 8.x: `/boot/grub/grub.cfg` whose entries boot Xen with
//!   `module2 /boot/vmlinuz-4.19-xen`, a symlink (shipped by XCP-ng's kernel package) to
//!   `vmlinuz-4.19.0+1`; the default kernel is where the symlink points.
//! - EL / BLS: one `/boot/loader/entries/<machine-id>-<uname>.conf` per kernel and
//!   `saved_entry=<machine-id>-<uname>` in `/boot/grub2/grubenv`.
//!
//! Kernel images come from the kernel packages; initrds, which real hosts generate with
//! dracut after the install, are written here as empty placeholders.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::dnf::InstalledKernel;
use super::identity::Identity;
use crate::fsutil;

/// Which layout to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BootLoader {
    /// XCP-ng's grub.cfg if every installed kernel is an XCP-ng kernel, else BLS.
    #[default]
    Auto,
    XcpNg,
    Bls,
    /// No boot configuration at all.
    None,
}

/// The Xen hypervisor XCP-ng 8.3 boots (placeholder file, real name).
const XEN_IMAGE: &str = "xen-4.17.5-3.gz";

impl BootLoader {
    /// Resolves `Auto` for these kernels.
    pub fn resolve(self, kernels: &[InstalledKernel]) -> BootLoader {
        match self {
            BootLoader::Auto if !kernels.is_empty() && kernels.iter().all(is_xcpng) => BootLoader::XcpNg,
            BootLoader::Auto => BootLoader::Bls,
            other => other,
        }
    }
}

fn is_xcpng(kernel: &InstalledKernel) -> bool {
    kernel.release.contains(".xcpng")
}

/// `4.19.0+1` → `4.19`: the part of the uname in XCP-ng's `vmlinuz-4.19-xen`.
fn short_uname(uname: &str) -> &str {
    match uname.match_indices('.').nth(1) {
        Some((i, _)) => &uname[..i],
        None => uname,
    }
}

/// Writes the `loader` layout under `root`, booting `default_uname` by default.
pub fn write(
    root: &Path,
    loader: BootLoader,
    kernels: &[InstalledKernel],
    default_uname: &str,
    id: &Identity,
) -> Result<()> {
    match loader {
        BootLoader::None => Ok(()),
        BootLoader::XcpNg => write_xcpng(root, default_uname, id),
        BootLoader::Bls => write_bls(root, kernels, default_uname, id),
        BootLoader::Auto => bail!("BootLoader::Auto must be resolved before writing"),
    }
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link).with_context(|| format!("cannot replace {}", link.display()))?;
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot create symlink {} -> {target}", link.display()))
}

fn write_xcpng(root: &Path, default_uname: &str, id: &Identity) -> Result<()> {
    let boot = root.join("boot");
    let short = short_uname(default_uname);
    fsutil::write(
        &boot.join(XEN_IMAGE),
        "testbed placeholder for the Xen hypervisor\n",
    )?;
    symlink(XEN_IMAGE, &boot.join("xen.gz"))?;
    fsutil::write(&boot.join(format!("initrd-{default_uname}.img")), "")?;
    symlink(
        &format!("vmlinuz-{default_uname}"),
        &boot.join(format!("vmlinuz-{short}-xen")),
    )?;
    symlink(
        &format!("initrd-{default_uname}.img"),
        &boot.join(format!("initrd-{short}-xen.img")),
    )?;
    fsutil::write(&boot.join("grub/grub.cfg"), xcpng_grub_cfg(short, &id.root_label))
}

/// grub.cfg as XCP-ng 8.x's installer writes it (BIOS boot).
fn xcpng_grub_cfg(short: &str, label: &str) -> String {
    let xen = "dom0_mem=4096M,max:4096M watchdog ucode=scan dom0_max_vcpus=1-4 crashkernel=256M,below=4G";
    let kernel = format!("/boot/vmlinuz-{short}-xen");
    let initrd = format!("/boot/initrd-{short}-xen.img");
    let root = format!("root=LABEL={label} ro nolvm hpet=disable");
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set default=0\n\
         set timeout=5\n\
         menuentry 'XCP-ng' {{\n\
         \tsearch --label --set root {label}\n\
         \tmultiboot2 /boot/xen.gz {xen} console=vga vga=mode-0x0311\n\
         \tmodule2 {kernel} {root} console=hvc0 console=tty0 quiet vga=785 splash plymouth.ignore-serial-consoles\n\
         \tmodule2 {initrd}\n\
         }}\n\
         menuentry 'XCP-ng (Serial)' {{\n\
         \tsearch --label --set root {label}\n\
         \tmultiboot2 /boot/xen.gz com1=115200,8n1 console=com1,vga {xen}\n\
         \tmodule2 {kernel} {root} console=tty0 console=hvc0\n\
         \tmodule2 {initrd}\n\
         }}\n\
         menuentry 'XCP-ng in Safe Mode' {{\n\
         \tsearch --label --set root {label}\n\
         \tmultiboot2 /boot/xen.gz nosmp noreboot noirqbalance no-mce no-bootscrub no-numa no-hap no-mmcfg max_cstate=0 nmi=ignore allow_unsafe dom0_mem=4096M,max:4096M com1=115200,8n1 console=com1,vga\n\
         \tmodule2 {kernel} earlyprintk=xen {root} console=tty0 console=hvc0\n\
         \tmodule2 {initrd}\n\
         }}\n"
    )
}

fn write_bls(root: &Path, kernels: &[InstalledKernel], default_uname: &str, id: &Identity) -> Result<()> {
    let boot = root.join("boot");
    for kernel in kernels {
        let uname = &kernel.uname;
        fsutil::write(&boot.join(format!("initramfs-{uname}.img")), "")?;
        let entry = format!(
            "title XCP-ng ({uname}) 8.3.0\n\
             version {uname}\n\
             linux /vmlinuz-{uname}\n\
             initrd /initramfs-{uname}.img\n\
             options root=LABEL={label} ro crashkernel=auto\n\
             grub_users $grub_users\n\
             grub_arg --unrestricted\n\
             grub_class kernel\n",
            label = id.root_label
        );
        fsutil::write(
            &boot.join(format!("loader/entries/{}-{uname}.conf", id.machine_id)),
            entry,
        )?;
    }
    fsutil::write(&boot.join("grub2/grub.cfg"), BLS_GRUB_CFG)?;
    fsutil::write(
        &boot.join("grub2/grubenv"),
        grubenv(&[("saved_entry", &format!("{}-{default_uname}", id.machine_id))])?,
    )
}

/// The part of an EL grub.cfg that matters: the default is grubenv's `saved_entry`,
/// and the menu comes from the BLS entries.
const BLS_GRUB_CFG: &str = r#"set pager=1
load_env -f ${config_directory}/grubenv
if [ "${next_entry}" ] ; then
  set default="${next_entry}"
  set next_entry=
  save_env next_entry
else
  set default="${saved_entry}"
fi
insmod blscfg
blscfg
"#;

/// A GRUB environment block: a header, `key=value` lines, `#` padding to 1024 bytes.
pub fn grubenv(vars: &[(&str, &str)]) -> Result<String> {
    const SIZE: usize = 1024;
    let mut block = String::from("# GRUB Environment Block\n");
    for (k, v) in vars {
        block.push_str(&format!("{k}={v}\n"));
    }
    if block.len() > SIZE {
        bail!("GRUB environment block over {SIZE} bytes");
    }
    block.push_str(&"#".repeat(SIZE - block.len()));
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(release: &str, uname: &str) -> InstalledKernel {
        InstalledKernel {
            nevra: format!("kernel-x-{release}.x86_64"),
            version: "x".into(),
            release: release.into(),
            uname: uname.into(),
        }
    }

    #[test]
    fn auto_picks_by_kernel_flavour() {
        let xcp = kernel("8.0.38.4.xcpng8.3", "4.19.0+1");
        let el = kernel("553.el8_10", "4.18.0-553.el8_10.x86_64");
        assert_eq!(
            BootLoader::Auto.resolve(std::slice::from_ref(&xcp)),
            BootLoader::XcpNg
        );
        assert_eq!(BootLoader::Auto.resolve(&[xcp, el.clone()]), BootLoader::Bls);
        assert_eq!(BootLoader::Auto.resolve(&[el]), BootLoader::Bls);
        assert_eq!(BootLoader::None.resolve(&[]), BootLoader::None);
    }

    #[test]
    fn short_uname_is_major_minor() {
        assert_eq!(short_uname("4.19.0+1"), "4.19");
        assert_eq!(short_uname("6.6.0-1.el10.x86_64"), "6.6");
        assert_eq!(short_uname("6"), "6");
    }

    #[test]
    fn grubenv_is_one_kibibyte() -> Result<()> {
        let env = grubenv(&[("saved_entry", "abc-4.18.0")])?;
        assert_eq!(env.len(), 1024);
        assert!(env.starts_with("# GRUB Environment Block\nsaved_entry=abc-4.18.0\n#"));
        Ok(())
    }

    #[test]
    fn xcpng_grub_cfg_boots_the_xen_symlink() {
        let cfg = xcpng_grub_cfg("4.19", "root-abcdef");
        assert!(cfg.contains("set default=0\n"));
        assert!(cfg.contains("menuentry 'XCP-ng' {\n\tsearch --label --set root root-abcdef\n"));
        assert!(cfg.contains("\tmodule2 /boot/vmlinuz-4.19-xen root=LABEL=root-abcdef ro"));
        assert!(cfg.contains("\tmodule2 /boot/initrd-4.19-xen.img\n"));
    }
}
