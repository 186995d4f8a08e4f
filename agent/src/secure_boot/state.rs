//! Whether the host boots with Secure Boot enforced, from the UEFI variables under the root.
//!
//! The kernel's EFI stub decides as this does (Linux `drivers/firmware/efi/libstub/secureboot.c`,
//! `efi_get_secureboot`): no `SecureBoot` variable is no Secure Boot, `SecureBoot` = 0 or
//! `SetupMode` = 1 is disabled, and shim's `MokSBState` = 1 (validation disabled with `mokutil
//! --disable-validation`; the running system sees it as `MokSBStateRT`) turns enforcement off.
//! `mokutil --sb-state` reads the same variables; it is asked only on a live host whose
//! `SecureBoot` variable exists but cannot be read.

use super::efi::{self, GLOBAL_GUID, SHIM_LOCK_GUID};
use crate::exec;
use crate::host::{Sysroot, rootfs};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::io;
use std::path::Path;
use std::process::Command;

/// The host's Secure Boot state, as `plan` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    /// True when the kernel will only load modules signed by a key it trusts.
    pub enforced: bool,
    /// Why, in words (`enabled (SecureBoot = 1)`, `not an EFI boot: …`).
    pub detail: String,
}

impl State {
    fn off(detail: impl Into<String>) -> State {
        State {
            enforced: false,
            detail: detail.into(),
        }
    }
}

/// Reads the state from `<root>/sys/firmware/efi/efivars`.
pub fn read(sysroot: &Sysroot) -> Result<State> {
    let secure_boot = match efi::read_variable(sysroot, "SecureBoot", GLOBAL_GUID) {
        Ok(value) => value,
        Err(e) if sysroot.is_live() && e.kind() == io::ErrorKind::PermissionDenied => {
            return from_mokutil(&e);
        }
        Err(e) => return Err(unreadable("SecureBoot", GLOBAL_GUID, e)),
    };
    let Some(secure_boot) = secure_boot else {
        return Ok(State::off(
            if rootfs::exists(sysroot, Path::new("/sys/firmware/efi")) {
                "disabled: the firmware has no SecureBoot variable"
            } else {
                "not an EFI boot (no /sys/firmware/efi): no Secure Boot"
            },
        ));
    };
    match secure_boot.as_slice() {
        [1] => {}
        [0] => return Ok(State::off("disabled (SecureBoot = 0)")),
        other => bail!(
            "{} holds {other:?}: a SecureBoot variable is one byte, 0 or 1 (check the efivarfs mount)",
            efi::variable_path("SecureBoot", GLOBAL_GUID).display()
        ),
    }
    let setup_mode = efi::read_variable(sysroot, "SetupMode", GLOBAL_GUID)
        .map_err(|e| unreadable("SetupMode", GLOBAL_GUID, e))?;
    if setup_mode.as_deref() == Some(&[1]) {
        return Ok(State::off(
            "disabled: the firmware is in Setup Mode (SetupMode = 1)",
        ));
    }
    let shim_state = efi::read_variable(sysroot, "MokSBStateRT", SHIM_LOCK_GUID)
        .map_err(|e| unreadable("MokSBStateRT", SHIM_LOCK_GUID, e))?;
    // mokutil treats the variable's presence as "disabled" (shim mirrors it only then); a 0 in
    // it would say otherwise, so only a non-zero value counts.
    if shim_state.is_some_and(|v| v.first().is_some_and(|b| *b != 0)) {
        return Ok(State::off(
            "SecureBoot = 1, but validation is disabled in shim (MokSBStateRT = 1): not enforced",
        ));
    }
    Ok(State {
        enforced: true,
        detail: "enabled (SecureBoot = 1)".into(),
    })
}

fn unreadable(name: &str, guid: &str, e: io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot read the UEFI variable {}: {e}",
        efi::variable_path(name, guid).display()
    )
}

