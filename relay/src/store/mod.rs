//! The relay's sled store: gateways (token hashes), every accepted event id
//! (the idempotency record), the queue of events waiting for the Teams
//! sender, and each gateway's latest heartbeat.

use std::path::{Path, PathBuf};

use edgetherm_proto::{Event, Heartbeat};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

mod records;

pub use records::Records;

use crate::clock::now_rfc3339 as now;
use crate::conversations::ConversationRef;
use crate::token;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("relay store {path}: {source}")]
    Sled {
        /// The store directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// `gateway add` for an id that exists.
    #[error("gateway {0:?} already exists (its token was shown when it was added; to replace it, remove the gateway first)")]
    GatewayExists(String),
    /// No randomness for a token.
    #[error("cannot generate a token: {0}")]
    Random(String),
}

/// A gateway as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gateway {
    /// Its id.
    pub id: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// SHA-256 of its token, hex.
    pub token_sha256: String,
}

/// A gateway's latest heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastBeat {
    /// When the relay received it (RFC 3339).
    pub received_at: String,
    /// The site label the gateway sent.
    pub site: Option<String>,
    /// What it said.
    pub heartbeat: Heartbeat,
    /// The episodes this beat listed as open, when it is a complete
    /// account: it carried `open` and nothing was left in the gateway's
    /// outbox behind the batch (a resolve still waiting there would make a
    /// missing episode look lost).
    #[serde(default)]
    pub listed: Option<Vec<String>>,
    /// `listed` of the beat before this one.
    #[serde(default)]
    pub listed_before: Option<Vec<String>>,
}

/// What accepting a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Every id in the batch (new or seen before): the agent may delete them all.
    pub ids: Vec<String>,
    /// Events seen for the first time (queued for delivery).
    pub new: usize,
    /// Events already accepted earlier (a retried batch).
    pub duplicate: usize,
}

/// A gateway's batch as the relay accepts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The gateway (already authenticated).
    pub gateway: String,
    /// Its site label.
    pub site: Option<String>,
    /// The events, in the order sent.
    pub events: Vec<Event>,
    /// The heartbeat, when the batch carries one.
    pub heartbeat: Option<Heartbeat>,
}

/// An accepted event waiting to be routed to conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// The gateway that sent it.
    pub gateway: String,
    /// Its site label.
    pub site: Option<String>,
    /// The event.
    pub event: Event,
}

#[derive(Serialize, Deserialize)]
struct EventRecord {
    gateway: String,
    received_at: String,
}

/// `beat` as stored: the previous beat's listing of open episodes moves to
/// `listed_before`, so the relay can see two beats in a row.
fn beat_record(beat: &LastBeat, previous: Option<&[u8]>) -> Vec<u8> {
    let before = previous.and_then(|v| serde_json::from_slice::<LastBeat>(v).ok());
    let beat = LastBeat {
        listed_before: before.and_then(|b| b.listed),
        ..beat.clone()
    };
    serde_json::to_vec(&beat).expect("serialises")
}

/// The opened store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    gateways: sled::Tree,
    tokens: sled::Tree,
    events: sled::Tree,
    pending: sled::Tree,
    beats: sled::Tree,
    conversations: sled::Tree,
}

