//! Rule errors: sensor globs, thresholds, hysteresis, ids and trends.

use std::time::Duration;

use crate::{check, errors, expect_one, parse_ok, render, toml, with_sim};

#[test]
fn rule_glob_matching_no_sensor() {
    let src = with_sim(&["[[rule]]", "sensors = [\"rack*-inlet\"]", "above = 30.0"]);
    expect_one(
        &src,
        6,
        11,
        "[[rule]] #1: sensors",
        &[
            "\"rack*-inlet\" matches no [[sensor]] id",
            "expected an id or glob matching one of: s1",
        ],
    );
}

#[test]
fn rule_glob_with_invalid_characters() {
    let src = with_sim(&["[[rule]]", "sensors = \"Rack*\"", "above = 30.0"]);
    expect_one(
        &src,
        6,
        11,
        "[[rule]] #1: sensors",
        &["expected sensor ids or globs ([a-z0-9_.-] with * and ?), found \"Rack*\""],
    );
}

#[test]
fn rule_on_a_sensor_with_errors_is_not_reported_again() {
    // The sensor is broken, but it is declared: the rule matching it is fine.
    let src = toml(&[
        "[[sensor]]",
        "id = \"rack1-inlet\"",
        "kind = \"w1\"",
        "[[rule]]",
        "sensors = \"rack*\"",
        "above = 30.0",
    ]);
    expect_one(
        &src,
        1,
        1,
        "[[sensor]] #1: device",
        &["missing: the w1 device id"],
    );
}

#[test]
fn rule_missing_sensors() {
    let src = with_sim(&["[[rule]]", "above = 30.0"]);
    expect_one(
        &src,
        5,
        1,
        "[[rule]] #1: sensors",
        &["missing: the sensor ids or globs this rule watches"],
    );
}

#[test]
fn above_not_greater_than_below() {
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 10.0",
        "below = 10.0",
    ]);
    expect_one(
        &src,
        7,
        9,
        "[[rule]] #1: above",
        &["expected `above` (10) greater than `below` (10)"],
    );
    let src = with_sim(&["[[rule]]", "sensors = \"s1\"", "below = 30", "above = 5"]);
    expect_one(
        &src,
        8,
        9,
        "[[rule]] #1: above",
        &["expected `above` (5) greater than `below` (30)"],
    );
}

#[test]
fn hysteresis_overlapping() {
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "below = 10.0",
        "hysteresis = 10.0",
    ]);
    expect_one(
        &src,
        9,
        14,
        "[[rule]] #1: hysteresis",
        &["expected less than half the distance between `below` (10) and `above` (30), found 10"],
    );
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "hysteresis = -1.0",
    ]);
    expect_one(
        &src,
        8,
        14,
        "[[rule]] #1: hysteresis",
        &["expected a band of 0 or more °C"],
    );
}

#[test]
fn rule_with_no_condition() {
    let src = with_sim(&["[[rule]]", "sensors = \"s1\"", "severity = \"critical\""]);
    expect_one(
        &src,
        5,
        1,
        "[[rule]] #1: above",
        &["expected at least one of `above`, `below` or `stale`"],
    );
}

#[test]
fn rule_ids() {
    let src = with_sim(&[
        "[[rule]]",
        "id = \"Hot!\"",
        "sensors = \"s1\"",
        "above = 30.0",
    ]);
    expect_one(
        &src,
        6,
        6,
        "[[rule]] #1: id",
        &["expected lower-case letters, digits, '_', '.' or '-', found \"Hot!\""],
    );

    // A duplicate is found even when the first rule has an error of its own.
    let src = with_sim(&[
        "[[rule]]",
        "id = \"hot\"",
        "sensors = \"s1\"",
        "above = 30.0",
        "repeat = \"1s\"",
        "[[rule]]",
        "id = \"hot\"",
        "sensors = \"s1\"",
        "above = 40.0",
    ]);
    let errors = errors(&src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        9,
        10,
        "[[rule]] #1: repeat",
        &["expected at least \"1m\""],
    );
    check(
        &errors[1],
        11,
        6,
        "[[rule]] #2: id",
        &[
            "duplicate rule id \"hot\"",
            "expected each [[rule]] to have its own id",
        ],
    );

    // An explicit id may not take a later rule's default one.
    let src = with_sim(&[
        "[[rule]]",
        "id = \"rule-2\"",
        "sensors = \"s1\"",
        "above = 30.0",
        "[[rule]]",
        "sensors = \"s1\"",
        "below = 0.0",
    ]);
    expect_one(
        &src,
        9,
        1,
        "[[rule]] #2: id",
        &[
            "default id \"rule-2\" is taken",
            "expected an explicit `id`",
        ],
    );
}

#[test]
fn trend_is_a_duration_up_to_a_day_or_off() {
    let rule = |trend: &str| {
        with_sim(&[
            "[[rule]]",
            "sensors = \"s1\"",
            "above = 30.0",
            &format!("trend = {trend}"),
        ])
    };
    for (value, fragment) in [
        ("\"2d\"", "expected at most \"24h\""),
        ("\"24h1s\"", "expected at most \"24h\""),
        ("\"0s\"", "expected at least \"1s\", or \"off\" for no trend"),
        ("\"500ms\"", "expected at least \"1s\""),
        (
            "\"none\"",
            "expected \"off\" or a duration like \"500ms\", \"10s\", \"5m\", \"2h\", \"7d\" or \"1h30m\", found the string \"none\"",
        ),
        ("60", "expected \"off\" or a duration"),
        ("false", "expected \"off\" or a duration"),
    ] {
        expect_one(&rule(value), 8, 9, "[[rule]] #1: trend", &[fragment]);
    }
    let ok = parse_ok(&rule("\"24h\""));
    assert_eq!(ok.rules[0].trend, Some(Duration::from_secs(86_400)));
    let ok = parse_ok(&rule("\"off\""));
    assert_eq!(ok.rules[0].trend, None);
    let ok = parse_ok(&rule("\"90m\""));
    assert_eq!(ok.rules[0].trend, Some(Duration::from_secs(5_400)));
}
