//! The send worker against a fake Azure AD token endpoint and a fake Bot
//! Connector on loopback: cards posted, resolved cards updated in place, 429
//! honoured, a blocking user marked blocked, retries never sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::bot::activity::Account;
use edgetherm_relay::conversations::{ConvState, ConversationRef};
use edgetherm_relay::metrics::Metrics;
use edgetherm_relay::queue::Queue;
use edgetherm_relay::routing::Routing;
use edgetherm_relay::sender::Sender;
use edgetherm_relay::store::Store;
use edgetherm_relay::teams::connector::Connector;
use edgetherm_relay::teams::token::TokenSource;
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    /// (method, conversation, activity id or "", body)
    calls: Vec<(String, String, String, Value)>,
    throttled_once: HashMap<String, bool>,
    next: u32,
}

type Shared = Arc<Mutex<Fake>>;

async fn token() -> Json<Value> {
    Json(
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "fake-token"}),
    )
}

async fn send(
    State(f): State<Shared>,
    headers: HeaderMap,
    Path(conv): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    assert_eq!(headers.get("authorization").unwrap(), "Bearer fake-token");
    let mut f = f.lock().unwrap();
    if conv == "a:blocked" {
        return (StatusCode::FORBIDDEN, Json(json!({"error": {"code": "ConversationBlockedByUser", "message": "User blocked the conversation with the bot."}}))).into_response();
    }
    if conv == "a:slow" && !f.throttled_once.get(&conv).copied().unwrap_or(false) {
        f.throttled_once.insert(conv, true);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": {"code": "TooManyRequests", "message": "slow down"}})),
        )
            .into_response();
    }
    f.next += 1;
    let id = format!("act-{}", f.next);
    f.calls.push(("POST".into(), conv, String::new(), body));
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn update(
    State(f): State<Shared>,
    Path((conv, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    f.lock()
        .unwrap()
        .calls
        .push(("PUT".into(), conv, id.clone(), body));
    (StatusCode::OK, Json(json!({"id": id}))).into_response()
}

async fn fake() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/tenant-1/oauth2/v2.0/token", post(token))
        .route("/teams/v3/conversations/{conv}/activities", post(send))
        .route(
            "/teams/v3/conversations/{conv}/activities/{id}",
            put(update),
        )
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), shared)
}

fn conv(id: &str, base: &str) -> ConversationRef {
    let bot = Account {
        id: "28:bot".into(),
        name: None,
        aad_object_id: None,
    };
    let mut c = ConversationRef::new(id, "personal", &format!("{base}/teams/"), bot, "");
    c.tenant_id = Some("tenant-1".into());
    c.user = Some(Account {
        id: format!("29:{id}"),
        name: Some("Dana".into()),
        aad_object_id: Some("aad".into()),
    });
    c
}

fn event(id: &str, kind: EventKind, alert: &str) -> Event {
    let mut e = Event::new(
        id.into(),
        kind,
        Severity::Critical,
        "2026-11-21T10:00:01Z".into(),
    );
    e.alert = Some(alert.into());
    e.rule = Some("rack-inlet-high".into());
    e.sensor = Some("rack1-inlet".into());
    e.sensor_name = Some("Rack 1 inlet".into());
    e.value = Some(31.4);
    e.threshold = Some(30.0);
    e.direction = Some(edgetherm_proto::Direction::Above);
    e.since = Some("2026-11-21T09:58:01Z".into());
    e
}

async fn drain(sender: &mut Sender, queue: &Queue) {
    for _ in 0..100 {
        sender.pass().await;
        if queue.jobs().is_empty() && sender.store.pending_len() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queue did not drain: {:?}", queue.jobs());
}

#[tokio::test]
async fn alerts_reach_teams_once_and_resolve_in_place() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (base, fake) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store).unwrap();
    let mut welcomed = conv("a:dana", &base);
    welcomed.welcome_pending = true;
    store.put_conversation(&welcomed).unwrap();
    store.put_conversation(&conv("a:slow", &base)).unwrap();
    store.put_conversation(&conv("a:blocked", &base)).unwrap();
    let http = reqwest::Client::new();
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        format!("{base}/tenant-1/oauth2/v2.0/token"),
        "app".into(),
        "secret".into(),
        "https://api.botframework.com/.default".into(),
    ));
    let mut sender = Sender::new(
        queue.clone(),
        store.clone(),
        Connector::new(http, tokens),
        Routing::default(),
        Arc::new(Metrics::default()),
    );

    let firing = event("E1", EventKind::Firing, "E1");
    store
        .accept(
            "dc1-gw01",
            Some("Datacenter 1"),
            std::slice::from_ref(&firing),
        )
        .unwrap();
    drain(&mut sender, &queue).await;
    // A retried batch: acknowledged, but nothing new is sent.
    store
        .accept("dc1-gw01", Some("Datacenter 1"), &[firing])
        .unwrap();
    drain(&mut sender, &queue).await;

    let calls = fake.lock().unwrap().calls.clone();
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.0 == "POST")
        .map(|c| c.1.as_str())
        .collect();
    assert_eq!(
        posts.iter().filter(|c| **c == "a:dana").count(),
        2,
        "welcome + card: {posts:?}"
    );
    assert_eq!(
        posts.iter().filter(|c| **c == "a:slow").count(),
        1,
        "sent once after the 429: {posts:?}"
    );
    assert!(!posts.contains(&"a:blocked"));
    let card = &calls
        .iter()
        .find(|c| c.1 == "a:dana" && c.3["attachments"].is_array())
        .unwrap()
        .3;
    assert_eq!(card["channelData"]["tenant"]["id"], "tenant-1");
    let text = card.to_string();
    assert!(
        text.contains("Rack 1 inlet") && text.contains("31.4") && text.contains("Datacenter 1"),
        "{text}"
    );
    assert_eq!(
        store.conversation("a:blocked").unwrap().state,
        ConvState::Blocked,
        "a user who blocked the bot is marked"
    );

    store
        .accept(
            "dc1-gw01",
            Some("Datacenter 1"),
            &[event("E2", EventKind::Resolved, "E1")],
        )
        .unwrap();
    drain(&mut sender, &queue).await;
    let calls = fake.lock().unwrap().calls.clone();
    let puts: Vec<(String, String)> = calls
        .iter()
        .filter(|c| c.0 == "PUT")
        .map(|c| (c.1.clone(), c.2.clone()))
        .collect();
    let card_ids: HashMap<String, String> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 == "POST" && c.3["attachments"].is_array())
        .map(|(i, c)| (c.1.clone(), format!("act-{}", i + 1)))
        .collect();
    assert_eq!(puts.len(), 2, "one in-place update per recipient: {puts:?}");
    for (conv, id) in &puts {
        assert_eq!(
            card_ids.get(conv),
            Some(id),
            "the resolved card replaces the posted one"
        );
    }
    assert!(calls
        .iter()
        .filter(|c| c.0 == "PUT")
        .all(|c| c.3.to_string().contains("Resolved")));
}
