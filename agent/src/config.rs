//! Configuration: `agent.toml` plus the `agent.d/*.toml` fragments beside it, applied in name
//! order (DESIGN §4). Each file is checked on its own first, so an unknown key or a wrong type
//! is reported with the file, line and key it came from; the files are then merged table by
//! table (a fragment's key replaces the same key from earlier files) and validated as a whole.

use crate::error::UsageError;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/linstor-agent/agent.toml";

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
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackagesConfig {
    #[serde(default = "default_kmod")]
    pub kmod: String,
    #[serde(default = "default_userland")]
    pub userland: Vec<String>,
    /// Package name → version (`9.2.11`, or `9.2.11-1` with a release).
    #[serde(default)]
    pub pin: BTreeMap<String, String>,
}

fn default_kmod() -> String {
    "kmod-drbd".into()
}

fn default_userland() -> Vec<String> {
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
            userland: default_userland(),
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

/// A loaded configuration and the files it came from (in the order they were applied).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub files: Vec<PathBuf>,
    /// The main file's path (whether or not it exists): `agent.d/` is beside it.
    pub main: PathBuf,
}

/// Loads `path` and the fragments in `agent.d/` beside it. A missing main file is an error
/// only when `required` (the user named it with `--config`); the fragments are optional.
pub fn load(path: &Path, required: bool) -> Result<LoadedConfig> {
    let mut files = Vec::new();
    if path.exists() {
        files.push(path.to_path_buf());
    } else if required {
        return Err(UsageError(format!(
            "config file {} does not exist: create it (see README \"Config reference\") or pass --config PATH",
            path.display()
        ))
        .into());
    }
    files.extend(fragments(path)?);

    let mut merged = toml::Table::new();
    for file in &files {
        let table = parse_file(file)?;
        merge(&mut merged, table);
    }
    let config: Config = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| UsageError(format!("config ({}): {}", list(&files), e.message())))?;
    Ok(LoadedConfig {
        config,
        files,
        main: path.to_path_buf(),
    })
}

/// The fragment directory beside a main config file: `<dir of main>/agent.d`.
pub fn fragment_dir(main: &Path) -> PathBuf {
    main.parent().unwrap_or(Path::new(".")).join("agent.d")
}

/// `agent.d/*.toml` beside the main file, in name order.
fn fragments(main: &Path) -> Result<Vec<PathBuf>> {
    let dir = fragment_dir(main);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(UsageError(format!("cannot read config directory {}: {e}", dir.display())).into());
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| UsageError(format!("cannot read config directory {}: {e}", dir.display())))?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Reads one file, checks it against the schema on its own (for file:line errors) and returns
/// its table for merging.
fn parse_file(file: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| UsageError(format!("cannot read config file {}: {e}", file.display())))?;
    let located = |e: toml::de::Error| -> anyhow::Error {
        let line = e.span().map(|span| line_of(&text, span.start)).unwrap_or(1);
        UsageError(format!(
            "{}:{}: {} (fix or remove this line; the keys are listed in README \"Config reference\")",
            file.display(),
            line,
            e.message().trim()
        ))
        .into()
    };
    let table: toml::Table = toml::from_str(&text).map_err(located)?;
    toml::from_str::<Config>(&text).map_err(located)?;
    Ok(table)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
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
    /// Where `install --save-pins` writes: `agent.d/90-pool-upgrade.toml` beside the main file.
    pub fn pin_fragment_path(&self) -> PathBuf {
        fragment_dir(&self.main).join(POOL_UPGRADE_FRAGMENT)
    }

    /// Where the settings came from, for error messages that tell the user which file to edit.
    pub fn sources(&self) -> String {
        list(&self.files)
    }

    /// The `[repo]` section with its required keys, or a usage error naming what is missing.
    pub fn repo(&self) -> Result<ValidRepo> {
        let repo = &self.config.repo;
        let missing = |key: &str| -> anyhow::Error {
            UsageError(format!(
                "[repo] {key} is not set in {}: add it (see README \"Config reference\")",
                self.sources()
            ))
            .into()
        };
        let baseurl = repo.baseurl.clone().ok_or_else(|| missing("baseurl"))?;
        let gpgkey = repo.gpgkey.clone().ok_or_else(|| missing("gpgkey"))?;
        let fingerprint = match &repo.fingerprint {
            None => None,
            Some(pin) => {
                let normalised: String = pin
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_uppercase();
                if normalised.len() < 16 || !normalised.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(UsageError(format!(
                        "[repo] fingerprint {pin:?} in {} is not a hex key fingerprint: use the 40 hex digits `gpg --show-keys` prints",
                        self.sources()
                    ))
                    .into());
                }
                Some(normalised)
            }
        };
        Ok(ValidRepo {
            baseurl,
            gpgkey,
            fingerprint,
        })
    }
}

