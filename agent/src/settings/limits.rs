//! What a config file may say, checked on each file before its values are typed, so a bad one is
//! reported at its file and line (exit 2) and never reaches a command line, a `.repo` file or a
//! message:
//!
//! - no string or key holds a control character: a NUL cannot be passed to the kernel (it was
//!   reported as a misleading "file name contained an unexpected NUL byte" much later), and a
//!   newline in `baseurl` would add lines to the `.repo` file handed to yum;
//! - no string is longer than [`MAX_STRING`] bytes (`PATH_MAX`: nothing the agent is told is
//!   longer), no key than [`MAX_KEY`], no array or table has more than [`MAX_ENTRIES`] entries;
//!   a value that breaks a limit is shown shortened ([`shorten`]), never whole;
//! - package names (`[packages] kmod`, `userland`, the `pin` keys) are RPM names and the pins
//!   RPM versions (the same rules as `--pin`, and as the XAPI plugin's);
//! - `[network.sysctl]` keys are sysctl names (they become `/proc/sys/` paths);
//! - `[metrics] textfile_dir` is an absolute path that does not climb with `..`.
//!
//! toml_edit (the parser the `toml` crate itself uses, so nothing new is built) keeps where each
//! value is in the text, which is what gives the line.

use crate::error::UsageError;
use anyhow::Result;
use std::path::Path;
use toml_edit::{ImDocument, Item, Key, Table, Value};

/// The longest string a config value may be (bytes): Linux's `PATH_MAX`.
pub const MAX_STRING: usize = 4096;
/// The longest key (bytes).
pub const MAX_KEY: usize = 256;
/// The most entries an array or a table may have.
pub const MAX_ENTRIES: usize = 1024;
/// The longest package name or version (bytes).
pub const MAX_NAME: usize = 256;

/// `^[A-Za-z0-9][A-Za-z0-9._+-]*$` (what the XAPI plugin accepts too).
pub fn is_package_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// `^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9._+~^-]*$`: a version or version-release, with an
/// optional epoch (the XAPI plugin accepts the same without the epoch).
pub fn is_version(s: &str) -> bool {
    let rest = match s.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.chars().all(|c| c.is_ascii_digit()) => rest,
        Some(_) => return false,
        None => s,
    };
    let mut chars = rest.chars();
    s.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '~' | '^' | '-'))
}

/// An absolute path that does not climb (`..`): a directory the agent writes a file into.
pub fn is_absolute_dir(s: &str) -> bool {
    s.starts_with('/') && !s.split('/').any(|part| part == "..")
}

/// A sysctl name as `sysctl` takes it (`net.core.rmem_max`, `net.ipv4.conf.eth0/100.rp_filter`):
/// nothing that climbs out of `/proc/sys`.
pub fn is_sysctl_key(s: &str) -> bool {
    s.len() <= MAX_KEY
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !s.split(['.', '/']).any(|part| part.is_empty() || part == "..")
}

/// `text` for a message: whole when short, else its start, its length, and no control
/// characters either way.
pub fn shorten(text: &str) -> String {
    const SHOWN: usize = 64;
    let clean: String = text
        .chars()
        .take(SHOWN)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().count() > SHOWN {
        format!("{clean}… ({} bytes)", text.len())
    } else {
        clean
    }
}

/// Checks one config file's text (already known to be valid TOML); the first problem is a
/// usage error `FILE:LINE: …`.
pub fn check_file(file: &Path, text: &str) -> Result<()> {
    let Ok(doc) = ImDocument::parse(text) else {
        // Reported with its line by the TOML parse that comes first.
        return Ok(());
    };
    let mut path = Vec::new();
    check_table(doc.as_table(), &mut path).map_err(|(span, why)| {
        let line = span.map(|s| line_of(text, s.start)).unwrap_or(1);
        UsageError(format!(
            "{}:{line}: {why} (fix or remove this line; the keys are listed in README \"Config reference\")",
            file.display()
        ))
        .into()
    })
}

type Span = Option<std::ops::Range<usize>>;
type Problem = (Span, String);

fn check_table(table: &Table, path: &mut Vec<String>) -> Result<(), Problem> {
    if table.len() > MAX_ENTRIES {
        return Err((
            table.span(),
            format!("{} has more than {MAX_ENTRIES} keys", name(path)),
        ));
    }
    for (k, _) in table.iter() {
        let (key, item) = table.get_key_value(k).expect("a key the table lists");
        check_key(key, path)?;
        path.push(k.to_owned());
        check_item(item, path)?;
        path.pop();
    }
    Ok(())
}

