//! The store interface, checked the same way against both backends: sled
//! in a temp dir, and a real PostgreSQL cluster started for the test
//! (skipped without PostgreSQL unless EDGETHERM_REQUIRE_POSTGRES=1). Then
//! what only a shared database has: two relays on it, a schema from the
//! future, a database that goes away and comes back, and `migrate`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::postgres::Postgres;
use edgetherm_proto::{Event, EventKind, Heartbeat, Severity};
use edgetherm_relay::bot::activity::Account;
use edgetherm_relay::config::{BackendKind, StoreConfig, TlsMode};
use edgetherm_relay::conversations::ConversationRef;
use edgetherm_relay::store::{
    Action, Delivery, Incoming, Job, OpenChange, PgBackend, Queued, Store, StoreError,
};

fn event(id: &str, kind: EventKind) -> Event {
    let mut e = Event::new(
        id.into(),
        kind,
        Severity::Critical,
        "2026-12-07T10:00:00Z".into(),
    );
    e.rule = Some("too-warm".into());
    e.sensor = Some("fridge".into());
    e
}

fn beat(open: Option<Vec<&str>>, outbox: u64) -> Heartbeat {
    Heartbeat {
        uptime_s: 1,
        outbox,
        interval_s: Some(60),
        sensors: Vec::new(),
        open: open.map(|o| o.into_iter().map(str::to_string).collect()),
        agent: None,
    }
}

fn pg_config(pg: &Postgres) -> StoreConfig {
    StoreConfig {
        backend: BackendKind::Postgres,
        url: Some(pg.url()),
        tls: Some(TlsMode::Disable),
        timeout: Some(edgetherm_relay::config::Interval(Some(
            Duration::from_secs(3),
        ))),
        ..StoreConfig::default()
    }
}

fn pg_store(pg: &Postgres) -> Store {
    Store::from_config(&pg_config(pg), std::path::Path::new("/nonexistent")).unwrap()
}

fn conversation(id: &str) -> ConversationRef {
    let bot = Account {
        id: "28:bot".into(),
        name: None,
        aad_object_id: None,
    };
    ConversationRef::new(
        id,
        "personal",
        "https://smba.example",
        bot,
        "2026-12-07T10:00:00Z",
    )
}

