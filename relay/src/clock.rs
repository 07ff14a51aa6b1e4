//! Wall-clock helpers shared by the store, the sender, the bot and the
//! liveness watch: milliseconds since the epoch and RFC 3339 stamps (seconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// `ms` since the epoch as RFC 3339 UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
        .to_string()
}

/// An RFC 3339 stamp as milliseconds since the epoch.
pub fn parse_ms(stamp: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(stamp).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_to_the_second() {
        let ms = 1_795_000_000_123;
        assert_eq!(rfc3339(ms), "2026-11-18T11:06:40Z");
        assert_eq!(parse_ms(&rfc3339(ms)), Some(ms - 123));
        assert_eq!(parse_ms("yesterday"), None);
        assert!(parse_ms(&now_rfc3339()).unwrap() <= now_ms());
    }
}
