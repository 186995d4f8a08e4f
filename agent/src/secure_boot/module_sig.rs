//! A kernel module's appended signature, read and checked as the kernel does.
//!
//! Layout (Linux `include/linux/module_signature.h`, written by `scripts/sign-file.c`, checked
//! by `kernel/module/signing.c`): the module's bytes, the DER PKCS#7/CMS `SignedData`, a
//! 12-byte `struct module_signature` (`algo`, `hash`, `id_type`, `signer_len`, `key_id_len`,
//! three pad bytes, `sig_len` big-endian), then the magic `~Module signature appended~\n`.
//! With `id_type` = `PKEY_ID_PKCS7` (2) the other byte fields must be 0 (`mod_check_sig`).
//!
//! The `SignedData` is detached (no content: the module is the content), carries no
//! certificates (sign-file's `CMS_NOCERTS`), and names its signer by issuer and serial number,
//! or by subject key identifier (`sign-file -k`). The kernel refuses a module signature with
//! signed (authenticated) attributes (`crypto/asymmetric_keys/pkcs7_verify.c`, "Invalid module
//! sig (has authattrs)"), so the signature is RSA PKCS#1 v1.5 over the digest of the module's
//! bytes themselves.

use super::keys::{TrustedKey, common_name};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::fmt;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

/// The magic at the very end of a signed module.
pub const MAGIC: &[u8] = b"~Module signature appended~\n";
/// `sizeof(struct module_signature)`.
pub const INFO_LEN: usize = 12;
/// `PKEY_ID_PKCS7`.
const PKEY_ID_PKCS7: u8 = 2;

const ID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const ID_DATA: &str = "1.2.840.113549.1.7.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// The digests the agent verifies: what `CONFIG_MODULE_SIG_SHA256/384/512` sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_oid(oid: &ObjectIdentifier) -> Option<DigestAlg> {
        match oid.to_string().as_str() {
            "2.16.840.1.101.3.4.2.1" => Some(DigestAlg::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(DigestAlg::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    /// The `<digest>WithRSAEncryption` OID, which a signer may name instead of rsaEncryption.
    fn with_rsa(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "1.2.840.113549.1.1.11",
            DigestAlg::Sha384 => "1.2.840.113549.1.1.12",
            DigestAlg::Sha512 => "1.2.840.113549.1.1.13",
        }
    }

    fn digest(self, data: &[u8]) -> (Vec<u8>, Pkcs1v15Sign) {
        match self {
            DigestAlg::Sha256 => (Sha256::digest(data).to_vec(), Pkcs1v15Sign::new::<Sha256>()),
            DigestAlg::Sha384 => (Sha384::digest(data).to_vec(), Pkcs1v15Sign::new::<Sha384>()),
            DigestAlg::Sha512 => (Sha512::digest(data).to_vec(), Pkcs1v15Sign::new::<Sha512>()),
        }
    }
}

impl fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestAlg::Sha256 => "sha256",
            DigestAlg::Sha384 => "sha384",
            DigestAlg::Sha512 => "sha512",
        })
    }
}

/// Who signed: what the `SignerInfo` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    IssuerSerial {
        issuer_der: Vec<u8>,
        /// The issuer's common name, for messages.
        issuer: String,
        serial: Vec<u8>,
    },
    KeyId(Vec<u8>),
}

impl SignerId {
    pub fn matches(&self, key: &TrustedKey) -> bool {
        match self {
            SignerId::IssuerSerial {
                issuer_der, serial, ..
            } => *issuer_der == key.issuer_der && *serial == key.serial_bytes,
            SignerId::KeyId(id) => key.subject_key_id.as_ref() == Some(id),
        }
    }
}

impl fmt::Display for SignerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = |bytes: &[u8]| {
            bytes
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        match self {
            SignerId::IssuerSerial { issuer, serial, .. } => {
                write!(f, "\"{issuer}\" (serial {})", hex(serial))
            }
            SignerId::KeyId(id) => write!(f, "key id {}", hex(id)),
        }
    }
}

/// One signer of a module.
#[derive(Debug, Clone)]
pub struct Signer {
    pub id: SignerId,
    pub digest: Result<DigestAlg, String>,
    /// Why the kernel would reject this signer's signature whatever the key (signed attributes,
    /// a signature algorithm other than RSA).
    pub unusable: Option<String>,
    pub signature: Vec<u8>,
}

/// A module's signature, parsed: the bytes it covers and its signers.
#[derive(Debug)]
pub struct ModuleSignature<'a> {
    /// The module without its signature: what was signed.
    pub signed: &'a [u8],
    pub signers: Vec<Signer>,
}

/// Why a module has no signature the agent can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unsigned (no \"~Module signature appended~\" at its end)")]
    Unsigned,
    #[error("a damaged signature: {0}")]
    Malformed(String),
}

fn malformed(what: impl Into<String>) -> ParseError {
    ParseError::Malformed(what.into())
}