/// Everything the relay keeps, through the interface only.
fn contract(store: &Store) {
    // Gateways: a token is found by its hash; an id is added once.
    let token = store.add_gateway("gw1").unwrap();
    assert_eq!(
        store.gateway_for_token(&token).unwrap().as_deref(),
        Some("gw1")
    );
    assert_eq!(store.gateway_for_token("etg_wrong").unwrap(), None);
    assert!(matches!(
        store.add_gateway("gw1"),
        Err(StoreError::GatewayExists(_))
    ));
    assert_eq!(store.gateways().unwrap().len(), 1);
    assert_eq!(store.gateway_count().unwrap(), 1);

    // Accepting: each id once, however often it is sent.
    let batch = Incoming {
        gateway: "gw1".into(),
        site: Some("Lab".into()),
        events: vec![event("e1", EventKind::Firing), event("e2", EventKind::Test)],
        heartbeat: Some(beat(Some(vec!["e1"]), 2)),
    };
    let first = store.accept_group(std::slice::from_ref(&batch)).unwrap();
    assert_eq!((first[0].new, first[0].duplicate), (2, 0));
    let again = store.accept_group(&[batch.clone(), batch]).unwrap();
    assert_eq!((again[0].new, again[0].duplicate), (0, 2));
    assert_eq!((again[1].new, again[1].duplicate), (0, 2));
    assert_eq!(store.pending_len().unwrap(), 2);
    let pending = store.pending(10).unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending[0].0 < pending[1].0, "oldest first");
    assert_eq!(pending[0].1.event.id, "e1");
    assert_eq!(pending[0].1.site.as_deref(), Some("Lab"));

    // Heartbeats: a complete listing is kept, and moves to listed_before.
    let hb = store.heartbeat("gw1").unwrap().unwrap();
    assert_eq!(hb.listed, Some(vec!["e1".to_string()]));
    store
        .record_heartbeat("gw1", None, &beat(Some(vec![]), 0))
        .unwrap();
    let hb = store.heartbeat("gw1").unwrap().unwrap();
    assert_eq!(hb.listed, Some(vec![]));
    assert_eq!(hb.listed_before, Some(vec!["e1".to_string()]));
    assert!(store.heartbeat("nobody").unwrap().is_none());
    let all = store.heartbeats().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all["gw1"], hb);

    // Conversations.
    let mut c = conversation("a:1");
    store.put_conversation(&c).unwrap();
    c.welcome_pending = true;
    store.put_conversation(&c).unwrap();
    assert!(store.conversation("a:1").unwrap().unwrap().welcome_pending);
    assert!(store.conversation("a:2").unwrap().is_none());
    assert_eq!(store.conversations().unwrap().len(), 1);

    // Records.
    let r = store.records("installs");
    r.put("u2", &serde_json::json!({"n": 2})).unwrap();
    r.put("u1", &serde_json::json!({"n": 1})).unwrap();
    assert_eq!(r.keys().unwrap(), vec!["u1", "u2"]);
    assert_eq!(r.get::<serde_json::Value>("u1").unwrap().unwrap()["n"], 1);
    r.remove("u1").unwrap();
    assert!(r.get::<serde_json::Value>("u1").unwrap().is_none());
    assert!(store.records("other").keys().unwrap().is_empty());

    // Routing: pending out, jobs in, the episode open, all at once; once.
    let b = store.backend();
    let (seq, q) = pending[0].clone();
    let job = Job {
        conversation: "a:1".into(),
        action: Action::Post { q: q.clone() },
        attempts: 0,
        not_before_ms: 0,
    };
    let open = OpenChange::Open("e1".into(), Box::new(q.clone()));
    assert!(b
        .route(Some(seq), std::slice::from_ref(&job), &open)
        .unwrap());
    assert!(
        !b.route(Some(seq), std::slice::from_ref(&job), &open)
            .unwrap(),
        "routed once"
    );
    assert_eq!(store.pending(10).unwrap().len(), 1);
    let jobs = b.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1, job);
    assert_eq!(b.open_alert("e1").unwrap(), Some(q.clone()));
    assert_eq!(b.open_alerts().unwrap().len(), 1);

    // A wait is kept; a sent card is recorded with the job's removal.
    let mut waiting = job.clone();
    waiting.attempts = 1;
    waiting.not_before_ms = 42;
    b.reschedule_job(jobs[0].0, &waiting).unwrap();
    assert_eq!(b.jobs().unwrap()[0].1, waiting);
    let d = Delivery {
        activity_id: "act-1".into(),
        acknowledged_by: None,
    };
    b.complete_job(jobs[0].0, Some(("e1", "a:1", &d))).unwrap();
    assert!(b.jobs().unwrap().is_empty());
    assert_eq!(
        b.deliveries("e1").unwrap(),
        vec![("a:1".to_string(), d.clone())]
    );
    let acked = Delivery {
        acknowledged_by: Some("Ada".into()),
        ..d
    };
    b.put_delivery("e1", "a:1", &acked).unwrap();
    assert_eq!(b.deliveries("e1").unwrap()[0].1, acked);
    assert!(
        b.deliveries("e").unwrap().is_empty(),
        "an episode is not a prefix"
    );

    // Closing, and a job dropped.
    assert!(b
        .route(
            None,
            std::slice::from_ref(&job),
            &OpenChange::Close("e1".into())
        )
        .unwrap());
    assert!(b.open_alert("e1").unwrap().is_none());
    let seq = b.jobs().unwrap()[0].0;
    b.drop_job(seq).unwrap();
    assert!(b.jobs().unwrap().is_empty());
}

#[test]
fn sled_keeps_what_the_interface_promises() {
    let dir = tempfile::tempdir().unwrap();
    contract(&Store::open(dir.path()).unwrap());
}

#[test]
fn postgres_keeps_what_the_interface_promises() {
    let Some(pg) = Postgres::start("postgres_keeps_what_the_interface_promises") else {
        return;
    };
    contract(&pg_store(&pg));
    // A second relay on the database sees everything the first kept.
    let other = pg_store(&pg);
    assert_eq!(other.gateways().unwrap().len(), 1);
    assert_eq!(other.conversations().unwrap().len(), 1);
    assert_eq!(pg.psql("SELECT count(*) FROM events"), "2");
}

