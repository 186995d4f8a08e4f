//! RPM version ordering (rpmvercmp), for picking the newest package and checking pins.
//!
//! The comparison itself comes from the `rpm-version` crate that `rpmrepo_metadata`
//! re-exports as `Evr`, so the agent orders versions exactly like the metadata library does
//! instead of carrying a second, subtly different rpmvercmp.

use rpmrepo_metadata::Evr;
use std::cmp::Ordering;

/// Compares two `[epoch:]version[-release]` strings the way rpm does.
///
/// A missing epoch is 0. A missing release sorts *before* any release (`1.0` < `1.0-1`), which
/// is rpm's ordering; a pin such as "9.2.11 with any release" is a matching question, not an
/// ordering one, and belongs to the caller (compare versions only with [`compare_versions`]).
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    Evr::parse(a).cmp(&Evr::parse(b))
}

/// Compares two plain version (or release) strings with rpmvercmp: `9.2.10` < `9.2.11`,
/// `1.0~rc1` < `1.0`, `1.0` < `1.0^git1`, leading zeros ignored.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    // Same epoch, same (empty) release: only the version component decides.
    Evr::new("0", a, "").cmp(&Evr::new("0", b, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn versions_compare_like_rpmvercmp() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("9.2.10", "9.2.11", Less),
            ("9.2.11", "9.2.9", Greater),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("2.0a", "2.0", Greater),
            ("2.0a", "2.0.1", Less),
            ("1.29.2", "1.29.10", Less),
            ("4.19.19", "4.19.19", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_compares_epoch_first_then_version_then_release() {
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(compare_evr("0:2.0-1", "2.0-1"), Equal);
        assert_eq!(compare_evr("9.2.11-1", "9.2.11-2"), Less);
        assert_eq!(compare_evr("8.0.38.4.xcpng8.3", "8.0.38.4.xcpng8.3"), Equal);
        assert_eq!(
            compare_evr("4.19.19-8.0.38.4.xcpng8.3", "4.19.19-8.0.38.10.xcpng8.3"),
            Less
        );
        // rpm: no release sorts before any release.
        assert_eq!(compare_evr("9.2.11", "9.2.11-1"), Less);
    }
}
