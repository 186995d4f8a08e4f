//! The repository's signing key: loaded once from `[repo] gpgkey`, checked against the
//! `[repo] fingerprint` pin, then used for both the detached `repomd.xml.asc` signature (with
//! the `pgp` crate) and the RPM header signatures (through the `rpm` crate's verifier, built
//! from the same certificates so the two checks can never trust different keys).

use crate::bounds;
use crate::error::UsageError;
use anyhow::Result;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{Signature, SubpacketData};
use pgp::types::KeyDetails;
use rpm::signature::pgp::Verifier;
use std::path::{Path, PathBuf};

/// The trusted key (or keys, when the file holds several and no pin narrows it down).
pub(crate) struct RepoKey {
    path: PathBuf,
    certs: Vec<SignedPublicKey>,
    verifier: Verifier,
}

impl std::fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl RepoKey {
    /// Reads the armored key file. A missing or unreadable file is a config problem (exit 2);
    /// a key that does not match the pin is a trust problem (exit 1) — the file exists and
    /// parses, it is just not the key the operator said to trust.
    pub(crate) fn load(path: &Path, pin: Option<&str>) -> Result<RepoKey> {
        let text = read_key_file(path)?;
        let all = certificates(path, &text)?;
        let selected = match pin {
            None => all,
            Some(pin) => pinned(path, all, pin)?,
        };
        let verifier = rpm_verifier(path, &selected)?;
        Ok(RepoKey {
            path: path.to_path_buf(),
            certs: selected.into_iter().map(|(cert, _)| cert).collect(),
            verifier,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The trusted primary fingerprint(s), upper-case hex, for messages.
    pub(crate) fn fingerprint(&self) -> String {
        self.certs
            .iter()
            .map(fingerprint_hex)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn rpm_verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether a signature issuer (a fingerprint or a 16-hex key id, any case) is one of the
    /// trusted primary keys or their subkeys.
    pub(crate) fn owns(&self, issuer: &str) -> bool {
        let issuer = issuer.to_ascii_uppercase();
        if issuer.is_empty() {
            return false;
        }
        self.certs.iter().any(|cert| {
            std::iter::once(cert.fingerprint())
                .chain(cert.public_subkeys.iter().map(|sub| sub.fingerprint()))
                .any(|fp| hex::encode_upper(fp.as_bytes()).ends_with(&issuer))
        })
    }

    /// Verifies an armored detached signature (`repomd.xml.asc`) over `data` (`repomd.xml`).
    /// `what` names the signed file for messages (its URL).
    pub(crate) fn verify_detached(&self, data: &[u8], armored: &[u8], what: &str) -> Result<()> {
        let unreadable = |cause: String| {
            anyhow::anyhow!(
                "the signature of {what} (repomd.xml.asc) is not an ASCII-armored OpenPGP signature ({cause}): \
                 the repository's signature is damaged; re-sign it with `gpg --detach-sign --armor \
                 repodata/repomd.xml`"
            )
        };
        let (signatures, _headers) =
            DetachedSignature::from_armor_many(armored).map_err(|e| unreadable(e.to_string()))?;
        let mut issuers = Vec::new();
        let mut count = 0;
        for signature in signatures {
            let signature = signature.map_err(|e| unreadable(e.to_string()))?;
            count += 1;
            if self.certs.iter().any(|cert| verifies(cert, &signature, data)) {
                return Ok(());
            }
            issuers.extend(issuer_ids(&signature.signature));
        }
        if count == 0 {
            return Err(unreadable("no signature in it".into()));
        }
        if !issuers.is_empty() && !issuers.iter().any(|id| self.owns(id)) {
            anyhow::bail!(
                "{what} is signed by key {}, not by the configured key {} ({}): the repository is signed \
                 by someone else, or [repo] gpgkey is the wrong key",
                issuers.join(", "),
                self.fingerprint(),
                self.path.display()
            );
        }
        anyhow::bail!(
            "repomd.xml signature does not verify against key {} (fingerprint {}): {what} was changed after \
             it was signed — the repository may be tampered with or the key is wrong; check [repo] gpgkey",
            self.path.display(),
            self.fingerprint()
        )
    }
}

/// The key file's text, read with a ceiling ([`bounds::CONFIG_FILE_LIMIT`]): `gpgkey =
/// "/dev/zero"` or a wrong path to a huge file is an error, not a read that never ends.
fn read_key_file(path: &Path) -> Result<String> {
    let install = "install the repository's public key there (ASCII-armored, as `gpg --armor --export` \
                   writes it) or fix [repo] gpgkey";
    let bytes = match bounds::read_file_capped(path, bounds::CONFIG_FILE_LIMIT) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(bounds::Exceeded)) => {
            return Err(UsageError(format!(
                "[repo] gpgkey {} is larger than {}, which no public key file is: {install}",
                path.display(),
                bounds::show_size(bounds::CONFIG_FILE_LIMIT)
            ))
            .into());
        }
        Err(e) => {
            return Err(UsageError(format!(
                "cannot read [repo] gpgkey {}: {e} — {install}",
                path.display()
            ))
            .into());
        }
    };
    String::from_utf8(bytes).map_err(|_| not_a_key(path, "the file is not text".into()).into())
}

/// A certificate of the key file, and the armored block it came from (the rpm verifier is
/// built from blocks).
type Certificate<'t> = (SignedPublicKey, &'t str);

fn not_a_key(path: &Path, cause: String) -> UsageError {
    UsageError(format!(
        "[repo] gpgkey {} is not an ASCII-armored OpenPGP public key ({cause}): export it with \
         `gpg --armor --export <fingerprint>` and fix [repo] gpgkey",
        path.display()
    ))
}

/// Every certificate of the key file `text`, its self-signatures checked.
fn certificates<'t>(path: &Path, text: &'t str) -> Result<Vec<Certificate<'t>>> {
    let mut all = Vec::new();
    for block in armored_blocks(text) {
        let (certs, _headers) =
            SignedPublicKey::from_string_many(block).map_err(|e| not_a_key(path, e.to_string()))?;
        for cert in certs {
            let cert = cert.map_err(|e| not_a_key(path, e.to_string()))?;
            cert.verify_bindings().map_err(|e| {
                anyhow::anyhow!(
                    "[repo] gpgkey {}: the self-signatures of key {} do not verify ({e}): the key file is \
                     damaged; fetch the repository's public key again",
                    path.display(),
                    fingerprint_hex(&cert)
                )
            })?;
            all.push((cert, block));
        }
    }
    if all.is_empty() {
        return Err(not_a_key(path, "no public key found in it".into()).into());
    }
    Ok(all)
}

