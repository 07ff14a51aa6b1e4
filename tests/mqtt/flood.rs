//! A publish flood: the agent's memory stays bounded, it keeps answering,
//! and every message it received is either stored or counted as dropped.

use std::time::{Duration, Instant};

use crate::broker::{Publisher, Rumqttd};
use crate::common::Setup;
use crate::{counter, mqtt_section, mqtt_sensor, publish_until_seen};

const FLOOD: u64 = 200_000;
const MAX_RSS_KIB: u64 = 200 * 1024;

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
}

#[test]
fn flood_is_bounded_and_counted() {
    let broker = Rumqttd::start();
    let body = mqtt_section(&broker.url(), "") + &mqtt_sensor("flood", "sensors/flood", "plain");
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_line("MQTT connected", |l| l.contains("MQTT connected"));
    let mut p = Publisher::connect(broker.port);
    let warmup = publish_until_seen(&s, &mut p, "sensors/flood", "-1", "flood", -1.0);

    let deadline = Instant::now() + Duration::from_secs(120);
    let sent = p.flood(
        "sensors/flood",
        FLOOD,
        |i| format!("{}.{}", 10 + i % 50, i % 10),
        deadline,
        "flood/end",
    );
    eprintln!("flood: published {sent} QoS 0 messages (+{warmup} warm-up)");
    assert!(sent > 0);
    if sent < FLOOD {
        eprintln!("flood: the 120 s deadline stopped the publisher after {sent} of {FLOOD}");
    }

    // Wait (bounded) until the agent has taken everything the broker will
    // deliver: `messages` stops growing for 3 s.
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (u64::MAX, Instant::now());
    let st = loop {
        assert!(
            agent.is_running(),
            "the agent died under the flood:\n{}",
            agent.log()
        );
        let st = s.status();
        let m = counter(&st, "messages");
        if m != last.0 {
            last = (m, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(3) {
            break st;
        }
        assert!(
            Instant::now() < settle_deadline,
            "mqtt.messages still growing after 60 s:\n{st:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let messages = counter(&st, "messages");
    let dropped = counter(&st, "dropped");
    let rss = peak_rss_kib(agent.pid());
    let total = sent + u64::from(warmup);
    eprintln!(
        "flood: mqtt.messages = {messages} of {total} published, mqtt.dropped = {dropped}, agent peak RSS = {} MiB",
        rss / 1024
    );
    if messages < total {
        eprintln!(
            "flood: {} QoS 0 messages never reached the agent (the broker may drop QoS 0 for a slow subscriber)",
            total - messages
        );
    }
    assert_eq!(st["mqtt"]["connected"], true, "{st:#}");
    assert!(messages <= total, "more messages than published:\n{st:#}");
    assert!(
        messages > u64::from(warmup),
        "none of the flood arrived:\n{st:#}"
    );
    assert!(dropped <= messages, "{st:#}");
    assert!(
        rss < MAX_RSS_KIB,
        "peak RSS {} MiB >= {} MiB: an unbounded queue?",
        rss / 1024,
        MAX_RSS_KIB / 1024
    );
    let for_space = st["dropped_for_space"].as_u64().unwrap_or(0);
    let expired = st["dropped_expired"].as_u64().unwrap_or(0);
    let store_errors = st["store_errors"].as_u64().unwrap_or(0);
    assert_eq!(store_errors, 0, "{st:#}");

    // SIGTERM flushes the store; then history reads it without the agent.
    assert!(agent.terminate().success(), "{}", agent.log());
    let rows = s.cli(&[
        "history", "flood", "--since", "1h", "--json", "--limit", "1000000",
    ]);
    assert_eq!(rows.code, Some(0), "{rows:?}");
    let stored = rows.stdout.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    eprintln!("flood: {stored} readings stored, {dropped} dropped, {for_space} trimmed for space, {expired} expired");
    // Every message became one reading: stored, or counted as dropped. The
    // core loop had drained its channel (messages had stopped growing) but a
    // reading can still be in flight at SIGTERM: allow the channel's 256.
    let accounted = stored + dropped + for_space + expired;
    assert!(
        accounted <= messages,
        "{stored} stored + {dropped} dropped + {for_space} + {expired} > {messages} received"
    );
    assert!(
        accounted + 256 >= messages,
        "readings lost inside the agent: {messages} received, only {stored} stored + {dropped} dropped + {for_space} + {expired}"
    );
}
