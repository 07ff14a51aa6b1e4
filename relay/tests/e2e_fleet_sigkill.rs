//! Two relays on one PostgreSQL database behind a "load balancer": a
//! scripted gateway posts each batch to either relay and, when that one is
//! down or dies mid-request, to the other until one answers 200. One relay
//! at a time is SIGKILLed at random moments (mostly the one holding the
//! conversations, mostly while a message is on its way to a slow fake
//! Teams) and started again after a short pause; never both are down.
//!
//! Judged from what Teams received in three conversations: every alert's
//! card and its update in place; a message twice only when a kill landed
//! while it was in flight, at most one per kill; Teams' per-conversation
//! limits held across the relays; a conversation handed from one relay to
//! another only after the first one's lease could have lapsed; and the
//! takeover time, printed for BENCHMARKS.md.
//!
//! Reproduce with `E2E_FLEET_SIGKILL_SEED=<seed printed>`. The default of
//! 100 alerts keeps the test near two minutes: Teams allows 60 messages per
//! 30 s in a conversation, so each alert's card and update cost a second
//! there. `E2E_FLEET_SIGKILL_ALERTS=500` runs 500 (about ten minutes).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::chaos::{Rng, StopOnDrop};
use common::events::{batch, event, Batch};
use common::fake_teams::FakeTeams;
use common::fleet::{
    arrivals, everything, handovers, instance, judge, lags, limits, ms, post_anywhere, secs,
    spread, sql_text, takeover, Fed, WallClock, Wire,
};
use common::postgres::Postgres;
use common::relay_proc::RelayProc;
use edgetherm_proto::EventKind;

const CONVS: [&str; 3] = ["a:1fleet-dana", "a:1fleet-eli", "a:1fleet-fay"];
const GATEWAY: &str = "gw-fleet";
const ALERTS: usize = 100;
const PER_BATCH: usize = 5;
/// Resolved batch j goes out after firing batch j + LAG: resolves arrive
/// while other cards are still queued.
const LAG: usize = 2;
const KILLS: usize = 8;
/// Slow enough that most kills land mid-send; fast enough that one relay
/// keeps up with three conversations at Teams' pace.
const TEAMS_DELAY: Duration = Duration::from_millis(120);
/// `[store] lease_timeout` below.
const LEASE: Duration = Duration::from_secs(3);
/// On top of the lease: the new holder's next pass (at most 1 s apart) and
/// a loaded CI machine.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(5);
/// Teams counts a message when it arrives; the relay stamps it just
/// before the request and keeps a margin on every window
/// (ratelimit.rs, MARGIN), so Teams' own clock must see the limits kept
/// too. Before that margin this test saw windows short by up to 184 ms.
const CLOCK_SLACK: Duration = Duration::ZERO;
/// After Teams' answer, the relay still has to read it and remove the job:
/// a kill that soon after is still "while in flight".
const GRACE: Duration = Duration::from_secs(1);

fn config(url: &str) -> String {
    // The test's heartbeats carry no interval; without "off" the liveness
    // watch would raise "gateway silent" cards once the feed ends.
    format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\ntls = \"disable\"\n\
         lease_timeout = \"3s\"\ntimeout = \"5s\"\n\n[gateways]\nsilent_after = \"off\"\n"
    )
}

/// Firing batch j, and resolved batch j after firing batch j + LAG.
fn schedule(alerts: usize) -> Vec<Batch> {
    let make = |kind: EventKind| -> Vec<Batch> {
        (0..alerts)
            .collect::<Vec<_>>()
            .chunks(PER_BATCH)
            .map(|ks| batch(GATEWAY, ks.iter().map(|&k| event(k, kind)).collect(), None))
            .collect()
    };
    let (firing, resolved) = (make(EventKind::Firing), make(EventKind::Resolved));
    let mut out = Vec::new();
    for (j, f) in firing.iter().enumerate() {
        out.push(f.clone());
        if j >= LAG {
            out.push(resolved[j - LAG].clone());
        }
    }
    out.extend(resolved[firing.len().saturating_sub(LAG)..].iter().cloned());
    out
}

