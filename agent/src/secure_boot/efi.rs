//! UEFI variables as efivarfs shows them, and the EFI signature lists that `db`, `dbx` and
//! shim's `MokListRT` hold (docs/design-notes.md "Secure Boot (issue 14, point 10)").
//!
//! efivarfs (Linux `Documentation/filesystems/efivarfs.rst`): the file
//! `/sys/firmware/efi/efivars/<Name>-<vendor GUID>` is the variable's 4 attribute bytes
//! (little-endian) followed by its data.
//!
//! An EFI signature list (UEFI 2.x §32.4.1, `EFI_SIGNATURE_LIST`; parsed by Linux
//! `security/integrity/platform_certs/efi_parser.c`) is a run of lists, each: `SignatureType`
//! (GUID, 16 bytes), `SignatureListSize`, `SignatureHeaderSize`, `SignatureSize` (u32
//! little-endian each), a header of `SignatureHeaderSize` bytes, then entries of
//! `SignatureSize` bytes: `SignatureOwner` (GUID, 16 bytes) and the signature data.

use crate::bounds;
use crate::host::{Sysroot, rootfs};
use anyhow::{Result, bail};
use std::io;
use std::path::PathBuf;

/// Where the kernel shows the UEFI variables.
pub const EFIVARS_DIR: &str = "/sys/firmware/efi/efivars";
/// `EFI_GLOBAL_VARIABLE`: `SecureBoot`, `SetupMode`.
pub const GLOBAL_GUID: &str = "8be4df61-93ca-11d0-aa0d-00e098032b8c";
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`: `db`, `dbx`.
pub const SECURITY_DB_GUID: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/// `EFI_SHIM_LOCK_GUID`: shim's runtime copies `MokListRT`, `MokListXRT`, `MokSBStateRT`,
/// `MokIgnoreDB`.
pub const SHIM_LOCK_GUID: &str = "605dab50-e046-4300-abb6-3dd810dd8b23";

/// A variable larger than this is not one the firmware could hold: NVRAM stores are tens to a
/// few hundred kB (the largest real variable, `dbx`, is some 30 kB).
pub const VARIABLE_LIMIT: u64 = 4 * 1024 * 1024;

/// The attributes word in front of every efivarfs file.
const ATTRIBUTES_LEN: usize = 4;

/// `EFI_CERT_X509_GUID` (a5c059a1-94e4-4aa7-87b5-ab155c2bf072) as the firmware stores it: the
/// first three fields little-endian.
pub const CERT_X509: [u8; 16] = [
    0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72,
];
/// `EFI_CERT_X509_SHA256_GUID` (3bd2a492-96c0-4079-b420-fcf98ef103ed): the SHA-256 of a
/// certificate's TBSCertificate, then a 16-byte revocation time (dbx).
pub const CERT_X509_SHA256: [u8; 16] = [
    0x92, 0xa4, 0xd2, 0x3b, 0xc0, 0x96, 0x79, 0x40, 0xb4, 0x20, 0xfc, 0xf9, 0x8e, 0xf1, 0x03, 0xed,
];

/// One variable's file under the root's efivars directory.
pub fn variable_path(name: &str, guid: &str) -> PathBuf {
    PathBuf::from(format!("{EFIVARS_DIR}/{name}-{guid}"))
}

/// A variable's data (the attributes word dropped), `None` when it does not exist. Read through
/// the root (links followed inside it) and never past [`VARIABLE_LIMIT`].
pub fn read_variable(sysroot: &Sysroot, name: &str, guid: &str) -> io::Result<Option<Vec<u8>>> {
    let host_path = variable_path(name, guid);
    let real = rootfs::real_path(sysroot, &host_path)?;
    let bytes = match bounds::read_file_capped(&real, VARIABLE_LIMIT) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(bounds::Exceeded)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is larger than {}: not a UEFI variable",
                    real.display(),
                    bounds::show_size(VARIABLE_LIMIT)
                ),
            ));
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if bytes.len() < ATTRIBUTES_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has {} bytes: an efivarfs file starts with 4 bytes of attributes",
                real.display(),
                bytes.len()
            ),
        ));
    }
    Ok(Some(bytes[ATTRIBUTES_LEN..].to_vec()))
}

/// One entry of a signature list: its list's type and the entry's data (owner GUID dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub kind: [u8; 16],
    pub data: &'a [u8],
}

/// The fixed part of `EFI_SIGNATURE_LIST`: type GUID and three u32 sizes.
const LIST_HEADER_LEN: usize = 16 + 4 + 4 + 4;
/// `SignatureOwner`, in front of each entry's data.
const OWNER_LEN: usize = 16;

/// Every entry of every list in `data`, checked as Linux's `parse_efi_signature_list` checks
/// them: a size that overruns the data, a list shorter than its header, entries that do not
/// tile the list exactly, or an entry too short for its owner is an error (the whole variable
/// is then not trusted: the kernel loads nothing from it either).
pub fn parse_signature_lists(mut data: &[u8]) -> Result<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    let mut offset = 0usize;
    while !data.is_empty() {
        if data.len() < LIST_HEADER_LEN {
            bail!(
                "a signature list at offset {offset} is cut short ({} bytes left)",
                data.len()
            );
        }
        let mut kind = [0u8; 16];
        kind.copy_from_slice(&data[..16]);
        let list_size = le_u32(&data[16..20]);
        let header_size = le_u32(&data[20..24]);
        let entry_size = le_u32(&data[24..28]);
        if list_size > data.len() {
            bail!(
                "the signature list at offset {offset} says it has {list_size} bytes, but {} are left",
                data.len()
            );
        }
        let body = list_size
            .checked_sub(LIST_HEADER_LEN)
            .and_then(|rest| rest.checked_sub(header_size));
        let Some(body) = body else {
            bail!("the signature list at offset {offset} is shorter than its own header");
        };
        if entry_size < OWNER_LEN || body < entry_size || body % entry_size != 0 {
            bail!(
                "the signature list at offset {offset} has entries of {entry_size} bytes that do not fill its \
                 {body} bytes"
            );
        }
        let start = LIST_HEADER_LEN + header_size;
        for entry in data[start..list_size].chunks_exact(entry_size) {
            entries.push(Entry {
                kind,
                data: &entry[OWNER_LEN..],
            });
        }
        data = &data[list_size..];
        offset += list_size;
    }
    Ok(entries)
}

fn le_u32(bytes: &[u8]) -> usize {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `EFI_SIGNATURE_LIST` of `entries` (each `SignatureSize` bytes of data), owner 0x11…
    fn list(kind: [u8; 16], header: &[u8], entries: &[&[u8]]) -> Vec<u8> {
        let entry_size = OWNER_LEN + entries.first().map_or(0, |e| e.len());
        let size = LIST_HEADER_LEN + header.len() + entry_size * entries.len();
        let mut out = kind.to_vec();
        out.extend((size as u32).to_le_bytes());
        out.extend((header.len() as u32).to_le_bytes());
        out.extend((entry_size as u32).to_le_bytes());
        out.extend(header);
        for e in entries {
            out.extend([0x11; OWNER_LEN]);
            out.extend(*e);
        }
        out
    }

    /// The GUID's text form and the bytes above agree (mixed-endian, as `EFI_GUID` is laid out).
    #[test]
    fn guid_constants_are_the_uefi_guids() {
        fn text(bytes: &[u8; 16]) -> String {
            let le = |r: std::ops::Range<usize>| {
                bytes[r]
                    .iter()
                    .rev()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
            let be =
                |r: std::ops::Range<usize>| bytes[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
            format!(
                "{}-{}-{}-{}-{}",
                le(0..4),
                le(4..6),
                le(6..8),
                be(8..10),
                be(10..16)
            )
        }
        assert_eq!(text(&CERT_X509), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
        assert_eq!(text(&CERT_X509_SHA256), "3bd2a492-96c0-4079-b420-fcf98ef103ed");
    }

    #[test]
    fn lists_of_several_types_and_entries_parse() {
        let mut data = list(CERT_X509, &[], &[b"cert-one", b"cert-two"]);
        data.extend(list([7; 16], b"hdr", &[&[0xaa; 48]]));
        let entries = parse_signature_lists(&data).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            Entry {
                kind: CERT_X509,
                data: b"cert-one"
            }
        );
        assert_eq!(entries[1].data, b"cert-two");
        assert_eq!(entries[2].kind, [7; 16]);
        assert_eq!(entries[2].data, &[0xaa; 48]);
        assert!(parse_signature_lists(&[]).unwrap().is_empty());
    }

    #[test]
    fn damaged_lists_are_errors_not_panics() {
        let good = list(CERT_X509, &[], &[b"cert-one"]);
        // Cut anywhere: an error, never a panic or a partial list taken as whole.
        for cut in 1..good.len() {
            assert!(parse_signature_lists(&good[..cut]).is_err(), "cut at {cut}");
        }
        let with_size = |field: usize, value: u32| {
            let mut bad = good.clone();
            bad[field..field + 4].copy_from_slice(&value.to_le_bytes());
            bad
        };
        for (what, bad) in [
            ("list larger than the data", with_size(16, 1000)),
            ("list smaller than its header", with_size(16, 10)),
            ("header larger than the list", with_size(20, 0xffff_ffff)),
            ("entry shorter than its owner", with_size(24, 8)),
            ("entries that do not tile", with_size(24, 23)),
            ("zero-sized entries", with_size(24, 0)),
        ] {
            assert!(parse_signature_lists(&bad).is_err(), "{what}");
        }
    }

    #[test]
    fn variables_are_read_without_their_attributes() {
        let root = tempfile::tempdir().unwrap();
        let sysroot = Sysroot::new(root.path());
        assert_eq!(read_variable(&sysroot, "SecureBoot", GLOBAL_GUID).unwrap(), None);
        let dir = root.path().join("sys/firmware/efi/efivars");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("SecureBoot-{GLOBAL_GUID}")), [6, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            read_variable(&sysroot, "SecureBoot", GLOBAL_GUID).unwrap(),
            Some(vec![1])
        );
        std::fs::write(dir.join(format!("SetupMode-{GLOBAL_GUID}")), [6, 0]).unwrap();
        assert!(read_variable(&sysroot, "SetupMode", GLOBAL_GUID).is_err());
    }
}
