//! Settings, the zincati way: config fragments ([`input`]) → one merged input → validated,
//! typed settings per step, built once when the command starts. Steps receive these, never the
//! TOML: a bad value is a usage error (exit 2) naming the file(s) and key before anything runs.
//!
//! What a command may do without is kept as "not set" rather than refused at start: `facts`
//! needs no `[repo]`, `storage` no `[controller]`. The accessors ([`Settings::repo`],
//! [`Settings::require_controller`], [`Settings::require_xapi`]) turn a missing section or key
//! into the same usage error, naming the files to edit, for the commands that need it.

mod duration;
pub mod input;
pub mod limits;
pub mod pins;
mod validate;

use crate::cidr::Cidr;
use crate::error::UsageError;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use duration::ConfigDuration;
pub use input::DEFAULT_CONFIG;
pub use pins::{POOL_UPGRADE_FRAGMENT, SavedPins, write_pin_fragment};
pub use validate::parse_fingerprint;

/// Where the settings came from: the files applied, in order, and the main file (whether or
/// not it exists: `agent.d/` is beside it).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<PathBuf>,
    pub main: PathBuf,
    /// Package → the file its pin comes from.
    pub pin_files: BTreeMap<String, PathBuf>,
}

impl Sources {
    /// The files, for messages that tell the operator which file to edit.
    pub fn describe(&self) -> String {
        if self.files.is_empty() {
            return "no config file".into();
        }
        self.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The file package `name`'s pin comes from, for messages (all the files when unknown).
    pub fn pin_file(&self, name: &str) -> String {
        self.pin_files
            .get(name)
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| self.describe())
    }

    /// Where `install --save-pins` writes: `agent.d/90-pool-upgrade.toml` beside the main file.
    pub fn pin_fragment_path(&self) -> PathBuf {
        input::fragment_dir(&self.main).join(POOL_UPGRADE_FRAGMENT)
    }
}

/// `[repo]`: the signed yum repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSettings {
    /// `http(s)://` or `file://`.
    pub baseurl: String,
    /// ASCII-armored public key file.
    pub gpgkey: PathBuf,
    /// Upper-case hex without spaces.
    pub fingerprint: Option<String>,
    /// Bytes per second a download must keep up over `timeout` (0: no rate check).
    pub minrate: u64,
    /// Connecting, the window of `minrate`, the longest wait for data.
    pub timeout: std::time::Duration,
    /// Metadata whose repomd.xml timestamp is older than this is refused (a freeze attack).
    pub max_metadata_age: Option<ConfigDuration>,
}

impl RepoSettings {
    /// dnf's defaults (dnf.conf `minrate`, `timeout`): 1000 bytes/s over 30 s.
    pub const DEFAULT_MINRATE: u64 = 1000;
    pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
    /// Longer than any wait that is worth making: past it the key is surely a mistake.
    pub const MAX_TIMEOUT_SECS: u64 = 3600;

    /// A repository with the default download speed limits.
    pub fn new(baseurl: String, gpgkey: PathBuf, fingerprint: Option<String>) -> RepoSettings {
        RepoSettings {
            baseurl,
            gpgkey,
            fingerprint,
            minrate: Self::DEFAULT_MINRATE,
            timeout: std::time::Duration::from_secs(Self::DEFAULT_TIMEOUT_SECS),
            max_metadata_age: None,
        }
    }
}

/// `[packages]`: the DRBD module package, the userland, and pins (package → version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesSettings {
    pub kmod: String,
    pub userland: Vec<String>,
    /// `userland` was written in the config (else it is the default, which the XCP-ng
    /// profile may replace: `packages::profile`).
    pub userland_explicit: bool,
    pub pin: BTreeMap<String, String>,
}

impl Default for PackagesSettings {
    fn default() -> Self {
        let input = input::PackagesConfig::default();
        PackagesSettings {
            kmod: input.kmod,
            userland: input::default_userland(),
            userland_explicit: false,
            pin: input.pin,
        }
    }
}

/// `[storage]`: diskless (no section, or no devices) or a volume group on disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSettings {
    Diskless,
    Disks(DiskSettings),
}

/// The volume group of a diskful host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSettings {
    /// Disk paths as the operator wrote them, or exactly `["auto"]`.
    pub devices: Vec<String>,
    pub volume_group: String,
    /// `None`: thick LVM.
    pub thin_pool: Option<String>,
}

impl DiskSettings {
    /// `devices = ["auto"]`: every empty, fixed disk that is not the boot disk.
    pub fn is_auto(&self) -> bool {
        self.devices.iter().any(|d| d == "auto")
    }
}

impl StorageSettings {
    pub fn is_diskless(&self) -> bool {
        matches!(self, StorageSettings::Diskless)
    }
}

