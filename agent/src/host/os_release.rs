//! `/etc/os-release` (os-release(5)): which distribution the host runs. XCP-ng 8.x says
//! `ID="xenenterprise"` (the XenServer heritage) with `NAME="XCP-ng"`, so callers that want to
//! know "is this XCP-ng" look at the name, not the id.

use crate::host::{Sysroot, rootfs, shell_vars};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::Path;

/// Where os-release(5) says to look, in order.
const LOCATIONS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    pub id: String,
    pub name: String,
    pub version_id: String,
    pub pretty_name: String,
    pub id_like: Vec<String>,
}

impl OsRelease {
    /// Parses the file's text, applying os-release(5)'s defaults for missing fields.
    pub fn parse(text: &str) -> OsRelease {
        let mut vars = shell_vars::parse(text);
        let mut take = |key: &str, default: &str| vars.remove(key).unwrap_or_else(|| default.to_owned());
        OsRelease {
            id: take("ID", "linux"),
            name: take("NAME", "Linux"),
            version_id: take("VERSION_ID", ""),
            pretty_name: take("PRETTY_NAME", "Linux"),
            id_like: take("ID_LIKE", "")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Reads the host's os-release. Its absence means the root is not a host's filesystem, which
    /// is almost always a wrong `--root`: say so rather than guess.
    pub fn load(sysroot: &Sysroot) -> Result<OsRelease> {
        for location in LOCATIONS {
            let path = Path::new(location);
            let text = rootfs::read_optional(sysroot, path)
                .with_context(|| format!("cannot read {}", sysroot.path(path).display()))?;
            if let Some(text) = text {
                return Ok(OsRelease::parse(&text));
            }
        }
        bail!(
            "neither {} nor {} exists: is {} the root of a host? check --root",
            sysroot.path(LOCATIONS[0]).display(),
            sysroot.path(LOCATIONS[1]).display(),
            sysroot.root().display()
        )
    }

    /// True for XCP-ng, whatever its `ID` (`xenenterprise` on 8.x).
    pub fn is_xcpng(&self) -> bool {
        self.name.eq_ignore_ascii_case("XCP-ng") || self.id.eq_ignore_ascii_case("xcp-ng")
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// The os-release of an XCP-ng 8.3 dom0.
    pub const XCPNG_83: &str = r#"NAME="XCP-ng"
VERSION="8.3.0"
ID="xenenterprise"
ID_LIKE="centos rhel fedora"
VERSION_ID="8.3.0"
PRETTY_NAME="XCP-ng 8.3.0"
ANSI_COLOR="0;31"
HOME_URL="http://xcp-ng.org/"
BUG_REPORT_URL="https://github.com/xcp-ng/xcp"
"#;

    #[test]
    fn xcpng_83_is_parsed() {
        let os = OsRelease::parse(XCPNG_83);
        assert_eq!(os.id, "xenenterprise");
        assert_eq!(os.name, "XCP-ng");
        assert_eq!(os.version_id, "8.3.0");
        assert_eq!(os.pretty_name, "XCP-ng 8.3.0");
        assert_eq!(os.id_like, ["centos", "rhel", "fedora"]);
        assert!(os.is_xcpng());
    }

    #[test]
    fn defaults_apply_to_missing_fields() {
        let os = OsRelease::parse("# nothing here\n");
        assert_eq!((os.id.as_str(), os.name.as_str()), ("linux", "Linux"));
        assert!(os.version_id.is_empty() && os.id_like.is_empty());
        assert!(!os.is_xcpng());
    }

    #[test]
    fn usr_lib_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        std::fs::create_dir_all(root.path("/usr/lib")).unwrap();
        std::fs::write(
            root.path("/usr/lib/os-release"),
            "ID=almalinux\nVERSION_ID='10.0'\n",
        )
        .unwrap();
        let os = OsRelease::load(&root).unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_str()), ("almalinux", "10.0"));
    }

    #[test]
    fn missing_file_names_it_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let err = OsRelease::load(&Sysroot::new(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("etc/os-release"), "{err}");
        assert!(err.contains("check --root"), "{err}");
    }
}
