//! The keys a kernel trusts for module signatures: the firmware's `db` (the platform keyring),
//! shim's MOK list (`MokListRT`), and the kernel's own built-in keys, minus what `dbx` and
//! `MokListXRT` revoke (Linux `security/integrity/platform_certs/load_uefi.c` and
//! `keyring_handler.c`; docs/design-notes.md "Secure Boot (issue 14, point 10)").
//!
//! Built-in keys are compiled into the kernel image; RHEL-family kernel packages also ship them
//! as `/usr/share/doc/kernel-keys/<kernel>/*.cer` (`<kernel>` is `uname -r`, or without its
//! `.<arch>` on EL8), which is where the agent reads them. A kernel without that directory
//! (XCP-ng's) contributes no built-in key: its modules must then be signed by a db or MOK key.

use super::efi::{self, CERT_X509, CERT_X509_SHA256, SECURITY_DB_GUID, SHIM_LOCK_GUID};
use crate::bounds;
use crate::host::{Sysroot, rootfs};
use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::name::Name;

/// A kernel ships one or two signing certificates; more files than this in its directory are
/// not read (and said so).
const MAX_KERNEL_KEY_FILES: usize = 64;
/// The `subjectKeyIdentifier` extension.
const SUBJECT_KEY_ID: &str = "2.5.29.14";

/// Which keyring a trusted key is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keyring {
    /// The firmware's `db` (the kernel's platform keyring).
    Db,
    /// Shim's Machine Owner Keys (`MokListRT`).
    Mok,
    /// Built into this kernel (its `kernel-keys` file).
    Builtin,
}

impl fmt::Display for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Keyring::Db => "db",
            Keyring::Mok => "MOK",
            Keyring::Builtin => "built-in",
        })
    }
}

/// One certificate a kernel trusts, with what matching a module's signer needs.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub keyring: Keyring,
    /// Where it came from: the variable or file.
    pub origin: String,
    /// The subject's common name (else the whole subject).
    pub subject: String,
    /// Serial number, `5B:7A:…` as `modinfo` prints `sig_key`.
    pub serial: String,
    pub issuer_der: Vec<u8>,
    pub serial_bytes: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub certificate: Certificate,
    /// SHA-256 of the certificate's DER and of its TBSCertificate (what dbx entries name).
    der_sha256: [u8; 32],
    tbs_sha256: [u8; 32],
}

impl TrustedKey {
    pub fn from_der(der: &[u8], keyring: Keyring, origin: String) -> Result<TrustedKey> {
        let certificate =
            Certificate::from_der(der).context("not an X.509 certificate the agent can read")?;
        let tbs = &certificate.tbs_certificate;
        let subject_key_id = tbs.extensions.iter().flatten().find_map(|ext| {
            (ext.extn_id.to_string() == SUBJECT_KEY_ID).then(|| {
                // The extension's value is itself a DER OCTET STRING.
                x509_cert::der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
                    .map(|o| o.as_bytes().to_vec())
                    .ok()
            })?
        });
        let tbs_der = tbs.to_der().context("re-encoding the certificate")?;
        Ok(TrustedKey {
            keyring,
            origin,
            subject: common_name(&tbs.subject),
            serial: tbs.serial_number.to_string(),
            issuer_der: tbs
                .issuer
                .to_der()
                .context("re-encoding the certificate's issuer")?,
            serial_bytes: tbs.serial_number.as_bytes().to_vec(),
            subject_key_id,
            der_sha256: Sha256::digest(der).into(),
            tbs_sha256: Sha256::digest(&tbs_der).into(),
            certificate,
        })
    }

    /// `db key "Name" (db entry 1)`, for messages (the serial is in the signer's name).
    pub fn describe(&self) -> String {
        format!("{} key \"{}\" ({})", self.keyring, self.subject, self.origin)
    }
}

/// A name's common name, else its RFC 4514 string.
pub fn common_name(name: &Name) -> String {
    let cn = name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        (atv.oid == x509_cert::der::oid::db::rfc4519::CN)
            .then(|| atv.to_string())
            .and_then(|s| s.strip_prefix("CN=").map(str::to_owned))
    });
    cn.unwrap_or_else(|| name.to_string())
}

