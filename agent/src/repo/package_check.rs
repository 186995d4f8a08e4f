//! Checking a downloaded RPM with the `rpm` crate: header and payload digests, and an OpenPGP
//! header signature by the configured key.
//!
//! The package is never loaded whole. [`RpmScanner`] is fed the file's bytes as they are
//! downloaded (or read back from the cache), in the same pass as the metadata sha256: it keeps
//! the first bytes until the lead, the signature header and the main header are complete,
//! parses them with `rpm::PackageMetadata::parse`, and from then on only hashes the payload.
//! [`verify_rpm`] then checks the header digests and signatures (a few kB) and compares that
//! one payload hash with the header's payload digest.
//!
//! `Package::verify_signature` would collapse everything into one error ("no matching key
//! found", "digest mismatch…"); the operator needs to know *which* situation they are in, so
//! this reads the detailed `check_signatures` report and tells apart: a corrupt file, an
//! unsigned package, a package signed by someone else, and a bad signature by our own key.

use super::key::RepoKey;
use rpm::{DigestStatus, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256, Sha512};

/// The lead: a fixed 96 bytes, ignored by rpm itself.
const LEAD_SIZE: usize = 96;
/// Magic, version, 4 reserved bytes, the entry count and the data size of a header.
const HEADER_INTRO: usize = 16;
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// librpm refuses headers whose data is larger than 256 MiB (`hdrchkData`); so do we, instead
/// of buffering whatever size a damaged header claims.
const MAX_HEADERS_SIZE: u64 = 256 * 1024 * 1024;

/// Why a package was refused. Every message names the package NEVRA and its URL.
#[derive(Debug, thiserror::Error)]
pub enum PackageCheckError {
    #[error("{nevra} ({url}) is not a readable RPM ({cause}): the file is corrupt or not an RPM")]
    Unreadable {
        nevra: String,
        url: String,
        cause: String,
    },
    #[error(
        "{nevra} ({url}): {which} digest mismatch: the file is corrupt or tampered with (the header says \
         {expected}, the content hashes to {actual}); do not install it, and tell the repository owner"
    )]
    DigestMismatch {
        nevra: String,
        url: String,
        which: &'static str,
        expected: String,
        actual: String,
    },
    #[error(
        "{nevra} ({url}) is not signed: every package must carry a signature by [repo] gpgkey {key} \
         (fingerprint {fingerprint}); ask the repository owner to sign it with `rpmsign --addsign`"
    )]
    Unsigned {
        nevra: String,
        url: String,
        key: String,
        fingerprint: String,
    },
    #[error(
        "{nevra} ({url}) is signed by key {signer}, not by the configured key {fingerprint} ({key}): the \
         package does not come from the repository you trust; do not install it, or fix [repo] gpgkey if the \
         repository changed its key"
    )]
    WrongKey {
        nevra: String,
        url: String,
        signer: String,
        key: String,
        fingerprint: String,
    },
    #[error(
        "{nevra} ({url}): the signature by the configured key {fingerprint} does not verify ({cause}): the \
         package header is corrupt or tampered with; do not install it"
    )]
    BadSignature {
        nevra: String,
        url: String,
        fingerprint: String,
        cause: String,
    },
}

/// Reads an RPM from its bytes, in order, without keeping more than its headers.
pub(crate) struct RpmScanner {
    /// The bytes before the payload (lead and both headers), while they are collected.
    head: Vec<u8>,
    stage: Stage,
    /// File offset of the next byte [`RpmScanner::update`] receives.
    offset: u64,
}

enum Stage {
    /// Collecting the headers; the payload starts at this offset once it is known.
    Head { payload_start: Option<u64> },
    /// Headers parsed; hashing the payload.
    Payload {
        metadata: Box<PackageMetadata>,
        hasher: PayloadHasher,
    },
    /// The start is not an RPM (or not one we can read); the rest is ignored.
    Unreadable(String),
}

/// The one payload digest that is checked, chosen from what the header declares.
enum PayloadHasher {
    /// `PAYLOADDIGEST` (rpm ≥ 4.14; also written by rpm 6): sha256 of the payload as stored.
    Sha256 { hasher: Sha256, expected: String },
    /// `PAYLOAD_SHA512` (v6 packages), only used when `PAYLOADDIGEST` is missing.
    Sha512 { hasher: Sha512, expected: String },
    /// No payload digest (rpm < 4.14): the metadata sha256 is what covers the payload.
    Absent,
}

/// What [`RpmScanner`] learnt: the parsed headers and the payload digest, or why the file is
/// not a readable RPM.
pub(crate) struct RpmScan(Result<(Box<PackageMetadata>, Option<PayloadDigest>), String>);

