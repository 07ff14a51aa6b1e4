//! The relay's liveness watch against a real agent that heartbeats every
//! second, with a 10 s allowance for it (`[gateways.per_gateway]`):
//!
//! - the agent SIGKILLed → one "gateway silent" card for it, no sooner than
//!   the allowance after its last heartbeat and within allowance + the 5 s
//!   check period (+ slack); the agent back → that same card PUT as
//!   resolved; nothing else sent;
//! - the restart-grace rule: the relay restarted while the agent is down
//!   (stopped with SIGTERM), the agent back within the allowance counted
//!   from the relay's start (though silent for longer than the allowance in
//!   all) → no card: a relay that was down saw no heartbeats either.

mod common;

use std::time::{Duration, Instant};

use common::agent_proc::{is_welcome, logs, poll, AgentProc};
use common::fake_teams::{Call, FakeTeams};
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-silent-dana";
const ALLOWANCE: Duration = Duration::from_secs(10);
/// The watch checks every 5 s; a card takes a moment more to reach Teams.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// A relay watching `gateway` with a 10 s allowance, a conversation
/// installed, and an agent (heartbeat 1 s, one simulated sensor) feeding it.
fn rig(gateway: &str) -> (FakeTeams, RelayProc, AgentProc) {
    let fake = FakeTeams::start();
    let mut relay = RelayProc::new()
        .with_teams(&fake)
        .with_config(&format!("[gateways.per_gateway]\n{gateway} = \"10s\"\n"));
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(gateway);
    let mut agent = AgentProc::new(gateway, &relay.url(), &token, "1s")
        .with("[[sensor]]\nid = \"probe\"\nkind = \"sim\"\ninterval = \"500ms\"\nvalue = 21.5\n");
    agent.start();
    agent.wait_status("heartbeats accepted", Duration::from_secs(20), |s| {
        s["relay"]["state"] == "ok" && s["relay"]["batches"].as_u64() >= Some(2)
    });
    (fake, relay, agent)
}

/// The "gateway silent" cards (POSTs) for `gateway`.
fn silent_cards(calls: &[Call], gateway: &str) -> Vec<Call> {
    let title = format!("Gateway {gateway} has not reported since");
    let is_card = |c: &&Call| c.method == "POST" && c.body.to_string().contains(&title);
    calls.iter().filter(is_card).cloned().collect()
}

#[test]
fn a_silent_gateway_gets_one_card_resolved_in_place_when_it_is_back() {
    let t0 = Instant::now();
    let gw = "gw-silent";
    let (fake, relay, mut agent) = rig(gw);

    agent.kill();
    let stopped = Instant::now();
    let deadline = ALLOWANCE + CHECK_EVERY + Duration::from_secs(10);
    let card = poll(deadline, || {
        silent_cards(&fake.calls(), gw).first().cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "no silent card within {deadline:?}\n{}",
            logs(&agent, &relay)
        )
    });
    let after = card.arrived.duration_since(stopped);
    eprintln!("silent card {after:?} after the agent stopped");
    // Its last heartbeat was at most ~1 s before the kill.
    assert!(
        after >= ALLOWANCE - Duration::from_millis(1500),
        "too early: {after:?}"
    );
    assert_eq!(card.conversation.as_deref(), Some(CONV));
    let text = card.body.to_string();
    assert!(
        text.contains("Gateway silent") && text.contains("Lab 1"),
        "{text}"
    );

    // Still silent through two more checks: no second card.
    std::thread::sleep(2 * CHECK_EVERY);
    assert_eq!(
        silent_cards(&fake.calls(), gw).len(),
        1,
        "{:#?}",
        fake.calls()
    );

    // Back: the same activity is updated to the resolved state.
    agent.start();
    let activity = card.activity_id.clone().expect("the card's activity id");
    let resolved = poll(CHECK_EVERY + Duration::from_secs(15), || {
        let calls = fake.calls();
        let put = |c: &&Call| c.method == "PUT" && c.activity_id.as_ref() == Some(&activity);
        calls.iter().find(put).cloned()
    })
    .unwrap_or_else(|| panic!("the silent card was not resolved\n{}", logs(&agent, &relay)));
    let text = resolved.body.to_string();
    assert!(
        text.contains(&format!("Resolved: gateway {gw} is reporting again")),
        "{text}"
    );

    // Welcome, card, update; nothing else.
    fake.settle(Duration::from_secs(10), |c| c.len() >= 3);
    let calls = fake.calls();
    let welcome = calls.iter().filter(|c| is_welcome(c)).count();
    assert_eq!((welcome, calls.len()), (1, 3), "{calls:#?}");
    assert!(relay.died().is_empty(), "{:?}", relay.died());
    eprintln!("e2e_silent_gateway (silent, back): {:?}", t0.elapsed());
}

#[test]
fn a_relay_restart_gives_a_down_agent_a_full_allowance() {
    let t0 = Instant::now();
    let gw = "gw-grace";
    let (fake, mut relay, mut agent) = rig(gw);

    // Agent down; 8 s later the relay restarts; the agent is back 7 s after
    // that. Silent 15 s in all (more than the 10 s allowance), but only
    // ~7 s (< 10 s, even counting the relay's own start-up) since the relay
    // started watching again: its check 5 s after start would fire without
    // the grace rule, as the first test shows the watch does.
    // A graceful stop this time (SIGTERM, as systemd stops it).
    let stopped = agent.stop();
    assert!(stopped.success(), "the agent's exit on SIGTERM: {stopped}");
    std::thread::sleep(Duration::from_secs(8));
    relay.restart();
    std::thread::sleep(Duration::from_secs(7));
    agent.start();
    agent.wait_status("heartbeats accepted again", Duration::from_secs(20), |s| {
        s["relay"]["state"] == "ok"
    });
    // Two more checks with the agent reporting.
    std::thread::sleep(2 * CHECK_EVERY + Duration::from_secs(1));
    let calls = fake.calls();
    assert!(
        silent_cards(&calls, gw).is_empty(),
        "a silent card although the agent was back within the allowance of the relay's start:\n\
         {calls:#?}\n{}",
        logs(&agent, &relay)
    );
    assert!(calls.iter().all(is_welcome), "{calls:#?}");
    assert!(relay.died().is_empty(), "{:?}", relay.died());
    eprintln!("e2e_silent_gateway (grace): {:?}", t0.elapsed());
}
