//! `devices/global_filter` in `lvm.conf` must reject `/dev/drbd*`, so LVM never scans DRBD
//! devices (which carry the very PVs and LVs underneath them), as Vates' package sets it.
//!
//! The edit is textual and minimal: the entries already there stay, in their order, with the
//! file's comments and layout; the rejection goes first, because LVM takes the first pattern
//! that matches and an accepting pattern before it (`"a|.*|"`) would make it useless. Nothing
//! is added when a DRBD rejection already comes before every accepting pattern, so a second run
//! changes nothing. The edited file is checked by LVM itself (`lvmconfig`) and put back as it
//! was if LVM does not read the rejection first.
//!
//! `conf` reads LVM's config syntax; this module decides and makes the edit.

mod conf;

use super::lvm::{self, Lvm};
use crate::host::{FileMode, rootfs};
use anyhow::{Context, Result, bail};
use conf::{Occurrence, parse};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The rejection Vates ships.
pub const DRBD_REJECT: &str = "r|^/dev/drbd.*|";

// ---------------------------------------------------------------------------------------------
// The rule

/// True for a pattern that rejects DRBD devices: `r|^/dev/drbd.*|`, `r|/dev/drbd|`, …
pub fn is_drbd_reject(entry: &str) -> bool {
    let mut chars = entry.chars();
    if chars.next() != Some('r') {
        return false;
    }
    let Some(delim) = chars.next() else { return false };
    let rest: String = chars.collect();
    let Some(regex) = rest.strip_suffix(delim) else {
        return false;
    };
    let regex = regex.strip_prefix('^').unwrap_or(regex);
    matches!(
        regex,
        "/dev/drbd.*" | "/dev/drbd" | "/dev/drbd[0-9]*" | "/dev/drbd.+"
    )
}

fn is_accept(entry: &str) -> bool {
    entry.starts_with('a')
}

/// The rejection takes effect when it comes before every accepting pattern.
pub fn rejects_drbd(entries: &[String]) -> bool {
    for e in entries {
        if is_drbd_reject(e) {
            return true;
        }
        if is_accept(e) {
            return false;
        }
    }
    false
}