/// Splits `module` into what is signed and its signature, and reads the signature.
pub fn parse(module: &[u8]) -> Result<ModuleSignature<'_>, ParseError> {
    let Some(rest) = module.strip_suffix(MAGIC) else {
        return Err(ParseError::Unsigned);
    };
    // As mod_verify_sig: the module must be longer than the information block.
    if rest.len() <= INFO_LEN {
        return Err(malformed("shorter than its signature information block"));
    }
    let (body, info) = rest.split_at(rest.len() - INFO_LEN);
    let [
        algo,
        hash,
        id_type,
        signer_len,
        key_id_len,
        _,
        _,
        _,
        l0,
        l1,
        l2,
        l3,
    ] = info
    else {
        unreachable!("split at INFO_LEN")
    };
    if *id_type != PKEY_ID_PKCS7 {
        return Err(malformed(format!(
            "signature type {id_type}, not PKCS#7 (2): the kernel has no way to check it"
        )));
    }
    if (*algo, *hash, *signer_len, *key_id_len) != (0, 0, 0, 0) {
        return Err(malformed(
            "a PKCS#7 signature block with non-zero algo/hash/signer/key-id fields",
        ));
    }
    let sig_len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
    if sig_len == 0 || sig_len >= body.len() {
        return Err(malformed(format!(
            "a signature length of {sig_len} bytes in a module of {} bytes",
            body.len()
        )));
    }
    let (signed, der) = body.split_at(body.len() - sig_len);
    let signers = parse_cms(der)?;
    Ok(ModuleSignature { signed, signers })
}

fn parse_cms(der: &[u8]) -> Result<Vec<Signer>, ParseError> {
    let info =
        ContentInfo::from_der(der).map_err(|e| malformed(format!("not a DER PKCS#7 message ({e})")))?;
    if info.content_type.to_string() != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "a PKCS#7 message of type {}, not SignedData",
            info.content_type
        )));
    }
    let signed_data: SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("a SignedData that does not decode ({e})")))?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type.to_string() != ID_DATA {
        return Err(malformed(format!(
            "signed content of type {}, not data",
            encap.econtent_type
        )));
    }
    if encap.econtent.is_some() {
        return Err(malformed(
            "the signature carries its own content instead of signing the module",
        ));
    }
    let signers: Vec<Signer> = signed_data
        .signer_infos
        .0
        .iter()
        .map(signer)
        .collect::<Result<_, _>>()?;
    if signers.is_empty() {
        return Err(malformed("a SignedData with no signer"));
    }
    Ok(signers)
}

fn signer(info: &SignerInfo) -> Result<Signer, ParseError> {
    let id = match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => SignerId::IssuerSerial {
            issuer_der: ias
                .issuer
                .to_der()
                .map_err(|e| malformed(format!("an issuer that does not re-encode ({e})")))?,
            issuer: common_name(&ias.issuer),
            serial: ias.serial_number.as_bytes().to_vec(),
        },
        SignerIdentifier::SubjectKeyIdentifier(skid) => SignerId::KeyId(skid.0.as_bytes().to_vec()),
    };
    let digest = DigestAlg::from_oid(&info.digest_alg.oid).ok_or_else(|| {
        format!(
            "digest {} (the agent verifies sha256, sha384 and sha512)",
            info.digest_alg.oid
        )
    });
    let sig_alg = info.signature_algorithm.oid.to_string();
    let unusable = if info.signed_attrs.is_some() {
        Some("it has signed attributes, which the kernel refuses in a module signature".to_owned())
    } else if sig_alg != RSA_ENCRYPTION && digest.as_ref().map_or(true, |d| sig_alg != d.with_rsa()) {
        Some(format!(
            "signature algorithm {sig_alg} (the agent verifies RSA PKCS#1 v1.5 signatures)"
        ))
    } else {
        None
    };
    Ok(Signer {
        id,
        digest,
        unusable,
        signature: info.signature.as_bytes().to_vec(),
    })
}