/// Who may reach the LINSTOR and DRBD ports (`[network] firewall_sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewallSource {
    /// The storage network (`storage_address`'s).
    Storage,
    /// The management network (from XAPI, or the inventory's management interface).
    Management,
    /// A network given as a CIDR.
    Network(Cidr),
}

/// `[network]`: everything optional; the storage address and MTU checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Empty: the ports are open to every source (as Vates' driver opens them).
    pub firewall_sources: Vec<FirewallSource>,
    pub storage_interface: Option<String>,
    pub storage_address: Option<Cidr>,
    pub mtu: Option<u32>,
    pub peers: Vec<String>,
    /// `[network.sysctl]`: keys over the agent's defaults.
    pub sysctl: BTreeMap<String, String>,
}

/// `[controller] node_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// Satellite and possible controller (what XCP-ng uses: drbd-reactor may start the
    /// controller on any host).
    Combined,
    Satellite,
}

impl NodeType {
    /// As LINSTOR spells it.
    pub fn linstor_name(self) -> &'static str {
        match self {
            NodeType::Combined => "COMBINED",
            NodeType::Satellite => "SATELLITE",
        }
    }
}

/// `[controller]`: the LINSTOR controller and how this host joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSettings {
    /// REST URLs, tried in order (no trailing slash).
    pub urls: Vec<String>,
    pub node_type: NodeType,
    pub node_name: Option<String>,
    pub address: Option<std::net::IpAddr>,
    pub ca_file: Option<PathBuf>,
    /// The client certificate and its key (both or neither).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ControllerSettings {
    /// A plain-HTTP controller at `urls` (tests and tools).
    pub fn with_urls(urls: Vec<String>) -> ControllerSettings {
        ControllerSettings {
            urls,
            node_type: NodeType::Combined,
            node_name: None,
            address: None,
            ca_file: None,
            identity: None,
        }
    }

    /// The controller is spoken to over HTTPS (so the satellite listens with SSL).
    pub fn uses_tls(&self) -> bool {
        self.identity.is_some() || self.urls.iter().any(|u| u.starts_with("https://"))
    }
}

/// `[xapi]`: the pool master. The password file is read when a connection is made, not before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapiSettings {
    pub url: String,
    pub username: String,
    pub password_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// The pinned SHA-256 of the master's certificate.
    pub fingerprint: Option<[u8; 32]>,
}

/// Every section, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sources: Sources,
    repo: Result<RepoSettings, String>,
    pub packages: PackagesSettings,
    pub storage: StorageSettings,
    pub network: NetworkSettings,
    pub controller: Option<ControllerSettings>,
    xapi: Result<Option<XapiSettings>, String>,
    pub metrics: MetricsSettings,
}

/// `[metrics]`: where the node_exporter textfile goes (None: no textfile is written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// An absolute host path (`--root` applies), checked with its line by `limits`.
    pub textfile_dir: Option<PathBuf>,
}

impl Settings {
    /// Loads `path` and its fragments and validates them. A missing main file is an error only
    /// when `required` (named with `--config`).
    pub fn load(path: &Path, required: bool) -> Result<Settings> {
        Settings::load_in(&crate::host::Sysroot::live(), path, required)
    }

    /// [`Settings::load`] of files that may lie in the root (`input::load_in`).
    pub fn load_in(sysroot: &crate::host::Sysroot, path: &Path, required: bool) -> Result<Settings> {
        Settings::from_loaded(input::load_in(sysroot, path, required)?)
    }

    /// One config text validated as if it were the only file, at `name` (no `agent.d/`): the
    /// path of [`Settings::load`] without reading a file, for the fuzz target `config`.
    pub fn from_text(text: &str, name: &Path) -> Result<Settings> {
        Settings::from_loaded(input::load_text(text, name)?)
    }

    fn from_loaded(loaded: input::LoadedConfig) -> Result<Settings> {
        Settings::from_input(
            loaded.config,
            Sources {
                files: loaded.files,
                main: loaded.main,
                pin_files: loaded.pin_files,
            },
        )
    }

    /// Validates a merged input.
    pub fn from_input(config: input::Config, sources: Sources) -> Result<Settings> {
        let files = sources.describe();
        Ok(Settings {
            repo: validate::repo(&config.repo, &files)?,
            packages: PackagesSettings {
                kmod: config.packages.kmod,
                userland_explicit: config.packages.userland.is_some(),
                userland: config.packages.userland.unwrap_or_else(input::default_userland),
                pin: config.packages.pin,
            },
            storage: validate::storage(config.storage, &files)?,
            network: validate::network(config.network.unwrap_or_default())?,
            controller: config
                .controller
                .map(|c| validate::controller(c, &files))
                .transpose()?,
            xapi: validate::xapi(config.xapi, &files)?,
            metrics: MetricsSettings {
                textfile_dir: config.metrics.and_then(|m| m.textfile_dir),
            },
            sources,
        })
    }