/// The fragment `install --save-pins` writes into `agent.d/`. It sorts after the operator's own
/// fragments (`10-…`, `50-…`), so the versions a pool upgrade installed win over older pins.
pub const POOL_UPGRADE_FRAGMENT: &str = "90-pool-upgrade.toml";

/// What [`write_pin_fragment`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPins {
    /// The fragment's path.
    pub path: String,
    /// The pins it holds now.
    pub pins: BTreeMap<String, String>,
    /// False when the file already said exactly this.
    pub changed: bool,
}

/// Writes `pins` as a `[packages.pin]` fragment at `path`, atomically (a temporary file in the
/// same directory, flushed, then renamed over the old one), with a header that says who wrote
/// it, why, and how to undo it. The text is checked against the config schema before it
/// replaces anything. Writing the same pins again leaves the file alone.
pub fn write_pin_fragment(path: &Path, pins: &BTreeMap<String, String>, why: &str) -> Result<SavedPins> {
    use std::io::Write as _;
    let why = why.replace(['\n', '\r'], " ");
    let mut text = format!(
        "# Written by `linstor-agent install --save-pins` ({why}).\n\
         # These are the package versions that install put on this host: later `provision` and\n\
         # `install` runs keep them. Fragments that sort after this file and `--pin` still win.\n\
         # Delete this file to go back to the pins of agent.toml and the other fragments\n\
         # (unpinned packages get the newest version that fits).\n\
         [packages.pin]\n"
    );
    for (name, version) in pins {
        text.push_str(&format!(
            "{} = {}\n",
            toml::Value::String(name.clone()),
            toml::Value::String(version.clone())
        ));
    }
    toml::from_str::<Config>(&text)
        .map_err(|e| anyhow::anyhow!("the pin fragment for {} would not parse: {e}", path.display()))?;

    let saved = |changed| SavedPins {
        path: path.display().to_string(),
        pins: pins.clone(),
        changed,
    };
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(saved(false));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the config directory {}: {e}", dir.display()))?;
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(".90-pool-upgrade.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        file.persist(path).map_err(|e| e.error)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        anyhow::anyhow!(
            "cannot write the pin fragment {}: {e}; check that the directory is writable, or run \
             install without --save-pins",
            path.display()
        )
    })?;
    Ok(saved(true))
}

