//! Settings, the zincati way: config fragments ([`input`]) → one merged input → validated,
//! typed settings per step, built once when the command starts. Steps receive these, never the
//! TOML: a bad value is a usage error (exit 2) naming the file(s) and key before anything runs.
//!
//! What a command may do without is kept as "not set" rather than refused at start: `facts`
//! needs no `[repo]`, `storage` no `[controller]`. The accessors ([`Settings::repo`],
//! [`Settings::require_controller`], [`Settings::require_xapi`]) turn a missing section or key
//! into the same usage error, naming the files to edit, for the commands that need it.

pub mod input;
pub mod pins;

use crate::error::UsageError;
use crate::network::nic::{self, Cidr};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use input::DEFAULT_CONFIG;
pub use pins::{POOL_UPGRADE_FRAGMENT, SavedPins, write_pin_fragment};

/// Where the settings came from: the files applied, in order, and the main file (whether or
/// not it exists: `agent.d/` is beside it).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<PathBuf>,
    pub main: PathBuf,
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
}

/// `[packages]`: the DRBD module package, the userland, and pins (package → version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesSettings {
    pub kmod: String,
    pub userland: Vec<String>,
    pub pin: BTreeMap<String, String>,
}

impl Default for PackagesSettings {
    fn default() -> Self {
        let input = input::PackagesConfig::default();
        PackagesSettings {
            kmod: input.kmod,
            userland: input.userland,
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

/// `[network]`: everything optional; the storage address and MTU checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
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
}

impl Settings {
    /// Loads `path` and its fragments and validates them. A missing main file is an error only
    /// when `required` (named with `--config`).
    pub fn load(path: &Path, required: bool) -> Result<Settings> {
        let loaded = input::load(path, required)?;
        Settings::from_input(
            loaded.config,
            Sources {
                files: loaded.files,
                main: loaded.main,
            },
        )
    }

    /// Validates a merged input.
    pub fn from_input(config: input::Config, sources: Sources) -> Result<Settings> {
        let files = sources.describe();
        Ok(Settings {
            repo: repo(&config.repo, &files)?,
            packages: PackagesSettings {
                kmod: config.packages.kmod,
                userland: config.packages.userland,
                pin: config.packages.pin,
            },
            storage: storage(config.storage, &files)?,
            network: network(config.network.unwrap_or_default())?,
            controller: config.controller.map(|c| controller(c, &files)).transpose()?,
            xapi: xapi(config.xapi, &files)?,
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

fn not_set(section: &str, key: &str, files: &str) -> String {
    format!("[{section}] {key} is not set in {files}: add it (see README \"Config reference\")")
}

/// `[repo]`: a bad fingerprint is refused now; a missing key only when the repository is used.
fn repo(input: &input::RepoConfig, files: &str) -> Result<Result<RepoSettings, String>> {
    let fingerprint = match &input.fingerprint {
        None => None,
        Some(pin) => {
            let normalised: String = pin
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_uppercase();
            if normalised.len() < 16 || !normalised.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(UsageError(format!(
                    "[repo] fingerprint {pin:?} in {files} is not a hex key fingerprint: use the 40 \
                     hex digits `gpg --show-keys` prints"
                ))
                .into());
            }
            Some(normalised)
        }
    };
    let Some(baseurl) = input.baseurl.clone() else {
        return Ok(Err(not_set("repo", "baseurl", files)));
    };
    let Some(gpgkey) = input.gpgkey.clone() else {
        return Ok(Err(not_set("repo", "gpgkey", files)));
    };
    Ok(Ok(RepoSettings {
        baseurl,
        gpgkey,
        fingerprint,
    }))
}

/// `[storage]`: no section or no devices is a diskless host; names follow LVM's rules.
fn storage(input: Option<input::StorageConfig>, files: &str) -> Result<StorageSettings> {
    let Some(input) = input.filter(|s| !s.devices.is_empty()) else {
        return Ok(StorageSettings::Diskless);
    };
    check_lvm_name("volume_group", &input.volume_group, files)?;
    if let Some(pool) = &input.thin_pool {
        check_lvm_name("thin_pool", pool, files)?;
    }
    if input.devices.iter().any(|d| d == "auto") && input.devices.len() > 1 {
        return Err(UsageError(format!(
            "[storage] devices in {files} mixes \"auto\" with disks: use either [\"auto\"] or a list of disks"
        ))
        .into());
    }
    Ok(StorageSettings::Disks(DiskSettings {
        devices: input.devices,
        volume_group: input.volume_group,
        thin_pool: input.thin_pool,
    }))
}

/// LVM's naming rules for volume groups and logical volumes.
fn check_lvm_name(key: &str, name: &str, files: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && !name.starts_with('-')
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c));
    if !ok {
        return Err(UsageError(format!(
            "[storage] {key} = {name:?} in {files} is not a valid LVM name: use letters, digits and \
             + _ . - (not starting with -)"
        ))
        .into());
    }
    Ok(())
}

fn network(input: input::NetworkConfig) -> Result<NetworkSettings> {
    let storage_address = input
        .storage_address
        .as_deref()
        .map(nic::parse_address)
        .transpose()?;
    if let Some(mtu) = input.mtu {
        nic::check_mtu(mtu)?;
    }
    Ok(NetworkSettings {
        storage_interface: input.storage_interface,
        storage_address,
        mtu: input.mtu,
        peers: input.peers,
        sysctl: input.sysctl,
    })
}

fn controller(input: input::ControllerConfig, files: &str) -> Result<ControllerSettings> {
    let node_type = match input.node_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("combined") => NodeType::Combined,
        Some("satellite") => NodeType::Satellite,
        Some(other) => {
            return Err(UsageError(format!(
                "[controller] node_type = {other:?} in {files}: use \"combined\" (the XCP-ng default) \
                 or \"satellite\""
            ))
            .into());
        }
    };
    let address = match &input.address {
        None => None,
        Some(a) => Some(a.trim().parse().map_err(|_| {
            UsageError(format!(
                "[controller] address = {a:?} in {files}: give the management IP address (e.g. \"10.0.0.11\")"
            ))
        })?),
    };
    let identity = match (input.cert_file, input.key_file) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(UsageError(
                "[controller] cert_file and key_file go together: give both (the client \
                 certificate and its private key, PEM) or neither"
                    .into(),
            )
            .into());
        }
    };
    for url in &input.urls {
        let parsed = url::Url::parse(url)
            .map_err(|e| UsageError(format!("[controller] urls: {url:?} in {files} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UsageError(format!(
                "[controller] urls: {url:?} in {files}: use http:// or https://"
            ))
            .into());
        }
    }
    Ok(ControllerSettings {
        urls: input
            .urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        node_type,
        node_name: input
            .node_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        address,
        ca_file: input.ca_file,
        identity,
    })
}