/// A live host whose efivars cannot be read (efivarfs mounted for root only, say): ask mokutil.
fn from_mokutil(why: &io::Error) -> Result<State> {
    let text = exec::stdout(Command::new("mokutil").arg("--sb-state")).with_context(|| {
        format!("the SecureBoot variable cannot be read ({why}), and neither can mokutil tell the Secure Boot state")
    })?;
    parse_mokutil(&text)
}

/// `mokutil --sb-state`: "SecureBoot enabled", optionally "SecureBoot validation is disabled in
/// shim"; or "SecureBoot disabled"; or "This system doesn't support Secure Boot".
fn parse_mokutil(text: &str) -> Result<State> {
    let has = |line: &str| text.lines().any(|l| l.trim() == line);
    if has("SecureBoot validation is disabled in shim") {
        Ok(State::off(
            "mokutil: SecureBoot enabled, but validation is disabled in shim",
        ))
    } else if has("SecureBoot enabled") {
        Ok(State {
            enforced: true,
            detail: "enabled (mokutil --sb-state)".into(),
        })
    } else if has("SecureBoot disabled") || text.contains("doesn't support Secure Boot") {
        Ok(State::off(format!(
            "mokutil: {}",
            text.lines().next().unwrap_or("").trim()
        )))
    } else {
        bail!(
            "mokutil --sb-state printed {:?}: not a Secure Boot state the agent knows",
            text.trim()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(vars: &[(&str, &str, &[u8])]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sys/firmware/efi/efivars");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, guid, value) in vars {
            let mut bytes = vec![6, 0, 0, 0];
            bytes.extend(*value);
            std::fs::write(dir.join(format!("{name}-{guid}")), bytes).unwrap();
        }
        root
    }

    fn state(root: &tempfile::TempDir) -> Result<State> {
        read(&Sysroot::new(root.path()))
    }

    #[test]
    fn the_variables_decide_as_the_efi_stub_does() {
        let not_efi = tempfile::tempdir().unwrap();
        let s = state(&not_efi).unwrap();
        assert!(!s.enforced && s.detail.contains("not an EFI boot"), "{s:?}");

        let no_variable = root_with(&[]);
        let s = state(&no_variable).unwrap();
        assert!(
            !s.enforced && s.detail.contains("no SecureBoot variable"),
            "{s:?}"
        );

        assert!(
            !state(&root_with(&[("SecureBoot", GLOBAL_GUID, &[0])]))
                .unwrap()
                .enforced
        );
        assert!(
            state(&root_with(&[("SecureBoot", GLOBAL_GUID, &[1])]))
                .unwrap()
                .enforced
        );
        let setup = root_with(&[
            ("SecureBoot", GLOBAL_GUID, &[1]),
            ("SetupMode", GLOBAL_GUID, &[1]),
        ]);
        assert!(!state(&setup).unwrap().enforced);
        let shim_off = root_with(&[
            ("SecureBoot", GLOBAL_GUID, &[1]),
            ("SetupMode", GLOBAL_GUID, &[0]),
            ("MokSBStateRT", SHIM_LOCK_GUID, &[1]),
        ]);
        let s = state(&shim_off).unwrap();
        assert!(!s.enforced && s.detail.contains("disabled in shim"), "{s:?}");
    }

    #[test]
    fn a_malformed_secure_boot_variable_is_an_error() {
        for value in [&[][..], &[2], &[1, 0]] {
            let root = root_with(&[("SecureBoot", GLOBAL_GUID, value)]);
            assert!(state(&root).is_err(), "{value:?}");
        }
    }

    #[test]
    fn mokutil_output_is_understood() {
        assert!(parse_mokutil("SecureBoot enabled\n").unwrap().enforced);
        assert!(
            !parse_mokutil("SecureBoot enabled\nSecureBoot validation is disabled in shim\n")
                .unwrap()
                .enforced
        );
        assert!(
            !parse_mokutil("SecureBoot disabled\nPlatform is in Setup Mode\n")
                .unwrap()
                .enforced
        );
        assert!(
            !parse_mokutil("This system doesn't support Secure Boot\n")
                .unwrap()
                .enforced
        );
        assert!(parse_mokutil("EFI variables are not supported on this system\n").is_err());
    }
}
