//! Config errors: every problem reported, each with file:line:column, the key
//! and what was expected; plus the shipped example configs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgetherm::config::{Config, ConfigError, LoadError, SensorSource, Severity, SimPattern};
use proptest::prelude::*;

const FILE: &str = "test.toml";

/// Joins lines with `\n` (and a final newline), so that line N of the file
/// is `lines[N - 1]`.
fn toml(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// A valid sim sensor `s1`, lines 1 to 4, followed by `more`.
fn with_sim(more: &[&str]) -> String {
    let mut lines = vec![
        "[[sensor]]",
        "id = \"s1\"",
        "kind = \"sim\"",
        "value = 20.0",
    ];
    lines.extend_from_slice(more);
    toml(&lines)
}

fn parse(src: &str) -> Result<Config, LoadError> {
    Config::parse(Path::new(FILE), src)
}

fn parse_ok(src: &str) -> Config {
    match parse(src) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}\n--- config:\n{src}"),
    }
}

/// Every error of an invalid config.
fn errors(src: &str) -> Vec<ConfigError> {
    match parse(src) {
        Err(LoadError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "LoadError::Invalid must not be empty");
            errors
        }
        Err(e @ LoadError::Read { .. }) => panic!("unexpected read error: {e}"),
        Ok(_) => panic!("expected errors, but the config parsed:\n{src}"),
    }
}

/// The only error of an invalid config (more than one fails the test: no
/// follow-on noise).
fn one_error(src: &str) -> ConfigError {
    let mut errors = errors(src);
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error, got:\n{}",
        render(&errors)
    );
    errors.remove(0)
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks location, key and message fragments, and that `Display` carries
/// them all as `file:line:col: key: message`.
#[track_caller]
fn check(e: &ConfigError, line: usize, column: usize, key: &str, fragments: &[&str]) {
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "wrong location for: {e}"
    );
    assert_eq!(e.key, key, "wrong key for: {e}");
    assert_eq!(e.file, PathBuf::from(FILE));
    for f in fragments {
        assert!(e.message.contains(f), "message lacks {f:?}: {e}");
    }
    let shown = e.to_string();
    let prefix = format!("{FILE}:{line}:{column}: {key}: ");
    assert!(
        shown.starts_with(&prefix),
        "{shown:?} does not start with {prefix:?}"
    );
}

/// The single error of `src`, checked.
#[track_caller]
fn expect_one(src: &str, line: usize, column: usize, key: &str, fragments: &[&str]) {
    check(&one_error(src), line, column, key, fragments);
}

// ---------------------------------------------------------------------------
// TOML syntax

#[test]
fn invalid_toml_syntax_is_located() {
    let src = toml(&["[agent]", "gateway_id = dc1-gw01"]);
    let e = one_error(&src);
    assert_eq!((e.line, e.column), (2, 14), "{e}");
    assert_eq!(e.key, "");
    assert!(e.message.starts_with("invalid TOML: "), "{e}");
    assert!(e.message.contains("expected"), "{e}");
    assert!(
        e.to_string().starts_with("test.toml:2:14: invalid TOML: "),
        "{e}"
    );

    let e = one_error(&toml(&["[agent]", "site = \"x\"", "[buffer"]));
    assert_eq!((e.line, e.column), (3, 8), "{e}");
    assert!(e.message.contains("expected `]`"), "{e}");
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let e = one_error(&toml(&["[agent]", "site = \"a\"", "site = \"b\""]));
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.starts_with("invalid TOML: "), "{e}");
}

// ---------------------------------------------------------------------------
// Unknown keys

#[test]
fn unknown_key_at_top_level() {
    // A common slip: an [agent] key written before any table header.
    let src = toml(&["gateway_id = \"gw\"", "[agent]", "site = \"x\""]);
    expect_one(
        &src,
        1,
        1,
        "gateway_id",
        &[
            "unknown key in the top level",
            "expected one of: agent, buffer, mqtt, relay, rule, sensor",
        ],
    );
}

