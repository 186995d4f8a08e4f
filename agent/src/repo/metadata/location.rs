//! A location `href` must stay inside the directory it is relative to: the repository's base
//! URL, or the `xml:base` a mirror layout gives. createrepo_c writes `Packages/…` (or a
//! `--location-prefix` of the owner's choosing); an href that is absolute, carries a scheme, or
//! climbs out with `..` would have the agent read files the repository does not hold (for a
//! `file://` repository, any file on the machine). The sha256 from the signed metadata would
//! still have to match, but a repository is not allowed to reach outside itself at all.

/// Why `href` leaves its base, or `None` when it stays inside.
///
/// The href is read as the URL parser and the filesystem will read it: percent-escapes are
/// decoded first (`%2e%2e` is `..` to the URL parser, `..%2f` becomes `../` in a file path),
/// and a backslash is a separator for `file:` and `http:` URLs.
pub(crate) fn escapes(href: &str) -> Option<&'static str> {
    if href.is_empty() {
        return Some("it is empty");
    }
    let decoded = percent_encoding::percent_decode_str(href).decode_utf8_lossy();
    for text in [href, decoded.as_ref()] {
        if text.contains('\\') {
            return Some("it contains a backslash");
        }
        if text.starts_with('/') {
            return Some("it is an absolute path");
        }
        // A scheme (`file:`, `http:`) before the first slash makes it a URL of its own.
        if text.split('/').next().is_some_and(|first| first.contains(':')) {
            return Some("it is a URL, not a path relative to the repository");
        }
        let mut depth = 0usize;
        for segment in text.split('/') {
            match segment {
                "" | "." => {}
                ".." => match depth.checked_sub(1) {
                    Some(up) => depth = up,
                    None => return Some("its `..` climbs out of the repository"),
                },
                _ => depth += 1,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_inside_the_base_are_accepted() {
        for href in [
            "Packages/kmod-drbd-9.2.12-1.xcpng8.3.x86_64.rpm",
            "Packages/k/kmod.rpm",
            "kmod.rpm",
            "./Packages/kmod.rpm",
            "Packages/../Packages/kmod.rpm",
            "Packages/a%2Bb.rpm",
            "repodata/abc-primary.xml.gz",
        ] {
            assert_eq!(escapes(href), None, "{href}");
        }
    }

    #[test]
    fn hrefs_that_leave_the_base_are_refused() {
        for href in [
            "",
            "../outside/Packages/kmod.rpm",
            "../../../../../../../../tmp/x/kmod.rpm",
            "Packages/../../kmod.rpm",
            "/tmp/x/Packages/kmod.rpm",
            "//evil.example/kmod.rpm",
            "file:///etc/passwd",
            "https://evil.example/kmod.rpm",
            "%2e%2e/kmod.rpm",
            "%2E%2e/%2e%2e/kmod.rpm",
            "..%2f..%2fkmod.rpm",
            "%2ftmp/kmod.rpm",
            "..\\kmod.rpm",
            "Packages\\..\\..\\kmod.rpm",
        ] {
            assert!(escapes(href).is_some(), "{href:?} is accepted");
        }
    }
}
