//! Shelly Gen2+ temperature status and RPC notifications.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::stream::{self, give_up, Key, Number, OnlyNumber, Skip};
use super::tree::{check_pointer, lookup, number_at, parse_json, value_number, J};
use super::{cap, float_ms, parse_fault, plausible_stamp, quote, Raw, Unit, MAX_KEYS};
use crate::reading::Fault;

/// Shelly Gen2+ `<id>/status/temperature:0` (`{"id":0,"tC":21.5,"tF":70.7}`)
/// or an RPC notification on `<id>/events/rpc`
/// (`{"src":…,"method":"NotifyStatus","params":{"ts":…,"temperature:0":{…}}}`).
/// `tC` names its unit, so the sensor's `unit` does not apply. `Ok(None)`:
/// a notification without a temperature component.
pub(super) fn shelly(text: &str, field: Option<&str>) -> Result<Option<Raw>, Fault> {
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
pub(super) fn fast(text: &str) -> Option<Option<Raw>> {
    stream::read(text, Message)
}

/// [`shelly`] read through the tree, which also words every fault.
pub(super) fn from_tree(text: &str, field: Option<&str>) -> Result<Option<Raw>, Fault> {
    let doc = parse_json(text)?;
    let params = match doc.get("params") {
        Some(p @ J::Obj(_)) => Some(p),
        _ => None,
    };
    let notification =
        params.is_some() && matches!(doc.get("method"), Some(J::Str(m)) if m.starts_with("Notify"));
    let stamp_ms = match params.and_then(|p| p.get("ts")) {
        Some(J::Num(secs)) => float_ms(secs * 1000.0).filter(|ms| plausible_stamp(*ms)),
        _ => None,
    };
    let raw = |(value, unit): (f64, Option<Unit>), declared: Option<Unit>| Raw {
        value,
        unit: unit.or(declared),
        stamp_ms,
    };
    if let Some(f) = field {
        if notification && lookup(&doc, f).is_err() {
            return Ok(None);
        }
        let declared = if f.ends_with("/tC") {
            Some(Unit::C)
        } else if f.ends_with("/tF") {
            Some(Unit::F)
        } else {
            None
        };
        return number_at(&doc, f, text).map(|x| Some(raw(x, declared)));
    }
    if doc.get("tC").is_some() {
        return shelly_component(&doc, "/tC").map(|x| Some(raw(x, Some(Unit::C))));
    }
    if let Some(p) = params {
        // The lowest-numbered temperature:N component (temperature:0 is the
        // built-in sensor; 100+ are add-on probes).
        let best = p
            .members()
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("temperature:")?.parse::<u32>().ok()?;
                Some((n, k, v))
            })
            .min_by_key(|(n, _, _)| *n);
        return match best {
            Some((_, key, comp)) => {
                let name = format!("/params/{key}/tC");
                shelly_component(comp, &name).map(|x| Some(raw(x, Some(Unit::C))))
            }
            None if notification => Ok(None),
            None => Err(parse_fault(format!(
                "payload {} has no temperature:N component in params (params: {})",
                quote(text),
                p.key_list()
            ))),
        };
    }
    let context = match &doc {
        J::Obj(_) => format!("fields: {}", doc.key_list()),
        other => format!("payload is {}", other.kind()),
    };
    Err(parse_fault(format!(
        "payload {} is neither a Shelly temperature status (tC) nor a notification with params ({context})",
        quote(text)
    )))
}

/// `tC` of a `temperature:N` status object; `name` is its pointer.
fn shelly_component(comp: &J, name: &str) -> Result<(f64, Option<Unit>), Fault> {
    let tc = comp.get("tC").unwrap_or(&J::Null);
    if matches!(tc, J::Null) {
        // {"id":0,"tC":null,"tF":null,"errors":["read"]}: the probe failed.
        let errors = match comp.get("errors") {
            Some(J::Arr(items)) if !items.is_empty() => {
                let names: Vec<String> = items
                    .iter()
                    .map(|e| match e {
                        J::Str(s) => s.clone(),
                        other => other.kind().to_string(),
                    })
                    .collect();
                format!(" (errors: {})", cap(names.join(", "), MAX_KEYS))
            }
            _ => String::new(),
        };
        let what = if comp.get("tC").is_some() {
            "is null"
        } else {
            "is missing"
        };
        return Err(parse_fault(format!(
            "field {name} {what}: the sensor reports an error{errors}"
        )));
    }
    value_number(tc, name)
}