#[test]
fn unknown_key_in_agent() {
    let src = toml(&["[agent]", "gateway_id = \"gw\"", "hostname = \"x\""]);
    expect_one(
        &src,
        3,
        1,
        "[agent] hostname",
        &[
            "unknown key in [agent]",
            "expected one of: data_dir, gateway_id, log_level, site, sysfs_root",
        ],
    );
}

#[test]
fn unknown_key_in_buffer() {
    let src = toml(&["[buffer]", "retention = \"7d\"", "  max_size = \"1GiB\""]);
    expect_one(
        &src,
        3,
        3,
        "[buffer] max_size",
        &[
            "unknown key in [buffer]",
            "expected one of: flush_interval, max_disk, retention",
        ],
    );
}

#[test]
fn unknown_key_in_relay_and_mqtt() {
    let src = toml(&[
        "[relay]",
        "url = \"https://relay.example.com\"",
        "token_file = \"/t\"",
        "insecure = true",
        "[mqtt]",
        "url = \"mqtt://127.0.0.1:1883\"",
        "user = \"gw\"",
    ]);
    let errors = errors(&src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        4,
        1,
        "[relay] insecure",
        &[
            "unknown key in [relay]",
            "expected one of: ca_file, heartbeat, token, token_file, url",
        ],
    );
    check(
        &errors[1],
        7,
        1,
        "[mqtt] user",
        &["unknown key in [mqtt]", "expected one of:", "username"],
    );
}

#[test]
fn unknown_key_in_sensor() {
    let src = with_sim(&["colour = \"blue\""]);
    expect_one(
        &src,
        5,
        1,
        "[[sensor]] #1: colour",
        &[
            "unknown key in this [[sensor]]",
            "expected one of: id, interval, kind, name, pattern, value",
        ],
    );
}

#[test]
fn key_of_another_kind_is_unknown() {
    // `chip` is a hwmon/i2c key, not a w1 one.
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"w1\"",
        "device = \"28-0316a2791bff\"",
        "chip = \"bme280\"",
    ]);
    expect_one(
        &src,
        5,
        1,
        "[[sensor]] #1: chip",
        &[
            "unknown key in this [[sensor]] (keys depend on `kind`)",
            "expected one of: device, id, interval, kind, name",
        ],
    );
}

#[test]
fn unknown_key_in_rule() {
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "threshold = 30.0",
    ]);
    expect_one(&src, 8, 1, "[[rule]] #1: threshold", &[
        "unknown key in [[rule]]",
        "expected one of: above, below, flap_changes, flap_window, for, hysteresis, id, repeat, sensors, severity, stale",
    ]);
}

#[test]
fn unknown_key_in_sim_point() {
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"sim\"",
        "pattern = \"points\"",
        "points = [{ at = \"0s\", value = 1.0, hold = \"5s\" }]",
    ]);
    expect_one(
        &src,
        5,
        37,
        "[[sensor]] #1: points[].hold",
        &[
            "unknown key in a sim point",
            "expected one of: at, fault, value",
        ],
    );
}

#[test]
fn typo_gets_a_suggestion() {
    let src = with_sim(&["intervall = \"5s\""]);
    expect_one(
        &src,
        5,
        1,
        "[[sensor]] #1: intervall",
        &["(did you mean `interval`?)", "expected one of:"],
    );

    let src = toml(&["[buffer]", "retension = \"7d\""]);
    expect_one(
        &src,
        2,
        1,
        "[buffer] retension",
        &["(did you mean `retention`?)"],
    );
}

#[test]
fn no_far_fetched_suggestion() {
    // `min` is two edits from `id` and from `kind`; suggesting either would only confuse.
    let src = with_sim(&["min = 1.0"]);
    let e = one_error(&src);
    check(&e, 5, 1, "[[sensor]] #1: min", &["unknown key"]);
    assert!(!e.message.contains("did you mean"), "{e}");
}

// ---------------------------------------------------------------------------
// Wrong types

#[test]
fn string_where_number_expected() {
    let src = with_sim(&["[[rule]]", "sensors = \"s1\"", "above = \"30\""]);
    expect_one(
        &src,
        7,
        9,
        "[[rule]] #1: above",
        &["expected a number (°C), found the string \"30\""],
    );
}

