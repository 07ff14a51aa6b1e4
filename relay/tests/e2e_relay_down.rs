//! The relay SIGKILLed while alerts fire and resolve on a real agent: the
//! agent keeps every event in its outbox and says so (`status`: outbox > 0,
//! relay `retrying` with the error), and once the relay is back (same
//! data_dir and port) it delivers them all: every alert gets one card, the
//! resolved ones are updated in place after their post, nothing is sent
//! twice, and the cards go out in the order the agent logged the alerts.

mod common;

use std::time::{Duration, Instant};

use common::agent_proc::{episodes, logs, verdict, AgentProc, EventLine};
use common::fake_teams::FakeTeams;
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-down-dana";
const GATEWAY: &str = "gw-down";

/// Three 1-Wire racks under one rule; the test moves their values.
const RACKS: [(&str, &str); 3] = [
    ("rack1-inlet", "28-00000000d001"),
    ("rack2-inlet", "28-00000000d002"),
    ("rack3-inlet", "28-00000000d003"),
];

const RULE: &str = r#"
[[rule]]
id = "rack-hot"
sensors = "rack*-inlet"
above = 30.0
hysteresis = 1.0
severity = "critical"
flap_changes = 1000
"#;

#[test]
fn events_wait_in_the_outbox_and_arrive_in_order_once_the_relay_is_back() {
    let t0 = Instant::now();
    let fake = FakeTeams::start();
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    let mut agent = AgentProc::new(GATEWAY, &relay.url(), &token, "2s");
    for (id, device) in RACKS {
        agent = agent.with_w1(id, device, 22.0);
    }
    let mut agent = agent.with(RULE);
    agent.start();
    let within = Duration::from_secs(20);
    agent.wait_status("the uplink ok", within, |s| {
        s["relay"]["state"] == "ok" && s["relay"]["batches"].as_u64() >= Some(1)
    });

    relay.kill();
    let killed = Instant::now();

    // Crossings while the relay is down, each waited for in the log so the
    // order is known: 1 fires, 2 fires, 1 resolves, 3 fires, 2 resolves
    // (3 stays firing: its card must not be updated).
    let steps = [
        (0, 31.0, "firing"),
        (1, 32.0, "firing"),
        (0, 25.0, "resolved"),
        (2, 33.5, "firing"),
        (1, 29.0, "resolved"),
    ];
    for (n, (rack, value, kind)) in steps.into_iter().enumerate() {
        let (sensor, device) = RACKS[rack];
        agent.set_w1(device, value);
        let count = |ev: &[EventLine]| {
            let hits = ev
                .iter()
                .filter(|e| e.kind() == kind && e.get("sensor") == sensor);
            hits.count()
        };
        let before = count(&agent.events());
        agent.wait_events(&format!("step {n}: {kind} of {sensor}"), within, |ev| {
            count(ev) > before
        });
    }

    let s = agent.wait_status("the outbox held and the uplink retrying", within, |s| {
        s["outbox"].as_u64() >= Some(5) && s["relay"]["state"] == "retrying"
    });
    assert!(s["relay"]["failures"].as_u64() >= Some(1), "{s:#}");
    assert!(s["relay"]["last_error"].is_string(), "{s:#}");
    let during: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.arrived > killed)
        .collect();
    assert!(
        during.is_empty(),
        "Teams heard from a dead relay: {during:?}"
    );

    // Back on the same data_dir and port: the agent's backoff (≤ 60 s,
    // here a few seconds into the outage) finds it and drains the outbox.
    relay.start();
    let restarted = Instant::now();
    let s = agent.wait_status("the outbox drained", Duration::from_secs(90), |s| {
        s["outbox"] == 0 && s["relay"]["state"] == "ok"
    });
    assert!(s["relay"]["delivered"].as_u64() >= Some(5), "{s:#}");
    eprintln!("outbox drained {:?} after the restart", restarted.elapsed());

    // Welcome + 3 cards + 2 updates, then quiet.
    let (eps, orphans) = episodes(&agent.events());
    assert!(orphans.is_empty(), "{orphans:?}");
    let want: Vec<(&str, bool)> = vec![
        ("rack1-inlet", true),
        ("rack2-inlet", true),
        ("rack3-inlet", false),
    ];
    let got: Vec<(&str, bool)> = eps
        .iter()
        .map(|e| (e.opened.get("sensor"), e.resolved.is_some()))
        .collect();
    assert_eq!(got, want, "{}", agent.log_text());
    fake.settle(Duration::from_secs(30), |c| c.len() >= 6);
    let calls = fake.calls();
    let (problems, duplicates) = verdict(&calls, CONV, &eps, &[killed], true);
    assert!(
        problems.is_empty() && duplicates.is_empty(),
        "{problems:#?}\n{duplicates:#?}\n{calls:#?}\n{}",
        logs(&agent, &relay)
    );
    assert_eq!(calls.len(), 6, "{calls:#?}");
    assert!(relay.died().is_empty() && agent.died().is_empty());
    eprintln!("e2e_relay_down: {:?}", t0.elapsed());
}
