//! The relay process on PostgreSQL: admin commands against the database,
//! a database that goes away (503 with Retry-After, an unhealthy /healthz,
//! nothing lost once it is back), and `migrate --from-sled`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::events::{batch, event};
use common::postgres::Postgres;
use common::relay_proc::RelayProc;
use edgetherm_proto::EventKind;

fn store_section(pg: &Postgres) -> String {
    format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{}\"\ntls = \"disable\"\ntimeout = \"2s\"\n",
        pg.url()
    )
}

/// One raw request → the whole response (status line, headers, body).
fn raw(port: u16, method: &str, path: &str, token: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_database_outage_is_a_503_with_retry_after_and_loses_nothing() {
    let Some(mut pg) = Postgres::start("a_database_outage_is_a_503") else {
        return;
    };
    let mut relay = RelayProc::new().with_config(&store_section(&pg));
    // Not running: the admin command writes to the database itself.
    let token = relay.add_gateway("gw-db");
    relay.start();
    let post = |k: usize| {
        let b = batch("gw-db", vec![event(k, EventKind::Firing)], None);
        raw(relay.port(), "POST", "/v1/events", &token, &b.0.clone())
    };
    assert_eq!(status(&post(1)), 200);

    pg.kill_hard();
    let started = Instant::now();
    let down = post(2);
    assert_eq!(status(&down), 503, "{down}");
    assert!(down.to_lowercase().contains("retry-after: "), "{down}");
    assert!(down.contains("retry later"), "{down}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by [store] timeout"
    );
    let health = raw(relay.port(), "GET", "/healthz", "", "");
    assert_eq!(status(&health), 503, "{health}");

    pg.start_again();
    // The gateway retries what got no 200 (its outbox keeps it meanwhile).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = post(2);
        if status(&r) == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still failing 30 s after the database came back: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(status(&post(1)), 200, "a retry of an accepted batch");
    assert_eq!(status(&raw(relay.port(), "GET", "/healthz", "", "")), 200);
    assert_eq!(
        pg.psql("SELECT count(*) FROM events"),
        "2",
        "each event once"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM pending"), "2");
}

#[test]
fn migrate_from_sled_copies_the_store_and_the_tokens_keep_working() {
    let Some(pg) = Postgres::start("migrate_from_sled_copies_the_store") else {
        return;
    };
    // An existing single relay on sled, with a gateway and an accepted event.
    let mut old = RelayProc::new();
    let token = old.add_gateway("gw-old");
    old.start();
    let b = batch("gw-old", vec![event(7, EventKind::Firing)], None);
    let body = b.0.clone();
    assert_eq!(
        status(&raw(old.port(), "POST", "/v1/events", &token, &body)),
        200
    );

    // While it runs, sled is locked: migrate says to stop it first.
    let new = RelayProc::new().with_config(&store_section(&pg));
    let from = old.data_dir().display().to_string();
    let (code, _, err) = new.cli(&["migrate", "--from-sled", &from]);
    assert_ne!(code, 0);
    assert!(err.contains("stop it first"), "{err}");
    old.kill();

    let (code, out, err) = new.cli(&["migrate", "--from-sled", &from]);
    assert_eq!(code, 0, "{err}");
    let line = |what: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{out}"))
            .split_whitespace()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("gateways"), "1 / 1", "{out}");
    assert_eq!(line("accepted event ids"), "1 / 1", "{out}");
    assert_eq!(line("events waiting"), "1 / 1", "{out}");

    // Idempotent: a second run copies nothing new.
    let (code, out, _) = new.cli(&["migrate", "--from-sled", &from]);
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("gateways")
            && l.split_whitespace().rev().take(3).collect::<Vec<_>>() == ["1", "/", "0"]),
        "{out}"
    );

    // The relay on PostgreSQL knows the gateway's token and the event.
    let mut new = new;
    new.start();
    let again = raw(new.port(), "POST", "/v1/events", &token, &body);
    assert_eq!(status(&again), 200, "{again}");
    assert_eq!(
        pg.psql("SELECT count(*) FROM events"),
        "1",
        "the retried event is known"
    );
    let (code, out, _) = new.cli(&["conversations"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn migrate_needs_a_postgres_store_and_a_sled_dir() {
    let relay = RelayProc::new();
    let (code, _, err) = relay.cli(&["migrate", "--from-sled", "/nonexistent"]);
    assert_ne!(code, 0);
    assert!(err.contains("backend = \"postgres\""), "{err}");
    let Some(pg) = Postgres::start("migrate_needs_a_sled_dir") else {
        return;
    };
    let relay = RelayProc::new().with_config(&store_section(&pg));
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = relay.cli(&[
        "migrate",
        "--from-sled",
        &empty.path().display().to_string(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no sled store in"), "{err}");
}
