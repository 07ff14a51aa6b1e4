//! The relay's HTTP API: `POST /v1/events`, `GET /healthz`, `GET /metrics`.

mod events;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

// Where the handlers (and callers) have always found them.
pub use crate::handler::{read_body, ApiError, AppState};

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
    // A count, not the list: a load balancer asks every few seconds.
    match s.store.gateway_count() {
        Err(e) => {
            tracing::error!(error = %e, "health check: the store cannot be read");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable\n",
            )
        }
        Ok(0) => (
            axum::http::StatusCode::OK,
            "ok (no gateways registered yet)\n",
        ),
        Ok(_) => (axum::http::StatusCode::OK, "ok\n"),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    // A failing store reads as zero here; /healthz says it is failing.
    let pending = s.store.pending_len().unwrap_or(0);
    let gateways = s.store.gateway_count().unwrap_or(0);
    let body = s.metrics.render(pending, gateways);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
