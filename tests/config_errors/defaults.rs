//! The documented defaults of a minimal config.

use std::path::PathBuf;
use std::time::Duration;

use edgetherm::config::{SensorSource, Severity, SimPattern};

use crate::{parse_ok, toml, with_sim, FILE};

#[test]
fn minimal_config_has_the_documented_defaults() {
    let c = parse_ok(&toml(&[
        "[[sensor]]",
        "id = \"s1\"",
        "kind = \"sim\"",
        "value = 20.0",
    ]));
    assert_eq!(c.path, PathBuf::from(FILE));
    assert_eq!(c.agent.data_dir, PathBuf::from("/var/lib/edgetherm"));
    assert_eq!(c.agent.sysfs_root, PathBuf::from("/"));
    assert!(!c.agent.gateway_id.is_empty());
    assert_eq!(c.agent.site, None);
    assert_eq!(c.agent.log_level, None);
    assert_eq!(c.buffer.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(c.buffer.max_disk, 256 * 1024 * 1024);
    assert_eq!(c.buffer.flush_interval, Duration::from_secs(60));
    assert!(c.relay.is_none());
    assert!(c.mqtt.is_none());
    assert!(c.rules.is_empty());
    assert_eq!(c.sensors.len(), 1);
    let s = &c.sensors[0];
    assert_eq!(s.id, "s1");
    assert_eq!(s.name, None);
    assert_eq!(s.display_name(), "s1");
    assert_eq!(s.interval, Duration::from_secs(10));
    assert_eq!(s.source, SensorSource::Sim(SimPattern::Constant(20.0)));
    assert_eq!(c.sensor("s1").map(|s| s.id.as_str()), Some("s1"));

    // A sim sensor with no pattern is a constant one.
    let c = parse_ok(&toml(&[
        "[[sensor]]",
        "id = \"s1\"",
        "kind = \"sim\"",
        "value = 3",
    ]));
    assert_eq!(
        c.sensors[0].source,
        SensorSource::Sim(SimPattern::Constant(3.0))
    );
}

#[test]
fn minimal_rule_has_the_documented_defaults() {
    let c = parse_ok(&with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30",
        "[[rule]]",
        "sensors = \"s*\"",
        "stale = \"1m\"",
    ]));
    let r = &c.rules[0];
    assert_eq!(r.id, "rule-1");
    assert_eq!(r.sensors, vec!["s1".to_string()]);
    assert_eq!(r.above, Some(30.0));
    assert_eq!(r.below, None);
    assert_eq!(r.hysteresis, 0.0);
    assert_eq!(r.for_, Duration::ZERO);
    assert_eq!(r.stale, None);
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.repeat, None);
    assert_eq!(r.flap_window, Duration::from_secs(600));
    assert_eq!(r.flap_changes, 6);
    assert_eq!(r.trend, Some(Duration::from_secs(3600)));
    assert!(r.covers("s1"));
    assert_eq!(c.rules[1].id, "rule-2");
    assert_eq!(c.rules[1].stale, Some(Duration::from_secs(60)));
    assert!(c.rules[1].covers("s1"));
}

#[test]
fn defaults_of_other_kinds() {
    let src = toml(&[
        "[agent]",
        "gateway_id = \"gw\"",
        "[mqtt]",
        "url = \"mqtt://127.0.0.1:1883\"",
        "[[sensor]]",
        "id = \"cpu\"",
        "kind = \"hwmon\"",
        "chip = \"cpu_thermal\"",
        "[[sensor]]",
        "id = \"room\"",
        "kind = \"i2c\"",
        "chip = \"sht4x\"",
        "[[sensor]]",
        "id = \"f\"",
        "kind = \"mqtt\"",
        "topic = \"t\"",
    ]);
    let c = parse_ok(&src);
    assert_eq!(
        c.sensors[0].source,
        SensorSource::Hwmon {
            chip: "cpu_thermal".into(),
            input: "temp1".into()
        }
    );
    assert_eq!(
        c.sensors[1].source,
        SensorSource::I2c {
            bus: PathBuf::from("/dev/i2c-1"),
            chip: "sht4x".into(),
            address: 0x44
        }
    );
    assert_eq!(
        c.sensors[2].source,
        SensorSource::Mqtt {
            topic: "t".into(),
            format: "plain".into(),
            field: None,
            unit: None,
            range: (-80.0, 200.0),
        }
    );
    let m = c.mqtt.unwrap();
    assert_eq!(m.client_id, "edgetherm-gw");
    assert_eq!(m.keep_alive, Duration::from_secs(60));
}
