//! A busy or restarting relay: a 429 with `Retry-After: 2` holds the next
//! attempt back at least 2 s, and repeated 503s are retried with backoff
//! (never in a tight loop) until the same batch is delivered.

use std::time::Duration;

use crate::common::PATIENCE;
use crate::fake_relay::Answer;
use crate::{hot_rule, points, sim, Rig, LONG};

fn one_crossing() -> String {
    sim("probe", &points(&[(0.0, 20.0), (1.0, 35.0)])) + &hot_rule("probe-hot", "probe")
}

#[test]
fn retry_after_holds_the_next_attempt_back() {
    let rig = Rig::new("", "30s", &one_crossing());
    rig.relay.push_for_events(
        Answer::status(429, Some(r#"{"error":"slow down"}"#)).header("Retry-After", "2"),
    );
    let mut agent = rig.start();
    let firing = agent.wait_events(1, PATIENCE).remove(0);
    rig.relay.wait("the firing accepted", PATIENCE, |reqs| {
        reqs.iter()
            .any(|r| r.accepted().iter().any(|i| i == firing.id()))
            .then_some(())
    });
    let reqs = rig.relay.requests();
    let first = reqs
        .iter()
        .position(|r| r.has_events())
        .expect("an event batch");
    assert_eq!(reqs[first].status, 429, "{}", rig.relay.summary());
    assert_eq!(reqs[first].event_ids(), [firing.id()]);
    // Nothing at all (not even a heartbeat) before Retry-After has passed.
    let next = &reqs[first + 1];
    let gap = next.at.duration_since(reqs[first].at);
    assert!(
        gap >= Duration::from_millis(1990),
        "retried after {gap:?}, before Retry-After: 2:\n{}",
        rig.relay.summary()
    );
    assert_eq!(next.event_ids(), [firing.id()], "the same event again");
    assert_eq!(next.status, 200);
    agent.wait_line("the 429 in the log", PATIENCE, |l| {
        l.contains(" WARN ") && l.contains("the relay answered 429: slow down")
    });
    rig.s.wait_status("an empty outbox", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok"
    });
}

#[test]
fn repeated_503s_are_retried_until_delivered() {
    let rig = Rig::new("", "30s", &one_crossing());
    for _ in 0..3 {
        rig.relay
            .push_for_events(Answer::status(503, Some(r#"{"error":"restarting"}"#)));
    }
    let mut agent = rig.start();
    let firing = agent.wait_events(1, PATIENCE).remove(0);
    rig.relay.wait("the firing accepted", LONG, |reqs| {
        reqs.iter()
            .any(|r| r.accepted().iter().any(|i| i == firing.id()))
            .then_some(())
    });
    let batches = rig.relay.event_requests();
    let statuses: Vec<u16> = batches.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 503, 200], "{}", rig.relay.summary());
    for b in &batches {
        assert_eq!(b.event_ids(), [firing.id()], "always the same batch");
    }
    // Backoff starts at 1 s (±25%) and doubles.
    for w in batches.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(700),
            "retried after only {gap:?}:\n{}",
            rig.relay.summary()
        );
    }
    let st = rig.s.wait_status("an empty outbox, uplink ok", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok" && s["relay"]["delivered"] == 1
    });
    assert_eq!(
        st["relay"]["failures"], 0,
        "reset after the success: {st:#}"
    );
    assert_eq!(st["relay"]["delivered"], 1, "{st:#}");
    assert!(
        agent
            .lines()
            .iter()
            .any(|l| l.contains("the relay answered 503: restarting")),
        "{}",
        agent.log()
    );
}
