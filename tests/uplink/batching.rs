//! A relay with a small body limit: batches it answers with 413 are halved
//! until they fit, and every event still arrives exactly once, oldest first.

use crate::common::PATIENCE;
use crate::fake_relay::{Answer, Received};
use crate::{hot_rule, points, sim, unique, Rig, LONG};

/// The fake relay's limit, in events per batch.
const LIMIT: usize = 8;

#[test]
fn a_413_halves_the_batch_until_it_fits() {
    // 20 sensors firing at 1 s and resolving at 2 s: 40 events while the
    // relay is down, so they wait together in the outbox.
    let wave = points(&[(0.0, 20.0), (1.0, 35.0), (2.0, 20.0)]);
    let mut body = String::new();
    for i in 0..20 {
        body += &sim(&format!("s{i:02}"), &wave);
    }
    body += &hot_rule("hot", "s*");
    let rig = Rig::new("", "30s", &body);
    rig.relay.down();
    let mut agent = rig.start();
    let logged = agent.wait_events(40, PATIENCE);
    let logged_ids: Vec<String> = logged.iter().map(|e| e.id().to_string()).collect();
    rig.s
        .wait_status("40 events waiting", |s| s["outbox"] == 40);

    rig.relay.set_default(|r: &Received| {
        if r.events().len() > LIMIT {
            Answer::status(413, Some(r#"{"error":"request body too large"}"#))
        } else {
            Answer::ok()
        }
    });
    rig.relay.up();
    rig.relay.wait("all 40 events accepted", LONG, |reqs| {
        let n: usize = reqs.iter().map(|r| r.accepted().len()).sum();
        (n >= 40).then_some(())
    });
    let summary = rig.relay.summary();
    let accepted = rig.relay.accepted_ids();
    assert!(unique(&accepted), "each event accepted once:\n{summary}");
    assert_eq!(
        accepted, logged_ids,
        "all of them, oldest first:\n{summary}"
    );

    let reqs = rig.relay.event_requests();
    let first = &reqs[0];
    assert_eq!(first.status, 413, "{summary}");
    assert_eq!(
        first.events().len(),
        40,
        "the first try takes all: {summary}"
    );
    // Sizes halve after each 413 and double again after each full success,
    // so a batch refused after a success is at most twice the last accepted.
    let mut last_ok: Option<usize> = None;
    for r in &reqs {
        let n = r.events().len();
        match r.status {
            413 => {
                if let Some(ok) = last_ok {
                    assert!(
                        n <= 2 * ok,
                        "a probe of {n} after {ok} got through:\n{summary}"
                    );
                }
            }
            200 => {
                assert!(n <= LIMIT, "an accepted batch of {n}:\n{summary}");
                last_ok = Some(n).filter(|&n| n > 0).or(last_ok);
            }
            s => panic!("unexpected status {s}:\n{summary}"),
        }
    }
    let too_large = reqs.iter().filter(|r| r.status == 413).count();
    assert!(
        (2..=10).contains(&too_large),
        "halving from 40 to at most {LIMIT}, then probing upwards, takes a few steps, got {too_large}:\n{summary}"
    );
    agent.wait_line("the 413 warning", PATIENCE, |l| {
        l.contains(" WARN ") && l.contains("too large (413)")
    });
    let st = rig.s.wait_status("an empty outbox", |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok" && s["relay"]["delivered"] == 40
    });
    assert_eq!(st["relay"]["delivered"], 40, "{st:#}");
}
