use super::*;

// --- Plain / ESPHome -----------------------------------------------

#[test]
fn plain_numbers_and_whitespace() {
    let s = spec(Format::Plain);
    assert_eq!(c(&s, "21.5"), 21.5);
    assert_eq!(c(&s, "  -4.25 \r\n"), -4.25);
    assert_eq!(c(&s, "+3"), 3.0);
    assert_eq!(c(&s, "\u{feff}21"), 21.0);
    assert_eq!(ok(&s, "21.5").stamp_ms, None);
}

#[test]
fn plain_unit_suffixes_are_honoured() {
    let s = spec(Format::Plain);
    assert_eq!(c(&s, "21.5 °C"), 21.5);
    assert_eq!(c(&s, "21.5°C"), 21.5);
    assert_eq!(c(&s, "21.5C"), 21.5);
    assert_eq!(c(&s, "21.5 ℃"), 21.5);
    assert_eq!(c(&s, "70.7 °F"), 21.5);
    assert_eq!(c(&s, "70.7°F"), 21.5);
    assert_eq!(c(&s, "70.7F"), 21.5);
    assert_eq!(c(&s, "70.7 f"), 21.5);
}

#[test]
fn plain_payload_unit_wins_over_sensor_unit() {
    let f = with_unit(Format::Plain, Unit::F);
    assert_eq!(c(&f, "70.7"), 21.5, "sensor unit applies without a suffix");
    assert_eq!(c(&f, "21.5 °C"), 21.5, "the suffix wins");
    let cel = with_unit(Format::Plain, Unit::C);
    assert_eq!(c(&cel, "70.7 °F"), 21.5);
}

#[test]
fn plain_rejects_text_empty_and_infinite() {
    let s = spec(Format::Plain);
    assert_eq!(
        parse_err(&s, b"unavailable"),
        "payload \"unavailable\" is not a number"
    );
    assert_eq!(parse_err(&s, b"  "), "payload is empty");
    assert_eq!(parse_err(&s, b"21,5"), "payload \"21,5\" is not a number");
    assert_eq!(
        parse_err(&s, b"inf"),
        "payload \"inf\" is not a finite number"
    );
    assert_eq!(
        parse_err(&s, b"-infinity"),
        "payload \"-infinity\" is not a finite number"
    );
    assert_eq!(
        parse_err(&s, b"\xb0C"),
        "payload is not UTF-8 (invalid byte at offset 0)"
    );
    // A lone unit is not a number.
    assert!(parse_err(&s, b"F").contains("not a number"));
    assert!(parse_err(&s, b"1e999").contains("not a finite number"));
}

#[test]
fn esphome_state_number_and_nan() {
    // ESPHome: `<node>/sensor/<name>/state`, accuracy_decimals applied, `nan` when unknown.
    let s = spec(Format::Esphome);
    assert_eq!(c(&s, "21.4"), 21.4);
    assert_eq!(c(&s, "-18.06"), -18.06);
    assert_eq!(c(&s, "4"), 4.0);
    assert_eq!(parse_err(&s, b"nan"), "sensor reports no value (nan)");
    assert_eq!(parse_err(&s, b"NaN"), "sensor reports no value (nan)");
    assert_eq!(
        parse_err(&spec(Format::Plain), b"-nan"),
        "sensor reports no value (nan)"
    );
}
