use proptest::prelude::*;

use super::shelly::*;
use super::tasmota::*;
use super::zigbee2mqtt::*;
use super::*;

// --- properties ----------------------------------------------------

const FORMATS: [Format; 6] = [
    Format::Plain,
    Format::Json,
    Format::Tasmota,
    Format::Zigbee2mqtt,
    Format::Shelly,
    Format::Esphome,
];
const FIELDS: [Option<&str>; 6] = [
    None,
    Some("/temperature"),
    Some("/DS18B20/Temperature"),
    Some("/params/temperature:0/tC"),
    Some(""),
    Some("/a/0/~1"),
];
const FIXTURES: [&str; 14] = [
    TASMOTA_DS18B20,
    TASMOTA_MULTI,
    TASMOTA_F,
    TASMOTA_ESP32,
    TASMOTA_STATUS10,
    Z2M_ISO,
    Z2M_ISO_LOCAL,
    Z2M_EPOCH,
    Z2M_THERMOSTAT,
    SHELLY_STATUS,
    SHELLY_STATUS_ERROR,
    SHELLY_NOTIFY,
    SHELLY_FULL_STATUS,
    "21.5 °C",
];

fn any_spec() -> impl Strategy<Value = PayloadSpec> {
    (0..FORMATS.len(), 0..FIELDS.len(), 0..3u8).prop_map(|(f, field, unit)| PayloadSpec {
        format: FORMATS[f],
        field: FIELDS[field].map(str::to_string),
        unit: [None, Some(Unit::C), Some(Unit::F)][unit as usize],
        range: DEFAULT_RANGE,
    })
}

/// Whatever `parse` returns is well-formed.
fn check(spec: &PayloadSpec, payload: &[u8]) -> Result<(), TestCaseError> {
    match parse(spec, payload) {
        Ok(p) => {
            prop_assert!(p.celsius.is_finite());
            prop_assert!(p.celsius >= spec.range.0 && p.celsius <= spec.range.1);
            prop_assert_eq!(round3(p.celsius), p.celsius);
            if let Some(ms) = p.stamp_ms {
                prop_assert!(plausible_stamp(ms));
            }
        }
        Err(Fault::Parse(d)) | Err(Fault::OutOfRange(d)) => {
            prop_assert!(!d.is_empty());
            prop_assert!(d.chars().count() <= MAX_DETAIL, "{}", d);
        }
        Err(other) => prop_assert!(false, "unexpected fault {:?}", other),
    }
    Ok(())
}

pub(super) fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let key = prop_oneof![
        Just("temperature".to_string()),
        Just("local_temperature".to_string()),
        Just("last_seen".to_string()),
        Just("Temperature".to_string()),
        Just("Temperature1".to_string()),
        Just("TempUnit".to_string()),
        Just("DS18B20".to_string()),
        Just("ESP32".to_string()),
        Just("StatusSNS".to_string()),
        Just("tC".to_string()),
        Just("errors".to_string()),
        Just("params".to_string()),
        Just("method".to_string()),
        Just("ts".to_string()),
        Just("temperature:0".to_string()),
        Just("a".to_string()),
        "[a-z:~/0-9]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1.0e3..1.0e3f64).prop_map(|f| serde_json::json!(f)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        prop_oneof![
            Just("21.5"),
            Just("nan"),
            Just("70 °F"),
            Just("F"),
            Just("C"),
            Just("NotifyStatus"),
            Just("2026-11-21T10:00:00+01:00"),
            Just("9999-12-31T23:59:59.999-23:59"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_bytes(spec in any_spec(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&spec, &bytes)?;
    }

    #[test]
    fn parse_never_panics_on_jsonish_text(spec in any_spec(), text in "[\\[\\]{}\":,. 0-9eE+\\-a-zA-Z_°/~]{0,120}") {
        check(&spec, text.as_bytes())?;
    }

    #[test]
    fn parse_never_panics_on_json_trees(spec in any_spec(), v in json_value()) {
        check(&spec, v.to_string().as_bytes())?;
    }

    #[test]
    fn parse_never_panics_on_mutated_fixtures(
        spec in any_spec(),
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((0..3u8, any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = FIXTURES[which].as_bytes().to_vec();
        for (op, at, b) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => { bytes.remove(i); }
                1 => bytes.insert(i, b),
                _ if i < bytes.len() => bytes[i] = b,
                _ => {}
            }
        }
        check(&spec, &bytes)?;
    }

    #[test]
    fn plain_numbers_read_back(x in -80.0..200.0f64) {
        let p = parse(&spec(Format::Plain), x.to_string().as_bytes()).unwrap();
        prop_assert_eq!(p.celsius, round3(x));
        let j = parse(&spec(Format::Json), format!("{{\"temperature\":{x}}}").as_bytes()).unwrap();
        prop_assert_eq!(j.celsius, round3(x));
    }

    #[test]
    fn fahrenheit_suffix_converts(f in -200.0..500.0f64) {
        let want = round3((f - 32.0) * 5.0 / 9.0);
        match parse(&spec(Format::Esphome), format!("{f} °F").as_bytes()) {
            Ok(p) => prop_assert_eq!(p.celsius, want),
            Err(Fault::OutOfRange(_)) => prop_assert!(!(-80.0..=200.0).contains(&want)),
            Err(e) => prop_assert!(false, "{:?}", e),
        }
    }

    #[test]
    fn rfc3339_agrees_with_humantime(secs in 0i64..253_402_300_799, milli in 0i64..1000, offset_min in -1439i64..1440) {
        let at = secs * 1000 + milli;
        let t = |ms: i64| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
        let z = humantime::format_rfc3339_millis(t(at)).to_string();
        prop_assert_eq!(parse_rfc3339_ms(&z), Some(at));
        // The same instant written in another zone.
        let local = at + offset_min * 60_000;
        prop_assume!((0..=253_402_300_799_999).contains(&local));
        let mut s = humantime::format_rfc3339_millis(t(local)).to_string();
        s.pop();
        let sign = if offset_min < 0 { '-' } else { '+' };
        let o = offset_min.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", o / 60, o % 60));
        prop_assert_eq!(parse_rfc3339_ms(&s), Some(at), "{}", s);
    }
}
