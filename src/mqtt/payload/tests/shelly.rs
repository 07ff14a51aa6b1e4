use super::*;

// --- Shelly --------------------------------------------------------

pub(super) const SHELLY_STATUS: &str = r#"{"id":0,"tC":21.5,"tF":70.7}"#;
pub(super) const SHELLY_STATUS_ERROR: &str = r#"{"id":0,"tC":null,"tF":null,"errors":["read"]}"#;
pub(super) const SHELLY_NOTIFY: &str = r#"{"src":"shellyplusht-08b61fcb7f3c","dst":"shellyplusht-08b61fcb7f3c/events","method":"NotifyStatus","params":{"ts":1732183205.12,"temperature:0":{"id":0,"tC":21.6,"tF":70.9}}}"#;
pub(super) const SHELLY_NOTIFY_HUMIDITY: &str = r#"{"src":"shellyplusht-08b61fcb7f3c","dst":"shellyplusht-08b61fcb7f3c/events","method":"NotifyStatus","params":{"ts":1732183205.12,"humidity:0":{"id":0,"rh":48.9}}}"#;
pub(super) const SHELLY_NOTIFY_EVENT: &str = r#"{"src":"shellyplus1-a8032ab12345","dst":"shellyplus1-a8032ab12345/events","method":"NotifyEvent","params":{"ts":1732183205.12,"events":[{"component":"input:0","id":0,"event":"single_push","ts":1732183205.12}]}}"#;
pub(super) const SHELLY_FULL_STATUS: &str = r#"{"src":"shellyplus1-a8032ab12345","dst":"x/events","method":"NotifyFullStatus","params":{"ts":1732183205.12,"switch:0":{"id":0,"output":false},"temperature:101":{"id":101,"tC":5.5,"tF":41.9},"temperature:100":{"id":100,"tC":4.5,"tF":40.1}}}"#;

#[test]
fn shelly_status_topic() {
    let s = spec(Format::Shelly);
    assert_eq!(
        ok(&s, SHELLY_STATUS),
        Parsed {
            celsius: 21.5,
            stamp_ms: None
        }
    );
    // tC names its unit: the sensor's unit does not apply.
    assert_eq!(c(&with_unit(Format::Shelly, Unit::F), SHELLY_STATUS), 21.5);
}

#[test]
fn shelly_notify_status_with_stamp() {
    let s = spec(Format::Shelly);
    assert_eq!(
        ok(&s, SHELLY_NOTIFY),
        Parsed {
            celsius: 21.6,
            stamp_ms: Some(1_732_183_205_120)
        }
    );
    // The lowest-numbered temperature component of a full status.
    assert_eq!(
        ok(&s, SHELLY_FULL_STATUS),
        Parsed {
            celsius: 4.5,
            stamp_ms: Some(1_732_183_205_120)
        }
    );
    let addon = with_field(Format::Shelly, "/params/temperature:101/tC");
    assert_eq!(c(&addon, SHELLY_FULL_STATUS), 5.5);
}

#[test]
fn shelly_null_tc_is_a_sensor_error() {
    let s = spec(Format::Shelly);
    assert_eq!(
        parse_err(&s, SHELLY_STATUS_ERROR.as_bytes()),
        "field /tC is null: the sensor reports an error (errors: read)"
    );
    let notify = r#"{"method":"NotifyStatus","params":{"ts":1732183205.12,"temperature:0":{"id":0,"tC":null,"tF":null}}}"#;
    assert_eq!(
        parse_err(&s, notify.as_bytes()),
        "field /params/temperature:0/tC is null: the sensor reports an error"
    );
}

#[test]
fn shelly_notifications_without_temperature_are_ignorable() {
    let s = spec(Format::Shelly);
    for payload in [SHELLY_NOTIFY_HUMIDITY, SHELLY_NOTIFY_EVENT] {
        assert_eq!(parse_message(&s, payload.as_bytes()), Ok(None), "{payload}");
        assert_eq!(
            parse_err(&s, payload.as_bytes()),
            "Shelly notification carries no temperature component"
        );
    }
    let f = with_field(Format::Shelly, "/params/temperature:0/tC");
    assert_eq!(
        parse_message(&f, SHELLY_NOTIFY_HUMIDITY.as_bytes()),
        Ok(None)
    );
    assert_eq!(
        parse_message(&f, SHELLY_NOTIFY.as_bytes())
            .unwrap()
            .unwrap()
            .celsius,
        21.6
    );
    // Other formats never give None.
    assert_eq!(
        parse_message(&spec(Format::Plain), b"1"),
        Ok(Some(Parsed {
            celsius: 1.0,
            stamp_ms: None
        }))
    );
}

#[test]
fn shelly_field_tf_is_fahrenheit_and_unknown_shapes_fail() {
    let tf = with_field(Format::Shelly, "/tF");
    assert_eq!(c(&tf, SHELLY_STATUS), 21.5);
    let s = spec(Format::Shelly);
    assert_eq!(
        parse_err(&s, br#"{"id":0,"rh":48.9}"#),
        r#"payload "{\"id\":0,\"rh\":48.9}" is neither a Shelly temperature status (tC) nor a notification with params (fields: id, rh)"#
    );
    assert!(parse_err(&s, br#"{"params":{"ts":1}}"#)
        .contains("has no temperature:N component in params (params: ts)"));
    // Unset device clock: no stamp.
    let early =
        r#"{"method":"NotifyStatus","params":{"ts":12.5,"temperature:0":{"id":0,"tC":21.6}}}"#;
    assert_eq!(ok(&s, early).stamp_ms, None);
}
