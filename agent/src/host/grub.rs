//! GRUB 2 configuration files and environment blocks, as far as "which kernel boots next" needs.
//!
//! XCP-ng writes `grub.cfg` itself (xcp.bootloader, not grub2-mkconfig): an unconditional
//! `set default=N` or `set default='title'`, a boilerplate that loads `grubenv` and lets a
//! one-shot `override_entry` win, then menuentries such as
//!
//! ```text
//! menuentry 'XCP-ng' {
//!     search --label --set root root-vgdorj
//!     multiboot2 /boot/xen.gz dom0_mem=7584M,max:7584M watchdog ...
//!     module2 /boot/vmlinuz-4.19-xen root=LABEL=root-vgdorj ro nolvm ...
//!     module2 /boot/initrd-4.19-xen.img
//! }
//! ```
//!
//! (with Trusted Boot, `multiboot2 /boot/tboot.gz` comes first and Xen is the first `module2`).
//! EL 7 grub2-mkconfig output picks `${next_entry}` or `${saved_entry}` inside an `if`; EL 8+
//! hands over to BLS with `blscfg` (see [`crate::host::bls`]). Parsing is line based, not a GRUB
//! script interpreter: submenus are counted but cannot be selected.

use crate::host::shell_vars;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    pub title: String,
    /// `--id X` or `$menuentry_id_option 'X'`.
    pub id: Option<String>,
    /// The Linux kernel image the entry boots (dom0's for a Xen entry), as written in the file.
    pub kernel: Option<String>,
    pub is_submenu: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrubConfig {
    /// Top-level menu entries and submenus, in menu order (what `default=N` counts).
    pub entries: Vec<MenuEntry>,
    /// The file hands the menu over to Boot Loader Specification entries.
    pub uses_blscfg: bool,
    /// `set default=…` values outside any `if`, in file order.
    unconditional_defaults: Vec<String>,
    /// `set default=…` values inside an `if` (EL 7's `next_entry`/`saved_entry` choice).
    conditional_defaults: Vec<String>,
}

/// Variables that name an entry for the next boot only (`grub2-reboot`, XCP-ng's
/// `xcp.bootloader.setNextBoot`): when set, they beat the default.
const ONE_SHOT_VARIABLES: [&str; 2] = ["next_entry", "override_entry"];

