//! End to end: the real `edgetherm` binary on a copy of the fixture sysfs tree
//! and on simulated sensors, driven through its log (stderr), `status`,
//! `history`, `test-alert` and `check-config`, including SIGKILL mid-run and a
//! corrupted store. Only local files, a Unix socket and child processes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{
    alert_state, copy_tree, fixture_sysfs, now_ms, rfc3339_ms, sensor_status, w1_slave,
    write_atomic, EventLine, Setup,
};

const W1_DEVICES: &str = "sys/bus/w1/devices";

fn sensor(id: &str, kind: &str, extra: &str, interval: &str) -> String {
    format!("[[sensor]]\nid = \"{id}\"\nkind = \"{kind}\"\n{extra}\ninterval = \"{interval}\"\n\n")
}

/// Values of `history --json` rows.
fn values(rows: &[serde_json::Value]) -> Vec<f64> {
    rows.iter().filter_map(|r| r["value"].as_f64()).collect()
}

#[test]
fn fixture_tree_drives_alerts_status_and_history() {
    let dir = tempfile::Builder::new()
        .prefix("edgetherm-e2e-")
        .tempdir()
        .unwrap();
    let root = dir.path().join("sysfs");
    copy_tree(&fixture_sysfs(), &root);
    let mut body = String::from("[buffer]\nflush_interval = \"1s\"\n\n");
    body += &sensor("w1-good", "w1", "device = \"28-000000000001\"", "200ms");
    body += &sensor("w1-crc", "w1", "device = \"28-000000000002\"", "200ms");
    body += &sensor("w1-poweron", "w1", "device = \"28-000000000003\"", "200ms");
    body += &sensor("w1-attr", "w1", "device = \"28-000000000004\"", "200ms");
    body += &sensor(
        "cpu",
        "hwmon",
        "chip = \"cpu_thermal\"\ninput = \"temp1\"",
        "200ms",
    );
    body += &sensor("soc", "thermal", "zone = \"cpu-thermal\"", "200ms");
    body += "[[rule]]\nid = \"w1-hot\"\nsensors = [\"w1-*\"]\nabove = 30.0\nhysteresis = 1.0\nfor = \"0s\"\nseverity = \"critical\"\nflap_changes = 1000\n\n";
    body += "[[rule]]\nid = \"cpu-hot\"\nsensors = [\"cpu\", \"soc\"]\nabove = 80.0\n";
    let s = Setup::in_dir(dir, Some(&root), &body);
    let good_slave = root.join(W1_DEVICES).join("28-000000000001/w1_slave");

    let mut agent = s.start();

    // Faulty fixtures become sensor_fault events, never temperatures.
    let crc = agent.wait_event("a sensor_fault for the CRC sensor", |e| {
        e.is("sensor_fault", "w1-crc")
    });
    assert!(crc.get("detail").contains("CRC mismatch"), "{crc:?}");
    assert_eq!(crc.level, "WARN");
    let pon = agent.wait_event("a sensor_fault for the power-on sensor", |e| {
        e.is("sensor_fault", "w1-poweron")
    });
    assert!(pon.get("detail").contains("85.0 °C power-on"), "{pon:?}");

    // Status sees every fixture value (the first reads may still be arriving).
    let st = s.wait_status("every fixture value", |st| {
        [
            ("w1-good", 23.125),
            ("w1-attr", 21.5),
            ("cpu", 48.312),
            ("soc", 47.85),
        ]
        .iter()
        .all(|(id, v)| sensor_status(st, id)["value"].as_f64() == Some(*v))
            && sensor_status(st, "w1-crc")["fault"].is_string()
            && sensor_status(st, "w1-poweron")["fault"].is_string()
    });
    for id in ["w1-good", "w1-attr", "cpu", "soc"] {
        assert!(
            sensor_status(&st, id)["fault"].is_null(),
            "{id} should have no fault:\n{st:#}"
        );
    }
    assert!(
        sensor_status(&st, "w1-crc")["value"].is_null(),
        "a CRC failure is not a temperature:\n{st:#}"
    );
    assert!(
        sensor_status(&st, "w1-poweron")["value"].is_null(),
        "85.0 at power-on is not a temperature:\n{st:#}"
    );
    assert_eq!(st["gateway"], "e2e");
    assert_eq!(alert_state(&st, "w1-hot", "w1-good"), "ok");
    assert_eq!(alert_state(&st, "cpu-hot", "cpu"), "ok");
    assert_eq!(alert_state(&st, "cpu-hot", "soc"), "ok");

    // Heat the good sensor past 30 °C: one firing event with value and threshold.
    write_atomic(&good_slave, &w1_slave(31_000));
    let fired = agent.wait_event("a firing for w1-good", |e| e.is("firing", "w1-good"));
    assert_eq!(fired.level, "WARN");
    assert_eq!(fired.get("rule"), "w1-hot");
    assert_eq!(fired.get("value"), "31");
    assert_eq!(fired.get("threshold"), "30");
    assert_eq!(fired.get("severity"), "critical");
    assert_eq!(
        fired.get("alert"),
        fired.id(),
        "a firing event opens the alert with its own id"
    );
    assert_eq!(fired.id().len(), 26, "ULID ids: {fired:?}");
    let st = s.status();
    assert_eq!(alert_state(&st, "w1-hot", "w1-good"), "firing", "{st:#}");
    assert_eq!(sensor_status(&st, "w1-good")["value"].as_f64(), Some(31.0));
    assert_eq!(
        st["outbox"], 0,
        "without a relay the log is the destination:\n{st:#}"
    );

    // Cool down past the hysteresis (29 °C): resolved, same alert.
    write_atomic(&good_slave, &w1_slave(28_500));
    let resolved = agent.wait_event("a resolved for w1-good", |e| e.is("resolved", "w1-good"));
    assert_eq!(resolved.level, "INFO");
    assert_eq!(resolved.get("alert"), fired.id());
    assert_eq!(resolved.get("rule"), "w1-hot");
    assert_eq!(resolved.get("value"), "28.5");
    assert_eq!(resolved.get("threshold"), "30");
    assert_ne!(resolved.id(), fired.id());
    let st = s.status();
    assert_eq!(alert_state(&st, "w1-hot", "w1-good"), "ok", "{st:#}");
    assert_eq!(sensor_status(&st, "w1-good")["value"].as_f64(), Some(28.5));
    assert_eq!(st["outbox"], 0);

    // History (answered by the running agent) has the whole story.
    let rows = s.history("w1-good");
    let vals = values(&rows);
    for v in [23.125, 31.0, 28.5] {
        assert!(vals.contains(&v), "history of w1-good lacks {v}: {vals:?}");
    }
    assert!(
        rows.iter().all(|r| r["fault"].is_null()),
        "w1-good never faulted: {rows:?}"
    );
    let first = vals.iter().position(|v| *v == 31.0).unwrap();
    let last_hot = vals.iter().rposition(|v| *v == 31.0).unwrap();
    assert!(
        vals[..first].iter().all(|v| *v == 23.125)
            && vals[last_hot + 1..].iter().all(|v| *v == 28.5),
        "oldest first: {vals:?}"
    );
    let crc_rows = s.history("w1-crc");
    assert!(!crc_rows.is_empty(), "faulty readings are stored too");
    for r in &crc_rows {
        assert!(r["value"].is_null(), "{r}");
        assert!(r["fault"].as_str().unwrap_or("").contains("CRC"), "{r}");
    }

    // A device that vanishes from the bus is a fault, not a silence.
    std::fs::remove_dir_all(root.join(W1_DEVICES).join("28-000000000004")).unwrap();
    let gone = agent.wait_event("a sensor_fault for the vanished device", |e| {
        e.is("sensor_fault", "w1-attr")
    });
    assert!(gone.get("detail").contains("not found"), "{gone:?}");
    assert!(gone.get("detail").contains("28-000000000004"), "{gone:?}");
    let st = s.wait_status("the vanished device's fault", |st| {
        sensor_status(st, "w1-attr")["fault"].is_string()
    });
    assert!(
        sensor_status(&st, "w1-attr")["fault"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{st:#}"
    );
    assert_eq!(
        alert_state(&st, "w1-hot", "w1-attr"),
        "ok",
        "a missing sensor does not fire a threshold"
    );

    assert!(
        agent.terminate().success(),
        "clean exit on SIGTERM; log:\n{}",
        agent.log()
    );

    // The whole run: no false alarms, faults reported once each (rate-limited).
    let events = agent.events();
    let count = |kind: &str, sensor: &str| events.iter().filter(|e| e.is(kind, sensor)).count();
    for id in ["w1-crc", "w1-poweron", "w1-attr", "cpu", "soc"] {
        assert_eq!(
            count("firing", id),
            0,
            "no firing for {id}:\n{}",
            agent.log()
        );
    }
    assert_eq!(count("firing", "w1-good"), 1, "{}", agent.log());
    assert_eq!(count("resolved", "w1-good"), 1, "{}", agent.log());
    for id in ["w1-crc", "w1-poweron", "w1-attr"] {
        assert_eq!(
            count("sensor_fault", id),
            1,
            "{id}: one report, then rate-limited:\n{}",
            agent.log()
        );
    }
    for id in ["w1-good", "cpu", "soc"] {
        assert_eq!(
            count("sensor_fault", id),
            0,
            "no fault for {id}:\n{}",
            agent.log()
        );
    }
    assert!(
        !agent.lines().iter().any(|l| l.contains(" ERROR ")),
        "no errors:\n{}",
        agent.log()
    );
}

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

#[test]
fn corrupted_store_is_moved_aside_and_reported() {
    let body = "[buffer]\nflush_interval = \"1s\"\n\n".to_string()
        + &sensor(
            "room",
            "sim",
            "pattern = \"constant\"\nvalue = 21.5",
            "100ms",
        )
        + "[[rule]]\nid = \"room-hot\"\nsensors = \"room\"\nabove = 30.0\n";
    let s = Setup::new(None, &body);
    let store = s.data_dir.join("store");

    let mut agent = s.start();
    agent.wait_started();
    s.wait_status("a first reading", |st| {
        sensor_status(st, "room")["value"].as_f64() == Some(21.5)
    });
    assert!(agent.terminate().success(), "{}", agent.log());
    assert!(
        !s.history("room").is_empty(),
        "the first run stored readings"
    );

    // What sled 0.34 chokes on (tried by hand against this store):
    //  - garbage in `conf` (it is checksummed): "Read corrupted data";
    //  - bytes overwritten near the start of `db`, inside the written log
    //    (e.g. offset 100): "Read corrupted data";
    //  - truncating `db` (snapshot left in place): "Read corrupted data".
    // It does NOT notice: bytes overwritten in the middle of `db` (the unused
    // tail of the 512 KiB segment), an empty `conf` (rewritten), or a
    // truncated `db` once the snapshot is deleted (it silently loses data).
    // Both effective ones are applied here.
    std::fs::write(
        store.join("conf"),
        "segment_size: lots\nthis is not sled's config\n",
    )
    .unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut db = std::fs::OpenOptions::new()
            .write(true)
            .open(store.join("db"))
            .unwrap();
        db.seek(SeekFrom::Start(100)).unwrap();
        db.write_all(&[0xa5; 64]).unwrap();
    }
    // Without an agent, history opens the store itself and must refuse it
    // (recovering it is the agent's business).
    let out = s.cli(&["history", "room", "--since", "1h", "--json"]);
    assert_eq!(out.code, Some(1), "history on a damaged store: {out:?}");
    assert!(out.stderr.contains("corrupt"), "{out:?}");

    let mut agent = s.start();
    let damaged = agent.wait_line("the damaged-store error", |l| {
        l.contains("THE STORE WAS DAMAGED")
    });
    assert!(damaged.contains(" ERROR "), "{damaged}");
    let fault = agent.wait_event("an agent_fault event", |e| e.kind() == "agent_fault");
    assert_eq!(fault.level, "WARN");
    assert!(fault.get("detail").contains("store.damaged-"), "{fault:?}");
    let st = s.wait_status("new readings", |st| {
        sensor_status(st, "room")["value"].as_f64() == Some(21.5)
    });
    assert_eq!(st["outbox"], 0, "{st:#}");

    let moved: Vec<_> = std::fs::read_dir(&s.data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("store.damaged-")
        })
        .collect();
    assert_eq!(moved.len(), 1, "one moved-aside store: {moved:?}");
    assert!(
        fault
            .get("detail")
            .contains(&*moved[0].display().to_string()),
        "{fault:?}"
    );
    assert!(
        moved[0].join("db").exists() && moved[0].join("conf").exists(),
        "the damaged files are kept for inspection"
    );
    assert!(store.join("conf").exists(), "a fresh store");

    // The fresh store takes new readings: via the agent, and after it stops.
    let deadline = Instant::now() + common::PATIENCE;
    while s.history("room").is_empty() {
        assert!(Instant::now() < deadline, "no readings in the fresh store");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(agent.terminate().success(), "{}", agent.log());
    let rows = s.history("room");
    assert!(!rows.is_empty(), "readings are flushed at shutdown");
    assert!(values(&rows).iter().all(|v| *v == 21.5), "{rows:?}");
}

#[test]
fn status_without_agent_is_a_clear_error() {
    let body = sensor("room", "sim", "value = 21.5", "1s");
    let s = Setup::new(None, &body);
    let out = s.cli(&["status"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("no edgetherm agent is running"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    // A socket left behind by a killed agent (nobody listening) is the same.
    std::fs::create_dir_all(&s.data_dir).unwrap();
    drop(std::os::unix::net::UnixListener::bind(s.data_dir.join("control.sock")).unwrap());
    assert!(s.data_dir.join("control.sock").exists());
    for args in [&["status", "--json"][..], &["test-alert"][..]] {
        let out = s.cli(args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("no edgetherm agent is running"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn check_config_reports_all_errors_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = [
        "[agent]",                    // 1
        "gateway_id = \"gw\"",        // 2
        "colour = \"blue\"",          // 3: unknown key
        "",                           // 4
        "[[sensor]]",                 // 5
        "id = \"s1\"",                // 6
        "kind = \"sim\"",             // 7
        "value = 20.0",               // 8
        "interval = \"10 parsecs\"",  // 9: bad duration
        "",                           // 10
        "[[rule]]",                   // 11
        "sensors = [\"s1\"]",         // 12
        "above = 30.0",               // 13
        "severity = \"apocalyptic\"", // 14: bad enum
    ]
    .join("\n")
        + "\n";
    std::fs::write(&bad, text).unwrap();
    let out = common::cli(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let prefix = format!("{}:", bad.display());
    let located: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with(&prefix)
                && l[prefix.len()..]
                    .split(':')
                    .take(2)
                    .all(|n| n.trim().parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(
        located.len(),
        3,
        "three path:line:col: errors:\n{}",
        out.stderr
    );
    assert!(
        located[0].starts_with(&format!("{prefix}3:1: ")) && located[0].contains("colour"),
        "{}",
        located[0]
    );
    assert!(
        located[1].starts_with(&format!("{prefix}9:")) && located[1].contains("interval"),
        "{}",
        located[1]
    );
    assert!(
        located[2].starts_with(&format!("{prefix}14:"))
            && located[2].contains("severity")
            && located[2].contains("apocalyptic"),
        "{}",
        located[2]
    );
    assert!(out.stderr.contains("invalid (3 errors)"), "{}", out.stderr);

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[agent]\ngateway_id = \"gw\"\n\n".to_string()
            + &sensor("s1", "sim", "value = 20.0", "10s")
            + "[[rule]]\nid = \"r1\"\nsensors = \"s1\"\nabove = 30.0\n",
    )
    .unwrap();
    let out = common::cli(&["check-config", good.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!("{}: valid", good.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("sensors  1") && out.stdout.contains("rules    1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("r1") && out.stdout.contains("above 30"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn test_alert_reaches_the_log() {
    let body = sensor("room", "sim", "value = 21.5", "1s");
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_started();
    let out = s.cli(&["test-alert"]);
    assert_eq!(out.code, Some(0), "{out:?}\nlog:\n{}", agent.log());
    let id = out
        .stdout
        .strip_prefix("test alert ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id in {:?}", out.stdout))
        .to_string();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert!(
        out.stdout.contains("delivered to the agent's log"),
        "{}",
        out.stdout
    );
    let e = agent.wait_event("the test event", |e| e.kind() == "test" && e.id() == id);
    assert_eq!(e.level, "INFO");
    assert!(
        e.get("detail").contains("test alert from gateway e2e"),
        "{e:?}"
    );
    assert_eq!(s.status()["outbox"], 0);
    assert!(agent.terminate().success());
    assert_eq!(
        agent.events().iter().filter(|e| e.kind() == "test").count(),
        1,
        "{}",
        agent.log()
    );
}

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
