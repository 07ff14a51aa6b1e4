//! The send worker: routes accepted events into jobs, then sends each job
//! through the Bot Connector, oldest first per conversation, within Teams'
//! rate limits, with the documented handling of every failure.
//!
//! Delivery is at-least-once towards Teams: a crash between Teams' 2xx and
//! the job's removal (one local transaction) would post that card again on
//! restart. Everything before that point is idempotent.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgetherm_proto::EventKind;
use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::conversations::ConvState;
use crate::fleet::{Member, Role};
use crate::metrics::Metrics;
use crate::queue::{Action, Delivery, Job, Queue};
use crate::routing::Routing;
use crate::store::Store;
use crate::teams::card::{self, CardContext};
use crate::teams::connector::{Connector, SendError};
use crate::teams::ratelimit::RateLimiter;

/// Transient failures are retried this many times (about an hour with backoff), then dropped loudly.
const MAX_ATTEMPTS: u32 = 16;

/// Exponential backoff with ±25% jitter: 1 s, 2 s, 4 s ... capped at 5 minutes.
fn backoff(attempts: u32, seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let base = Duration::from_secs(1u64 << attempts.min(9)).min(Duration::from_secs(300));
    base.mul_f64(0.75 + (*seed % 1000) as f64 / 2000.0)
}

/// The worker's state.
pub struct Sender {
    /// The queue.
    pub queue: Queue,
    /// The store (conversation references).
    pub store: Store,
    /// The Bot Connector client.
    pub connector: Connector,
    /// Who gets what.
    pub routing: Routing,
    /// Counters.
    pub metrics: Arc<Metrics>,
    limiter: RateLimiter,
    seed: u64,
    member: Member,
    /// Conversations this instance holds send leases on (None: all).
    leased: Option<HashSet<String>>,
    renewed: Option<Instant>,
}

impl Sender {
    /// A worker over these parts.
    pub fn new(
        queue: Queue,
        store: Store,
        connector: Connector,
        routing: Routing,
        metrics: Arc<Metrics>,
    ) -> Sender {
        Sender {
            queue,
            store,
            connector,
            routing,
            metrics,
            limiter: RateLimiter::new(),
            seed: (now_ms() as u64) | 1,
            member: Member::default(),
            leased: None,
            renewed: None,
        }
    }

    /// The same worker as `member` of a fleet of relays on one store.
    pub fn in_fleet(mut self, member: Member) -> Sender {
        self.member = member;
        self
    }

