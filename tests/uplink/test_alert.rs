//! `edgetherm test-alert` names where the chain stopped: delivered and
//! queued for N Teams conversations (exit 0), or exit 1 because the relay is
//! down, refused the token, has no subscribed conversation, or has no Teams
//! credentials.

use crate::common::{CliOutput, PATIENCE};
use crate::fake_relay::{accept_with_route, Answer, FakeRelay, Received};
use crate::{sim, Rig};

/// Starts an agent against a relay set up by `relay`, runs `test-alert`.
fn test_alert(relay: impl FnOnce(&FakeRelay)) -> (Rig, CliOutput) {
    let rig = Rig::new(
        "",
        "30s",
        &sim("room", "pattern = \"constant\"\nvalue = 21.5"),
    );
    relay(&rig.relay);
    let mut agent = rig.start();
    agent.wait_line("the start line", PATIENCE, |l| {
        l.contains("edgetherm agent started")
    });
    let out = rig.s.cli(&["test-alert"]);
    drop(agent);
    (rig, out)
}

/// Asserts exit 1 with the common prefix and `what`.
fn assert_failed(out: &CliOutput, what: &str) {
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("the test alert did not get through: ") && out.stderr.contains(what),
        "expected {what:?} in: {out:?}"
    );
}

#[test]
fn queued_for_two_conversations() {
    let (rig, out) = test_alert(|r| r.set_default(|q: &Received| accept_with_route(q, 2, true)));
    assert_eq!(out.code, Some(0), "{out:?}");
    let want = format!(
        "delivered to the relay ({}), which queued it for 2 Teams conversation(s)",
        rig.relay.url()
    );
    assert!(out.stdout.contains(&want), "{out:?}");
    let sent = rig.relay.event_requests();
    assert_eq!(sent.len(), 1, "{}", rig.relay.summary());
    let ev = &sent[0].events()[0];
    assert_eq!(ev["kind"], "test");
    assert_eq!(ev["severity"], "info");
    let id = ev["id"].as_str().unwrap();
    assert!(
        out.stdout.contains(id),
        "the printed id is the one sent: {out:?}"
    );
}

#[test]
fn relay_down() {
    let (rig, out) = test_alert(|r| r.down());
    let want = format!(
        "did not reach the relay: cannot reach the relay at {}",
        rig.relay.events_url()
    );
    assert_failed(&out, &want);
    assert!(out.stderr.contains("stays in the outbox"), "{out:?}");
}

#[test]
fn token_refused() {
    let (_rig, out) = test_alert(|r| {
        r.set_default(|_: &Received| {
            Answer::status(401, Some(r#"{"error":"unknown gateway token"}"#))
        })
    });
    assert_failed(&out, "refused the gateway token (401");
    assert!(out.stderr.contains("token_file"), "{out:?}");
}

#[test]
fn no_conversation_subscribes() {
    let (rig, out) = test_alert(|r| r.set_default(|q: &Received| accept_with_route(q, 0, true)));
    assert_failed(&out, "no Teams conversation subscribes");
    assert!(out.stderr.contains(&rig.relay.url()), "{out:?}");
}

#[test]
fn relay_without_teams_credentials() {
    let (_rig, out) = test_alert(|r| r.set_default(|q: &Received| accept_with_route(q, 2, false)));
    assert_failed(&out, "no Teams credentials");
}