pub fn parse_config(text: &str) -> GrubConfig {
    let mut config = GrubConfig::default();
    // Brace depth of the whole file and of the `if` nesting outside entries.
    let mut depth = 0usize;
    let mut if_depth = 0usize;
    let mut current: Option<EntryBuilder> = None;

    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = shell_vars::words(line);
        let Some(first) = words.first().map(String::as_str) else {
            continue;
        };
        let opens = words.last().is_some_and(|w| w == "{");

        if depth == 0 && (first == "menuentry" || first == "submenu") {
            current = Some(EntryBuilder::new(&words, first == "submenu"));
            if opens {
                depth += 1;
            }
            continue;
        }
        if first == "}" {
            depth = depth.saturating_sub(1);
            if depth == 0
                && let Some(entry) = current.take()
            {
                config.entries.push(entry.finish());
            }
            continue;
        }
        if opens {
            depth += 1;
        }
        if let Some(entry) = current.as_mut() {
            // Only lines of the entry itself, not of entries nested in a submenu.
            if depth == 1 && !entry.is_submenu {
                entry.line(&words);
            }
            continue;
        }
        match first {
            "if" => if_depth += 1,
            "fi" => if_depth = if_depth.saturating_sub(1),
            "blscfg" => config.uses_blscfg = true,
            "set" => {
                if let Some(value) = words.get(1).and_then(|w| w.strip_prefix("default=")) {
                    if if_depth == 0 {
                        config.unconditional_defaults.push(value.to_owned());
                    } else {
                        config.conditional_defaults.push(value.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    config
}

impl GrubConfig {
    /// What GRUB's `default` will hold at the next boot, given the environment block.
    pub fn default_value(&self, env: &BTreeMap<String, String>) -> String {
        let all = || {
            self.unconditional_defaults
                .iter()
                .chain(&self.conditional_defaults)
        };
        for one_shot in ONE_SHOT_VARIABLES {
            let referenced = all().any(|v| variable(v) == Some(one_shot));
            if let Some(value) = env.get(one_shot).filter(|v| referenced && !v.is_empty()) {
                return value.clone();
            }
        }
        let chosen = self.unconditional_defaults.last().or_else(|| {
            self.conditional_defaults
                .iter()
                .rfind(|v| !variable(v).is_some_and(|name| ONE_SHOT_VARIABLES.contains(&name)))
        });
        let value = match chosen {
            Some(v) => match variable(v) {
                Some(name) => env.get(name).cloned().unwrap_or_default(),
                None => v.clone(),
            },
            None => String::new(),
        };
        if value.is_empty() { "0".to_owned() } else { value }
    }

    /// The entry a `default` value names: an index, an id, or a title.
    pub fn select(&self, value: &str) -> Option<&MenuEntry> {
        if let Ok(index) = value.parse::<usize>() {
            return self.entries.get(index);
        }
        self.entries
            .iter()
            .find(|e| e.id.as_deref() == Some(value))
            .or_else(|| self.entries.iter().find(|e| e.title == value))
    }
}

/// The variable a value is, if it is only `$name` or `${name}`.
fn variable(value: &str) -> Option<&str> {
    let name = value.strip_prefix('$')?;
    let name = name
        .strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name);
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// A GRUB environment block (`grubenv`): `name=value` lines padded with `#` to 1024 bytes.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Strips a GRUB device prefix: `($root)/vmlinuz-x` or `(hd0,msdos1)/vmlinuz-x` → `/vmlinuz-x`.
pub fn strip_device(path: &str) -> &str {
    if path.starts_with('(')
        && let Some(end) = path.find(')')
    {
        return &path[end + 1..];
    }
    path
}

struct EntryBuilder {
    title: String,
    id: Option<String>,
    is_submenu: bool,
    linux: Option<String>,
    multiboot: Option<String>,
    modules: Vec<String>,
}

impl EntryBuilder {
    fn new(words: &[String], is_submenu: bool) -> Self {
        let id = words
            .windows(2)
            .find(|w| w[0] == "--id" || w[0] == "$menuentry_id_option")
            .map(|w| w[1].clone());
        EntryBuilder {
            title: words.get(1).cloned().unwrap_or_default(),
            id,
            is_submenu,
            linux: None,
            multiboot: None,
            modules: Vec::new(),
        }
    }

    fn line(&mut self, words: &[String]) {
        // The path is the first argument that is not an option (`module2 --nounzip /x`).
        let path = || words.iter().skip(1).find(|w| !w.starts_with("--")).cloned();
        match words[0].as_str() {
            "linux" | "linux16" | "linuxefi" | "kernel" => self.linux = self.linux.take().or_else(path),
            "multiboot2" | "multiboot" => self.multiboot = self.multiboot.take().or_else(path),
            "module2" | "module" => self.modules.extend(path()),
            _ => {}
        }
    }

    fn finish(self) -> MenuEntry {
        let kernel = self.linux.or_else(|| {
            let multiboot = self.multiboot?;
            // Trusted Boot loads tboot first, then Xen as the first module, then the kernel.
            let skip = usize::from(file_name(&multiboot).starts_with("tboot"));
            self.modules.into_iter().nth(skip)
        });
        MenuEntry {
            title: self.title,
            id: self.id,
            kernel: kernel.map(|k| strip_device(&k).to_owned()),
            is_submenu: self.is_submenu,
        }
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An XCP-ng 8.3 BIOS grub.cfg as xcp.bootloader writes it (entries abridged to the lines
    /// that matter, the order and shape kept).
    pub(crate) const XCPNG_GRUB_CFG: &str = "\
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set default=0
set timeout=5
if [ -s $prefix/grubenv ]; then
\tload_env
fi

if [ -n \"$override_entry\" ]; then
\tset default=$override_entry
fi

menuentry 'XCP-ng' {
\tsearch --label --set root root-vgdorj
\tmultiboot2 /boot/xen.gz dom0_mem=7584M,max:7584M watchdog ucode=scan dom0_max_vcpus=1-16 crashkernel=256M,below=4G console=vga vga=mode-0x0311
\tmodule2 /boot/vmlinuz-4.19-xen root=LABEL=root-vgdorj ro nolvm hpet=disable console=hvc0 console=tty0 quiet vga=785 splash plymouth.ignore-serial-consoles
\tmodule2 /boot/initrd-4.19-xen.img
}
menuentry 'XCP-ng (Serial)' {
\tsearch --label --set root root-vgdorj
\tmultiboot2 /boot/xen.gz com1=115200,8n1 console=com1,vga dom0_mem=7584M,max:7584M watchdog
\tmodule2 /boot/vmlinuz-4.19-xen root=LABEL=root-vgdorj ro nolvm hpet=disable console=tty0 console=hvc0
\tmodule2 /boot/initrd-4.19-xen.img
}
menuentry 'XCP-ng in Safe Mode' {
\tsearch --label --set root root-vgdorj
\tmultiboot2 /boot/xen.gz nosmp noreboot noirqbalance no-mce no-bootscrub no-numa no-hap
\tmodule2 /boot/vmlinuz-4.19-xen earlyprintk=xen root=LABEL=root-vgdorj ro nolvm hpet=disable
\tmodule2 /boot/initrd-4.19-xen.img
}
menuentry 'XCP-ng (Xen 4.17.4 / Linux 4.19.0+1)' {
\tsearch --label --set root root-vgdorj
\tmultiboot2 /boot/xen-fallback.gz dom0_mem=7584M,max:7584M watchdog ucode=scan
\tmodule2 /boot/vmlinuz-fallback root=LABEL=root-vgdorj ro nolvm hpet=disable console=hvc0 console=tty0
\tmodule2 /boot/initrd-fallback.img
}
menuentry 'XCP-ng (Trusted Boot)' {
\tmultiboot2 /boot/tboot.gz logging=serial,memory
\tmodule2 /boot/xen.gz dom0_mem=7584M,max:7584M
\tmodule2 /boot/vmlinuz-4.19-xen root=LABEL=root-vgdorj ro
\tmodule2 /boot/initrd-4.19-xen.img
}
";

    #[test]
    fn xcpng_menu_is_parsed() {
        let config = parse_config(XCPNG_GRUB_CFG);
        let titles: Vec<&str> = config.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles.len(), 5, "{titles:?}");
        assert_eq!(
            config.entries[0].kernel.as_deref(),
            Some("/boot/vmlinuz-4.19-xen")
        );
        assert_eq!(
            config.entries[3].kernel.as_deref(),
            Some("/boot/vmlinuz-fallback")
        );
        assert_eq!(
            config.entries[4].kernel.as_deref(),
            Some("/boot/vmlinuz-4.19-xen"),
            "tboot"
        );
        assert!(!config.uses_blscfg);
        assert_eq!(config.default_value(&BTreeMap::new()), "0");
    }

    #[test]
    fn defaults_by_index_title_and_one_shot_override() {
        let by_title = XCPNG_GRUB_CFG.replace(
            "set default=0",
            "set default='XCP-ng (Xen 4.17.4 / Linux 4.19.0+1)'",
        );
        let config = parse_config(&by_title);
        let value = config.default_value(&BTreeMap::new());
        assert_eq!(
            config.select(&value).unwrap().kernel.as_deref(),
            Some("/boot/vmlinuz-fallback")
        );

        let config = parse_config(XCPNG_GRUB_CFG);
        let env = parse_env("# GRUB Environment Block\noverride_entry=3\n##########\n");
        assert_eq!(config.default_value(&env), "3");
        let empty = parse_env("# GRUB Environment Block\noverride_entry=\n####\n");
        assert_eq!(config.default_value(&empty), "0");
        assert!(config.select("9").is_none());
        assert!(config.select("no such title").is_none());
    }

    #[test]
    fn el7_saved_entry_and_ids() {
        let config = parse_config(
            "### BEGIN /etc/grub.d/00_header ###\n\
             if [ \"${next_entry}\" ] ; then\n\
             \x20  set default=\"${next_entry}\"\n\
             \x20  set next_entry=\n\
             else\n\
             \x20  set default=\"${saved_entry}\"\n\
             fi\n\
             menuentry 'CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)' --class centos $menuentry_id_option 'gnulinux-3.10.0-1160.el7.x86_64-advanced-x' {\n\
             \x20 if [ x$feature_platform_search_hint = xy ]; then\n\
             \x20   search --no-floppy --fs-uuid --set=root abc\n\
             \x20 fi\n\
             \x20 linux16 /vmlinuz-3.10.0-1160.el7.x86_64 root=/dev/mapper/centos-root ro\n\
             \x20 initrd16 /initramfs-3.10.0-1160.el7.x86_64.img\n\
             }\n\
             submenu 'Advanced' {\n\
             \x20 menuentry 'nested' {\n\
             \x20   linux /vmlinuz-nested\n\
             \x20 }\n\
             }\n",
        );
        assert_eq!(config.entries.len(), 2);
        assert!(config.entries[1].is_submenu && config.entries[1].kernel.is_none());
        let env = parse_env("saved_entry=CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)\n");
        let entry = config.select(&config.default_value(&env)).unwrap();
        assert_eq!(entry.kernel.as_deref(), Some("/vmlinuz-3.10.0-1160.el7.x86_64"));
        assert_eq!(
            config
                .select("gnulinux-3.10.0-1160.el7.x86_64-advanced-x")
                .unwrap()
                .title,
            entry.title
        );
        let once = parse_env("saved_entry=x\nnext_entry=1\n");
        assert_eq!(config.default_value(&once), "1");
    }

    #[test]
    fn bls_handover_and_device_prefixes() {
        let config = parse_config("set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\n");
        assert!(config.uses_blscfg && config.entries.is_empty());
        assert_eq!(strip_device("($root)/vmlinuz-6.6"), "/vmlinuz-6.6");
        assert_eq!(strip_device("/boot/vmlinuz-6.6"), "/boot/vmlinuz-6.6");
    }
}
