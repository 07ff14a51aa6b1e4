use super::*;

// --- Tasmota -------------------------------------------------------

pub(super) const TASMOTA_DS18B20: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}"#;
pub(super) const TASMOTA_MULTI: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20-1":{"Id":"0316A2791BFF","Temperature":23.1},"DS18B20-2":{"Id":"0416A27A3EFF","Temperature":-18.5},"TempUnit":"C"}"#;
pub(super) const TASMOTA_AM2301: &str = r#"{"Time":"2026-11-21T10:00:00","AM2301":{"Temperature":22.3,"Humidity":45.1,"DewPoint":9.9},"TempUnit":"C"}"#;
pub(super) const TASMOTA_BME280: &str = r#"{"Time":"2026-11-21T10:00:00","BME280":{"Temperature":21.6,"Humidity":40.2,"DewPoint":7.5,"Pressure":1013.2},"PressureUnit":"hPa","TempUnit":"C"}"#;
pub(super) const TASMOTA_SI7021: &str = r#"{"Time":"2026-11-21T10:00:00","SI7021":{"Temperature":20.9,"Humidity":51.0,"DewPoint":10.5},"TempUnit":"C"}"#;
pub(super) const TASMOTA_ANALOG: &str =
    r#"{"Time":"2026-11-21T10:00:00","ANALOG":{"Temperature1":24.3},"TempUnit":"C"}"#;
pub(super) const TASMOTA_F: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":73.6},"TempUnit":"F"}"#;
pub(super) const TASMOTA_ESP32: &str = r#"{"Time":"2026-11-21T10:00:00","ESP32":{"Temperature":48.3},"DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}"#;
pub(super) const TASMOTA_STATUS10: &str = r#"{"StatusSNS":{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}}"#;
pub(super) const TASMOTA_ENERGY: &str =
    r#"{"Time":"2026-11-21T10:00:00","ENERGY":{"Total":1.2,"Power":40,"Voltage":230}}"#;

#[test]
fn tasmota_single_sensors() {
    let s = spec(Format::Tasmota);
    assert_eq!(
        ok(&s, TASMOTA_DS18B20),
        Parsed {
            celsius: 23.1,
            stamp_ms: None
        }
    );
    assert_eq!(c(&s, TASMOTA_AM2301), 22.3);
    assert_eq!(c(&s, TASMOTA_BME280), 21.6);
    assert_eq!(c(&s, TASMOTA_SI7021), 20.9);
    assert_eq!(c(&s, TASMOTA_ANALOG), 24.3);
    assert_eq!(c(&s, TASMOTA_STATUS10), 23.1);
}

#[test]
fn tasmota_time_is_not_a_stamp() {
    // Device-local time without a zone: unplaceable.
    assert_eq!(ok(&spec(Format::Tasmota), TASMOTA_DS18B20).stamp_ms, None);
}

#[test]
fn tasmota_multi_sensor_first_in_document_order_or_field() {
    let s = spec(Format::Tasmota);
    assert_eq!(c(&s, TASMOTA_MULTI), 23.1);
    // Document order, not name order.
    assert_eq!(
        c(
            &s,
            r#"{"SI7021":{"Temperature":20.0},"AM2301":{"Temperature":22.0},"TempUnit":"C"}"#
        ),
        20.0
    );
    let second = with_field(Format::Tasmota, "/DS18B20-2/Temperature");
    assert_eq!(c(&second, TASMOTA_MULTI), -18.5);
    let missing = with_field(Format::Tasmota, "/DS18B20-3/Temperature");
    assert!(parse_err(&missing, TASMOTA_MULTI.as_bytes()).ends_with(
        "has no field /DS18B20-3/Temperature (fields: Time, DS18B20-1, DS18B20-2, TempUnit)"
    ));
}

#[test]
fn tasmota_skips_the_esp32_chip_temperature() {
    let s = spec(Format::Tasmota);
    assert_eq!(c(&s, TASMOTA_ESP32), 23.1);
    let only_chip = r#"{"Time":"2026-11-21T10:00:00","ESP32":{"Temperature":48.3},"TempUnit":"C"}"#;
    assert!(parse_err(&s, only_chip.as_bytes()).contains("field = \"/ESP32/Temperature\""));
    let chip = with_field(Format::Tasmota, "/ESP32/Temperature");
    assert_eq!(c(&chip, only_chip), 48.3);
}

#[test]
fn tasmota_tempunit_f_converts_and_wins() {
    let s = spec(Format::Tasmota);
    assert_eq!(c(&s, TASMOTA_F), 23.111);
    // TempUnit wins over the sensor's unit, both ways.
    assert_eq!(c(&with_unit(Format::Tasmota, Unit::C), TASMOTA_F), 23.111);
    assert_eq!(
        c(&with_unit(Format::Tasmota, Unit::F), TASMOTA_DS18B20),
        23.1
    );
    // Without TempUnit the sensor's unit applies.
    let bare = r#"{"DS18B20":{"Temperature":73.6}}"#;
    assert_eq!(c(&with_unit(Format::Tasmota, Unit::F), bare), 23.111);
    assert_eq!(c(&s, bare), 73.6);
    // With a field too.
    let f = with_field(Format::Tasmota, "/DS18B20/Temperature");
    assert_eq!(c(&f, TASMOTA_F), 23.111);
    assert_eq!(
        parse_err(&s, br#"{"DS18B20":{"Temperature":1},"TempUnit":"K"}"#),
        "TempUnit is \"K\", neither \"C\" nor \"F\""
    );
}

#[test]
fn tasmota_without_temperature_lists_members() {
    let s = spec(Format::Tasmota);
    assert_eq!(
        parse_err(&s, TASMOTA_ENERGY.as_bytes()),
        "Tasmota payload has no sensor with a Temperature (fields: Time, ENERGY)"
    );
    assert_eq!(
        parse_err(&s, br#"{"DS18B20":{"Temperature":null}}"#),
        "Tasmota DS18B20.Temperature is null, not a number"
    );
    assert!(parse_err(&s, b"[1]").contains("is an array, not a Tasmota SENSOR object"));
    assert!(parse_err(&s, b"23.1").contains("not a Tasmota SENSOR object"));
}