pub(crate) struct PayloadDigest {
    expected: String,
    actual: String,
}

impl Default for RpmScanner {
    fn default() -> Self {
        RpmScanner {
            head: Vec::with_capacity(64 * 1024),
            stage: Stage::Head { payload_start: None },
            offset: 0,
        }
    }
}

impl RpmScanner {
    /// The next bytes of the file.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.stage {
                Stage::Payload { hasher, .. } => {
                    hasher.update(bytes);
                    self.offset += bytes.len() as u64;
                    return;
                }
                Stage::Unreadable(_) => return,
                Stage::Head { payload_start } => {
                    // Take just what is needed to learn the next size, then the rest of the headers.
                    let target = match *payload_start {
                        Some(start) => start,
                        None => match headers_size(&self.head) {
                            Ok(Size::Known(start)) => {
                                *payload_start = Some(start);
                                start
                            }
                            Ok(Size::AtLeast(needed)) => needed,
                            Err(cause) => {
                                // The parser's own words when it sees the problem too (a
                                // lead that is not an RPM's, say).
                                let cause = match PackageMetadata::parse(&mut self.head.as_slice()) {
                                    Err(e) => e.to_string(),
                                    Ok(_) => cause,
                                };
                                self.stage = Stage::Unreadable(cause);
                                return;
                            }
                        },
                    };
                    let take = bytes.len().min((target - self.offset) as usize);
                    self.head.extend_from_slice(&bytes[..take]);
                    self.offset += take as u64;
                    bytes = &bytes[take..];
                    if payload_start.is_some() && self.offset == target {
                        self.stage = self.parse_head();
                        // Only the payload follows: the copy of the headers is no longer needed.
                        self.head = Vec::new();
                    }
                }
            }
        }
    }

    /// Parses the complete headers in `head` and prepares the payload hash.
    fn parse_head(&self) -> Stage {
        let mut input = self.head.as_slice();
        let metadata = match PackageMetadata::parse(&mut input) {
            Ok(metadata) => metadata,
            Err(e) => return Stage::Unreadable(e.to_string()),
        };
        if !input.is_empty() {
            return Stage::Unreadable(format!(
                "its headers take {} bytes, not the {} their index announces",
                self.head.len() - input.len(),
                self.head.len()
            ));
        }
        let tag = |tag| metadata.header.get_entry_data_as_string(tag).ok().map(str::to_owned);
        // One digest, hashed once. PAYLOADDIGESTALT is left alone on purpose: it is the digest
        // of the *uncompressed* archive, so comparing it with the stored bytes would call every
        // compressed package corrupt.
        let hasher = if let Some(expected) = tag(IndexTag::RPMTAG_PAYLOADSHA256) {
            PayloadHasher::Sha256 {
                hasher: Sha256::new(),
                expected,
            }
        } else if let Some(expected) = tag(IndexTag::RPMTAG_PAYLOAD_SHA512) {
            PayloadHasher::Sha512 {
                hasher: Sha512::new(),
                expected,
            }
        } else {
            PayloadHasher::Absent
        };
        Stage::Payload {
            metadata: Box::new(metadata),
            hasher,
        }
    }

    pub(crate) fn finish(self) -> RpmScan {
        RpmScan(match self.stage {
            Stage::Payload { metadata, hasher } => Ok((metadata, hasher.finish())),
            Stage::Unreadable(cause) => Err(cause),
            // The file ended inside the headers: let the parser say how.
            Stage::Head { .. } => Err(match PackageMetadata::parse(&mut self.head.as_slice()) {
                Err(e) => e.to_string(),
                Ok(_) => "the file ends before its payload".into(),
            }),
        })
    }
}

impl PayloadHasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            PayloadHasher::Sha256 { hasher, .. } => hasher.update(bytes),
            PayloadHasher::Sha512 { hasher, .. } => hasher.update(bytes),
            PayloadHasher::Absent => {}
        }
    }

    fn finish(self) -> Option<PayloadDigest> {
        let (expected, actual) = match self {
            PayloadHasher::Sha256 { hasher, expected } => (expected, hex::encode(hasher.finalize())),
            PayloadHasher::Sha512 { hasher, expected } => (expected, hex::encode(hasher.finalize())),
            PayloadHasher::Absent => return None,
        };
        Some(PayloadDigest { expected, actual })
    }
}

/// How far the lead and both headers reach, as far as the first bytes tell.
enum Size {
    /// Where the payload starts.
    Known(u64),
    /// The first bytes are needed up to here to tell.
    AtLeast(u64),
}