/// The `[repo]` section once its required keys are known to be there.
#[derive(Debug, Clone)]
pub struct ValidRepo {
    pub baseurl: String,
    pub gpgkey: PathBuf,
    /// Upper-case hex without spaces.
    pub fingerprint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn fragments_override_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "agent.toml",
            "[repo]\nbaseurl = \"file:///repo/\"\ngpgkey = \"/k\"\n[packages]\npin = { \"kmod-drbd\" = \"9.2.11\" }\n",
        );
        write(
            dir.path(),
            "agent.d/20-b.toml",
            "[packages.pin]\n\"kmod-drbd\" = \"9.2.12\"\n",
        );
        write(
            dir.path(),
            "agent.d/10-a.toml",
            "[packages.pin]\n\"kmod-drbd\" = \"9.2.10\"\n\"linstor-satellite\" = \"1.29.2\"\n",
        );
        write(dir.path(), "agent.d/notes.txt", "ignored");
        let loaded = load(&main, true).unwrap();
        assert_eq!(loaded.files.len(), 3);
        assert_eq!(loaded.config.packages.pin["kmod-drbd"], "9.2.12");
        assert_eq!(loaded.config.packages.pin["linstor-satellite"], "1.29.2");
        assert_eq!(loaded.config.packages.kmod, "kmod-drbd");
        assert_eq!(loaded.repo().unwrap().baseurl, "file:///repo/");
    }

    #[test]
    fn pin_tables_merge_per_key_whatever_their_toml_form() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "agent.toml",
            "[packages]\nuserland = [\"drbd-utils\"]\npin = { \"kmod-drbd\" = \"9.2.11\", \"drbd-utils\" = \"9.28.0\" }\n",
        );
        // An inline table in a fragment merges key by key too (it is a table either way).
        write(
            dir.path(),
            "agent.d/50-site.toml",
            "[packages]\npin = { \"linstor-satellite\" = \"1.29.0\" }\n",
        );
        let loaded = load(&main, true).unwrap();
        assert_eq!(
            loaded.config.packages.pin.len(),
            3,
            "{:?}",
            loaded.config.packages.pin
        );
        assert_eq!(loaded.config.packages.userland, ["drbd-utils"]);

        // The fragment install --save-pins writes sorts last and wins per key.
        let pins = BTreeMap::from([
            ("kmod-drbd".to_owned(), "9.2.12".to_owned()),
            ("linstor-satellite".to_owned(), "1.29.2".to_owned()),
        ]);
        let path = loaded.pin_fragment_path();
        assert_eq!(path, dir.path().join("agent.d/90-pool-upgrade.toml"));
        let saved = write_pin_fragment(&path, &pins, "test").unwrap();
        assert!(saved.changed);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# Written by `linstor-agent install --save-pins` (test)"),
            "{text}"
        );
        let again = load(&main, true).unwrap();
        assert_eq!(again.config.packages.pin["kmod-drbd"], "9.2.12");
        assert_eq!(again.config.packages.pin["linstor-satellite"], "1.29.2");
        assert_eq!(
            again.config.packages.pin["drbd-utils"], "9.28.0",
            "untouched keys stay"
        );
        assert_eq!(again.files.last().unwrap(), &path);

        // Writing the same pins again is no change; no temporary file is left behind.
        assert!(!write_pin_fragment(&path, &pins, "test").unwrap().changed);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("agent.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "agent.toml",
            "[repo]\nbaseurl = \"file:///r/\"\n\n[packages]\nkmodd = \"x\"\n",
        );
        let err = load(&main, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("agent.toml:5:"), "{msg}");
        assert!(msg.contains("kmodd"), "{msg}");
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
    }

    #[test]
    fn unknown_key_in_a_fragment_names_the_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "agent.toml", "[repo]\nbaseurl = \"file:///r/\"\n");
        write(
            dir.path(),
            "agent.d/50-x.toml",
            "# pins\n[packages]\n\nbogus = 1\n",
        );
        let msg = load(&main, true).unwrap_err().to_string();
        assert!(msg.contains("50-x.toml:4:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn wrong_type_and_bad_toml_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "agent.toml", "[network]\nmtu = \"jumbo\"\n");
        let msg = load(&main, true).unwrap_err().to_string();
        assert!(msg.contains("agent.toml:2:"), "{msg}");

        let main = write(dir.path(), "agent.toml", "[repo]\nbaseurl = \"unterminated\n");
        let err = load(&main, true).unwrap_err();
        assert!(err.to_string().contains("agent.toml:2:"), "{err}");
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
    }

    #[test]
    fn missing_required_key_is_a_usage_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "agent.toml", "[repo]\nbaseurl = \"file:///r/\"\n");
        let loaded = load(&main, true).unwrap();
        let err = loaded.repo().unwrap_err();
        assert!(err.to_string().contains("[repo] gpgkey"), "{err}");
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
    }

    #[test]
    fn missing_named_config_is_a_usage_error() {
        let err = load(Path::new("/nonexistent/agent.toml"), true).unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
        assert!(load(Path::new("/nonexistent/agent.toml"), false).is_ok());
    }
}
