//! Rate limiting of `sensor_fault` events: a flaky sensor is reported once,
//! then at most hourly while it keeps failing, and again only 15 minutes
//! after a recovery, so a wire that comes and goes does not page anyone per reading.

use crate::reading::{Mono, Wall};

use super::saved::Saved;

const REPEAT_MS: u64 = 3_600_000;
const AFTER_RECOVERY_MS: u64 = 900_000;

/// One sensor's fault-report state.
#[derive(Debug, Clone, Default)]
pub struct FaultTrack {
    active: bool,
    last_emit: Option<Mono>,
    last_emit_wall: Option<i64>,
    since_emit: u32,
}

impl FaultTrack {
    /// Rebuilds from the store at `now` / `wall`.
    pub fn restore(active: bool, last_emit_ms: Option<i64>, now: Mono, wall: Wall) -> FaultTrack {
        let last_emit = match (last_emit_ms, wall.unsynced) {
            (Some(ms), false) if ms <= wall.ms => {
                Some(Mono(now.0.saturating_sub((wall.ms - ms) as u64)))
            }
            // Unknown age on an untrusted clock: count from now (report later, not twice).
            (Some(_), _) => Some(now),
            (None, _) => None,
        };
        FaultTrack {
            active,
            last_emit,
            last_emit_wall: last_emit_ms,
            since_emit: 0,
        }
    }

    /// A faulty reading at `now`; returns the number of faults to report if an event is due.
    pub fn on_fault(&mut self, now: Mono) -> Option<u32> {
        self.since_emit += 1;
        let gap = if self.active {
            REPEAT_MS
        } else {
            AFTER_RECOVERY_MS
        };
        self.active = true;
        let due = self.last_emit.is_none_or(|e| now.since(e) >= gap);
        if !due {
            return None;
        }
        self.last_emit = Some(now);
        let n = self.since_emit;
        self.since_emit = 0;
        Some(n)
    }

    /// A valid reading; true if the sensor was faulting until now.
    pub fn on_valid(&mut self) -> bool {
        std::mem::replace(&mut self.active, false)
    }

    /// The saved form, stamping a just-emitted event with `wall`.
    pub fn save(&mut self, wall: Wall) -> Option<Vec<u8>> {
        if self.since_emit == 0 && self.active && !wall.unsynced {
            self.last_emit_wall = Some(wall.ms);
        }
        let saved = Saved::Fault {
            active: self.active,
            last_emit_ms: self.last_emit_wall,
        };
        Some(serde_json::to_vec(&saved).expect("state serialises"))
    }
}
