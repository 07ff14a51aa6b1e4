//! The embedded backend: one sled database in `data_dir/store`, one process
//! (sled locks it). The default; it needs nothing installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::backend::{Intake, Keeping};
use super::model::{Accepted, Gateway, Incoming, LastBeat, Queued, SeenEvent};
use super::StoreError;
use crate::conversations::ConversationRef;

mod migrate;
mod queue;

/// The sled database and its trees; cheap to clone.
#[derive(Clone)]
pub struct SledBackend {
    path: PathBuf,
    db: sled::Db,
    gateways: sled::Tree,
    tokens: sled::Tree,
    events: sled::Tree,
    pending: sled::Tree,
    beats: sled::Tree,
    conversations: sled::Tree,
    jobs: sled::Tree,
    deliveries: sled::Tree,
    open: sled::Tree,
    collections: Arc<Mutex<HashMap<String, sled::Tree>>>,
}

/// Trees that are not record collections (the names predate this module,
/// so existing stores open unchanged).
const FIXED_TREES: [&str; 9] = [
    "gateways",
    "tokens",
    "events",
    "pending",
    "heartbeats",
    "conversations",
    "jobs",
    "deliveries",
    "open_alerts",
];

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialises")
}

fn from_json<T: DeserializeOwned>(v: &[u8]) -> Option<T> {
    serde_json::from_slice(v).ok()
}

fn seq_of(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

impl SledBackend {
    /// Opens (or creates) the sled store at `path`.
    pub fn open(path: &Path) -> Result<SledBackend, StoreError> {
        let err = |e: sled::Error| failed(path, e);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(16 << 20)
            .open()
            .map_err(err)?;
        let tree = |name: &str| db.open_tree(name).map_err(err);
        Ok(SledBackend {
            gateways: tree("gateways")?,
            tokens: tree("tokens")?,
            events: tree("events")?,
            pending: tree("pending")?,
            beats: tree("heartbeats")?,
            conversations: tree("conversations")?,
            jobs: tree("jobs")?,
            deliveries: tree("deliveries")?,
            open: tree("open_alerts")?,
            collections: Arc::default(),
            path: path.to_path_buf(),
            db,
        })
    }

    fn err(&self, e: sled::Error) -> StoreError {
        failed(&self.path, e)
    }

    fn tx_err(&self, e: TransactionError<()>) -> StoreError {
        match e {
            TransactionError::Storage(s) => self.err(s),
            TransactionError::Abort(()) => unreachable!("never aborts"),
        }
    }

    fn flush_db(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(|e| self.err(e))
    }

    fn collection(&self, name: &str) -> Result<sled::Tree, StoreError> {
        let mut open = self.collections.lock().expect("not poisoned");
        if let Some(t) = open.get(name) {
            return Ok(t.clone());
        }
        let t = self.db.open_tree(name).map_err(|e| self.err(e))?;
        open.insert(name.to_string(), t.clone());
        Ok(t)
    }

    /// Every value of `tree` that parses; a failing read is an error.
    fn values<T: DeserializeOwned>(&self, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for v in tree.iter().values() {
            if let Some(t) = from_json(&v.map_err(|e| self.err(e))?) {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let raw = tree.get(key).map_err(|e| self.err(e))?;
        Ok(raw.and_then(|v| from_json(&v)))
    }
}

impl Intake for SledBackend {
    fn insert_gateway(&self, g: &Gateway, hash: &[u8]) -> Result<bool, StoreError> {
        if self.gateways.contains_key(&g.id).map_err(|e| self.err(e))? {
            return Ok(false);
        }
        let record = to_json(g);
        let result: Result<(), TransactionError<()>> =
            (&self.gateways, &self.tokens).transaction(|(gs, ts)| {
                gs.insert(g.id.as_bytes(), record.as_slice())?;
                ts.insert(hash, g.id.as_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| self.tx_err(e))?;
        self.flush_db()?;
        Ok(true)
    }

    fn gateway_by_token(&self, hash: &[u8]) -> Result<Option<Gateway>, StoreError> {
        let Some(id) = self.tokens.get(hash).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        self.get(&self.gateways, &id)
    }

    fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        self.values(&self.gateways)
    }

    fn gateway_count(&self) -> Result<usize, StoreError> {
        // The token index has one key per gateway and no values to parse.
        let mut n = 0;
        for k in self.tokens.iter().keys() {
            k.map_err(|e| self.err(e))?;
            n += 1;
        }
        Ok(n)
    }

    fn accept_group(
        &self,
        batches: &[Incoming],
        received_at: &str,
    ) -> Result<Vec<Accepted>, StoreError> {
        let records: Vec<Vec<u8>> = batches
            .iter()
            .map(|b| {
                to_json(&SeenEvent {
                    gateway: b.gateway.clone(),
                    received_at: received_at.to_string(),
                })
            })
            .collect();
        let bodies: Vec<Vec<Vec<u8>>> = batches
            .iter()
            .map(|b| b.events.iter().map(|e| to_json(&b.queued(e))).collect())
            .collect();
        let beats: Vec<(&str, LastBeat)> = batches
            .iter()
            .filter_map(|b| Some((b.gateway.as_str(), b.beat(received_at)?)))
            .collect();
        let stored = |beat: &LastBeat, previous: Option<&[u8]>| {
            let previous = previous.and_then(from_json::<LastBeat>);
            to_json(&beat.after(previous.as_ref()))
        };
        if batches.iter().all(|b| b.events.is_empty()) {
            // Heartbeats alone need no transaction: each is one key, and a
            // sled transaction wakes every thread of sled's I/O pool (41 %
            // of the relay's CPU samples with 10,000 gateways beating).
            // Only the group-commit thread writes beats, so the
            // read-modify-write holds.
            for (gateway, beat) in &beats {
                let previous = self.beats.get(gateway).map_err(|e| self.err(e))?;
                let body = stored(beat, previous.as_deref());
                self.beats.insert(*gateway, body).map_err(|e| self.err(e))?;
            }
            return Ok(vec![Accepted::default(); batches.len()]);
        }
        let result: Result<Vec<Accepted>, TransactionError<()>> =
            (&self.events, &self.pending, &self.beats).transaction(|(seen, queue, beat_tree)| {
                let mut all = Vec::with_capacity(batches.len());
                for ((b, record), bodies) in batches.iter().zip(&records).zip(&bodies) {
                    let mut out = Accepted::default();
                    for (e, body) in b.events.iter().zip(bodies) {
                        out.ids.push(e.id.clone());
                        if seen.get(e.id.as_bytes())?.is_some() {
                            out.duplicate += 1;
                            continue;
                        }
                        seen.insert(e.id.as_bytes(), record.as_slice())?;
                        let seq = queue.generate_id()? + 1;
                        queue.insert(&seq.to_be_bytes(), body.as_slice())?;
                        out.new += 1;
                    }
                    all.push(out);
                }
                for (gateway, beat) in &beats {
                    let previous = beat_tree.get(gateway)?;
                    beat_tree.insert(*gateway, stored(beat, previous.as_deref()))?;
                }
                Ok::<_, ConflictableTransactionError<()>>(all)
            });
        let out = result.map_err(|e| self.tx_err(e))?;
        // Only events are promised durable before the answer; a group of
        // heartbeats and retries is left to sled's own periodic flush (a
        // fleet's beats would otherwise cost an fsync each).
        if out.iter().any(|a| a.new > 0) {
            self.flush_db()?;
        }
        Ok(out)
    }

    fn forget_events(&self, received_before: &str) -> Result<u64, StoreError> {
        // A scan: ids are the agents' ULIDs, ordered by the gateways' clocks,
        // which may be anything; only the relay's own stamp can be trusted.
        // Removed 1,000 at a time: a month of a large fleet's ids is not held
        // in memory at once, and accepts beside the pass wait less than
        // behind batches of 10,000 (BENCHMARKS.md). Not flushed: a crash
        // before sled's own flush only leaves ids the next pass forgets.
        const BATCH: u64 = 1_000;
        let (mut n, mut in_batch) = (0, 0);
        let mut batch = sled::Batch::default();
        for kv in self.events.iter() {
            let (id, record) = kv.map_err(|e| self.err(e))?;
            let seen: Option<SeenEvent> = from_json(&record);
            if seen.is_some_and(|s| s.received_at.as_str() < received_before) {
                batch.remove(id);
                in_batch += 1;
            }
            if in_batch == BATCH {
                self.events
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| self.err(e))?;
                (n, in_batch) = (n + in_batch, 0);
            }
        }
        self.events.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(n + in_batch)
    }

    fn heartbeat(&self, gateway: &str) -> Result<Option<LastBeat>, StoreError> {
        self.get(&self.beats, gateway.as_bytes())
    }

    fn heartbeats(&self) -> Result<Vec<(String, LastBeat)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.beats.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let Some(b) = from_json(&v) {
                out.push((String::from_utf8_lossy(&k).into_owned(), b));
            }
        }
        Ok(out)
    }

    fn pending_len(&self) -> Result<usize, StoreError> {
        Ok(self.pending.len())
    }

    fn pending(&self, limit: usize) -> Result<Vec<(u64, Queued)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.pending.iter().take(limit) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let (Some(seq), Some(q)) = (seq_of(&k), from_json(&v)) {
                out.push((seq, q));
            }
        }
        Ok(out)
    }
}

