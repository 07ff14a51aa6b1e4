//! Text helpers shared by the cards: clipping and sanitising gateway
//! strings, temperatures, durations and times.

use std::time::{Duration, SystemTime};

/// Clipping for names and ids shown on a card.
pub(super) const MAX_NAME: usize = 120;

/// Replaces control characters (all of them, or all but newlines) with
/// spaces and clips to `max` characters, marking the cut with "…".
pub(super) fn clip_with(s: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() && !(keep_newlines && c == '\n') {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn clip(s: &str, max: usize) -> String {
    clip_with(s, max, false)
}

/// "31.4 °C".
pub(super) fn celsius(v: f64) -> String {
    format!("{v:.1} °C")
}

/// "4 s", "12 min", "3 h 5 min", "2 d 4 h" for people: rounded to the
/// nearest unit shown, since a card is read at a glance, not audited.
pub fn human_duration(d: Duration) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    let ms = d.as_millis();
    if ms < 500 {
        return "under 1 s".into();
    }
    // Round at the precision shown; a rounding that reaches the next unit
    // is shown in that unit ("59.7 s" is "1 min", not "60 s").
    let secs = (ms + 500) / 1000;
    let secs = u64::try_from(secs).unwrap_or(u64::MAX);
    if secs < MIN {
        return format!("{secs} s");
    }
    let mins = (secs + MIN / 2) / MIN;
    if mins < 60 {
        return format!("{mins} min");
    }
    if mins < 24 * 60 {
        return match (mins / 60, mins % 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        };
    }
    let hours = (secs + HOUR / 2) / HOUR;
    match (hours / 24, hours % 24) {
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

fn parse_time(stamp: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(stamp.trim()).ok()
}

/// How long from `from` to `to`, when both parse and are in order.
pub(super) fn between(from: &str, to: &str) -> Option<Duration> {
    parse_time(to)?.duration_since(parse_time(from)?).ok()
}

/// A time for a card's text: Adaptive Cards' `{{DATE()}} {{TIME()}}`
/// functions show it in the reader's own time zone and locale; they need a
/// strict `YYYY-MM-DDTHH:MM:SSZ` stamp, so the stamp is normalised first (an
/// unparsable one is shown as it came).
pub(super) fn card_time(stamp: &str) -> String {
    match parse_time(stamp) {
        Some(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{{{{DATE({s}, SHORT)}}}} {{{{TIME({s})}}}}")
        }
        None => clip(stamp, 64),
    }
}

/// A time for plain text (summaries, fallback): UTC, as sent.
pub(super) fn plain_time(stamp: &str) -> String {
    match parse_time(stamp) {
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => clip(stamp, 64),
    }
}
