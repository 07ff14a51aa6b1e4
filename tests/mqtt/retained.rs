//! A retained message without a stamp of its own may be days old: it is not
//! taken as a fresh reading (and the sensor goes stale), live ones are.

use crate::broker::{Publisher, Rumqttd};
use crate::common::{alert_state, rfc3339_ms, Setup};
use crate::{counter, find_sensor, mqtt_section, mqtt_sensor, value_of};

#[test]
fn retained_without_stamp_is_not_fresh() {
    let broker = Rumqttd::start();
    let mut p = Publisher::connect(broker.port);
    p.publish_retained("sensors/old/temperature", "25");

    let body = mqtt_section(&broker.url(), "")
        + &mqtt_sensor("old", "sensors/old/temperature", "plain")
        + "[[rule]]\nid = \"old-stale\"\nsensors = [\"old\"]\nstale = \"3s\"\n";
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    let started = agent.wait_line("the start line", |l| l.contains("edgetherm agent started"));
    let st = s.wait_status("the retained message ignored", |st| {
        st["mqtt"]["retained_ignored"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    });
    assert_eq!(counter(&st, "retained_ignored"), 1, "{st:#}");
    assert_eq!(counter(&st, "messages"), 1, "{st:#}");
    assert_eq!(counter(&st, "dropped"), 0, "{st:#}");
    assert_eq!(st["mqtt"]["connected"], true, "{st:#}");
    let old = find_sensor(&st, "old").expect("old in status");
    assert!(
        old["value"].is_null(),
        "the retained 25 was taken as a reading:\n{st:#}"
    );
    assert_eq!(s.history("old").len(), 0, "the retained 25 was stored");

    let stale = agent.wait_event("old stale", |e| e.is("stale", "old"));
    assert_eq!(stale.get("rule"), "old-stale");
    let after = stale.ts_ms() - rfc3339_ms(started.split_whitespace().next().unwrap());
    assert!(
        after >= 2500,
        "stale only {after} ms after the start:\n{}",
        agent.log()
    );
    let st = s.status();
    assert!(value_of(&st, "old").is_none(), "{st:#}");
    assert!(
        alert_state(&st, "old-stale", "old").contains("stale"),
        "{st:#}"
    );

    // A live message is a reading.
    p.publish("sensors/old/temperature", "26.5");
    let st = s.wait_status("old 26.5", |st| value_of(st, "old") == Some(26.5));
    assert_eq!(counter(&st, "retained_ignored"), 1, "{st:#}");
    assert_eq!(counter(&st, "messages"), 2, "{st:#}");
    let values: Vec<f64> = s
        .history("old")
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .collect();
    assert_eq!(values, [26.5]);
    assert!(agent.terminate().success(), "{}", agent.log());
}
