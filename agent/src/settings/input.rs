//! The config files as written: `agent.toml` plus the `agent.d/*.toml` fragments beside it,
//! applied in name order. Each file is checked on its own first, so an unknown key or a wrong
//! type is reported with the file, line and key it came from; the files are then merged table by
//! table (a fragment's key replaces the same key from earlier files). The merged input is what
//! [`super::Settings`] validates into typed values; nothing else reads these structs.

use super::duration::ConfigDuration;
use crate::bounds;
use crate::error::UsageError;
use crate::host::{Sysroot, confined, rootfs};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/linstor-agent/agent.toml";

/// The largest config file read (bytes): far above any real one, and below what would make a
/// mistaken `--config` (a disk image, a log) a memory problem.
const MAX_FILE: u64 = 16 << 20;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub repo: RepoConfig,
    #[serde(default)]
    pub packages: PackagesConfig,
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    #[serde(default)]
    pub network: Option<NetworkConfig>,
    #[serde(default)]
    pub controller: Option<ControllerConfig>,
    #[serde(default)]
    pub xapi: Option<XapiConfig>,
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// `http(s)://` or `file://` base URL of the signed yum repository.
    pub baseurl: Option<String>,
    /// ASCII-armored public key that signs the repository metadata and the packages.
    pub gpgkey: Option<PathBuf>,
    /// Optional pin: the key's fingerprint must equal this (hex, spaces allowed).
    pub fingerprint: Option<String>,
    /// Low-speed limit, as dnf's: a download slower than this many bytes/s over `timeout`
    /// seconds is aborted (0: only a stall of `timeout` seconds is).
    pub minrate: Option<u64>,
    /// Seconds: connecting, the window of `minrate`, and the longest wait for any data.
    pub timeout: Option<u64>,
    /// Optional: refuse metadata whose repomd.xml timestamp is older than this (`7d`, `12h`).
    pub max_metadata_age: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackagesConfig {
    #[serde(default = "default_kmod")]
    pub kmod: String,
    /// None: the default for the host (see `packages::profile`).
    #[serde(default)]
    pub userland: Option<Vec<String>>,
    /// Package name → version (`9.2.11`, or `9.2.11-1` with a release).
    #[serde(default)]
    pub pin: BTreeMap<String, String>,
}

fn default_kmod() -> String {
    "kmod-drbd".into()
}

