//! Building wire events with fresh ULIDs.

use edgetherm_proto::{Direction, Event, EventKind, Severity};

use crate::config::RuleConfig;
use crate::reading::Wall;

/// Where an event comes from: the rule (if any) and the sensor.
pub struct Origin<'a> {
    /// The rule, if a rule produced it.
    pub rule: Option<&'a RuleConfig>,
    /// Sensor id.
    pub sensor: &'a str,
    /// Sensor's human name.
    pub sensor_name: Option<&'a str>,
}

/// A new event with a fresh ULID at `at`, flagged if that stamp was estimated.
pub fn event_at(kind: EventKind, severity: Severity, at: Wall) -> Event {
    let mut e = Event::new(ulid::Ulid::new().to_string(), kind, severity, at.rfc3339());
    e.clock_unsynced = at.unsynced;
    e
}

/// A new event about `origin`; the caller fills in the specifics.
pub fn new_event(kind: EventKind, origin: &Origin<'_>, severity: Severity, at: Wall) -> Event {
    let mut e = event_at(kind, severity, at);
    e.rule = origin.rule.map(|r| r.id.clone());
    e.sensor = Some(origin.sensor.to_string());
    e.sensor_name = origin.sensor_name.map(str::to_string);
    e
}

/// The threshold a direction refers to.
pub fn threshold(rule: &RuleConfig, dir: Direction) -> f64 {
    match dir {
        Direction::Above => rule.above.unwrap_or(f64::NAN),
        Direction::Below => rule.below.unwrap_or(f64::NAN),
    }
}

/// Rounds a temperature for messages and the wire (sensor noise below 1 m°C is meaningless).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// "12m", "2h 5m", "40s" for people.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}
