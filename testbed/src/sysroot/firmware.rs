//! A simulated UEFI firmware under a host root: the efivarfs files the agent reads to learn
//! whether the host boots with Secure Boot and which keys its kernel trusts, and the kernel's
//! built-in keys as RHEL-family kernel packages ship them.
//!
//! `<root>/sys/firmware/efi/efivars/<Name>-<GUID>` holds 4 attribute bytes (little-endian)
//! then the data (Linux `Documentation/filesystems/efivarfs.rst`). `db`, `dbx`, `MokListRT`
//! and `MokListXRT` are EFI signature lists (UEFI `EFI_SIGNATURE_LIST`), one list per
//! certificate here since their sizes differ.

use std::path::Path;

use anyhow::Result;

use crate::fsutil;

pub const GLOBAL_GUID: &str = "8be4df61-93ca-11d0-aa0d-00e098032b8c";
pub const SECURITY_DB_GUID: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
pub const SHIM_LOCK_GUID: &str = "605dab50-e046-4300-abb6-3dd810dd8b23";

/// `EFI_CERT_X509_GUID` (a5c059a1-94e4-4aa7-87b5-ab155c2bf072), first three fields
/// little-endian as `EFI_GUID` is stored.
const CERT_X509: [u8; 16] = [
    0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72,
];
/// The `SignatureOwner` of every entry: any GUID will do; this one spells "testbed".
const OWNER: [u8; 16] = *b"testbed-owner-01";

/// `EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS`, what the read-only
/// variables show; `| NON_VOLATILE | TIME_BASED_AUTHENTICATED_WRITE_ACCESS` for db and dbx.
const ATTR_RUNTIME: u32 = 0x06;
const ATTR_AUTHENTICATED: u32 = 0x27;

/// What the firmware and shim tell the kernel. `Firmware::default()` is a Secure Boot host
/// with no keys at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// `SecureBoot`; `None` leaves the variable out (an EFI boot without Secure Boot support).
    pub secure_boot: Option<bool>,
    /// `SetupMode` = 1.
    pub setup_mode: bool,
    /// shim's `MokSBStateRT` = 1 (`mokutil --disable-validation`).
    pub shim_validation_disabled: bool,
    /// DER certificates of `db`, `MokListRT` and `dbx`.
    pub db: Vec<Vec<u8>>,
    pub mok: Vec<Vec<u8>>,
    pub dbx: Vec<Vec<u8>>,
}

impl Default for Firmware {
    fn default() -> Self {
        Firmware {
            secure_boot: Some(true),
            setup_mode: false,
            shim_validation_disabled: false,
            db: Vec::new(),
            mok: Vec::new(),
            dbx: Vec::new(),
        }
    }
}

impl Firmware {
    /// Writes `<root>/sys/firmware/efi/efivars/` (replacing variables already there).
    pub fn write(&self, root: &Path) -> Result<()> {
        let dir = root.join("sys/firmware/efi/efivars");
        let var = |name: &str, guid: &str, attributes: u32, data: &[u8]| {
            let mut bytes = attributes.to_le_bytes().to_vec();
            bytes.extend(data);
            fsutil::write(&dir.join(format!("{name}-{guid}")), bytes)
        };
        std::fs::create_dir_all(&dir)?;
        if let Some(on) = self.secure_boot {
            var("SecureBoot", GLOBAL_GUID, ATTR_RUNTIME, &[u8::from(on)])?;
        }
        var(
            "SetupMode",
            GLOBAL_GUID,
            ATTR_RUNTIME,
            &[u8::from(self.setup_mode)],
        )?;
        if self.shim_validation_disabled {
            var("MokSBStateRT", SHIM_LOCK_GUID, ATTR_RUNTIME, &[1])?;
        }
        for (name, guid, attributes, certs) in [
            ("db", SECURITY_DB_GUID, ATTR_AUTHENTICATED, &self.db),
            ("dbx", SECURITY_DB_GUID, ATTR_AUTHENTICATED, &self.dbx),
            ("MokListRT", SHIM_LOCK_GUID, ATTR_RUNTIME, &self.mok),
        ] {
            if !certs.is_empty() {
                var(name, guid, attributes, &signature_lists(certs))?;
            }
        }
        Ok(())
    }
}

/// One `EFI_SIGNATURE_LIST` of type X.509 per certificate.
pub fn signature_lists(certs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for cert in certs {
        let entry_size = OWNER.len() + cert.len();
        let list_size = 16 + 4 + 4 + 4 + entry_size;
        out.extend(CERT_X509);
        out.extend((list_size as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((entry_size as u32).to_le_bytes());
        out.extend(OWNER);
        out.extend(cert);
    }
    out
}

/// `<root>/usr/share/doc/kernel-keys/<uname>/<name>`, each a DER certificate: the kernel's
/// built-in keys as RHEL-family kernel packages ship them (`kernel-signing-ca.cer`).
pub fn write_kernel_keys(root: &Path, uname: &str, certs: &[(&str, Vec<u8>)]) -> Result<()> {
    let dir = root.join("usr/share/doc/kernel-keys").join(uname);
    for (name, der) in certs {
        fsutil::write(&dir.join(name), der)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_carry_attributes_then_data() -> Result<()> {
        let root = tempfile::tempdir()?;
        Firmware {
            db: vec![b"cert-a".to_vec(), b"cert-bb".to_vec()],
            ..Firmware::default()
        }
        .write(root.path())?;
        let dir = root.path().join("sys/firmware/efi/efivars");
        assert_eq!(
            std::fs::read(dir.join(format!("SecureBoot-{GLOBAL_GUID}")))?,
            [6, 0, 0, 0, 1]
        );
        assert!(!dir.join(format!("MokListRT-{SHIM_LOCK_GUID}")).exists());
        let db = std::fs::read(dir.join(format!("db-{SECURITY_DB_GUID}")))?;
        // Two lists of 28 + 16 + len bytes each, after the attributes word.
        assert_eq!(db.len(), 4 + (28 + 16 + 6) + (28 + 16 + 7));
        assert_eq!(&db[4..20], &CERT_X509);
        assert_eq!(u32::from_le_bytes(db[20..24].try_into()?), 50);
        assert!(db.ends_with(b"cert-bb"));
        Ok(())
    }
}
