//! Errors in the `[relay]` and `[mqtt]` sections.

use crate::{expect_one, parse_ok, toml};

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
