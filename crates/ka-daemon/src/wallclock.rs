//! Calendar dates of Unix times (UTC), for mail `Date:` headers and syslog time stamps.

/// Month abbreviations, January first.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `(year, month 1..=12, day 1..=31, hour, minute, second, weekday 0 = Sunday)` of a Unix
/// time in UTC (the days-from-civil algorithm, proleptic Gregorian calendar).
pub fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (h, mi, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    // 1970-01-01 was a Thursday.
    let wd = (days + 4).rem_euclid(7);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y, m as u32, d as u32, h as u32, mi as u32, s as u32, wd as u32,
    )
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 4));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0, 2));
        assert_eq!(civil(1_795_345_358), (2026, 11, 22, 11, 2, 38, 0));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59, 3));
    }
}
