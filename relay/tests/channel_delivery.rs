//! Alerts to a team channel where the app is installed: each alert is a new
//! thread (a POST to the channel's conversation id), updated in place (PUT
//! on the activity id Teams returned) when it resolves, never posted into an
//! existing thread; commands typed in a thread are answered in that thread
//! and change the channel's settings.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::events::{event, firing_id, marker, resolved_id};
use common::fake_teams::{FakeTeams, BOT_ID, TENANT};
use common::graph_rig::drain;
use common::teams_client::connector;
use edgetherm_proto::EventKind;
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::bot::messages::Bot;
use edgetherm_relay::commit::Committer;
use edgetherm_relay::queue::Queue;
use edgetherm_relay::sender::Sender;
use serde_json::{json, Value};
use tower::ServiceExt;

const CHANNEL: &str = "19:5b6a0f9e2c1d4e8fa7b3c2d1e0f9a8b7@thread.tacv2";
const TEAM: &str = "19:0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f@thread.tacv2";

async fn post(state: &AppState, activity: Value) -> StatusCode {
    let req = Request::post("/api/messages")
        .header("content-type", "application/json")
        .body(Body::from(activity.to_string()))
        .unwrap();
    router(state.clone()).oneshot(req).await.unwrap().status()
}

/// What Teams posts when the app is added to a team: the bot joins the
/// team's General channel.
fn team_install(service_url: &str) -> Value {
    json!({
        "type": "conversationUpdate", "id": "f:team",
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": "29:1owner", "aadObjectId": "aad-owner"},
        "recipient": {"id": BOT_ID, "name": "edgetherm"},
        "membersAdded": [{"id": BOT_ID}],
        "conversation": {"isGroup": true, "conversationType": "channel", "tenantId": TENANT, "id": CHANNEL},
        "channelData": {"eventType": "teamMemberAdded", "tenant": {"id": TENANT},
                        "team": {"id": TEAM}, "channel": {"id": CHANNEL}}
    })
}

/// A message @mentioning the bot inside one thread of the channel.
fn thread_message(service_url: &str, thread: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": "1700000000555",
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": "29:1ops", "name": "Ops", "aadObjectId": "aad-ops"},
        "recipient": {"id": BOT_ID, "name": "edgetherm"},
        "conversation": {"isGroup": true, "conversationType": "channel", "tenantId": TENANT, "id": thread},
        "text": format!("<at>edgetherm</at> {text}"),
        "channelData": {"tenant": {"id": TENANT}, "team": {"id": TEAM}, "channel": {"id": CHANNEL}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alert_is_a_new_thread_updated_in_place() {
    let teams = FakeTeams::start();
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let state = AppState {
        commit: Committer::start(store.clone()).unwrap(),
        store: store.clone(),
        metrics: Arc::new(Default::default()),
        max_body: 1 << 20,
        max_pending: 1000,
        bot: Some(Arc::new(Bot { auth: None })),
        routing: Default::default(),
        teams: true,
    };
    let svc = teams.service_url();
    assert_eq!(post(&state, team_install(&svc)).await, StatusCode::OK);
    let thread = format!("{CHANNEL};messageid=1700000000001");
    let typed = thread_message(&svc, &thread, "subscribe dc1-*");
    assert_eq!(post(&state, typed).await, StatusCode::OK);
    let channel = store.conversation(CHANNEL).unwrap().unwrap();
    assert_eq!(channel.conversation_type, "channel");
    assert_eq!(channel.subscriptions, ["dc1-*"], "set on the channel");

    let mut sender = Sender::new(
        Queue::open(&store),
        store.clone(),
        connector(&teams),
        Default::default(),
        Arc::new(Default::default()),
    );
    store
        .accept(
            "dc1-gw01",
            Some("Datacenter 1"),
            &[event(1, EventKind::Firing), event(2, EventKind::Firing)],
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), drain(&mut sender))
        .await
        .unwrap();
    store
        .accept(
            "dc1-gw01",
            Some("Datacenter 1"),
            &[event(1, EventKind::Resolved)],
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), drain(&mut sender))
        .await
        .unwrap();

    let calls = teams.calls();
    let card = |k: usize| {
        calls
            .iter()
            .find(|c| c.body.to_string().contains(&marker(&firing_id(k))))
            .unwrap_or_else(|| panic!("no card for alert {k}: {calls:?}"))
    };
    for k in [1, 2] {
        let c = card(k);
        assert_eq!(c.method, "POST");
        assert_eq!(
            c.conversation.as_deref(),
            Some(CHANNEL),
            "a new thread: posted to the channel itself"
        );
        assert_eq!(c.body["channelData"]["tenant"]["id"], TENANT);
        assert_eq!(c.body["type"], "message");
    }
    assert_ne!(card(1).activity_id, card(2).activity_id, "two threads");
    let resolved: Vec<_> = calls
        .iter()
        .filter(|c| c.body.to_string().contains(&marker(&resolved_id(1))))
        .collect();
    assert_eq!(resolved.len(), 1, "{calls:?}");
    assert_eq!(resolved[0].method, "PUT", "updated in place");
    assert_eq!(resolved[0].conversation.as_deref(), Some(CHANNEL));
    assert_eq!(resolved[0].activity_id, card(1).activity_id);
    assert_eq!(
        resolved[0].raw_path,
        format!(
            "/teams/v3/conversations/{}/activities/{}",
            CHANNEL.replace(':', "%3A").replace('@', "%40"),
            card(1).activity_id.as_deref().unwrap().replace(':', "%3A")
        )
    );
    // Into the thread: only the answer to the command typed there.
    let in_thread: Vec<_> = calls
        .iter()
        .filter(|c| c.conversation.as_deref() == Some(thread.as_str()))
        .collect();
    assert_eq!(in_thread.len(), 1, "{in_thread:?}");
    assert!(in_thread[0].body["text"]
        .as_str()
        .unwrap()
        .contains("Subscribed to `dc1-*`"));
    assert!(
        calls.iter().all(|c| c.method == "PUT"
            || c.conversation.as_deref() == Some(CHANNEL)
            || c.conversation.as_deref() == Some(thread.as_str())),
        "{calls:?}"
    );
}
