//! Tasmota `tele/<device>/SENSOR` and `stat/<device>/STATUS10`.

use super::tree::{check_pointer, number_at, parse_json, J};
use super::{cap, parse_fault, quote, Raw, Unit, MAX_QUOTE};
use crate::reading::Fault;

/// Tasmota `tele/<device>/SENSOR`:
/// `{"Time":"…","DS18B20":{"Id":"…","Temperature":23.1},"TempUnit":"C"}`.
///
/// Without `field`, the first member (in document order) that is an object
/// with a numeric `Temperature` (or `Temperature1`, as ANALOG thermistor
/// inputs report) is read. `ESP32` (the chip's own die temperature, which
/// Tasmota on ESP32 lists first) is skipped. A device with several sensors
/// (`DS18B20-1`, `DS18B20-2`, …) should set `field`, e.g.
/// `"/DS18B20-2/Temperature"`.
///
/// `stat/<device>/STATUS10` (`{"StatusSNS":{…}}`) is read the same way.
pub(super) fn tasmota(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
    if let Some(f) = field {
        check_pointer(f)?;
    }
    let doc = parse_json(text)?;
    let body = match doc.get("StatusSNS") {
        Some(inner @ J::Obj(_)) => inner,
        _ => &doc,
    };
    if !matches!(body, J::Obj(_)) {
        return Err(parse_fault(format!(
            "payload {} is {}, not a Tasmota SENSOR object",
            quote(text),
            body.kind()
        )));
    }
    let declared = match body.get("TempUnit") {
        None => None,
        Some(J::Str(s)) => match Unit::from_name(s) {
            Some(u) => Some(u),
            None => {
                return Err(parse_fault(format!(
                    "TempUnit is {:?}, neither \"C\" nor \"F\"",
                    cap(s.clone(), MAX_QUOTE)
                )))
            }
        },
        Some(other) => {
            return Err(parse_fault(format!(
                "TempUnit is {}, neither \"C\" nor \"F\"",
                other.kind()
            )))
        }
    };
    // `Time` is deliberately not used as a stamp: Tasmota writes the device's
    // local time without a zone offset ("2026-11-21T10:00:00"), so it cannot
    // be placed on the Unix timeline without guessing the device's zone (and
    // whether its clock is set at all).
    let (value, unit) = match field {
        Some(f) => number_at(&doc, f, text)?,
        None => tasmota_search(body)?,
    };
    Ok(Raw {
        value,
        unit: unit.or(declared),
        stamp_ms: None,
    })
}

fn tasmota_search(body: &J) -> Result<(f64, Option<Unit>), Fault> {
    const KEYS: &[&str] = &["Temperature", "Temperature1"];
    let mut bad: Option<(&str, &str, &J)> = None;
    let mut chip: Option<f64> = None;
    for (name, member) in body.members() {
        for &key in KEYS {
            match member.get(key) {
                Some(J::Num(n)) if name == "ESP32" => chip = chip.or(Some(*n)),
                Some(J::Num(n)) => return Ok((*n, None)),
                Some(other) if bad.is_none() => bad = Some((name, key, other)),
                _ => {}
            }
        }
    }
    if let Some((name, key, v)) = bad {
        let v = match v {
            J::Str(s) => format!("{:?}", cap(s.clone(), MAX_QUOTE)),
            other => other.kind().to_string(),
        };
        return Err(parse_fault(format!(
            "Tasmota {}.{key} is {v}, not a number",
            cap(name.to_string(), MAX_QUOTE)
        )));
    }
    if chip.is_some() {
        return Err(parse_fault(
            "Tasmota payload has only the ESP32 chip's own temperature; set field = \"/ESP32/Temperature\" if that is what you want"
                .to_string(),
        ));
    }
    Err(parse_fault(format!(
        "Tasmota payload has no sensor with a Temperature (fields: {})",
        body.key_list()
    )))
}