    /// Settings with nothing configured (every section at its default).
    pub fn empty() -> Settings {
        Settings::from_input(input::Config::default(), Sources::default()).expect("the defaults are valid")
    }

    /// `[repo]`, or a usage error naming the missing key and the files.
    pub fn repo(&self) -> Result<&RepoSettings> {
        self.repo
            .as_ref()
            .map_err(|message| UsageError(message.clone()).into())
    }

    /// `[controller]`, or a usage error saying `what` needs it.
    pub fn require_controller(&self, what: &str) -> Result<&ControllerSettings> {
        self.controller.as_ref().ok_or_else(|| {
            UsageError(format!(
                "[controller] is not set in {}: {what} needs the LINSTOR controller; add it with \
                 urls = [\"http://<controller>:3370\"] (see README \"Config reference\")",
                self.sources.describe()
            ))
            .into()
        })
    }

    /// `[xapi]` when it is there (a section with missing keys is a usage error).
    pub fn xapi(&self) -> Result<Option<&XapiSettings>> {
        match &self.xapi {
            Ok(x) => Ok(x.as_ref()),
            Err(message) => Err(UsageError(message.clone()).into()),
        }
    }

    /// `[xapi]`, or a usage error saying `what` needs it.
    pub fn require_xapi(&self, what: &str) -> Result<&XapiSettings> {
        self.xapi()?.ok_or_else(|| {
            UsageError(format!(
                "[xapi] is not set in {}: {what} needs the pool master's url, username and \
                 password_file (see README \"Config reference\")",
                self.sources.describe()
            ))
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};
    use input::load;

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
        let settings = Settings::load(&main, true).unwrap();
        assert_eq!(settings.repo().unwrap().baseurl, "file:///repo/");
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
        assert_eq!(
            loaded.config.packages.userland.as_deref(),
            Some(&["drbd-utils".to_string()][..])
        );

        // The fragment install --save-pins writes sorts last and wins per key.
        let pins = BTreeMap::from([
            ("kmod-drbd".to_owned(), "9.2.12".to_owned()),
            ("linstor-satellite".to_owned(), "1.29.2".to_owned()),
        ]);
        let path = Settings::load(&main, true).unwrap().sources.pin_fragment_path();
        assert_eq!(path, dir.path().join("agent.d/90-pool-upgrade.toml"));
        let saved = write_pin_fragment(&crate::host::Sysroot::live(), &path, &pins, "test").unwrap();
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
        assert!(
            !write_pin_fragment(&crate::host::Sysroot::live(), &path, &pins, "test")
                .unwrap()
                .changed
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("agent.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// The fuzz target's entry is the loader's own path: same settings, same errors.
    #[test]
    fn a_text_reads_as_the_same_file_would() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "[repo]\nbaseurl = \"file:///r/\"\ngpgkey = \"/k\"\n[storage]\ndevices = [\"auto\"]\n",
            "[repo]\nbaseurl = \"file:///r/\"\n\n[packages]\nkmodd = \"x\"\n",
            "[network]\nmtu = 12\n",
        ] {
            let main = write(dir.path(), "agent.toml", text);
            let (from_file, from_text) = (Settings::load(&main, true), Settings::from_text(text, &main));
            match (from_file, from_text) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.repo().unwrap(), b.repo().unwrap());
                    assert_eq!(a.storage, b.storage);
                    assert_eq!(a.sources.files, b.sources.files);
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{text}: {:?} / {:?}", a.err(), b.err()),
            }
        }
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
        let settings = Settings::load(&main, true).unwrap();
        let err = settings.repo().unwrap_err();
        assert!(err.to_string().contains("[repo] gpgkey"), "{err}");
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
    }

    #[test]
    fn max_metadata_age_is_checked_where_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "agent.toml",
            "[repo]\nbaseurl = \"file:///r/\"\ngpgkey = \"/k\"\n",
        );
        write(
            dir.path(),
            "agent.d/10-age.toml",
            "[repo]\nmax_metadata_age = \"12h\"\n",
        );
        let repo = Settings::load(&main, true).unwrap().repo().unwrap().clone();
        let age = repo.max_metadata_age.unwrap();
        assert_eq!(age.as_duration().as_secs(), 12 * 3600);
        assert_eq!(age.to_string(), "12h");

        for (bad, why) in [("\"7x\"", "no unit"), ("\"0d\"", "zero"), ("7", "invalid type")] {
            write(
                dir.path(),
                "agent.d/10-age.toml",
                &format!("# freeze attacks\n[repo]\nmax_metadata_age = {bad}\n"),
            );
            let err = Settings::load(&main, true).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("10-age.toml:3:"), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert_eq!(exit_code_for(&err), ExitCode::Usage);
        }
    }

    #[test]
    fn missing_named_config_is_a_usage_error() {
        let err = load(Path::new("/nonexistent/agent.toml"), true).unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
        assert!(load(Path::new("/nonexistent/agent.toml"), false).is_ok());
    }
}
