//! The broker goes away (SIGKILL) and comes back on the same port: the agent
//! notices, keeps retrying, reconnects, resubscribes, and readings flow again
//! without an agent restart.

use std::time::{Duration, Instant};

use crate::broker::{Mosquitto, Publisher};
use crate::common::{alert_state, EventLine, Setup};
use crate::{counter, mqtt_section, mqtt_sensor, publish_until_seen, value_of};

/// Generous: the reconnect backoff (1, 2, 4, 8 s ±25%) must run its course.
const RECONNECT: Duration = Duration::from_secs(45);

#[test]
fn broker_restart_resumes_readings() {
    let Some(mut broker) = Mosquitto::start_or_skip("broker_restart_resumes_readings") else {
        return;
    };
    let body = mqtt_section(&broker.url(), "")
        + &mqtt_sensor("room", "sensors/room/temperature", "plain")
        + &mqtt_sensor("{1}", "probes/+/temperature", "plain")
        + "[[rule]]\nid = \"room-stale\"\nsensors = [\"room\"]\nstale = \"3s\"\n";
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_line("MQTT connected", |l| l.contains("MQTT connected"));
    let mut p = Publisher::connect(broker.port);
    publish_until_seen(&s, &mut p, "sensors/room/temperature", "20.5", "room", 20.5);
    p.publish("probes/attic/temperature", "55");
    s.wait_status("attic 55", |st| value_of(st, "attic") == Some(55.0));
    // A fresh reading just before the broker dies. (The stale clock runs
    // from the agent's start: on a very slow machine room may have been
    // stale once before its first reading; that alert carries no value or
    // 20.5, not 20.75.)
    p.publish("sensors/room/temperature", "20.75");
    let st = s.wait_status("room 20.75", |st| value_of(st, "room") == Some(20.75));
    assert_eq!(st["mqtt"]["connected"], true, "{st:#}");
    assert_eq!(counter(&st, "connects"), 1, "{st:#}");
    assert!(
        !alert_state(&st, "room-stale", "room").contains("stale"),
        "{st:#}"
    );
    drop(p);

    broker.kill();
    let st = s.wait_status("mqtt.connected false", |st| {
        st["mqtt"]["connected"] == false
    });
    assert!(st["mqtt"]["last_error"].is_string(), "{st:#}");
    agent.wait_line("MQTT connection lost", |l| {
        l.contains("MQTT connection lost")
    });
    let stale = agent.wait_event("room stale while the broker is down", |e| {
        e.is("stale", "room") && e.get("value") == "20.75"
    });
    assert_eq!(stale.get("rule"), "room-stale");
    let lines = agent.lines();
    let lost_at = lines
        .iter()
        .position(|l| l.contains("MQTT connection lost"))
        .unwrap();
    let stale_at = lines
        .iter()
        .position(|l| {
            EventLine::parse(l).is_some_and(|e| e.is("stale", "room") && e.get("value") == "20.75")
        })
        .unwrap();
    assert!(
        stale_at > lost_at,
        "stale before the connection loss:\n{}",
        agent.log()
    );
    let st = s.status();
    assert_eq!(st["mqtt"]["connected"], false, "{st:#}");
    assert!(
        alert_state(&st, "room-stale", "room").contains("stale"),
        "{st:#}"
    );

    broker.restart();
    let restarted = Instant::now();
    let deadline = restarted + RECONNECT;
    while agent
        .lines()
        .iter()
        .filter(|l| l.contains("MQTT connected"))
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no reconnect within {RECONNECT:?} of the broker's restart; agent log:\n{}\nbroker log:\n{}",
            agent.log(),
            broker.log()
        );
        assert!(agent.is_running(), "the agent died:\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut p = Publisher::connect(broker.port);
    // Readings flow again: the agent resubscribed on its own (a restarted
    // broker has no memory of the old subscriptions).
    publish_until_seen(
        &s,
        &mut p,
        "sensors/room/temperature",
        "23.25",
        "room",
        23.25,
    );
    p.publish("probes/attic/temperature", "57.5");
    let st = s.wait_status("attic 57.5", |st| value_of(st, "attic") == Some(57.5));
    assert_eq!(st["mqtt"]["connected"], true, "{st:#}");
    assert_eq!(counter(&st, "connects"), 2, "{st:#}");
    assert!(
        !alert_state(&st, "room-stale", "room").contains("stale"),
        "{st:#}"
    );

    assert!(agent.is_running());
    let log = agent.lines();
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("MQTT connection lost"), 1, "{}", agent.log());
    assert_eq!(count("MQTT connected"), 2, "{}", agent.log());
    assert_eq!(
        agent
            .events()
            .iter()
            .filter(|e| e.is("stale", "room") && e.get("value") == "20.75")
            .count(),
        1,
        "one stale alert for the broker's downtime: {}",
        agent.log()
    );
    assert_eq!(broker.starts(), 2);
}
