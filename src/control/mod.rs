//! The local control socket: `status`, `history` and `test-alert` ask the
//! running agent through `<data_dir>/control.sock` (a Unix socket, never on
//! the network). One JSON request line, one JSON reply line.

mod client;
mod last_hour;
mod server;

use serde::{Deserialize, Serialize};

use crate::rules::AlertStatus;

pub use client::{ask, AskError};
pub use server::{serve, CoreHandle, Served, TEST_WAIT};

/// The socket's path inside a data dir.
pub fn socket_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("control.sock")
}

/// A question to the running agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Sensors, alerts, outbox.
    Status,
    /// Stored readings of one sensor.
    History {
        /// Sensor id.
        sensor: String,
        /// Wall ms to start from.
        since_ms: i64,
        /// At most this many rows.
        limit: usize,
    },
    /// Emit a test event through the whole chain.
    TestAlert,
}

/// The agent's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// For `Status`.
    Status(Box<StatusReport>),
    /// For `History`.
    History {
        /// Oldest first.
        rows: Vec<HistoryRow>,
    },
    /// For `TestAlert`.
    TestAlert {
        /// The test event's id.
        id: String,
        /// Where it went.
        delivered_to: String,
    },
    /// Something went wrong.
    Error {
        /// What, for a person.
        message: String,
    },
}

/// What `edgetherm status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// Gateway id.
    pub gateway: String,
    /// Site label.
    pub site: Option<String>,
    /// Agent version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Whether the wall clock is trusted.
    pub clock_synced: bool,
    /// Each sensor.
    pub sensors: Vec<SensorStatus>,
    /// Each (rule, sensor) alert.
    pub alerts: Vec<AlertStatus>,
    /// Events waiting in the outbox.
    pub outbox: u64,
    /// Where events go.
    pub delivery: String,
    /// Store path.
    pub store_path: String,
    /// Store size on disk.
    pub store_bytes: u64,
    /// Readings dropped by retention since start.
    pub dropped_expired: u64,
    /// Readings dropped for the disk cap since start.
    pub dropped_for_space: u64,
    /// Readings that could not be stored since start.
    pub store_errors: u64,
    /// Readings dropped from memory because the store refused them too long.
    #[serde(default)]
    pub readings_dropped: u64,
    /// Damaged reading blocks skipped since start.
    #[serde(default)]
    pub damaged_blocks: u64,
    /// Alert events held in memory because the store refuses writes now.
    #[serde(default)]
    pub events_held: u64,
    /// The MQTT broker connection, if there are mqtt sensors.
    #[serde(default)]
    pub mqtt: Option<crate::mqtt::MqttStatus>,
    /// The relay uplink, if `[relay]` is configured.
    #[serde(default)]
    pub relay: Option<crate::uplink::UplinkStatus>,
    /// The core's wall clock (ms) when it made the report, estimated like
    /// the stamps if the clock is not synced: the last hour ends there.
    /// Handed from the core to the socket server in memory, never sent.
    #[serde(skip)]
    pub wall_ms: i64,
}

/// One sensor in `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SensorStatus {
    /// Sensor id.
    pub id: String,
    /// Human name.
    pub name: Option<String>,
    /// Kind.
    pub kind: String,
    /// Last valid value.
    pub value: Option<f64>,
    /// Its age in seconds.
    pub age_s: Option<u64>,
    /// Last fault, if the latest reading was one.
    pub fault: Option<String>,
    /// Why the sensor is not being read, if it is not.
    pub note: Option<String>,
    /// The last hour's values (°C), oldest first, thinned to at most 36
    /// (each slice's lowest and highest); absent from older agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_hour: Vec<f64>,
}

/// One stored reading in `history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRow {
    /// RFC 3339 stamp.
    pub at: String,
    /// °C, if valid.
    pub value: Option<f64>,
    /// The fault, if not.
    pub fault: Option<String>,
    /// True if the stamp was estimated (clock not synced).
    pub unsynced: bool,
}

impl HistoryRow {
    /// From a stored reading.
    pub fn from_stored(r: &crate::store::StoredReading) -> HistoryRow {
        HistoryRow {
            at: r.wall.rfc3339(),
            value: r.value.as_ref().ok().copied(),
            fault: r.value.as_ref().err().map(ToString::to_string),
            unsynced: r.wall.unsynced,
        }
    }
}
