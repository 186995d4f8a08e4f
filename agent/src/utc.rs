//! UTC calendar dates from seconds since the epoch, for the few dates the agent prints
//! (`state.json`, the pool report); no date crate is needed for them.

/// The UTC calendar date and time of a time in seconds since the epoch: (year, month, day,
/// hour, minute, second). Days to dates by Howard Hinnant's `civil_from_days` (the proleptic
/// Gregorian calendar), so no date crate is needed for the report's few dates.
pub fn utc_parts(epoch: f64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = if epoch.is_finite() {
        epoch.floor() as i64
    } else {
        0
    };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rest = rest as u32;
    (year, month, day, rest / 3600, (rest / 60) % 60, rest % 60)
}
