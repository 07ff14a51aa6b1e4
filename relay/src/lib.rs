//! edgetherm-relay: gateways post alert events here; the relay keeps them
//! (idempotently), remembers the Teams conversations it may write to, and
//! turns events into proactive Teams messages, updated in place on resolve.
//!
//! Reaching users who never opened the bot: [`graph`] installs the Teams app
//! for them through Microsoft Graph.

pub mod admin;
pub mod api;
pub mod bot;
pub mod clock;
pub mod commit;
pub mod config;
pub mod connections;
pub mod conversations;
pub mod fleet;
pub mod graph;
pub mod handler;
pub mod idempotency;
pub mod limits;
pub mod liveness;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod orphans;
pub mod queue;
pub mod routing;
pub mod sender;
pub mod server;
pub mod store;
pub mod teams;
pub mod tls;
pub mod token;
pub mod url_policy;

/// Gateway ids: letters, digits, `_`, `.`, `-`, 1 to 64 characters.
pub fn valid_gateway_id(id: &str) -> Result<(), String> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Ok(())
    } else {
        Err(format!("invalid gateway id {id:?}: expected 1 to 64 letters, digits, '_', '.' or '-' (as in the agent's [agent] gateway_id)"))
    }
}
