//! How long accepted event ids are remembered. Each id is the idempotency
//! record that keeps a resent event from being posted twice; kept for ever
//! they grew by 8–12 KB per gateway-day (BENCHMARKS.md). The agent resends an
//! event only until the relay's answer reaches it, so an id is forgotten once
//! it is older than `[store] remember_events` (30 days unless set).

use std::time::Duration;

use crate::clock::now_ms;
use crate::store::{Store, StoreError};

/// The first pass comes this long after the start, then one an hour.
const FIRST_PASS: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(3600);

/// Forgets old event ids, once an hour.
pub struct Forgetter {
    store: Store,
    keep: Duration,
}

impl Forgetter {
    /// Forgets ids accepted more than `keep` ago.
    pub fn new(store: Store, keep: Duration) -> Forgetter {
        Forgetter { store, keep }
    }

    /// One pass at `now_ms`: how many ids were forgotten.
    pub fn pass(&self, now_ms: i64) -> Result<u64, StoreError> {
        let keep_ms = i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        self.store
            .forget_events_before(now_ms.saturating_sub(keep_ms))
    }

    /// Runs a pass now and then until the task is dropped. Every relay of a
    /// fleet runs its own: a pass deletes what another already did at no cost.
    pub async fn run(self) {
        let keep = humantime::format_duration(self.keep).to_string();
        let f = std::sync::Arc::new(self);
        let start = tokio::time::Instant::now() + FIRST_PASS;
        let mut tick = tokio::time::interval_at(start, EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let f = f.clone();
            match tokio::task::spawn_blocking(move || f.pass(now_ms())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!(count = n, older_than = %keep, "forgot accepted event ids")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot forget old event ids; trying again in an hour")
                }
                Err(e) => tracing::error!(error = %e, "forgetting old event ids panicked"),
            }
        }
    }
}
