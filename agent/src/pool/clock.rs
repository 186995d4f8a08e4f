//! The run's clock: wall-clock seconds since the epoch (what the journal records), and their
//! `HH:MM:SS UTC` form for messages.

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

use crate::utc::utc_parts;

/// `HH:MM:SS UTC` of a time in seconds since the epoch.
pub fn utc_clock(epoch: f64) -> String {
    let secs = epoch.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_datetime(epoch: f64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(epoch);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic), for file names.
pub fn utc_stamp(epoch: f64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(epoch);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_are_utc() {
        assert_eq!(utc_clock(86_400.0 * 3.0 + 3_723.0), "01:02:03 UTC");
    }

    #[test]
    fn calendar_dates_are_utc() {
        assert_eq!(utc_datetime(0.0), "1970-01-01 00:00:00 UTC");
        // `date -u -d @1709251199`: the last second of a leap February.
        assert_eq!(utc_datetime(1_709_251_199.9), "2024-02-29 23:59:59 UTC");
        assert_eq!(utc_stamp(1_709_251_200.0), "20240301T000000Z");
        assert_eq!(utc_datetime(951_782_400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_datetime(f64::NAN), "1970-01-01 00:00:00 UTC");
    }
}
