//! The gateway API through the real router and a real store in a temp dir.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::gateway_api::{post, relay};
// DESIGN.md's example batch, verbatim: its event has no `alert`.
use edgetherm_proto::DESIGN_EXAMPLE_BATCH as DESIGN_EXAMPLE;
use edgetherm_relay::api::router;
use serde_json::{json, Value};
use tower::ServiceExt;

fn event(id: &str) -> Value {
    json!({
        "id": id, "kind": "firing", "rule": "rack-inlet-high", "sensor": "rack1-inlet",
        "severity": "critical", "value": 31.4, "threshold": 30.0, "direction": "above",
        "since": "2026-11-21T09:58:01Z", "at": "2026-11-21T10:00:01Z"
    })
}

fn batch(events: Vec<Value>) -> Value {
    json!({
        "gateway": "dc1-gw01", "site": "Datacenter 1", "sent_at": "2026-11-21T10:00:05Z",
        "events": events,
        "heartbeat": { "uptime_s": 86400, "outbox": 0, "sensors": [ {"id": "rack1-inlet", "value": 31.4, "age_s": 4} ] }
    })
}

#[tokio::test]
async fn a_batch_is_accepted_once_however_often_it_is_retried() {
    let r = relay(1000);
    let body = batch(vec![
        event("01JD3X0Q9W8M1K7V5R2T6Y4ZBN"),
        event("01JD3X0Q9W8M1K7V5R2T6Y4ZBP"),
    ])
    .to_string();
    let (status, _, v) = post(&r, Some(&r.token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"accepted": ["01JD3X0Q9W8M1K7V5R2T6Y4ZBN", "01JD3X0Q9W8M1K7V5R2T6Y4ZBP"]})
    );
    assert_eq!(r.state.store.pending_len().unwrap(), 2);
    for _ in 0..3 {
        let (status, _, v) = post(&r, Some(&r.token), body.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            v["accepted"].as_array().unwrap().len(),
            2,
            "a retry is acknowledged again"
        );
    }
    assert_eq!(
        r.state.store.pending_len().unwrap(),
        2,
        "but never queued twice"
    );
    let hb = r
        .state
        .store
        .heartbeat("dc1-gw01")
        .unwrap()
        .expect("heartbeat kept");
    assert_eq!(hb.heartbeat.uptime_s, 86400);
    assert_eq!(hb.site.as_deref(), Some("Datacenter 1"));
    let text = r.state.metrics.render(2, 1);
    assert!(
        text.contains("edgetherm_relay_events_accepted_total 2"),
        "{text}"
    );
    assert!(
        text.contains("edgetherm_relay_events_duplicate_total 6"),
        "{text}"
    );
}