impl Store {
    /// Opens (or creates) `data_dir/store`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("store");
        let err = |source| StoreError::Sled {
            path: path.clone(),
            source,
        };
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(16 << 20)
            .open()
            .map_err(err)?;
        Ok(Store {
            gateways: db.open_tree("gateways").map_err(err)?,
            tokens: db.open_tree("tokens").map_err(err)?,
            events: db.open_tree("events").map_err(err)?,
            pending: db.open_tree("pending").map_err(err)?,
            beats: db.open_tree("heartbeats").map_err(err)?,
            conversations: db.open_tree("conversations").map_err(err)?,
            path: path.clone(),
            db,
        })
    }

    /// Wraps a sled error with the store's path.
    pub fn sled_error(&self, source: sled::Error) -> StoreError {
        self.err(source)
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a gateway and returns its token (shown once; only its hash is kept).
    pub fn add_gateway(&self, id: &str) -> Result<String, StoreError> {
        if self.gateways.contains_key(id).map_err(|e| self.err(e))? {
            return Err(StoreError::GatewayExists(id.to_string()));
        }
        let secret = token::generate().map_err(|e| StoreError::Random(e.to_string()))?;
        let hash = token::hash(&secret);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let record = serde_json::to_vec(&Gateway {
            id: id.to_string(),
            created_at: now(),
            token_sha256: hex,
        })
        .expect("serialises");
        let result: Result<(), TransactionError<()>> =
            (&self.gateways, &self.tokens).transaction(|(g, t)| {
                g.insert(id.as_bytes(), record.as_slice())?;
                t.insert(&hash[..], id.as_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| match e {
            TransactionError::Storage(s) => self.err(s),
            TransactionError::Abort(()) => unreachable!("never aborts"),
        })?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(secret)
    }

    /// The gateway a bearer token belongs to, if any.
    pub fn gateway_for_token(&self, bearer: &str) -> Result<Option<String>, StoreError> {
        let hash = token::hash(bearer);
        // The index key is a hash, so finding it leaks nothing about the
        // secret; the check against the gateway's record is constant-time.
        let Some(id) = self.tokens.get(hash).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let Some(raw) = self.gateways.get(&id).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let Ok(g) = serde_json::from_slice::<Gateway>(&raw) else {
            return Ok(None);
        };
        let stored: Vec<u8> = (0..g.token_sha256.len() / 2)
            .filter_map(|i| u8::from_str_radix(g.token_sha256.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        Ok(token::verify(bearer, &stored).then_some(g.id))
    }

    /// All gateways.
    pub fn gateways(&self) -> Vec<Gateway> {
        self.gateways
            .iter()
            .values()
            .filter_map(Result::ok)
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect()
    }

    /// Records a batch's events once each (the event id is the idempotency
    /// key) and queues the new ones for delivery, durably, before returning.
    pub fn accept(
        &self,
        gateway: &str,
        site: Option<&str>,
        events: &[Event],
    ) -> Result<Accepted, StoreError> {
        let batch = Incoming {
            gateway: gateway.to_string(),
            site: site.map(str::to_string),
            events: events.to_vec(),
            heartbeat: None,
        };
        let mut out = self.accept_group(std::slice::from_ref(&batch))?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Accepts several gateways' batches in one transaction and one flush
    /// (group commit): each batch's events as in `accept`, and its heartbeat.
    /// Nothing is durable until all are; the answers are in input order.
    pub fn accept_group(&self, batches: &[Incoming]) -> Result<Vec<Accepted>, StoreError> {
        let received_at = now();
        let mut records = Vec::with_capacity(batches.len());
        let mut bodies = Vec::with_capacity(batches.len());
        let mut beats = Vec::new();
        for b in batches {
            records.push(
                serde_json::to_vec(&EventRecord {
                    gateway: b.gateway.clone(),
                    received_at: received_at.clone(),
                })
                .expect("serialises"),
            );
            let queued: Vec<Vec<u8>> = b
                .events
                .iter()
                .map(|e| {
                    let q = Queued {
                        gateway: b.gateway.clone(),
                        site: b.site.clone(),
                        event: e.clone(),
                    };
                    serde_json::to_vec(&q).expect("serialises")
                })
                .collect();
            bodies.push(queued);
            if let Some(hb) = &b.heartbeat {
                // `outbox` counts this batch's events too.
                let complete = hb.outbox <= b.events.len() as u64;
                let beat = LastBeat {
                    received_at: received_at.clone(),
                    site: b.site.clone(),
                    heartbeat: hb.clone(),
                    listed: hb.open.clone().filter(|_| complete),
                    listed_before: None,
                };
                beats.push((b.gateway.as_bytes(), beat));
            }
        }
        if batches.iter().all(|b| b.events.is_empty()) {
            // Heartbeats alone need no transaction: each is one key, and a
            // sled transaction wakes every thread of sled's I/O pool (41 %
            // of the relay's CPU samples with 10,000 gateways beating).
            // Only this thread writes beats, so the read-modify-write holds.
            for (gateway, beat) in &beats {
                let previous = self.beats.get(gateway).map_err(|e| self.err(e))?;
                let body = beat_record(beat, previous.as_deref());
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
                    beat_tree.insert(*gateway, beat_record(beat, previous.as_deref()))?;
                }
                Ok::<_, ConflictableTransactionError<()>>(all)
            });
        let out = result.map_err(|e| match e {
            TransactionError::Storage(s) => self.err(s),
            TransactionError::Abort(()) => unreachable!("never aborts"),
        })?;
        // Only events are promised durable before the answer; a group of
        // heartbeats and retries is left to sled's own periodic flush, as a
        // heartbeat always was (a fleet's beats would otherwise cost an
        // fsync each).
        if out.iter().any(|a| a.new > 0) {
            self.db.flush().map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Keeps a gateway's latest heartbeat.
    pub fn record_heartbeat(
        &self,
        gateway: &str,
        site: Option<String>,
        hb: &Heartbeat,
    ) -> Result<(), StoreError> {
        let beat = LastBeat {
            received_at: now(),
            site,
            heartbeat: hb.clone(),
            listed: None,
            listed_before: None,
        };
        self.beats
            .insert(
                gateway.as_bytes(),
                serde_json::to_vec(&beat).expect("serialises"),
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A gateway's latest heartbeat.
    pub fn heartbeat(&self, gateway: &str) -> Option<LastBeat> {
        serde_json::from_slice(&self.beats.get(gateway.as_bytes()).ok()??).ok()
    }

    /// Events waiting for the Teams sender.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The queued events with their sequence numbers, oldest first.
    pub fn pending(&self, limit: usize) -> Vec<(u64, Queued)> {
        self.pending
            .iter()
            .filter_map(Result::ok)
            .take(limit)
            .filter_map(|(k, v)| {
                Some((
                    u64::from_be_bytes(k.as_ref().try_into().ok()?),
                    serde_json::from_slice(&v).ok()?,
                ))
            })
            .collect()
    }

    /// The sled database (the send queue keeps its own trees in it).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The tree of events waiting to be routed.
    pub fn pending_tree(&self) -> &sled::Tree {
        &self.pending
    }

    /// A stored conversation reference.
    pub fn conversation(&self, id: &str) -> Option<ConversationRef> {
        serde_json::from_slice(&self.conversations.get(id.as_bytes()).ok()??).ok()
    }

    /// Saves a conversation reference (durably: losing one means losing a recipient).
    pub fn put_conversation(&self, r: &ConversationRef) -> Result<(), StoreError> {
        let body = serde_json::to_vec(r).expect("serialises");
        self.conversations
            .insert(r.conversation_id.as_bytes(), body)
            .map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every conversation reference.
    pub fn conversations(&self) -> Vec<ConversationRef> {
        self.conversations
            .iter()
            .values()
            .filter_map(Result::ok)
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect()
    }
}
