//! The one interface every storage backend implements (sled for one
//! process, PostgreSQL for a fleet of relays). Nothing outside a backend
//! sees how it keeps things.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::model::{
    Accepted, Delivery, Gateway, Incoming, Job, LastBeat, OpenChange, Queued, SeenEvent,
};
use super::StoreError;
use crate::conversations::ConversationRef;

/// A store backend: every part below. Calls block; each is atomic on its own.
pub trait Backend: Intake + Keeping + SendQueue + Fleet + Send + Sync {}

impl<T: Intake + Keeping + SendQueue + Fleet + Send + Sync> Backend for T {}

/// Gateways and what they send.
pub trait Intake {
    /// Adds a gateway; false when the id exists.
    fn insert_gateway(&self, g: &Gateway, token_hash: &[u8]) -> Result<bool, StoreError>;
    /// The gateway whose token hashes to `token_hash`.
    fn gateway_by_token(&self, token_hash: &[u8]) -> Result<Option<Gateway>, StoreError>;
    /// Every gateway.
    fn gateways(&self) -> Result<Vec<Gateway>, StoreError>;
    /// How many gateways there are (health checks and metrics ask often).
    fn gateway_count(&self) -> Result<usize, StoreError>;

    /// Accepts batches together, durably before returning when any event
    /// is new: each event id once (across every relay sharing the store),
    /// new events queued for routing, heartbeats kept.
    fn accept_group(
        &self,
        batches: &[Incoming],
        received_at: &str,
    ) -> Result<Vec<Accepted>, StoreError>;
    /// Forgets the ids of events accepted before `received_before` (RFC
    /// 3339, to the second, as `accept_group` stamps them); returns how many.
    fn forget_events(&self, received_before: &str) -> Result<u64, StoreError>;
    /// A gateway's latest heartbeat.
    fn heartbeat(&self, gateway: &str) -> Result<Option<LastBeat>, StoreError>;
    /// Every gateway's latest heartbeat, by gateway (one read for a pass
    /// over the fleet, not one per gateway).
    fn heartbeats(&self) -> Result<Vec<(String, LastBeat)>, StoreError>;
    /// How many accepted events wait to be routed; may lag other relays'
    /// changes by a second (it guards the queue's length on every batch).
    fn pending_len(&self) -> Result<usize, StoreError>;
    /// The oldest `limit` events waiting to be routed, with their sequence numbers.
    fn pending(&self, limit: usize) -> Result<Vec<(u64, Queued)>, StoreError>;
}

/// Conversation references and named record collections.
pub trait Keeping {
    /// A conversation reference.
    fn conversation(&self, id: &str) -> Result<Option<ConversationRef>, StoreError>;
    /// Saves a conversation reference durably.
    fn put_conversation(&self, r: &ConversationRef) -> Result<(), StoreError>;
    /// Every conversation reference.
    fn conversations(&self) -> Result<Vec<ConversationRef>, StoreError>;

    /// A record of collection `name`.
    fn record(&self, name: &str, key: &str) -> Result<Option<Value>, StoreError>;
    /// Stores a record, replacing what was there.
    fn put_record(&self, name: &str, key: &str, value: &Value) -> Result<(), StoreError>;
    /// Removes a record.
    fn remove_record(&self, name: &str, key: &str) -> Result<(), StoreError>;
    /// Every record of a collection, in key order.
    fn records(&self, name: &str) -> Result<Vec<(String, Value)>, StoreError>;
    /// Makes every change so far durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// The send queue: routed jobs, delivered cards, open episodes.
pub trait SendQueue {
    /// Routes pending event `seq` (if given): removes it, queues `jobs` and
    /// applies `open`, all or nothing. False when `seq` was no longer
    /// pending (another relay routed it): then nothing changed.
    fn route(&self, seq: Option<u64>, jobs: &[Job], open: &OpenChange) -> Result<bool, StoreError>;
    /// Every job, in queue order, with its key.
    fn jobs(&self) -> Result<Vec<(u64, Job)>, StoreError>;
    /// Removes a sent job and, for a new card, records its delivery
    /// (episode, conversation), together.
    fn complete_job(
        &self,
        seq: u64,
        delivery: Option<(&str, &str, &Delivery)>,
    ) -> Result<(), StoreError>;
    /// Saves a job that must wait.
    fn reschedule_job(&self, seq: u64, job: &Job) -> Result<(), StoreError>;
    /// Removes a job that can never succeed.
    fn drop_job(&self, seq: u64) -> Result<(), StoreError>;
    /// The cards of an episode: (conversation, delivery).
    fn deliveries(&self, episode: &str) -> Result<Vec<(String, Delivery)>, StoreError>;
    /// Replaces a delivery record.
    fn put_delivery(
        &self,
        episode: &str,
        conversation: &str,
        d: &Delivery,
    ) -> Result<(), StoreError>;
    /// Every open episode's first event.
    fn open_alerts(&self) -> Result<Vec<Queued>, StoreError>;
    /// An open episode's first event.
    fn open_alert(&self, episode: &str) -> Result<Option<Queued>, StoreError>;
}

/// Sharing the work among relays on one store.
pub trait Fleet {
    /// Takes or renews the fleet-wide lease `role` for `instance`; true
    /// while `instance` holds it. One process always holds it.
    fn lead(&self, role: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Takes or renews the send leases of every conversation with jobs
    /// that no other live instance holds; returns the conversations
    /// `instance` may send to, or `None` when it may send to all.
    fn lease_conversations(
        &self,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<HashSet<String>>, StoreError>;
    /// Gives up every lease `instance` holds (a clean stop: the others take
    /// over at once instead of after the lease time).
    fn release(&self, instance: &str) -> Result<(), StoreError>;
    /// Records a send to a conversation (Unix ms), for the rate limits of
    /// whichever instance sends to it next.
    fn record_send(&self, conversation: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Sends to a conversation since `since_ms`, oldest first.
    fn sends_since(&self, conversation: &str, since_ms: i64) -> Result<Vec<i64>, StoreError>;
}

/// Everything a store keeps.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Gateways.
    pub gateways: Vec<Gateway>,
    /// Accepted event ids.
    pub events: Vec<(String, SeenEvent)>,
    /// Events waiting to be routed.
    pub pending: Vec<(u64, Queued)>,
    /// Latest heartbeats by gateway.
    pub heartbeats: Vec<(String, LastBeat)>,
    /// Conversation references.
    pub conversations: Vec<ConversationRef>,
    /// Records: (collection, key, value).
    pub records: Vec<(String, String, Value)>,
    /// Send jobs.
    pub jobs: Vec<(u64, Job)>,
    /// Delivered cards: (episode, conversation, delivery).
    pub deliveries: Vec<(String, String, Delivery)>,
    /// Open episodes.
    pub open: Vec<(String, Queued)>,
}

/// How many of each kind `import` added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Gateways.
    pub gateways: usize,
    /// Accepted event ids.
    pub events: usize,
    /// Events waiting to be routed.
    pub pending: usize,
    /// Heartbeats.
    pub heartbeats: usize,
    /// Conversation references.
    pub conversations: usize,
    /// Records.
    pub records: usize,
    /// Send jobs.
    pub jobs: usize,
    /// Delivered cards.
    pub deliveries: usize,
    /// Open episodes.
    pub open: usize,
}
