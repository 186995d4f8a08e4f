//! The signatures on a disk, read from the disk itself: `wipefs --no-act --parsable` (every
//! signature, with its offset: exactly what `--wipe` would erase) and `blkid -p` (the
//! low-level probe, without blkid's cache or udev).

use super::Usage;
use crate::exec;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::process::Command;

/// `wipefs --no-act --parsable DEVICE`: `offset,uuid,label,type` per signature (the format of
/// util-linux 2.23 and later). Nothing is erased: without `--all` wipefs only lists.
pub fn wipefs_signatures(device: &str) -> Result<Vec<WipefsEntry>> {
    let mut cmd = Command::new("wipefs");
    cmd.args(["--no-act", "--parsable", device]);
    let text = exec::stdout(&mut cmd).with_context(|| format!("listing the signatures on {device}"))?;
    Ok(parse_wipefs(&text))
}

/// One line of `wipefs --parsable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipefsEntry {
    pub offset: String,
    pub uuid: String,
    pub label: String,
    pub kind: String,
}

pub fn parse_wipefs(text: &str) -> Vec<WipefsEntry> {
    let mut found = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // The label may itself contain commas: offset and uuid from the left, type from the right.
        let Some((offset, rest)) = line.split_once(',') else {
            continue;
        };
        let Some((rest, kind)) = rest.rsplit_once(',') else {
            continue;
        };
        let (uuid, label) = rest.split_once(',').unwrap_or((rest, ""));
        found.push(WipefsEntry {
            offset: offset.to_owned(),
            uuid: uuid.to_owned(),
            label: label.to_owned(),
            kind: kind.to_owned(),
        });
    }
    found
}

/// `blkid -p -o export DEVICE`: the low-level probe (no cache, no udev).
#[derive(Debug, Default, Clone)]
pub struct Blkid {
    pub kind: Option<String>,
    pub usage: Option<String>,
    pub pttype: Option<String>,
    /// blkid found more than one superblock and would not choose (exit 8).
    pub ambivalent: bool,
}

impl Blkid {
    pub(super) fn usage_for(&self, kind: &str) -> Option<&str> {
        if self.kind.as_deref() == Some(kind) {
            self.usage.as_deref()
        } else {
            None
        }
    }

    pub(super) fn types(&self) -> Vec<(String, Usage)> {
        let mut all = Vec::new();
        if let Some(pt) = &self.pttype {
            all.push((pt.clone(), Usage::PartitionTable));
        }
        if let Some(kind) = &self.kind {
            all.push((kind.clone(), Usage::of(kind, self.usage.as_deref())));
        }
        all
    }
}

pub fn blkid_probe(device: &str) -> Result<Blkid> {
    let mut cmd = Command::new("blkid");
    cmd.args(["-p", "-o", "export", device]);
    let output = exec::run_unchecked(&mut cmd)?;
    match output.status.code() {
        Some(0) => Ok(parse_blkid(&String::from_utf8_lossy(&output.stdout))),
        // 2: nothing found.
        Some(2) => Ok(Blkid::default()),
        // 8: ambivalent result (several superblocks): wipefs lists them all.
        Some(8) => Ok(Blkid {
            ambivalent: true,
            ..Blkid::default()
        }),
        _ => bail!(
            "`{}` failed ({}): {}",
            exec::describe(&cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

pub fn parse_blkid(text: &str) -> Blkid {
    let mut values = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            // `-o export` escapes spaces and specials with a backslash.
            let mut unescaped = String::new();
            let mut chars = value.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        unescaped.push(next);
                    }
                } else {
                    unescaped.push(c);
                }
            }
            values.insert(key.trim().to_owned(), unescaped);
        }
    }
    Blkid {
        kind: values.get("TYPE").cloned(),
        usage: values.get("USAGE").cloned(),
        pttype: values.get("PTTYPE").cloned(),
        ambivalent: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipefs_lines_keep_commas_in_labels() {
        let parsed = parse_wipefs("0x438,adf3-uuid,,ext4\n0x1fe,,,dos\n0x0,u,my,label,xfs\n");
        assert_eq!(parsed[0].offset, "0x438");
        assert_eq!(parsed[0].kind, "ext4");
        assert_eq!(parsed[1].kind, "dos");
        assert_eq!(parsed[2].label, "my,label");
        assert_eq!(parsed[2].kind, "xfs");
    }

    #[test]
    fn blkid_export_is_unescaped() {
        let b = parse_blkid("DEVNAME=/dev/loop0\nVERSION=LVM2\\ 001\nTYPE=LVM2_member\nUSAGE=raid\n");
        assert_eq!(b.kind.as_deref(), Some("LVM2_member"));
        assert_eq!(Usage::of("LVM2_member", b.usage.as_deref()), Usage::LvmPv);
        assert_eq!(Usage::of("linux_raid_member", Some("raid")), Usage::Raid);
        assert_eq!(Usage::of("swap", Some("other")), Usage::Swap);
        assert_eq!(Usage::of("xfs", None), Usage::Filesystem);
        assert_eq!(Usage::of("gpt", None), Usage::PartitionTable);
    }
}
