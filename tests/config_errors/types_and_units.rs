//! Wrong value types, and bad durations and sizes.

use crate::{check, errors, expect_one, render, toml, with_sim};

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
