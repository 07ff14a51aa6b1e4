//! The durable send queue. Accepted events are routed into one job per
//! target conversation, in one transaction with their removal from the
//! pending tree, so a crash can neither lose a delivery nor route it twice.
//! Delivery records keep each alert card's activity id per conversation, so
//! `resolved` can update the same card in place.

use std::collections::HashSet;

use edgetherm_proto::EventKind;

use crate::routing::{wants, Routing};
pub use crate::store::{Action, Delivery, Job};
use crate::store::{OpenChange, Queued, Store, StoreError};

/// The send queue, in the relay's store; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    store: Store,
}

impl Queue {
    /// The queue inside `store`.
    pub fn open(store: &Store) -> Queue {
        Queue {
            store: store.clone(),
        }
    }

    /// Deliveries of an alert episode: (conversation, delivery).
    pub fn deliveries(&self, episode: &str) -> Result<Vec<(String, Delivery)>, StoreError> {
        self.store.backend().deliveries(episode)
    }

    /// Alerts that are open (fired, not resolved), by episode id.
    pub fn open_alerts(&self) -> Result<Vec<Queued>, StoreError> {
        self.store.backend().open_alerts()
    }

    /// Jobs in order, with their keys.
    pub fn jobs(&self) -> Result<Vec<(u64, Job)>, StoreError> {
        self.store.backend().jobs()
    }

