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
//! than `remember_events`), and one that forgets every id. The default is
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
    let t = Instant::now();
    let all = store.forget_events_before(now_ms() + 2_000).expect("pass");
    let full = t.elapsed();
    assert_eq!((none, all as usize), (0, ids), "what the passes forgot");
    println!(
        "pass forgetting nothing: {:.0} ms ({:.2} µs per id)",
        idle.as_secs_f64() * 1e3,
        idle.as_secs_f64() * 1e6 / ids as f64
    );
    println!(
        "pass forgetting all {ids}: {:.0} ms ({:.2} µs per id)",
        full.as_secs_f64() * 1e3,
        full.as_secs_f64() * 1e6 / ids as f64
    );
}