#[test]
fn number_where_string_expected() {
    let src = toml(&["[agent]", "site = 42"]);
    expect_one(
        &src,
        2,
        8,
        "[agent] site",
        &["expected a string, found the integer 42"],
    );

    let src = toml(&["[agent]", "gateway_id = 1.5"]);
    expect_one(
        &src,
        2,
        14,
        "[agent] gateway_id",
        &["expected a string, found the number 1.5"],
    );
}

#[test]
fn table_where_string_expected() {
    let src = toml(&["[agent]", "data_dir = { path = \"/srv\" }"]);
    expect_one(
        &src,
        2,
        12,
        "[agent] data_dir",
        &["expected a string, found a table"],
    );
}

#[test]
fn other_type_mismatches() {
    // A section given as a value.
    expect_one(
        &toml(&["agent = \"gw\""]),
        1,
        9,
        "agent",
        &["expected a table, found the string \"gw\""],
    );
    // [sensor] instead of [[sensor]].
    expect_one(
        &toml(&["[sensor]", "id = \"a\""]),
        1,
        1,
        "sensor",
        &["expected an array of tables ([[sensor]]), found a table"],
    );
    // A boolean where a number is expected.
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "hysteresis = true",
    ]);
    expect_one(
        &src,
        8,
        14,
        "[[rule]] #1: hysteresis",
        &["expected a number (°C), found true"],
    );
    // An integer out of range, written in hex: shown as written.
    let src = toml(&[
        "[[sensor]]",
        "id = \"a\"",
        "kind = \"i2c\"",
        "chip = \"bme280\"",
        "address = 0x78",
    ]);
    expect_one(
        &src,
        5,
        11,
        "[[sensor]] #1: address",
        &["expected an integer from 3 to 119, found the integer 0x78"],
    );
    // A float where an integer is expected.
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "flap_changes = 6.5",
    ]);
    expect_one(
        &src,
        8,
        16,
        "[[rule]] #1: flap_changes",
        &["expected an integer from 2 to 1000, found the number 6.5"],
    );
    // An array of numbers where sensor ids are expected.
    let src = with_sim(&["[[rule]]", "sensors = [1, 2]", "above = 30.0"]);
    expect_one(
        &src,
        6,
        11,
        "[[rule]] #1: sensors",
        &["expected a string or an array of strings, found an array"],
    );
}

#[test]
fn choice_lists_the_choices() {
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "severity = \"high\"",
    ]);
    expect_one(
        &src,
        8,
        12,
        "[[rule]] #1: severity",
        &["expected one of \"info\", \"warning\" or \"critical\", found the string \"high\""],
    );
}

// ---------------------------------------------------------------------------
// Durations and sizes

