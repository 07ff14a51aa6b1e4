//! Zigbee2MQTT device state (`zigbee2mqtt/<friendly name>`).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::stream::{self, give_up, Key, Number, Skip};
use super::tree::{check_pointer, number_at, parse_json, value_number, J};
use super::{float_ms, parse_fault, parse_rfc3339_ms, plausible_stamp, quote, Raw, Unit};
use crate::reading::Fault;

/// Zigbee2MQTT device state: `{"temperature":21.3,"humidity":48,"last_seen":…}`;
/// thermostats report `local_temperature` instead. `last_seen` (when enabled
/// in Zigbee2MQTT's `advanced.last_seen`) is an ISO 8601 string with a zone
/// (`ISO_8601`: `…Z`, `ISO_8601_local`: `…+01:00`) or epoch milliseconds.
pub(super) fn zigbee2mqtt(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
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
    stream::read(text, State)
}

/// [`zigbee2mqtt`] read through the tree, which also words every fault.
pub(super) fn from_tree(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
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

/// The device state in one pass: `temperature` (else `local_temperature`)
/// and `last_seen`, read as [`zigbee2mqtt`] reads them from the tree.
struct State;

/// The members [`State`] reads.
enum Member {
    Temperature,
    LocalTemperature,
    LastSeen,
    Other,
}

impl<'de> DeserializeSeed<'de> for State {
    type Value = Raw;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for State {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Zigbee2MQTT device state")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut temperature: Option<(f64, Option<Unit>)> = None;
        let mut local = None;
        let mut last_seen = None;
        let name = |k: &str| match k {
            "temperature" => Member::Temperature,
            "local_temperature" => Member::LocalTemperature,
            "last_seen" => Member::LastSeen,
            _ => Member::Other,
        };
        while let Some(member) = map.next_key_seed(Key(name))? {
            match member {
                Member::Temperature => temperature = Some(map.next_value_seed(Number)?),
                Member::LocalTemperature => local = Some(map.next_value_seed(Number)?),
                Member::LastSeen => last_seen = map.next_value_seed(LastSeen)?,
                Member::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let (value, unit) = temperature.or(local).ok_or_else(give_up)?;
        Ok(Raw {
            value,
            unit,
            stamp_ms: last_seen.filter(|ms| plausible_stamp(*ms)),
        })
    }
}

/// `last_seen`: RFC 3339 text or epoch milliseconds; anything else is no stamp.
struct LastSeen;

impl<'de> DeserializeSeed<'de> for LastSeen {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LastSeen {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a time stamp")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_rfc3339_ms(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(float_ms(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(float_ms(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(float_ms(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        stream::SkipVisitor.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        stream::SkipVisitor.visit_map(map).map(|_| None)
    }
}
