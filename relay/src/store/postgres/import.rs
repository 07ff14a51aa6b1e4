//! `migrate --from-sled`: a snapshot of a sled store into the database.
//! Rows keep their keys (sequence numbers included) and what is already
//! there stays, so running it twice adds nothing the second time.

use serde_json::Value;
use tokio_postgres::types::Json;

use super::{Fail, PgBackend};
use crate::store::backend::{Counts, Snapshot};
use crate::store::StoreError;

fn json<T: serde::Serialize>(v: &T) -> Json<Value> {
    Json(serde_json::to_value(v).expect("serialises"))
}

impl PgBackend {
    /// Adds `s`, in one transaction; returns how many rows of each were new.
    pub fn import(&self, s: &Snapshot) -> Result<Counts, StoreError> {
        let s = s.clone();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let mut n = Counts::default();
            for g in &s.gateways {
                n.gateways += tx
                    .execute(
                        "INSERT INTO gateways (id, created_at, token_sha256) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[&g.id, &g.created_at, &g.token_sha256],
                    )
                    .await? as usize;
            }
            for (id, e) in &s.events {
                n.events += tx
                    .execute(
                        "INSERT INTO events (id, gateway, received_at) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[id, &e.gateway, &e.received_at],
                    )
                    .await? as usize;
            }
            for (seq, q) in &s.pending {
                n.pending += tx
                    .execute(
                        "INSERT INTO pending (seq, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&(*seq as i64), &json(q)],
                    )
                    .await? as usize;
            }
            for (gateway, b) in &s.heartbeats {
                n.heartbeats += tx
                    .execute(
                        "INSERT INTO heartbeats (gateway, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[gateway, &json(b)],
                    )
                    .await? as usize;
            }
            for r in &s.conversations {
                n.conversations += tx
                    .execute(
                        "INSERT INTO conversations (id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&r.conversation_id, &json(r)],
                    )
                    .await? as usize;
            }
            for (name, key, value) in &s.records {
                n.records += tx
                    .execute(
                        "INSERT INTO records (collection, key, body) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[name, key, &Json(value)],
                    )
                    .await? as usize;
            }
            for (seq, j) in &s.jobs {
                n.jobs += tx
                    .execute(
                        "INSERT INTO jobs (seq, conversation, not_before_ms, body)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[&(*seq as i64), &j.conversation, &j.not_before_ms, &json(j)],
                    )
                    .await? as usize;
            }
            for (episode, conversation, d) in &s.deliveries {
                n.deliveries += tx
                    .execute(
                        "INSERT INTO deliveries (episode, conversation, body) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[episode, conversation, &json(d)],
                    )
                    .await? as usize;
            }
            for (episode, q) in &s.open {
                n.open += tx
                    .execute(
                        "INSERT INTO open_alerts (episode, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[episode, &json(q)],
                    )
                    .await? as usize;
            }
            // New rows must number after the copied ones.
            for table in ["pending", "jobs"] {
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'seq'),
                                       greatest((SELECT max(seq) FROM {table}), 1))"
                    ),
                    &[],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Fail>(n)
        })
    }
}
