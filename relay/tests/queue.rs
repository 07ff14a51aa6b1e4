//! Routing accepted events into durable per-conversation jobs.

mod common;

use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::bot::activity::Account;
use edgetherm_relay::conversations::{ConvState, ConversationRef};
use edgetherm_relay::queue::{Action, Delivery, Queue};
use edgetherm_relay::routing::Routing;

fn conv(id: &str, welcome: bool) -> ConversationRef {
    let mut c = ConversationRef::new(
        id,
        "personal",
        "https://smba.trafficmanager.net/teams/",
        Account::default(),
        "",
    );
    c.tenant_id = Some("t".into());
    c.welcome_pending = welcome;
    c
}

fn event(id: &str, kind: EventKind, alert: &str) -> Event {
    let mut e = Event::new(
        id.into(),
        kind,
        Severity::Critical,
        "2026-11-21T10:00:00Z".into(),
    );
    e.alert = Some(alert.into());
    e.rule = Some("r".into());
    e.sensor = Some("rack1-inlet".into());
    e.value = Some(31.0);
    e.threshold = Some(30.0);
    e
}

#[test]
fn firing_goes_to_every_active_conversation_and_resolved_updates_those_cards() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let q = Queue::open(&store);
    store.put_conversation(&conv("a:1", true)).unwrap();
    store.put_conversation(&conv("a:2", false)).unwrap();
    let mut blocked = conv("a:3", false);
    blocked.state = ConvState::Blocked;
    store.put_conversation(&blocked).unwrap();

    store
        .accept("gw", Some("Site"), &[event("E1", EventKind::Firing, "E1")])
        .unwrap();
    assert_eq!(
        q.dispatch(&Routing::default(), 0, 100).unwrap(),
        3,
        "welcome + two cards"
    );
    assert_eq!(store.pending_len().unwrap(), 0);
    assert_eq!(
        q.dispatch(&Routing::default(), 0, 100).unwrap(),
        0,
        "nothing routed twice"
    );
    let jobs = q.jobs().unwrap();
    assert!(matches!(jobs[0].1.action, Action::Welcome));
    assert!(!store.conversation("a:1").unwrap().unwrap().welcome_pending);
    let posts: Vec<&str> = jobs
        .iter()
        .filter(|(_, j)| matches!(j.action, Action::Post { .. }))
        .map(|(_, j)| j.conversation.as_str())
        .collect();
    assert_eq!(posts, ["a:1", "a:2"], "never to the blocked one");
    assert_eq!(q.open_alerts().unwrap().len(), 1);

    // The sender posts the cards and records them.
    for (seq, job) in jobs {
        let card = match job.action {
            Action::Post { .. } => Some((
                "E1",
                job.conversation.as_str(),
                Delivery {
                    activity_id: format!("act-{}", job.conversation),
                    acknowledged_by: None,
                },
            )),
            _ => None,
        };
        q.complete(seq, card).unwrap();
    }
    assert!(q.jobs().unwrap().is_empty());

    store
        .accept(
            "gw",
            Some("Site"),
            &[event("E2", EventKind::Resolved, "E1")],
        )
        .unwrap();
    assert_eq!(q.dispatch(&Routing::default(), 0, 100).unwrap(), 2);
    let updates: Vec<(String, String)> = q
        .jobs()
        .unwrap()
        .into_iter()
        .map(|(_, j)| match j.action {
            Action::Update { activity_id, .. } => (j.conversation, activity_id),
            other => panic!("expected an update, got {other:?}"),
        })
        .collect();
    assert_eq!(
        updates,
        [
            ("a:1".to_string(), "act-a:1".to_string()),
            ("a:2".to_string(), "act-a:2".to_string())
        ]
    );
    assert!(
        q.open_alerts().unwrap().is_empty(),
        "resolved closes the alert"
    );
}

