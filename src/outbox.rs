//! Delivering the outbox to the log: every alert event becomes one structured
//! `tracing` line (WARN for firing / stale / sensor_fault / agent_fault, INFO
//! for resolved / test). Progress is recorded in the store, so after a crash
//! each event is logged again at most once more, with the same id.

use edgetherm_proto::{Event, EventKind};

use crate::store::{Store, StoreError};

/// Logs one event as one line.
pub fn log_event(e: &Event) {
    let sensor = e.sensor.as_deref().unwrap_or("");
    let rule = e.rule.as_deref().unwrap_or("");
    let value = e.value.map(|v| v.to_string()).unwrap_or_default();
    let threshold = e.threshold.map(|v| v.to_string()).unwrap_or_default();
    let alert = e.alert.as_deref().unwrap_or("");
    let detail = e.detail.as_deref().unwrap_or("");
    let severity = e.severity.as_str();
    let kind = e.kind.as_str();
    match e.kind {
        EventKind::Resolved | EventKind::Test => tracing::info!(
            event = kind, id = %e.id, sensor, rule, value = %value, threshold = %threshold,
            severity, alert, since = e.since.as_deref().unwrap_or(""), detail, "alert event"
        ),
        _ => tracing::warn!(
            event = kind, id = %e.id, sensor, rule, value = %value, threshold = %threshold,
            severity, alert, since = e.since.as_deref().unwrap_or(""), detail, "alert event"
        ),
    }
}

/// Logs every outbox event not logged yet, oldest first. With `remove` (no
/// relay configured: the log is the only destination) logged events leave
/// the outbox; otherwise they stay for the relay uplink. Returns how many.
///
/// Progress is taken before the removal, so a write that fails (a full disk)
/// never logs an event twice; events logged but not yet removed are removed
/// by a later call.
pub fn drain_to_log(store: &Store, remove: bool) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let upto = store.logged_upto();
        let from = if remove { 0 } else { upto };
        let batch = store.outbox_after(from, 256)?;
        let Some(&(last, _)) = batch.last() else {
            return Ok(total);
        };
        let fresh: Vec<&(u64, Event)> = batch.iter().filter(|(s, _)| *s > upto).collect();
        for (_, e) in &fresh {
            log_event(e);
        }
        total += fresh.len();
        if !fresh.is_empty() {
            store.set_logged_upto(last)?;
        }
        if remove {
            let seqs: Vec<u64> = batch.iter().map(|(s, _)| *s).collect();
            store.outbox_remove(&seqs)?;
        }
    }
}
