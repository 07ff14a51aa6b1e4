//! Unknown keys, in every section, with suggestions for typos.

use crate::{check, errors, expect_one, one_error, render, toml, with_sim};

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
        "expected one of: above, below, flap_changes, flap_window, for, hysteresis, id, repeat, sensors, severity, stale, trend",
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
