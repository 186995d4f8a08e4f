//! Each section of the merged input checked and typed: a bad value is a usage error naming
//! the file(s) and key; a missing key of `[repo]` or `[xapi]` is kept as the message to give
//! when a command needs that section.

use super::input;
use super::{
    ControllerSettings, DiskSettings, FirewallSource, NetworkSettings, NodeType, RepoSettings,
    StorageSettings, XapiSettings,
};
use crate::cidr::Cidr;
use crate::error::UsageError;
use anyhow::Result;

/// The message for a key a section needs and does not have.
fn not_set(section: &str, key: &str, files: &str) -> String {
    format!("[{section}] {key} is not set in {files}: add it (see README \"Config reference\")")
}

/// `[repo]`: a bad fingerprint is refused now; a missing key only when the repository is used.
pub(super) fn repo(input: &input::RepoConfig, files: &str) -> Result<Result<RepoSettings, String>> {
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
    let timeout = input.timeout.unwrap_or(RepoSettings::DEFAULT_TIMEOUT_SECS);
    if !(1..=RepoSettings::MAX_TIMEOUT_SECS).contains(&timeout) {
        return Err(UsageError(format!(
            "[repo] timeout = {timeout} in {files} is out of range: give the seconds a download may \
             wait for data, 1 to {} (default {})",
            RepoSettings::MAX_TIMEOUT_SECS,
            RepoSettings::DEFAULT_TIMEOUT_SECS
        ))
        .into());
    }
    let Some(baseurl) = input.baseurl.clone() else {
        return Ok(Err(not_set("repo", "baseurl", files)));
    };
    let Some(gpgkey) = input.gpgkey.clone() else {
        return Ok(Err(not_set("repo", "gpgkey", files)));
    };
    Ok(Ok(RepoSettings {
        minrate: input.minrate.unwrap_or(RepoSettings::DEFAULT_MINRATE),
        timeout: std::time::Duration::from_secs(timeout),
        max_metadata_age: input.max_metadata_age.clone(),
        ..RepoSettings::new(baseurl, gpgkey, fingerprint)
    }))
}

/// `[storage]`: no section or no devices is a diskless host; names follow LVM's rules.
pub(super) fn storage(input: Option<input::StorageConfig>, files: &str) -> Result<StorageSettings> {
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

/// `[network]`: the storage address parsed, the MTU in range.
pub(super) fn network(input: input::NetworkConfig) -> Result<NetworkSettings> {
    let storage_address = input.storage_address.as_deref().map(parse_address).transpose()?;
    if let Some(mtu) = input.mtu {
        check_mtu(mtu)?;
    }
    let firewall_sources = input
        .firewall_sources
        .iter()
        .map(|s| firewall_source(s))
        .collect::<Result<Vec<_>>>()?;
    if firewall_sources.contains(&FirewallSource::Storage) && storage_address.is_none() {
        return Err(UsageError(
            "[network] firewall_sources names \"storage\" but storage_address is not set: set it, or \
             list the storage network as a CIDR"
                .into(),
        )
        .into());
    }
    Ok(NetworkSettings {
        firewall_sources,
        storage_interface: input.storage_interface,
        storage_address,
        mtu: input.mtu,
        peers: input.peers,
        sysctl: input.sysctl,
    })
}

fn firewall_source(text: &str) -> Result<FirewallSource> {
    match text.trim() {
        "storage" => Ok(FirewallSource::Storage),
        "management" => Ok(FirewallSource::Management),
        other => Cidr::parse(other).map(FirewallSource::Network).map_err(|e| {
            UsageError(format!(
                "[network] firewall_sources: {e}; use \"storage\", \"management\" or a network such as \"10.0.0.0/24\""
            ))
            .into()
        }),
    }
}

/// `[controller]`: node type, address, client identity and URLs checked.
pub(super) fn controller(input: input::ControllerConfig, files: &str) -> Result<ControllerSettings> {
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
pub(super) fn xapi(
    input: Option<input::XapiConfig>,
    files: &str,
) -> Result<Result<Option<XapiSettings>, String>> {
    let Some(input) = input else {
        return Ok(Ok(None));
    };
    let fingerprint = input.fingerprint.as_deref().map(parse_fingerprint).transpose()?;
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

fn parse_address(text: &str) -> Result<Cidr> {
    Cidr::parse(text).map_err(|e| UsageError(format!("[network] storage_address: {e}")).into())
}

fn check_mtu(mtu: u32) -> Result<()> {
    if !(68..=65535).contains(&mtu) {
        return Err(UsageError(format!(
            "[network] mtu = {mtu} is not an MTU Ethernet carries (68 to 65535; jumbo frames are 9000)"
        ))
        .into());
    }
    Ok(())
}

/// Parses `sha256:AB:CD…` (or bare hex) into the 32 digest bytes.
pub fn parse_fingerprint(pin: &str) -> Result<[u8; 32]> {
    let bad = || -> anyhow::Error {
        UsageError(format!(
            "[xapi] fingerprint {pin:?} is not a sha256 certificate fingerprint: use \"sha256:\" and the 64 hex digits \
             `openssl x509 -noout -fingerprint -sha256 -in CERT` prints"
        ))
        .into()
    };
    let body = pin.trim();
    let body = body
        .strip_prefix("sha256:")
        .or_else(|| body.strip_prefix("SHA256:"))
        .unwrap_or(body);
    let hex_digits: String = body.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let bytes = hex::decode(&hex_digits).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::super::*;
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
