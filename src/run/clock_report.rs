//! What the agent says when the system clock changes under it: once per
//! change, at the level an operator should notice it.

use crate::clock::ClockChange;
use crate::reading::Wall;

/// Logs a clock change the stamping noticed, if any.
pub(super) fn report_clock(change: Option<ClockChange>) {
    match change {
        Some(ClockChange::Unsynced {
            system_ms,
            floor_ms,
        }) => tracing::warn!(
            system = %Wall { ms: system_ms, unsynced: true }.rfc3339(),
            floor = %Wall { ms: floor_ms, unsynced: false }.rfc3339(),
            "the system clock is behind the last known time (no RTC / NTP not synced yet?): reading stamps are estimated and flagged until it syncs"
        ),
        Some(ClockChange::Synced { jump_ms }) => tracing::info!(
            jump_ms,
            "the system clock is synchronised again; stamps are exact from now on"
        ),
        Some(ClockChange::Jumped { jump_ms }) => tracing::warn!(
            jump_ms,
            "the system clock jumped; alert timing is unaffected (it uses the monotonic clock)"
        ),
        None => {}
    }
}
