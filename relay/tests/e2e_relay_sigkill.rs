//! The relay SIGKILLed mid-send (a slow fake Bot Connector, so kills land
//! while a card is on its way) and restarted at once, again and again,
//! while a *real* agent feeds it a stream of crossings. Beyond
//! `restart_sigkill.rs` (a scripted gateway) this puts the agent's uplink
//! itself against a relay that dies mid-request, refuses connections while
//! restarting and comes back: nothing the agent logged is lost, every
//! resolve lands on its card, and a message reaches Teams twice only when a
//! relay kill fell between the two sends (at-least-once towards Teams, as
//! `sender.rs` documents), at most once per kill.
//!
//! Reproduce a kill schedule with `E2E_RELAY_SIGKILL_SEED=<seed printed>`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agent_proc::{episodes, logs, poll, verdict, AgentProc};
use common::chaos::{Rng, StopOnDrop};
use common::fake_teams::FakeTeams;
use common::relay_proc::RelayProc;

const CONV: &str = "a:1e2e-relaykill-dana";
const GATEWAY: &str = "gw-relaykill";
const KILLS: usize = 8;
/// How long the fake Bot Connector takes to answer.
const TEAMS_DELAY: Duration = Duration::from_millis(300);
const RACKS: [(&str, &str); 2] = [("rack1", "28-00000000b001"), ("rack2", "28-00000000b002")];

const RULE: &str = r#"
[[rule]]
id = "rack-hot"
sensors = "rack*"
above = 30.0
hysteresis = 1.0
severity = "critical"
flap_changes = 1000
"#;

#[test]
fn relay_killed_mid_send_loses_nothing_from_a_real_agent() {
    let t0 = Instant::now();
    let mut rng = Rng::from_env("E2E_RELAY_SIGKILL_SEED");
    let seed = rng.0;

    let fake = FakeTeams::start();
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    fake.set_answer_delay(TEAMS_DELAY);
    let mut agent = AgentProc::new(GATEWAY, &relay.url(), &token, "2s");
    for (id, device) in RACKS {
        agent = agent.with_w1(id, device, 22.0);
    }
    let mut agent = agent.with(RULE);
    agent.start();
    let agent = Arc::new(std::sync::Mutex::new(agent));

    // Each rack crosses 30 °C and back every 0.3–1 s while the kills run.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    let toggler = {
        let (agent, stop) = (agent.clone(), stop.clone());
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || {
            let mut hot = [false; 2];
            while !stop.load(Ordering::Relaxed) {
                let r = (rng.next() % 2) as usize;
                hot[r] = !hot[r];
                let v = if hot[r] { 33.0 } else { 24.0 };
                agent.lock().unwrap().set_w1(RACKS[r].1, v);
                std::thread::sleep(rng.millis(300, 1000));
            }
            for (_, device) in RACKS {
                agent.lock().unwrap().set_w1(device, 24.0);
            }
        })
    };

    // The kills, 0.5–2 s apart; most wait for a card in flight to Teams
    // and land inside its 300 ms. The relay is spawned again at once, not
    // waited for: the agent's retries meet it down, too.
    let mut kills = Vec::new();
    let mut mid_send = 0;
    for n in 0..KILLS {
        std::thread::sleep(rng.millis(500, 2000));
        if n % 4 != 3 {
            let busy = poll(Duration::from_secs(3), || {
                (fake.in_flight() > 0).then_some(())
            });
            std::thread::sleep(rng.millis(0, 250));
            mid_send += usize::from(busy.is_some() && fake.in_flight() > 0);
        }
        relay.kill();
        kills.push(Instant::now());
        relay.spawn();
    }
    stop.store(true, Ordering::Relaxed);
    toggler.join().unwrap();
    let agent = Arc::try_unwrap(agent).ok().unwrap().into_inner().unwrap();

    // Everything resolved on the agent and delivered to the last relay.
    relay.wait_healthy(Duration::from_secs(20));
    let settled = Duration::from_secs(90);
    let quiet = poll(settled, || {
        let s = agent.status()?;
        let eps = episodes(&agent.events()).0;
        let resolved = eps.iter().all(|e| e.resolved.is_some());
        (resolved && s["outbox"] == 0 && s["relay"]["state"] == "ok").then_some(())
    });
    assert!(
        quiet.is_some(),
        "the agent did not settle in {settled:?}\n{}",
        logs(&agent, &relay)
    );

    let (eps, orphans) = episodes(&agent.events());
    let everything = |calls: &[common::fake_teams::Call]| {
        let (problems, _) = verdict(calls, CONV, &eps, &kills, false);
        !problems.iter().any(|p| p.contains("LOST"))
    };
    fake.settle(settled, everything);
    let calls = fake.calls();
    let (problems, duplicates) = verdict(&calls, CONV, &eps, &kills, true);
    let summary = format!(
        "seed {seed}: {KILLS} relay kills ({mid_send} with a send to Teams in flight); \
         {} alerts logged by the agent; {} calls to Teams; {} duplicate(s)\n  {}",
        eps.len(),
        calls.len(),
        duplicates.len(),
        duplicates.join("\n  ")
    );
    eprintln!("{summary}");
    assert!(
        orphans.is_empty() && problems.is_empty(),
        "{orphans:#?}\n{problems:#?}\n{summary}\n{}",
        logs(&agent, &relay)
    );
    assert!(
        duplicates.len() <= KILLS,
        "more duplicates than kills\n{summary}"
    );
    assert!(
        eps.len() >= 4,
        "too few crossings to prove anything: {summary}"
    );
    let running = relay.still_running();
    assert!(
        running,
        "the last relay is not running\n{}",
        logs(&agent, &relay)
    );
    assert!(
        relay.died().is_empty(),
        "{:?}\n{}",
        relay.died(),
        logs(&agent, &relay)
    );
    assert!(
        !relay.log_text().contains("panicked"),
        "{}",
        logs(&agent, &relay)
    );
    eprintln!("e2e_relay_sigkill: {:?}", t0.elapsed());
}
