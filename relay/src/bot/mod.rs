//! The Teams bot: inbound activities (`/api/messages`) and their authentication.

use std::sync::Arc;

pub mod activity;
pub mod auth;
pub mod messages;
pub mod replies;

/// The bot's inbound side.
pub struct Bot {
    /// Token validation; `None` only with `allow_unauthenticated`.
    pub auth: Option<auth::BotAuth>,
}

/// Shared handle.
pub type BotHandle = Arc<Bot>;
