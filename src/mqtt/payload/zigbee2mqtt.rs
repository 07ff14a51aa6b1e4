//! Zigbee2MQTT device state (`zigbee2mqtt/<friendly name>`).

use super::tree::{check_pointer, number_at, parse_json, value_number, J};
use super::{float_ms, parse_fault, parse_rfc3339_ms, plausible_stamp, quote, Raw};
use crate::reading::Fault;

/// Zigbee2MQTT device state: `{"temperature":21.3,"humidity":48,"last_seen":…}`;
/// thermostats report `local_temperature` instead. `last_seen` (when enabled
/// in Zigbee2MQTT's `advanced.last_seen`) is an ISO 8601 string with a zone
/// (`ISO_8601`: `…Z`, `ISO_8601_local`: `…+01:00`) or epoch milliseconds.
pub(super) fn zigbee2mqtt(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
    if let Some(f) = field {
        check_pointer(f)?;
    }
    let doc = parse_json(text)?;
    let (value, unit) = match field {
        Some(f) => number_at(&doc, f, text)?,
        None => match (doc.get("temperature"), doc.get("local_temperature")) {
            (Some(v), _) => value_number(v, "/temperature")?,
            (None, Some(v)) => value_number(v, "/local_temperature")?,
            (None, None) => {
                let context = match &doc {
                    J::Obj(_) => format!("(fields: {})", doc.key_list()),
                    other => format!("(payload is {})", other.kind()),
                };
                return Err(parse_fault(format!(
                    "payload {} has no field /temperature or /local_temperature {context}",
                    quote(text)
                )));
            }
        },
    };
    // A last_seen that cannot be read costs the stamp, not the reading.
    let stamp_ms = match doc.get("last_seen") {
        Some(J::Str(s)) => parse_rfc3339_ms(s),
        Some(J::Num(ms)) => float_ms(*ms),
        _ => None,
    }
    .filter(|ms| plausible_stamp(*ms));
    Ok(Raw {
        value,
        unit,
        stamp_ms,
    })
}
