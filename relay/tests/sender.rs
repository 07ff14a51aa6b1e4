//! The send worker against a fake Azure AD token endpoint and a fake Bot
//! Connector on loopback: cards posted, resolved cards updated in place, 429
//! honoured, a blocking user marked blocked, retries never sent twice.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::fake_teams::{Call, FakeTeams, Reply};
use common::teams_client::connector;
use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::bot::activity::Account;
use edgetherm_relay::conversations::{ConvState, ConversationRef};
use edgetherm_relay::metrics::Metrics;
use edgetherm_relay::queue::Queue;
use edgetherm_relay::routing::Routing;
use edgetherm_relay::sender::Sender;

/// The requests Teams accepted (2xx), in order.
fn delivered(fake: &FakeTeams) -> Vec<Call> {
    fake.calls()
        .into_iter()
        .filter(|c| (200..300).contains(&c.status))
        .collect()
}

fn conv(id: &str, service_url: &str) -> ConversationRef {
    let bot = Account {
        id: "28:bot".into(),
        name: None,
        aad_object_id: None,
    };
    let mut c = ConversationRef::new(id, "personal", service_url, bot, "");
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
        if queue.jobs().unwrap().is_empty() && sender.store.pending_len().unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queue did not drain: {:?}", queue.jobs().unwrap());
}

#[tokio::test]
async fn alerts_reach_teams_once_and_resolve_in_place() {
    let fake = FakeTeams::start();
    // A user who blocked the bot; another whose first send is throttled.
    fake.always_for("a:blocked", Reply::blocked_by_user());
    fake.script_for(
        "a:slow",
        [Reply::teams_error(429, "TooManyRequests", "slow down").retry_after(1)],
    );
    let teams = fake.service_url();
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let queue = Queue::open(&store);
    let mut welcomed = conv("a:dana", &teams);
    welcomed.welcome_pending = true;
    store.put_conversation(&welcomed).unwrap();
    store.put_conversation(&conv("a:slow", &teams)).unwrap();
    store.put_conversation(&conv("a:blocked", &teams)).unwrap();
    let mut sender = Sender::new(
        queue.clone(),
        store.clone(),
        connector(&fake),
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

    let calls = delivered(&fake);
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "POST")
        .map(|c| c.conversation.as_deref().unwrap())
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
        .find(|c| c.conversation.as_deref() == Some("a:dana") && c.body["attachments"].is_array())
        .unwrap()
        .body;
    assert_eq!(card["channelData"]["tenant"]["id"], "tenant-1");
    let text = card.to_string();
    assert!(
        text.contains("Rack 1 inlet") && text.contains("31.4") && text.contains("Datacenter 1"),
        "{text}"
    );
    assert_eq!(
        store.conversation("a:blocked").unwrap().unwrap().state,
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
    let calls = delivered(&fake);
    let puts: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c.method == "PUT")
        .map(|c| {
            (
                c.conversation.as_deref().unwrap(),
                c.activity_id.as_deref().unwrap(),
            )
        })
        .collect();
    let card_ids: HashMap<&str, &str> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.body["attachments"].is_array())
        .map(|c| {
            (
                c.conversation.as_deref().unwrap(),
                c.activity_id.as_deref().unwrap(),
            )
        })
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
        .filter(|c| c.method == "PUT")
        .all(|c| c.body.to_string().contains("Resolved")));
    // Every request, refused ones too, carried the token the fake issued.
    let all = fake.calls();
    assert!(
        all.iter()
            .all(|c| c.authorization.as_deref() == Some("Bearer tok-1")),
        "{all:?}"
    );
    let slow: Vec<u16> = all
        .iter()
        .filter(|c| c.conversation.as_deref() == Some("a:slow"))
        .map(|c| c.status)
        .collect();
    assert_eq!(
        slow,
        [429, 201, 200],
        "throttled once, then card and update"
    );
}