/// Checks `signer`'s signature over `signed` with `key`'s public key.
pub fn verify(signed: &[u8], signer: &Signer, key: &TrustedKey) -> Result<(), String> {
    if let Some(why) = &signer.unusable {
        return Err(why.clone());
    }
    let digest = signer.digest.clone()?;
    let spki = key
        .certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("the certificate's public key does not encode ({e})"))?;
    let public = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("the certificate's key is not an RSA key the agent can use ({e})"))?;
    let (hashed, scheme) = digest.digest(signed);
    public
        .verify(scheme, &hashed, &signer.signature)
        .map_err(|_| format!("the {digest} RSA signature does not match the module's bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(der: &[u8], info: [u8; 8]) -> Vec<u8> {
        let mut out = b"module body".to_vec();
        out.extend(der);
        out.extend(info);
        out.extend((der.len() as u32).to_be_bytes());
        out.extend(MAGIC);
        out
    }

    #[test]
    fn an_unsigned_module_is_said_so() {
        assert_eq!(parse(b"plain module").unwrap_err(), ParseError::Unsigned);
        assert_eq!(parse(b"").unwrap_err(), ParseError::Unsigned);
    }

    #[test]
    fn damaged_trailers_are_errors_not_panics() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x01];
        let good_info = [0, 0, 2, 0, 0, 0, 0, 0];
        // Not PKCS#7, stray fields, lengths past the module, garbage DER.
        for (what, module) in [
            ("id_type 1", trailer(&der, [0, 0, 1, 0, 0, 0, 0, 0])),
            ("signer_len set", trailer(&der, [0, 0, 2, 5, 0, 0, 0, 0])),
            ("garbage DER", trailer(&der, good_info)),
        ] {
            assert!(matches!(parse(&module), Err(ParseError::Malformed(_))), "{what}");
        }
        let mut too_long = trailer(&der, good_info);
        let at = too_long.len() - MAGIC.len() - 4;
        too_long[at..at + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
        assert!(matches!(parse(&too_long), Err(ParseError::Malformed(_))));
        let mut zero = trailer(&der, good_info);
        zero[at..at + 4].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(parse(&zero), Err(ParseError::Malformed(_))));
        // Only the magic, or the magic and a few bytes.
        for len in 0..=INFO_LEN {
            let mut short = vec![0u8; len];
            short.extend(MAGIC);
            assert!(matches!(parse(&short), Err(ParseError::Malformed(_))), "{len}");
        }
        // Every truncation of a real-looking trailer ends in an error.
        let module = trailer(&der, good_info);
        for cut in 0..module.len() {
            assert!(parse(&module[..cut]).is_err());
        }
    }

    /// Real signatures, made with openssl as sign-file makes them (the testbed's helper).
    mod real_signatures {
        use super::super::*;
        use crate::secure_boot::keys::{Keyring, TrustedKey};
        use testbed::fixture::secure_boot::signing::{SignOptions, SigningKey, generate, sign_module};

        const BODY: &[u8] = b"\x7fELF a module body\n";

        fn trusted(k: &SigningKey) -> TrustedKey {
            TrustedKey::from_der(&k.cert().unwrap(), Keyring::Db, "test".into()).unwrap()
        }

        fn options(digest: &'static str, key_id: bool, signed_attributes: bool) -> SignOptions {
            SignOptions {
                digest,
                key_id,
                signed_attributes,
            }
        }

        #[test]
        fn sign_file_style_signatures_verify_and_name_their_signer() {
            let dir = tempfile::tempdir().unwrap();
            let k = generate(dir.path(), "k", "module signing key").unwrap();
            let other = generate(dir.path(), "o", "someone else").unwrap();
            for (digest, key_id) in [("sha256", false), ("sha384", false), ("sha512", true)] {
                let module = sign_module(BODY, &k, options(digest, key_id, false), dir.path()).unwrap();
                let sig = parse(&module).unwrap();
                assert_eq!(sig.signed, BODY);
                assert_eq!(sig.signers.len(), 1);
                let signer = &sig.signers[0];
                assert!(signer.id.matches(&trusted(&k)), "{digest}: {:?}", signer.id);
                assert!(!signer.id.matches(&trusted(&other)));
                if key_id {
                    assert!(matches!(signer.id, SignerId::KeyId(_)));
                } else {
                    let shown = signer.id.to_string();
                    assert!(shown.starts_with("\"module signing key\""), "{shown}");
                    assert!(shown.contains(&trusted(&k).serial), "{shown}");
                }
                verify(sig.signed, signer, &trusted(&k)).unwrap();
                // The right name on another key (a forged identity) does not verify.
                assert!(verify(sig.signed, signer, &trusted(&other)).is_err());
                // One changed byte of the module: the signature no longer matches.
                let mut tampered = module.clone();
                tampered[3] ^= 1;
                let sig = parse(&tampered).unwrap();
                assert!(verify(sig.signed, &sig.signers[0], &trusted(&k)).is_err());
            }
        }

        #[test]
        fn signed_attributes_are_refused_as_the_kernel_does() {
            let dir = tempfile::tempdir().unwrap();
            let k = generate(dir.path(), "k", "module signing key").unwrap();
            let module = sign_module(BODY, &k, options("sha256", false, true), dir.path()).unwrap();
            let sig = parse(&module).unwrap();
            let why = verify(sig.signed, &sig.signers[0], &trusted(&k)).unwrap_err();
            assert!(why.contains("signed attributes"), "{why}");
        }

        #[test]
        fn a_truncated_signature_is_malformed_not_a_panic() {
            let dir = tempfile::tempdir().unwrap();
            let k = generate(dir.path(), "k", "module signing key").unwrap();
            let module = sign_module(BODY, &k, SignOptions::default(), dir.path()).unwrap();
            let der_end = module.len() - MAGIC.len() - INFO_LEN;
            // Drop DER bytes but keep the trailer: the stated length now reaches into the body.
            for cut in [1, 10, 100] {
                let mut short = module[..der_end - cut].to_vec();
                short.extend(&module[der_end..]);
                assert!(
                    matches!(parse(&short), Err(ParseError::Malformed(_))),
                    "cut {cut}"
                );
            }
        }
    }
}
