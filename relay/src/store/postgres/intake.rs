//! Gateways, accepted batches, heartbeats, conversation references and
//! record collections in PostgreSQL.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;
use tokio_postgres::types::Json;

use super::{seq, Fail, PgBackend, TOKEN_CACHE};
use crate::conversations::ConversationRef;
use crate::store::backend::{Intake, Keeping};
use crate::store::model::{Accepted, Gateway, Incoming, LastBeat, Queued};
use crate::store::StoreError;

/// Upserts heartbeats ($1 gateways, $2 bodies); the previous beat's
/// listing of open episodes moves to `listed_before`.
const BEATS: &str = "INSERT INTO heartbeats (gateway, body)
     SELECT * FROM unnest($1::text[], $2::jsonb[])
     ON CONFLICT (gateway) DO UPDATE SET body = EXCLUDED.body
         || jsonb_build_object('listed_before', heartbeats.body -> 'listed')";

/// `BEATS` with `synchronous_commit` off for its own transaction: the CTE
/// is joined so that it is evaluated, and `set_config(.., true)` lasts to
/// the end of the statement's implicit transaction, its commit included.
const BEATS_QUIETLY: &str = "WITH quiet AS (SELECT set_config('synchronous_commit', 'off', true))
     INSERT INTO heartbeats (gateway, body)
     SELECT u.gateway, u.body FROM unnest($1::text[], $2::jsonb[]) AS u(gateway, body), quiet
     ON CONFLICT (gateway) DO UPDATE SET body = EXCLUDED.body
         || jsonb_build_object('listed_before', heartbeats.body -> 'listed')";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gateway(row: &tokio_postgres::Row) -> Gateway {
    Gateway {
        id: row.get(0),
        created_at: row.get(1),
        token_sha256: row.get(2),
    }
}

impl Intake for PgBackend {
    fn insert_gateway(&self, g: &Gateway, _hash: &[u8]) -> Result<bool, StoreError> {
        let g = g.clone();
        self.run(move |c| async move {
            let n = c
                .execute(
                    "INSERT INTO gateways (id, created_at, token_sha256) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                    &[&g.id, &g.created_at, &g.token_sha256],
                )
                .await?;
            Ok::<_, Fail>(n == 1)
        })
    }

    fn gateway_by_token(&self, hash: &[u8]) -> Result<Option<Gateway>, StoreError> {
        if let Some((g, at)) = self.tokens.lock().expect("not poisoned").get(hash) {
            if at.elapsed() < TOKEN_CACHE {
                return Ok(Some(g.clone()));
            }
        }
        let key = hex(hash);
        let found = self.run(move |c| async move {
            let st = c
                .prepare_cached(
                    "SELECT id, created_at, token_sha256 FROM gateways WHERE token_sha256 = $1",
                )
                .await?;
            let row = c.query_opt(&st, &[&key]).await?;
            Ok::<_, Fail>(row.as_ref().map(gateway))
        })?;
        if let Some(g) = &found {
            let mut cache = self.tokens.lock().expect("not poisoned");
            cache.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE);
            cache.insert(hash.to_vec(), (g.clone(), Instant::now()));
        }
        Ok(found)
    }

    fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT id, created_at, token_sha256 FROM gateways ORDER BY id",
                    &[],
                )
                .await?;
            Ok::<_, Fail>(rows.iter().map(gateway).collect())
        })
    }

    fn gateway_count(&self) -> Result<usize, StoreError> {
        self.run(|c| async move {
            let row = c.query_one("SELECT count(*) FROM gateways", &[]).await?;
            Ok::<_, Fail>(row.get::<_, i64>(0).max(0) as usize)
        })
    }

    fn accept_group(
        &self,
        batches: &[Incoming],
        received_at: &str,
    ) -> Result<Vec<Accepted>, StoreError> {
        let batches = batches.to_vec();
        let received_at = received_at.to_string();
        // One row per gateway: a statement may not upsert a row twice, and
        // a gateway's later beat in the group supersedes its earlier one.
        let mut beats: HashMap<String, LastBeat> = HashMap::new();
        for b in &batches {
            if let Some(beat) = b.beat(&received_at) {
                beats.insert(b.gateway.clone(), beat);
            }
        }
        let (gws, bodies): (Vec<String>, Vec<Value>) = beats
            .into_iter()
            .map(|(g, b)| (g, serde_json::to_value(b).expect("serialises")))
            .unzip();
        let bodies: Vec<Json<Value>> = bodies.into_iter().map(Json).collect();
        if batches.iter().all(|b| b.events.is_empty()) {
            // Most batches are a heartbeat alone: one prepared statement,
            // one round trip, in its own implicit transaction. Heartbeats
            // were never promised durable before the answer (sled leaves
            // them to its periodic flush), so that transaction does not
            // wait for the WAL to reach the disk.
            self.run(move |c| async move {
                let st = c.prepare_cached(BEATS_QUIETLY).await?;
                c.execute(&st, &[&gws, &bodies]).await?;
                Ok::<_, Fail>(())
            })?;
            return Ok(vec![Accepted::default(); batches.len()]);
        }
        let out = self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let seen = tx
                .prepare_cached(
                    "INSERT INTO events (id, gateway, received_at) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                )
                .await?;
            let queue = tx
                .prepare_cached("INSERT INTO pending (body) VALUES ($1)")
                .await?;
            let mut all = Vec::with_capacity(batches.len());
            for b in &batches {
                let mut out = Accepted::default();
                for e in &b.events {
                    out.ids.push(e.id.clone());
                    // Another relay inserting the same id waits for ours to
                    // commit, then finds it: each event is queued once.
                    if tx
                        .execute(&seen, &[&e.id, &b.gateway, &received_at])
                        .await?
                        == 0
                    {
                        out.duplicate += 1;
                        continue;
                    }
                    tx.execute(&queue, &[&Json(b.queued(e))]).await?;
                    out.new += 1;
                }
                all.push(out);
            }
            if !gws.is_empty() {
                let st = tx.prepare_cached(BEATS).await?;
                tx.execute(&st, &[&gws, &bodies]).await?;
            }
            tx.commit().await?;
            Ok::<_, Fail>(all)
        })?;
        if out.iter().any(|a| a.new > 0) {
            // The cached count is stale now; the next request counts.
            self.forget_pending();
        }
        Ok(out)
    }

    fn forget_events(&self, received_before: &str) -> Result<u64, StoreError> {
        let before = received_before.to_string();
        self.run(move |c| async move {
            // In slices, so no statement holds many row locks or runs long
            // beside the fleet's accepts.
            let mut n = 0;
            loop {
                let gone = c
                    .execute(
                        "DELETE FROM events WHERE id IN
                             (SELECT id FROM events WHERE received_at < $1 LIMIT 5000)",
                        &[&before],
                    )
                    .await?;
                n += gone;
                if gone < 5000 {
                    return Ok::<_, Fail>(n);
                }
            }
        })
    }

    fn heartbeat(&self, gateway: &str) -> Result<Option<LastBeat>, StoreError> {
        let gateway = gateway.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT body FROM heartbeats WHERE gateway = $1",
                    &[&gateway],
                )
                .await?;
            Ok::<_, Fail>(row.and_then(|r| serde_json::from_value(r.get(0)).ok()))
        })
    }

    fn heartbeats(&self) -> Result<Vec<(String, LastBeat)>, StoreError> {
        self.run(|c| async move {
            let rows = c.query("SELECT gateway, body FROM heartbeats", &[]).await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| Some((r.get(0), serde_json::from_value(r.get(1)).ok()?)))
                    .collect(),
            )
        })
    }

    fn pending_len(&self) -> Result<usize, StoreError> {
        if let Some(n) = self.pending_cached() {
            return Ok(n);
        }
        let n = self.run(|c| async move {
            let row = c.query_one("SELECT count(*) FROM pending", &[]).await?;
            Ok::<_, Fail>(row.get::<_, i64>(0))
        })?;
        self.remember_pending(n);
        Ok(n.max(0) as usize)
    }

    fn pending(&self, limit: usize) -> Result<Vec<(u64, Queued)>, StoreError> {
        let limit = limit as i64;
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT seq, body FROM pending ORDER BY seq LIMIT $1",
                    &[&limit],
                )
                .await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| {
                        let q = serde_json::from_value(r.get(1)).ok()?;
                        Some((seq(r.get(0)), q))
                    })
                    .collect(),
            )
        })
    }
}