impl Keeping for SledBackend {
    fn conversation(&self, id: &str) -> Result<Option<ConversationRef>, StoreError> {
        self.get(&self.conversations, id.as_bytes())
    }

    fn put_conversation(&self, r: &ConversationRef) -> Result<(), StoreError> {
        self.conversations
            .insert(r.conversation_id.as_bytes(), to_json(r))
            .map_err(|e| self.err(e))?;
        // Durably: losing one means losing a recipient.
        self.flush_db()
    }

    fn conversations(&self) -> Result<Vec<ConversationRef>, StoreError> {
        self.values(&self.conversations)
    }

    fn record(&self, name: &str, key: &str) -> Result<Option<Value>, StoreError> {
        self.get(&self.collection(name)?, key.as_bytes())
    }

    fn put_record(&self, name: &str, key: &str, value: &Value) -> Result<(), StoreError> {
        self.collection(name)?
            .insert(key.as_bytes(), to_json(value))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn remove_record(&self, name: &str, key: &str) -> Result<(), StoreError> {
        self.collection(name)?
            .remove(key.as_bytes())
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn records(&self, name: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.collection(name)?.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let Some(v) = from_json(&v) {
                out.push((String::from_utf8_lossy(&k).into_owned(), v));
            }
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.flush_db()
    }
}

fn failed(path: &Path, e: sled::Error) -> StoreError {
    StoreError::Failed {
        place: path.display().to_string(),
        message: e.to_string(),
    }
}
