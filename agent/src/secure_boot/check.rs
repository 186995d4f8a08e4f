//! The check itself: every kernel module of the chosen packages, against the keys of every
//! kernel it is installed for; the report `plan` shows and the refusal `install` and
//! `kernel-guard` give (exit 3) when the kernel would reject a module.

use super::keys::{self, FirmwareKeys, Keyring, TrustedKey};
use super::module_sig::{self, ParseError};
use super::payload;
use super::state::State;
use crate::error::Refusal;
use crate::host::Sysroot;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;

/// A downloaded, verified package whose modules must load on `kernels`.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// NEVRA.
    pub package: String,
    /// The verified package file in the cache.
    pub file: PathBuf,
    /// The kernels (`uname -r`) it is installed for.
    pub kernels: Vec<String>,
}

/// One trusted key, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolledKey {
    pub keyring: Keyring,
    /// For a built-in key: its kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    pub subject: String,
    pub serial: String,
    pub origin: String,
    /// Revoked by `dbx` or `MokListXRT`: listed, but not trusted.
    pub revoked: bool,
}

/// One module file, for one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleVerdict {
    pub package: String,
    pub file: String,
    pub kernel: String,
    /// `"CN" (serial 5B:…)`, `key id …`, or `unsigned`.
    pub signer: String,
    pub trusted: bool,
    /// The key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_by: Option<String>,
    /// Why the kernel would reject it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `plan`, `install` and `kernel-guard` report under `secure_boot`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when the kernel only loads modules signed by a key it trusts.
    pub enforced: bool,
    pub state: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enrolled: Vec<EnrolledKey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleVerdict>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    /// Secure Boot off: nothing checked, and the report says why.
    pub fn not_enforced(state: &State) -> Report {
        Report {
            enforced: false,
            state: state.detail.clone(),
            enrolled: Vec::new(),
            modules: Vec::new(),
            notes: vec!["module signatures are not checked: the kernel does not require them".into()],
        }
    }

    /// The refusal when the kernel would reject any module; `None` when all would load.
    pub fn refusal(&self) -> Option<Refusal> {
        let rejected: Vec<&ModuleVerdict> = self.modules.iter().filter(|m| !m.trusted).collect();
        if rejected.is_empty() {
            return None;
        }
        let mut message = format!(
            "Secure Boot is {} on this host and the kernel would refuse to load {} module file(s) of the chosen \
             package(s); nothing was installed:\n",
            self.state,
            rejected.len()
        );
        for m in &rejected {
            message.push_str(&format!(
                "  {} {} for kernel {}: signer {}: {}\n",
                m.package,
                m.file,
                m.kernel,
                m.signer,
                m.reason.as_deref().unwrap_or("not trusted")
            ));
        }
        message.push_str(&format!(
            "The kernel trusts: {}.\n",
            self.enrolled_summary(&rejected)
        ));
        message.push_str(
            "Enroll the certificate of the key that signed these modules as a Machine Owner Key \
             (`mokutil --import <certificate.der>`, then reboot and confirm it in MokManager), or install \
             modules signed by a key this host already trusts (another build, or `--pin` another version).",
        );
        Some(Refusal(message))
    }

    /// `db: "A" (serial …); MOK: none; built-in (4.19.0+1): none`, over the kernels of `modules`.
    fn enrolled_summary(&self, modules: &[&ModuleVerdict]) -> String {
        let list = |keys: Vec<&EnrolledKey>| {
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.iter()
                    .map(|k| {
                        let revoked = if k.revoked { ", revoked by dbx" } else { "" };
                        format!("\"{}\" (serial {}{revoked})", k.subject, k.serial)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let of = |ring: Keyring| {
            self.enrolled
                .iter()
                .filter(|k| k.keyring == ring)
                .collect::<Vec<_>>()
        };
        let mut parts = vec![
            format!("db: {}", list(of(Keyring::Db))),
            format!("MOK: {}", list(of(Keyring::Mok))),
        ];
        let mut kernels: Vec<&str> = modules.iter().map(|m| m.kernel.as_str()).collect();
        kernels.dedup();
        for kernel in kernels {
            let builtin: Vec<&EnrolledKey> = of(Keyring::Builtin)
                .into_iter()
                .filter(|k| k.kernel.as_deref() == Some(kernel))
                .collect();
            let detail = if builtin.is_empty() {
                format!("none (no /usr/share/doc/kernel-keys/{kernel})")
            } else {
                list(builtin)
            };
            parts.push(format!("built-in keys of {kernel}: {detail}"));
        }
        parts.join("; ")
    }
}

/// Checks every module of `candidates` for every kernel it serves (`state` must be enforced).
pub fn check(sysroot: &Sysroot, state: &State, candidates: &[Candidate]) -> Result<Report> {
    let firmware = keys::firmware_keys(sysroot)?;
    let mut report = Report {
        enforced: state.enforced,
        state: state.detail.clone(),
        enrolled: Vec::new(),
        modules: Vec::new(),
        notes: firmware.notes.clone(),
    };
    for key in firmware.db.iter().chain(&firmware.mok) {
        report.enrolled.push(enrolled(key, None, &firmware));
    }
    let mut kernels: Vec<&str> = candidates
        .iter()
        .flat_map(|c| c.kernels.iter().map(String::as_str))
        .collect();
    kernels.sort_unstable();
    kernels.dedup();
    let mut builtin: Vec<(&str, Vec<TrustedKey>)> = Vec::new();
    for kernel in kernels {
        let keys = keys::builtin_keys(sysroot, kernel, &mut report.notes)?;
        report
            .enrolled
            .extend(keys.iter().map(|k| enrolled(k, Some(kernel), &firmware)));
        builtin.push((kernel, keys));
    }
    for candidate in candidates {
        let modules = payload::kernel_modules(&candidate.file)
            .with_context(|| format!("checking the module signatures of {}", candidate.package))?;
        if modules.is_empty() {
            report.notes.push(format!(
                "{} has no kernel module files: nothing to check",
                candidate.package
            ));
        }
        for kernel in &candidate.kernels {
            let own = builtin
                .iter()
                .find(|(k, _)| k == kernel)
                .map(|(_, keys)| keys.as_slice());
            let trusted: Vec<&TrustedKey> = own
                .unwrap_or_default()
                .iter()
                .chain(&firmware.db)
                .chain(&firmware.mok)
                .collect();
            for module in &modules {
                let mut verdict = judge(&module.bytes, &trusted, &firmware);
                verdict.package = candidate.package.clone();
                verdict.file = module.path.clone();
                verdict.kernel = kernel.clone();
                report.modules.push(verdict);
            }
        }
    }
    Ok(report)
}

fn enrolled(key: &TrustedKey, kernel: Option<&str>, firmware: &FirmwareKeys) -> EnrolledKey {
    EnrolledKey {
        keyring: key.keyring.clone(),
        kernel: kernel.map(str::to_owned),
        subject: key.subject.clone(),
        serial: key.serial.clone(),
        origin: key.origin.clone(),
        revoked: firmware.revoked.contains(key),
    }
}

/// Whether the kernel would load `module` with `trusted` keys: its signer must be one of them,
/// not revoked, and the signature must verify over the module's bytes.
fn judge(module: &[u8], trusted: &[&TrustedKey], firmware: &FirmwareKeys) -> ModuleVerdict {
    let mut verdict = ModuleVerdict {
        package: String::new(),
        file: String::new(),
        kernel: String::new(),
        signer: String::new(),
        trusted: false,
        trusted_by: None,
        reason: None,
    };
    let signature = match module_sig::parse(module) {
        Ok(signature) => signature,
        Err(ParseError::Unsigned) => {
            verdict.signer = "unsigned".into();
            verdict.reason = Some("the module carries no signature".into());
            return verdict;
        }
        Err(e @ ParseError::Malformed(_)) => {
            verdict.signer = "unreadable".into();
            verdict.reason = Some(format!("the module has {e}"));
            return verdict;
        }
    };
    let mut reasons = Vec::new();
    for signer in &signature.signers {
        let matching: Vec<&&TrustedKey> = trusted.iter().filter(|k| signer.id.matches(k)).collect();
        if verdict.signer.is_empty() {
            verdict.signer = match matching.first() {
                Some(key) => signer_name(signer, key),
                None => signer.id.to_string(),
            };
        }
        if matching.is_empty() {
            reasons.push("no key the kernel trusts is this signer's".to_owned());
        }
        for key in matching {
            if firmware.revoked.contains(key) {
                reasons.push(format!("its key, {}, is revoked by dbx", key.describe()));
                continue;
            }
            match module_sig::verify(signature.signed, signer, key) {
                Ok(()) => {
                    verdict.signer = signer_name(signer, key);
                    verdict.trusted = true;
                    verdict.trusted_by = Some(key.describe());
                    return verdict;
                }
                Err(why) => reasons.push(format!("checked with {}: {why}", key.describe())),
            }
        }
    }
    reasons.dedup();
    verdict.reason = Some(reasons.join("; "));
    verdict
}

/// The signer as it verified: the key's own name when the signature names only a key id.
fn signer_name(signer: &module_sig::Signer, key: &TrustedKey) -> String {
    match &signer.id {
        module_sig::SignerId::KeyId(_) => format!("\"{}\" ({})", key.subject, signer.id),
        id => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed::fixture::secure_boot::signing::{SignOptions, generate, sign_module};
    use testbed::sysroot::firmware::Firmware;

    /// A root whose firmware trusts `db`, revokes `dbx`, and the keys it gives.
    fn firmware(db: Vec<Vec<u8>>, dbx: Vec<Vec<u8>>) -> (tempfile::TempDir, FirmwareKeys) {
        let root = tempfile::tempdir().unwrap();
        Firmware {
            db,
            dbx,
            ..Firmware::default()
        }
        .write(root.path())
        .unwrap();
        let keys = keys::firmware_keys(&Sysroot::new(root.path())).unwrap();
        (root, keys)
    }

    #[test]
    fn a_module_is_trusted_only_by_an_enrolled_unrevoked_key_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let db_key = generate(dir.path(), "db", "db key").unwrap();
        let stranger = generate(dir.path(), "x", "stranger").unwrap();
        let signed = sign_module(b"module", &db_key, SignOptions::default(), dir.path()).unwrap();
        let by_stranger = sign_module(b"module", &stranger, SignOptions::default(), dir.path()).unwrap();

        let (_root, fw) = firmware(vec![db_key.cert().unwrap()], vec![]);
        let trusted: Vec<&TrustedKey> = fw.db.iter().collect();
        let v = judge(&signed, &trusted, &fw);
        assert!(v.trusted, "{v:?}");
        assert!(
            v.trusted_by.as_deref().unwrap().contains("db key \"db key\""),
            "{v:?}"
        );

        let v = judge(&by_stranger, &trusted, &fw);
        assert!(!v.trusted);
        assert!(v.signer.contains("stranger"), "{v:?}");
        assert!(
            v.reason.as_deref().unwrap().contains("no key the kernel trusts"),
            "{v:?}"
        );

        let v = judge(b"module", &trusted, &fw);
        assert_eq!((v.trusted, v.signer.as_str()), (false, "unsigned"));

        // The same key, revoked by dbx: listed, but no longer trusted.
        let (_root, fw) = firmware(vec![db_key.cert().unwrap()], vec![db_key.cert().unwrap()]);
        let trusted: Vec<&TrustedKey> = fw.db.iter().collect();
        let v = judge(&signed, &trusted, &fw);
        assert!(!v.trusted);
        assert!(v.reason.as_deref().unwrap().contains("revoked"), "{v:?}");
    }

    #[test]
    fn the_refusal_names_module_signer_keys_and_the_way_out() {
        let module = |trusted: bool| ModuleVerdict {
            package: "kmod-drbd-1-1.x86_64".into(),
            file: "/lib/modules/k/extra/drbd/drbd.ko".into(),
            kernel: "k".into(),
            signer: "\"someone\" (serial 01)".into(),
            trusted,
            trusted_by: None,
            reason: Some("no key the kernel trusts is this signer's".into()),
        };
        let mut report = Report {
            enforced: true,
            state: "enabled (SecureBoot = 1)".into(),
            enrolled: vec![EnrolledKey {
                keyring: Keyring::Db,
                kernel: None,
                subject: "db key".into(),
                serial: "0A".into(),
                origin: "db entry 1".into(),
                revoked: false,
            }],
            modules: vec![module(true)],
            notes: Vec::new(),
        };
        assert!(report.refusal().is_none());
        report.modules.push(module(false));
        let message = report.refusal().unwrap().0;
        for part in [
            "kmod-drbd-1-1.x86_64 /lib/modules/k/extra/drbd/drbd.ko for kernel k",
            "signer \"someone\" (serial 01)",
            "db: \"db key\" (serial 0A)",
            "MOK: none",
            "built-in keys of k: none (no /usr/share/doc/kernel-keys/k)",
            "mokutil --import",
            "nothing was installed",
        ] {
            assert!(message.contains(part), "{part:?} in {message}");
        }
    }
}