#[test]
fn bad_durations() {
    let src = toml(&[
        "[buffer]",
        "retention = \"10 parsecs\"",
        "flush_interval = \"10\"",
    ]);
    let errors = errors(&src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    let hint = "expected a duration like \"500ms\", \"10s\", \"5m\", \"2h\", \"7d\" or \"1h30m\"";
    check(
        &errors[0],
        2,
        13,
        "[buffer] retention",
        &[hint, "found the string \"10 parsecs\""],
    );
    check(
        &errors[1],
        3,
        18,
        "[buffer] flush_interval",
        &[hint, "found the string \"10\""],
    );
}

#[test]
fn duration_given_as_a_number() {
    let src = with_sim(&["interval = 10"]);
    expect_one(
        &src,
        5,
        12,
        "[[sensor]] #1: interval",
        &["expected a duration like", "found the integer 10"],
    );
}

#[test]
fn durations_out_of_range() {
    expect_one(
        &toml(&["[buffer]", "retention = \"30s\""]),
        2,
        13,
        "[buffer] retention",
        &["expected at least \"1m\""],
    );
    expect_one(
        &toml(&["[buffer]", "flush_interval = \"2h\""]),
        2,
        18,
        "[buffer] flush_interval",
        &["expected between \"100ms\" and \"1h\""],
    );
    expect_one(
        &with_sim(&["interval = \"10ms\""]),
        5,
        12,
        "[[sensor]] #1: interval",
        &["expected at least \"100ms\""],
    );
    let src = with_sim(&[
        "[[rule]]",
        "sensors = \"s1\"",
        "above = 30.0",
        "repeat = \"10s\"",
    ]);
    expect_one(
        &src,
        8,
        10,
        "[[rule]] #1: repeat",
        &["expected at least \"1m\""],
    );
    let src = with_sim(&["[[rule]]", "sensors = \"s1\"", "stale = \"500ms\""]);
    expect_one(
        &src,
        7,
        9,
        "[[rule]] #1: stale",
        &["expected at least \"1s\""],
    );
}

#[test]
fn bad_sizes() {
    let hint = "expected a size like \"512KiB\", \"256MiB\", \"1GiB\" or \"100MB\"";
    expect_one(
        &toml(&["[buffer]", "max_disk = \"lots\""]),
        2,
        12,
        "[buffer] max_disk",
        &[hint, "found the string \"lots\""],
    );
    expect_one(
        &toml(&["[buffer]", "max_disk = \"256\""]),
        2,
        12,
        "[buffer] max_disk",
        &[hint, "found the string \"256\""],
    );
    expect_one(
        &toml(&["[buffer]", "max_disk = 256"]),
        2,
        12,
        "[buffer] max_disk",
        &[hint, "found the integer 256"],
    );
}

#[test]
fn max_disk_too_small() {
    expect_one(
        &toml(&["[buffer]", "max_disk = \"512KiB\""]),
        2,
        12,
        "[buffer] max_disk",
        &["expected at least \"1MiB\""],
    );
}

// ---------------------------------------------------------------------------
// Sensors

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

// ---------------------------------------------------------------------------
// Rules

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

// ---------------------------------------------------------------------------
// [relay] and [mqtt]

#[test]
fn relay_plain_http_to_a_remote_host() {
    let src = toml(&[
        "[relay]",
        "url = \"http://relay.example.com\"",
        "token_file = \"/etc/edgetherm/relay.token\"",
    ]);
    expect_one(
        &src,
        2,
        7,
        "[relay] url",
        &[
            "expected an https:// URL (http:// only for 127.0.0.1, [::1] or localhost",
            "found \"http://relay.example.com\"",
        ],
    );

    // A loopback-looking user part does not make the host loopback.
    let src = toml(&[
        "[relay]",
        "url = \"http://localhost@relay.example.com\"",
        "token_file = \"/t\"",
    ]);
    expect_one(&src, 2, 7, "[relay] url", &["expected an https:// URL"]);

    // Plain http to loopback is fine; a trailing slash is dropped.
    let src = toml(&[
        "[relay]",
        "url = \"http://127.0.0.1:3978/\"",
        "token_file = \"/t\"",
    ]);
    assert_eq!(parse_ok(&src).relay.unwrap().url, "http://127.0.0.1:3978");
}

#[test]
fn relay_missing_token() {
    let src = toml(&[
        "[agent]",
        "site = \"x\"",
        "",
        "[relay]",
        "url = \"https://relay.example.com\"",
    ]);
    expect_one(
        &src,
        4,
        1,
        "[relay] token_file",
        &["missing: the gateway token"],
    );
}

#[test]
fn relay_missing_url() {
    let src = toml(&["[relay]", "token_file = \"/t\""]);
    expect_one(
        &src,
        1,
        1,
        "[relay] url",
        &["missing: the relay's base URL"],
    );
}

#[test]
fn secret_given_twice() {
    let src = toml(&[
        "[relay]",
        "url = \"https://r.example\"",
        "token = \"abc\"",
        "token_file = \"/t\"",
    ]);
    expect_one(
        &src,
        4,
        14,
        "[relay] token_file",
        &["expected either `token` or `token_file`, not both"],
    );
}

#[test]
fn mqtt_client_cert_without_key() {
    let src = toml(&[
        "[mqtt]",
        "url = \"mqtts://broker:8883\"",
        "client_cert_file = \"/c.pem\"",
    ]);
    expect_one(
        &src,
        1,
        1,
        "[mqtt] client_key_file",
        &["expected both `client_cert_file` and `client_key_file`"],
    );
}

// ---------------------------------------------------------------------------
// Whole files

#[test]
fn several_errors_are_all_reported_in_order() {
    let src = toml(&[
        "unknown_top = 1",            // 1: unknown key
        "[agent]",                    // 2
        "site = 42",                  // 3: wrong type
        "[buffer]",                   // 4
        "retention = \"10 parsecs\"", // 5: bad duration
        "max_disk = \"lots\"",        // 6: bad size
        "[[sensor]]",                 // 7
        "id = \"a\"",                 // 8
        "kind = \"sim\"",             // 9
        "value = 1.0",                // 10
        "intervall = \"5s\"",         // 11: typo
        "[[sensor]]",                 // 12: missing kind
        "id = \"a\"",                 // 13: duplicate id
        "[[rule]]",                   // 14: no condition
        "sensors = [\"nope\"]",       // 15: matches nothing
        "[[rule]]",                   // 16
        "sensors = \"a\"",            // 17
        "above = 1.0",                // 18: above <= below
        "below = 2.0",                // 19
    ]);
    let errors = errors(&src);
    let got: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "unknown_top"),
            (3, 8, "[agent] site"),
            (5, 13, "[buffer] retention"),
            (6, 12, "[buffer] max_disk"),
            (11, 1, "[[sensor]] #1: intervall"),
            (12, 1, "[[sensor]] #2: kind"),
            (13, 6, "[[sensor]] #2: id"),
            (14, 1, "[[rule]] #1: above"),
            (15, 11, "[[rule]] #1: sensors"),
            (18, 9, "[[rule]] #2: above"),
        ],
        "\n{}",
        render(&errors)
    );
    assert!(errors
        .windows(2)
        .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));

    // The combined message has one line per error.
    let shown = LoadError::Invalid(errors.clone()).to_string();
    assert_eq!(shown.lines().count(), errors.len(), "{shown}");
}