    /// Takes or renews this instance's send leases. A conversation taken
    /// over from another instance brings its recent sends along, so
    /// Teams' per-conversation limits hold across the takeover. False when
    /// the store cannot say (send nothing until it can).
    fn renew_leases(&mut self) -> bool {
        let backend = self.store.backend();
        let held = match backend.lease_conversations(&self.member.instance, self.member.lease) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "cannot renew send leases; sending nothing until the store answers");
                self.leased = Some(HashSet::new());
                return false;
            }
        };
        self.renewed = Some(Instant::now());
        if let Some(now_held) = &held {
            let hour_ago = now_ms() - 3_600_000;
            for conv in now_held {
                if self.leased.as_ref().is_some_and(|l| l.contains(conv)) {
                    continue;
                }
                match backend.sends_since(conv, hour_ago) {
                    Ok(sends) => {
                        let (now, now_ms) = (Instant::now(), now_ms());
                        for at in sends {
                            let ago = Duration::from_millis((now_ms - at).max(0) as u64);
                            if let Some(t) = now.checked_sub(ago) {
                                self.limiter.remember(conv, t);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(conversation = %conv, error = %e, "cannot read a conversation's recent sends")
                    }
                }
            }
        }
        self.leased = held;
        true
    }

    /// Counts a send in this relay's limiter and, in a fleet, in the store,
    /// for whichever relay sends to the conversation next.
    fn record_send(&mut self, conv: &crate::conversations::ConversationRef) {
        let tenant = conv.tenant_id.as_deref().unwrap_or_default();
        self.limiter
            .record(tenant, &conv.conversation_id, Instant::now());
        if self.leased.is_some() {
            if let Err(e) = self
                .store
                .backend()
                .record_send(&conv.conversation_id, now_ms())
            {
                tracing::error!(error = %e, "cannot record a send for the fleet's rate limits");
            }
        }
    }

    /// True when this instance may send to `conversation` now.
    fn holds(&mut self, conversation: &str) -> bool {
        let stale = self
            .renewed
            .is_none_or(|t| t.elapsed() >= self.member.lease / 3);
        if stale && !self.renew_leases() {
            return false;
        }
        self.leased
            .as_ref()
            .is_none_or(|l| l.contains(conversation))
    }

    /// Runs forever: dispatch, send what is due, sleep until woken or a second passes.
    pub async fn run(mut self, wake: Arc<Notify>) {
        loop {
            let next = self.pass().await;
            let nap = next
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            tokio::select! { _ = wake.notified() => {}, _ = tokio::time::sleep(nap) => {} }
        }
    }

    /// One pass over the queue; returns how long until the next job is due, if known.
    pub async fn pass(&mut self) -> Option<Duration> {
        let queue = self.queue.clone();
        let routing = self.routing.clone();
        let (store, member) = (self.store.clone(), self.member.clone());
        let dispatch = move || {
            // One router in the fleet: it alone sees every open episode,
            // and it stops well before the lease it just renewed runs out.
            if !member.leads(&store, Role::Dispatch) {
                return Ok(0);
            }
            let until = Instant::now() + member.lease / 3;
            queue.dispatch_until(&routing, now_ms(), 500, Some(until))
        };
        match tokio::task::spawn_blocking(dispatch).await {
            Ok(Err(e)) => tracing::error!(error = %e, "cannot route events into the send queue"),
            Err(e) => tracing::error!(error = %e, "routing task failed"),
            Ok(Ok(_)) => {}
        }
        self.limiter.prune(Instant::now());
        if !self.renew_leases() {
            return Some(Duration::from_secs(1));
        }
        let jobs = match self.queue.jobs() {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the send queue");
                return Some(Duration::from_secs(1));
            }
        };
        let mut held: HashSet<String> = HashSet::new();
        let mut soonest: Option<Duration> = None;
        for (seq, job) in jobs {
            if held.contains(&job.conversation) || !self.holds(&job.conversation) {
                // Another instance sends to it (or this one lost the lease).
                held.insert(job.conversation.clone());
                continue;
            }
            let now = now_ms();
            if job.not_before_ms > now {
                // Keep the conversation's order: nothing after a waiting job.
                held.insert(job.conversation.clone());
                let d = Duration::from_millis((job.not_before_ms - now) as u64);
                soonest = Some(soonest.map_or(d, |s| s.min(d)));
                continue;
            }
            let conv = match self.store.conversation(&job.conversation) {
                Ok(Some(c)) => c,
                Ok(None) => {
                    let _ = self.queue.drop_job(seq);
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a conversation reference; retrying");
                    held.insert(job.conversation.clone());
                    continue;
                }
            };
            if conv.state != ConvState::Active {
                tracing::info!(conversation = %conv.conversation_id, state = conv.state.as_str(), "dropping a message for a conversation we may not write to");
                let _ = self.queue.drop_job(seq);
                continue;
            }
            let tenant = conv.tenant_id.clone().unwrap_or_default();
            let wait = self
                .limiter
                .wait(&tenant, &conv.conversation_id, Instant::now());
            if !wait.is_zero() {
                held.insert(job.conversation.clone());
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                continue;
            }
            self.execute(seq, job, &conv).await;
        }
        soonest
    }

    async fn execute(
        &mut self,
        seq: u64,
        mut job: Job,
        conv: &crate::conversations::ConversationRef,
    ) {
        let tenant = conv.tenant_id.as_deref();
        let (activity, update_of) = match &job.action {
            Action::Post { q } | Action::Update { q, .. } => {
                let episode = q.event.alert.clone().unwrap_or_else(|| q.event.id.clone());
                // A card without the acknowledgement beats no card.
                let ack = self
                    .queue
                    .deliveries(&episode)
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|(_, d)| d.acknowledged_by);
                let ctx = CardContext {
                    gateway: &q.gateway,
                    site: q.site.as_deref(),
                    acknowledged_by: ack.as_deref(),
                    muted_until: None,
                };
                let last_values: Vec<(String, Option<f64>)> =
                    if q.event.rule.as_deref() == Some(crate::liveness::SILENT_RULE) {
                        self.store
                            .heartbeat(&q.gateway)
                            .ok()
                            .flatten()
                            .map(|b| {
                                b.heartbeat
                                    .sensors
                                    .into_iter()
                                    .map(|s| (s.id, s.value))
                                    .collect()
                            })
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                let (content, summary) = card::event_card(&q.event, &ctx, &last_values);
                let activity = card::card_activity(content, &summary, tenant);
                let update_of = match &job.action {
                    Action::Update { activity_id, .. } => Some(activity_id.clone()),
                    _ => None,
                };
                (activity, update_of)
            }
            Action::Welcome => (card::text_activity(&card::welcome_text(), tenant), None),
            Action::Text { text } => (card::text_activity(text, tenant), None),
        };
        // Recorded as late as possible: Teams counts a message when it
        // arrives, and the card was being built until now.
        self.record_send(conv);
        let result = match &update_of {
            Some(id) => self
                .connector
                .update(&conv.service_url, &conv.conversation_id, id, &activity)
                .await
                .map(|()| id.clone()),
            None => {
                self.connector
                    .send(&conv.service_url, &conv.conversation_id, &activity)
                    .await
            }
        };
        let outcome = match result {
            Ok(activity_id) => {
                Metrics::inc(&self.metrics.sent);
                let record = match &job.action {
                    Action::Post { q } if q.event.kind != EventKind::Resolved => {
                        let episode = q.event.alert.clone().unwrap_or_else(|| q.event.id.clone());
                        Some((
                            episode,
                            Delivery {
                                activity_id,
                                acknowledged_by: None,
                            },
                        ))
                    }
                    _ => None,
                };
                self.queue.complete(
                    seq,
                    record
                        .as_ref()
                        .map(|(ep, d)| (ep.as_str(), conv.conversation_id.as_str(), d.clone())),
                )
            }
            Err(SendError::Throttled { retry_after }) => {
                job.attempts += 1;
                job.not_before_ms = now_ms() + retry_after.as_millis() as i64;
                tracing::warn!(conversation = %conv.conversation_id, retry_after_ms = retry_after.as_millis() as u64, "Teams throttled a send (429); waiting as told");
                self.queue.reschedule(seq, &job)
            }
            Err(SendError::Transient(why)) if job.attempts + 1 < MAX_ATTEMPTS => {
                job.attempts += 1;
                let wait = backoff(job.attempts, &mut self.seed);
                job.not_before_ms = now_ms() + wait.as_millis() as i64;
                tracing::warn!(conversation = %conv.conversation_id, attempts = job.attempts, wait_ms = wait.as_millis() as u64, "send failed ({why}); retrying with backoff");
                self.queue.reschedule(seq, &job)
            }
            Err(SendError::ActivityGone(_)) => {
                // The card to update was deleted: post the new state instead.
                if let Action::Update { q, .. } = job.action.clone() {
                    job.action = Action::Post { q };
                }
                self.queue.reschedule(seq, &job)
            }
            Err(
                e @ (SendError::Blocked(_)
                | SendError::NotInstalled(_)
                | SendError::ConversationGone(_)),
            ) => {
                let state = match e {
                    SendError::Blocked(_) => ConvState::Blocked,
                    SendError::NotInstalled(_) => ConvState::NotInstalled,
                    _ => ConvState::Inactive,
                };
                tracing::warn!(conversation = %conv.conversation_id, who = %conv.who(), "{e}: marking the conversation {} and no longer sending to it", state.as_str());
                let mut changed = conv.clone();
                changed.state = state;
                changed.state_reason = Some(e.to_string());
                let _ = self.store.put_conversation(&changed);
                Metrics::inc(&self.metrics.failed);
                self.queue.drop_job(seq)
            }
            Err(e) => {
                tracing::error!(conversation = %conv.conversation_id, attempts = job.attempts + 1, "giving up on a message: {e}");
                Metrics::inc(&self.metrics.failed);
                self.queue.drop_job(seq)
            }
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, "cannot update the send queue");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut seed = 7;
        assert!(backoff(1, &mut seed) <= Duration::from_millis(2_500));
        for _ in 0..100 {
            let d = backoff(30, &mut seed);
            assert!(
                d >= Duration::from_secs(225) && d <= Duration::from_secs(375),
                "{d:?}"
            );
        }
    }
}
