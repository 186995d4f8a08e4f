//! What one run of `plan`, `install` or `kernel-guard` works with besides the config:
//! `--pin PKG=VERSION` over the config's `[packages] pin` (for this run only), and
//! `--only PKG` to limit the packages the plan touches.

use crate::error::UsageError;
use crate::settings::PackagesSettings;
use anyhow::Result;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// From `--pin`: over `[packages] pin`, this run only.
    pub pins: BTreeMap<String, String>,
    /// From `--only`, deduplicated, in the order given; empty: every package the plan manages.
    pub only: Vec<String>,
    /// From `plan --newest`: the config's pins are left out (the newest that fits, unless
    /// `--pin` says otherwise), as `pool upgrade` asks each host to find the pool's targets.
    pub newest: bool,
}

impl Options {
    /// Checks the raw `--pin` and `--only` values; bad syntax is a usage error (exit 2) that
    /// names the argument.
    pub fn parse(pins: &[String], only: &[String]) -> Result<Options> {
        let mut options = Options::default();
        for arg in pins {
            let (name, version) = parse_pin(arg)?;
            if let Some(earlier) = options.pins.get(&name)
                && *earlier != version
            {
                return Err(UsageError(format!(
                    "--pin {name}={earlier} and --pin {arg} pin {name} to two versions: give one"
                ))
                .into());
            }
            options.pins.insert(name, version);
        }
        for name in only {
            if !is_package_name(name) {
                return Err(UsageError(format!(
                    "--only {name:?}: not a package name (letters, digits and . _ + -, starting with a \
                     letter or digit), e.g. --only linstor-satellite"
                ))
                .into());
            }
            if !options.only.contains(name) {
                options.only.push(name.clone());
            }
        }
        Ok(options)
    }

    /// The `[packages]` section with this run's pins over the config's (a `--pin` wins over
    /// the same package's pin in any file).
    pub fn packages_config(&self, config: &PackagesSettings) -> PackagesSettings {
        let mut merged = config.clone();
        if self.newest {
            merged.pin.clear();
        }
        merged
            .pin
            .extend(self.pins.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }

    /// Whether the plan may touch package `name` (always, without `--only`).
    pub fn includes(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == name)
    }

    pub fn is_scoped(&self) -> bool {
        !self.only.is_empty()
    }
}

/// `PKG=VERSION`, both checked.
fn parse_pin(arg: &str) -> Result<(String, String)> {
    let bad = |why: &str| -> anyhow::Error {
        UsageError(format!(
            "--pin {arg:?}: {why}; write PKG=VERSION, e.g. --pin linstor-satellite=1.29.2 or \
             --pin kmod-drbd=9.2.12-1.xcpng8.3"
        ))
        .into()
    };
    let Some((name, version)) = arg.split_once('=') else {
        return Err(bad("no `=` between the package and the version"));
    };
    if !is_package_name(name) {
        return Err(bad(&format!("{name:?} is not a package name")));
    }
    if !is_version(version) {
        return Err(bad(&format!("{version:?} is not a version")));
    }
    Ok((name.to_owned(), version.to_owned()))
}

/// The same rules as the config's package names and pins (`settings::limits`).
pub use crate::settings::limits::{is_package_name, is_version};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pins_and_only_are_parsed() {
        let options = Options::parse(
            &strings(&[
                "kmod-drbd=9.2.12",
                "linstor-satellite=1.29.2-1.xcpng8.3",
                "x=1:2.0",
            ]),
            &strings(&["linstor-satellite", "linstor-common", "linstor-satellite"]),
        )
        .unwrap();
        assert_eq!(options.pins["kmod-drbd"], "9.2.12");
        assert_eq!(options.pins["linstor-satellite"], "1.29.2-1.xcpng8.3");
        assert_eq!(options.pins["x"], "1:2.0");
        assert_eq!(options.only, ["linstor-satellite", "linstor-common"]);
        assert!(options.includes("linstor-common") && !options.includes("kmod-drbd"));
        assert!(Options::default().includes("anything"));
    }

    #[test]
    fn bad_syntax_is_a_usage_error_naming_the_argument() {
        for bad in [
            "kmod-drbd",
            "=9.2.12",
            "kmod-drbd=",
            "kmod drbd=1",
            "kmod-drbd=9.2.12;rm -rf /",
            "-x=1",
            "a=b=c",
            "a=:1",
            "a=1:",
            "a=$(id)",
            "a=1\n",
        ] {
            let err = Options::parse(&strings(&[bad]), &[]).unwrap_err();
            assert_eq!(exit_code_for(&err), ExitCode::Usage, "{bad:?}");
            assert!(err.to_string().contains("--pin"), "{err}");
        }
        let err = Options::parse(&strings(&["a=1", "a=2"]), &[]).unwrap_err();
        assert!(err.to_string().contains("two versions"), "{err}");
        assert!(Options::parse(&strings(&["a=1", "a=1"]), &[]).is_ok());

        let err = Options::parse(&[], &strings(&["linstor-*"])).unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Usage);
        assert!(err.to_string().contains("--only \"linstor-*\""), "{err}");
    }

    #[test]
    fn command_line_pins_win_over_the_config() {
        let config = PackagesSettings {
            pin: BTreeMap::from([
                ("kmod-drbd".to_owned(), "9.2.11".to_owned()),
                ("drbd-utils".to_owned(), "9.28.0".to_owned()),
            ]),
            ..PackagesSettings::default()
        };
        let options = Options::parse(&strings(&["kmod-drbd=9.2.12"]), &[]).unwrap();
        let merged = options.packages_config(&config);
        assert_eq!(merged.pin["kmod-drbd"], "9.2.12");
        assert_eq!(merged.pin["drbd-utils"], "9.28.0");
    }
}
