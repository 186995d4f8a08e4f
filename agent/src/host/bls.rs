//! Boot Loader Specification entries (`/boot/loader/entries/*.conf`), how EL 8+ lists its
//! kernels for GRUB's `blscfg`. The default is `saved_entry` (or the one-shot `next_entry`) from
//! grubenv, matched against an entry's id (its file name without `.conf`); without one, GRUB
//! boots the first entry of its sort, the highest version.

use crate::host::{Sysroot, rootfs};
use crate::rpmver::compare_versions;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const ENTRIES_DIR: &str = "/boot/loader/entries";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlsEntry {
    /// The file name without `.conf`: what `saved_entry` holds.
    pub id: String,
    /// Host path of the entry file.
    pub path: PathBuf,
    pub title: Option<String>,
    pub version: Option<String>,
    /// The `linux` image, relative to the partition holding `/boot`'s files.
    pub linux: Option<String>,
}

/// The entries, sorted as GRUB shows them: highest version first.
pub fn load_entries(sysroot: &Sysroot) -> Result<Vec<BlsEntry>> {
    let dir = Path::new(ENTRIES_DIR);
    let real = rootfs::real_path(sysroot, dir)
        .with_context(|| format!("cannot resolve {}", sysroot.path(dir).display()))?;
    let listing = match std::fs::read_dir(&real) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", real.display())),
    };
    let mut entries = Vec::new();
    for item in listing {
        let item = item.with_context(|| format!("cannot list {}", real.display()))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".conf") else {
            continue;
        };
        let host_path = dir.join(&name);
        let text = std::fs::read_to_string(item.path())
            .with_context(|| format!("cannot read {}", item.path().display()))?;
        entries.push(parse_entry(id, host_path, &text));
    }
    sort(&mut entries);
    Ok(entries)
}

pub fn parse_entry(id: &str, path: PathBuf, text: &str) -> BlsEntry {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        fields
            .entry(key.to_owned())
            .or_insert_with(|| value.trim().to_owned());
    }
    BlsEntry {
        id: id.to_owned(),
        path,
        title: fields.remove("title"),
        version: fields.remove("version"),
        linux: fields.remove("linux"),
    }
}

/// Highest version first, then highest id, as GRUB's blscfg sorts.
pub fn sort(entries: &mut [BlsEntry]) {
    entries.sort_by(|a, b| {
        let version = |e: &BlsEntry| e.version.clone().unwrap_or_default();
        compare_versions(&version(b), &version(a)).then_with(|| compare_versions(&b.id, &a.id))
    });
}

/// The entry GRUB boots next, given grubenv: `next_entry`, else `saved_entry` (an id, an index
/// or a title), else the first.
pub fn select<'a>(entries: &'a [BlsEntry], env: &BTreeMap<String, String>) -> Option<&'a BlsEntry> {
    let wanted = ["next_entry", "saved_entry"]
        .iter()
        .find_map(|key| env.get(*key).filter(|v| !v.is_empty()));
    if let Some(wanted) = wanted {
        let found = entries
            .iter()
            .find(|e| &e.id == wanted)
            .or_else(|| wanted.parse::<usize>().ok().and_then(|i| entries.get(i)))
            .or_else(|| entries.iter().find(|e| e.title.as_ref() == Some(wanted)));
        if found.is_some() {
            return found;
        }
        tracing::warn!(saved_entry = %wanted, "grubenv names no boot entry: GRUB falls back to the first");
    }
    entries.first()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MACHINE_ID: &str = "0123456789abcdef0123456789abcdef";

    pub(crate) fn write_entry(root: &Sysroot, uname: &str) {
        let dir = root.path(ENTRIES_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{MACHINE_ID}-{uname}.conf")),
            format!(
                "title AlmaLinux ({uname}) 8.10\nversion {uname}\nlinux /vmlinuz-{uname}\n\
                 initrd /initramfs-{uname}.img $tuned_initrd\noptions $kernelopts\nid almalinux-x\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn entries_sort_newest_first_and_saved_entry_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        for uname in ["4.18.0-553.el8_10.x86_64", "4.18.0-553.5.1.el8_10.x86_64"] {
            write_entry(&root, uname);
        }
        std::fs::write(root.path(ENTRIES_DIR).join("README"), "not an entry").unwrap();
        let entries = load_entries(&root).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].version.as_deref(),
            Some("4.18.0-553.5.1.el8_10.x86_64")
        );
        assert_eq!(
            entries[0].linux.as_deref(),
            Some("/vmlinuz-4.18.0-553.5.1.el8_10.x86_64")
        );

        let none = BTreeMap::new();
        assert_eq!(select(&entries, &none).unwrap().id, entries[0].id);
        let saved = BTreeMap::from([(
            "saved_entry".to_owned(),
            format!("{MACHINE_ID}-4.18.0-553.el8_10.x86_64"),
        )]);
        assert_eq!(select(&entries, &saved).unwrap().id, entries[1].id);
        let stale = BTreeMap::from([("saved_entry".to_owned(), "gone".to_owned())]);
        assert_eq!(select(&entries, &stale).unwrap().id, entries[0].id);
    }

    #[test]
    fn no_entries_directory_is_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_entries(&Sysroot::new(dir.path())).unwrap().is_empty());
    }
}
