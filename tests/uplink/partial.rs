//! What the relay's `accepted` list means: an event id it leaves out stays
//! in the outbox and is sent again (alone: the accepted ones are not
//! re-sent) until a 2xx lists it — without hammering the relay meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use crate::common::PATIENCE;
use crate::fake_relay::{Answer, Received};
use crate::{points, sim, Rig, LONG};

/// Three rules on one sensor: one reading fires all three, committed
/// together, so the first event batch carries three events.
fn three_rules() -> String {
    let mut body = sim("probe", &points(&[(0.0, 20.0), (1.0, 35.0)]));
    for (id, above) in [("warm", 25.0), ("hot", 28.0), ("very-hot", 30.0)] {
        body += &format!(
            "[[rule]]\nid = \"{id}\"\nsensors = \"probe\"\nabove = {above:.1}\nfor = \"0s\"\n\n"
        );
    }
    body
}

#[test]
fn an_id_left_out_of_accepted_is_sent_again_alone() {
    const OMIT_TIMES: usize = 2;
    let rig = Rig::new("", "30s", &three_rules());
    // Leave the middle event of the first multi-event batch out of the
    // first OMIT_TIMES answers that carry it.
    let omitted: Mutex<(Option<String>, usize)> = Mutex::new((None, 0));
    rig.relay.set_default(move |r: &Received| {
        let ids = r.event_ids();
        let mut guard = omitted.lock().unwrap();
        let (target, times) = &mut *guard;
        if target.is_none() && ids.len() >= 2 {
            *target = Some(ids[1].clone());
        }
        let skip = match target {
            Some(id) if ids.contains(id) && *times < OMIT_TIMES => {
                *times += 1;
                Some(id.clone())
            }
            _ => None,
        };
        let accepted: Vec<&String> = ids.iter().filter(|i| Some(*i) != skip.as_ref()).collect();
        Answer::json(json!({ "accepted": accepted }))
    });
    let mut agent = rig.start();
    let logged = agent.wait_events(3, PATIENCE);
    let logged_ids: Vec<String> = logged.iter().map(|e| e.id().to_string()).collect();
    rig.relay.wait("all three accepted", LONG, |reqs| {
        let got: Vec<String> = reqs.iter().flat_map(|r| r.accepted()).collect();
        logged_ids.iter().all(|i| got.contains(i)).then_some(())
    });

    let batches = rig.relay.event_requests();
    let summary = rig.relay.summary();
    assert_eq!(
        batches[0].event_ids(),
        logged_ids,
        "one batch with all three:\n{summary}"
    );
    let missing = &logged_ids[1];
    assert_eq!(batches.len(), 1 + OMIT_TIMES, "{summary}");
    for b in &batches[1..] {
        assert_eq!(
            b.event_ids(),
            [missing.as_str()],
            "only the omitted id again:\n{summary}"
        );
        // Still in the outbox while the relay has not taken it.
        assert_eq!(
            b.json.as_ref().unwrap()["heartbeat"]["outbox"],
            1,
            "{summary}"
        );
    }
    let mut count: HashMap<&String, usize> = HashMap::new();
    for id in rig.relay.received_ids().iter() {
        *count
            .entry(logged_ids.iter().find(|l| *l == id).unwrap())
            .or_default() += 1;
    }
    assert_eq!(count[&logged_ids[0]], 1, "{summary}");
    assert_eq!(count[&logged_ids[2]], 1, "{summary}");
    assert_eq!(count[missing], 1 + OMIT_TIMES, "{summary}");
    // Not a tight loop: re-sending waits a little, as after a failure.
    for w in batches.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(500),
            "re-sent after {gap:?}:\n{summary}"
        );
    }
    agent.wait_line("the partial acceptance warning", PATIENCE, |l| {
        l.contains(" WARN ") && l.contains("did not list every event sent")
    });
    // The outbox is emptied just before the counters move: wait for both.
    rig.s.wait_status("an empty outbox, 3 delivered", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok" && s["relay"]["delivered"] == 3
    });
}
