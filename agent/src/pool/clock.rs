//! The run's clock: wall-clock seconds since the epoch (what the journal records), and their
//! `HH:MM:SS UTC` form for messages.

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `HH:MM:SS UTC` of a time in seconds since the epoch.
pub fn utc_clock(epoch: f64) -> String {
    let secs = epoch.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, (secs / 60) % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_are_utc() {
        assert_eq!(utc_clock(86_400.0 * 3.0 + 3_723.0), "01:02:03 UTC");
    }
}