/// `[xapi]`: a malformed value is refused now; a missing key when XAPI is used.
fn xapi(input: Option<input::XapiConfig>, files: &str) -> Result<Result<Option<XapiSettings>, String>> {
    let Some(input) = input else {
        return Ok(Ok(None));
    };
    let fingerprint = input
        .fingerprint
        .as_deref()
        .map(crate::xapi::tls::parse_fingerprint)
        .transpose()?;
    if let Some(url) = &input.url {
        let parsed = url::Url::parse(url)
            .map_err(|e| UsageError(format!("[xapi] url {url:?} in {files} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UsageError(format!(
                "[xapi] url {url:?} in {files}: use https:// (or http://)"
            ))
            .into());
        }
    }
    let missing = [
        ("url", input.url.is_none()),
        ("username", input.username.is_none()),
        ("password_file", input.password_file.is_none()),
    ]
    .into_iter()
    .find(|(_, absent)| *absent);
    if let Some((key, _)) = missing {
        return Ok(Err(not_set("xapi", key, files)));
    }
    Ok(Ok(Some(XapiSettings {
        url: input.url.unwrap_or_default(),
        username: input.username.unwrap_or_default(),
        password_file: input.password_file.unwrap_or_default(),
        ca_file: input.ca_file,
        fingerprint,
    })))
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
        assert_eq!(loaded.config.packages.userland, ["drbd-utils"]);

        // The fragment install --save-pins writes sorts last and wins per key.
        let pins = BTreeMap::from([
            ("kmod-drbd".to_owned(), "9.2.12".to_owned()),
            ("linstor-satellite".to_owned(), "1.29.2".to_owned()),
        ]);
        let path = Settings::load(&main, true).unwrap().sources.pin_fragment_path();
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
        let settings = Settings::load(&main, true).unwrap();
        let err = settings.repo().unwrap_err();
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

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};

    fn settings(text: &str) -> Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("agent.toml");
        std::fs::write(&main, text).unwrap();
        Settings::load(&main, true)
    }

    #[test]
    fn sections_become_typed_settings() {
        let s = settings(
            "[storage]\ndevices = [\"/dev/sdb\"]\nthin_pool = \"thin_device\"\n\
             [network]\nstorage_address = \"10.0.0.11/24\"\nmtu = 9000\n\
             [controller]\nurls = [\"http://c:3370/\"]\nnode_type = \"Satellite\"\n",
        )
        .unwrap();
        let StorageSettings::Disks(disks) = &s.storage else {
            panic!("diskful: {:?}", s.storage)
        };
        assert_eq!(disks.volume_group, "linstor_group");
        assert_eq!(disks.thin_pool.as_deref(), Some("thin_device"));
        assert_eq!(s.network.storage_address.unwrap().prefix, 24);
        let c = s.controller.as_ref().unwrap();
        assert_eq!(c.urls, ["http://c:3370"]);
        assert_eq!(c.node_type, NodeType::Satellite);
        assert!(settings("").unwrap().storage.is_diskless());
        assert!(
            settings("[storage]\ndevices = []\n")
                .unwrap()
                .storage
                .is_diskless()
        );
    }

    #[test]
    fn bad_values_are_usage_errors_at_load_naming_the_key() {
        for (text, expect) in [
            (
                "[storage]\ndevices = [\"/dev/sdb\"]\nvolume_group = \"-x\"\n",
                "[storage] volume_group",
            ),
            (
                "[storage]\ndevices = [\"auto\", \"/dev/sdb\"]\n",
                "mixes \"auto\"",
            ),
            ("[network]\nmtu = 20\n", "[network] mtu"),
            (
                "[network]\nstorage_address = \"10.0.0.1\"\n",
                "[network] storage_address",
            ),
            ("[controller]\nnode_type = \"boss\"\n", "node_type"),
            ("[controller]\ncert_file = \"/c\"\n", "go together"),
            ("[controller]\nurls = [\"ftp://x\"]\n", "http:// or https://"),
            ("[repo]\nfingerprint = \"xyz\"\n", "[repo] fingerprint"),
            ("[xapi]\nurl = \"not a url\"\n", "[xapi] url"),
        ] {
            let err = settings(text).unwrap_err();
            assert!(err.to_string().contains(expect), "{text}: {err}");
            assert_eq!(exit_code_for(&err), ExitCode::Usage, "{text}");
        }
    }

    #[test]
    fn missing_sections_are_refused_only_where_needed() {
        let s = settings("[xapi]\nurl = \"https://m\"\n").unwrap();
        let err = s.xapi().unwrap_err();
        assert!(err.to_string().contains("[xapi] username"), "{err}");
        let err = s.require_controller("register").unwrap_err();
        assert!(err.to_string().contains("register needs"), "{err}");
        assert!(settings("").unwrap().require_xapi("pool upgrade").is_err());
    }
}
