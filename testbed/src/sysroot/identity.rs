//! The files that say which host a sysroot is: os-release, hostname, machine-id and
//! XCP-ng's `/etc/xensource-inventory`.
//!
//! Contents follow XCP-ng 8.3: `os-release` is xcp-ng-release's template filled from the
//! 8.3 branding (PRODUCT_NAME=xenenterprise, PRODUCT_VERSION=8.3.0, PLATFORM_VERSION=3.4.0);
//! the inventory has the keys XCP-ng's installer writes. UUIDs and ids are derived from
//! the host name, so a host rebuilt under the same name is the same host.

use std::path::Path;

use crate::{fsutil, ids};
use anyhow::Result;

pub const PRODUCT_VERSION: &str = "8.3.0";

/// `/etc/os-release` exactly as XCP-ng 8.3 ships it.
pub const OS_RELEASE: &str = r#"NAME="XCP-ng"
VERSION="8.3.0"
ID="xenenterprise"
ID_LIKE="centos rhel fedora"
VERSION_ID="8.3.0"
PRETTY_NAME="XCP-ng 8.3.0"
ANSI_COLOR="0;31"
HOME_URL="http://xenserver.org/"
BUG_REPORT_URL="https://bugs.xenserver.org/"
"#;

/// `/etc/centos-release` (`redhat-release` and `system-release` are symlinks to it).
pub const CENTOS_RELEASE: &str = "XCP-ng release 8.3.0 (xenenterprise)\n";

/// The ids a host gets from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub installation_uuid: String,
    pub control_domain_uuid: String,
    /// 32 hex digits, as in `/etc/machine-id` (and in BLS entry file names).
    pub machine_id: String,
    /// The root filesystem's label, `root-xxxxxx` as XCP-ng's installer makes them.
    pub root_label: String,
}

impl Identity {
    pub fn for_host(name: &str) -> Identity {
        let label: String = digest(name, "root-label")
            .iter()
            .take(6)
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        Identity {
            installation_uuid: uuid(name, "installation"),
            control_domain_uuid: uuid(name, "control-domain"),
            machine_id: hex::encode(&digest(name, "machine-id")[..16]),
            root_label: format!("root-{label}"),
        }
    }
}

fn digest(name: &str, purpose: &str) -> [u8; 32] {
    ids::digest(&[ids::HOST, name, purpose])
}

fn uuid(name: &str, purpose: &str) -> String {
    ids::uuid(&[ids::HOST, name, purpose])
}

/// `/etc/xensource-inventory`, in the shape XCP-ng's installer writes it.
pub fn inventory(name: &str, id: &Identity) -> String {
    let disk = format!(
        "/dev/disk/by-id/scsi-3600{}",
        &hex::encode(digest(name, "primary-disk"))[..25]
    );
    let entries = [
        ("PRIMARY_DISK", disk.clone()),
        ("PRODUCT_VERSION", PRODUCT_VERSION.to_owned()),
        ("DOM0_VCPUS", "4".to_owned()),
        ("CONTROL_DOMAIN_UUID", id.control_domain_uuid.clone()),
        ("DOM0_MEM", "4096".to_owned()),
        ("COMPANY_NAME_SHORT", "Vates, XenServer, and others".to_owned()),
        ("MANAGEMENT_ADDRESS_TYPE", "IPv4".to_owned()),
        ("PARTITION_LAYOUT", "ROOT,BACKUP,LOG,BOOT,SWAP,SR".to_owned()),
        ("PRODUCT_VERSION_TEXT", "8.3".to_owned()),
        ("PRODUCT_BRAND", "XCP-ng".to_owned()),
        ("INSTALLATION_UUID", id.installation_uuid.clone()),
        ("PRODUCT_VERSION_TEXT_SHORT", "8.3".to_owned()),
        ("BRAND_CONSOLE", "Xen Orchestra".to_owned()),
        ("PRODUCT_NAME", "xenenterprise".to_owned()),
        ("MANAGEMENT_INTERFACE", "xenbr0".to_owned()),
        ("COMPANY_PRODUCT_BRAND", "XCP-ng".to_owned()),
        ("PLATFORM_VERSION", "3.4.0".to_owned()),
        ("BUILD_NUMBER", PRODUCT_VERSION.to_owned()),
        ("PLATFORM_NAME", "XCP".to_owned()),
        ("BRAND_CONSOLE_URL", "https://xcp-ng.org".to_owned()),
        ("BACKUP_PARTITION", format!("{disk}-part2")),
        ("INSTALLATION_DATE", "2024-10-01 12:00:00.000000".to_owned()),
        ("COMPANY_NAME", "Vates, XenServer, and others".to_owned()),
    ];
    entries.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect()
}

/// Writes the identity files under `root`.
pub fn write(root: &Path, name: &str, id: &Identity) -> Result<()> {
    let etc = root.join("etc");
    fsutil::write(&etc.join("os-release"), OS_RELEASE)?;
    fsutil::write(&etc.join("centos-release"), CENTOS_RELEASE)?;
    for link in ["redhat-release", "system-release"] {
        let path = etc.join(link);
        std::os::unix::fs::symlink("centos-release", &path)
            .map_err(|e| anyhow::anyhow!("cannot create symlink {}: {e}", path.display()))?;
    }
    fsutil::write(&etc.join("hostname"), format!("{name}\n"))?;
    fsutil::write(&etc.join("machine-id"), format!("{}\n", id.machine_id))?;
    fsutil::write(&etc.join("xensource-inventory"), inventory(name, id))
}

/// Host names become hostnames, LINSTOR node names and directory names: keep them to
/// what all three accept.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        anyhow::bail!(
            "host name {name:?} is not a valid hostname label (letters, digits and inner '-', \
             at most 63 characters)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = Identity::for_host("xcp1");
        assert_eq!(a, Identity::for_host("xcp1"));
        let b = Identity::for_host("xcp2");
        assert_ne!(a.installation_uuid, b.installation_uuid);
        assert_ne!(a.installation_uuid, a.control_domain_uuid);
        assert_eq!(a.installation_uuid.len(), 36);
        assert_eq!(a.installation_uuid.as_bytes()[14], b'4');
        assert_eq!(a.machine_id.len(), 32);
        assert!(a.root_label.starts_with("root-") && a.root_label.len() == 11);
    }

    #[test]
    fn inventory_has_the_keys_the_agent_reads() {
        let id = Identity::for_host("xcp1");
        let inv = inventory("xcp1", &id);
        assert!(inv.contains(&format!("INSTALLATION_UUID='{}'\n", id.installation_uuid)));
        assert!(inv.contains(&format!("CONTROL_DOMAIN_UUID='{}'\n", id.control_domain_uuid)));
        assert!(inv.contains("MANAGEMENT_INTERFACE='xenbr0'\n"));
        assert!(inv.contains("MANAGEMENT_ADDRESS_TYPE='IPv4'\n"));
        assert!(inv.contains("PRODUCT_VERSION='8.3.0'\n"));
        assert!(inv.contains("BUILD_NUMBER='8.3.0'\n"));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("xcp-ng-1").is_ok());
        for bad in ["", "-a", "a-", "a b", "a/b", "a.b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
