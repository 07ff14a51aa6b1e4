//! The relay uplink: drains the durable outbox to `POST {relay}/v1/events`,
//! oldest first, and deletes an event only once the relay's 2xx lists it.
//! Delivery is at-least-once from here; the relay's idempotency on event ids
//! makes it exactly-once in Teams. Heartbeats ride along with every batch, or
//! go alone every `heartbeat` when there is nothing else to send.

mod beats;
mod http;
mod watch;

use std::time::Duration;

use edgetherm_proto::{Event, EventBatch, EventKind};
use tokio::sync::Notify;
use tokio::time::Instant;

pub use beats::LastValues;
pub use http::{classify, ClientError, Outcome, RelayClient};
pub use watch::{TestOutcome, UplinkHandle, UplinkStatus};

use crate::backoff::Backoff;
use crate::config::RelayConfig;
use crate::reading::{MonoClock, Wall};
use crate::store::Store;

/// Events per batch; halved on a 413 (a relay with a small body limit).
const MAX_BATCH: usize = 100;
/// Retries of a down or busy relay back off up to this.
const RETRY_CAP: Duration = Duration::from_secs(60);
/// The shortest wait after a 429/5xx, whatever `Retry-After` says.
const MIN_RETRY: Duration = Duration::from_secs(1);
/// A refused batch (bad token, version mismatch) is retried this often, so a
/// fix on the relay's side is picked up without touching the gateway.
const REFUSED_RETRY: Duration = Duration::from_secs(300);

/// The core's side of the uplink: where it rings when events are saved, and
/// where it keeps the values heartbeats carry.
pub struct Feed {
    /// Rung after new events are in the outbox.
    pub wake: std::sync::Arc<Notify>,
    /// Each sensor's last valid value.
    pub last: tokio::sync::watch::Sender<LastValues>,
    /// The uplink's status, for `edgetherm status`.
    pub handle: UplinkHandle,
}

/// Everything the uplink task needs.
pub struct Uplink {
    /// The HTTP side.
    pub client: RelayClient,
    /// Where the outbox lives.
    pub store: Store,
    /// `[agent] gateway_id`.
    pub gateway: String,
    /// `[agent] site`.
    pub site: Option<String>,
    /// `[relay] heartbeat`.
    pub heartbeat: Duration,
    /// For uptime and value ages.
    pub mono: MonoClock,
    /// The core's last values.
    pub last: tokio::sync::watch::Receiver<LastValues>,
    /// Rung by the core when it has saved new events.
    pub wake: std::sync::Arc<Notify>,
    /// Status and test-alert waiters.
    pub handle: UplinkHandle,
}

impl Uplink {
    /// Sets up the uplink for `[relay]`; the caller spawns [`Uplink::run`].
    pub fn new(
        cfg: &RelayConfig,
        store: Store,
        gateway: String,
        site: Option<String>,
        mono: MonoClock,
    ) -> Result<(Uplink, Feed), ClientError> {
        let client = RelayClient::new(cfg)?;
        let handle = UplinkHandle::default();
        handle.update(|s| {
            s.url = cfg.url.clone();
            s.state = "starting".into();
        });
        let (last_tx, last) = tokio::sync::watch::channel(LastValues::default());
        let wake = std::sync::Arc::new(Notify::new());
        let feed = Feed {
            wake: wake.clone(),
            last: last_tx,
            handle: handle.clone(),
        };
        let uplink = Uplink {
            client,
            store,
            gateway,
            site,
            heartbeat: cfg.heartbeat,
            mono,
            last,
            wake,
            handle,
        };
        Ok((uplink, feed))
    }

