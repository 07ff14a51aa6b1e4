//! Durations ("10s", "5m", "1h30m", "7d") and sizes ("256MiB") as written in the config.

use std::time::Duration;

/// What a duration must look like, for error messages.
pub const DURATION_HINT: &str =
    "a duration like \"500ms\", \"10s\", \"5m\", \"2h\", \"7d\" or \"1h30m\"";
/// What a size must look like, for error messages.
pub const SIZE_HINT: &str = "a size like \"512KiB\", \"256MiB\", \"1GiB\" or \"100MB\"";

/// Parses a duration: one or more `<number><unit>` parts, units ms, s, m, h, d, w.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_ms: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_end] {
            "ms" => 1.0,
            "s" | "sec" => 1_000.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            "w" => 604_800_000.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total_ms += number * unit_ms;
    }
    if !total_ms.is_finite() || total_ms > 100.0 * 365.0 * 86_400_000.0 {
        return None;
    }
    Some(Duration::from_millis(total_ms.round() as u64))
}

/// Parses a size in bytes: `<number><unit>`, units B, KB/KiB, MB/MiB, GB/GiB, TB/TiB.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let num_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_end == 0 {
        return None;
    }
    let number: f64 = text[..num_end].parse().ok()?;
    let unit: f64 = match text[num_end..].trim() {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1e12,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * unit;
    (bytes.is_finite() && bytes < 1e18).then_some(bytes.round() as u64)
}

/// Formats a duration the way the config writes it (largest exact unit up to
/// days: a week shows as "7d", as the docs write retention).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Formats a byte count with a binary unit.
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1_500)));
        for bad in ["", "10", "s", "10 parsecs", "-5s", "10x", "1e3s", "5m3"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("100MB"), Some(100_000_000));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        for bad in ["", "256", "MiB", "256mb", "-1MiB", "lots"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for s in ["10s", "5m", "7d", "2h", "250ms", "14d"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_duration(parse_duration("1w").unwrap()), "7d");
        assert_eq!(format_size(256 << 20), "256MiB");
    }
}
