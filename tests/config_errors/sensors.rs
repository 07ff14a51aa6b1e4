//! Sensor errors: ids, kinds, missing keys, MQTT sources and sim patterns.

use crate::{check, errors, expect_one, render, toml, with_sim};

#[test]
fn duplicate_sensor_id_points_at_the_second() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "value = 1.0",
        "",
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "value = 2.0",
    ]);
    expect_one(
        &src,
        7,
        6,
        "[[sensor]] #2: id",
        &[
            "duplicate sensor id \"a\"",
            "expected each [[sensor]] to have its own id",
        ],
    );
}

#[test]
fn duplicate_sensor_id_found_even_when_the_first_has_errors() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"w1\"",
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "value = 2.0",
    ]);
    let errors = errors(&src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        1,
        1,
        "[[sensor]] #1: device",
        &["missing: the w1 device id"],
    );
    check(
        &errors[1],
        5,
        6,
        "[[sensor]] #2: id",
        &["duplicate sensor id \"a\""],
    );
}

#[test]
fn invalid_sensor_id_characters() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"Rack 1\"",
        "kind = \"sim\"",
        "value = 1.0",
    ]);
    expect_one(
        &src,
        2,
        6,
        "[[sensor]] #1: id",
        &["expected lower-case letters, digits, '_', '.' or '-' (at most 64), found \"Rack 1\""],
    );
}

#[test]
fn missing_sensor_id() {
    let src = toml(&["[[sensor]]", "kind = \"sim\"", "value = 1.0"]);
    expect_one(
        &src,
        1,
        1,
        "[[sensor]] #1: id",
        &["missing: a stable sensor id"],
    );
}

#[test]
fn missing_kind_is_reported_at_the_sensor() {
    // The second sensor, so the location is its own [[sensor]] header; its
    // kind-specific keys are not reported as unknown on top of that.
    let src = with_sim(&[
        "",
        "[[sensor]]",
        "id = \"b\"",
        "device = \"28-0316a2791bff\"",
    ]);
    expect_one(&src, 6, 1, "[[sensor]] #2: kind", &[
        "missing: the sensor kind, one of \"w1\", \"hwmon\", \"thermal\", \"i2c\", \"mqtt\" or \"sim\"",
    ]);
}

#[test]
fn missing_kind_still_reports_truly_unknown_keys() {
    let src = toml(&["[[sensor]]", "id = \"b\"", "devcie = \"28-0316a2791bff\""]);
    let errors = errors(&src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        1,
        1,
        "[[sensor]] #1: kind",
        &["missing: the sensor kind"],
    );
    check(
        &errors[1],
        3,
        1,
        "[[sensor]] #1: devcie",
        &["unknown key", "(did you mean `device`?)"],
    );
}

#[test]
fn unknown_kind() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"ds18b20\"",
        "device = \"28-0316a2791bff\"",
    ]);
    expect_one(&src, 3, 8, "[[sensor]] #1: kind", &[
        "expected one of \"w1\", \"hwmon\", \"thermal\", \"i2c\", \"mqtt\" or \"sim\", found the string \"ds18b20\"",
    ]);
}

#[test]
fn missing_w1_device() {
    let src = with_sim(&[
        "[[sensor]]",
        "id = \"rack1-inlet\"",
        "kind = \"w1\"",
        "interval = \"10s\"",
    ]);
    expect_one(
        &src,
        5,
        1,
        "[[sensor]] #2: device",
        &["missing: the w1 device id, e.g. \"28-0316a2791bff\""],
    );
}

#[test]
fn missing_keys_of_other_kinds() {
    expect_one(
        &toml(&["[[sensor]]", "id = \"c\"", "kind = \"hwmon\""]),
        1,
        1,
        "[[sensor]] #1: chip",
        &["missing: the hwmon chip's `name`"],
    );
    expect_one(
        &toml(&["[[sensor]]", "id = \"c\"", "kind = \"thermal\""]),
        1,
        1,
        "[[sensor]] #1: zone",
        &["missing: the thermal zone's `type`"],
    );
    expect_one(
        &toml(&["[[sensor]]", "id = \"c\"", "kind = \"i2c\""]),
        1,
        1,
        "[[sensor]] #1: chip",
        &["missing: the chip model, one of \"tmp102\""],
    );
    let src = toml(&[
        "[mqtt]",
        "url = \"mqtt://127.0.0.1:1883\"",
        "[[sensor]]",
        "id = \"c\"",
        "kind = \"mqtt\"",
    ]);
    expect_one(
        &src,
        3,
        1,
        "[[sensor]] #1: topic",
        &["missing: the MQTT topic"],
    );
    let src = toml(&[
        "[[sensor]]",
        "id = \"c\"",
        "kind = \"sim\"",
        "pattern = \"sine\"",
        "min = 1.0",
    ]);
    expect_one(
        &src,
        1,
        1,
        "[[sensor]] #1: max",
        &["missing: a number for pattern = \"sine\""],
    );
}

