//! Checking a downloaded RPM with the `rpm` crate: header and payload digests, and an OpenPGP
//! header signature by the configured key.
//!
//! The package is never loaded whole, nor read twice. [`RpmScanner`] is fed the file's bytes
//! as they are downloaded (or read back from the cache), beside the whole-file sha256: it keeps
//! the bytes before the payload (the lead and both headers, whose extent two 16-byte header
//! intros give) and hands back everything after them, which the caller hashes (see
//! [`super::scan`]). Nothing is parsed then: only once the whole
//! file's sha256 has matched the signed metadata does [`verify_rpm`] hand those few kB to
//! `rpm::PackageMetadata::parse`, check the header digests and signatures, and compare the
//! payload hash with the header's payload digest.
//!
//! `Package::verify_signature` would collapse everything into one error ("no matching key
//! found", "digest mismatch…"); the operator needs to know *which* situation they are in, so
//! this reads the detailed `check_signatures` report and tells apart: a corrupt file, an
//! unsigned package, a package signed by someone else, and a bad signature by our own key.

use super::key::RepoKey;
use rpm::{DigestReport, DigestStatus, IndexTag, PackageMetadata, SignatureCheckResult};
use sha2::{Digest, Sha512};
use std::io::{self, Read, Seek};
use std::path::Path;

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

/// Takes an RPM's bytes, in order: keeps its headers, and says which bytes are its payload
/// (for the caller to hash with sha256, the algorithm of `PAYLOADDIGEST`).
pub(crate) struct RpmScanner {
    /// The bytes before the payload (lead and both headers).
    head: Vec<u8>,
    /// Where the payload starts, once the header intros have told.
    payload_start: Option<u64>,
    /// File offset of the next byte [`RpmScanner::update`] receives.
    offset: u64,
    /// The header intros are not an RPM's: the rest is ignored.
    problem: Option<String>,
}

/// What [`RpmScanner`] collected, for [`verify_rpm`].
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct RpmScan {
    head: Vec<u8>,
    /// Why `head` is not a complete set of RPM headers, if it is not.
    problem: Option<String>,
    payload_start: u64,
    /// Lower-case hex sha256 of everything after the headers.
    payload_sha256: String,
}

impl Default for RpmScanner {
    fn default() -> Self {
        RpmScanner {
            head: Vec::with_capacity(64 * 1024),
            payload_start: None,
            offset: 0,
            problem: None,
        }
    }
}

impl RpmScanner {
    /// The next bytes of the file; returns those of them that are payload. Once the headers
    /// turn out not to be an RPM's, nothing more is payload.
    pub(crate) fn update<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        while !bytes.is_empty() && self.problem.is_none() {
            // Take just what is needed to learn the next size, then the rest of the headers.
            let target = match self.payload_start {
                Some(start) if self.offset >= start => {
                    self.offset += bytes.len() as u64;
                    return bytes;
                }
                Some(start) => start,
                None => match headers_size(&self.head) {
                    Ok(Size::Known(start)) => {
                        self.payload_start = Some(start);
                        continue;
                    }
                    Ok(Size::AtLeast(needed)) => needed,
                    Err(problem) => {
                        self.problem = Some(problem);
                        return &[];
                    }
                },
            };
            let take = bytes.len().min((target - self.offset) as usize);
            self.head.extend_from_slice(&bytes[..take]);
            self.offset += take as u64;
            bytes = &bytes[take..];
        }
        &[]
    }

    /// What was collected, with the sha256 of every byte [`RpmScanner::update`] called payload
    /// (lower-case hex).
    pub(crate) fn finish(mut self, payload_sha256: String) -> RpmScan {
        if self.payload_start.is_none() && self.problem.is_none() {
            // Headers that end exactly where the file does are complete all the same.
            if let Ok(Size::Known(start)) = headers_size(&self.head) {
                self.payload_start = Some(start);
            }
        }
        let problem = match self.payload_start {
            _ if self.problem.is_some() => self.problem,
            Some(start) if self.offset >= start => None,
            _ => Some("the file ends inside its headers".into()),
        };
        RpmScan {
            payload_start: self.payload_start.unwrap_or(0),
            head: self.head,
            problem,
            payload_sha256,
        }
    }
}

