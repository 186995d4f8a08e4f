//! A duration as the config writes it: a whole number and a unit, `90s`, `30m`, `12h`, `7d`,
//! `2w` (`[repo] max_metadata_age`). It is parsed while the file is read, so a bad value is
//! reported with the file and line it is on, like a wrong type.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A positive duration, kept as written (for messages) and in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDuration {
    text: String,
    secs: u64,
}

const UNITS: [(char, u64); 5] = [('s', 1), ('m', 60), ('h', 3600), ('d', 86_400), ('w', 604_800)];

impl ConfigDuration {
    /// `7d` → 7 days; anything else is an error saying how to write one.
    pub fn parse(text: &str) -> Result<ConfigDuration, String> {
        let bad = |why: &str| {
            format!(
                "{text:?} is not a duration ({why}): write a whole number and a unit, s, m, h, d or w \
                 (e.g. \"7d\", \"12h\")"
            )
        };
        let trimmed = text.trim();
        let Some(unit) = trimmed.chars().last() else {
            return Err(bad("it is empty"));
        };
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(bad("no unit"));
        };
        let number = &trimmed[..trimmed.len() - 1];
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("no whole number before the unit"));
        }
        let secs = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|&s| s <= u64::from(u32::MAX) * 100)
            .ok_or_else(|| bad("far too long"))?;
        if secs == 0 {
            return Err(bad("it is zero, which no metadata could meet"));
        }
        Ok(ConfigDuration {
            text: trimmed.to_owned(),
            secs,
        })
    }

    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ConfigDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_unit() {
        for (text, secs) in [
            ("90s", 90),
            ("30m", 1800),
            ("12h", 43_200),
            ("7d", 604_800),
            ("2w", 1_209_600),
        ] {
            let parsed = ConfigDuration::parse(text).unwrap();
            assert_eq!(parsed.as_duration(), Duration::from_secs(secs), "{text}");
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["", "7", "d", "7x", "-7d", "7.5d", "0h", "7 d", "99999999999999w"] {
            let err = ConfigDuration::parse(bad).unwrap_err();
            assert!(err.contains("is not a duration"), "{bad}: {err}");
        }
    }
}
