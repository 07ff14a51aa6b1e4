//! The agent SIGKILLed at random moments (30 times, each restart on the
//! same data_dir) while its sensors keep crossing thresholds and its uplink
//! feeds a real relay: in the fake Teams, every alert the agent ever logged
//! has exactly one card, every logged resolve updated that card in place,
//! nothing is posted twice and nothing appears that the agent never logged.
//!
//! This leans on the agent's durability (alert state and events committed
//! before they are logged or sent; the outbox emptied only by the relay's
//! 2xx; rule state surviving restarts, so a firing alert is neither fired
//! again nor forgotten) and on the relay's idempotency on event ids (a batch
//! cut off by a kill is sent again).
//!
//! Reproduce a kill schedule with `E2E_AGENT_SIGKILL_SEED=<seed printed>`.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agent_proc::{episodes, logs, poll, verdict, AgentProc};
use common::chaos::{Rng, StopOnDrop};
use common::fake_teams::FakeTeams;
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-agentkill-dana";
const GATEWAY: &str = "gw-agentkill";
const DEVICE: &str = "28-00000000a001";
const KILLS: usize = 30;

/// `pulse` is simulated and runs on time since *its incarnation* started:
/// 20 °C, 35 °C from 0.5 s, 20 °C from 1.2 s; so every restart reads 20 °C
/// first (resolving what the last one left firing) and an incarnation that
/// lives past 0.5 s fires it again. `rack` (w1) is toggled by the test
/// independently of the kills and needs 400 ms over 30 °C to fire, so kills
/// also land while it is pending.
const BODY: &str = r#"
[[sensor]]
id = "pulse"
kind = "sim"
interval = "100ms"
pattern = "points"
points = [{ at = "0s", value = 20.0 }, { at = "500ms", value = 35.0 }, { at = "1200ms", value = 20.0 }]

[[rule]]
id = "pulse-hot"
sensors = "pulse"
above = 30.0
hysteresis = 1.0
flap_changes = 1000

[[rule]]
id = "rack-hot"
sensors = "rack"
above = 30.0
hysteresis = 1.0
for = "400ms"
severity = "critical"
flap_changes = 1000
"#;

#[test]
fn agent_killed_at_random_loses_and_duplicates_nothing() {
    let t0 = Instant::now();
    let mut rng = Rng::from_env("E2E_AGENT_SIGKILL_SEED");
    let seed = rng.0;

    let fake = FakeTeams::start();
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    let agent = AgentProc::new(GATEWAY, &relay.url(), &token, "2s")
        .with_w1("rack", DEVICE, 22.0)
        .with(BODY);
    let agent = Arc::new(std::sync::Mutex::new(agent));

    // The w1 sensor crosses 30 °C and back every 0.7–3 s, on its own
    // schedule, so its alerts fire, stay pending or resolve across kills.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    let toggler = {
        let (agent, stop) = (agent.clone(), stop.clone());
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || {
            let mut hot = false;
            while !stop.load(Ordering::Relaxed) {
                hot = !hot;
                let v = if hot { 32.0 } else { 25.0 };
                agent.lock().unwrap().set_w1(DEVICE, v);
                std::thread::sleep(rng.millis(700, 3000));
            }
            agent.lock().unwrap().set_w1(DEVICE, 25.0);
        })
    };

    // The kills: 0.1–2.5 s after each spawn, so some land during start-up,
    // some while an event is being committed, logged or posted.
    let mut lived = Vec::new();
    for _ in 0..KILLS {
        agent.lock().unwrap().spawn();
        let life = rng.millis(100, 2500);
        std::thread::sleep(life);
        agent.lock().unwrap().kill();
        lived.push(life.as_millis());
    }
    stop.store(true, Ordering::Relaxed);
    toggler.join().unwrap();

    // The last incarnation lives: it delivers what waited in the outbox,
    // fires `pulse` once more and resolves everything (w1 is at 25 °C).
    let mut agent = Arc::try_unwrap(agent).ok().unwrap().into_inner().unwrap();
    agent.start();
    let settled = Duration::from_secs(90);
    let drained = poll(settled, || {
        let s = agent.status()?;
        let eps = episodes(&agent.events()).0;
        let quiet = s["uptime_s"].as_u64() >= Some(2) && eps.iter().all(|e| e.resolved.is_some());
        (quiet && s["outbox"] == 0 && s["relay"]["state"] == "ok").then_some(s)
    });
    // A restart that forgot a firing alert leaves it open for ever.
    let open: Vec<_> = episodes(&agent.events())
        .0
        .into_iter()
        .filter(|e| e.resolved.is_none())
        .collect();
    assert!(
        drained.is_some(),
        "the agent did not settle in {settled:?}; open: {open:#?}\n{}",
        logs(&agent, &relay)
    );

    let events = agent.events();
    let (eps, orphans) = episodes(&events);
    let resolves = eps.iter().filter(|e| e.resolved.is_some()).count();
    let distinct: HashSet<&str> = events.iter().map(|e| e.id()).collect();
    let relogged = events.len() - distinct.len();
    fake.settle(settled, |calls| calls.len() > eps.len() + resolves);
    let calls = fake.calls();
    let (problems, duplicates) = verdict(&calls, CONV, &eps, &[], true);
    let summary = format!(
        "seed {seed}: {KILLS} kills after {lived:?} ms; {} alerts, {resolves} resolves logged \
         ({relogged} events logged again after a kill); {} calls to Teams",
        eps.len(),
        calls.len()
    );
    eprintln!("{summary}");
    let damaged = agent.lines().into_iter().find(|l| l.contains("DAMAGED"));
    assert!(
        damaged.is_none(),
        "{damaged:?}\n{summary}\n{}",
        logs(&agent, &relay)
    );
    assert!(
        orphans.is_empty() && problems.is_empty() && duplicates.is_empty(),
        "{orphans:#?}\n{problems:#?}\n{duplicates:#?}\n{summary}\n{}",
        logs(&agent, &relay)
    );
    assert!(
        eps.len() >= 5,
        "too few crossings to prove anything: {summary}"
    );
    assert!(
        relay.died().is_empty() && agent.died().is_empty(),
        "{:?}",
        agent.died()
    );
    assert!(
        !relay.log_text().contains("panicked"),
        "{}",
        relay.log_text()
    );
    eprintln!("e2e_agent_sigkill: {:?}", t0.elapsed());
}
