//! Timestamps in FTP's `YYYYMMDDHHMMSS` form (MDTM, MFMT, MLSx `modify`,
//! RFC 3659 §2.3), always UTC.
//!
//! The conversions use Howard Hinnant's days-from-civil arithmetic on the
//! proleptic Gregorian calendar, which is exact for every date and needs no
//! date crate or time zone database.

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The earliest instant we format: 0000-01-01 00:00:00 UTC.
pub(crate) const MIN_FORMAT: i64 = -62_167_219_200;
/// The latest instant we format: 9999-12-31 23:59:59 UTC.
pub(crate) const MAX_FORMAT: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a civil date (`m` 1..=12, `d` 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Split Unix seconds into UTC (year, month, day, hour, minute, second).
pub fn civil_from_unix(unix_secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix_secs.div_euclid(DAY);
    let secs = unix_secs.rem_euclid(DAY); // [0, 86399]
    let (y, m, d) = civil_from_days(days);
    (y, m, d, (secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32)
}

/// Whether `y` is a Gregorian leap year.
fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` (1..=12) of year `y`.
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// `YYYYMMDDHHMMSS` in UTC. Instants before year 0 or after year 9999 are
/// clamped to those years' ends so the result always has exactly 14 digits.
pub fn format_timestamp(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix_secs.clamp(MIN_FORMAT, MAX_FORMAT));
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// Parse `YYYYMMDDHHMMSS` with an optional `.fraction` (1 to 9 digits,
/// ignored), as UTC. Every field is range-checked (day against its month,
/// leap years included); a leap second `60` is accepted and lands on the next
/// minute. Anything else gives `None`.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (main, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (b.get(..dot)?, Some(b.get(dot + 1..)?)),
        None => (b, None),
    };
    if main.len() != 14 || !main.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Some(frac) = frac
        && (frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> u32 {
        main[range].iter().fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (y, mo, d, h, mi, sec) = (i64::from(num(0..4)), num(4..6), num(6..8), num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * DAY + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_timestamp(0), "19700101000000");
        assert_eq!(format_timestamp(1_700_000_000), "20231114221320");
        assert_eq!(format_timestamp(951_782_400), "20000229000000");
        assert_eq!(format_timestamp(-1), "19691231235959");
        assert_eq!(civil_from_unix(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn clamps_out_of_range_years() {
        assert_eq!(format_timestamp(i64::MAX), "99991231235959");
        assert_eq!(format_timestamp(i64::MIN), "00000101000000");
        assert_eq!(parse_timestamp("99991231235959"), Some(MAX_FORMAT));
        assert_eq!(parse_timestamp("00000101000000"), Some(MIN_FORMAT));
    }

    #[test]
    fn parses_and_validates() {
        assert_eq!(parse_timestamp("20231114221320"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("20231114221320.5"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("20231114221320.123456789"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("20000229000000"), Some(951_782_400));
        assert_eq!(parse_timestamp("20161231235960"), parse_timestamp("20170101000000"));
        for bad in [
            "",
            "2023111422132",
            "202311142213200",
            "20231114221320.",
            "20231114221320.1234567890",
            "20231114221320.x",
            "2023111422132a",
            "+0231114221320",
            "20231314221320",
            "20230014221320",
            "20230100221320",
            "20230229000000",
            "19000229000000",
            "20230431000000",
            "20231114241320",
            "20231114226020",
            "20231114221361",
            "２0231114221320",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(secs in MIN_FORMAT..=MAX_FORMAT) {
            let text = format_timestamp(secs);
            prop_assert_eq!(text.len(), 14);
            prop_assert_eq!(parse_timestamp(&text), Some(secs));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = parse_timestamp(&s);
        }

        #[test]
        fn civil_fields_in_range(secs in any::<i64>()) {
            let (_, m, d, h, mi, s) = civil_from_unix(secs);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 60);
        }
    }
}
