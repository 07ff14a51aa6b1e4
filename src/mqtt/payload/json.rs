//! `format = "json"`: the number at a JSON pointer.

use super::tree::{check_pointer, number_at, parse_json};
use super::Raw;
use crate::reading::Fault;

pub(super) fn json(text: &str, pointer: &str) -> Result<Raw, Fault> {
    check_pointer(pointer)?;
    let doc = parse_json(text)?;
    let (value, unit) = number_at(&doc, pointer, text)?;
    Ok(Raw {
        value,
        unit,
        stamp_ms: None,
    })
}
