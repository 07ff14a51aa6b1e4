//! The whole chain with real processes on 127.0.0.1: the `edgetherm` agent
//! reads a 1-Wire sensor (a fixture `w1_slave` this test rewrites) and a
//! simulated one, fires and resolves alerts, and the `edgetherm-relay`
//! turns them into Teams cards on a fake Bot Connector.
//!
//! Proves: a crossing of `above` is exactly one card in the installed
//! conversation, naming its sensor and rule; a value inside the hysteresis
//! band changes nothing; back at or below `above − hysteresis` the same
//! activity is PUT with the resolved state; both draw the agent's trend of
//! the sensor as a chart with the threshold; `edgetherm test-alert` exits 0
//! once the relay has it and its card arrives; nothing else is sent.

mod common;

use std::time::{Duration, Instant};

use common::agent_proc::{episodes, logs, poll, verdict, AgentProc, EventLine};
use common::fake_teams::{Call, FakeTeams};
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-flow-dana";
const GATEWAY: &str = "gw-flow";
const DEVICE: &str = "28-00000000e2e1";

/// Sensors and rules beside the w1 sensor `rack1-inlet`: `room` is simulated
/// (20 °C, 35 °C from 2 s after start, 20 °C from 5 s), so its alert fires
/// and resolves on its own while the test drives the w1 one.
const BODY: &str = r#"
[[sensor]]
id = "room"
name = "Server room"
kind = "sim"
interval = "200ms"
pattern = "points"
points = [{ at = "0s", value = 20.0 }, { at = "2s", value = 35.0 }, { at = "5s", value = 20.0 }]

[[rule]]
id = "rack-hot"
sensors = ["rack1-inlet"]
above = 30.0
hysteresis = 2.0
severity = "critical"
flap_changes = 1000

[[rule]]
id = "room-hot"
sensors = "room"
above = 30.0
hysteresis = 1.0
flap_changes = 1000
"#;

/// The card's `Chart.Line`: the readings' y values and the threshold's, and
/// that it has a fallback for clients without charts.
fn chart(body: &serde_json::Value) -> (Vec<f64>, Vec<f64>) {
    fn find(v: &serde_json::Value) -> Option<&serde_json::Value> {
        match v {
            serde_json::Value::Object(m)
                if m.get("type").and_then(|t| t.as_str()) == Some("Chart.Line") =>
            {
                Some(v)
            }
            serde_json::Value::Object(m) => m.values().find_map(find),
            serde_json::Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    let c = find(body).unwrap_or_else(|| panic!("no Chart.Line in {body}"));
    assert_eq!(c["fallback"]["type"], "Container", "{c}");
    let ys = |i: usize| -> Vec<f64> {
        c["data"][i]["values"]
            .as_array()
            .unwrap_or_else(|| panic!("no series {i} in {c}"))
            .iter()
            .map(|p| p["y"].as_f64().unwrap())
            .collect()
    };
    (ys(0), ys(1))
}

/// POSTs of a card carrying `episode` (its Acknowledge button's data).
fn cards<'a>(calls: &'a [Call], episode: &str) -> Vec<&'a Call> {
    let mark = format!("\"alert\":\"{episode}\"");
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.body.to_string().contains(&mark))
        .collect()
}

