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

/// "42s", "5m", "2h 5m", "3d 4h" for people.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ if s % 86_400 / 3600 == 0 => format!("{}d", s / 86_400),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
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
