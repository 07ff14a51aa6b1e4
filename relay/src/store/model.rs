//! What the relay keeps, as every backend stores it: gateways, accepted
//! batches, heartbeats, queued events, send jobs and delivered cards.

use edgetherm_proto::{Event, Heartbeat};
use serde::{Deserialize, Serialize};

/// A gateway as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// Its id.
    pub id: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// SHA-256 of its token, hex.
    pub token_sha256: String,
}

/// A gateway's latest heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl LastBeat {
    /// This beat as stored after `previous`: the previous beat's listing of
    /// open episodes moves to `listed_before`, so the relay sees two beats
    /// in a row.
    pub fn after(&self, previous: Option<&LastBeat>) -> LastBeat {
        LastBeat {
            listed_before: previous.and_then(|b| b.listed.clone()),
            ..self.clone()
        }
    }
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

impl Incoming {
    /// The heartbeat as it will be kept, received at `received_at`.
    pub fn beat(&self, received_at: &str) -> Option<LastBeat> {
        let hb = self.heartbeat.as_ref()?;
        // `outbox` counts this batch's events too.
        let complete = hb.outbox <= self.events.len() as u64;
        Some(LastBeat {
            received_at: received_at.to_string(),
            site: self.site.clone(),
            heartbeat: hb.clone(),
            listed: hb.open.clone().filter(|_| complete),
            listed_before: None,
        })
    }

    /// One of this batch's events as it waits to be routed.
    pub fn queued(&self, event: &Event) -> Queued {
        Queued {
            gateway: self.gateway.clone(),
            site: self.site.clone(),
            event: event.clone(),
        }
    }
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

/// An accepted event id: who sent it and when (the idempotency record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenEvent {
    /// The gateway that sent it.
    pub gateway: String,
    /// When the relay accepted it (RFC 3339).
    pub received_at: String,
}

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

/// How routing one pending event changes the set of open episodes.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenChange {
    /// None.
    Keep,
    /// The episode opens with this event.
    Open(String, Box<Queued>),
    /// The episode closes.
    Close(String),
}
