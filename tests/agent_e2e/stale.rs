//! Stale alerts, and their timestamps against the agent's clock.

use crate::common::{alert_state, rfc3339_ms, sensor_status, Setup};
use crate::sensor;

#[test]
fn stale_and_clock_are_monotonic() {
    let body = sensor("probe", "sim", "pattern = \"points\"\npoints = [{ at = \"0s\", value = 20.0 }, { at = \"1s\", fault = true }]", "100ms")
        + "[[rule]]\nid = \"probe-stale\"\nsensors = \"probe\"\nstale = \"2s\"\n";
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    let started = agent.wait_line("the start line", |l| l.contains("edgetherm agent started"));
    let started_ms = rfc3339_ms(started.split_whitespace().next().unwrap());
    let fault = agent.wait_event("the simulated fault", |e| e.is("sensor_fault", "probe"));
    assert_eq!(fault.get("detail"), "simulated fault");
    let stale = agent.wait_event("a stale event", |e| e.is("stale", "probe"));
    assert_eq!(stale.level, "WARN");
    assert_eq!(stale.get("rule"), "probe-stale");
    assert_eq!(stale.get("value"), "20", "the last valid value");
    assert_eq!(stale.get("alert"), stale.id());
    assert!(
        stale.get("detail").contains("no valid reading for"),
        "{stale:?}"
    );
    // Not early: valid readings came for ~1 s, then `stale` needs 2 s more.
    assert!(
        stale.ts_ms() - started_ms >= 2000,
        "stale after only {} ms:\n{}",
        stale.ts_ms() - started_ms,
        agent.log()
    );
    assert!(
        stale.ts_ms() >= fault.ts_ms(),
        "stale before the first fault:\n{}",
        agent.log()
    );

    let st = s.status();
    assert_eq!(alert_state(&st, "probe-stale", "probe"), "stale", "{st:#}");
    assert_eq!(st["clock_synced"], true, "{st:#}");
    assert_eq!(sensor_status(&st, "probe")["value"].as_f64(), Some(20.0));
    assert_eq!(sensor_status(&st, "probe")["fault"], "simulated fault");

    // `since` is the stamp of the last valid reading.
    let rows = s.history("probe");
    let last_valid = rows
        .iter()
        .rev()
        .filter(|r| r["value"].as_f64().is_some())
        .find_map(|r| r["at"].as_str());
    assert_eq!(
        Some(stale.get("since")),
        last_valid,
        "{stale:?} vs {rows:?}"
    );
    assert!(
        rows.iter().any(|r| r["fault"] == "simulated fault"),
        "{rows:?}"
    );

    assert!(agent.terminate().success());
    let events = agent.events();
    assert_eq!(
        events.iter().filter(|e| e.kind() == "stale").count(),
        1,
        "one stale alert:\n{}",
        agent.log()
    );
    assert_eq!(
        events.iter().filter(|e| e.kind() == "sensor_fault").count(),
        1,
        "rate-limited:\n{}",
        agent.log()
    );
}
