//! Checking a downloaded RPM with the `rpm` crate: header and payload digests, and an OpenPGP
//! header signature by the configured key.
//!
//! `Package::verify_signature` would collapse everything into one error ("no matching key
//! found", "digest mismatch…"); the operator needs to know *which* situation they are in, so
//! this reads the detailed `check_signatures` report and tells apart: a corrupt file, an
//! unsigned package, a package signed by someone else, and a bad signature by our own key.

use super::key::RepoKey;
use rpm::DigestStatus;
use std::path::Path;

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

/// Verifies the RPM at `path` (downloaded from `url`) against `key`.
///
/// A package without a payload digest (built by rpm < 4.14) passes when its header signature
/// is good: its payload was already checked against the metadata's sha256 by the caller.
pub(crate) fn verify_rpm(
    path: &Path,
    key: &RepoKey,
    nevra: &str,
    url: &str,
) -> Result<(), PackageCheckError> {
    let nevra = nevra.to_string();
    let url = url.to_string();
    let package = rpm::Package::open(path).map_err(|e| PackageCheckError::Unreadable {
        nevra: nevra.clone(),
        url: url.clone(),
        cause: e.to_string(),
    })?;
    let report =
        package
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
    if d.result().is_err() {
        let payload = [
            &d.payload_sha256,
            &d.payload_sha512,
            &d.payload_sha3_256,
            &d.payload_sha256_alt,
            &d.payload_sha512_alt,
            &d.payload_sha3_256_alt,
        ];
        let (expected, actual) = payload
            .into_iter()
            .find_map(mismatch)
            .unwrap_or_else(|| ("?".into(), "?".into()));
        return Err(PackageCheckError::DigestMismatch {
            nevra,
            url,
            which: "payload",
            expected,
            actual,
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
