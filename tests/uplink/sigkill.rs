//! At-least-once from the agent's side: SIGKILL while the relay holds its
//! answer (the batch arrived, the 200 never reached the agent), restart, and
//! the same event ids are sent again; nothing logged is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::PATIENCE;
use crate::fake_relay::Answer;
use crate::{hot_rule, points, sim, Rig, LONG};

#[test]
fn sigkill_with_the_answer_in_flight_resends_the_same_ids() {
    let rig = Rig::new(
        "",
        "30s",
        &(sim("probe", &points(&[(0.0, 20.0), (1.0, 35.0)])) + &hot_rule("probe-hot", "probe")),
    );
    // Longer than the test needs, shorter than the agent's 30 s timeout.
    rig.relay
        .push_for_events(Answer::ok().delayed(Duration::from_secs(25)));

    let mut first = rig.start();
    let held = rig.relay.wait("the first event batch", PATIENCE, |reqs| {
        reqs.iter().find(|r| r.has_events()).cloned()
    });
    first.kill();
    let held_ids = held.event_ids();
    let logged1 = first.event_ids();
    let n_before = rig.relay.requests().len();

    // The restart: the alert is restored as firing, resolves on the first
    // reading (20 °C) and fires again at 1 s.
    let mut second = rig.start();
    let logged2 = second.wait_events(2, PATIENCE);
    let logged2: Vec<String> = logged2.iter().map(|e| e.id().to_string()).collect();
    let all_logged: BTreeSet<String> = logged1.iter().chain(&logged2).cloned().collect();
    rig.relay.wait(
        "every logged event accepted after the restart",
        LONG,
        |reqs| {
            let got: BTreeSet<String> =
                reqs[n_before..].iter().flat_map(|r| r.accepted()).collect();
            all_logged.is_subset(&got).then_some(())
        },
    );
    let summary = rig.relay.summary();
    assert!(
        held_ids.iter().all(|i| all_logged.contains(i)),
        "sent {held_ids:?}, logged {all_logged:?}"
    );
    let after: Vec<String> = rig.relay.requests()[n_before..]
        .iter()
        .flat_map(|r| r.event_ids())
        .collect();
    for id in &held_ids {
        assert!(
            after.contains(id),
            "{id} was sent before the kill and must be sent again:\n{summary}"
        );
    }
    let received: BTreeSet<String> = rig.relay.received_ids().into_iter().collect();
    assert_eq!(
        received, all_logged,
        "what arrived is what was logged:\n{summary}"
    );
    assert!(
        !second.log().contains("THE STORE WAS DAMAGED"),
        "{}",
        second.log()
    );
    rig.s.wait_status("an empty outbox", |s| s["outbox"] == 0);
}