#[test]
fn config_path_shows_in_messages() {
    let path = Path::new("/etc/edgetherm/edgetherm.toml");
    let src = toml(&["[agent]", "site = \"x\"", "colour = \"blue\""]);
    let err = Config::parse(path, &src).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "/etc/edgetherm/edgetherm.toml:3:1: [agent] colour: unknown key in [agent]"
        ),
        "{shown}"
    );
    let LoadError::Invalid(errors) = err else {
        panic!("expected LoadError::Invalid")
    };
    assert_eq!(errors[0].file, path);
}

#[test]
fn load_reports_the_path_of_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn load_reads_and_locates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edgetherm.toml");
    std::fs::write(&path, toml(&["[buffer]", "max_disk = \"lots\""])).unwrap();
    let shown = Config::load(&path).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:2:12: [buffer] max_disk: expected a size",
            path.display()
        )),
        "{shown}"
    );
}

#[test]
fn windows_line_endings_give_the_right_lines() {
    let src =
        "[agent]\r\nsite = \"x\"\r\n\r\n  colour = \"blue\"\r\n[buffer]\r\nmax_disk = \"lots\"\r\n";
    let errors = errors(src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        4,
        3,
        "[agent] colour",
        &["unknown key in [agent]"],
    );
    check(
        &errors[1],
        6,
        12,
        "[buffer] max_disk",
        &["expected a size like"],
    );

    // A whole valid config with CRLF parses like its LF twin.
    let lf = std::fs::read_to_string(example("quickstart.toml")).unwrap();
    let crlf = lf.replace('\n', "\r\n");
    let c = parse_ok(&crlf);
    assert_eq!(c.sensors.len(), 2);
}

