//! A relay that goes away (its port refuses connections) while alerts fire
//! and resolve: nothing is lost or removed early — `status` shows every
//! event in the outbox and the uplink `retrying` with the URL in its error —
//! and once the relay is back on the same port every event arrives exactly
//! once, oldest first, in the order the agent logged them.

use crate::common::PATIENCE;
use crate::{hot_rule, points, sim, unique, Rig, LONG};

#[test]
fn relay_down_loses_nothing_and_delivers_in_log_order() {
    // Three fire/resolve pairs from 2 s on: the relay is down by then.
    let wave = points(&[
        (0.0, 20.0),
        (2.0, 35.0),
        (2.5, 20.0),
        (3.0, 35.0),
        (3.5, 20.0),
        (4.0, 35.0),
        (4.5, 20.0),
    ]);
    let rig = Rig::new(
        "",
        "1s",
        &(sim("pulse", &wave) + &hot_rule("pulse-hot", "pulse")),
    );
    let mut agent = rig.start();
    rig.relay
        .wait("the first heartbeat", PATIENCE, |r| r.first().cloned());
    rig.relay.down();
    assert!(
        agent.events().is_empty(),
        "the relay must go down before the first event; log:\n{}",
        agent.log()
    );

    let logged = agent.wait_events(6, PATIENCE);
    let logged_ids: Vec<String> = logged.iter().map(|e| e.id().to_string()).collect();
    let kinds: Vec<&str> = logged.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        ["firing", "resolved", "firing", "resolved", "firing", "resolved"]
    );
    let url = rig.relay.events_url();
    let st = rig
        .s
        .wait_status("all six events waiting, uplink retrying", |s| {
            s["outbox"] == 6 && s["relay"]["state"] == "retrying"
        });
    let err = st["relay"]["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("cannot reach the relay at {url}")),
        "{err}"
    );
    assert!(st["relay"]["failures"].as_u64() >= Some(1), "{st:#}");
    assert!(
        rig.relay.event_requests().is_empty(),
        "nothing can have arrived:\n{}",
        rig.relay.summary()
    );
    assert!(
        agent
            .lines()
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("cannot deliver to the relay")),
        "the outage is logged:\n{}",
        agent.log()
    );

    rig.relay.up();
    rig.relay.wait("all six events", LONG, |reqs| {
        let got: Vec<String> = reqs.iter().flat_map(|r| r.accepted()).collect();
        logged_ids.iter().all(|i| got.contains(i)).then_some(())
    });
    let received = rig.relay.received_ids();
    assert!(unique(&received), "{}", rig.relay.summary());
    assert_eq!(received, logged_ids, "oldest first, in log order");
    // Each batch lists its events oldest first too.
    for r in rig.relay.event_requests() {
        let at: Vec<String> = r
            .events()
            .iter()
            .map(|e| e["at"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
    }

    let st = rig.s.wait_status("an empty outbox, uplink ok", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok" && s["relay"]["delivered"] == 6
    });
    assert_eq!(st["relay"]["delivered"], 6, "{st:#}");
    assert_eq!(st["relay"]["failures"], 0, "{st:#}");
    agent.wait_line("the recovery line", PATIENCE, |l| {
        l.contains("the relay is reachable again")
    });
}
