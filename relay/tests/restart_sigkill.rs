//! The relay binary SIGKILLed again and again while it sends to a slow fake
//! Bot Connector, restarted each time on the same data_dir and port, while a
//! fake agent retries every batch until it gets a 200: nothing is lost, and
//! a card is posted twice only when a kill interrupted its first post
//! (at-least-once towards Teams, as `sender.rs` documents).
//!
//! Reproduce a run with `RESTART_TEST_SEED=<seed printed by the test>`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::chaos::{Rng, StopOnDrop};
use common::events::{batches, deliver, Batch, Posted};
use common::fake_teams::FakeTeams;
use common::http::http;
use common::relay_proc::RelayProc;
use common::teams_verdict::{answered_cards, everything, verdict};
use edgetherm_proto::EventKind;

/// The one personal conversation (a user installed the app).
const CONV: &str = "a:1restart-dana";
const GATEWAY: &str = "gw1";
/// Alerts: each fires once and resolves once.
const N: usize = 20;
const PER_BATCH: usize = 5;
/// SIGKILLs: the first half while cards are posted, the rest while they resolve.
const KILLS: usize = 8;
/// How long the fake Bot Connector takes to answer, so kills land mid-send.
const TEAMS_DELAY: Duration = Duration::from_millis(300);

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
}

#[test]
fn relay_killed_mid_send_loses_nothing() {
    let mut rng = Rng::from_env("RESTART_TEST_SEED");
    let seed = rng.0;
    // Shared with the agent thread, which watches for answered cards; the
    // relay is declared after it so that it is dropped (killed) first.
    let fake = Arc::new(FakeTeams::start());
    fake.set_answer_delay(TEAMS_DELAY);
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);
    let port = relay.port();

    // The agent: firing batches a moment apart, each retried until 200 (and
    // the previous one sent once more after its 200); "later", once every
    // alert has its card, the resolved batches the same way.
    let firing = batches(GATEWAY, EventKind::Firing, N, PER_BATCH);
    let resolved = batches(GATEWAY, EventKind::Resolved, N, PER_BATCH);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(stop.clone());
    let posting = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let agent = {
        let (firing, resolved, token) = (firing.clone(), resolved.clone(), token.clone());
        let (stop, posting, phase) = (stop.clone(), posting.clone(), phase.clone());
        let fake = fake.clone();
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || -> Result<(Posted, usize), String> {
            let (mut posted, mut batches) = (Posted::default(), 0);
            let mut send_all = |all: &[Batch], rng: &mut Rng| {
                for i in 0..all.len() {
                    posted += deliver(port, &token, &all[i], &stop, &posting)?;
                    batches += 1;
                    if i > 0 {
                        posted += deliver(port, &token, &all[i - 1], &stop, &posting)?;
                        batches += 1;
                    }
                    std::thread::sleep(rng.millis(300, 1000));
                }
                Ok::<_, String>(())
            };
            send_all(&firing, &mut rng)?;
            phase.store(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let calls = fake.calls();
                if answered_cards(&calls, N) == N {
                    break;
                }
                if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                    return Err(format!(
                        "only {} of {N} alerts got a card within 90 s",
                        answered_cards(&calls, N)
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            phase.store(2, Ordering::SeqCst);
            send_all(&resolved, &mut rng)?;
            phase.store(3, Ordering::SeqCst);
            Ok((posted, batches))
        })
    };

    // The kills, 0.2-1.5 s apart: the first half while the firing batches
    // come in and cards go out, the rest once the resolved batches start.
    // Odd kills wait for a request to Teams in flight and land inside its
    // 300 ms; even ones for a batch sent by the agent and not yet answered
    // (both waits bounded). The relay is started again at once, not waited
    // for: the agent's retries meet it down too.
    let mut kills: Vec<Instant> = Vec::new();
    for n in 0..KILLS {
        if n == KILLS / 2 {
            let deadline = Instant::now() + Duration::from_secs(90);
            while phase.load(Ordering::SeqCst) < 2
                && Instant::now() < deadline
                && !agent.is_finished()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(rng.millis(200, 1500));
        let deadline = Instant::now() + Duration::from_millis(3000);
        if n % 2 == 1 {
            while fake.in_flight() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(rng.millis(0, 250));
        } else {
            while !posting.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        relay.kill();
        kills.push(Instant::now());
        relay.spawn();
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    while !agent.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the agent did not finish within 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (posted, batches_sent) = agent
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("agent: {e}\n{}", relay.log_text()));

    // Every batch once more, to the last incarnation: all acknowledged at
    // once, nothing new sent.
    relay.wait_healthy(Duration::from_secs(20));
    let never = AtomicBool::new(false);
    for b in firing.iter().chain(&resolved) {
        let once = Posted {
            attempts: 1,
            interrupted: 0,
        };
        assert_eq!(deliver(port, &token, b, &stop, &never), Ok(once));
    }

    fake.settle(Duration::from_secs(60), |c| everything(c, N));

    let logs = relay.log_text();
    let (status, metrics) =
        http(port, "GET", "/metrics", "", "").expect("GET /metrics after the last restart");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        counter(&metrics, "edgetherm_relay_events_duplicate_total") >= (2 * N) as u64,
        "every re-posted event is recognised as seen:\n{metrics}"
    );
    assert!(
        relay.still_running(),
        "the last incarnation is still running\n{logs}"
    );
    assert!(relay.died().is_empty(), "{:?}\n{logs}", relay.died());
    assert!(!logs.contains("panicked"), "the relay panicked:\n{logs}");

    let calls = fake.calls();
    let (problems, duplicates) = verdict(&calls, CONV, N, &kills);
    let summary = format!(
        "seed {seed}: {} calls to Teams; {batches_sent} batches posted in {} attempts \
         ({} killed mid-request, {} while the relay was down); {} duplicate(s)\n  {}",
        calls.len(),
        posted.attempts,
        posted.interrupted,
        posted.attempts - batches_sent - posted.interrupted,
        duplicates.len() - 1,
        duplicates.join("\n  ")
    );
    eprintln!("{summary}");
    assert!(
        problems.is_empty(),
        "{}\n{summary}\n{logs}",
        problems.join("\n")
    );
    assert!(
        duplicates.len() - 1 <= kills.len(),
        "more duplicates than kills\n{summary}\n{logs}"
    );
}
