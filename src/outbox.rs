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
pub fn drain_to_log(store: &Store, remove: bool) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let batch = store.outbox_after(store.logged_upto(), 256)?;
        let Some(&(last, _)) = batch.last() else {
            return Ok(total);
        };
        for (_, e) in &batch {
            log_event(e);
        }
        if remove {
            let seqs: Vec<u64> = batch.iter().map(|(s, _)| *s).collect();
            store.outbox_remove(&seqs)?;
        }
        store.set_logged_upto(last)?;
        total += batch.len();
    }
}
