//! A payload that is one number as text (`plain`, ESPHome's `state`).

use super::{numeric_text, parse_fault, quote, NumErr, Raw};
use crate::reading::Fault;

/// The number in `text`, with the unit its suffix declares.
pub(super) fn plain(text: &str) -> Result<Raw, Fault> {
    match numeric_text(text) {
        Ok((value, unit)) => Ok(Raw {
            value,
            unit,
            stamp_ms: None,
        }),
        Err(NumErr::Empty) => Err(parse_fault("payload is empty".to_string())),
        Err(NumErr::NaN) => Err(parse_fault("sensor reports no value (nan)".to_string())),
        Err(NumErr::Infinite) => Err(parse_fault(format!(
            "payload {} is not a finite number",
            quote(text)
        ))),
        Err(NumErr::NotNumber) => Err(parse_fault(format!(
            "payload {} is not a number",
            quote(text)
        ))),
    }
}
