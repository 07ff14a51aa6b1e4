//! The fixture sysfs tree: faulty w1 fixtures, a firing and a resolved alert,
//! `status` and `history`, and a device that vanishes from the bus.

use crate::common::{
    alert_state, copy_tree, fixture_sysfs, sensor_status, w1_slave, write_atomic, Setup,
};
use crate::{sensor, values};

const W1_DEVICES: &str = "sys/bus/w1/devices";

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