impl RpmScan {
    /// Parses the headers (only call this on a file whose sha256 matched the metadata: the
    /// parser is not written for hostile input). `Err` says why the file is not a readable RPM.
    fn parse(&self) -> Result<PackageMetadata, String> {
        let mut input = self.head.as_slice();
        // `rpm` 0.30 panics on some damaged indexes (an offset past the data) instead of
        // returning an error; a damaged package must be refused, not crash the agent.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PackageMetadata::parse(&mut input)
        }));
        match (parsed, &self.problem) {
            // The parser's own words when it sees the problem too (a lead that is not an
            // RPM's, or a file cut short), as when it read the file itself.
            (Ok(Err(e)), _) => Err(e.to_string()),
            (Err(_), _) => Err("the RPM headers are damaged (their index points outside them)".into()),
            (Ok(Ok(_)), Some(problem)) => Err(problem.clone()),
            (Ok(Ok(_)), None) if !input.is_empty() => Err(format!(
                "its headers take {} bytes, not the {} their index announces",
                self.head.len() - input.len(),
                self.head.len()
            )),
            (Ok(Ok(metadata)), None) => Ok(metadata),
        }
    }
}

/// sha512 of the payload of the package at `path` (a second read, for the rare package whose
/// only payload digest is `PAYLOAD_SHA512`).
fn payload_sha512(path: &Path, payload_start: u64) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    file.seek(io::SeekFrom::Start(payload_start))?;
    let mut hasher = Sha512::new();
    let mut buf = vec![0; 1024 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hex::encode(hasher.finalize())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
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
        Ok(Some(
            HEADER_INTRO as u64 + 16 * u64::from(entries) + u64::from(data),
        ))
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

/// Verifies a package from its scan (see [`RpmScanner`]) against `key`. `path` is the file
/// that was scanned, and its sha256 has matched the metadata.
///
/// A package without a payload digest (built by rpm < 4.14) passes when its header signature
/// is good: its payload was already checked against the metadata's sha256 by the caller.
pub(crate) fn verify_rpm(
    scan: &RpmScan,
    path: &Path,
    key: &RepoKey,
    nevra: &str,
    url: &str,
) -> Result<(), PackageCheckError> {
    let nevra = nevra.to_string();
    let url = url.to_string();
    let unreadable = |cause: String| PackageCheckError::Unreadable {
        nevra: nevra.clone(),
        url: url.clone(),
        cause,
    };
    let metadata = scan.parse().map_err(unreadable)?;
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
    let mismatch = match header_mismatch(&report.digests) {
        Some(mismatch) => Some(mismatch),
        None => payload_mismatch(scan, path, &metadata)
            .map_err(|e| unreadable(format!("cannot read it back: {e}")))?,
    };
    if let Some((which, expected, actual)) = mismatch {
        return Err(PackageCheckError::DigestMismatch {
            nevra,
            url,
            which,
            expected,
            actual,
        });
    }
    signature_verdict(&report.signatures, key, nevra, url)
}

/// A digest that does not match: which one (`header`, `payload`), what the header says, and
/// what the content hashes to.
type Mismatch = (&'static str, String, String);

fn header_mismatch(d: &DigestReport) -> Option<Mismatch> {
    let header = [&d.header_sha256, &d.header_sha1, &d.header_sha3_256];
    header.into_iter().find_map(|status| match status {
        DigestStatus::Mismatch { expected, actual } => Some(("header", expected.clone(), actual.clone())),
        _ => None,
    })
}

/// One payload digest, and the payload was hashed once, as it was read. PAYLOADDIGESTALT is
/// left alone on purpose: it is the digest of the *uncompressed* archive, so comparing it with
/// the stored bytes would call every compressed package corrupt. `Err` when the payload cannot
/// be read back for its sha512.
fn payload_mismatch(scan: &RpmScan, path: &Path, metadata: &PackageMetadata) -> io::Result<Option<Mismatch>> {
    let declared = |tag| metadata.header.get_entry_data_as_string(tag).ok();
    let (expected, actual) = if let Some(expected) = declared(IndexTag::RPMTAG_PAYLOADSHA256) {
        (expected, scan.payload_sha256.clone())
    } else if let Some(expected) = declared(IndexTag::RPMTAG_PAYLOAD_SHA512) {
        (expected, payload_sha512(path, scan.payload_start)?)
    } else {
        return Ok(None);
    };
    Ok((expected != actual).then(|| ("payload", expected.to_string(), actual)))
}

/// Whether one of the signatures verifies with `key`; if not, why: none at all, only by
/// another key, or a bad one by ours.
fn signature_verdict(
    signatures: &[SignatureCheckResult],
    key: &RepoKey,
    nevra: String,
    url: String,
) -> Result<(), PackageCheckError> {
    if signatures.is_empty() {
        return Err(PackageCheckError::Unsigned {
            nevra,
            url,
            key: key.path().display().to_string(),
            fingerprint: key.fingerprint(),
        });
    }
    if signatures.iter().any(|s| s.is_verified()) {
        return Ok(());
    }
    // Signed, but not verifiably by us: by another key, or a bad signature by ours.
    let signers: Vec<String> = signatures
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
    let cause = signatures
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sha2::Sha256;

    /// An unsigned RPM, assembled from its parts, with `size` bytes of payload and (unless
    /// `digest` is false) its payload digest. The signature header's data is not a multiple of
    /// 8 bytes, so it is padded.
    pub(crate) fn package(size: usize, digest: bool) -> Vec<u8> {
        use rpm::{Header, HeaderEntry, IndexData, IndexSignatureTag};
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let payload: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let string = |tag: IndexTag, text: &str| HeaderEntry {
            tag: tag as u32,
            data: IndexData::StringTag(text.into()),
        };
        let mut entries = vec![
            string(IndexTag::RPMTAG_NAME, "scan-test"),
            string(IndexTag::RPMTAG_VERSION, "1.0"),
            string(IndexTag::RPMTAG_RELEASE, "1"),
        ];
        if digest {
            entries.push(HeaderEntry {
                tag: IndexTag::RPMTAG_PAYLOADSHA256 as u32,
                data: IndexData::StringArray(vec![hex::encode(Sha256::digest(&payload))]),
            });
        }
        let signature = Header::from_entries(
            [HeaderEntry {
                tag: IndexSignatureTag::RPMSIGTAG_SHA256 as u32,
                data: IndexData::StringTag("ab".repeat(32)),
            }],
            IndexSignatureTag::HEADER_SIGNATURES,
        );
        // A v3 binary lead (only its constructor needs a crate feature the agent leaves off),
        // and two empty headers, to start from.
        let mut skeleton = vec![0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 0, 0, 1];
        skeleton.extend_from_slice(&[0; 66]);
        skeleton.extend_from_slice(&[0, 1, 0, 5]);
        skeleton.extend_from_slice(&[0; 16]);
        for _ in 0..2 {
            skeleton.extend_from_slice(&[0x8e, 0xad, 0xe8, 1]);
            skeleton.extend_from_slice(&[0; 12]);
        }
        let mut metadata = PackageMetadata::parse(&mut skeleton.as_slice()).unwrap();
        metadata.signature = signature;
        metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
        let mut bytes = Vec::new();
        metadata.write(&mut bytes).unwrap();
        let signature_data = u32::from_be_bytes(bytes[108..112].try_into().unwrap());
        assert_ne!(signature_data % 8, 0, "the signature header is padded");
        bytes.extend_from_slice(&payload);
        bytes
    }

    fn scan(bytes: &[u8], step: usize) -> RpmScan {
        let mut scanner = RpmScanner::default();
        let mut payload = Sha256::new();
        for chunk in bytes.chunks(step) {
            payload.update(scanner.update(chunk));
        }
        scanner.finish(hex::encode(payload.finalize()))
    }

    fn declared_sha256(metadata: &PackageMetadata) -> &str {
        metadata
            .header
            .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADSHA256)
            .unwrap()
    }

    #[test]
    fn headers_and_payload_digest_are_read_from_any_split() {
        let bytes = package(300_000, true);
        let expected = PackageMetadata::parse(&mut bytes.as_slice()).unwrap();
        let payload_start = expected.get_package_segment_offsets().payload;
        let payload_sha256 = hex::encode(Sha256::digest(&bytes[payload_start as usize..]));
        assert_eq!(declared_sha256(&expected), payload_sha256);
        for step in [1, 3, 13, 96, 112, 4096, 65536, bytes.len()] {
            let scanned = scan(&bytes, step);
            assert_eq!(scanned.problem, None, "step {step}");
            assert_eq!(scanned.payload_start, payload_start, "step {step}");
            assert_eq!(scanned.parse().unwrap(), expected, "step {step}");
            assert_eq!(scanned.payload_sha256, payload_sha256, "step {step}");
        }

        // Without a payload digest, the headers are still read.
        let metadata = scan(&package(5000, false), 7).parse().unwrap();
        assert!(
            metadata
                .header
                .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADSHA256)
                .is_err()
        );

        // A damaged payload (or one cut short) hashes to something else.
        let mut damaged = bytes.clone();
        damaged[payload_start as usize + 1000] ^= 0x55;
        for bytes in [&damaged[..], &bytes[..bytes.len() - 1]] {
            let scanned = scan(bytes, 4096);
            assert_ne!(declared_sha256(&scanned.parse().unwrap()), scanned.payload_sha256);
        }
    }

    #[test]
    fn what_is_not_an_rpm_says_why() {
        let bytes = package(1000, true);
        let payload_start = PackageMetadata::parse(&mut bytes.as_slice())
            .unwrap()
            .get_package_segment_offsets()
            .payload as usize;
        let html = b"<html><body>404 Not Found</body></html>".repeat(10);
        // The lead is not an RPM's: the parser says so, whatever follows.
        let mut bad_lead = bytes.clone();
        bad_lead[0] ^= 0xff;
        // A header whose magic is wrong.
        let mut bad_header = bytes.clone();
        bad_header[96] ^= 0xff;
        // An index entry whose data offset is far past the data (`rpm` 0.30 panics on it).
        let mut bad_index = bytes.clone();
        bad_index[120] = 0x20;
        for (what, bytes) in [
            ("html", &html[..]),
            ("empty", &[][..]),
            ("cut in the lead", &bytes[..50]),
            ("cut in the headers", &bytes[..payload_start - 1]),
            ("bad lead", &bad_lead[..]),
            ("bad header magic", &bad_header[..]),
            ("bad index", &bad_index[..]),
        ] {
            for step in [1, 7, 4096] {
                let Err(cause) = scan(bytes, step).parse() else {
                    panic!("{what}, step {step}: read as an RPM");
                };
                assert!(!cause.is_empty(), "{what}");
            }
        }
        // The parser's words for a lead that is not an RPM's, as when it read the whole file.
        assert_eq!(
            scan(&html, 4096).parse().unwrap_err(),
            PackageMetadata::parse(&mut html.as_slice())
                .unwrap_err()
                .to_string()
        );
        // Headers that end exactly with the file are complete.
        let scanned = scan(&bytes[..payload_start], 4096);
        assert_eq!(scanned.problem, None);
        assert_eq!(scanned.payload_sha256, hex::encode(Sha256::digest(b"")));
    }
}