/// A status or notification in one pass, read as [`shelly`] reads it from
/// the tree: top-level `tC`, else the lowest-numbered `temperature:N` in
/// `params`, stamped with `params.ts`.
struct Message;

/// The members [`Message`] and [`Params`] tell apart.
enum Member {
    Tc,
    Params,
    Method,
    Ts,
    Component(u32),
    Other,
}

fn member(k: &str) -> Member {
    match k {
        "tC" => Member::Tc,
        "params" => Member::Params,
        "method" => Member::Method,
        "ts" => Member::Ts,
        _ => match k.strip_prefix("temperature:").map(str::parse::<u32>) {
            Some(Ok(n)) => Member::Component(n),
            _ => Member::Other,
        },
    }
}

impl<'de> DeserializeSeed<'de> for Message {
    type Value = Option<Raw>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Message {
    type Value = Option<Raw>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Shelly status or notification")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tc = None;
        let mut params: Option<Params> = None;
        let mut notify = false;
        while let Some(m) = map.next_key_seed(Key(member))? {
            match m {
                Member::Tc => tc = Some(map.next_value_seed(Number)?),
                Member::Params => params = Some(map.next_value_seed(ParamsSeed)?),
                Member::Method => notify = map.next_value_seed(Method)?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let stamp_ms = params
            .as_ref()
            .and_then(|p| p.ts)
            .and_then(|secs| float_ms(secs * 1000.0))
            .filter(|ms| plausible_stamp(*ms));
        let raw = |(value, unit): (f64, Option<Unit>)| Raw {
            value,
            unit: unit.or(Some(Unit::C)),
            stamp_ms,
        };
        match (tc, params) {
            (Some(x), _) => Ok(Some(raw(x))),
            (
                None,
                Some(Params {
                    best: Some((_, x)), ..
                }),
            ) => Ok(Some(raw(x))),
            (None, Some(Params { best: None, .. })) if notify => Ok(None),
            _ => Err(give_up()),
        }
    }
}

/// What `params` holds for [`Message`].
struct Params {
    ts: Option<f64>,
    /// The lowest-numbered `temperature:N` component and its `tC`.
    best: Option<(u32, (f64, Option<Unit>))>,
}

struct ParamsSeed;

impl<'de> DeserializeSeed<'de> for ParamsSeed {
    type Value = Params;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Params, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("notification params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut p = Params {
            ts: None,
            best: None,
        };
        while let Some(m) = map.next_key_seed(Key(member))? {
            match m {
                Member::Ts => p.ts = map.next_value_seed(OnlyNumber)?,
                Member::Component(n) => {
                    // A repeated component is for the tree to settle.
                    if p.best.is_some_and(|(b, _)| b == n) {
                        return Err(give_up());
                    }
                    let tc = map.next_value_seed(Component)?;
                    if p.best.is_none_or(|(b, _)| n < b) {
                        p.best = Some((n, tc));
                    }
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(p)
    }
}

/// `tC` of a `temperature:N` component (null or missing: for the tree to word).
struct Component;

impl<'de> DeserializeSeed<'de> for Component {
    type Value = (f64, Option<Unit>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Component {
    type Value = (f64, Option<Unit>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a temperature component")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tc = None;
        while let Some(m) = map.next_key_seed(Key(member))? {
            match m {
                Member::Tc => tc = Some(map.next_value_seed(Number)?),
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        tc.ok_or_else(give_up)
    }
}

/// `method`: true for `Notify…`.
struct Method;

impl<'de> DeserializeSeed<'de> for Method {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Method {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a method name")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v.starts_with("Notify"))
    }
}