#[test]
fn two_relays_accepting_the_same_batch_queue_it_once() {
    let Some(pg) = Postgres::start("two_relays_accepting_the_same_batch_queue_it_once") else {
        return;
    };
    let a = pg_store(&pg);
    let b = pg_store(&pg);
    a.add_gateway("gw1").unwrap();
    for round in 0..20 {
        let batch = Incoming {
            gateway: "gw1".into(),
            site: None,
            events: (0..5)
                .map(|i| event(&format!("r{round}-e{i}"), EventKind::Firing))
                .collect(),
            heartbeat: None,
        };
        let (x, y) = std::thread::scope(|s| {
            let one = s.spawn(|| a.accept_group(std::slice::from_ref(&batch)).unwrap());
            let two = s.spawn(|| b.accept_group(std::slice::from_ref(&batch)).unwrap());
            (one.join().unwrap(), two.join().unwrap())
        });
        assert_eq!(x[0].new + y[0].new, 5, "round {round}: {x:?} {y:?}");
        assert_eq!(x[0].duplicate + y[0].duplicate, 5);
    }
    assert_eq!(pg.psql("SELECT count(*) FROM pending"), "100");
}

#[test]
fn fleet_leases_have_one_holder_and_lapse() {
    let Some(pg) = Postgres::start("fleet_leases_have_one_holder_and_lapse") else {
        return;
    };
    let a = pg_store(&pg);
    let b = pg_store(&pg);
    let ttl = Duration::from_millis(800);
    assert!(a.backend().lead("dispatch", "relay-a", ttl).unwrap());
    assert!(!b.backend().lead("dispatch", "relay-b", ttl).unwrap());
    assert!(
        a.backend().lead("dispatch", "relay-a", ttl).unwrap(),
        "renewed"
    );
    assert!(
        b.backend().lead("graph", "relay-b", ttl).unwrap(),
        "roles apart"
    );

    // Send leases: a conversation with jobs goes to one relay.
    let q = Queued {
        gateway: "gw1".into(),
        site: None,
        event: event("e1", EventKind::Firing),
    };
    let job = |conv: &str| Job {
        conversation: conv.into(),
        action: Action::Post { q: q.clone() },
        attempts: 0,
        not_before_ms: 0,
    };
    a.backend()
        .route(None, &[job("a:1"), job("a:2")], &OpenChange::Keep)
        .unwrap();
    let held_a = a
        .backend()
        .lease_conversations("relay-a", ttl)
        .unwrap()
        .unwrap();
    let held_b = b
        .backend()
        .lease_conversations("relay-b", ttl)
        .unwrap()
        .unwrap();
    assert_eq!(held_a.len(), 2);
    assert!(held_b.is_empty(), "{held_b:?}");
    a.backend().record_send("a:1", 1_000).unwrap();
    a.backend().record_send("a:1", 2_000).unwrap();

    // relay-a stops renewing: after the lease, relay-b takes everything over.
    std::thread::sleep(ttl + Duration::from_millis(300));
    assert!(b.backend().lead("dispatch", "relay-b", ttl).unwrap());
    assert!(!a.backend().lead("dispatch", "relay-a", ttl).unwrap());
    let held_b = b
        .backend()
        .lease_conversations("relay-b", ttl)
        .unwrap()
        .unwrap();
    assert_eq!(held_b.len(), 2);
    assert!(a
        .backend()
        .lease_conversations("relay-a", ttl)
        .unwrap()
        .unwrap()
        .is_empty());
    // Old sends are pruned (older than an hour); recent ones travel.
    let now = edgetherm_relay::clock::now_ms();
    a.backend().record_send("a:1", now - 5_000).unwrap();
    assert_eq!(
        b.backend().sends_since("a:1", now - 60_000).unwrap(),
        vec![now - 5_000]
    );

    // A clean stop gives the leases up: the others need not wait.
    b.backend().release("relay-b").unwrap();
    assert!(a.backend().lead("dispatch", "relay-a", ttl).unwrap());
    let held_a = a
        .backend()
        .lease_conversations("relay-a", ttl)
        .unwrap()
        .unwrap();
    assert_eq!(held_a.len(), 2);
}