pub fn default_userland() -> Vec<String> {
    [
        "drbd-utils",
        "drbd-reactor",
        "linstor-satellite",
        "linstor-client",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for PackagesConfig {
    fn default() -> Self {
        PackagesConfig {
            kmod: default_kmod(),
            userland: None,
            pin: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default = "default_volume_group")]
    pub volume_group: String,
    pub thin_pool: Option<String>,
}

fn default_volume_group() -> String {
    "linstor_group".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Who may reach the LINSTOR and DRBD ports: `"storage"`, `"management"` (those networks)
    /// or CIDRs. Empty: everyone, as Vates' driver opens them.
    #[serde(default)]
    pub firewall_sources: Vec<String>,
    pub storage_interface: Option<String>,
    pub storage_address: Option<String>,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub peers: Vec<String>,
    /// `[network.sysctl]`: sysctl keys over the agent's defaults (value as `sysctl -w` takes it).
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    #[serde(default)]
    pub urls: Vec<String>,
    pub node_type: Option<String>,
    pub node_name: Option<String>,
    pub address: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XapiConfig {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// node_exporter's textfile collector directory: `linstor_agent.prom` is written there
    /// after every run (an absolute path on the host, checked in `limits`).
    pub textfile_dir: Option<PathBuf>,
}

/// A loaded configuration and the files it came from (in the order they were applied).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub files: Vec<PathBuf>,
    /// The main file's path (whether or not it exists): `agent.d/` is beside it.
    pub main: PathBuf,
    /// Package → the file its `[packages] pin` comes from (the last file that sets it).
    pub pin_files: BTreeMap<String, PathBuf>,
}

/// Loads `path` and the fragments in `agent.d/` beside it. A missing main file is an error
/// only when `required` (the user named it with `--config`); the fragments are optional.
pub fn load(path: &Path, required: bool) -> Result<LoadedConfig> {
    load_in(&Sysroot::live(), path, required)
}

/// [`load`], for files that may lie in a root: a path under `sysroot` is read with its links
/// followed inside the root (`host::rootfs`), as the booted host would read it, never out of
/// it; messages name the paths as given.
pub fn load_in(sysroot: &Sysroot, path: &Path, required: bool) -> Result<LoadedConfig> {
    let (root, host_path) = confined::locate(sysroot, path);
    let reader = Reader { root, host_path };
    let mut files = Vec::new();
    if rootfs::exists(&reader.root, &reader.host_path) {
        files.push(path.to_path_buf());
    } else if required {
        return Err(UsageError(format!(
            "config file {} does not exist: create it (see README \"Config reference\") or pass --config PATH",
            path.display()
        ))
        .into());
    }
    files.extend(fragments(&reader, path)?);

    let mut merged = Merged::default();
    for file in &files {
        let table = parse_file(&reader, path, file)?;
        merged.add(table, file);
    }
    merged.finish(files, path)
}

/// One config text parsed and merged as if it were the only file, at `name`: the same checks
/// and merge as [`load`] without reading a file. The fuzz target `config` drives the loader
/// through it (see `docs/fuzzing.md`).
pub fn load_text(text: &str, name: &Path) -> Result<LoadedConfig> {
    let mut merged = Merged::default();
    merged.add(parse_text(text, name)?, name);
    merged.finish(vec![name.to_path_buf()], name)
}

/// The files' tables merged so far, and which file each pin comes from.
#[derive(Default)]
struct Merged {
    table: toml::Table,
    pin_files: BTreeMap<String, PathBuf>,
}

impl Merged {
    fn add(&mut self, table: toml::Table, file: &Path) {
        // Which file each pin comes from: the last one to set it wins, as in the merge.
        if let Some(pins) = table
            .get("packages")
            .and_then(|p| p.get("pin"))
            .and_then(|p| p.as_table())
        {
            for name in pins.keys() {
                self.pin_files.insert(name.clone(), file.to_path_buf());
            }
        }
        merge(&mut self.table, table);
    }

    /// The merged tables as one [`Config`] (the whole checked again: the merge can still
    /// change a value's type).
    fn finish(self, files: Vec<PathBuf>, main: &Path) -> Result<LoadedConfig> {
        let config: Config = toml::Value::Table(self.table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                UsageError(format!("config ({}): {}", list(&files), e.message()))
            })?;
        Ok(LoadedConfig {
            config,
            files,
            main: main.to_path_buf(),
            pin_files: self.pin_files,
        })
    }
}

/// Reads the config files of one root: the main file's host path gives the others'.
struct Reader {
    root: Sysroot,
    host_path: PathBuf,
}

impl Reader {
    /// The host path of `file`, a path beside (or under) the main file as given.
    fn host_path_of(&self, main: &Path, file: &Path) -> PathBuf {
        match file.strip_prefix(main.parent().unwrap_or(Path::new("/"))) {
            Ok(rest) => self.host_path.parent().unwrap_or(Path::new("/")).join(rest),
            Err(_) => file.to_path_buf(),
        }
    }
}

/// The fragment directory beside a main config file: `<dir of main>/agent.d`.
pub fn fragment_dir(main: &Path) -> PathBuf {
    main.parent().unwrap_or(Path::new(".")).join("agent.d")
}

/// `agent.d/*.toml` beside the main file, in name order.
fn fragments(reader: &Reader, main: &Path) -> Result<Vec<PathBuf>> {
    let dir = fragment_dir(main);
    let cannot =
        |e: std::io::Error| UsageError(format!("cannot read config directory {}: {e}", dir.display()));
    let real = rootfs::real_path(&reader.root, &reader.host_path_of(main, &dir)).map_err(cannot)?;
    let entries = match std::fs::read_dir(&real) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(cannot(e).into()),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry.map_err(cannot)?.file_name();
        if Path::new(&name).extension().is_some_and(|ext| ext == "toml") {
            found.push(dir.join(name));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads one file, checks it against the schema on its own (for file:line errors) and returns
/// its table for merging.
fn parse_file(reader: &Reader, main: &Path, file: &Path) -> Result<toml::Table> {
    let cannot = |e: String| UsageError(format!("cannot read config file {}: {e}", file.display()));
    let real = rootfs::real_path(&reader.root, &reader.host_path_of(main, file))
        .map_err(|e| cannot(e.to_string()))?;
    let bytes = bounds::read_file_capped(&real, MAX_FILE)
        .map_err(|e| cannot(e.to_string()))?
        .map_err(|_| {
            UsageError(format!(
                "config file {} is larger than a config file can be ({}): check that it is the right file",
                file.display(),
                bounds::show_size(MAX_FILE)
            ))
        })?;
    let text = String::from_utf8(bytes).map_err(|_| cannot("it is not UTF-8 text".into()))?;
    parse_text(&text, file)
}

/// One file's text checked against the schema on its own; `file` names it in errors.
fn parse_text(text: &str, file: &Path) -> Result<toml::Table> {
    let located = |e: toml::de::Error| -> anyhow::Error {
        let line = e
            .span()
            .map(|span| super::limits::line_of(text, span.start))
            .unwrap_or(1);
        UsageError(format!(
            "{}:{}: {} (fix or remove this line; the keys are listed in README \"Config reference\")",
            file.display(),
            line,
            e.message().trim()
        ))
        .into()
    };
    let table: toml::Table = toml::from_str(text).map_err(located)?;
    // Before the schema: a wrong-typed value would otherwise be quoted whole in its message.
    super::limits::check_file(file, text)?;
    toml::from_str::<Config>(text).map_err(located)?;
    Ok(table)
}

/// Deep merge: tables merge key by key, anything else is replaced by the later file's value.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => merge(existing, incoming),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn list(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "no config file".into();
    }
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl LoadedConfig {
    /// Where the settings came from, for error messages that tell the user which file to edit.
    pub fn sources(&self) -> String {
        list(&self.files)
    }
}
