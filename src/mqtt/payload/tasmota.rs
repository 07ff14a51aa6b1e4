//! Tasmota `tele/<device>/SENSOR` and `stat/<device>/STATUS10`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::stream::{self, give_up, Key, OnlyNumber, Skip, SkipVisitor};
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
    if field.is_none() {
        if let Some(raw) = fast(text) {
            return Ok(raw);
        }
    }
    from_tree(text, field)
}

/// The common shapes in one pass (no `field`), or `None` for the tree to decide.
pub(super) fn fast(text: &str) -> Option<Raw> {
    stream::read(text, Sensor)
}

/// [`tasmota`] read through the tree, which also words every fault.
pub(super) fn from_tree(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
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

/// A `SENSOR` message in one pass: the first member (in document order, not
/// `ESP32`) holding a numeric `Temperature` or `Temperature1`, and
/// `TempUnit`, read as [`tasmota`] reads them from the tree. A `StatusSNS`
/// wrapper is left to the tree.
struct Sensor;

/// The top-level members [`Sensor`] tells apart.
enum Member {
    StatusSns,
    TempUnit,
    Esp32,
    Other,
}

impl<'de> DeserializeSeed<'de> for Sensor {
    type Value = Raw;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Sensor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Tasmota SENSOR object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut declared = None;
        let mut found = None;
        let name = |k: &str| match k {
            "StatusSNS" => Member::StatusSns,
            "TempUnit" => Member::TempUnit,
            "ESP32" => Member::Esp32,
            _ => Member::Other,
        };
        while let Some(member) = map.next_key_seed(Key(name))? {
            match member {
                Member::StatusSns => return Err(give_up()),
                Member::TempUnit => declared = Some(map.next_value_seed(TempUnit)?),
                Member::Esp32 => {
                    map.next_value::<Skip>()?;
                }
                Member::Other => {
                    let reading = map.next_value_seed(Temperature)?;
                    found = found.or(reading);
                }
            }
        }
        Ok(Raw {
            value: found.ok_or_else(give_up)?,
            unit: declared,
            stamp_ms: None,
        })
    }
}

/// `TempUnit`: `"C"` or `"F"`; anything else is for the tree to word.
struct TempUnit;

impl<'de> DeserializeSeed<'de> for TempUnit {
    type Value = Unit;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Unit, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TempUnit {
    type Value = Unit;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"C\" or \"F\"")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Unit, E> {
        Unit::from_name(v).ok_or_else(give_up)
    }
}

/// One sensor member: its numeric `Temperature`, else its numeric
/// `Temperature1`; `None` for a member that has neither (or is no object).
struct Temperature;

impl<'de> DeserializeSeed<'de> for Temperature {
    type Value = Option<f64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Temperature {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sensor object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut t, mut t1) = (None, None);
        let name = |k: &str| match k {
            "Temperature" => 1,
            "Temperature1" => 2,
            _ => 0,
        };
        // A repeated name's last value counts, as in the tree.
        while let Some(which) = map.next_key_seed(Key(name))? {
            match which {
                1 => t = map.next_value_seed(OnlyNumber)?,
                2 => t1 = map.next_value_seed(OnlyNumber)?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(t.or(t1))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