fn psql_rows(pg: &Postgres, sql: &str) -> Vec<String> {
    pg.psql(sql).lines().map(str::to_string).collect()
}

/// Conversations with queued jobs whose send lease `holder` has.
fn held_with_work(pg: &Postgres, holder: &str) -> Vec<String> {
    psql_rows(
        pg,
        &format!(
            "SELECT l.conversation FROM conversation_leases l WHERE l.holder = {} \
             AND EXISTS (SELECT 1 FROM jobs j WHERE j.conversation = l.conversation) ORDER BY 1",
            sql_text(holder)
        ),
    )
}

struct Kill {
    at: Instant,
    victim: usize,
    /// Conversations it held with work still queued after its death.
    held: Vec<String>,
    led_dispatch: bool,
    /// " mid-send", " mid-post", or "" when the aim missed.
    aim: &'static str,
}

fn logs(relays: &[RelayProc; 2], pg: &Postgres) -> String {
    format!(
        "=== relay 0 ===\n{}\n=== relay 1 ===\n{}\n=== postgres ===\n{}",
        relays[0].log_text(),
        relays[1].log_text(),
        pg.log_tail()
    )
}

#[test]
fn a_fleet_of_two_relays_killed_at_random_loses_nothing() {
    let (t0, wall) = (Instant::now(), WallClock::now());
    let Some(pg) = Postgres::start("e2e_fleet_sigkill") else {
        return;
    };
    let mut rng = Rng::from_env("E2E_FLEET_SIGKILL_SEED");
    let seed = rng.0;
    let alerts = std::env::var("E2E_FLEET_SIGKILL_ALERTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ALERTS);

    let fake = FakeTeams::start();
    let cfg = config(&pg.url());
    let mut relays = [0, 1].map(|_| RelayProc::new().with_teams(&fake).with_config(&cfg));
    for r in &mut relays {
        // No data_dir is created: with PostgreSQL the relay needs none.
        r.start();
    }
    let token = relays[0].add_gateway(GATEWAY);
    for (i, c) in CONVS.iter().enumerate() {
        // One user each: a user's newer personal chat replaces the older.
        let mut install = fake.install_activity(c);
        install["from"] = serde_json::json!({
            "id": format!("29:1user{i}"), "name": format!("User {i}"), "aadObjectId": format!("aad-{i}")
        });
        let (status, answer) = relays[1].post_activity(&install);
        assert_eq!(status, 200, "install {c}: {answer}");
    }
    fake.set_answer_delay(TEAMS_DELAY);

    // The gateway: each batch to a relay picked at random; after a 200,
    // one in four again to the other relay, as a balancer does when the
    // answer is lost on the way back.
    let posts = schedule(alerts);
    let ports = [relays[0].port(), relays[1].port()];
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    let wire = Arc::new(Wire::default());
    let feed = {
        let (posts, token, stop, wire) = (posts.clone(), token.clone(), stop.clone(), wire.clone());
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || -> Result<(Fed, usize), String> {
            let (mut fed, mut again) = (Fed::default(), 0);
            for b in &posts {
                let to = (rng.next() % 2) as usize;
                let took = post_anywhere(&ports, to, &token, b, &stop, &wire, &mut fed)?;
                if rng.next() % 4 == 0 {
                    post_anywhere(&ports, 1 - took, &token, b, &stop, &wire, &mut fed)?;
                    again += 1;
                }
                std::thread::sleep(rng.millis(300, 1500));
            }
            Ok((fed, again))
        })
    };

    // The kills, 4-12 s apart (per 100 alerts) while there is work. Three
    // in four hit a relay holding conversations with queued work, inside
    // the answer delay of a message in flight to Teams; the rest hit the
    // relay a batch is on its way to, before it answers (waits bounded).
    let mut kills: Vec<Kill> = Vec::new();
    let chaos_until = Instant::now() + Duration::from_secs(40 + alerts as u64 / 2);
    while kills.len() < KILLS && Instant::now() < chaos_until {
        // Spread over the sending, which takes about a second per alert.
        let scale = (alerts as u64 / ALERTS as u64).max(1);
        std::thread::sleep(rng.millis(4000 * scale, 12000 * scale));
        if feed.is_finished() && everything(&fake.calls(), &CONVS, alerts) {
            break;
        }
        let ids = relays.each_ref().map(|r| {
            instance(&r.log_text())
                .unwrap_or_else(|| panic!("no instance id logged\n{}", r.log_text()))
        });
        let held = ids.each_ref().map(|id| held_with_work(&pg, id));
        let senders: Vec<usize> = (0..2).filter(|&i| !held[i].is_empty()).collect();
        let leader = pg.psql("SELECT holder FROM leases WHERE name = 'dispatch'");
        let (mut victim, mut aim) = ((rng.next() % 2) as usize, "");
        let deadline = Instant::now() + Duration::from_secs(3);
        if kills.len() % 4 != 3 && !senders.is_empty() {
            victim = senders[(rng.next() % senders.len() as u64) as usize];
            while fake.in_flight() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(rng.millis(0, TEAMS_DELAY.as_millis() as u64 / 2));
            aim = if fake.in_flight() > 0 {
                " mid-send"
            } else {
                ""
            };
        } else if kills.len() % 4 == 3 && !feed.is_finished() {
            while !wire.sent.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
            if wire.sent.load(Ordering::SeqCst) {
                (victim, aim) = (wire.to.load(Ordering::SeqCst), " mid-post");
            }
        }
        relays[victim].kill();
        let at = Instant::now();
        let queued = psql_rows(&pg, "SELECT DISTINCT conversation FROM jobs");
        let held = held[victim].iter().filter(|c| queued.contains(c)).cloned();
        kills.push(Kill {
            at,
            victim,
            held: held.collect(),
            led_dispatch: leader == ids[victim],
            aim,
        });
        std::thread::sleep(rng.millis(200, 1500));
        relays[victim].spawn();
        relays[victim].wait_healthy(Duration::from_secs(30));
    }

    let deadline = Instant::now() + Duration::from_secs(60 + 3 * posts.len() as u64);
    while !feed.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the gateway did not finish in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (fed, posted_again) = feed
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("gateway: {e}\n{}", logs(&relays, &pg)));

    // Every batch once more to each relay: all duplicates by now, so
    // nothing more may reach Teams.
    for b in &posts {
        for to in 0..2 {
            let took = post_anywhere(&ports, to, &token, b, &stop, &wire, &mut Fed::default());
            assert_eq!(took, Ok(to), "{}", logs(&relays, &pg));
        }
    }

    let settle = Duration::from_secs(120 + 2 * alerts as u64);
    fake.settle(settle, |c| everything(c, &CONVS, alerts));
    let calls = fake.calls();
    let kill_times: Vec<Instant> = kills.iter().map(|k| k.at).collect();
    let (mut problems, duplicates) = judge(&calls, &CONVS, alerts, &kill_times, GRACE);
    let first = calls.first().map_or(t0, |c| c.arrived);

    // At most one duplicate per kill: a relay sends one request at a time
    // (the send loop awaits each), so a kill cuts off at most one message,
    // which the next holder of its conversation sends again.
    if duplicates.len() > kills.len() {
        problems.push(format!(
            "{} duplicates for {} kills",
            duplicates.len(),
            kills.len()
        ));
    }

    // Teams' limits, per conversation, across both relays: on Teams' clock,
    // and on the relays' own stamps (`sends`, where a takeover reads them).
    let mut windows = Vec::new();
    for conv in CONVS {
        let times = arrivals(&calls, conv);
        let sql = format!(
            "SELECT at_ms FROM sends WHERE conversation = {} ORDER BY 1",
            sql_text(conv)
        );
        let stamps: Vec<i64> = psql_rows(&pg, &sql)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let at = stamps.iter().map(|&m| wall.instant(m)).collect::<Vec<_>>();
        let (mut line, excess) = limits(conv, &times, &at, CLOCK_SLACK);
        problems.extend(excess);
        let wall_times: Vec<i64> = times.iter().map(|&t| wall.ms(t)).collect();
        if let Some((_, mid, hi)) = spread(&lags(&wall_times, &stamps)) {
            line += &format!("; stamp to arrival median {mid:.1?} max {hi:.1?}");
        }
        windows.push(line);
        // A relay sends to a conversation only after renewing its lease
        // within the last lease/3, and the next holder waits for the lease
        // to lapse: at least 2 s between them; 1 s leaves room for the
        // database calls in between.
        for (last, next) in handovers(&calls, conv) {
            if next - last < LEASE / 3 {
                problems.push(format!(
                    "{conv}: handed to another relay incarnation {}ms after the last send \
                     (at {}ms): two senders at once?",
                    (next - last).as_millis(),
                    ms(first, last)
                ));
            }
        }
    }

    // Takeover: from the kill to the next message in each conversation the
    // dead relay held with work queued.
    let mut takeovers = Vec::new();
    let mut kill_lines = Vec::new();
    for (n, k) in kills.iter().enumerate() {
        let mut line = format!(
            "kill {n} at {}ms: relay {}{}{}, held {:?}",
            ms(first, k.at),
            k.victim,
            k.aim,
            if k.led_dispatch {
                " (dispatch leader)"
            } else {
                ""
            },
            k.held
        );
        for conv in &k.held {
            let Some((took, wait)) = takeover(&arrivals(&calls, conv), k.at) else {
                problems.push(format!("kill {n}: nothing more was sent to {conv}"));
                continue;
            };
            line += &format!(" {conv}: {} (limits alone: {})", secs(took), secs(wait));
            takeovers.push(took);
            if took > LEASE.max(wait) + TAKEOVER_MARGIN {
                problems.push(format!(
                    "kill {n}: {conv} had no sender for {} (lease {LEASE:?}, Teams' limits {})",
                    secs(took),
                    secs(wait)
                ));
            }
        }
        kill_lines.push(line);
    }

    let db = pg.psql(
        "SELECT format('events %s pending %s jobs %s open_alerts %s', (SELECT count(*) FROM events), \
         (SELECT count(*) FROM pending), (SELECT count(*) FROM jobs), (SELECT count(*) FROM open_alerts))",
    );
    if db != format!("events {} pending 0 jobs 0 open_alerts 0", 2 * alerts) {
        problems.push(format!("the store after the run: {db}"));
    }
    for (i, r) in relays.iter_mut().enumerate() {
        if !r.still_running() || !r.died().is_empty() || r.log_text().contains("panicked") {
            problems.push(format!("relay {i} crashed or panicked: {:?}", r.died()));
        }
    }

    let figures = spread(&takeovers).map_or("none measured".into(), |(lo, mid, hi)| {
        let n = takeovers.len();
        format!(
            "n={n} min {} median {} max {}",
            secs(lo),
            secs(mid),
            secs(hi)
        )
    });
    let summary = format!(
        "seed {seed}: {alerts} alerts to {} conversations, {} kills ({} mid-send or mid-post); \
         {} calls to Teams in {:.1}s; gateway: {} batches in {} attempts ({} cut off by a kill, \
         {} refused), {} posted again to the other relay; {} duplicate(s)\n  \
         tightest 1s/2s/30s windows:\n    {}\n  takeover after a kill: {figures} (lease_timeout {LEASE:?})\n  {}\n  {}",
        CONVS.len(),
        kills.len(),
        kills.iter().filter(|k| !k.aim.is_empty()).count(),
        calls.len(),
        calls.last().map_or(0.0, |c| (c.arrived - first).as_secs_f64()),
        fed.posts,
        fed.attempts,
        fed.interrupted,
        fed.refused,
        posted_again,
        duplicates.len(),
        windows.join("\n    "),
        kill_lines.join("\n  "),
        duplicates.join("\n  ")
    );
    eprintln!("{summary}");
    assert!(
        problems.is_empty(),
        "{}\n{summary}\n{}",
        problems.join("\n"),
        logs(&relays, &pg)
    );
    assert!(
        kills.len() >= KILLS / 2,
        "too few kills to prove anything: {summary}"
    );
    eprintln!("e2e_fleet_sigkill: {:.1?}", t0.elapsed());
}
