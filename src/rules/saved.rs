//! What the engine saves in the store, so a restart neither re-fires an alert
//! that already fired nor forgets one that is pending or firing.

use edgetherm_proto::Direction;
use serde::{Deserialize, Serialize};

/// One saved state, keyed `a/<rule>/<sensor>` or `f/<sensor>` in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Saved {
    /// A (rule, sensor) alert.
    Alert {
        /// Threshold phase.
        phase: SavedPhase,
        /// The open stale alert, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stale: Option<SavedStale>,
    },
    /// A sensor's fault-report rate limit.
    Fault {
        /// Whether the sensor is currently faulting.
        active: bool,
        /// When a sensor_fault event was last emitted (wall ms), if trusted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_emit_ms: Option<i64>,
    },
}

/// A saved threshold phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum SavedPhase {
    /// Nothing going on.
    Ok,
    /// Breaching, waiting for `for`.
    Pending {
        /// Wall ms when the breach began.
        since_ms: i64,
        /// Whether that stamp was estimated.
        unsynced: bool,
        /// Which side.
        dir: Direction,
    },
    /// Fired; people have been told.
    Firing {
        /// The alert episode id (the first firing event's id).
        alert: String,
        /// Wall ms when the breach began.
        since_ms: i64,
        /// Whether that stamp was estimated.
        unsynced: bool,
        /// Which side.
        dir: Direction,
        /// The value that fired it.
        value: f64,
        /// Held as flapping.
        flapping: bool,
    },
}

/// A saved open stale alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedStale {
    /// The stale event's id.
    pub alert: String,
    /// Wall ms of the last valid reading before it went stale.
    pub since_ms: i64,
}

/// Store key of a (rule, sensor) alert.
pub fn alert_key(rule: &str, sensor: &str) -> String {
    format!("a/{rule}/{sensor}")
}

/// Store key of a sensor's fault tracker.
pub fn fault_key(sensor: &str) -> String {
    format!("f/{sensor}")
}
