//! The gateway API in-process: the real router over a real store in a temp
//! dir, with one gateway added, and a helper that posts a batch to it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::commit::Committer;
use serde_json::Value;
use tower::ServiceExt;

/// The gateway every `Relay` knows.
pub const GATEWAY: &str = "dc1-gw01";

/// A relay's API state with its store and the gateway's token.
pub struct Relay {
    _dir: tempfile::TempDir,
    _store: super::store::TestStore,
    /// What the router serves.
    pub state: AppState,
    /// `GATEWAY`'s bearer token.
    pub token: String,
}

/// A relay that accepts batches of up to 64 KiB and holds at most
/// `max_pending` unrouted batches.
pub fn relay(max_pending: usize) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let store = super::store::open(dir.path());
    let token = store.add_gateway(GATEWAY).unwrap();
    let state = AppState {
        commit: Committer::start(store.clone()).unwrap(),
        store: store.clone(),
        metrics: Arc::new(Default::default()),
        max_body: 64 * 1024,
        max_pending,
        bot: None,
        routing: Default::default(),
        teams: false,
    };
    Relay {
        _dir: dir,
        _store: store,
        state,
        token,
    }
}

/// POSTs `body` to `/v1/events` with `token`, if any: the status, the
/// `Retry-After` header and the JSON answer (`Null` if it is not JSON).
pub async fn post(
    r: &Relay,
    token: Option<&str>,
    body: String,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::post("/v1/events").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router(r.state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        retry,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
