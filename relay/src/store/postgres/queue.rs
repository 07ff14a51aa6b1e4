//! The send queue and the fleet's leases in PostgreSQL.
//!
//! Routing is led by one relay at a time (a lease), and each pending row is
//! deleted in the transaction that queues its jobs, so an event is routed
//! once even if a paused leader wakes up after its lease passed. Sending
//! is shared by conversation: a relay sends only to conversations it
//! holds a lease on, so one relay at a time keeps a conversation's order
//! and Teams' limits; a dead relay's leases lapse and another takes over.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_postgres::types::Json;

use super::{seq, Fail, PgBackend};
use crate::store::backend::{Fleet, SendQueue};
use crate::store::model::{Delivery, Job, OpenChange, Queued};
use crate::store::StoreError;

/// How often the sender's lease renewal also prunes old rows.
const PRUNE_EVERY_MS: i64 = 60_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl SendQueue for PgBackend {
    fn route(
        &self,
        seq_no: Option<u64>,
        jobs: &[Job],
        open: &OpenChange,
    ) -> Result<bool, StoreError> {
        let (jobs, open) = (jobs.to_vec(), open.clone());
        let routed = self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            if let Some(s) = seq_no {
                let gone = tx
                    .execute("DELETE FROM pending WHERE seq = $1", &[&(s as i64)])
                    .await?;
                if gone == 0 {
                    return Ok(false);
                }
            }
            let insert = tx
                .prepare_cached(
                    "INSERT INTO jobs (conversation, not_before_ms, body) VALUES ($1, $2, $3)",
                )
                .await?;
            for j in &jobs {
                tx.execute(&insert, &[&j.conversation, &j.not_before_ms, &Json(j)])
                    .await?;
            }
            match &open {
                OpenChange::Open(episode, q) => {
                    tx.execute(
                        "INSERT INTO open_alerts (episode, body) VALUES ($1, $2)
                         ON CONFLICT (episode) DO UPDATE SET body = EXCLUDED.body",
                        &[episode, &Json(q)],
                    )
                    .await?;
                }
                OpenChange::Close(episode) => {
                    tx.execute("DELETE FROM open_alerts WHERE episode = $1", &[episode])
                        .await?;
                }
                OpenChange::Keep => {}
            }
            tx.commit().await?;
            Ok::<_, Fail>(true)
        });
        if seq_no.is_some() {
            // The cached count is stale now; the next caller counts.
            self.forget_pending();
        }
        routed
    }

    fn jobs(&self) -> Result<Vec<(u64, Job)>, StoreError> {
        self.run(|c| async move {
            let rows = c
                .query("SELECT seq, body FROM jobs ORDER BY seq", &[])
                .await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| Some((seq(r.get(0)), serde_json::from_value(r.get(1)).ok()?)))
                    .collect(),
            )
        })
    }

    fn complete_job(
        &self,
        seq_no: u64,
        delivery: Option<(&str, &str, &Delivery)>,
    ) -> Result<(), StoreError> {
        let card = delivery.map(|(e, c, d)| (e.to_string(), c.to_string(), d.clone()));
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            tx.execute("DELETE FROM jobs WHERE seq = $1", &[&(seq_no as i64)])
                .await?;
            if let Some((episode, conversation, d)) = &card {
                tx.execute(
                    "INSERT INTO deliveries (episode, conversation, body) VALUES ($1, $2, $3)
                     ON CONFLICT (episode, conversation) DO UPDATE SET body = EXCLUDED.body",
                    &[episode, conversation, &Json(d)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Fail>(())
        })
    }

    fn reschedule_job(&self, seq_no: u64, job: &Job) -> Result<(), StoreError> {
        let job = job.clone();
        self.run(move |c| async move {
            c.execute(
                "UPDATE jobs SET body = $2, not_before_ms = $3 WHERE seq = $1",
                &[&(seq_no as i64), &Json(&job), &job.not_before_ms],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn drop_job(&self, seq_no: u64) -> Result<(), StoreError> {
        self.run(move |c| async move {
            c.execute("DELETE FROM jobs WHERE seq = $1", &[&(seq_no as i64)])
                .await?;
            Ok::<_, Fail>(())
        })
    }

    fn deliveries(&self, episode: &str) -> Result<Vec<(String, Delivery)>, StoreError> {
        let episode = episode.to_string();
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT conversation, body FROM deliveries WHERE episode = $1 ORDER BY conversation",
                    &[&episode],
                )
                .await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| Some((r.get(0), serde_json::from_value(r.get(1)).ok()?)))
                    .collect(),
            )
        })
    }

    fn put_delivery(
        &self,
        episode: &str,
        conversation: &str,
        d: &Delivery,
    ) -> Result<(), StoreError> {
        let (e, conv, d) = (episode.to_string(), conversation.to_string(), d.clone());
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO deliveries (episode, conversation, body) VALUES ($1, $2, $3)
                 ON CONFLICT (episode, conversation) DO UPDATE SET body = EXCLUDED.body",
                &[&e, &conv, &Json(&d)],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn open_alerts(&self) -> Result<Vec<Queued>, StoreError> {
        self.run(|c| async move {
            let rows = c
                .query("SELECT body FROM open_alerts ORDER BY episode", &[])
                .await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| serde_json::from_value(r.get(0)).ok())
                    .collect(),
            )
        })
    }

    fn open_alert(&self, episode: &str) -> Result<Option<Queued>, StoreError> {
        let episode = episode.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT body FROM open_alerts WHERE episode = $1",
                    &[&episode],
                )
                .await?;
            Ok::<_, Fail>(row.and_then(|r| serde_json::from_value(r.get(0)).ok()))
        })
    }
}

