//! The durable send queue. Accepted events are routed into one job per
//! target conversation, in one transaction with their removal from the
//! pending tree, so a crash can neither lose a delivery nor route it twice.
//! Delivery records keep each alert card's activity id per conversation, so
//! `resolved` can update the same card in place.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use edgetherm_proto::EventKind;

use crate::routing::{wants, Routing};
use crate::store::{Queued, Store, StoreError};

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Post a new card for the event.
    Post {
        /// The event and where it came from.
        q: Queued,
    },
    /// Replace the episode's card in place (resolved, acknowledged).
    Update {
        /// The event and where it came from.
        q: Queued,
        /// The card's activity id in this conversation.
        activity_id: String,
    },
    /// The welcome after an install.
    Welcome,
    /// A plain text reply (commands).
    Text {
        /// The text.
        text: String,
    },
}

/// One message to one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The conversation id.
    pub conversation: String,
    /// What to send.
    pub action: Action,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this moment (Unix ms): throttling and backoff.
    pub not_before_ms: i64,
}

/// A card posted for an alert episode in one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The card's activity id.
    pub activity_id: String,
    /// Who acknowledged the alert, if anyone.
    pub acknowledged_by: Option<String>,
}

/// The queue's trees, in the relay's store.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    jobs: sled::Tree,
    deliveries: sled::Tree,
    open: sled::Tree,
}

fn delivery_key(episode: &str, conversation: &str) -> Vec<u8> {
    let mut k = episode.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(conversation.as_bytes());
    k
}

fn storage(store: &Store, e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(s) => store.sled_error(s),
        TransactionError::Abort(()) => unreachable!("never aborts"),
    }
}

impl Queue {
    /// The queue inside `store`.
    pub fn open(store: &Store) -> Result<Queue, StoreError> {
        let db = store.db();
        Ok(Queue {
            jobs: db.open_tree("jobs").map_err(|e| store.sled_error(e))?,
            deliveries: db
                .open_tree("deliveries")
                .map_err(|e| store.sled_error(e))?,
            open: db
                .open_tree("open_alerts")
                .map_err(|e| store.sled_error(e))?,
            store: store.clone(),
        })
    }

    /// Deliveries of an alert episode: (conversation, delivery).
    pub fn deliveries(&self, episode: &str) -> Vec<(String, Delivery)> {
        let mut prefix = episode.as_bytes().to_vec();
        prefix.push(0);
        self.deliveries
            .scan_prefix(&prefix)
            .filter_map(Result::ok)
            .filter_map(|(k, v)| {
                let conv = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Some((conv, serde_json::from_slice(&v).ok()?))
            })
            .collect()
    }

    /// Alerts that are open (fired, not resolved), by episode id.
    pub fn open_alerts(&self) -> Vec<Queued> {
        self.open
            .iter()
            .values()
            .filter_map(Result::ok)
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect()
    }