    /// Alert episodes with a card still waiting in the queue.
    fn queued_cards(&self) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .jobs()?
            .into_iter()
            .filter_map(|(_, j)| match j.action {
                Action::Post { q } => Some(q.event.alert.unwrap_or(q.event.id)),
                _ => None,
            })
            .collect())
    }

    /// The episode of an event sent without `alert` (docs/wire.md): a
    /// `resolved`, or a `firing` / `stale` while one is open, belongs to the
    /// open episode of the same (gateway, rule, sensor); any other `firing`
    /// or `stale` opens its own. One-off kinds have none.
    fn episode_of(&self, q: &Queued) -> Result<Option<String>, StoreError> {
        let same = |o: &Queued| {
            o.gateway == q.gateway
                && o.event.rule == q.event.rule
                && o.event.sensor == q.event.sensor
        };
        let open = || -> Result<Option<String>, StoreError> {
            Ok(self
                .open_alerts()?
                .into_iter()
                .filter(|o| {
                    same(o) && (q.event.kind == EventKind::Resolved || o.event.kind == q.event.kind)
                })
                .find_map(|o| o.event.alert))
        };
        Ok(match q.event.kind {
            EventKind::Resolved => open()?,
            EventKind::Firing | EventKind::Stale => open()?.or_else(|| Some(q.event.id.clone())),
            _ => None,
        })
    }

    /// Routes up to `limit` pending events into jobs, and queues owed
    /// welcomes. Returns how many jobs were created.
    pub fn dispatch(
        &self,
        routing: &Routing,
        now_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.dispatch_until(routing, now_ms, limit, None)
    }

    /// `dispatch`, stopping at `until` (the rest waits for the next pass):
    /// a router holds its fleet lease for a limited time, and two routers
    /// at once could each miss the other's queued cards.
    pub fn dispatch_until(
        &self,
        routing: &Routing,
        now_ms: i64,
        limit: usize,
        until: Option<std::time::Instant>,
    ) -> Result<usize, StoreError> {
        let mut created = 0;
        let conversations = self.store.conversations()?;
        for c in conversations.iter().filter(|c| c.welcome_pending) {
            let job = Job {
                conversation: c.conversation_id.clone(),
                action: Action::Welcome,
                attempts: 0,
                not_before_ms: 0,
            };
            // Queued first: a crash in between repeats the welcome rather than losing it.
            self.push(job)?;
            // Re-read, so a subscribe or mute that arrived meanwhile is kept.
            if let Some(mut fresh) = self.store.conversation(&c.conversation_id)? {
                fresh.welcome_pending = false;
                self.store.put_conversation(&fresh)?;
            }
            created += 1;
        }
        let mut queued_cards = self.queued_cards()?;
        for (seq, mut q) in self.store.pending(limit)? {
            if until.is_some_and(|u| std::time::Instant::now() >= u) {
                // Not done: the orphan check below waits for a full pass.
                return Ok(created);
            }
            if q.event.alert.is_none() {
                q.event.alert = self.episode_of(&q)?;
            }
            let episode = q.event.alert.clone().unwrap_or_else(|| q.event.id.clone());
            if q.event.kind == EventKind::Resolved {
                // The card's "lasted" runs from the episode's start as the
                // relay saw it open, not from the resolve's own `since`,
                // which a client may send equal to `at`.
                if let Some(first) = self.open_alert(&episode)? {
                    q.event.since = Some(first.event.since.unwrap_or(first.event.at));
                }
            }
            let opens = q.event.alert.as_deref() == Some(q.event.id.as_str());
            if !opens && queued_cards.contains(&episode) {
                // A resolve or repeat whose card has not gone out yet: it
                // would find no card to update. Keep it pending until then.
                continue;
            }
            let jobs: Vec<Job> = match q.event.kind {
                EventKind::Resolved => self
                    .deliveries(&episode)?
                    .into_iter()
                    .map(|(conv, d)| Job {
                        conversation: conv,
                        action: Action::Update {
                            q: q.clone(),
                            activity_id: d.activity_id,
                        },
                        attempts: 0,
                        not_before_ms: 0,
                    })
                    .collect(),
                EventKind::Firing if !opens => {
                    // A repeat: to those who got the alert, unless acknowledged.
                    let ds = self.deliveries(&episode)?;
                    if ds.iter().any(|(_, d)| d.acknowledged_by.is_some()) {
                        Vec::new()
                    } else {
                        ds.into_iter()
                            .map(|(conv, _)| Job {
                                conversation: conv,
                                action: Action::Post { q: q.clone() },
                                attempts: 0,
                                not_before_ms: 0,
                            })
                            .collect()
                    }
                }
                _ => conversations
                    .iter()
                    .filter(|c| wants(c, &q, routing, now_ms))
                    .map(|c| Job {
                        conversation: c.conversation_id.clone(),
                        action: Action::Post { q: q.clone() },
                        attempts: 0,
                        not_before_ms: 0,
                    })
                    .collect(),
            };
            if jobs.iter().any(|j| matches!(j.action, Action::Post { .. })) {
                queued_cards.insert(episode.clone());
            }
            let change = match q.event.kind {
                EventKind::Resolved => OpenChange::Close(episode),
                EventKind::Firing | EventKind::Stale if opens => {
                    OpenChange::Open(episode, Box::new(q))
                }
                _ => OpenChange::Keep,
            };
            // False when another relay routed it first: its jobs stand.
            if self.store.backend().route(Some(seq), &jobs, &change)? {
                created += jobs.len();
            }
        }
        // Read, not counted: a backend may cache its count for a moment.
        if self.store.pending(1)?.is_empty() {
            // Only with nothing left to route: a resolve still pending
            // would otherwise look like a lost episode.
            self.close_orphans(&queued_cards)?;
        }
        Ok(created)
    }

    /// Queues a close for each open episode its gateway has stopped listing
    /// (see orphans.rs); routed on the next pass like any resolve.
    fn close_orphans(&self, queued_cards: &HashSet<String>) -> Result<(), StoreError> {
        let open = self.open_alerts()?;
        if open.is_empty() {
            return Ok(());
        }
        let now = crate::clock::now_rfc3339();
        let mut beats = std::collections::HashMap::new();
        for q in &open {
            if !beats.contains_key(&q.gateway) {
                beats.insert(q.gateway.clone(), self.store.heartbeat(&q.gateway)?);
            }
        }
        for (q, close) in crate::orphans::closes(&open, |g| beats.get(g).cloned().flatten(), &now) {
            let episode = close.alert.clone().unwrap_or_default();
            if queued_cards.contains(&episode) {
                continue;
            }
            let accepted = self.store.accept(&q.gateway, q.site.as_deref(), &[close])?;
            if accepted.new > 0 {
                tracing::warn!(
                    gateway = %q.gateway,
                    episode = %episode,
                    rule = q.event.rule.as_deref().unwrap_or(""),
                    sensor = q.event.sensor.as_deref().unwrap_or(""),
                    "the gateway has stopped listing an open alert (its store was lost or replaced?): closing its card"
                );
            }
        }
        Ok(())
    }

    /// Removes a finished job and, for a new card, records its delivery — together.
    pub fn complete(
        &self,
        seq: u64,
        episode_card: Option<(&str, &str, Delivery)>,
    ) -> Result<(), StoreError> {
        let card = episode_card.as_ref().map(|(ep, conv, d)| (*ep, *conv, d));
        self.store.backend().complete_job(seq, card)
    }

    /// Saves a job that must wait (throttled, backing off, or changed to a new post).
    pub fn reschedule(&self, seq: u64, job: &Job) -> Result<(), StoreError> {
        self.store.backend().reschedule_job(seq, job)
    }

    /// Drops a job that can never succeed.
    pub fn drop_job(&self, seq: u64) -> Result<(), StoreError> {
        self.store.backend().drop_job(seq)
    }

    /// Appends a job (command replies).
    pub fn push(&self, job: Job) -> Result<(), StoreError> {
        self.store
            .backend()
            .route(None, std::slice::from_ref(&job), &OpenChange::Keep)
            .map(drop)
    }

    /// The open alert of an episode, if it is still open.
    pub fn open_alert(&self, episode: &str) -> Result<Option<Queued>, StoreError> {
        self.store.backend().open_alert(episode)
    }

    /// Records who acknowledged an episode in every conversation that got
    /// it, and queues an in-place update of each card. Returns how many.
    pub fn acknowledge(&self, episode: &str, by: &str) -> Result<usize, StoreError> {
        let Some(q) = self.open_alert(episode)? else {
            return Ok(0);
        };
        let mut jobs = Vec::new();
        for (conv, mut d) in self.deliveries(episode)? {
            d.acknowledged_by = Some(by.to_string());
            self.store.backend().put_delivery(episode, &conv, &d)?;
            jobs.push(Job {
                conversation: conv,
                action: Action::Update {
                    q: q.clone(),
                    activity_id: d.activity_id,
                },
                attempts: 0,
                not_before_ms: 0,
            });
        }
        let n = jobs.len();
        self.store.backend().route(None, &jobs, &OpenChange::Keep)?;
        Ok(n)
    }
}
