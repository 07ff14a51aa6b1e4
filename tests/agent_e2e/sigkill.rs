//! SIGKILL mid-run, over and over: nothing lost up to the last flush, no alert
//! event repeated or out of order across the runs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::common::{now_ms, rfc3339_ms, EventLine, Setup};
use crate::sensor;

/// A deterministic pseudo-random delay in 700..=2500 ms (an LCG).
fn delays(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x5eed_1234_abcd_0042;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            700 + (x >> 33) % 1801
        })
        .collect()
}

#[test]
fn sigkill_mid_run_loses_and_repeats_nothing() {
    const ROUNDS: usize = 12;
    const FLUSH_MS: i64 = 1000;
    let body = "[buffer]\nflush_interval = \"1s\"\n\n".to_string()
        + &sensor("pulse", "sim", "pattern = \"points\"\npoints = [{ at = \"0s\", value = 25.0 }, { at = \"1s\", value = 35.0 }]\ncycle = \"2s\"", "100ms")
        + "[[rule]]\nid = \"pulse-hot\"\nsensors = \"pulse\"\nabove = 30.0\nfor = \"0s\"\nflap_changes = 1000\n";
    let s = Setup::new(None, &body);

    let mut logs: Vec<Vec<String>> = Vec::new();
    let mut checked_freshness = 0;
    for (round, delay) in delays(ROUNDS).into_iter().enumerate() {
        let mut agent = s.start();
        let until = agent.started + Duration::from_millis(delay);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        let killed_at = now_ms();
        agent.kill();
        let lines = agent.lines();
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("THE STORE WAS DAMAGED") || l.contains("agent_fault")),
            "round {round}: a SIGKILL must not damage the store:\n{}",
            lines.join("\n")
        );
        logs.push(lines);

        // No agent runs now: history opens the store itself. Readings are
        // kept up to the last flush (every 1 s, and at every alert event).
        // Only runs that lived past a flush interval (plus start-up) can
        // show that; stamps have whole seconds, hence the extra 999 ms.
        let rows = s.history("pulse");
        if delay >= 1500 {
            let newest = rows
                .iter()
                .filter_map(|r| r["at"].as_str())
                .map(rfc3339_ms)
                .max();
            let newest = newest
                .unwrap_or_else(|| panic!("round {round}: no readings stored after {delay} ms"));
            let age = killed_at - (newest + 999);
            assert!(age <= FLUSH_MS + 1500, "round {round}: newest stored reading is {age} ms older than the kill (run of {delay} ms); rows: {}", rows.len());
            checked_freshness += 1;
        }
        for r in &rows {
            let v = r["value"].as_f64();
            assert!(
                v == Some(25.0) || v == Some(35.0),
                "round {round}: unexpected row {r}"
            );
        }
    }
    assert!(
        checked_freshness >= 3,
        "the delay sequence must include long runs ({checked_freshness})"
    );

    // A last, clean run: restores state, drains the outbox, stops on SIGTERM.
    let mut agent = s.start();
    agent.wait_started();
    let until = agent.started + Duration::from_secs(3);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    let st = s.status();
    assert_eq!(st["outbox"], 0, "{st:#}");
    assert!(
        agent.terminate().success(),
        "clean exit on SIGTERM; log:\n{}",
        agent.log()
    );
    assert!(agent
        .lines()
        .iter()
        .any(|l| l.contains("edgetherm agent stopped")));
    logs.push(agent.lines());

    // Across all runs, per (rule, sensor): firing and resolved strictly
    // alternate, each resolved closes the alert opened by the firing before
    // it. An id seen twice is an at-least-once re-log after a kill between
    // logging an event and recording that: identical fields, and rare.
    let mut seen: HashMap<String, EventLine> = HashMap::new();
    let mut duplicates = 0;
    let mut open: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut firings = 0;
    let mut resolveds = 0;
    for (run, lines) in logs.iter().enumerate() {
        let context = || format!("run {run}:\n{}", lines.join("\n"));
        for e in lines.iter().filter_map(|l| EventLine::parse(l)) {
            if let Some(prev) = seen.get(e.id()) {
                assert_eq!(
                    prev.fields,
                    e.fields,
                    "a re-logged event must be identical; {}",
                    context()
                );
                duplicates += 1;
                continue;
            }
            seen.insert(e.id().to_string(), e.clone());
            let key = (e.get("rule").to_string(), e.sensor().to_string());
            match e.kind() {
                "firing" => {
                    let slot = open.entry(key).or_default();
                    assert!(
                        slot.is_none(),
                        "re-fire of the open alert {slot:?}: {e:?}; {}",
                        context()
                    );
                    assert_eq!(e.get("value"), "35", "{e:?}");
                    assert_eq!(e.get("threshold"), "30", "{e:?}");
                    assert_eq!(e.get("alert"), e.id());
                    *slot = Some(e.id().to_string());
                    firings += 1;
                }
                "resolved" => {
                    let slot = open.entry(key).or_default();
                    assert_eq!(
                        slot.as_deref(),
                        Some(e.get("alert")),
                        "resolve of an alert that is not open: {e:?}; {}",
                        context()
                    );
                    assert_eq!(e.get("value"), "25", "{e:?}");
                    *slot = None;
                    resolveds += 1;
                }
                other => panic!("unexpected {other} event: {e:?}; {}", context()),
            }
        }
    }
    eprintln!("{} runs: {firings} firings, {resolveds} resolved, {duplicates} re-logged, freshness checked {checked_freshness}x", logs.len());
    assert!(
        duplicates <= ROUNDS,
        "{duplicates} re-logged events for {ROUNDS} kills"
    );
    assert!(
        firings >= 6,
        "the pulse crosses 30 °C every second; only {firings} firings in {} runs",
        logs.len()
    );
    assert!(
        resolveds + 1 >= firings,
        "{firings} firings but {resolveds} resolved"
    );
}