/// What `dbx` and `MokListXRT` revoke: certificates, and TBSCertificate hashes.
#[derive(Debug, Clone, Default)]
pub struct Revoked {
    certificates: Vec<[u8; 32]>,
    tbs_hashes: Vec<[u8; 32]>,
}

impl Revoked {
    pub fn contains(&self, key: &TrustedKey) -> bool {
        self.certificates.contains(&key.der_sha256) || self.tbs_hashes.contains(&key.tbs_sha256)
    }
}

/// The host-wide keys: the firmware's and shim's.
#[derive(Debug, Clone, Default)]
pub struct FirmwareKeys {
    pub db: Vec<TrustedKey>,
    pub mok: Vec<TrustedKey>,
    pub revoked: Revoked,
    /// What was passed over, and why (an unreadable entry, `MokIgnoreDB`).
    pub notes: Vec<String>,
}

/// Reads db, MokListRT, dbx and MokListXRT from the root's efivars.
pub fn firmware_keys(sysroot: &Sysroot) -> Result<FirmwareKeys> {
    let mut keys = FirmwareKeys::default();
    // shim sets MokIgnoreDB when told not to trust db; the kernel then skips it too.
    if efi_variable(sysroot, "MokIgnoreDB", SHIM_LOCK_GUID)?.is_some() {
        keys.notes
            .push("db is not used: shim's MokIgnoreDB is set".into());
    } else {
        keys.db = certificates(sysroot, "db", SECURITY_DB_GUID, Keyring::Db, &mut keys.notes)?;
    }
    keys.mok = certificates(
        sysroot,
        "MokListRT",
        SHIM_LOCK_GUID,
        Keyring::Mok,
        &mut keys.notes,
    )?;
    for (name, guid) in [("dbx", SECURITY_DB_GUID), ("MokListXRT", SHIM_LOCK_GUID)] {
        let Some(data) = efi_variable(sysroot, name, guid)? else {
            continue;
        };
        for entry in lists(name, guid, &data)? {
            if entry.kind == CERT_X509 {
                keys.revoked.certificates.push(Sha256::digest(entry.data).into());
            } else if entry.kind == CERT_X509_SHA256 && entry.data.len() >= 32 {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&entry.data[..32]);
                keys.revoked.tbs_hashes.push(hash);
            }
        }
    }
    Ok(keys)
}

fn efi_variable(sysroot: &Sysroot, name: &str, guid: &str) -> Result<Option<Vec<u8>>> {
    efi::read_variable(sysroot, name, guid).with_context(|| {
        format!(
            "cannot read the UEFI variable {}",
            efi::variable_path(name, guid).display()
        )
    })
}

fn lists<'a>(name: &str, guid: &str, data: &'a [u8]) -> Result<Vec<efi::Entry<'a>>> {
    efi::parse_signature_lists(data).with_context(|| {
        format!(
            "{} is not a valid EFI signature list",
            efi::variable_path(name, guid).display()
        )
    })
}

/// The X.509 certificates of one signature-list variable; an entry that is not a readable
/// certificate is skipped with a note (the kernel logs and skips it too).
fn certificates(
    sysroot: &Sysroot,
    name: &str,
    guid: &str,
    keyring: Keyring,
    notes: &mut Vec<String>,
) -> Result<Vec<TrustedKey>> {
    let Some(data) = efi_variable(sysroot, name, guid)? else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for (i, entry) in lists(name, guid, &data)?
        .into_iter()
        .filter(|e| e.kind == CERT_X509)
        .enumerate()
    {
        match TrustedKey::from_der(entry.data, keyring.clone(), format!("{name} entry {}", i + 1)) {
            Ok(key) => keys.push(key),
            Err(e) => notes.push(format!("{name} entry {} skipped: {e:#}", i + 1)),
        }
    }
    Ok(keys)
}

