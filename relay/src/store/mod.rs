//! The relay's store: gateways (token hashes), every accepted event id (the
//! idempotency record), events waiting to be routed, the send queue,
//! conversation references, heartbeats and named record collections.
//!
//! One interface ([`backend::Backend`]) over two backends: sled, embedded,
//! for one relay process (the default), and PostgreSQL for a fleet of
//! relays sharing one database.

use std::path::Path;
use std::sync::Arc;

use edgetherm_proto::{Event, Heartbeat};

pub mod backend;
mod model;
mod postgres;
mod records;
mod sled;

pub use backend::{Backend, Counts, Snapshot};
pub use model::{
    Accepted, Action, Delivery, Gateway, Incoming, Job, LastBeat, OpenChange, Queued, SeenEvent,
};
pub use postgres::{PgBackend, SCHEMA_VERSION};
pub use records::Records;
pub use sled::SledBackend;

use crate::clock::now_rfc3339 as now;
use crate::config::{BackendKind, StoreConfig};
use crate::conversations::ConversationRef;
use crate::token;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, a damaged file, the database).
    #[error("relay store {place}: {message}")]
    Failed {
        /// The store: its directory, or the database host.
        place: String,
        /// What went wrong.
        message: String,
    },
    /// The database is not answering.
    #[error("relay store {place} cannot be reached: {message}")]
    Unavailable {
        /// The database host.
        place: String,
        /// What went wrong.
        message: String,
    },
    /// The store was written by a newer relay.
    #[error("relay store {place} has schema version {found}, newer than this relay's {known}: upgrade edgetherm-relay on this host (or point it at another database)")]
    TooNew {
        /// The database.
        place: String,
        /// The schema version found.
        found: i32,
        /// The newest version this relay knows.
        known: i32,
    },
    /// `[store]` cannot be used as written.
    #[error("{0}")]
    Config(String),
    /// `gateway add` for an id that exists.
    #[error("gateway {0:?} already exists (its token was shown when it was added; to replace it, remove the gateway first)")]
    GatewayExists(String),
    /// No randomness for a token.
    #[error("cannot generate a token: {0}")]
    Random(String),
}

/// The opened store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens (or creates) the sled store `data_dir/store`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::with(Arc::new(SledBackend::open(
            &data_dir.join("store"),
        )?)))
    }

    /// Opens the backend `[store]` names: sled in `data_dir`, or the
    /// PostgreSQL database (migrating its schema).
    pub fn from_config(cfg: &StoreConfig, data_dir: &Path) -> Result<Store, StoreError> {
        match cfg.backend {
            BackendKind::Sled => Store::open(data_dir),
            BackendKind::Postgres => Ok(Store::with(Arc::new(PgBackend::open(cfg)?))),
        }
    }

    /// A store over `backend`.
    pub fn with(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// The backend, for the send queue and record collections.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Adds a gateway and returns its token (shown once; only its hash is kept).
    pub fn add_gateway(&self, id: &str) -> Result<String, StoreError> {
        let secret = token::generate().map_err(|e| StoreError::Random(e.to_string()))?;
        let hash = token::hash(&secret);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let g = Gateway {
            id: id.to_string(),
            created_at: now(),
            token_sha256: hex,
        };
        if !self.backend.insert_gateway(&g, &hash)? {
            return Err(StoreError::GatewayExists(id.to_string()));
        }
        Ok(secret)
    }

    /// The gateway a bearer token belongs to, if any.
    pub fn gateway_for_token(&self, bearer: &str) -> Result<Option<String>, StoreError> {
        // The index key is a hash, so finding it leaks nothing about the
        // secret; the check against the gateway's record is constant-time.
        let Some(g) = self.backend.gateway_by_token(&token::hash(bearer))? else {
            return Ok(None);
        };
        let stored: Vec<u8> = (0..g.token_sha256.len() / 2)
            .filter_map(|i| u8::from_str_radix(g.token_sha256.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        Ok(token::verify(bearer, &stored).then_some(g.id))
    }

    /// All gateways.
    pub fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        self.backend.gateways()
    }

    /// How many gateways there are.
    pub fn gateway_count(&self) -> Result<usize, StoreError> {
        self.backend.gateway_count()
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

    /// Accepts several gateways' batches together (group commit): each
    /// batch's events as in `accept`, and its heartbeat. Nothing is durable
    /// until all are; the answers are in input order.
    pub fn accept_group(&self, batches: &[Incoming]) -> Result<Vec<Accepted>, StoreError> {
        self.backend.accept_group(batches, &now())
    }

    /// Forgets the ids of events accepted before `before_ms` (Unix ms): an
    /// event sent again after that is posted again. Returns how many.
    pub fn forget_events_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.backend
            .forget_events(&crate::clock::rfc3339(before_ms))
    }

    /// Keeps a gateway's latest heartbeat.
    pub fn record_heartbeat(
        &self,
        gateway: &str,
        site: Option<String>,
        hb: &Heartbeat,
    ) -> Result<(), StoreError> {
        let batch = Incoming {
            gateway: gateway.to_string(),
            site,
            events: Vec::new(),
            heartbeat: Some(hb.clone()),
        };
        self.accept_group(std::slice::from_ref(&batch)).map(drop)
    }

    /// A gateway's latest heartbeat.
    pub fn heartbeat(&self, gateway: &str) -> Result<Option<LastBeat>, StoreError> {
        self.backend.heartbeat(gateway)
    }

    /// Every gateway's latest heartbeat, by gateway.
    pub fn heartbeats(&self) -> Result<std::collections::HashMap<String, LastBeat>, StoreError> {
        Ok(self.backend.heartbeats()?.into_iter().collect())
    }

    /// Events waiting for the Teams sender.
    pub fn pending_len(&self) -> Result<usize, StoreError> {
        self.backend.pending_len()
    }

    /// The queued events with their sequence numbers, oldest first.
    pub fn pending(&self, limit: usize) -> Result<Vec<(u64, Queued)>, StoreError> {
        self.backend.pending(limit)
    }

    /// A stored conversation reference.
    pub fn conversation(&self, id: &str) -> Result<Option<ConversationRef>, StoreError> {
        self.backend.conversation(id)
    }

    /// Saves a conversation reference (durably: losing one means losing a recipient).
    pub fn put_conversation(&self, r: &ConversationRef) -> Result<(), StoreError> {
        self.backend.put_conversation(r)
    }

    /// Every conversation reference.
    pub fn conversations(&self) -> Result<Vec<ConversationRef>, StoreError> {
        self.backend.conversations()
    }
}
