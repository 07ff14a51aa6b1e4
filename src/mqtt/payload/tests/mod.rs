//! Unit tests of payload parsing, one file per format; shared helpers here.

use super::*;

mod json;
mod one_pass;
mod plain;
mod props;
mod shelly;
mod stamp;
mod tasmota;
mod zigbee2mqtt;

fn spec(format: Format) -> PayloadSpec {
    PayloadSpec::new(format)
}

fn with_field(format: Format, field: &str) -> PayloadSpec {
    PayloadSpec {
        field: Some(field.to_string()),
        ..PayloadSpec::new(format)
    }
}

fn with_unit(format: Format, unit: Unit) -> PayloadSpec {
    PayloadSpec {
        unit: Some(unit),
        ..PayloadSpec::new(format)
    }
}

fn ok(spec: &PayloadSpec, payload: &str) -> Parsed {
    match parse(spec, payload.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{payload}: {e:?}"),
    }
}

fn c(spec: &PayloadSpec, payload: &str) -> f64 {
    ok(spec, payload).celsius
}

/// The Parse detail, asserting it is a Parse fault of sane length.
fn parse_err(spec: &PayloadSpec, payload: &[u8]) -> String {
    match parse(spec, payload) {
        Err(Fault::Parse(d)) => {
            assert!(d.chars().count() <= MAX_DETAIL, "{d}");
            d
        }
        other => panic!(
            "{:?}: expected a Parse fault, got {other:?}",
            String::from_utf8_lossy(payload)
        ),
    }
}

fn ms(rfc3339: &str) -> i64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

// --- Format / Unit -------------------------------------------------

#[test]
fn format_names_round_trip() {
    for name in Format::NAMES {
        let f = Format::from_name(name).unwrap();
        assert_eq!(f.name(), *name);
        assert_eq!(f.to_string(), *name);
    }
    assert_eq!(Format::from_name("Tasmota"), None);
    assert_eq!(Format::from_name(""), None);
    assert_eq!(Unit::from_name("F"), Some(Unit::F));
    assert_eq!(Unit::from_name("K"), None);
    assert_eq!(PayloadSpec::default().range, DEFAULT_RANGE);
}

// --- range, rounding, size -----------------------------------------

#[test]
fn out_of_range_says_what_and_how_to_fix() {
    let s = spec(Format::Plain);
    assert_eq!(
        parse(&s, b"150"),
        Ok(Parsed {
            celsius: 150.0,
            stamp_ms: None
        })
    );
    assert_eq!(
        parse(&s, b"250"),
        Err(Fault::OutOfRange(
            "250.0 °C is outside -80..200 °C (set `range` if this sensor really reads that)"
                .to_string()
        ))
    );
    assert!(matches!(parse(&s, b"-80.5"), Err(Fault::OutOfRange(_))));
    assert_eq!(c(&s, "-80"), -80.0);
    assert_eq!(c(&s, "200"), 200.0);
    let narrow = PayloadSpec {
        range: (-40.0, 125.0),
        ..spec(Format::Plain)
    };
    assert_eq!(
        parse(&narrow, b"150"),
        Err(Fault::OutOfRange(
            "150.0 °C is outside -40..125 °C (set `range` if this sensor really reads that)"
                .to_string()
        ))
    );
    let wide = PayloadSpec {
        range: (-200.0, 1200.0),
        ..spec(Format::Plain)
    };
    assert_eq!(c(&wide, "1000"), 1000.0);
    // The range is in °C: 400 °F is 204.444 °C.
    assert!(matches!(parse(&s, b"400F"), Err(Fault::OutOfRange(d)) if d.starts_with("204.444 °C")));
}

#[test]
fn rounds_to_three_decimals() {
    let s = spec(Format::Plain);
    assert_eq!(c(&s, "21.123456"), 21.123);
    assert_eq!(c(&s, "21.1235"), 21.124);
    assert_eq!(c(&s, "73.6F"), 23.111);
    assert_eq!(c(&s, "-0.0001"), 0.0);
    assert!(c(&s, "-0.0001").is_sign_positive());
}

#[test]
fn oversized_payload_is_refused_unread() {
    let s = spec(Format::Plain);
    let mut at_limit = b"21.5".to_vec();
    at_limit.resize(MAX_PAYLOAD, b' ');
    assert_eq!(c(&s, std::str::from_utf8(&at_limit).unwrap()), 21.5);
    at_limit.push(b' ');
    assert_eq!(
        parse_err(&s, &at_limit),
        "payload is 65537 bytes, over the 64 KiB limit"
    );
    // Not even looked at: invalid UTF-8 beyond the limit still gets the size fault.
    let mut junk = vec![0xff; MAX_PAYLOAD + 1];
    junk[0] = b'{';
    assert!(parse_err(&spec(Format::Json), &junk).contains("64 KiB"));
}