#[tokio::test]
async fn tokens_are_checked() {
    let r = relay(1000);
    let body = batch(vec![event("01A")]).to_string();
    let (status, _, v) = post(&r, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("missing bearer token"),
        "{v}"
    );
    let (status, _, v) = post(&r, Some("etg_0000"), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown gateway token"),
        "{v}"
    );
    let other = r.state.store.add_gateway("dc2-gw01").unwrap();
    let (status, _, v) = post(&r, Some(&other), body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(v["field"], "gateway");
    assert_eq!(r.state.store.pending_len().unwrap(), 0);
}

#[tokio::test]
async fn bad_bodies_name_the_field() {
    let r = relay(1000);
    let mut e = event("01A");
    e["kind"] = json!("exploded");
    let (status, _, v) = post(&r, Some(&r.token), batch(vec![e]).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "events[0].kind", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("unknown variant"),
        "{v}"
    );
    let mut e = event("01A");
    e.as_object_mut().unwrap().remove("at");
    let (status, _, v) = post(&r, Some(&r.token), batch(vec![event("01B"), e]).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "events[1].at", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("missing field `at`"),
        "{v}"
    );
    let (status, _, v) = post(&r, Some(&r.token), "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _, v) = post(&r, Some(&r.token), batch(vec![event("")]).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "events[0].id");
    assert_eq!(
        r.state.store.pending_len().unwrap(),
        0,
        "nothing from a bad batch is kept"
    );
}

#[tokio::test]
async fn oversized_batches_get_413() {
    let r = relay(1000);
    let events: Vec<Value> = (0..400).map(|i| event(&format!("01ID{i:022}"))).collect();
    let (status, _, v) = post(&r, Some(&r.token), batch(events).to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("fewer events"), "{v}");
}

#[tokio::test]
async fn a_full_queue_sheds_load_with_retry_after() {
    let r = relay(1);
    let (status, _, _) = post(&r, Some(&r.token), batch(vec![event("01A")]).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, retry, v) = post(&r, Some(&r.token), batch(vec![event("01B")]).to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(retry.as_deref(), Some("30"));
    // Heartbeats alone still get through.
    let (status, _, _) = post(&r, Some(&r.token), batch(vec![]).to_string()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let r = relay(10);
    let resp = router(r.state.clone())
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = router(r.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("# TYPE edgetherm_relay_pending_events gauge"),
        "{text}"
    );
    assert!(text.contains("edgetherm_relay_gateways 1"), "{text}");
}

#[tokio::test]
async fn a_test_event_is_answered_with_where_it_goes() {
    use edgetherm_relay::bot::activity::Account;
    use edgetherm_relay::conversations::ConversationRef;

    let mut r = relay(1000);
    let test =
        json!({"id": "01TEST", "kind": "test", "severity": "info", "at": "2026-11-21T10:00:01Z"});
    // No conversation yet, and no Teams credentials.
    let (status, _, body) = post(&r, Some(&r.token), batch(vec![test.clone()]).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["tests"],
        json!([{"id": "01TEST", "conversations": 0, "teams": false}])
    );
    // Alerts alone get no `tests` list: the wire stays as DESIGN.md shows it.
    let (_, _, body) = post(
        &r,
        Some(&r.token),
        batch(vec![event("01PLAIN")]).to_string(),
    )
    .await;
    assert_eq!(body, json!({"accepted": ["01PLAIN"]}));

    let bot = Account {
        id: "28:bot".into(),
        name: None,
        aad_object_id: None,
    };
    let mut c = ConversationRef::new(
        "a:1dana",
        "personal",
        "https://smba.example/",
        bot,
        "2026-11-21T10:00:00Z",
    );
    r.state.store.put_conversation(&c).unwrap();
    c.conversation_id = "a:2blocked".into();
    c.state = edgetherm_relay::conversations::ConvState::Blocked;
    r.state.store.put_conversation(&c).unwrap();
    r.state.teams = true;
    let (_, _, body) = post(&r, Some(&r.token), batch(vec![test]).to_string()).await;
    assert_eq!(
        body["tests"],
        json!([{"id": "01TEST", "conversations": 1, "teams": true}]),
        "only the active conversation counts"
    );
}

#[tokio::test]
async fn events_without_alert_open_and_close_their_own_episode() {
    use edgetherm_relay::bot::activity::Account;
    use edgetherm_relay::conversations::ConversationRef;
    use edgetherm_relay::queue::{Action, Delivery, Queue};
    use edgetherm_relay::routing::Routing;

    let r = relay(1000);
    let store = &r.state.store;
    let mut c = ConversationRef::new(
        "a:1",
        "personal",
        "https://smba.trafficmanager.net/teams/",
        Account::default(),
        "",
    );
    c.tenant_id = Some("t".into());
    store.put_conversation(&c).unwrap();
    let q = Queue::open(store);

    let (status, _, v) = post(&r, Some(&r.token), DESIGN_EXAMPLE.into()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!(["01JD3X0Q9W8M1K7V5R2T6Y4ZBN"]));
    assert_eq!(
        q.dispatch(&Routing::default(), 0, 100).unwrap(),
        1,
        "one card"
    );
    let jobs = q.jobs().unwrap();
    let Action::Post { q: card } = &jobs[0].1.action else {
        panic!("expected a card, got {:?}", jobs[0].1.action)
    };
    assert_eq!(
        card.event.alert.as_deref(),
        Some("01JD3X0Q9W8M1K7V5R2T6Y4ZBN"),
        "it opens its own episode"
    );
    let open = q.open_alerts().unwrap();
    assert_eq!(open.len(), 1, "among the open alerts");
    q.complete(
        jobs[0].0,
        Some((
            "01JD3X0Q9W8M1K7V5R2T6Y4ZBN",
            "a:1",
            Delivery {
                activity_id: "act-1".into(),
                acknowledged_by: None,
            },
        )),
    )
    .unwrap();

    // Another gateway's alert of the same rule and sensor is another episode.
    let other = store.add_gateway("dc2-gw01").unwrap();
    let mut b: Value = serde_json::from_str(DESIGN_EXAMPLE).unwrap();
    b["gateway"] = json!("dc2-gw01");
    b["events"][0]["id"] = json!("01JD3X0Q9W8M1K7V5R2T6Y4ZC0");
    assert_eq!(
        post(&r, Some(&other), b.to_string()).await.0,
        StatusCode::OK
    );
    assert_eq!(q.dispatch(&Routing::default(), 0, 100).unwrap(), 1);
    assert_eq!(q.open_alerts().unwrap().len(), 2);
    for (seq, _) in q.jobs().unwrap() {
        q.complete(seq, None).unwrap();
    }

    // A repeat without `alert` while the episode is open: no new card.
    let mut b: Value = serde_json::from_str(DESIGN_EXAMPLE).unwrap();
    b["events"][0]["id"] = json!("01JD3X0Q9W8M1K7V5R2T6Y4ZC1");
    b["events"][0]["value"] = json!(32.0);
    assert_eq!(
        post(&r, Some(&r.token), b.to_string()).await.0,
        StatusCode::OK
    );
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    assert_eq!(q.open_alerts().unwrap().len(), 2, "a repeat opens nothing");
    for (seq, j) in q.jobs().unwrap() {
        let Action::Post { q: rep } = &j.action else {
            panic!("{j:?}")
        };
        assert_eq!(
            rep.event.alert.as_deref(),
            Some("01JD3X0Q9W8M1K7V5R2T6Y4ZBN")
        );
        q.complete(seq, None).unwrap();
    }

    // The resolve without `alert` updates the first card in place.
    let mut b: Value = serde_json::from_str(DESIGN_EXAMPLE).unwrap();
    let e = &mut b["events"][0];
    e["id"] = json!("01JD3X0Q9W8M1K7V5R2T6Y4ZC2");
    e["kind"] = json!("resolved");
    e["value"] = json!(28.9);
    assert_eq!(
        post(&r, Some(&r.token), b.to_string()).await.0,
        StatusCode::OK
    );
    assert_eq!(q.dispatch(&Routing::default(), 0, 100).unwrap(), 1);
    let jobs = q.jobs().unwrap();
    match &jobs[0].1.action {
        Action::Update {
            activity_id,
            q: res,
        } => {
            assert_eq!(activity_id, "act-1");
            assert_eq!(
                res.event.alert.as_deref(),
                Some("01JD3X0Q9W8M1K7V5R2T6Y4ZBN")
            );
        }
        other => panic!("expected an in-place update, got {other:?}"),
    }
    let open: Vec<String> = q
        .open_alerts()
        .unwrap()
        .into_iter()
        .map(|o| o.gateway)
        .collect();
    assert_eq!(
        open,
        ["dc2-gw01"],
        "only the other gateway's alert is still open"
    );
}

#[tokio::test]
async fn a_batch_must_have_events_and_nothing_after_it() {
    let r = relay(1000);
    let mut b = batch(vec![event("01A")]);
    b.as_object_mut().unwrap().remove("events");
    let (status, _, v) = post(&r, Some(&r.token), b.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "events", "{v}");

    let misspelt = batch(vec![event("01A")])
        .to_string()
        .replace("\"events\"", "\"evnts\"");
    let (status, _, v) = post(&r, Some(&r.token), misspelt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "events", "{v}");

    let (status, _, v) = post(
        &r,
        Some(&r.token),
        format!("{} trailing", batch(vec![event("01A")])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("follows the JSON"),
        "{v}"
    );
    assert_eq!(
        r.state.store.pending_len().unwrap(),
        0,
        "nothing from a refused batch is kept"
    );

    // Unknown fields stay ignored (forward compatibility), empty events are fine.
    let mut b = batch(vec![event("01A")]);
    b["from_the_future"] = json!({"x": 1});
    b["events"][0]["also_new"] = json!(true);
    let (status, _, v) = post(&r, Some(&r.token), b.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _, v) = post(&r, Some(&r.token), batch(vec![]).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!([]));
}

#[tokio::test]
async fn a_body_is_not_read_before_its_token_passes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let r = relay(1000);
    let polled = Arc::new(AtomicBool::new(false));
    let body = |polled: Arc<AtomicBool>| {
        let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
        Body::from_stream(Endless { polled, chunk })
    };
    for token in [None, Some("not-a-gateway-token")] {
        let mut req = Request::post("/v1/events").header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = router(r.state.clone())
            .oneshot(req.body(body(polled.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(
        !polled.load(Ordering::SeqCst),
        "the body of an unauthenticated request was read"
    );
    // With the right token it is read (and here refused as too large: the
    // stream does not end).
    let req = Request::post("/v1/events")
        .header("authorization", format!("Bearer {}", r.token))
        .body(body(polled.clone()))
        .unwrap();
    let resp = router(r.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(polled.load(Ordering::SeqCst));
}

/// An endless body stream of `chunk`s that notes when it is first polled.
struct Endless {
    polled: Arc<std::sync::atomic::AtomicBool>,
    chunk: axum::body::Bytes,
}

impl futures_core::Stream for Endless {
    type Item = Result<axum::body::Bytes, std::io::Error>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.polled.store(true, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(self.chunk.clone())))
    }
}
