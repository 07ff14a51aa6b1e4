//! `kind = "mqtt"` sensors: id templates from wildcard topics, filters, `range`.

use super::*;

fn mqtt(sensor: &[&str]) -> String {
    let mut lines = vec!["[mqtt]", "url = \"mqtt://127.0.0.1:1883\"", "[[sensor]]"];
    lines.extend_from_slice(sensor);
    toml(&lines)
}

#[test]
fn template_id_from_a_wildcard_topic_parses() {
    let c = parse_ok(&mqtt(&[
        "id = \"{1}\"",
        "kind = \"mqtt\"",
        "topic = \"sensors/+/temperature\"",
    ]));
    assert!(c.sensors[0].is_template());
    let c = parse_ok(&mqtt(&[
        "id = \"z-{1}\"",
        "kind = \"mqtt\"",
        "topic = \"zigbee2mqtt/#\"",
        "format = \"zigbee2mqtt\"",
    ]));
    assert_eq!(c.sensors[0].id, "z-{1}");
}

#[test]
fn template_needs_enough_wildcards() {
    expect_one(
        &mqtt(&[
            "id = \"{2}\"",
            "kind = \"mqtt\"",
            "topic = \"sensors/+/temperature\"",
        ]),
        4,
        6,
        "[[sensor]] #1: id",
        &["expected at most {1} in the id", "1 wildcard level"],
    );
}

#[test]
fn template_only_for_mqtt() {
    expect_one(
        &toml(&[
            "[[sensor]]",
            "id = \"{1}\"",
            "kind = \"sim\"",
            "value = 1.0",
        ]),
        2,
        6,
        "[[sensor]] #1: id",
        &["templates like \"{1}\" only work for mqtt sensors"],
    );
}

#[test]
fn invalid_topic_filter() {
    expect_one(
        &mqtt(&[
            "id = \"x\"",
            "kind = \"mqtt\"",
            "topic = \"sensors/#/temperature\"",
        ]),
        6,
        9,
        "[[sensor]] #1: topic",
        &["expected an MQTT topic or filter"],
    );
}

#[test]
fn range_must_be_a_rising_pair() {
    for bad in [
        "range = [200.0, -80.0]",
        "range = [1.0]",
        "range = \"wide\"",
    ] {
        expect_one(
            &mqtt(&["id = \"x\"", "kind = \"mqtt\"", "topic = \"t\"", bad]),
            7,
            9,
            "[[sensor]] #1: range",
            &["expected [lowest, highest] in °C"],
        );
    }
    let c = parse_ok(&mqtt(&[
        "id = \"x\"",
        "kind = \"mqtt\"",
        "topic = \"t\"",
        "range = [-40, 150.5]",
    ]));
    match &c.sensors[0].source {
        edgetherm::config::SensorSource::Mqtt { range, .. } => assert_eq!(*range, (-40.0, 150.5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_globs_may_target_ids_from_topics() {
    let mut src = mqtt(&[
        "id = \"{1}\"",
        "kind = \"mqtt\"",
        "topic = \"sensors/+/temperature\"",
    ]);
    src += "[[rule]]\nsensors = [\"freezer-*\"]\nabove = -15.0\n";
    let c = parse_ok(&src);
    assert!(c.rules[0].covers("freezer-2"));
}
