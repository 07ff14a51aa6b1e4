//! Group commit: batches accepted together share one transaction and one
//! flush, and each is still accepted exactly once and durable before its
//! answer.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgetherm_proto::{Event, EventKind, Heartbeat, Severity};
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::commit::Committer;
use edgetherm_relay::store::Incoming;
use serde_json::{json, Value};
use tower::ServiceExt;

fn event(id: &str) -> Event {
    Event::new(
        id.into(),
        EventKind::Firing,
        Severity::Critical,
        "2026-12-07T10:00:00.125Z".into(),
    )
}

fn beat(uptime_s: u64) -> Heartbeat {
    Heartbeat {
        uptime_s,
        outbox: 0,
        interval_s: Some(60),
        sensors: Vec::new(),
        open: None,
        agent: None,
    }
}

#[test]
fn one_group_keeps_each_batch_apart_and_each_id_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let batches = vec![
        Incoming {
            gateway: "gw-a".into(),
            site: Some("A".into()),
            events: vec![event("E1"), event("E2")],
            heartbeat: Some(beat(10)),
        },
        // A retry of E2 that arrived at the same moment, from the same gateway.
        Incoming {
            gateway: "gw-a".into(),
            site: Some("A".into()),
            events: vec![event("E2"), event("E3")],
            heartbeat: Some(beat(11)),
        },
        Incoming {
            gateway: "gw-b".into(),
            site: None,
            events: Vec::new(),
            heartbeat: Some(beat(99)),
        },
    ];
    let answers = store.accept_group(&batches).unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].ids, ["E1", "E2"]);
    assert_eq!((answers[0].new, answers[0].duplicate), (2, 0));
    assert_eq!(answers[1].ids, ["E2", "E3"]);
    assert_eq!((answers[1].new, answers[1].duplicate), (1, 1));
    assert_eq!((answers[2].new, answers[2].duplicate), (0, 0));
    assert_eq!(store.pending_len().unwrap(), 3);
    assert_eq!(
        store.heartbeat("gw-a").unwrap().unwrap().heartbeat.uptime_s,
        11,
        "the later beat of a gateway wins"
    );
    assert_eq!(
        store.heartbeat("gw-b").unwrap().unwrap().heartbeat.uptime_s,
        99
    );
    // Durable: a fresh open sees all of it.
    let store = store.reopen(dir.path());
    assert_eq!(store.pending_len().unwrap(), 3);
    let queued: Vec<String> = store
        .pending(10)
        .unwrap()
        .into_iter()
        .map(|(_, q)| q.event.id)
        .collect();
    assert_eq!(queued, ["E1", "E2", "E3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_batches_are_each_answered_and_queued_once() {
    const GATEWAYS: usize = 20;
    const PER_GATEWAY: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let tokens: Vec<String> = (0..GATEWAYS)
        .map(|g| store.add_gateway(&format!("gw-{g}")).unwrap())
        .collect();
    let state = AppState {
        commit: Committer::start(store.clone()).unwrap(),
        store: store.clone(),
        metrics: Arc::new(Default::default()),
        max_body: 64 * 1024,
        max_pending: 100_000,
        bot: None,
        routing: Default::default(),
        teams: false,
    };
    let app = router(state);
    let mut tasks = Vec::new();
    for (g, token) in tokens.iter().enumerate() {
        for n in 0..PER_GATEWAY {
            // Every batch twice, as a gateway retrying after a timeout would.
            for _ in 0..2 {
                let body = json!({
                    "gateway": format!("gw-{g}"), "sent_at": "2026-12-07T10:00:00Z",
                    "events": [{"id": format!("g{g}-e{n}"), "kind": "firing", "severity": "critical",
                                "at": "2026-12-07T10:00:00.500Z"}],
                    "heartbeat": {"uptime_s": n, "outbox": 0}
                });
                let req = Request::post("/v1/events")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::from(body.to_string()))
                    .unwrap();
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    let resp = app.oneshot(req).await.unwrap();
                    let status = resp.status();
                    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    (status, serde_json::from_slice::<Value>(&bytes).unwrap())
                }));
            }
        }
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, v) = t.await.unwrap();
        let (g, n) = (i / 2 / PER_GATEWAY, i / 2 % PER_GATEWAY);
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["accepted"], json!([format!("g{g}-e{n}")]));
    }
    assert_eq!(
        store.pending_len().unwrap(),
        GATEWAYS * PER_GATEWAY,
        "each id queued once"
    );
    for g in 0..GATEWAYS {
        assert!(store.heartbeat(&format!("gw-{g}")).unwrap().is_some());
    }
}
