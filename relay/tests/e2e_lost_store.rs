//! A gateway that loses its store forgets its open alerts, so their
//! resolves never come. With real processes on 127.0.0.1: the agent fires
//! an alert (one card), is stopped, its store deleted, and restarted while
//! the sensor is still hot. Its heartbeats no longer list the old episode,
//! so the relay closes the old card in place with the reason; the new
//! episode gets a card of its own.

mod common;

use std::time::Duration;

use common::agent_proc::{logs, poll, AgentProc, EventLine};
use common::fake_teams::{Call, FakeTeams};
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-lost-store";
const GATEWAY: &str = "gw-lost-store";
const DEVICE: &str = "28-00000000e2e9";

const RULE: &str = r#"
[[rule]]
id = "freezer-high"
sensors = ["freezer2"]
above = -15.0
hysteresis = 1.0
severity = "critical"
"#;

fn posts<'a>(calls: &'a [Call], episode: &str) -> Vec<&'a Call> {
    let mark = format!("\"alert\":\"{episode}\"");
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.body.to_string().contains(&mark))
        .collect()
}

fn firing(agent: &AgentProc, within: Duration, not: Option<&str>) -> EventLine {
    let found = agent.wait_events("a firing of freezer2", within, |ev| {
        ev.iter()
            .any(|e| e.kind() == "firing" && Some(e.id()) != not)
    });
    found
        .into_iter()
        .find(|e| e.kind() == "firing" && Some(e.id()) != not)
        .unwrap()
}

#[test]
fn a_card_whose_gateway_lost_its_store_is_closed_and_a_new_one_opens() {
    let fake = FakeTeams::start();
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    let mut agent = AgentProc::new(GATEWAY, &relay.url(), &token, "1s")
        .with_w1("freezer2", DEVICE, -12.0)
        .with(RULE);
    agent.start();
    let within = Duration::from_secs(20);

    let old = firing(&agent, within, None);
    let card = poll(within, || {
        posts(&fake.calls(), old.id()).first().cloned().cloned()
    })
    .unwrap_or_else(|| panic!("no card for {old:?}\n{}", logs(&agent, &relay)));
    let activity = card.activity_id.clone().expect("the card's activity id");
    // Heartbeats listing the episode keep the card open.
    std::thread::sleep(Duration::from_secs(3));
    let updates = |calls: &[Call]| -> Vec<Call> {
        calls
            .iter()
            .filter(|c| c.method == "PUT" && c.activity_id.as_ref() == Some(&activity))
            .cloned()
            .collect()
    };
    assert!(
        updates(&fake.calls()).is_empty(),
        "closed while the gateway still lists it\n{}",
        logs(&agent, &relay)
    );

    // The store is lost; the freezer is still warm.
    agent.stop();
    std::fs::remove_dir_all(agent.data_dir()).unwrap();
    agent.start();
    let new = firing(&agent, within, Some(old.id()));
    assert_ne!(new.episode(), old.episode());

    // The old card is updated in place, saying why.
    let closed = poll(within, || updates(&fake.calls()).first().cloned())
        .unwrap_or_else(|| panic!("the old card was never closed\n{}", logs(&agent, &relay)));
    let text = closed.body.to_string();
    assert!(text.contains("Closed"), "{text}");
    assert!(
        text.contains("no longer reports this alert as open"),
        "{text}"
    );
    assert!(
        !text.contains("no longer above"),
        "not claimed resolved: {text}"
    );
    assert_eq!(closed.conversation.as_deref(), Some(CONV));

    // The condition still holds: the new episode has its own card.
    poll(within, || {
        posts(&fake.calls(), new.id()).first().cloned().cloned()
    })
    .unwrap_or_else(|| panic!("no card for {new:?}\n{}", logs(&agent, &relay)));
    assert_eq!(updates(&fake.calls()).len(), 1, "closed once");
    agent.stop();
}
