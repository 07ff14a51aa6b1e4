//! The one-pass readers answer only where the tree gives the same answer.

use proptest::prelude::*;

use super::super::{json, shelly, tasmota, tree, zigbee2mqtt};
use super::props::json_value;
use super::shelly::*;
use super::tasmota::*;
use super::zigbee2mqtt::*;

const POINTERS: [&str; 6] = [
    "",
    "/t",
    "/temperature",
    "/a/0",
    "/params/temperature:0/tC",
    "/",
];

/// Fails if a one-pass reader answers `text` differently from the tree.
fn agree(text: &str) -> Result<(), TestCaseError> {
    if let Some(raw) = tasmota::fast(text) {
        prop_assert_eq!(tasmota::from_tree(text, None), Ok(raw), "tasmota {}", text);
    }
    if let Some(raw) = zigbee2mqtt::fast(text) {
        prop_assert_eq!(zigbee2mqtt::from_tree(text, None), Ok(raw), "z2m {}", text);
    }
    if let Some(raw) = shelly::fast(text) {
        prop_assert_eq!(shelly::from_tree(text, None), Ok(raw), "shelly {}", text);
    }
    for pointer in POINTERS {
        if let Some(x) = json::fast(text, pointer) {
            let doc = tree::parse_json(text);
            prop_assert!(doc.is_ok(), "json {} {}", pointer, text);
            let doc = doc.unwrap();
            prop_assert_eq!(
                tree::number_at(&doc, pointer, text),
                Ok(x),
                "json {} {}",
                pointer,
                text
            );
        }
    }
    Ok(())
}

#[test]
fn fixtures_take_the_one_pass_path() {
    for text in [TASMOTA_DS18B20, TASMOTA_MULTI, TASMOTA_F, TASMOTA_ESP32] {
        assert!(tasmota::fast(text).is_some(), "{text}");
        agree(text).unwrap();
    }
    for text in [Z2M_PLAIN, Z2M_ISO, Z2M_ISO_LOCAL, Z2M_EPOCH, Z2M_THERMOSTAT] {
        assert!(zigbee2mqtt::fast(text).is_some(), "{text}");
        agree(text).unwrap();
    }
    for text in [
        SHELLY_STATUS,
        SHELLY_NOTIFY,
        SHELLY_NOTIFY_HUMIDITY,
        SHELLY_FULL_STATUS,
    ] {
        assert!(shelly::fast(text).is_some(), "{text}");
        agree(text).unwrap();
    }
    let bench = r#"{"sensor":"s17","t":23.5,"ts":1795288628041.207}"#;
    assert_eq!(json::fast(bench, "/t"), Some((23.5, None)));
    // What the tree refuses, the one pass must not accept: a number beyond
    // f64 and a lone surrogate in a member nobody reads, nesting past the limit.
    for text in [
        r#"{"t":1,"x":1e999}"#,
        r#"{"t":1,"x":"\ud800"}"#,
        &format!(r#"{{"t":1,"x":{}{}}}"#, "[".repeat(200), "]".repeat(200)),
    ] {
        assert_eq!(json::fast(text, "/t"), None, "{text}");
        assert!(tree::parse_json(text).is_err(), "{text}");
    }
    // The tree words faults: a null is not for the one pass.
    assert_eq!(json::fast(r#"{"t":null}"#, "/t"), None);
    assert_eq!(tasmota::fast(TASMOTA_STATUS10), None);
    assert_eq!(shelly::fast(SHELLY_STATUS_ERROR), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn one_pass_agrees_with_the_tree_on_json_trees(v in json_value()) {
        agree(&v.to_string())?;
    }

    #[test]
    fn one_pass_agrees_with_the_tree_on_duplicate_members(
        a in json_value(), b in json_value(), key in prop_oneof![
            Just("temperature"), Just("t"), Just("tC"), Just("params"), Just("DS18B20"), Just("TempUnit"), Just("last_seen"),
        ],
    ) {
        // serde_json's Value cannot repeat a member; text can.
        agree(&format!(r#"{{"{key}":{a},"x":1,"{key}":{b}}}"#))?;
        agree(&format!(r#"{{"DS18B20":{{"Temperature":{a}}},"{key}":{b},"DS18B20":{{"Temperature":{b}}}}}"#))?;
    }
}
