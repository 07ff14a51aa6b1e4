//! What the hourly pass that forgets old event ids costs on sled, which
//! has no index by time and scans its whole `events` tree.
//!
//! ```text
//! cargo run --release --locked -p edgetherm-relay --example forget_ids -- [--ids 432000]
//! ```
//!
//! Fills a sled store in a temp dir with `--ids` accepted events (1,000 per
//! group commit, as the relay writes them), then times a pass that finds
//! nothing to forget (the steady cost of a relay whose ids are all younger
//! than `remember_events`), and one that forgets every id while another
//! thread accepts a new event every 10 ms (latencies compared with 3 s of
//! accepts alone). The default is
//! 1,000 gateways × 14.4 events a day × 30 days (BENCHMARKS.md's rate).

use std::time::Instant;

use edgetherm_proto::{Event, EventKind, Severity};
use edgetherm_relay::clock::now_ms;
use edgetherm_relay::store::{Incoming, Store};

fn main() {
    let mut ids: usize = 432_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--ids", Some(v)) => ids = v.parse().expect("--ids N"),
            _ => panic!("usage: forget_ids [--ids N]"),
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("a sled store");
    let t = Instant::now();
    let mut n = 0;
    while n < ids {
        let k = (ids - n).min(1000);
        let events = (n..n + k)
            .map(|i| {
                let mut e = Event::new(
                    format!("01JF{i:022}"),
                    EventKind::Firing,
                    Severity::Critical,
                    "2026-12-07T10:00:00Z".into(),
                );
                e.sensor = Some("fridge".into());
                e
            })
            .collect();
        let batch = Incoming {
            gateway: format!("gw{}", n / 1000),
            site: None,
            events,
            heartbeat: None,
        };
        store.accept_group(&[batch]).expect("accepted");
        n += k;
    }
    println!("filled {ids} ids in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let none = store
        .forget_events_before(now_ms() - 3_600_000)
        .expect("pass");
    let idle = t.elapsed();
    println!(
        "pass forgetting nothing: {:.0} ms ({:.2} µs per id)",
        idle.as_secs_f64() * 1e3,
        idle.as_secs_f64() * 1e6 / ids as f64
    );

    // Accepts go on while a pass runs: one new event every 10 ms, timed,
    // first for 3 s alone, then beside the pass that forgets everything.
    let quiet = accepts_beside(&store, "quiet", || {
        std::thread::sleep(std::time::Duration::from_secs(3))
    });
    let mut all = 0;
    let mut full = std::time::Duration::ZERO;
    let busy = accepts_beside(&store, "pass", || {
        let t = Instant::now();
        all = store.forget_events_before(now_ms() + 2_000).expect("pass");
        full = t.elapsed();
    });
    // The accepts beside the pass were made during it and may be forgotten too.
    assert_eq!(none, 0, "nothing is an hour old");
    assert!(all as usize >= ids, "forgot {all} of {ids}");
    println!(
        "pass forgetting all {all}: {:.0} ms ({:.2} µs per id)",
        full.as_secs_f64() * 1e3,
        full.as_secs_f64() * 1e6 / all as f64
    );
    for (what, mut l) in [("alone", quiet), ("beside the pass", busy)] {
        l.sort();
        let p = |q: f64| l[((l.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "accept of one new event, {what}: {} accepts, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            l.len(),
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
}

/// Accept latencies of one new event every 10 ms while `work` runs (at
/// most 100,000 accepts).
fn accepts_beside(store: &Store, tag: &str, work: impl FnOnce()) -> Vec<std::time::Duration> {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let accepts = s.spawn(|| {
            let mut lat = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) && lat.len() < 100_000 {
                let mut e = Event::new(
                    format!("{tag}-{}", lat.len()),
                    EventKind::Firing,
                    Severity::Critical,
                    "2026-12-07T10:00:00Z".into(),
                );
                e.sensor = Some("fridge".into());
                let batch = Incoming {
                    gateway: "gw-live".into(),
                    site: None,
                    events: vec![e],
                    heartbeat: None,
                };
                let t = Instant::now();
                store.accept_group(&[batch]).expect("accepted");
                lat.push(t.elapsed());
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            lat
        });
        work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        accepts.join().expect("the accepting thread")
    })
}