/// The directory of `uname`'s built-in keys, if the kernel package ships one: `uname` as is
/// (EL9 and later), else without its `.<arch>` suffix (EL8 names it by version-release).
pub fn kernel_keys_dir(sysroot: &Sysroot, uname: &str) -> Option<PathBuf> {
    let base = Path::new("/usr/share/doc/kernel-keys");
    let mut names = vec![uname.to_owned()];
    if let Some((without_arch, _)) = uname.rsplit_once('.') {
        names.push(without_arch.to_owned());
    }
    names
        .into_iter()
        .map(|n| base.join(n))
        .find(|dir| rootfs::real_path(sysroot, dir).is_ok_and(|p| p.is_dir()))
}

/// The built-in keys of kernel `uname`: every `*.cer` (DER, or PEM) in its `kernel-keys`
/// directory; none when it has no such directory.
pub fn builtin_keys(sysroot: &Sysroot, uname: &str, notes: &mut Vec<String>) -> Result<Vec<TrustedKey>> {
    let Some(dir) = kernel_keys_dir(sysroot, uname) else {
        return Ok(Vec::new());
    };
    let real = rootfs::real_path(sysroot, &dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&real)
        .with_context(|| format!("cannot list {}", real.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "cer" || x == "crt" || x == "pem")
        })
        .collect();
    files.sort();
    if files.len() > MAX_KERNEL_KEY_FILES {
        notes.push(format!(
            "{}: only the first {MAX_KERNEL_KEY_FILES} of {} certificate files were read",
            dir.display(),
            files.len()
        ));
        files.truncate(MAX_KERNEL_KEY_FILES);
    }
    let mut keys = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let host_file = dir.join(&name);
        let bytes = match bounds::read_file_capped(&file, bounds::CONFIG_FILE_LIMIT) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(bounds::Exceeded)) => {
                notes.push(format!(
                    "{} skipped: larger than a certificate",
                    host_file.display()
                ));
                continue;
            }
            Err(e) => return Err(anyhow!("cannot read {}: {e}", host_file.display())),
        };
        let der = pem_to_der(&bytes).unwrap_or(bytes);
        match TrustedKey::from_der(&der, Keyring::Builtin, format!("{}", host_file.display())) {
            Ok(key) => keys.push(key),
            Err(e) => notes.push(format!("{} skipped: {e:#}", host_file.display())),
        }
    }
    Ok(keys)
}

/// The DER inside a PEM `CERTIFICATE` block, if `bytes` is one.
fn pem_to_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = text[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64_decode(&b64)
}

/// Standard base64 with padding (what PEM uses).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_pem_decodes() {
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9vYmE=").unwrap(), b"fooba");
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zm9v!").is_none());
        let pem = b"-----BEGIN CERTIFICATE-----\nZm9v\nYmFy\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(pem).unwrap(), b"foobar");
        assert!(pem_to_der(b"\x30\x82binary").is_none());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x01", &[0xff; 64]] {
            assert!(TrustedKey::from_der(bytes, Keyring::Db, "test".into()).is_err());
        }
    }

    #[test]
    fn kernel_keys_are_found_with_or_without_the_arch() {
        let root = tempfile::tempdir().unwrap();
        let sysroot = Sysroot::new(root.path());
        assert!(kernel_keys_dir(&sysroot, "4.18.0-553.el8_10.x86_64").is_none());
        std::fs::create_dir_all(root.path().join("usr/share/doc/kernel-keys/4.18.0-553.el8_10")).unwrap();
        assert_eq!(
            kernel_keys_dir(&sysroot, "4.18.0-553.el8_10.x86_64").unwrap(),
            Path::new("/usr/share/doc/kernel-keys/4.18.0-553.el8_10")
        );
        // A directory with a file that is not a certificate: a note, not a failure.
        std::fs::write(
            root.path()
                .join("usr/share/doc/kernel-keys/4.18.0-553.el8_10/junk.cer"),
            b"not a certificate",
        )
        .unwrap();
        let mut notes = Vec::new();
        assert!(
            builtin_keys(&sysroot, "4.18.0-553.el8_10.x86_64", &mut notes)
                .unwrap()
                .is_empty()
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