#[test]
fn crossing_is_one_card_resolve_updates_it_and_test_alert_arrives() {
    let t0 = Instant::now();
    let fake = FakeTeams::start();
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    let mut agent = AgentProc::new(GATEWAY, &relay.url(), &token, "2s")
        .with_w1("rack1-inlet", DEVICE, 20.0)
        .with(BODY);
    agent.start();
    let within = Duration::from_secs(20);
    let is =
        |e: &EventLine, kind: &str, sensor: &str| e.kind() == kind && e.get("sensor") == sensor;

    // Over the threshold: one firing logged, then exactly one card for it.
    agent.set_w1(DEVICE, 31.5);
    let events = agent.wait_events("a firing of rack1-inlet", within, |ev| {
        ev.iter().any(|e| is(e, "firing", "rack1-inlet"))
    });
    let firing = events
        .into_iter()
        .find(|e| is(e, "firing", "rack1-inlet"))
        .unwrap();
    assert_eq!(firing.level, "WARN", "{firing:?}");
    let card = poll(within, || {
        cards(&fake.calls(), firing.id()).first().cloned().cloned()
    })
    .unwrap_or_else(|| panic!("no card for {firing:?}\n{}", logs(&agent, &relay)));
    assert_eq!(card.conversation.as_deref(), Some(CONV));
    let text = card.body.to_string();
    for want in ["rack1-inlet", "rack-hot", GATEWAY, "Lab 1", "31.5"] {
        assert!(
            text.contains(want),
            "the card does not show {want:?}: {text}"
        );
    }
    // The curve the agent sent: 20 °C, then the 31.5 that fired, last.
    let (readings, threshold) = chart(&card.body);
    assert!(readings.contains(&20.0), "{readings:?}");
    assert_eq!(readings.last(), Some(&31.5), "{readings:?}");
    assert!(threshold.iter().all(|t| *t == 30.0), "{threshold:?}");

    // 29 °C is below 30 but inside the 2 °C band: still firing, nothing
    // logged, nothing sent (five reads at 200 ms would have shown it).
    agent.set_w1(DEVICE, 29.0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !agent
            .events()
            .iter()
            .any(|e| is(e, "resolved", "rack1-inlet")),
        "resolved inside the hysteresis band\n{}",
        agent.log_text()
    );
    let activity = card.activity_id.clone().expect("the card's activity id");
    let puts = |calls: &[Call]| -> Vec<Call> {
        let to_card = |c: &&Call| c.method == "PUT" && c.activity_id.as_ref() == Some(&activity);
        calls.iter().filter(to_card).cloned().collect()
    };
    assert!(puts(&fake.calls()).is_empty(), "updated while still firing");

    // At 28 °C (= above − hysteresis) it resolves: the same activity is PUT.
    agent.set_w1(DEVICE, 28.0);
    agent.wait_events("the resolve of rack1-inlet", within, |ev| {
        ev.iter()
            .any(|e| is(e, "resolved", "rack1-inlet") && e.get("alert") == firing.id())
    });
    let update = poll(within, || puts(&fake.calls()).first().cloned())
        .unwrap_or_else(|| panic!("the card was not updated\n{}", logs(&agent, &relay)));
    let text = update.body.to_string();
    assert!(
        text.contains("Resolved") && text.contains("rack1-inlet"),
        "{text}"
    );
    assert_eq!(update.conversation.as_deref(), Some(CONV));
    // The whole episode: from before the crossing down to the resolve.
    let (readings, _) = chart(&update.body);
    for want in [20.0, 31.5, 29.0] {
        assert!(readings.contains(&want), "{want} not in {readings:?}");
    }
    assert_eq!(readings.last(), Some(&28.0), "{readings:?}");

    // The simulated sensor went through the same on its own by now.
    agent.wait_events("the room alert's resolve", within, |ev| {
        ev.iter().any(|e| is(e, "resolved", "room"))
    });

    // test-alert waits for the relay's answer. Until the relay reports
    // where it queued the test, the agent says it did not say.
    let (code, out, err) = agent.test_alert();
    assert_eq!(
        code,
        0,
        "test-alert failed: {out}{err}\n{}",
        logs(&agent, &relay)
    );
    eprintln!("test-alert: {}", out.trim());
    assert!(
        out.contains("queued it for 1 Teams conversation(s)")
            || out.contains("it did not say where it sends it"),
        "test-alert: {out}"
    );
    let test_id = out
        .split_whitespace()
        .nth(2)
        .filter(|id| out.starts_with("test alert ") && id.len() == 26)
        .unwrap_or_else(|| panic!("no event id in {out:?}"))
        .to_string();
    let test_card = poll(within, || {
        cards(&fake.calls(), &test_id).first().cloned().cloned()
    })
    .unwrap_or_else(|| panic!("no test card\n{}", logs(&agent, &relay)));
    assert!(
        test_card
            .body
            .to_string()
            .contains("Test alert from gw-flow"),
        "{:?}",
        test_card.body
    );

    // Everything settles: per alert one card and one update, in log order,
    // the welcome, and nothing else.
    let (eps, orphans) = episodes(&agent.events());
    assert!(orphans.is_empty(), "{orphans:?}");
    let kinds: Vec<(&str, &str, bool)> = eps
        .iter()
        .map(|e| {
            (
                e.opened.kind(),
                e.opened.get("sensor"),
                e.resolved.is_some(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}\n{}", agent.log_text());
    for want in [
        ("firing", "rack1-inlet", true),
        ("firing", "room", true),
        ("test", "", false),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
    fake.settle(within, |c| c.len() >= 6);
    let calls = fake.calls();
    let (problems, duplicates) = verdict(&calls, CONV, &eps, &[], true);
    assert!(
        problems.is_empty() && duplicates.is_empty(),
        "{problems:#?}\n{duplicates:#?}\n{calls:#?}\n{}",
        logs(&agent, &relay)
    );
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods.iter().filter(|m| **m == "POST").count(),
        4,
        "{methods:?}"
    );
    assert_eq!(
        methods.iter().filter(|m| **m == "PUT").count(),
        2,
        "{methods:?}"
    );

    let s = agent.wait_status("the outbox drained", within, |s| s["outbox"] == 0);
    assert_eq!(s["relay"]["state"], "ok", "{s:#}");
    assert!(s["relay"]["delivered"].as_u64() >= Some(5), "{s:#}");
    assert!(agent.died().is_empty() && relay.died().is_empty());
    eprintln!("e2e_alert_flow: {:?}", t0.elapsed());
}