#[test]
fn repeats_go_to_recipients_unless_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let q = Queue::open(&store);
    store.put_conversation(&conv("a:1", false)).unwrap();
    store
        .accept("gw", None, &[event("E1", EventKind::Firing, "E1")])
        .unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    let (seq, _) = q.jobs().unwrap()[0].clone();
    q.complete(
        seq,
        Some((
            "E1",
            "a:1",
            Delivery {
                activity_id: "x".into(),
                acknowledged_by: None,
            },
        )),
    )
    .unwrap();
    // A conversation that appears later does not get repeats of an old alert.
    store.put_conversation(&conv("a:9", false)).unwrap();
    store
        .accept("gw", None, &[event("E2", EventKind::Firing, "E1")])
        .unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    let jobs = q.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1.conversation, "a:1");
    q.complete(
        jobs[0].0,
        Some((
            "E1",
            "a:1",
            Delivery {
                activity_id: "x".into(),
                acknowledged_by: Some("Dana".into()),
            },
        )),
    )
    .unwrap();
    store
        .accept("gw", None, &[event("E3", EventKind::Firing, "E1")])
        .unwrap();
    assert_eq!(
        q.dispatch(&Routing::default(), 0, 100).unwrap(),
        0,
        "acknowledged: no more repeats"
    );
}

#[test]
fn a_resolve_waits_for_its_card_to_go_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let q = Queue::open(&store);
    store.put_conversation(&conv("a:1", false)).unwrap();
    // Firing and resolved in one batch (an agent emptying its backlog).
    store
        .accept(
            "gw",
            None,
            &[
                event("E1", EventKind::Firing, "E1"),
                event("E2", EventKind::Resolved, "E1"),
            ],
        )
        .unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    assert_eq!(q.jobs().unwrap().len(), 1, "the card");
    assert_eq!(
        store.pending_len().unwrap(),
        1,
        "the resolve waits: there is no card to update yet"
    );
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    assert_eq!(
        store.pending_len().unwrap(),
        1,
        "still waiting while the card is queued"
    );
    let (seq, _) = q.jobs().unwrap()[0].clone();
    q.complete(
        seq,
        Some((
            "E1",
            "a:1",
            Delivery {
                activity_id: "act-1".into(),
                acknowledged_by: None,
            },
        )),
    )
    .unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    assert_eq!(store.pending_len().unwrap(), 0);
    assert!(
        matches!(&q.jobs().unwrap()[0].1.action, Action::Update { activity_id, .. } if activity_id == "act-1")
    );
}

#[test]
fn a_resolve_lasts_from_the_episode_start_the_relay_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    let q = Queue::open(&store);
    store.put_conversation(&conv("a:1", false)).unwrap();
    let mut firing = event("E1", EventKind::Firing, "E1");
    firing.at = "2026-11-21T10:00:00.250Z".into();
    firing.since = Some("2026-11-21T09:59:58.750Z".into());
    store.accept("gw", None, &[firing]).unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    for (seq, job) in q.jobs().unwrap() {
        let d = Delivery {
            activity_id: "act".into(),
            acknowledged_by: None,
        };
        q.complete(seq, Some(("E1", job.conversation.as_str(), d)))
            .unwrap();
    }

    // A client that stamps `since` equal to `at` on its resolve.
    let mut resolve = event("E2", EventKind::Resolved, "E1");
    resolve.at = "2026-11-21T10:00:02.900Z".into();
    resolve.since = Some(resolve.at.clone());
    store.accept("gw", None, &[resolve]).unwrap();
    q.dispatch(&Routing::default(), 0, 100).unwrap();
    let jobs = q.jobs().unwrap();
    let Action::Update { q: update, .. } = &jobs[0].1.action else {
        panic!("expected an update, got {:?}", jobs[0].1.action);
    };
    assert_eq!(
        update.event.since.as_deref(),
        Some("2026-11-21T09:59:58.750Z"),
        "the first event's start, not the resolve's own"
    );
    let ctx = edgetherm_relay::teams::card::CardContext {
        gateway: "gw",
        site: None,
        acknowledged_by: None,
        muted_until: None,
    };
    let card = edgetherm_relay::teams::card::alert_card(&update.event, &ctx);
    assert!(
        card.to_string().contains("lasted 4 s"),
        "4.15 s from the first breaching reading: {card}"
    );
}
