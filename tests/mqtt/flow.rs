//! Readings, alerts, faults and template ids from MQTT (rumqttd: always runs).

use crate::broker::{Publisher, Rumqttd};
use crate::common::{alert_state, sensor_status, Setup};
use crate::{counter, find_sensor, mqtt_section, mqtt_sensor, publish_until_seen, value_of};

#[test]
fn readings_and_alerts_from_mqtt() {
    let broker = Rumqttd::start();
    let body = mqtt_section(&broker.url(), "")
        + &mqtt_sensor("room", "sensors/room/temperature", "plain")
        + &mqtt_sensor("freezer", "zigbee2mqtt/freezer", "zigbee2mqtt")
        + &mqtt_sensor("{1}", "sensors/+/temperature", "plain")
        + "[[rule]]\nid = \"room-hot\"\nsensors = [\"room\"]\nabove = 30.0\nhysteresis = 1.0\n";
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_started();
    let mut p = Publisher::connect(broker.port);

    // Until the agent has subscribed, publishes reach nobody.
    let tries = publish_until_seen(&s, &mut p, "sensors/room/temperature", "21.5", "room", 21.5);
    let mut published = 0u64; // after the subscription is known to exist
    p.publish(
        "zigbee2mqtt/freezer",
        r#"{"temperature":-18.5,"humidity":40,"linkquality":120}"#,
    );
    p.publish("sensors/lab/temperature", "19.0");
    published += 2;
    let st = s.wait_status("freezer -18.5 and the discovered lab 19.0", |st| {
        value_of(st, "freezer") == Some(-18.5) && value_of(st, "lab") == Some(19.0)
    });
    assert_eq!(value_of(&st, "room"), Some(21.5), "{st:#}");
    let lab = find_sensor(&st, "lab").unwrap();
    assert_eq!(lab["kind"], "mqtt", "{st:#}");
    assert!(lab["fault"].is_null(), "{st:#}");
    assert_eq!(sensor_status(&st, "freezer")["kind"], "mqtt");
    assert_eq!(alert_state(&st, "room-hot", "room"), "ok", "{st:#}");

    // Over the threshold: firing; back under threshold - hysteresis: resolved.
    p.publish("sensors/room/temperature", "31");
    published += 1;
    let firing = agent.wait_event("firing for room", |e| e.is("firing", "room"));
    assert_eq!(firing.level, "WARN");
    assert_eq!(firing.get("rule"), "room-hot");
    assert_eq!(firing.get("value"), "31");
    assert_eq!(firing.get("threshold"), "30");
    let st = s.wait_status("room-hot firing", |st| {
        alert_state(st, "room-hot", "room") == "firing"
    });
    assert_eq!(value_of(&st, "room"), Some(31.0));
    p.publish("sensors/room/temperature", "28.5");
    published += 1;
    let resolved = agent.wait_event("resolved for room", |e| e.is("resolved", "room"));
    assert_eq!(resolved.get("rule"), "room-hot");
    assert_eq!(resolved.get("value"), "28.5");
    s.wait_status("room-hot ok again", |st| {
        alert_state(st, "room-hot", "room") == "ok"
    });

    // A bad payload is a fault of that sensor only.
    p.publish("sensors/room/temperature", "not a number");
    published += 1;
    let fault = agent.wait_event("sensor_fault for room", |e| e.is("sensor_fault", "room"));
    assert_eq!(fault.level, "WARN");
    let line = agent
        .lines()
        .into_iter()
        .find(|l| l.contains("event=\"sensor_fault\"") && l.contains("sensor=\"room\""))
        .unwrap();
    assert!(
        line.contains("not a number"),
        "the fault line should quote the payload: {line}"
    );
    let st = s.wait_status("room's fault in status", |st| {
        find_sensor(st, "room").is_some_and(|r| r["fault"].is_string())
    });
    assert!(
        sensor_status(&st, "room")["fault"]
            .as_str()
            .unwrap()
            .contains("not a number"),
        "{st:#}"
    );
    // A second bad payload is not logged again (rate limit).
    p.publish("sensors/room/temperature", "also bad");
    published += 1;

    // The other sensors go on.
    p.publish(
        "zigbee2mqtt/freezer",
        r#"{"temperature":-17.25,"humidity":41,"linkquality":118}"#,
    );
    p.publish("sensors/lab/temperature", "18.75");
    published += 2;
    let st = s.wait_status("freezer -17.25 and lab 18.75 after room's fault", |st| {
        value_of(st, "freezer") == Some(-17.25) && value_of(st, "lab") == Some(18.75)
    });
    assert!(sensor_status(&st, "freezer")["fault"].is_null(), "{st:#}");
    assert!(
        find_sensor(&st, "lab").unwrap()["fault"].is_null(),
        "{st:#}"
    );
    // And room recovers with its next good reading (published after the
    // second bad one on the same topic, so that one has been handled).
    p.publish("sensors/room/temperature", "22.0");
    published += 1;
    let st = s.wait_status("room 22 again", |st| value_of(st, "room") == Some(22.0));
    assert!(sensor_status(&st, "room")["fault"].is_null(), "{st:#}");

    let m = &st["mqtt"];
    assert_eq!(m["connected"], true, "{st:#}");
    assert_eq!(m["broker"], broker.url().as_str(), "{st:#}");
    assert_eq!(counter(&st, "connects"), 1, "{st:#}");
    // A publish on room's topic matches two subscriptions: brokers may
    // deliver it once or once per matching subscription (MQTT 3.1.1 3.3.5).
    let room_publishes = 6;
    let messages = counter(&st, "messages");
    let (lo, hi) = (
        published + 1,
        published + u64::from(tries) * 2 + room_publishes,
    );
    assert!(
        (lo..=hi).contains(&messages),
        "mqtt.messages = {messages}, expected {lo}..={hi} ({tries} publishes before the first reading):\n{st:#}"
    );
    assert_eq!(counter(&st, "dropped"), 0, "{st:#}");
    assert_eq!(counter(&st, "retained_ignored"), 0, "{st:#}");
    let mut subs: Vec<&str> = m["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    subs.sort();
    assert_eq!(
        subs,
        // sensors/room/temperature is covered by the template's filter, so
        // it is not subscribed separately (one copy per publish).
        ["sensors/+/temperature", "zigbee2mqtt/freezer"],
        "{st:#}"
    );

    assert!(agent.terminate().success(), "{}", agent.log());
    let events = agent.events();
    let count = |kind: &str| events.iter().filter(|e| e.is(kind, "room")).count();
    assert_eq!(
        (count("firing"), count("resolved"), count("sensor_fault")),
        (1, 1, 1),
        "{}",
        agent.log()
    );
    assert!(
        events.iter().all(|e| e.sensor() == "room"),
        "only room had events:\n{}",
        agent.log()
    );

    // The stored history of room, in order (repeats collapsed: how many
    // readings one publish makes is `overlapping_filters_...`'s business).
    let rows = s.history("room");
    let mut seen: Vec<String> = rows
        .iter()
        .map(|r| match r["value"].as_f64() {
            Some(v) => v.to_string(),
            None => r["fault"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "21.5",
            "31",
            "28.5",
            "unreadable value: payload \"not a number\" is not a number",
            "unreadable value: payload \"also bad\" is not a number",
            "22"
        ],
        "history of room: {rows:?}"
    );
    let freezer: Vec<f64> = s
        .history("freezer")
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .collect();
    assert_eq!(freezer, [-18.5, -17.25]);
}

/// A publish on a topic that two of the agent's filters match (a sensor's
/// own topic and a template's wildcard) is one reading, not one per matching
/// route, nor one per copy the broker sends for each matching subscription.
#[test]
fn overlapping_filters_give_one_reading_per_publish() {
    let broker = Rumqttd::start();
    let body = mqtt_section(&broker.url(), "")
        + &mqtt_sensor("room", "sensors/room/temperature", "plain")
        + &mqtt_sensor("{1}", "sensors/+/temperature", "plain");
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_started();
    let mut p = Publisher::connect(broker.port);
    // A discovered sensor first: once it shows, the agent has subscribed.
    publish_until_seen(&s, &mut p, "sensors/lab/temperature", "19.5", "lab", 19.5);
    for v in ["20", "20.5", "21"] {
        p.publish("sensors/room/temperature", v);
    }
    p.publish("sensors/lab/temperature", "19.75");
    s.wait_status("room 21 and lab 19.75", |st| {
        value_of(st, "room") == Some(21.0) && value_of(st, "lab") == Some(19.75)
    });
    assert!(agent.terminate().success(), "{}", agent.log());
    let room: Vec<f64> = s
        .history("room")
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .collect();
    assert_eq!(
        room,
        [20.0, 20.5, 21.0],
        "one reading per publish on room's topic"
    );
    let lab: Vec<f64> = s
        .history("lab")
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .collect();
    assert_eq!(lab.last(), Some(&19.75));
    assert!(lab.iter().all(|v| [19.5, 19.75].contains(v)), "{lab:?}");
}
