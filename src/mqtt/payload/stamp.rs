//! Time stamps in payloads: RFC 3339 text and epoch numbers, and which
//! of them are plausible.

/// Stamps before 2000-01-01 come from a device whose clock is not set.
const MIN_STAMP_MS: i64 = 946_684_800_000;
/// Stamps after 9999-12-31 are not stamps.
const MAX_STAMP_MS: i64 = 253_402_300_799_999;

/// A float of milliseconds as whole milliseconds, if finite and in range.
pub(super) fn float_ms(ms: f64) -> Option<i64> {
    if ms.is_finite() && ms.abs() < 9.0e15 {
        Some(ms.round() as i64)
    } else {
        None
    }
}

/// Stamps from before 2000 come from a device whose clock is not set.
pub(super) fn plausible_stamp(ms: i64) -> bool {
    (MIN_STAMP_MS..=MAX_STAMP_MS).contains(&ms)
}

/// Parses an RFC 3339 / ISO 8601 time with a zone — `2026-11-21T10:00:00Z`,
/// `2026-11-21T11:00:00.123+01:00`, `…+0100` — into Unix milliseconds.
/// `T`, `t` or a space separates date and time; fractions beyond
/// milliseconds are truncated; a leap second (`:60`) counts as the next
/// second. `None` without a zone (local time cannot be placed) or when
/// malformed.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        )
    };
    let byte = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(byte(4, b"-") && byte(7, b"-") && byte(10, b"Tt ") && byte(13, b":") && byte(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..3 {
            let d = if start + k < i {
                i64::from(b[start + k] - b'0')
            } else {
                0
            };
            frac_ms = frac_ms * 10 + d;
        }
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        &sign @ (b'+' | b'-') => {
            let oh = num(i + 1, 2)?;
            let (om, end) = if byte(i + 3, b":") {
                (num(i + 4, 2)?, i + 6)
            } else {
                (num(i + 3, 2)?, i + 5)
            };
            if end != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(secs * 1000 + frac_ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
