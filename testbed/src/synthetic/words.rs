//! The generator's randomness and vocabulary: a seeded SplitMix64, the syllables names are
//! made of, languages, phrases and sentences for summaries and changelogs.

/// SplitMix64: small, fast, and the same on every machine.
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}
pub(super) const SYLLABLES: &[&str] = &[
    "ac", "al", "an", "ar", "as", "ba", "bel", "bi", "bo", "ca", "cor", "cu", "da", "del", "di", "do", "ex",
    "fa", "fer", "fi", "fo", "ga", "gen", "gi", "ha", "he", "hu", "in", "is", "jo", "ka", "ki", "la", "le",
    "lin", "lo", "lu", "ma", "me", "mi", "mon", "mu", "na", "ne", "ni", "no", "or", "pa", "pe", "pi", "po",
    "qua", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so", "ta", "te", "ti", "tor", "tu", "ul", "un",
    "va", "ve", "vi", "vo", "wa", "xa", "xi", "ya", "za", "ze", "zo",
];
pub(super) const LANGS: &[&str] = &[
    "af", "ar", "as", "ast", "be", "bg", "bn", "bn_IN", "br", "bs", "ca", "cs", "cy", "da", "de", "el",
    "en_GB", "eo", "es", "et", "eu", "fa", "fi", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "ia", "id",
    "is", "it", "ja", "ka", "kk", "km", "kn", "ko", "lt", "lv", "mk", "ml", "mr", "ms", "nb", "nl", "nn",
    "or", "pa", "pl", "pt", "pt_BR", "ro", "ru", "si", "sk", "sl", "sq", "sr", "sr@latin", "sv", "ta", "te",
    "th", "tr", "uk", "vi", "zh_CN", "zh_HK", "zh_TW",
];
pub(super) const PHRASES: &[&str] = &[
    "library for parsing and writing structured data",
    "command line tools for managing system resources",
    "bindings for a widely used C library",
    "utilities to inspect and convert file formats",
    "daemon that monitors services and reports their state",
    "development files for building against the library",
    "documentation in HTML and manual pages",
    "plugins that extend the application with extra formats",
    "fonts and font configuration",
    "graphical front end for common administration tasks",
];
pub(super) const SENTENCES: &[&str] = &[
    "It is used by many other packages in the distribution.",
    "The package contains the shared libraries and the command line tools.",
    "This build is configured for the enterprise distribution and follows its packaging guidelines.",
    "Install this package if you need to build software that uses it.",
    "Upstream releases are tested against the supported architectures before they are shipped.",
    "Configuration files are read from the system configuration directory.",
    "The documentation describes every option and gives examples of common use.",
    "It replaces an older implementation and keeps compatibility with its file formats.",
];

pub(super) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
/// `1.2.3` → `1.2.4`; anything else gets `.1` appended.
pub(super) fn bump(ver: &str) -> String {
    match ver.rsplit_once('.') {
        Some((head, last)) if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() => {
            format!("{head}.{}", last.parse::<u64>().unwrap_or(0) + 1)
        }
        _ => format!("{ver}.1"),
    }
}