impl Keeping for PgBackend {
    fn conversation(&self, id: &str) -> Result<Option<ConversationRef>, StoreError> {
        let id = id.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt("SELECT body FROM conversations WHERE id = $1", &[&id])
                .await?;
            Ok::<_, Fail>(row.and_then(|r| serde_json::from_value(r.get(0)).ok()))
        })
    }

    fn put_conversation(&self, r: &ConversationRef) -> Result<(), StoreError> {
        let (id, body) = (r.conversation_id.clone(), Json(r.clone()));
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO conversations (id, body) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body",
                &[&id, &body],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn conversations(&self) -> Result<Vec<ConversationRef>, StoreError> {
        self.run(|c| async move {
            let rows = c
                .query("SELECT body FROM conversations ORDER BY id", &[])
                .await?;
            Ok::<_, Fail>(
                rows.iter()
                    .filter_map(|r| serde_json::from_value(r.get(0)).ok())
                    .collect(),
            )
        })
    }

    fn record(&self, name: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let (name, key) = (name.to_string(), key.to_string());
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT body FROM records WHERE collection = $1 AND key = $2",
                    &[&name, &key],
                )
                .await?;
            Ok::<_, Fail>(row.map(|r| r.get(0)))
        })
    }

    fn put_record(&self, name: &str, key: &str, value: &Value) -> Result<(), StoreError> {
        let (name, key, value) = (name.to_string(), key.to_string(), value.clone());
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO records (collection, key, body) VALUES ($1, $2, $3)
                 ON CONFLICT (collection, key) DO UPDATE SET body = EXCLUDED.body",
                &[&name, &key, &value],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn remove_record(&self, name: &str, key: &str) -> Result<(), StoreError> {
        let (name, key) = (name.to_string(), key.to_string());
        self.run(move |c| async move {
            c.execute(
                "DELETE FROM records WHERE collection = $1 AND key = $2",
                &[&name, &key],
            )
            .await?;
            Ok::<_, Fail>(())
        })
    }

    fn records(&self, name: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let name = name.to_string();
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT key, body FROM records WHERE collection = $1 ORDER BY key",
                    &[&name],
                )
                .await?;
            Ok::<_, Fail>(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every statement committed with synchronous_commit is durable.
        Ok(())
    }
}
