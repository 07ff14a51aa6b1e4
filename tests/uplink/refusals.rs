//! A relay that refuses the gateway token (401): the uplink turns `refused`
//! with an error naming `token_file`, logs it at ERROR, keeps the events and
//! does not hammer the relay; once the token file is fixed, `edgetherm
//! test-alert` cuts the 300 s wait short and everything is delivered.

use std::time::Duration;

use crate::common::PATIENCE;
use crate::fake_relay::{Answer, Received};
use crate::{hot_rule, points, sim, Rig, TOKEN};

#[test]
fn a_refused_token_parks_events_until_fixed_and_test_alert_retries() {
    let rig = Rig::new(
        "",
        "30s",
        &(sim("probe", &points(&[(0.0, 20.0), (1.0, 35.0)])) + &hot_rule("probe-hot", "probe")),
    );
    std::fs::write(&rig.token_file, "etg_wrong\n").unwrap();
    rig.relay.set_default(|r: &Received| {
        if r.header("authorization") == Some(&*format!("Bearer {TOKEN}")) {
            Answer::ok()
        } else {
            Answer::status(401, Some(r#"{"error":"unknown gateway token"}"#))
        }
    });
    let mut agent = rig.start();
    let firing = agent.wait_events(1, PATIENCE).remove(0);
    let st = rig
        .s
        .wait_status("the uplink refused, the event kept", |s| {
            s["relay"]["state"] == "refused" && s["outbox"] == 1
        });
    let err = st["relay"]["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("401") && err.contains("unknown gateway token") && err.contains("token_file"),
        "{err}"
    );
    agent.wait_line("an ERROR line about the token", PATIENCE, |l| {
        l.contains(" ERROR ")
            && l.contains("cannot deliver alert events")
            && l.contains("token_file")
    });

    // Refused means wait for a person (300 s), not retry at once.
    let before = rig.relay.requests().len();
    assert!((1..=2).contains(&before), "{}", rig.relay.summary());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rig.relay.requests().len(),
        before,
        "a refused uplink must not keep retrying:\n{}",
        rig.relay.summary()
    );
    assert!(rig.relay.accepted_ids().is_empty());

    // The fix: the right token. test-alert retries at once.
    std::fs::write(&rig.token_file, format!("{TOKEN}\n")).unwrap();
    let out = rig.s.cli(&["test-alert"]);
    assert_eq!(
        out.code,
        Some(0),
        "{out:?}\nrelay:\n{}",
        rig.relay.summary()
    );
    assert!(out.stdout.contains("delivered to the relay"), "{out:?}");
    let accepted = rig.relay.accepted_ids();
    assert!(
        accepted.iter().any(|i| i == firing.id()),
        "the parked firing went with the test alert:\n{}",
        rig.relay.summary()
    );
    let test = agent
        .wait_events(2, PATIENCE)
        .into_iter()
        .find(|e| e.kind() == "test")
        .expect("a test event");
    assert!(accepted.iter().any(|i| i == test.id()));
    let st = rig.s.wait_status("an empty outbox, uplink ok", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok" && s["relay"]["delivered"] == 2
    });
    assert_eq!(st["relay"]["delivered"], 2, "{st:#}");
}
