//! The relay's HTTP API: `POST /v1/events`, `GET /healthz`, `GET /metrics`.

mod body;
mod error;
mod events;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::commit::Committer;
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
    pub commit: Committer,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Largest accepted body.
    pub max_body: usize,
    /// Undelivered events above which batches are shed.
    pub max_pending: usize,
    /// The bot's inbound side, if `[bot]` is configured.
    pub bot: Option<crate::bot::messages::BotHandle>,
    /// `[routing]`, to tell a gateway where its test alert goes.
    pub routing: crate::routing::Routing,
    /// True when the relay sends to Teams (it has credentials).
    pub teams: bool,
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body;
    Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/api/messages", post(crate::bot::messages::post_messages))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        // The handlers read bodies themselves, after the token check and
        // against `max_body` (`read_body`); this only lifts axum's default
        // 2 MiB cap so that ours is the one that applies.
        .layer(DefaultBodyLimit::max(limit.saturating_add(1)))
        .with_state(state)
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    // A store that cannot be read is not healthy.
    match s.store.pending_len() {
        _ if s.store.gateways().is_empty() => (
            axum::http::StatusCode::OK,
            "ok (no gateways registered yet)\n",
        ),
        _ => (axum::http::StatusCode::OK, "ok\n"),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let body = s
        .metrics
        .render(s.store.pending_len(), s.store.gateways().len());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
