use super::*;

// --- JSON ----------------------------------------------------------

#[test]
fn json_field_default_nested_and_numeric_strings() {
    let s = spec(Format::Json);
    assert_eq!(c(&s, r#"{"temperature":21.5,"humidity":40}"#), 21.5);
    assert_eq!(c(&s, r#"{"temperature":"21.5"}"#), 21.5);
    assert_eq!(c(&s, r#"{"temperature":" 70.7 °F "}"#), 21.5);
    let nested = with_field(Format::Json, "/sensors/0/temp");
    assert_eq!(c(&nested, r#"{"sensors":[{"temp":-3},{"temp":4}]}"#), -3.0);
    let escaped = with_field(Format::Json, "/a~1b/c~0d");
    assert_eq!(c(&escaped, r#"{"a/b":{"c~d":7}}"#), 7.0);
    let whole = with_field(Format::Json, "");
    assert_eq!(c(&whole, "21.5"), 21.5);
    let f = PayloadSpec {
        unit: Some(Unit::F),
        ..with_field(Format::Json, "/t")
    };
    assert_eq!(c(&f, r#"{"t":70.7}"#), 21.5);
}

#[test]
fn json_missing_field_lists_fields() {
    let s = spec(Format::Json);
    assert_eq!(
        parse_err(&s, br#"{"temp":21}"#),
        r#"payload "{\"temp\":21}" has no field /temperature (fields: temp)"#
    );
    let nested = with_field(Format::Json, "/sensor/temperature");
    assert_eq!(
        parse_err(&nested, br#"{"sensor":{"temp":21,"rh":40}}"#),
        r#"payload "{\"sensor\":{\"temp\":21,\"rh\":40}}" has no field /sensor/temperature (fields at /sensor: temp, rh)"#
    );
    assert!(parse_err(&s, b"[1,2]").ends_with("(payload is an array of 2)"));
    assert!(parse_err(&s, b"21.5").ends_with("(payload is a number)"));
    let idx = with_field(Format::Json, "/v/01");
    assert!(parse_err(&idx, br#"{"v":[1,2]}"#).ends_with("(/v is an array of 2)"));
}

#[test]
fn json_null_bool_object_are_not_numbers() {
    let s = spec(Format::Json);
    assert_eq!(
        parse_err(&s, br#"{"temperature":null}"#),
        "field /temperature is null"
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":true}"#),
        "field /temperature is a boolean (true), not a number"
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":{"value":21}}"#),
        "field /temperature is an object (fields: value), not a number"
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":[21]}"#),
        "field /temperature is an array of 1, not a number"
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":"warm"}"#),
        "field /temperature is \"warm\", not a number"
    );
    assert_eq!(
        parse_err(&s, br#"{"temperature":"nan"}"#),
        "field /temperature is \"nan\": sensor reports no value (nan)"
    );
}

#[test]
fn json_syntax_and_pointer_errors() {
    let s = spec(Format::Json);
    let d = parse_err(&s, b"{\"temperature\":21.5");
    assert!(
        d.starts_with("payload \"{\\\"temperature\\\":21.5\" is not JSON ("),
        "{d}"
    );
    assert!(parse_err(&s, b"{\"temperature\":NaN}").contains("is not JSON"));
    let bad = with_field(Format::Json, "temperature");
    assert_eq!(
        parse_err(&bad, br#"{"temperature":1}"#),
        "field \"temperature\" is not a JSON pointer (it must start with '/')"
    );
}

#[test]
fn details_stay_short() {
    let keys: Vec<String> = (0..200)
        .map(|i| format!("\"key_number_{i}\":{i}"))
        .collect();
    let payload = format!("{{{}}}", keys.join(","));
    for format in [
        Format::Json,
        Format::Tasmota,
        Format::Zigbee2mqtt,
        Format::Shelly,
    ] {
        let d = parse_err(&spec(format), payload.as_bytes());
        assert!(d.contains('…'), "{d}");
    }
    let long = "x".repeat(5000);
    let d = parse_err(&spec(Format::Plain), long.as_bytes());
    assert!(
        d.starts_with(&format!("payload \"{}…\"", "x".repeat(59))),
        "{d}"
    );
    let field = with_field(Format::Json, &format!("/{long}"));
    parse_err(&field, b"{}");
}