/// Where the payload starts, once `head` holds enough of the headers to tell; `Err` when they
/// cannot be an RPM's.
fn headers_size(head: &[u8]) -> Result<Size, String> {
    // The size of the header starting at `at` (intro, index and data), once its intro is in.
    let header_at = |at: u64| -> Result<Option<u64>, String> {
        let Some(intro) = head.get(at as usize..at as usize + HEADER_INTRO) else {
            return Ok(None);
        };
        if intro[..3] != HEADER_MAGIC {
            return Err(format!("no RPM header magic at byte {at}"));
        }
        let entries = u32::from_be_bytes(intro[8..12].try_into().expect("4 bytes"));
        let data = u32::from_be_bytes(intro[12..16].try_into().expect("4 bytes"));
        Ok(Some(HEADER_INTRO as u64 + 16 * u64::from(entries) + u64::from(data)))
    };
    let signature_at = LEAD_SIZE as u64;
    let Some(signature) = header_at(signature_at)? else {
        return Ok(Size::AtLeast(signature_at + HEADER_INTRO as u64));
    };
    // The signature header is padded to a multiple of 8 bytes.
    let main_at = (signature_at + signature).next_multiple_of(8);
    if main_at > MAX_HEADERS_SIZE {
        return Err(format!("its signature header claims {signature} bytes"));
    }
    let Some(main) = header_at(main_at)? else {
        return Ok(Size::AtLeast(main_at + HEADER_INTRO as u64));
    };
    let end = main_at + main;
    if end > MAX_HEADERS_SIZE {
        return Err(format!("its headers claim {end} bytes"));
    }
    Ok(Size::Known(end))
}

/// Verifies a package from its scan (see [`RpmScanner`]) against `key`.
///
/// A package without a payload digest (built by rpm < 4.14) passes when its header signature
/// is good: its payload was already checked against the metadata's sha256 by the caller.
pub(crate) fn verify_rpm(
    scan: &RpmScan,
    key: &RepoKey,
    nevra: &str,
    url: &str,
) -> Result<(), PackageCheckError> {
    let nevra = nevra.to_string();
    let url = url.to_string();
    let (metadata, payload) = scan.0.as_ref().map_err(|cause| PackageCheckError::Unreadable {
        nevra: nevra.clone(),
        url: url.clone(),
        cause: cause.clone(),
    })?;
    // The header digests and signatures only: the payload was hashed while it was read.
    let report =
        metadata
            .check_signatures(key.rpm_verifier())
            .map_err(|e| PackageCheckError::BadSignature {
                nevra: nevra.clone(),
                url: url.clone(),
                fingerprint: key.fingerprint(),
                cause: e.to_string(),
            })?;

    // Corruption first: a flipped byte must read as "corrupt", whatever the signature says.
    let d = &report.digests;
    let header = [&d.header_sha256, &d.header_sha1, &d.header_sha3_256];
    if let Some((expected, actual)) = header.into_iter().find_map(mismatch) {
        return Err(PackageCheckError::DigestMismatch {
            nevra,
            url,
            which: "header",
            expected,
            actual,
        });
    }
    if let Some(PayloadDigest { expected, actual }) = payload
        && expected != actual
    {
        return Err(PackageCheckError::DigestMismatch {
            nevra,
            url,
            which: "payload",
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }

    if report.signatures.is_empty() {
        return Err(PackageCheckError::Unsigned {
            nevra,
            url,
            key: key.path().display().to_string(),
            fingerprint: key.fingerprint(),
        });
    }
    if report.signatures.iter().any(|s| s.is_verified()) {
        return Ok(());
    }
    // Signed, but not verifiably by us: by another key, or a bad signature by ours.
    let signers: Vec<String> = report
        .signatures
        .iter()
        .filter_map(|s| s.info.fingerprint().or(s.info.key_id()))
        .map(str::to_ascii_uppercase)
        .collect();
    if !signers.is_empty() && !signers.iter().any(|s| key.owns(s)) {
        return Err(PackageCheckError::WrongKey {
            nevra,
            url,
            signer: signers.join(", "),
            key: key.path().display().to_string(),
            fingerprint: key.fingerprint(),
        });
    }
    let cause = report
        .signatures
        .iter()
        .find_map(|s| s.error.as_ref())
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no verifiable signature".into());
    Err(PackageCheckError::BadSignature {
        nevra,
        url,
        fingerprint: key.fingerprint(),
        cause,
    })
}

fn mismatch(status: &DigestStatus) -> Option<(String, String)> {
    match status {
        DigestStatus::Mismatch { expected, actual } => Some((expected.clone(), actual.clone())),
        _ => None,
    }
}
