//! Accepted event ids (the idempotency records) are forgotten after
//! `[store] remember_events`, on both backends, by the relay's own stamp;
//! a PostgreSQL store made by schema 1 is upgraded to index them; and a
//! relay process runs its first pass within a minute of its start.

mod common;

use std::time::Duration;

use common::events::{batch as wire_batch, event as wire_event};
use common::http::http;
use common::postgres::Postgres;
use common::relay_proc::RelayProc;
use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::clock::now_ms;
use edgetherm_relay::config::{BackendKind, StoreConfig, TlsMode};
use edgetherm_relay::idempotency::Forgetter;
use edgetherm_relay::store::{Incoming, Store};
use std::time::Instant;

fn batch(ids: &[&str]) -> Incoming {
    let events = ids
        .iter()
        .map(|id| {
            // The gateway's clock says 1970: the relay must not go by it.
            Event::new(
                (*id).into(),
                EventKind::Firing,
                Severity::Critical,
                "1970-01-01T00:00:10Z".into(),
            )
        })
        .collect();
    Incoming {
        gateway: "gw1".into(),
        site: None,
        events,
        heartbeat: None,
    }
}

/// (new, duplicate) when `ids` are sent.
fn send(store: &Store, ids: &[&str]) -> (usize, usize) {
    let a = store.accept_group(&[batch(ids)]).unwrap();
    (a[0].new, a[0].duplicate)
}

fn forgetting(store: &Store) {
    assert_eq!(send(store, &["old-1", "old-2"]), (2, 0));
    // Stamps are to the second: the next one starts a later stamp.
    let boundary = (now_ms() / 1000 + 1) * 1000;
    while now_ms() < boundary {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(send(store, &["new-1"]), (1, 0));
    let pending = store.pending_len().unwrap();

    // Nothing accepted within the last 30 days is forgotten.
    let month = Forgetter::new(store.clone(), Duration::from_secs(30 * 86_400));
    assert_eq!(month.pass(now_ms()).unwrap(), 0);
    assert_eq!(send(store, &["old-1", "old-2", "new-1"]), (0, 3));

    // Forgetting what came before the boundary takes the two old ids only,
    // and nothing that waits to be sent.
    assert_eq!(store.forget_events_before(boundary).unwrap(), 2);
    assert_eq!(store.forget_events_before(boundary).unwrap(), 0);
    assert_eq!(store.pending_len().unwrap(), pending);
    // An old id sent again is new now (documented); the recent one is not.
    assert_eq!(send(store, &["old-1", "new-1"]), (1, 1));

    // A month on, everything accepted so far is gone.
    let later = now_ms() + 31 * 86_400_000;
    assert_eq!(month.pass(later).unwrap(), 2);
    assert_eq!(send(store, &["new-1"]), (1, 0));
}

fn pg_config(pg: &Postgres) -> StoreConfig {
    StoreConfig {
        backend: BackendKind::Postgres,
        url: Some(pg.url()),
        tls: Some(TlsMode::Disable),
        ..StoreConfig::default()
    }
}

#[test]
fn sled_forgets_old_event_ids() {
    let dir = tempfile::tempdir().unwrap();
    forgetting(&Store::open(dir.path()).unwrap());
}

#[test]
fn postgres_forgets_old_event_ids() {
    let Some(pg) = Postgres::start("postgres_forgets_old_event_ids") else {
        return;
    };
    forgetting(&Store::from_config(&pg_config(&pg), std::path::Path::new("/nonexistent")).unwrap());
    assert_eq!(pg.psql("SELECT count(*) FROM events"), "1");
}

#[test]
fn a_schema_1_database_is_upgraded_and_keeps_its_ids() {
    let Some(pg) = Postgres::start("a_schema_1_database_is_upgraded") else {
        return;
    };
    // What a relay of schema 1 left: its tables, its version, an id.
    pg.psql(include_str!("../migrations/0001_init.sql"));
    pg.psql(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, \
         applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO schema_migrations (version) VALUES (1);
         INSERT INTO events (id, gateway, received_at) VALUES ('kept', 'gw1', '2026-01-01T00:00:00Z');",
    );
    let store = Store::from_config(&pg_config(&pg), std::path::Path::new("/nonexistent")).unwrap();
    assert_eq!(pg.psql("SELECT max(version) FROM schema_migrations"), "2");
    assert_eq!(
        pg.psql("SELECT indexname FROM pg_indexes WHERE indexname = 'events_received_at'"),
        "events_received_at"
    );
    assert_eq!(send(&store, &["kept"]), (0, 1));
    let jan_2 = edgetherm_relay::clock::parse_ms("2026-01-02T00:00:00Z").unwrap();
    assert_eq!(store.forget_events_before(jan_2).unwrap(), 1);
}

#[test]
fn a_running_relay_forgets_a_month_old_id_in_its_first_pass() {
    let mut relay = RelayProc::new();
    let token = relay.add_gateway("gw1");
    let old = wire_event(1, EventKind::Firing);
    let recent = wire_event(2, EventKind::Firing);
    {
        // What a relay accepted 40 days ago and just now, in its own store.
        let store = Store::open(&relay.data_dir()).unwrap();
        let incoming = |e: &Event| Incoming {
            gateway: "gw1".into(),
            site: None,
            events: vec![e.clone()],
            heartbeat: None,
        };
        let forty_days_ago = edgetherm_relay::clock::rfc3339(now_ms() - 40 * 86_400_000);
        store
            .backend()
            .accept_group(&[incoming(&old)], &forty_days_ago)
            .unwrap();
        store.accept_group(&[incoming(&recent)]).unwrap();
        store.backend().flush().unwrap();
    }
    relay.spawn();
    relay.wait_healthy(Duration::from_secs(20));
    // The first pass comes 60 s after the start.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !relay.log_text().contains("forgot accepted event ids") {
        assert!(
            Instant::now() < deadline,
            "no pass within 120 s:\n{}",
            relay.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let line = relay
        .log_text()
        .lines()
        .find(|l| l.contains("forgot accepted event ids"))
        .unwrap()
        .to_string();
    assert!(line.contains("count=1"), "{line}");

    // Both sent again: the month-old one is new to the relay now, the
    // recent one is still a duplicate.
    let (body, ids) = wire_batch("gw1", vec![old, recent], None);
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let (status, answer) = http(relay.port(), "POST", "/v1/events", &headers, &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let a: edgetherm_proto::Accepted = serde_json::from_str(&answer).unwrap();
    assert_eq!(a.accepted, ids);
    let (_, metrics) = http(relay.port(), "GET", "/metrics", "", "").unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    assert_eq!(
        value("edgetherm_relay_events_accepted_total"),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        value("edgetherm_relay_events_duplicate_total"),
        Some(1),
        "{metrics}"
    );
    relay.stop();
}