/// The certificates `pin` (a full fingerprint or a long key id, any case) selects; none is an
/// error.
fn pinned<'t>(path: &Path, all: Vec<Certificate<'t>>, pin: &str) -> Result<Vec<Certificate<'t>>> {
    let pin = pin.to_ascii_uppercase();
    // The config accepts a long key id (16 hex) as well as a full fingerprint.
    let (matching, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(cert, _)| fingerprint_hex(cert).ends_with(&pin));
    if matching.is_empty() {
        let found: Vec<String> = others.iter().map(|(cert, _)| fingerprint_hex(cert)).collect();
        anyhow::bail!(
            "[repo] gpgkey {} holds key {}, but [repo] fingerprint pins {pin}: the key file is not \
             the key you meant to trust (or the pin is wrong); replace the key file or fix [repo] \
             fingerprint",
            path.display(),
            found.join(", ")
        );
    }
    Ok(matching)
}

/// The rpm crate's verifier for the `selected` certificates, and only them.
fn rpm_verifier(path: &Path, selected: &[Certificate<'_>]) -> Result<Verifier> {
    let unusable = |e: rpm::Error| {
        anyhow::anyhow!(
            "[repo] gpgkey {}: cannot use it to verify RPM signatures ({e}): is it an RSA, DSA or EdDSA \
             signing key?",
            path.display()
        )
    };
    let mut verifier = Verifier::new();
    let mut loaded: Vec<&str> = Vec::new();
    for (_, block) in selected {
        if !loaded.contains(block) {
            verifier.load_from_asc(block).map_err(unusable)?;
            loaded.push(block);
        }
    }
    if let [(only, _)] = selected {
        // A block may hold more certificates than the pin selected: trust only that one.
        verifier = verifier
            .with_key(only.fingerprint().as_bytes())
            .map_err(unusable)?;
    }
    Ok(verifier)
}

/// The `-----BEGIN PGP PUBLIC KEY BLOCK-----` blocks of a key file: `cat KEY1 KEY2 > KEYS`
/// makes a file that rpm and dnf accept, but the pgp crate reads only the first armor block.
fn armored_blocks(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let Some(end) = block.find(END) else {
            // Unterminated: let the parser say what is wrong with it.
            blocks.push(block);
            return blocks;
        };
        blocks.push(&block[..end + END.len()]);
        rest = &block[end + END.len()..];
    }
    if blocks.is_empty() {
        blocks.push(text);
    }
    blocks
}

