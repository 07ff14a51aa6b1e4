//! Commands typed to the bot and buttons clicked on cards, through
//! `/api/messages`: settings stored, every message answered, Acknowledge
//! answered as an invoke and applied to every copy of the card.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::bot::messages::Bot;
use edgetherm_relay::commit::Committer;
use edgetherm_relay::queue::{Action, Delivery, Queue};
use edgetherm_relay::routing::Routing;
use serde_json::{json, Value};
use tower::ServiceExt;

fn activity(kind: &str, extra: Value) -> Value {
    let mut a = json!({
        "type": kind, "serviceUrl": "https://smba.trafficmanager.net/emea/", "channelId": "msteams",
        "from": {"id": "29:1dana", "name": "Dana", "aadObjectId": "aad-dana"},
        "recipient": {"id": "28:bot"},
        "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": "a:1dana"}
    });
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

async fn post(s: &AppState, body: Value) -> (StatusCode, Value) {
    let req = Request::post("/api/messages")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The temp dir and store stay alive while the first element does.
type Kept = (tempfile::TempDir, common::store::TestStore);

fn setup() -> (Kept, AppState, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let queue = Queue::open(&store);
    let state = AppState {
        commit: Committer::start(store.clone()).unwrap(),
        store: store.clone(),
        metrics: Arc::new(Default::default()),
        max_body: 1 << 20,
        max_pending: 100,
        bot: Some(Arc::new(Bot { auth: None })),
        routing: Default::default(),
        teams: false,
    };
    ((dir, store), state, queue)
}

/// The text replies queued so far.
fn replies(q: &Queue) -> Vec<String> {
    q.jobs()
        .unwrap()
        .into_iter()
        .filter_map(|(_, j)| match j.action {
            Action::Text { text } => Some(text),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn commands_change_settings_and_always_get_an_answer() {
    let (_d, s, q) = setup();
    post(&s, activity("installationUpdate", json!({"action": "add"}))).await;
    for text in [
        "<at>edgetherm</at> help",
        "subscribe dc1-*/rack*",
        "mute rack* 2h",
        "what is this",
        "unsubscribe",
    ] {
        let (status, _) = post(&s, activity("message", json!({"text": text}))).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let r = replies(&q);
    assert_eq!(r.len(), 5, "every message answered: {r:?}");
    assert!(r[0].contains("subscribe"), "help lists commands: {}", r[0]);
    assert!(r[1].contains("Subscribed to `dc1-*/rack*`"), "{}", r[1]);
    assert!(r[2].contains("Muted `rack*` until"), "{}", r[2]);
    assert!(
        r[3].contains("subscribe"),
        "unknown text gets help, not silence: {}",
        r[3]
    );
    assert!(r[4].contains("no more alerts"), "{}", r[4]);
    let c = s.store.conversation("a:1dana").unwrap().unwrap();
    assert!(c.unsubscribed);
    assert!(c.subscriptions.is_empty());
    assert_eq!(c.mutes.len(), 1);
    assert_eq!(c.mutes[0].pattern, "rack*");
}

#[tokio::test]
async fn acknowledge_is_answered_and_updates_every_card() {
    let (_d, s, q) = setup();
    post(&s, activity("installationUpdate", json!({"action": "add"}))).await;
    let e = {
        let mut e = Event::new(
            "E1".into(),
            EventKind::Firing,
            Severity::Critical,
            "2026-11-21T10:00:00Z".into(),
        );
        e.alert = Some("E1".into());
        e.rule = Some("r".into());
        e.sensor = Some("rack1-inlet".into());
        e.value = Some(31.0);
        e.threshold = Some(30.0);
        e
    };
    s.store.gateways().unwrap();
    s.store.accept("dc1-gw01", None, &[e]).unwrap();
    q.dispatch(&Routing::default(), 0, 10).unwrap();
    for (seq, job) in q.jobs().unwrap() {
        let card = matches!(job.action, Action::Post { .. }).then(|| {
            (
                "E1",
                "a:1dana",
                Delivery {
                    activity_id: "act-1".into(),
                    acknowledged_by: None,
                },
            )
        });
        q.complete(seq, card).unwrap();
    }
    let (status, body) = post(&s, activity("message", json!({"text": "status"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = replies(&q);
    assert!(
        r.last().unwrap().contains("Open alerts** (1)")
            && r.last().unwrap().contains("rack1-inlet"),
        "{r:?}"
    );

    let invoke = activity(
        "invoke",
        json!({"name": "adaptiveCard/action", "value": {"action": {"type": "Action.Execute", "verb": "ack", "data": {"action": "ack", "alert": "E1"}}}}),
    );
    let (status, body) = post(&s, invoke).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 200, "{body}");
    assert_eq!(body["type"], "application/vnd.microsoft.activity.message");
    assert!(
        body["value"]
            .as_str()
            .unwrap()
            .contains("Acknowledged by Dana"),
        "{body}"
    );
    let d = q.deliveries("E1").unwrap();
    assert_eq!(d[0].1.acknowledged_by.as_deref(), Some("Dana"));
    let updates: Vec<String> = q
        .jobs()
        .unwrap()
        .into_iter()
        .filter_map(|(_, j)| match j.action {
            Action::Update { activity_id, .. } => Some(activity_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        ["act-1"],
        "the card is updated in place to show who acknowledged"
    );
}
