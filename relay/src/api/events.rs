//! `POST /v1/events`: a gateway's batch of alert events and its heartbeat.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use edgetherm_proto::{Accepted, Event, EventBatch, EventKind, TestRoute, Trend};

use super::{ApiError, AppState};
use crate::metrics::Metrics;
use crate::routing::wants;
use crate::store::{Incoming, Queued};

/// At most this many events per batch.
const MAX_EVENTS: usize = 1_000;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Parses the body, naming the offending field on error. `events` is
/// required (a misspelt key must not turn a batch into an empty one);
/// unknown fields are ignored (forward compatibility, docs/wire.md); nothing
/// may follow the JSON value.
fn parse(body: &[u8]) -> Result<EventBatch, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let batch: EventBatch = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        // serde names a missing field only in its message.
        let missing = text
            .strip_prefix("missing field `")
            .and_then(|t| t.split('`').next())
            .map(|f| {
                if path == "." {
                    f.to_string()
                } else {
                    format!("{path}.{f}")
                }
            });
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid event batch: {inner}"),
        );
        err.field = missing.or((path != ".").then_some(path));
        err
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid event batch: something follows the JSON object ({e}); send exactly one JSON object"),
        )
    })?;
    Ok(batch)
}

fn check(batch: &EventBatch) -> Result<(), ApiError> {
    let bad = |field: String, msg: &str| {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, msg);
        e.field = Some(field);
        Err(e)
    };
    if batch.events.len() > MAX_EVENTS {
        return bad(
            "events".into(),
            "too many events in one batch (at most 1000): send smaller batches",
        );
    }
    for (i, e) in batch.events.iter().enumerate() {
        if e.id.is_empty() || e.id.len() > 64 {
            return bad(
                format!("events[{i}].id"),
                "expected a non-empty id of at most 64 characters (a ULID)",
            );
        }
    }
    Ok(())
}

/// Drops each trend a card cannot draw (docs/wire.md): the alert matters
/// more than its curve, so the event is kept without it, and the log says
/// which gateway to fix.
fn drop_bad_trends(gateway: &str, events: &mut [Event]) {
    for e in events {
        if let Some(Err(why)) = e.trend.as_ref().map(Trend::check) {
            tracing::warn!(
                gateway = %gateway,
                event = %e.id,
                reason = %why,
                "dropped an unusable trend; the event is kept without it"
            );
            e.trend = None;
        }
    }
}

/// Accepts a batch: 200 with every event id (new or already seen), 400 naming
/// the field, 401 for a bad token, 403 for another gateway's name, 413 for an
/// oversized body, 503 + Retry-After when the delivery queue is too long.
/// The token is checked before any of the body is read.
pub async fn post_events(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, ApiError> {
    let Some(token) = bearer(&headers) else {
        Metrics::inc(&s.metrics.rejected_auth);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token: send Authorization: Bearer <gateway token>",
        ));
    };
    // In place: with sled two reads of cached trees, microseconds (a hop to
    // the blocking pool cost more); the PostgreSQL backend caches tokens.
    let gateway = s.store.gateway_for_token(token)?;
    let Some(gateway) = gateway else {
        Metrics::inc(&s.metrics.rejected_auth);
        tracing::warn!("refused a batch with an unknown gateway token");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown gateway token (create one with `edgetherm-relay gateway add ID`)",
        ));
    };
    let body = super::read_body(body, s.max_body).await.map_err(|mut e| {
        if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            Metrics::inc(&s.metrics.rejected_size);
            e.message = format!(
                "batch larger than {} bytes: send fewer events per batch",
                s.max_body
            );
        } else {
            Metrics::inc(&s.metrics.rejected_body);
        }
        e
    })?;
    let mut batch = parse(&body).inspect_err(|_| Metrics::inc(&s.metrics.rejected_body))?;
    check(&batch).inspect_err(|_| Metrics::inc(&s.metrics.rejected_body))?;
    if batch.gateway != gateway {
        Metrics::inc(&s.metrics.rejected_auth);
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this token belongs to gateway {gateway:?}, not {:?}",
                batch.gateway
            ),
        );
        e.field = Some("gateway".into());
        return Err(e);
    }
    drop_bad_trends(&gateway, &mut batch.events);
    if !batch.events.is_empty() && s.store.pending_len()? >= s.max_pending {
        Metrics::inc(&s.metrics.shed);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay's delivery queue is full; retry later",
        );
        e.retry_after = Some(30);
        return Err(e);
    }
    let incoming = Incoming {
        gateway: gateway.clone(),
        site: batch.site.clone(),
        events: batch.events.clone(),
        heartbeat: batch.heartbeat.clone(),
    };
    // Durable before the answer; batches arriving together share a flush.
    let accepted = match s.commit.accept(incoming).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot store events");
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay cannot store events right now; retry later",
            );
            err.retry_after = Some(60);
            return Err(err);
        }
        Err(stopped) => {
            tracing::error!(error = %stopped, "cannot store events");
            let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped.to_string());
            err.retry_after = Some(60);
            return Err(err);
        }
    };
    s.metrics
        .events_new
        .fetch_add(accepted.new as u64, std::sync::atomic::Ordering::Relaxed);
    s.metrics.events_duplicate.fetch_add(
        accepted.duplicate as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    if batch.heartbeat.is_some() {
        Metrics::inc(&s.metrics.heartbeats);
    }
    if accepted.new > 0 {
        tracing::info!(gateway = %gateway, new = accepted.new, duplicate = accepted.duplicate, "events accepted");
    }
    let tests = test_routes(&s, &gateway, batch.site.as_deref(), &batch.events)?;
    Ok(Json(Accepted {
        accepted: accepted.ids,
        tests,
    }))
}

/// For each test event: how many conversations routing sends it to, so the
/// gateway's `test-alert` can say where the chain stops.
fn test_routes(
    s: &AppState,
    gateway: &str,
    site: Option<&str>,
    events: &[Event],
) -> Result<Vec<TestRoute>, ApiError> {
    let tests: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Test)
        .collect();
    if tests.is_empty() {
        return Ok(Vec::new());
    }
    let conversations = s.store.conversations()?;
    let now_ms = crate::clock::now_ms();
    Ok(tests
        .into_iter()
        .map(|e| {
            let q = Queued {
                gateway: gateway.to_string(),
                site: site.map(str::to_string),
                event: e.clone(),
            };
            let n = conversations
                .iter()
                .filter(|c| wants(c, &q, &s.routing, now_ms))
                .count();
            TestRoute {
                id: e.id.clone(),
                conversations: n as u32,
                teams: s.teams,
            }
        })
        .collect())
}