#[test]
fn mqtt_sensor_without_mqtt_section() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"freezer\"",
        "kind = \"mqtt\"",
        "topic = \"zigbee2mqtt/freezer\"",
    ]);
    expect_one(
        &src,
        3,
        8,
        "[[sensor]] #1: kind",
        &["expected an [mqtt] section naming the broker"],
    );
}

#[test]
fn invalid_mqtt_section_does_not_also_count_as_missing() {
    let src = toml(&[
        "[mqtt]",
        "url = \"tcp://broker\"",
        "[[sensor]]",
        "id = \"f\"",
        "kind = \"mqtt\"",
        "topic = \"t\"",
    ]);
    expect_one(&src, 2, 7, "[mqtt] url", &["expected a URL like \"mqtt://host:1883\" or \"mqtts://host:8883\", found \"tcp://broker\""]);
}

#[test]
fn mqtt_json_without_field() {
    let src = toml(&[
        "[mqtt]",
        "url = \"mqtt://127.0.0.1:1883\"",
        "[[sensor]]",
        "id = \"freezer\"",
        "kind = \"mqtt\"",
        "topic = \"zigbee2mqtt/freezer\"",
        "format = \"json\"",
    ]);
    expect_one(
        &src,
        3,
        1,
        "[[sensor]] #1: field",
        &["missing: a JSON pointer for format = \"json\", e.g. field = \"/temperature\""],
    );

    let src = src.replace(
        "format = \"json\"",
        "format = \"json\"\nfield = \"temperature\"",
    );
    expect_one(
        &src,
        8,
        9,
        "[[sensor]] #1: field",
        &["expected a JSON pointer starting with '/'"],
    );
}

#[test]
fn sim_points_out_of_order() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "pattern = \"points\"",
        "points = [{ at = \"10s\", value = 1.0 }, { at = \"5s\", value = 2.0 }]",
    ]);
    expect_one(
        &src,
        5,
        10,
        "[[sensor]] #1: points",
        &["expected points in increasing `at` order"],
    );
}

#[test]
fn sim_points_other_errors() {
    let base = [
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "pattern = \"points\"",
    ];
    let with = |more: &[&str]| {
        let mut l = base.to_vec();
        l.extend_from_slice(more);
        toml(&l)
    };
    expect_one(
        &with(&["points = []"]),
        5,
        10,
        "[[sensor]] #1: points",
        &["expected at least one point"],
    );
    expect_one(
        &with(&["points = [{ value = 1.0 }]"]),
        5,
        11,
        "[[sensor]] #1: points[].at",
        &["missing: when this point starts"],
    );
    expect_one(
        &with(&["points = [{ at = \"0s\" }]"]),
        5,
        11,
        "[[sensor]] #1: points[].value",
        &["missing: a value, or fault = true"],
    );
    expect_one(
        &with(&["points = [1.0]"]),
        5,
        11,
        "[[sensor]] #1: points",
        &["expected a table like { at = \"10s\", value = 21.5 }"],
    );
    expect_one(
        &with(&[
            "points = [{ at = \"0s\", value = 1.0 }, { at = \"30s\", value = 2.0 }]",
            "cycle = \"30s\"",
        ]),
        5,
        10,
        "[[sensor]] #1: cycle",
        &["expected `cycle` longer than the last point's `at`"],
    );
    expect_one(
        &with(&[]),
        1,
        1,
        "[[sensor]] #1: points",
        &["missing: points = ["],
    );
}

#[test]
fn unknown_sim_pattern_reports_only_the_pattern() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "pattern = \"square\"",
        "min = 1.0",
        "max = 2.0",
    ]);
    expect_one(&src, 4, 11, "[[sensor]] #1: pattern", &["expected one of \"constant\", \"sine\", \"step\" or \"points\", found the string \"square\""]);
}

#[test]
fn sim_sine_min_above_max() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "pattern = \"sine\"",
        "min = 5.0",
        "max = 1.0",
    ]);
    expect_one(
        &src,
        1,
        1,
        "[[sensor]] #1: min",
        &["expected `min` <= `max`"],
    );
}
