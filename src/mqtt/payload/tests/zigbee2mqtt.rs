use super::*;

// --- Zigbee2MQTT ---------------------------------------------------

pub(super) const Z2M_PLAIN: &str =
    r#"{"battery":100,"humidity":48.21,"linkquality":120,"temperature":21.37,"voltage":3025}"#;
pub(super) const Z2M_ISO: &str = r#"{"battery":97,"humidity":55.1,"last_seen":"2026-11-21T10:00:00.000Z","linkquality":87,"temperature":-18.4,"voltage":2985}"#;
pub(super) const Z2M_ISO_LOCAL: &str = r#"{"battery":97,"humidity":55.1,"last_seen":"2026-11-21T11:00:00.000+01:00","linkquality":87,"temperature":-18.4}"#;
pub(super) const Z2M_EPOCH: &str =
    r#"{"battery":97,"last_seen":1795255200123,"linkquality":87,"temperature":-18.4}"#;
pub(super) const Z2M_THERMOSTAT: &str = r#"{"current_heating_setpoint":21,"local_temperature":19.5,"system_mode":"heat","running_state":"heat","linkquality":76}"#;

#[test]
fn zigbee2mqtt_temperature_without_last_seen() {
    let s = spec(Format::Zigbee2mqtt);
    assert_eq!(
        ok(&s, Z2M_PLAIN),
        Parsed {
            celsius: 21.37,
            stamp_ms: None
        }
    );
}

#[test]
fn zigbee2mqtt_last_seen_iso_and_epoch() {
    let s = spec(Format::Zigbee2mqtt);
    let want = ms("2026-11-21T10:00:00Z");
    assert_eq!(
        ok(&s, Z2M_ISO),
        Parsed {
            celsius: -18.4,
            stamp_ms: Some(want)
        }
    );
    assert_eq!(ok(&s, Z2M_ISO_LOCAL).stamp_ms, Some(want));
    assert_eq!(ok(&s, Z2M_EPOCH).stamp_ms, Some(1_795_255_200_123));
}

#[test]
fn zigbee2mqtt_bad_last_seen_costs_only_the_stamp() {
    let s = spec(Format::Zigbee2mqtt);
    for last_seen in [
        r#""yesterday""#,
        r#""2026-11-21T10:00:00""#,
        "true",
        "null",
        "12",
        r#""1970-01-01T00:00:00Z""#,
    ] {
        let p = ok(
            &s,
            &format!(r#"{{"temperature":5,"last_seen":{last_seen}}}"#),
        );
        assert_eq!(
            p,
            Parsed {
                celsius: 5.0,
                stamp_ms: None
            },
            "{last_seen}"
        );
    }
}

#[test]
fn zigbee2mqtt_thermostat_local_temperature() {
    let s = spec(Format::Zigbee2mqtt);
    assert_eq!(c(&s, Z2M_THERMOSTAT), 19.5);
    // temperature wins when both are there.
    assert_eq!(
        c(&s, r#"{"local_temperature":19.5,"temperature":20.5}"#),
        20.5
    );
}

#[test]
fn zigbee2mqtt_field_override_and_faults() {
    let s = spec(Format::Zigbee2mqtt);
    let f = with_field(Format::Zigbee2mqtt, "/device_temperature");
    assert_eq!(c(&f, r#"{"device_temperature":31,"temperature":20}"#), 31.0);
    assert_eq!(
        parse_err(&s, br#"{"battery":100,"contact":true}"#),
        r#"payload "{\"battery\":100,\"contact\":true}" has no field /temperature or /local_temperature (fields: battery, contact)"#
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":null}"#),
        "field /temperature is null"
    );
    assert!(parse_err(&s, b"\"online\"").ends_with("(payload is a string)"));
    // Z2M reports °C; a sensor `unit` still applies (no payload declaration).
    assert_eq!(
        c(
            &with_unit(Format::Zigbee2mqtt, Unit::F),
            r#"{"temperature":70.7}"#
        ),
        21.5
    );
}
