//! What every HTTP handler shares — the state, JSON error answers, bodies
//! read against the limit — apart from the router (`api`), so handlers
//! elsewhere (the bot's `/api/messages`) need not depend on the router that
//! mounts them.

mod body;
mod error;

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::store::Store;

pub use body::read_body;
pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Writes accepted batches, several to a transaction and a flush.
    pub commit: crate::commit::Committer,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Largest accepted body.
    pub max_body: usize,
    /// Undelivered events above which batches are shed.
    pub max_pending: usize,
    /// The bot's inbound side, if `[bot]` is configured.
    pub bot: Option<crate::bot::BotHandle>,
    /// `[routing]`, to tell a gateway where its test alert goes.
    pub routing: crate::routing::Routing,
    /// True when the relay sends to Teams (it has credentials).
    pub teams: bool,
}