#[test]
fn columns_count_characters_not_bytes() {
    let src = toml(&["[agent]", "site = \"Kühlraum\"; log_level = 1"]);
    let e = one_error(&src);
    // `;` is the 18th character of the line (but byte 19).
    assert_eq!((e.line, e.column), (2, 18), "{e}");
}

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
            unit: None
        }
    );
    let m = c.mqtt.unwrap();
    assert_eq!(m.client_id, "edgetherm-gw");
    assert_eq!(m.keep_alive, Duration::from_secs(60));
}

// ---------------------------------------------------------------------------
// The shipped examples

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

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
            "topic", "format", "field", "unit", "pattern", "value", "min", "max", "period", "from",
            "to", "at", "points", "cycle", "fault",
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

// ---------------------------------------------------------------------------
// Never panics

/// Applies `edits` to `text`: each `(op, position, byte)` deletes, inserts,
/// replaces a character, or deletes/duplicates a line.
fn mutate(text: &str, edits: &[(u8, usize, char)]) -> String {
    let mut s = text.to_string();
    for &(op, pos, c) in edits {
        let mut at = pos % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match op % 5 {
            0 => {
                if at < s.len() {
                    s.remove(at);
                }
            }
            1 => s.insert(at, c),
            2 => {
                if at < s.len() {
                    s.remove(at);
                }
                s.insert(at, c);
            }
            3 | 4 => {
                let mut lines: Vec<&str> = s.split('\n').collect();
                let i = pos % lines.len();
                if op % 5 == 3 {
                    lines.remove(i);
                } else {
                    lines.insert(i, lines[i]);
                }
                s = lines.join("\n");
            }
            _ => unreachable!(),
        }
    }
    s
}

/// Every error has a location inside the file and the list is sorted.
fn check_well_formed(src: &str, result: &Result<Config, LoadError>) {
    if let Err(LoadError::Invalid(errors)) = result {
        assert!(!errors.is_empty());
        let lines = src.matches('\n').count() + 1;
        for e in errors {
            assert!(e.line >= 1 && e.line <= lines, "line out of range: {e}");
            assert!(e.column >= 1, "{e}");
            assert!(!e.message.is_empty(), "{e}");
        }
        assert!(errors
            .windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));
    }
}

fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '=', '[', ']', '{', '}', '"', '\'', '#', '\n', '\r', '.', ',', '-', '*', '0', '9', 'x',
            'é', '€', ' ', '\t'
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in "\\PC*") {
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_tomlish_text(src in "([\\[\\]{}=\"'#., a-z0-9_\\-\n\r]|é){0,200}") {
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_mutated_examples(
        which in 0..2usize,
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), interesting_char()), 1..8),
    ) {
        let name = ["edgetherm.toml", "quickstart.toml"][which];
        let text = std::fs::read_to_string(example(name)).unwrap();
        let src = mutate(&text, &edits);
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_odd_values(
        key in prop::sample::select(vec![
            "retention", "max_disk", "flush_interval", "interval", "for", "stale", "repeat", "above", "hysteresis",
            "address", "flap_changes", "period", "cycle", "value", "sensors",
        ]),
        value in prop_oneof![
            "\"[0-9.]{0,25}(ms|s|m|h|d|w|B|KiB|MiB|GiB|TB)?\"",
            "-?[0-9]{1,25}",
            "-?[0-9]{1,20}\\.[0-9]{1,20}(e[0-9]{1,3})?",
            Just("inf".to_string()), Just("nan".to_string()), Just("-inf".to_string()),
            Just("0x7fffffffffffffff".to_string()), Just("[]".to_string()), Just("{}".to_string()),
        ],
    ) {
        // Put the key into each place it can go; errors are fine, panics are not.
        for template in [
            format!("[buffer]\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"sim\"\npattern = \"points\"\npoints = [{{ at = \"0s\", value = 1 }}]\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"i2c\"\nchip = \"bme280\"\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"sim\"\npattern = \"sine\"\nmin = 1\nmax = 2\n{key} = {value}\n[[rule]]\nsensors = \"a\"\nabove = 1\n{key} = {value}\n"),
        ] {
            let r = parse(&template);
            check_well_formed(&template, &r);
        }
    }
}
