//! Wire types exchanged between the edgetherm agent and its relay.
//!
//! No I/O lives here: just the JSON shapes of `POST {relay}/v1/events`, so the
//! agent and the relay cannot drift apart. Timestamps travel as RFC 3339 UTC
//! strings (`2026-11-21T10:00:05Z`); both sides format and parse them.

use serde::{Deserialize, Serialize};

pub mod glob;
pub mod trend;

pub use trend::Trend;

/// What happened to an alert, or what else the agent needs a person to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A threshold rule has held past its `for` duration (or repeats while firing).
    Firing,
    /// A firing, stale or agent-fault alert is over; `alert` names which one.
    Resolved,
    /// A sensor produced something that is not a temperature (CRC error, 85 °C power-on value, ...).
    SensorFault,
    /// No valid reading arrived within the rule's `stale` duration.
    Stale,
    /// A clearly-marked test sent by `edgetherm test-alert`.
    Test,
    /// The agent itself needs attention (e.g. its store was corrupt and was moved aside).
    AgentFault,
}

impl EventKind {
    /// The lower-case name used on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Firing => "firing",
            EventKind::Resolved => "resolved",
            EventKind::SensorFault => "sensor_fault",
            EventKind::Stale => "stale",
            EventKind::Test => "test",
            EventKind::AgentFault => "agent_fault",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, nobody needs to get up.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The lower-case name used on the wire, in config and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which side of a threshold a value crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value rose above `above`.
    Above,
    /// The value fell below `below`.
    Below,
}

impl Direction {
    /// The lower-case name used on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// One alert event; `id` (a ULID) is unique and the relay's idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// ULID, unique per event.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// The id of the alert episode this event belongs to: the id of the event
    /// that opened it (so `resolved` and repeated `firing` events can update
    /// the first message in place). Absent for one-off events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The rule's id; absent for events that no rule produced (sensor faults, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The sensor's id; absent for agent-level events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// The sensor's human name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_name: Option<String>,
    /// How urgent it is.
    pub severity: Severity,
    /// The temperature in °C that triggered the event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold in °C that was crossed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Which side of the threshold, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// When the condition began (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When the event was produced (RFC 3339 UTC).
    pub at: String,
    /// A sentence for people: the fault, the reason for a test, and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// True when `at`/`since` come from an unsynchronised clock (estimated stamps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clock_unsynced: bool,
    /// The sensor's recent readings (docs/wire.md), for the card's chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}

impl Event {
    /// An event with only its required fields; the rest start empty.
    pub fn new(id: String, kind: EventKind, severity: Severity, at: String) -> Event {
        Event {
            id,
            kind,
            alert: None,
            rule: None,
            sensor: None,
            sensor_name: None,
            severity,
            value: None,
            threshold: None,
            direction: None,
            since: None,
            at,
            detail: None,
            clock_unsynced: false,
            trend: None,
        }
    }
}

/// A sensor's latest value, as carried in a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorBeat {
    /// Sensor id.
    pub id: String,
    /// Last valid value in °C, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Seconds since that value was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_s: Option<u64>,
}

/// The agent's liveness report, sent with every batch (or alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Seconds since the agent started.
    pub uptime_s: u64,
    /// Events still waiting in the outbox.
    pub outbox: u64,
    /// Seconds between heartbeats, so the relay knows when one is missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u64>,
    /// Each sensor's last value and its age.
    #[serde(default)]
    pub sensors: Vec<SensorBeat>,
    /// The `alert` ids of the episodes open at the gateway. Absent from older
    /// agents (then the relay infers nothing from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<Vec<String>>,
    /// The agent's name and version, e.g. "edgetherm 0.1.0".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// The body of `POST {relay}/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    /// The gateway's id.
    pub gateway: String,
    /// The human site label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// When the batch left the agent (RFC 3339 UTC).
    pub sent_at: String,
    /// Events, oldest first; required, possibly empty (a batch whose
    /// `events` key is missing or misspelt must be refused, not emptied).
    pub events: Vec<Event>,
    /// The agent's liveness report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

/// The relay's 200 answer: the ids it has taken responsibility for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Event ids the agent may now delete from its outbox.
    pub accepted: Vec<String>,
    /// For each `test` event in the batch: where the relay will send it, so
    /// `edgetherm test-alert` can say where the chain stops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRoute>,
}

/// Where the relay sends one test event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRoute {
    /// The test event's id.
    pub id: String,
    /// How many Teams conversations it is queued for.
    pub conversations: u32,
    /// False when the relay has no Teams credentials and sends nothing.
    pub teams: bool,
}

/// DESIGN.md's example batch ("Wire format"), verbatim: the contract's own
/// words, for tests on both sides of the wire.
#[doc(hidden)]
pub const DESIGN_EXAMPLE_BATCH: &str = r#"{
  "gateway": "dc1-gw01",
  "site": "Datacenter 1",
  "sent_at": "2026-11-21T10:00:05Z",
  "events": [
    {
      "id": "01JD3X0Q9W8M1K7V5R2T6Y4ZBN",
      "kind": "firing",
      "rule": "rack-inlet-high",
      "sensor": "rack1-inlet",
      "sensor_name": "Rack 1 inlet",
      "severity": "critical",
      "value": 31.4,
      "threshold": 30.0,
      "direction": "above",
      "since": "2026-11-21T09:58:01Z",
      "at": "2026-11-21T10:00:01Z"
    }
  ],
  "heartbeat": { "uptime_s": 86400, "outbox": 0, "sensors": [ {"id": "rack1-inlet", "value": 31.4, "age_s": 4} ] }
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_example_round_trips() {
        let body = DESIGN_EXAMPLE_BATCH;
        let batch: EventBatch = serde_json::from_str(body).unwrap();
        assert_eq!(batch.events[0].kind, EventKind::Firing);
        assert_eq!(batch.events[0].direction, Some(Direction::Above));
        assert_eq!(batch.heartbeat.as_ref().unwrap().sensors[0].age_s, Some(4));
        let again: EventBatch =
            serde_json::from_str(&serde_json::to_string(&batch).unwrap()).unwrap();
        assert_eq!(batch, again);
    }

    #[test]
    fn unknown_kind_is_rejected() {
        let err = serde_json::from_str::<EventKind>("\"exploded\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn names_match_serde() {
        for k in [
            EventKind::Firing,
            EventKind::Resolved,
            EventKind::SensorFault,
            EventKind::Stale,
            EventKind::Test,
            EventKind::AgentFault,
        ] {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