fn check_item(item: &Item, path: &mut Vec<String>) -> Result<(), Problem> {
    match item {
        Item::None => Ok(()),
        Item::Value(value) => check_value(value, path),
        Item::Table(table) => check_table(table, path),
        Item::ArrayOfTables(tables) => tables.iter().try_for_each(|t| check_table(t, path)),
    }
}

fn check_value(value: &Value, path: &mut Vec<String>) -> Result<(), Problem> {
    match value {
        Value::String(s) => check_string(s.value(), value.span(), path),
        Value::Array(array) => {
            if array.len() > MAX_ENTRIES {
                return Err((
                    value.span(),
                    format!("{} has more than {MAX_ENTRIES} entries", name(path)),
                ));
            }
            array.iter().try_for_each(|v| check_value(v, path))
        }
        Value::InlineTable(table) => {
            if table.len() > MAX_ENTRIES {
                return Err((
                    value.span(),
                    format!("{} has more than {MAX_ENTRIES} keys", name(path)),
                ));
            }
            for (k, _) in table.iter() {
                let (key, item) = table.get_key_value(k).expect("a key the table lists");
                check_key(key, path)?;
                path.push(k.to_owned());
                check_item(item, path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A key: its length and characters, and what the table it is in requires of it.
fn check_key(key: &Key, path: &[String]) -> Result<(), Problem> {
    let text = key.get();
    let at = key.span();
    let problem = |why: String| Err((at.clone(), why));
    if text.len() > MAX_KEY {
        return problem(format!(
            "{} has a key of {} bytes: at most {MAX_KEY}",
            name(path),
            text.len()
        ));
    }
    if let Some(why) = bad_characters(text) {
        return problem(format!("{} has a key {} {why}", name(path), quoted(text)));
    }
    match path_str(path).as_str() {
        "packages.pin" if !is_package_name(text) => problem(format!(
            "[packages] pin: {} is not a package name (letters, digits and . _ + -, starting with a letter or digit)",
            quoted(text)
        )),
        "network.sysctl" if !is_sysctl_key(text) => problem(format!(
            "[network.sysctl]: {} is not a sysctl name (such as \"net.core.rmem_max\")",
            quoted(text)
        )),
        _ => Ok(()),
    }
}

/// A string value: its length and characters, and what its key requires of it.
fn check_string(text: &str, at: Span, path: &[String]) -> Result<(), Problem> {
    let problem = |why: String| Err((at.clone(), why));
    if text.len() > MAX_STRING {
        return problem(format!(
            "{} is {} bytes long: at most {MAX_STRING}; it starts {}",
            name(path),
            text.len(),
            quoted(text)
        ));
    }
    if let Some(why) = bad_characters(text) {
        return problem(format!("{} = {} {why}", name(path), quoted(text)));
    }
    let key = path_str(path);
    let is_name = key == "packages.kmod" || key == "packages.userland";
    if is_name && !is_package_name(text) {
        return problem(format!(
            "{} = {} is not a package name (letters, digits and . _ + -, starting with a letter or digit)",
            name(path),
            quoted(text)
        ));
    }
    if key == "metrics.textfile_dir" && !is_absolute_dir(text) {
        return problem(format!(
            "{} = {} is not an absolute directory path without \"..\" (such as \"/var/lib/node_exporter/textfile_collector\")",
            name(path),
            quoted(text)
        ));
    }
    if key.starts_with("packages.pin.") && !is_version(text) {
        return problem(format!(
            "{} = {} is not a version (such as \"9.2.11\" or \"9.2.11-1.xcpng8.3\")",
            name(path),
            quoted(text)
        ));
    }
    Ok(())
}

/// Why `text` cannot be used, if it holds a character no config value needs.
fn bad_characters(text: &str) -> Option<String> {
    let c = text.chars().find(|c| c.is_control())?;
    Some(if c == '\0' {
        "contains a NUL character (\\u0000): remove it".to_owned()
    } else {
        format!("contains the control character U+{:04X}: remove it", c as u32)
    })
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", shorten(text))
}

/// The dotted key path without array positions (`packages.userland`, `packages.pin.kmod-drbd`).
fn path_str(path: &[String]) -> String {
    path.join(".")
}

/// `[section] key` as the README writes keys.
fn name(path: &[String]) -> String {
    match path {
        [] => "the file".to_owned(),
        [section] => format!("[{section}]"),
        [section, rest @ ..] => format!("[{section}] {}", rest.join(".")),
    }
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