impl Fleet for PgBackend {
    fn lead(&self, role: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (role, instance, ttl) = (role.to_string(), instance.to_string(), ms(ttl));
        self.run(move |c| async move {
            // Taken when free or lapsed, renewed by its holder; the row
            // lock makes two relays racing for it see one winner.
            let row = c
                .query_opt(
                    "INSERT INTO leases (name, holder, expires_at)
                     VALUES ($1, $2, now() + $3 * interval '1 millisecond')
                     ON CONFLICT (name) DO UPDATE
                         SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                         WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
                     RETURNING holder",
                    &[&role, &instance, &ttl],
                )
                .await?;
            Ok::<_, Fail>(row.is_some())
        })
    }

    fn lease_conversations(
        &self,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<HashSet<String>>, StoreError> {
        let (instance, ttl) = (instance.to_string(), ms(ttl));
        // Leases are renewed every second; the tables they prune only grow
        // by a few rows a second, so pruning once a minute is plenty.
        let now = crate::clock::now_ms();
        let last = self.pruned_ms.load(Ordering::Relaxed);
        let prune = now.saturating_sub(last) >= PRUNE_EVERY_MS
            && self
                .pruned_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            // Ordered, so relays renewing together lock rows in one order.
            let rows = tx
                .query(
                    "INSERT INTO conversation_leases (conversation, holder, expires_at)
                     SELECT DISTINCT conversation, $1, now() + $2 * interval '1 millisecond'
                     FROM jobs ORDER BY conversation
                     ON CONFLICT (conversation) DO UPDATE
                         SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                         WHERE conversation_leases.holder = EXCLUDED.holder
                            OR conversation_leases.expires_at < now()
                     RETURNING conversation",
                    &[&instance, &ttl],
                )
                .await?;
            if prune {
                let hour_ago = now - 3_600_000;
                tx.execute("DELETE FROM sends WHERE at_ms < $1", &[&hour_ago])
                    .await?;
                tx.execute(
                    "DELETE FROM conversation_leases WHERE expires_at < now() - interval '1 hour'",
                    &[],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Fail>(Some(rows.iter().map(|r| r.get(0)).collect()))
        })
    }

    fn release(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_string();
        self.run(move |c| async move {
            c.execute("DELETE FROM leases WHERE holder = $1", &[&instance])
                .await?;
            c.execute(
                "DELETE FROM conversation_leases WHERE holder = $1",
                &[&instance],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn record_send(&self, conversation: &str, at_ms: i64) -> Result<(), StoreError> {
        let conversation = conversation.to_string();
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO sends (conversation, at_ms) VALUES ($1, $2)",
                &[&conversation, &at_ms],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn sends_since(&self, conversation: &str, since_ms: i64) -> Result<Vec<i64>, StoreError> {
        let conversation = conversation.to_string();
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT at_ms FROM sends WHERE conversation = $1 AND at_ms >= $2 ORDER BY at_ms",
                    &[&conversation, &since_ms],
                )
                .await?;
            Ok::<_, Fail>(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
