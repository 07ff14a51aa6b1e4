//! The shipped example configs.

use std::path::PathBuf;
use std::time::Duration;

use edgetherm::config::{Config, SensorSource, Severity, SimPattern};

use crate::example;

#[test]
fn reference_example_parses() {
    let path = example("edgetherm.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = c.sensors.iter().map(|s| s.source.kind()).collect();
    for kind in ["w1", "hwmon", "thermal", "i2c", "mqtt", "sim"] {
        assert!(kinds.contains(&kind), "no {kind} sensor in the example");
    }
    let patterns: Vec<&str> = c
        .sensors
        .iter()
        .filter_map(|s| match &s.source {
            SensorSource::Sim(SimPattern::Constant(_)) => Some("constant"),
            SensorSource::Sim(SimPattern::Sine { .. }) => Some("sine"),
            SensorSource::Sim(SimPattern::Step { .. }) => Some("step"),
            SensorSource::Sim(SimPattern::Points { points, .. }) => {
                assert!(points.iter().any(|p| p.1.is_none()), "show a fault point");
                Some("points")
            }
            _ => None,
        })
        .collect();
    assert_eq!(patterns, ["constant", "sine", "step", "points"]);
    assert!(c.relay.is_some() && c.mqtt.is_some());
    assert_eq!(c.buffer.flush_interval, Duration::from_secs(60));
    let r = &c.rules[0];
    assert_eq!(r.id, "rack-inlet");
    assert!(r.above.is_some() && r.below.is_some() && r.stale.is_some() && r.repeat.is_some());
    assert!(c
        .sensors
        .iter()
        .all(|s| c.rules.iter().any(|r| r.covers(&s.id))
            || s.is_template()
            || s.id.starts_with("sim-")
            || s.id == "cpu"
            || s.id == "soc"));
}

/// Every key the config accepts, by section.
const ALL_KEYS: &[(&str, &[&str])] = &[
    (
        "[agent]",
        &["gateway_id", "site", "data_dir", "sysfs_root", "log_level"],
    ),
    ("[buffer]", &["retention", "max_disk", "flush_interval"]),
    (
        "[relay]",
        &["url", "token", "token_file", "heartbeat", "ca_file"],
    ),
    (
        "[mqtt]",
        &[
            "url",
            "username",
            "password",
            "password_file",
            "ca_file",
            "client_cert_file",
            "client_key_file",
            "client_id",
            "keep_alive",
        ],
    ),
    (
        "[[sensor]]",
        &[
            "id", "name", "kind", "interval", "device", "chip", "input", "zone", "bus", "address",
            "topic", "format", "field", "unit", "range", "pattern", "value", "min", "max",
            "period", "from", "to", "at", "points", "cycle", "fault",
        ],
    ),
    (
        "[[rule]]",
        &[
            "id",
            "sensors",
            "above",
            "below",
            "hysteresis",
            "for",
            "stale",
            "severity",
            "repeat",
            "flap_window",
            "flap_changes",
            "trend",
        ],
    ),
];

#[test]
fn reference_example_shows_every_key_with_a_comment() {
    let text = std::fs::read_to_string(example("edgetherm.toml")).unwrap();
    // Split into sections by header; the [[sensor]] and [[rule]] ones are merged.
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[ ") && t.ends_with(']') && !t.contains('=') {
            sections.push((t.to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    for (header, keys) in ALL_KEYS {
        let body: String = sections
            .iter()
            .filter(|(h, _)| h == header)
            .map(|(_, b)| b.as_str())
            .collect();
        assert!(!body.is_empty(), "no {header} section");
        for key in *keys {
            let shown = body.lines().any(|l| {
                let l = l
                    .trim_start()
                    .trim_start_matches("# ")
                    .trim_start_matches("{ ");
                l.starts_with(&format!("{key} = "))
                    || l.contains(&format!(", {key} = "))
                    || l.contains(&format!("{{ {key} = "))
            });
            assert!(
                shown,
                "{header} `{key}` is not shown in examples/edgetherm.toml"
            );
        }
    }
    // Every default is spelt out somewhere.
    assert!(
        text.matches("Default:").count() >= 30,
        "{}",
        text.matches("Default:").count()
    );
}

#[test]
fn quickstart_parses_and_its_rules_cover_its_sensors() {
    let c = Config::load(&example("quickstart.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.agent.gateway_id, "quickstart");
    assert_eq!(c.agent.data_dir, PathBuf::from("./quickstart-data"));
    assert!(c.agent.data_dir.is_relative());
    assert!(
        c.relay.is_none() && c.mqtt.is_none(),
        "the quickstart needs no cloud"
    );
    assert!(
        c.sensors.iter().all(|s| s.source.kind() == "sim"),
        "the quickstart needs no hardware"
    );

    let freezer = c.sensor("demo-freezer").expect("demo-freezer");
    assert_eq!(freezer.interval, Duration::from_secs(1));
    assert_eq!(
        freezer.source,
        SensorSource::Sim(SimPattern::Points {
            points: vec![
                (Duration::ZERO, Some(-20.0)),
                (Duration::from_secs(15), Some(-12.0)),
                (Duration::from_secs(40), Some(-19.0)),
            ],
            cycle: Some(Duration::from_secs(60)),
        })
    );
    let room = c.sensor("demo-room").expect("demo-room");
    assert_eq!(
        room.source,
        SensorSource::Sim(SimPattern::Sine {
            min: 19.0,
            max: 24.0,
            period: Duration::from_secs(120)
        })
    );

    let warm = c
        .rules
        .iter()
        .find(|r| r.id == "freezer-warm")
        .expect("freezer-warm");
    assert!(warm.covers("demo-freezer"));
    assert!(!warm.covers("demo-room"));
    assert_eq!(warm.above, Some(-15.0));
    assert_eq!(warm.below, None);
    assert_eq!(warm.hysteresis, 1.0);
    assert_eq!(warm.for_, Duration::from_secs(5));
    assert_eq!(warm.severity, Severity::Critical);

    let stale = c
        .rules
        .iter()
        .find(|r| r.covers("demo-room"))
        .expect("a rule for demo-room");
    assert!(
        stale.stale.is_some() && stale.above.is_none() && stale.below.is_none(),
        "stale-only"
    );

    // The alert fires and resolves within the first minute: above -15 from
    // 15s, firing after `for`, back below -15 - hysteresis at 40s.
    let SensorSource::Sim(SimPattern::Points { points, .. }) = &freezer.source else {
        unreachable!()
    };
    let above = warm.above.unwrap();
    let fires = points
        .iter()
        .find(|p| p.1.is_some_and(|v| v > above))
        .unwrap()
        .0
        + warm.for_;
    let resolves = points
        .iter()
        .find(|p| p.0 > fires && p.1.is_some_and(|v| v < above - warm.hysteresis))
        .unwrap()
        .0;
    assert!(
        fires < resolves && resolves < Duration::from_secs(60),
        "{fires:?} {resolves:?}"
    );
}