#[test]
fn a_newer_schema_is_refused_with_a_message_that_says_what_to_do() {
    let Some(pg) = Postgres::start("a_newer_schema_is_refused") else {
        return;
    };
    drop(pg_store(&pg));
    assert_eq!(pg.psql("SELECT max(version) FROM schema_migrations"), "2");
    // Opening again applies nothing twice.
    drop(pg_store(&pg));
    assert_eq!(pg.psql("SELECT count(*) FROM schema_migrations"), "2");
    pg.psql("INSERT INTO schema_migrations (version) VALUES (99)");
    let err = match Store::from_config(&pg_config(&pg), std::path::Path::new("/nonexistent")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a schema from a newer relay was accepted"),
    };
    assert!(err.contains("schema version 99"), "{err}");
    assert!(err.contains("upgrade edgetherm-relay"), "{err}");
}

#[test]
fn a_database_that_goes_away_gives_errors_then_works_again() {
    let Some(mut pg) = Postgres::start("a_database_that_goes_away") else {
        return;
    };
    let store = pg_store(&pg);
    store.add_gateway("gw1").unwrap();
    pg.kill_hard();
    let started = std::time::Instant::now();
    let err = store
        .accept("gw1", None, &[event("e1", EventKind::Firing)])
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by [store] timeout"
    );
    assert!(
        store.conversations().is_err(),
        "a failed read is an error, not an empty list"
    );
    pg.start_again();
    let mut accepted = None;
    for _ in 0..50 {
        if let Ok(a) = store.accept("gw1", None, &[event("e1", EventKind::Firing)]) {
            accepted = Some(a);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        accepted.expect("works again once the database is back").new,
        1
    );
}

#[test]
fn migrate_copies_a_sled_store_once() {
    let Some(pg) = Postgres::start("migrate_copies_a_sled_store_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token;
    {
        let sled = Store::open(dir.path()).unwrap();
        token = sled.add_gateway("gw1").unwrap();
        sled.put_conversation(&conversation("a:1")).unwrap();
        sled.accept(
            "gw1",
            None,
            &[
                event("e1", EventKind::Firing),
                event("e2", EventKind::Firing),
            ],
        )
        .unwrap();
        sled.records("liveness")
            .put("gw1", &serde_json::json!({"x": 1}))
            .unwrap();
        let (seq, q) = sled.pending(1).unwrap().remove(0);
        let job = Job {
            conversation: "a:1".into(),
            action: Action::Post { q: q.clone() },
            attempts: 0,
            not_before_ms: 0,
        };
        sled.backend()
            .route(
                Some(seq),
                &[job],
                &OpenChange::Open("e1".into(), Box::new(q)),
            )
            .unwrap();
    }
    let sled = edgetherm_relay::store::SledBackend::open(&dir.path().join("store")).unwrap();
    let snapshot = sled.export().unwrap();
    drop(sled);
    let pg_backend = PgBackend::open(&pg_config(&pg)).unwrap();
    let first = pg_backend.import(&snapshot).unwrap();
    assert_eq!(
        (
            first.gateways,
            first.conversations,
            first.events,
            first.pending,
            first.jobs,
            first.open,
            first.records
        ),
        (1, 1, 2, 1, 1, 1, 1)
    );
    let second = pg_backend.import(&snapshot).unwrap();
    assert_eq!(second, Default::default(), "a second run copies nothing");
    let store = Store::with(Arc::new(pg_backend));
    assert_eq!(
        store.gateway_for_token(&token).unwrap().as_deref(),
        Some("gw1"),
        "tokens still work"
    );
    // Sequences continue after the copied rows.
    store
        .accept("gw1", None, &[event("e3", EventKind::Firing)])
        .unwrap();
    let pending: Vec<u64> = store
        .pending(10)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(pending.len(), 2);
    assert!(pending[1] > pending[0], "{pending:?}");
    assert_eq!(
        store
            .accept("gw1", None, &[event("e1", EventKind::Firing)])
            .unwrap()
            .duplicate,
        1
    );
}
