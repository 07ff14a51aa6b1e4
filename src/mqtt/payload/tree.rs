//! The general reader: JSON as a tree whose objects keep their members in
//! document order (serde_json's own `Map` sorts them unless its
//! `preserve_order` feature is on, and turning that on would reorder every
//! JSON object the workspace writes, the relay's included), so "the first
//! sensor in the payload" means what a reader of the payload sees. Faults are
//! worded here.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{cap, numeric_text, parse_fault, quote, NumErr, Unit, MAX_KEYS, MAX_QUOTE};
use crate::reading::Fault;

/// A JSON value whose objects keep their members in document order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// The member `key` of an object (the last one, if repeated, as serde_json does).
    pub(super) fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn members(&self) -> &[(String, J)] {
        match self {
            J::Obj(members) => members,
            _ => &[],
        }
    }

    /// "an object", "a number", … for fault details.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "a boolean",
            J::Num(_) => "a number",
            J::Str(_) => "a string",
            J::Arr(_) => "an array",
            J::Obj(_) => "an object",
        }
    }

    /// The member names, comma-separated and cut, for fault details.
    pub(super) fn key_list(&self) -> String {
        let names: Vec<&str> = self.members().iter().map(|(k, _)| k.as_str()).collect();
        if names.is_empty() {
            return "none".to_string();
        }
        cap(names.join(", "), MAX_KEYS)
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::Num(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
        J::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<J>()? {
            items.push(item);
        }
        Ok(J::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, J>()? {
            members.push((k, v));
        }
        Ok(J::Obj(members))
    }
}

/// Parses JSON (serde_json's nesting limit keeps hostile payloads shallow).
pub(super) fn parse_json(text: &str) -> Result<J, Fault> {
    serde_json::from_str::<J>(text)
        .map_err(|e| parse_fault(format!("payload {} is not JSON ({e})", quote(text))))
}

/// Where a JSON pointer stopped resolving.
pub(super) struct Missing<'a> {
    /// The pointer to the deepest value that exists ("" for the document).
    parent: String,
    parent_value: &'a J,
}

/// Resolves an RFC 6901 pointer.
pub(super) fn lookup<'a>(doc: &'a J, pointer: &str) -> Result<&'a J, Missing<'a>> {
    let mut cur = doc;
    if pointer.is_empty() {
        return Ok(cur);
    }
    let mut parent = String::new();
    // The caller checked the leading '/'; a pointer without one resolves nothing.
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Missing {
            parent,
            parent_value: cur,
        });
    };
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        let next = match cur {
            J::Obj(_) => cur.get(&token),
            J::Arr(items) => {
                let ok = !token.is_empty()
                    && token.bytes().all(|b| b.is_ascii_digit())
                    && (token == "0" || !token.starts_with('0'));
                if ok {
                    token.parse::<usize>().ok().and_then(|i| items.get(i))
                } else {
                    None
                }
            }
            _ => None,
        };
        match next {
            Some(v) => {
                cur = v;
                parent.push('/');
                parent.push_str(raw);
            }
            None => {
                return Err(Missing {
                    parent,
                    parent_value: cur,
                })
            }
        }
    }
    Ok(cur)
}

/// "(fields: a, b)" or "(fields at /x: a, b)" or "(/x is a number)".
fn missing_context(m: &Missing<'_>) -> String {
    let at = if m.parent.is_empty() {
        String::new()
    } else {
        format!(" at {}", m.parent)
    };
    match m.parent_value {
        J::Obj(_) => format!("(fields{at}: {})", m.parent_value.key_list()),
        J::Arr(items) => {
            let what = if m.parent.is_empty() {
                "payload"
            } else {
                &m.parent
            };
            format!("({what} is an array of {})", items.len())
        }
        other => {
            let what = if m.parent.is_empty() {
                "payload"
            } else {
                &m.parent
            };
            format!("({what} is {})", other.kind())
        }
    }
}

pub(super) fn check_pointer(pointer: &str) -> Result<(), Fault> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(parse_fault(format!(
            "field {:?} is not a JSON pointer (it must start with '/')",
            cap(pointer.to_string(), MAX_QUOTE)
        )))
    }
}

/// The number at `pointer`: a JSON number or a numeric string (which may
/// carry a unit suffix, returned as declared).
pub(super) fn number_at(doc: &J, pointer: &str, text: &str) -> Result<(f64, Option<Unit>), Fault> {
    check_pointer(pointer)?;
    match lookup(doc, pointer) {
        Ok(v) => value_number(v, pointer),
        Err(m) => Err(parse_fault(format!(
            "payload {} has no field {} {}",
            quote(text),
            cap(pointer.to_string(), MAX_QUOTE),
            missing_context(&m)
        ))),
    }
}

/// A number from a JSON value; `name` names it in faults.
pub(super) fn value_number(v: &J, name: &str) -> Result<(f64, Option<Unit>), Fault> {
    let name = if name.is_empty() {
        "payload".to_string()
    } else {
        format!("field {}", cap(name.to_string(), MAX_QUOTE))
    };
    match v {
        J::Num(n) if n.is_finite() => Ok((*n, None)),
        J::Num(n) => Err(parse_fault(format!("{name} is {n}, not a finite number"))),
        J::Str(s) => match numeric_text(s) {
            Ok(x) => Ok(x),
            Err(NumErr::NaN) => Err(parse_fault(format!(
                "{name} is {:?}: sensor reports no value (nan)",
                cap(s.clone(), MAX_QUOTE)
            ))),
            Err(NumErr::Infinite) => Err(parse_fault(format!(
                "{name} is {:?}, not a finite number",
                cap(s.clone(), MAX_QUOTE)
            ))),
            Err(NumErr::Empty | NumErr::NotNumber) => Err(parse_fault(format!(
                "{name} is {:?}, not a number",
                cap(s.clone(), MAX_QUOTE)
            ))),
        },
        J::Null => Err(parse_fault(format!("{name} is null"))),
        J::Bool(b) => Err(parse_fault(format!(
            "{name} is a boolean ({b}), not a number"
        ))),
        J::Arr(items) => Err(parse_fault(format!(
            "{name} is an array of {}, not a number",
            items.len()
        ))),
        J::Obj(_) => Err(parse_fault(format!(
            "{name} is an object (fields: {}), not a number",
            v.key_list()
        ))),
    }
}