/// Tries the primary key and every signing-capable subkey; pgp itself checks that the
/// signature's issuer matches the key it is verified with.
fn verifies(cert: &SignedPublicKey, signature: &DetachedSignature, data: &[u8]) -> bool {
    if signature.verify(cert, data).is_ok() {
        return true;
    }
    cert.public_subkeys
        .iter()
        .filter(|sub| can_sign(&sub.signatures))
        .any(|sub| signature.verify(sub, data).is_ok())
}

/// RFC 9580: a key is signing-capable when one of its binding signatures says so, or when
/// none of them carries key flags at all (a general-purpose key). Same rule as the rpm crate.
fn can_sign(bindings: &[Signature]) -> bool {
    let flagged: Vec<&Signature> = bindings
        .iter()
        .filter(|sig| {
            sig.config().is_some_and(|c| {
                c.hashed_subpackets()
                    .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
            })
        })
        .collect();
    flagged.is_empty() || flagged.iter().any(|sig| sig.key_flags().sign())
}

/// Who a signature says made it: issuer fingerprints if present, else key ids (upper hex).
fn issuer_ids(signature: &Signature) -> Vec<String> {
    let fingerprints: Vec<String> = signature
        .issuer_fingerprint()
        .iter()
        .map(|fp| hex::encode_upper(fp.as_bytes()))
        .collect();
    if !fingerprints.is_empty() {
        return fingerprints;
    }
    signature
        .issuer_key_id()
        .iter()
        .map(|id| hex::encode_upper(id.as_ref()))
        .collect()
}

fn fingerprint_hex(cert: &SignedPublicKey) -> String {
    hex::encode_upper(cert.fingerprint().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};

    fn fixture() -> testbed::FixtureRepo {
        testbed::FixtureRepo::shared().expect("the shared fixture repository builds")
    }

    #[test]
    fn pins_match_full_fingerprints_and_long_key_ids() {
        let f = fixture();
        let key = RepoKey::load(&f.key_path, Some(&f.fingerprint)).unwrap();
        assert_eq!(key.fingerprint(), f.fingerprint);
        assert!(key.owns(&f.fingerprint[24..]), "long key id");
        assert!(key.owns(&f.fingerprint.to_ascii_lowercase()));
        assert!(!key.owns(f.other_fingerprint()));
        assert!(!key.owns(""));
        RepoKey::load(&f.key_path, Some(&f.fingerprint[24..])).unwrap();
    }

    #[test]
    fn a_keyring_file_is_narrowed_by_the_pin() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let both = dir.path().join("keys.asc");
        let text = std::fs::read_to_string(&f.key_path).unwrap()
            + &std::fs::read_to_string(f.other_key_path()).unwrap();
        std::fs::write(&both, text).unwrap();

        let pinned = RepoKey::load(&both, Some(f.other_fingerprint())).unwrap();
        assert_eq!(pinned.fingerprint(), f.other_fingerprint());
        assert!(!pinned.owns(&f.fingerprint));
        let repomd = std::fs::read(f.repomd_path()).unwrap();
        let signature = std::fs::read(f.repomd_signature_path()).unwrap();
        let err = pinned
            .verify_detached(&repomd, &signature, "R")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("R is signed by key {}", f.fingerprint)),
            "{err}"
        );

        // No pin: every key in the file is trusted.
        let all = RepoKey::load(&both, None).unwrap();
        assert_eq!(
            all.fingerprint(),
            format!("{}, {}", f.fingerprint, f.other_fingerprint())
        );
        all.verify_detached(&repomd, &signature, "R").unwrap();
    }

    #[test]
    fn unusable_key_files_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_key = dir.path().join("KEY");
        std::fs::write(&not_a_key, "hello").unwrap();
        let err = RepoKey::load(&not_a_key, None).unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
        assert!(
            err.to_string()
                .contains("is not an ASCII-armored OpenPGP public key"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&not_a_key.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn damaged_signatures_are_told_apart_from_bad_ones() {
        let f = fixture();
        let key = RepoKey::load(&f.key_path, None).unwrap();
        let repomd = std::fs::read(f.repomd_path()).unwrap();
        let err = key
            .verify_detached(&repomd, b"garbage", "R")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an ASCII-armored OpenPGP signature"), "{err}");
        let signature = std::fs::read(f.repomd_signature_path()).unwrap();
        let err = key
            .verify_detached(b"other content", &signature, "R")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("repomd.xml signature does not verify against key"),
            "{err}"
        );
    }
}
