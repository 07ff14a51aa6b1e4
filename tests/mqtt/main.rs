//! End to end with a real MQTT broker: the `edgetherm` binary subscribed to
//! mosquitto (a child process, for restarts and TLS) or rumqttd (in-process,
//! always available), fed by a test publisher. Only 127.0.0.1 and processes
//! the tests start; mosquitto tests skip (loudly) when it is not installed,
//! unless `EDGETHERM_REQUIRE_MOSQUITTO=1`.

#[path = "../common/mod.rs"]
mod common;

mod broker;
mod burst;
mod flood;
mod flow;
mod restart;
mod retained;
mod tls;

use std::time::{Duration, Instant};

use broker::Publisher;
use common::Setup;

/// `[mqtt]` for `url` (keep-alive at the agent's minimum).
fn mqtt_section(url: &str, extra: &str) -> String {
    format!("[mqtt]\nurl = \"{url}\"\nkeep_alive = \"5s\"\n{extra}\n")
}

/// One `kind = "mqtt"` sensor.
fn mqtt_sensor(id: &str, topic: &str, format: &str) -> String {
    format!("[[sensor]]\nid = \"{id}\"\nkind = \"mqtt\"\ntopic = \"{topic}\"\nformat = \"{format}\"\n\n")
}

/// A sensor's entry in a status answer, if present.
fn find_sensor<'a>(status: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    status["sensors"].as_array()?.iter().find(|s| s["id"] == id)
}

/// A sensor's value in a status answer, if it has one.
fn value_of(status: &serde_json::Value, id: &str) -> Option<f64> {
    find_sensor(status, id)?["value"].as_f64()
}

/// The `mqtt` object of a status answer.
fn mqtt_of(status: &serde_json::Value) -> &serde_json::Value {
    let m = &status["mqtt"];
    assert!(m.is_object(), "status has no mqtt object:\n{status:#}");
    m
}

/// A counter of the `mqtt` object.
fn counter(status: &serde_json::Value, key: &str) -> u64 {
    mqtt_of(status)[key]
        .as_u64()
        .unwrap_or_else(|| panic!("mqtt.{key} is not a count:\n{status:#}"))
}

/// Publishes `payload` on `topic` (QoS 1) until status shows `value` for
/// `sensor`: the agent subscribes right after its ConnAck, so the first
/// publishes may go to nobody. Returns how many publishes it took.
fn publish_until_seen(
    s: &Setup,
    p: &mut Publisher,
    topic: &str,
    payload: &str,
    sensor: &str,
    value: f64,
) -> u32 {
    let deadline = Instant::now() + common::PATIENCE;
    let mut n = 0;
    loop {
        p.publish(topic, payload);
        n += 1;
        let round = Instant::now() + Duration::from_millis(700);
        while Instant::now() < round {
            let out = s.cli(&["status", "--json"]);
            if out.code == Some(0) {
                let st: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
                if value_of(&st, sensor) == Some(value) {
                    return n;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            Instant::now() < deadline,
            "{sensor} never showed {value} after {n} publishes of {payload:?} on {topic}; status:\n{:#}",
            s.status()
        );
    }
}
