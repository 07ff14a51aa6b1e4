//! `format = "json"`: the number at a JSON pointer.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::stream::{self, give_up, Key, Number, Skip};
use super::tree::{check_pointer, number_at, parse_json};
use super::{Raw, Unit};
use crate::reading::Fault;

/// The number at `pointer` (RFC 6901) in the JSON document `text`.
pub(super) fn json(text: &str, pointer: &str) -> Result<Raw, Fault> {
    check_pointer(pointer)?;
    let (value, unit) = match fast(text, pointer) {
        Some(found) => found,
        None => number_at(&parse_json(text)?, pointer, text)?,
    };
    Ok(Raw {
        value,
        unit,
        stamp_ms: None,
    })
}

/// The number at `pointer` in one pass, or `None` for the tree to decide.
/// Pointers with `~` escapes are left to the tree.
pub(super) fn fast(text: &str, pointer: &str) -> Option<(f64, Option<Unit>)> {
    if pointer.contains('~') {
        return None;
    }
    stream::read(text, At(pointer.strip_prefix('/')))
}

/// The number at the rest of a pointer (`None`: this value itself).
struct At<'p>(Option<&'p str>);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = (f64, Option<Unit>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0 {
            None => Number.deserialize(d),
            Some(rest) => d.deserialize_any(Step(rest)),
        }
    }
}

/// One pointer token to follow into an object member or array item.
struct Step<'p>(&'p str);

impl Step<'_> {
    fn split(&self) -> (&str, Option<&str>) {
        match self.0.split_once('/') {
            Some((token, rest)) => (token, Some(rest)),
            None => (self.0, None),
        }
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = (f64, Option<Unit>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (token, rest) = self.split();
        let mut found = None;
        // Every member is read, and a repeated name's last value counts, as in the tree.
        while let Some(hit) = map.next_key_seed(Key(|k: &str| k == token))? {
            if hit {
                found = Some(map.next_value_seed(At(rest))?);
            } else {
                map.next_value::<Skip>()?;
            }
        }
        found.ok_or_else(give_up)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (token, rest) = self.split();
        // The tree's rule: decimal digits, no leading zero.
        let index = (!token.is_empty()
            && token.bytes().all(|b| b.is_ascii_digit())
            && (token == "0" || !token.starts_with('0')))
        .then(|| token.parse::<usize>().ok())
        .flatten()
        .ok_or_else(give_up)?;
        let mut found = None;
        let mut i = 0;
        loop {
            if i == index {
                match seq.next_element_seed(At(rest))? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if seq.next_element::<Skip>()?.is_none() {
                break;
            }
            i += 1;
        }
        found.ok_or_else(give_up)
    }
}