    /// Jobs in order, with their keys.
    pub fn jobs(&self) -> Vec<(u64, Job)> {
        self.jobs
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(k, v)| {
                Some((
                    u64::from_be_bytes(k.as_ref().try_into().ok()?),
                    serde_json::from_slice(&v).ok()?,
                ))
            })
            .collect()
    }

    /// Alert episodes with a card still waiting in the queue.
    fn queued_cards(&self) -> std::collections::HashSet<String> {
        self.jobs()
            .into_iter()
            .filter_map(|(_, j)| match j.action {
                Action::Post { q } => Some(q.event.alert.unwrap_or(q.event.id)),
                _ => None,
            })
            .collect()
    }

    /// The episode of an event sent without `alert` (docs/wire.md): a
    /// `resolved`, or a `firing` / `stale` while one is open, belongs to the
    /// open episode of the same (gateway, rule, sensor); any other `firing`
    /// or `stale` opens its own. One-off kinds have none.
    fn episode_of(&self, q: &Queued) -> Option<String> {
        let same = |o: &Queued| {
            o.gateway == q.gateway
                && o.event.rule == q.event.rule
                && o.event.sensor == q.event.sensor
        };
        let open = || {
            self.open_alerts()
                .into_iter()
                .filter(|o| {
                    same(o) && (q.event.kind == EventKind::Resolved || o.event.kind == q.event.kind)
                })
                .find_map(|o| o.event.alert)
        };
        match q.event.kind {
            EventKind::Resolved => open(),
            EventKind::Firing | EventKind::Stale => open().or_else(|| Some(q.event.id.clone())),
            _ => None,
        }
    }

    /// Routes up to `limit` pending events into jobs, and queues owed
    /// welcomes. Returns how many jobs were created.
    pub fn dispatch(
        &self,
        routing: &Routing,
        now_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut created = 0;
        let conversations = self.store.conversations();
        for c in conversations.iter().filter(|c| c.welcome_pending) {
            let job = Job {
                conversation: c.conversation_id.clone(),
                action: Action::Welcome,
                attempts: 0,
                not_before_ms: 0,
            };
            // Queued first: a crash in between repeats the welcome rather than losing it.
            self.put_jobs_and(&[job], |_| Ok(()))?;
            // Re-read, so a subscribe or mute that arrived meanwhile is kept.
            if let Some(mut fresh) = self.store.conversation(&c.conversation_id) {
                fresh.welcome_pending = false;
                self.store.put_conversation(&fresh)?;
            }
            created += 1;
        }
        let mut queued_cards = self.queued_cards();
        for (seq, mut q) in self.store.pending(limit) {
            if q.event.alert.is_none() {
                q.event.alert = self.episode_of(&q);
            }
            let episode = q.event.alert.clone().unwrap_or_else(|| q.event.id.clone());
            if q.event.kind == EventKind::Resolved {
                // The card's "lasted" runs from the episode's start as the
                // relay saw it open, not from the resolve's own `since`,
                // which a client may send equal to `at`.
                if let Some(first) = self.open_alert(&episode) {
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
                    .deliveries(&episode)
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
                    let ds = self.deliveries(&episode);
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
            created += jobs.len();
            let body = serde_json::to_vec(&q).expect("serialises");
            let kind = q.event.kind;
            self.put_jobs_and(&jobs, |(pending, open)| {
                pending.remove(&seq.to_be_bytes())?;
                match kind {
                    EventKind::Resolved => {
                        open.remove(episode.as_bytes())?;
                    }
                    EventKind::Firing | EventKind::Stale if opens => {
                        open.insert(episode.as_bytes(), body.as_slice())?;
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        if self.store.pending_len() == 0 {
            // Only with nothing left to route: a resolve still pending
            // would otherwise look like a lost episode.
            self.close_orphans(&queued_cards)?;
        }
        Ok(created)
    }

    /// Queues a close for each open episode its gateway has stopped listing
    /// (see orphans.rs); routed on the next pass like any resolve.
    fn close_orphans(
        &self,
        queued_cards: &std::collections::HashSet<String>,
    ) -> Result<(), StoreError> {
        let open = self.open_alerts();
        if open.is_empty() {
            return Ok(());
        }
        let now = crate::clock::now_rfc3339();
        for (q, close) in crate::orphans::closes(&open, |g| self.store.heartbeat(g), &now) {
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

    /// Inserts jobs and applies `more` to (pending, open) in one transaction, then flushes.
    fn put_jobs_and(
        &self,
        jobs: &[Job],
        more: impl Fn(
            &(
                sled::transaction::TransactionalTree,
                sled::transaction::TransactionalTree,
            ),
        ) -> Result<(), ConflictableTransactionError<()>>,
    ) -> Result<(), StoreError> {
        let bodies: Vec<Vec<u8>> = jobs
            .iter()
            .map(|j| serde_json::to_vec(j).expect("serialises"))
            .collect();
        let pending = self.store.pending_tree();
        let result: Result<(), TransactionError<()>> = (&self.jobs, pending, &self.open)
            .transaction(|(jobs, pending, open)| {
                for b in &bodies {
                    let seq = jobs.generate_id()? + 1;
                    jobs.insert(&seq.to_be_bytes(), b.as_slice())?;
                }
                more(&(pending.clone(), open.clone()))?;
                Ok(())
            });
        result.map_err(|e| storage(&self.store, e))?;
        self.store
            .db()
            .flush()
            .map_err(|e| self.store.sled_error(e))?;
        Ok(())
    }

    /// Removes a finished job and, for a new card, records its delivery — together.
    pub fn complete(
        &self,
        seq: u64,
        episode_card: Option<(&str, &str, Delivery)>,
    ) -> Result<(), StoreError> {
        let record = episode_card.map(|(ep, conv, d)| {
            (
                delivery_key(ep, conv),
                serde_json::to_vec(&d).expect("serialises"),
            )
        });
        let result: Result<(), TransactionError<()>> =
            (&self.jobs, &self.deliveries).transaction(|(jobs, deliveries)| {
                jobs.remove(&seq.to_be_bytes())?;
                if let Some((k, v)) = &record {
                    deliveries.insert(k.as_slice(), v.as_slice())?;
                }
                Ok(())
            });
        result.map_err(|e| storage(&self.store, e))?;
        self.store
            .db()
            .flush()
            .map_err(|e| self.store.sled_error(e))?;
        Ok(())
    }

    /// Saves a job that must wait (throttled, backing off, or changed to a new post).
    pub fn reschedule(&self, seq: u64, job: &Job) -> Result<(), StoreError> {
        self.jobs
            .insert(
                seq.to_be_bytes(),
                serde_json::to_vec(job).expect("serialises"),
            )
            .map_err(|e| self.store.sled_error(e))?;
        Ok(())
    }

    /// Drops a job that can never succeed.
    pub fn drop_job(&self, seq: u64) -> Result<(), StoreError> {
        self.jobs
            .remove(seq.to_be_bytes())
            .map_err(|e| self.store.sled_error(e))?;
        self.store
            .db()
            .flush()
            .map_err(|e| self.store.sled_error(e))?;
        Ok(())
    }

    /// Appends a job (command replies).
    pub fn push(&self, job: Job) -> Result<(), StoreError> {
        self.put_jobs_and(&[job], |_| Ok(()))
    }

    /// The open alert of an episode, if it is still open.
    pub fn open_alert(&self, episode: &str) -> Option<Queued> {
        serde_json::from_slice(&self.open.get(episode.as_bytes()).ok()??).ok()
    }

    /// Records who acknowledged an episode in every conversation that got
    /// it, and queues an in-place update of each card. Returns how many.
    pub fn acknowledge(&self, episode: &str, by: &str) -> Result<usize, StoreError> {
        let Some(q) = self.open_alert(episode) else {
            return Ok(0);
        };
        let mut jobs = Vec::new();
        for (conv, mut d) in self.deliveries(episode) {
            d.acknowledged_by = Some(by.to_string());
            self.deliveries
                .insert(
                    delivery_key(episode, &conv),
                    serde_json::to_vec(&d).expect("serialises"),
                )
                .map_err(|e| self.store.sled_error(e))?;
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
        self.put_jobs_and(&jobs, |_| Ok(()))?;
        Ok(n)
    }
}
