//! Cards that could never resolve: an episode the relay holds open that its
//! gateway has left out of two complete heartbeats in a row is closed, its
//! card updated in place with the reason; anything short of that changes
//! nothing.

mod common;

use edgetherm_proto::{Event, EventKind, Heartbeat, Severity};
use edgetherm_relay::bot::activity::Account;
use edgetherm_relay::conversations::ConversationRef;
use edgetherm_relay::orphans::CLOSE_REASON;
use edgetherm_relay::queue::{Action, Delivery, Queue};
use edgetherm_relay::routing::Routing;
use edgetherm_relay::store::{Incoming, Store};
use edgetherm_relay::teams::card::{alert_card, CardContext};

fn firing(id: &str) -> Event {
    let mut e = Event::new(
        id.into(),
        EventKind::Firing,
        Severity::Critical,
        "2026-12-07T10:00:00.000Z".into(),
    );
    e.alert = Some(id.into());
    e.rule = Some("freezer-high".into());
    e.sensor = Some("freezer2".into());
    e.value = Some(-12.5);
    e.threshold = Some(-15.0);
    e.direction = Some(edgetherm_proto::Direction::Above);
    e.since = Some("2026-12-07T09:59:00.000Z".into());
    e
}

/// A heartbeat batch: `open` as listed, `outbox` events left behind it.
fn beat(store: &Store, open: Option<&[&str]>, outbox: u64) {
    let hb = Heartbeat {
        uptime_s: 60,
        outbox,
        interval_s: Some(60),
        sensors: Vec::new(),
        open: open.map(|o| o.iter().map(|s| s.to_string()).collect()),
        agent: None,
    };
    store
        .accept_group(&[Incoming {
            gateway: "gw".into(),
            site: None,
            events: Vec::new(),
            heartbeat: Some(hb),
        }])
        .unwrap();
}

/// A store with episodes E1 and E2 open and their cards posted.
fn with_two_cards(dir: &std::path::Path) -> (common::store::TestStore, Queue) {
    let store = common::store::open(dir);
    let q = Queue::open(&store);
    let mut c = ConversationRef::new(
        "a:1",
        "personal",
        "https://smba.trafficmanager.net/teams/",
        Account::default(),
        "",
    );
    c.tenant_id = Some("t".into());
    store.put_conversation(&c).unwrap();
    store
        .accept("gw", None, &[firing("E1"), firing("E2")])
        .unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    for (seq, job) in q.jobs().unwrap() {
        let Action::Post { q: posted } = &job.action else {
            panic!("{job:?}")
        };
        let episode = posted.event.id.clone();
        let d = Delivery {
            activity_id: format!("act-{episode}"),
            acknowledged_by: None,
        };
        q.complete(seq, Some((&episode, "a:1", d))).unwrap();
    }
    assert_eq!(q.open_alerts().unwrap().len(), 2);
    (store, q)
}

fn dispatch_twice(q: &Queue) {
    // The first pass queues the close, the second routes it.
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
}

#[test]
fn an_episode_left_out_of_two_heartbeats_is_closed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (store, q) = with_two_cards(dir.path());

    beat(&store, Some(&["E2"]), 0);
    dispatch_twice(&q);
    assert!(q.jobs().unwrap().is_empty(), "one heartbeat is not enough");
    assert_eq!(q.open_alerts().unwrap().len(), 2);

    beat(&store, Some(&["E2"]), 0);
    dispatch_twice(&q);
    let jobs = q.jobs().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let Action::Update {
        q: close,
        activity_id,
    } = &jobs[0].1.action
    else {
        panic!("expected an in-place update: {:?}", jobs[0].1.action)
    };
    assert_eq!(activity_id, "act-E1", "E1's own card");
    assert_eq!(close.event.kind, EventKind::Resolved);
    assert_eq!(close.event.alert.as_deref(), Some("E1"));
    assert_eq!(
        close.event.since.as_deref(),
        Some("2026-12-07T09:59:00.000Z")
    );
    let open: Vec<String> = q
        .open_alerts()
        .unwrap()
        .into_iter()
        .map(|o| o.event.id)
        .collect();
    assert_eq!(open, ["E2"], "the listed one stays open");

    let ctx = CardContext {
        gateway: "gw",
        site: None,
        acknowledged_by: None,
        muted_until: None,
    };
    let card = alert_card(&close.event, &ctx).to_string();
    assert!(card.contains("Closed"), "{card}");
    assert!(
        card.contains(CLOSE_REASON),
        "one sentence saying why: {card}"
    );
    assert!(
        !card.contains("no longer above"),
        "not claimed resolved: {card}"
    );

    // Closed once: more heartbeats without it queue nothing more.
    q.complete(jobs[0].0, None).unwrap();
    beat(&store, Some(&["E2"]), 0);
    dispatch_twice(&q);
    assert!(q.jobs().unwrap().is_empty());
}

#[test]
fn heartbeats_that_cannot_tell_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, q) = with_two_cards(dir.path());
    // Older agents send no `open`.
    for _ in 0..3 {
        beat(&store, None, 0);
        dispatch_twice(&q);
    }
    // A gateway with events still waiting behind the batch: its resolve may
    // be among them.
    for _ in 0..3 {
        beat(&store, Some(&[]), 5);
        dispatch_twice(&q);
    }
    // Listed, then left out once, then listed again.
    beat(&store, Some(&["E1", "E2"]), 0);
    beat(&store, Some(&[]), 0);
    beat(&store, Some(&["E1", "E2"]), 0);
    dispatch_twice(&q);
    assert!(q.jobs().unwrap().is_empty(), "{:?}", q.jobs().unwrap());
    assert_eq!(q.open_alerts().unwrap().len(), 2);
}