    /// Runs forever (until the task is aborted).
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_secs(1), RETRY_CAP);
        // Paces re-sending events a 2xx did not list (see below).
        let mut resend = Backoff::new(Duration::from_secs(1), RETRY_CAP);
        let mut batch_size = MAX_BATCH;
        let mut last_sent: Option<Instant> = None;
        let mut failing_since_logged = false;
        loop {
            let pending = match self.pending(batch_size).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "uplink: cannot read the outbox; retrying in 10 s");
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    continue;
                }
            };
            let beat_due = last_sent.is_none_or(|t| t.elapsed() >= self.heartbeat);
            if pending.is_empty() && !beat_due {
                let wait = self
                    .heartbeat
                    .saturating_sub(last_sent.map_or(Duration::ZERO, |t| t.elapsed()));
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = self.handle.retry_now.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            let events: Vec<Event> = pending.iter().map(|(_, e)| e.clone()).collect();
            let batch = self.batch(events).await;
            let outcome = self.client.post(&batch).await;
            let delay = match outcome {
                Outcome::Accepted(accepted) => {
                    last_sent = Some(Instant::now());
                    backoff.reset();
                    let missing = self
                        .on_accepted(&pending, accepted, failing_since_logged)
                        .await;
                    failing_since_logged = false;
                    if missing == 0 {
                        resend.reset();
                        // A 413 shrank batches; grow back as they get through.
                        batch_size = (batch_size * 2).min(MAX_BATCH);
                        // More may be waiting: go again at once.
                        continue;
                    }
                    // What the relay did not list goes again, but not at
                    // once: a relay that keeps leaving an event out must not
                    // be hammered in a tight loop (nor the journal flooded
                    // with the warning).
                    resend.next_delay()
                }
                Outcome::TooLarge if batch_size > 1 && pending.len() > 1 => {
                    batch_size = (batch_size / 2).max(1);
                    tracing::warn!(
                        batch_size,
                        "the relay found the batch too large (413): sending fewer events per batch"
                    );
                    continue;
                }
                Outcome::TooLarge => {
                    let why = "the relay refuses a batch with at most one event as too large (413): raise its [server] max_body_bytes".to_string();
                    self.on_failure(&pending, "refused", why, &mut failing_since_logged);
                    REFUSED_RETRY
                }
                Outcome::Retry { after, why } => {
                    self.on_failure(&pending, "retrying", why, &mut failing_since_logged);
                    // A zero Retry-After must not turn into a tight loop.
                    after.map_or_else(|| backoff.next_delay(), |a| a.max(MIN_RETRY))
                }
                Outcome::Refused { why, .. } => {
                    self.on_failure(&pending, "refused", why, &mut failing_since_logged);
                    REFUSED_RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.handle.retry_now.notified() => {}
            }
        }
    }

    async fn pending(&self, limit: usize) -> Result<Vec<(u64, Event)>, crate::store::StoreError> {
        // Only what the log already has: every event is logged before it can
        // leave (and vanish from) the outbox, even at start-up. A bounded
        // range read of the store: called in place, not on another thread
        // (the agent runs its tasks on one thread; a hop costs more).
        let upto = self.store.logged_upto();
        let mut events = self.store.outbox_after(0, limit)?;
        events.retain(|(seq, _)| *seq <= upto);
        Ok(events)
    }

    async fn batch(&self, events: Vec<Event>) -> EventBatch {
        let outbox = self.store.outbox_len() as u64;
        let mono = self.mono;
        let heartbeat = self.last.borrow().heartbeat(
            mono.now(),
            mono.uptime_ms() / 1000,
            outbox,
            self.heartbeat,
        );
        EventBatch {
            gateway: self.gateway.clone(),
            site: self.site.clone(),
            sent_at: Wall::system_now().rfc3339(),
            events,
            heartbeat: Some(heartbeat),
        }
    }

    /// Removes what the relay accepted; returns how many sent events it left out.
    async fn on_accepted(
        &self,
        pending: &[(u64, Event)],
        accepted: edgetherm_proto::Accepted,
        was_failing: bool,
    ) -> usize {
        let seqs: Vec<u64> = pending
            .iter()
            .filter(|(_, e)| accepted.accepted.contains(&e.id))
            .map(|(s, _)| *s)
            .collect();
        let missing = pending.len() - seqs.len();
        if !seqs.is_empty() {
            // Not flushed by itself (see Store::outbox_remove): quick.
            if let Err(e) = self.store.outbox_remove(&seqs) {
                // They are sent again later; the relay drops the duplicates.
                tracing::error!(error = %e, "uplink: delivered events could not be removed from the outbox");
            }
        }
        if missing > 0 {
            tracing::warn!(missing, "the relay's answer did not list every event sent; those stay in the outbox and are sent again");
        }
        for (_, e) in pending.iter().filter(|(_, e)| e.kind == EventKind::Test) {
            if accepted.accepted.contains(&e.id) {
                let route = accepted
                    .tests
                    .iter()
                    .find(|t| t.id == e.id)
                    .map(|t| (t.conversations, t.teams));
                self.handle.settle(&e.id, TestOutcome::Delivered { route });
            }
        }
        if was_failing {
            tracing::info!(url = %self.client.events_url(), "the relay is reachable again; delivering what waited in the outbox");
        }
        if !seqs.is_empty() {
            tracing::debug!(count = seqs.len(), "events delivered to the relay");
        }
        self.handle.update(|s| {
            s.state = "ok".into();
            s.last_ok = Some(Wall::system_now().rfc3339());
            s.failures = 0;
            s.delivered += seqs.len() as u64;
            s.batches += 1;
        });
        missing
    }

    fn on_failure(&self, pending: &[(u64, Event)], state: &str, why: String, logged: &mut bool) {
        let failures = {
            let mut n = 0;
            self.handle.update(|s| {
                s.state = state.into();
                s.failures += 1;
                n = s.failures;
                s.last_error = Some(why.clone());
            });
            n
        };
        // Once when it starts failing, then ever more rarely: a relay down
        // for a week must not fill the journal.
        if !*logged || failures.is_power_of_two() {
            if state == "refused" {
                tracing::error!(
                    waiting = pending.len(),
                    failures,
                    "cannot deliver alert events: {why}; they stay in the outbox"
                );
            } else {
                tracing::warn!(waiting = pending.len(), failures, "cannot deliver to the relay: {why}; retrying with backoff, events stay in the outbox");
            }
            *logged = true;
        }
        // Every waiting test-alert hears it, even one whose event sits
        // behind a full batch: it would not get through either.
        self.handle.fail_waiting(&why);
    }
}