/// The file with the DRBD rejection in every `devices/global_filter` where it does not take
/// effect yet (or a new `global_filter` when there is none); `None` when nothing is to change.
pub fn edit_text(text: &str) -> Result<Option<String>> {
    let parsed = parse(text)?;
    let quoted = format!("\"{DRBD_REJECT}\"");
    let mut edits: Vec<Edit> = Vec::new();
    if parsed.occurrences.is_empty() {
        edits.push(new_setting(text, parsed.devices_open, &quoted));
    }
    for occ in &parsed.occurrences {
        if !rejects_drbd(&occ.entries) {
            edits.push(rejection_first(text, occ, &quoted));
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    edits.sort_by_key(|(start, _, _)| *start);
    let mut out = String::with_capacity(text.len() + 128);
    let mut at = 0;
    for (start, end, new) in edits {
        out.push_str(&text[at..start]);
        out.push_str(&new);
        at = end;
    }
    out.push_str(&text[at..]);
    Ok(Some(out))
}

/// A change of the text: the bytes `start..end` become the string.
type Edit = (usize, usize, String);

/// A `global_filter` with only the rejection: in the first `devices` section (`devices_open`
/// is just after its `{`), or in a new one at the end of the file.
fn new_setting(text: &str, devices_open: Option<usize>, quoted: &str) -> Edit {
    let setting = format!(
        "\n\t# Added by linstor-agent: LVM never scans DRBD devices.\n\tglobal_filter = [ {quoted} ]\n"
    );
    match devices_open {
        Some(at) => (at, at, setting),
        None => {
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            (text.len(), text.len(), format!("{sep}devices {{{setting}}}\n"))
        }
    }
}

/// The rejection put first in a `global_filter` setting, in the layout of its entries.
fn rejection_first(text: &str, occ: &Occurrence, quoted: &str) -> Edit {
    match occ.list_open {
        Some(open) if occ.entries.is_empty() => (open, occ.value.1 - 1, format!(" {quoted} ")),
        Some(open) => {
            let first = occ.first_entry_start.unwrap_or(open);
            let between = &text[open..first];
            if let Some(nl) = between.rfind('\n') {
                // One entry per line: the new one on its own line, indented like the rest.
                let indent = &between[nl + 1..];
                (first, first, format!("{quoted},\n{indent}"))
            } else {
                (first, first, format!("{quoted}, "))
            }
        }
        None => {
            let original = &text[occ.value.0..occ.value.1];
            (occ.value.0, occ.value.1, format!("[ {quoted}, {original} ]"))
        }
    }
}

/// Every `devices/global_filter` list in the text, in file order.
pub fn global_filters(text: &str) -> Result<Vec<Vec<String>>> {
    Ok(parse(text)?.occurrences.into_iter().map(|o| o.entries).collect())
}

// ---------------------------------------------------------------------------------------------
// On the host

/// A planned change of `lvm.conf`.
#[derive(Debug, Clone, Serialize)]
pub struct FilterEdit {
    pub path: PathBuf,
    /// The file does not exist yet (a root without LVM configuration).
    pub create: bool,
    /// `global_filter` as it is (each occurrence), and as it will be.
    pub before: Vec<Vec<String>>,
    pub after: Vec<Vec<String>>,
    #[serde(skip)]
    old_text: Option<String>,
    #[serde(skip)]
    new_text: String,
}

impl FilterEdit {
    pub fn describe(&self) -> String {
        if self.create {
            format!(
                "create {} with devices/global_filter = [ \"{DRBD_REJECT}\" ] (LVM never scans DRBD devices)",
                self.path.display()
            )
        } else {
            let kept: usize = self.before.iter().map(Vec::len).sum();
            format!(
                "put \"{DRBD_REJECT}\" first in devices/global_filter of {} (LVM never scans DRBD devices), keeping \
                 the {kept} entr{} already there in their order",
                self.path.display(),
                if kept == 1 { "y" } else { "ies" }
            )
        }
    }
}

fn cannot_read(path: &Path, e: anyhow::Error) -> anyhow::Error {
    e.context(format!(
        "cannot read {} as LVM configuration: fix it by hand (LVM itself would fail on it), then run again",
        path.display()
    ))
}

/// What would change in the host's `lvm.conf`, or `None` when it already rejects DRBD.
pub fn plan(lvm: &Lvm) -> Result<Option<FilterEdit>> {
    let path = lvm.conf_path();
    let old_text = read(lvm)?;
    let text = old_text.clone().unwrap_or_default();
    let Some(new_text) = edit_text(&text).map_err(|e| cannot_read(path, e))? else {
        return Ok(None);
    };
    Ok(Some(FilterEdit {
        path: path.to_path_buf(),
        create: old_text.is_none(),
        before: global_filters(&text).map_err(|e| cannot_read(path, e))?,
        after: global_filters(&new_text)?,
        old_text,
        new_text,
    }))
}

/// Writes the edit (atomically, same permissions), then asks LVM what it reads; puts the old
/// file back when LVM does not read the DRBD rejection first.
pub fn apply(edit: &FilterEdit, lvm: &Lvm) -> Result<()> {
    let current = read(lvm).ok().flatten();
    if current != edit.old_text {
        bail!(
            "{} changed while the agent was planning: run again to plan against the new file",
            edit.path.display()
        );
    }
    write(lvm, &edit.new_text)?;
    match lvm_reads_rejection(lvm) {
        Ok(()) => Ok(()),
        Err(e) => {
            let restore = match &edit.old_text {
                Some(old) => write(lvm, old),
                None => lvm.sysroot().remove_file(lvm::CONF).map(drop),
            };
            let restored = match restore {
                Ok(()) => "the file was put back as it was".to_owned(),
                Err(r) => format!("and putting the old file back failed too: {r:#}"),
            };
            Err(e.context(format!(
                "after adding \"{DRBD_REJECT}\" to {}, LVM does not read it as the first global_filter entry; {restored}; \
                 add it by hand at the start of devices/global_filter",
                edit.path.display()
            )))
        }
    }
}

/// `lvmconfig devices/global_filter`: LVM's own reading of the configuration.
pub fn lvm_global_filter(lvm: &Lvm) -> Result<Vec<String>> {
    let argv: Vec<String> = ["lvmconfig", "devices/global_filter"].map(String::from).to_vec();
    let output = lvm.run(&argv)?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `global_filter=["r|^/dev/drbd.*|","a|…|"]`: valid config syntax at the top level.
    let wrapped = format!("devices {{\n{text}\n}}\n");
    Ok(global_filters(&wrapped)?.into_iter().next().unwrap_or_default())
}

fn lvm_reads_rejection(lvm: &Lvm) -> Result<()> {
    let entries = lvm_global_filter(lvm)?;
    if rejects_drbd(&entries) {
        Ok(())
    } else {
        bail!("lvmconfig reports global_filter = {entries:?}")
    }
}

/// `lvm.conf` as it is (links followed inside the root), `None` when there is none.
fn read(lvm: &Lvm) -> Result<Option<String>> {
    rootfs::read_optional(lvm.sysroot(), Path::new(lvm::CONF))
        .with_context(|| format!("cannot read {}", lvm.conf_path().display()))
}

/// Replaces `lvm.conf` atomically inside the root, keeping its permissions.
fn write(lvm: &Lvm, text: &str) -> Result<()> {
    lvm.sysroot()
        .write_file(lvm::CONF, text.as_bytes(), FileMode::KeepOr(0o644))
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(text: &str) -> Vec<Vec<String>> {
        global_filters(text).unwrap()
    }

    #[test]
    fn an_existing_filter_is_kept_in_order_with_the_rejection_first() {
        let text = "# XCP-ng\ndevices {\n\tdir = \"/dev\"\n\tglobal_filter = [ \"r|/dev/VG_Xen.*|\", \"a|.*|\" ] # keep\n\twrite_cache_state = 0\n}\n";
        let new = edit_text(text).unwrap().unwrap();
        assert_eq!(
            new,
            "# XCP-ng\ndevices {\n\tdir = \"/dev\"\n\tglobal_filter = [ \"r|^/dev/drbd.*|\", \"r|/dev/VG_Xen.*|\", \"a|.*|\" ] # keep\n\twrite_cache_state = 0\n}\n"
        );
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|", "r|/dev/VG_Xen.*|", "a|.*|"]]);
        assert_eq!(edit_text(&new).unwrap(), None, "idempotent");
    }

    #[test]
    fn one_entry_per_line_keeps_the_layout() {
        let text =
            "devices {\n    global_filter = [\n        \"a|^/dev/sd.*|\",\n        \"r|.*|\"\n    ]\n}\n";
        let new = edit_text(text).unwrap().unwrap();
        assert_eq!(
            new,
            "devices {\n    global_filter = [\n        \"r|^/dev/drbd.*|\",\n        \"a|^/dev/sd.*|\",\n        \"r|.*|\"\n    ]\n}\n"
        );
        assert_eq!(edit_text(&new).unwrap(), None);
    }

    #[test]
    fn a_missing_setting_or_section_is_added_and_comments_are_not_settings() {
        let text = "devices {\n\t# global_filter = [ \"a|.*|\" ]\n\tscan = [ \"/dev\" ]\n}\nglobal {\n\tumask = 077\n}\n";
        let new = edit_text(text).unwrap().unwrap();
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|"]]);
        assert!(new.contains("# global_filter = [ \"a|.*|\" ]"));
        assert!(new.contains("umask = 077"));
        assert_eq!(edit_text(&new).unwrap(), None);

        let new = edit_text("global {\n}\n").unwrap().unwrap();
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|"]]);
        assert_eq!(edit_text(&new).unwrap(), None);
        assert_eq!(filters(&edit_text("").unwrap().unwrap()), [["r|^/dev/drbd.*|"]]);
    }

    #[test]
    fn a_rejection_already_in_front_changes_nothing_one_behind_an_accept_is_fixed() {
        let text = "devices { global_filter = [ \"r|/dev/drbd.*|\", \"a|.*|\" ] }\n";
        assert_eq!(edit_text(text).unwrap(), None);
        let text = "devices { global_filter = [ \"a|.*|\", \"r|^/dev/drbd.*|\" ] }\n";
        let new = edit_text(text).unwrap().unwrap();
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|", "a|.*|", "r|^/dev/drbd.*|"]]);
        assert_eq!(edit_text(&new).unwrap(), None);
    }

    #[test]
    fn empty_lists_single_strings_and_other_sections() {
        let new = edit_text("devices {\n\tglobal_filter = [ ]\n}\n")
            .unwrap()
            .unwrap();
        assert_eq!(new, "devices {\n\tglobal_filter = [ \"r|^/dev/drbd.*|\" ]\n}\n");
        let new = edit_text("devices {\n\tglobal_filter = \"a|.*|\"\n}\n")
            .unwrap()
            .unwrap();
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|", "a|.*|"]]);
        // `filter` (not global) and a global_filter in another section are not it.
        let text = "devices {\n\tfilter = [ \"a|.*|\" ]\n}\nother {\n\tglobal_filter = [ \"a|.*|\" ]\n}\n";
        let new = edit_text(text).unwrap().unwrap();
        assert_eq!(filters(&new), [["r|^/dev/drbd.*|"]]);
        assert!(new.contains("filter = [ \"a|.*|\" ]"));
    }

    #[test]
    fn broken_files_are_errors_with_a_line() {
        let err = edit_text("devices {\n\tglobal_filter = [ \"a|.*|\"\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(edit_text("devices {\n").is_err());
        assert!(edit_text("}\n").is_err());
    }

    #[test]
    fn drbd_rejections_are_recognised() {
        assert!(is_drbd_reject("r|^/dev/drbd.*|"));
        assert!(is_drbd_reject("r|/dev/drbd.*|"));
        assert!(!is_drbd_reject("r/^\\/dev\\/drbd/"));
        assert!(!is_drbd_reject("a|^/dev/drbd.*|"));
        assert!(!is_drbd_reject("r|.*|"));
    }
}
