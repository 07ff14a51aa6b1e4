//! Turning one MQTT payload into °C: plain numbers, a JSON field, and the
//! shapes Tasmota, Zigbee2MQTT, Shelly (Gen2+) and ESPHome publish.
//!
//! Pure: no I/O, no clock. Every failure is a [`Fault`] whose detail says
//! what was wrong with the payload, short enough for a log line.
//!
//! One file per format; JSON is read into the document-order tree of
//! `tree`, which also words the faults.

mod json;
mod plain;
mod shelly;
mod stamp;
mod stream;
mod tasmota;
mod tree;
mod zigbee2mqtt;

#[cfg(test)]
mod tests;

pub use stamp::parse_rfc3339_ms;
use stamp::{float_ms, plausible_stamp};
use std::fmt;

use crate::reading::Fault;

/// Payloads longer than this are refused unread.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The valid range (°C) when a sensor sets none.
pub const DEFAULT_RANGE: (f64, f64) = (-80.0, 200.0);

/// The pointer `Format::Json` reads when the sensor sets no `field`.
pub const DEFAULT_JSON_FIELD: &str = "/temperature";

/// Longest fault detail, in characters.
const MAX_DETAIL: usize = 200;
/// Longest quoted payload inside a detail, in characters.
const MAX_QUOTE: usize = 60;
/// Longest list of field names inside a detail, in characters.
const MAX_KEYS: usize = 80;

/// How a sensor's payload is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One number as text, optionally with a `°C`/`°F` suffix.
    Plain,
    /// A JSON document; `field` (a JSON pointer) names the value.
    Json,
    /// Tasmota `tele/<device>/SENSOR` (or `stat/<device>/STATUS10`).
    Tasmota,
    /// Zigbee2MQTT `zigbee2mqtt/<friendly name>` device state.
    Zigbee2mqtt,
    /// Shelly Gen2+ `<id>/status/temperature:N`, or a `NotifyStatus` event.
    Shelly,
    /// ESPHome `<node>/sensor/<name>/state`: a plain number, `nan` when unknown.
    Esphome,
}

impl Format {
    /// Every format's config name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "plain",
        "json",
        "tasmota",
        "zigbee2mqtt",
        "shelly",
        "esphome",
    ];

    /// The format for a config name (`format = "..."`), exact and lower-case.
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "plain" => Some(Format::Plain),
            "json" => Some(Format::Json),
            "tasmota" => Some(Format::Tasmota),
            "zigbee2mqtt" => Some(Format::Zigbee2mqtt),
            "shelly" => Some(Format::Shelly),
            "esphome" => Some(Format::Esphome),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Tasmota => "tasmota",
            Format::Zigbee2mqtt => "zigbee2mqtt",
            Format::Shelly => "shelly",
            Format::Esphome => "esphome",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Temperature unit of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Degrees Celsius.
    C,
    /// Degrees Fahrenheit.
    F,
}

impl Unit {
    /// `"C"` or `"F"` (either case).
    pub fn from_name(s: &str) -> Option<Unit> {
        match s {
            "C" | "c" => Some(Unit::C),
            "F" | "f" => Some(Unit::F),
            _ => None,
        }
    }

    /// `value` in this unit, as °C.
    pub fn to_celsius(self, value: f64) -> f64 {
        match self {
            Unit::C => value,
            Unit::F => (value - 32.0) * 5.0 / 9.0,
        }
    }
}

/// Everything needed to turn one payload into °C.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadSpec {
    /// How the payload is read.
    pub format: Format,
    /// A JSON pointer (RFC 6901) to the value; overrides a preset's own search.
    pub field: Option<String>,
    /// The sensor's `unit`: used when the payload does not declare one.
    pub unit: Option<Unit>,
    /// Valid °C, inclusive; values outside are `Fault::OutOfRange`.
    pub range: (f64, f64),
}

impl PayloadSpec {
    /// `format` with no field, no unit override and [`DEFAULT_RANGE`].
    pub fn new(format: Format) -> PayloadSpec {
        PayloadSpec {
            format,
            field: None,
            unit: None,
            range: DEFAULT_RANGE,
        }
    }
}

impl Default for PayloadSpec {
    fn default() -> PayloadSpec {
        PayloadSpec::new(Format::Plain)
    }
}

/// A parsed payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parsed {
    /// The temperature, °C, rounded to 3 decimals.
    pub celsius: f64,
    /// Unix milliseconds, if the payload says (with a time zone) when it was measured.
    pub stamp_ms: Option<i64>,
}

/// Reads one payload as `spec` says.
///
/// A Shelly notification that carries no temperature (a `NotifyStatus` for
/// another component, a `NotifyEvent`) is a fault here; use [`parse_message`]
/// to tell those apart from broken payloads.
pub fn parse(spec: &PayloadSpec, payload: &[u8]) -> Result<Parsed, Fault> {
    match parse_message(spec, payload)? {
        Some(p) => Ok(p),
        None => Err(parse_fault(
            "Shelly notification carries no temperature component".to_string(),
        )),
    }
}

/// Like [`parse`], but `Ok(None)` for a message that is well-formed and simply
/// not about this sensor's temperature: a Shelly RPC notification
/// (`NotifyStatus`, `NotifyFullStatus`, `NotifyEvent`, … on `<id>/events/rpc`)
/// without a `temperature:N` component (or without `field`, when set). Such
/// messages arrive routinely on the same topic and should be ignored, not
/// recorded as faults.
pub fn parse_message(spec: &PayloadSpec, payload: &[u8]) -> Result<Option<Parsed>, Fault> {
    if payload.len() > MAX_PAYLOAD {
        return Err(parse_fault(format!(
            "payload is {} bytes, over the {} KiB limit",
            payload.len(),
            MAX_PAYLOAD / 1024
        )));
    }
    let text = std::str::from_utf8(payload).map_err(|e| {
        parse_fault(format!(
            "payload is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let field = spec.field.as_deref();
    let raw = match spec.format {
        Format::Plain | Format::Esphome => plain::plain(text)?,
        Format::Json => json::json(text, field.unwrap_or(DEFAULT_JSON_FIELD))?,
        Format::Tasmota => tasmota::tasmota(text, field)?,
        Format::Zigbee2mqtt => zigbee2mqtt::zigbee2mqtt(text, field)?,
        Format::Shelly => match shelly::shelly(text, field)? {
            Some(raw) => raw,
            None => return Ok(None),
        },
    };
    finish(spec, raw).map(Some)
}

/// A value as found in the payload, before unit conversion and checks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Raw {
    value: f64,
    /// The unit the payload itself declares.
    unit: Option<Unit>,
    stamp_ms: Option<i64>,
}

fn finish(spec: &PayloadSpec, raw: Raw) -> Result<Parsed, Fault> {
    if !raw.value.is_finite() {
        return Err(parse_fault(format!("{} is not a finite number", raw.value)));
    }
    let unit = raw.unit.or(spec.unit).unwrap_or(Unit::C);
    let celsius = round3(unit.to_celsius(raw.value));
    let (lo, hi) = spec.range;
    if !(celsius >= lo && celsius <= hi) {
        return Err(Fault::OutOfRange(cap(
            format!(
                "{celsius:?} °C is outside {lo}..{hi} °C (set `range` if this sensor really reads that)"
            ),
            MAX_DETAIL,
        )));
    }
    Ok(Parsed {
        celsius,
        stamp_ms: raw.stamp_ms,
    })
}

/// Rounds to 3 decimals (values too large for that are left as they are);
/// never returns -0.0.
fn round3(x: f64) -> f64 {
    if x.abs() < 1e12 {
        (x * 1000.0).round() / 1000.0 + 0.0
    } else {
        x
    }
}

fn parse_fault(msg: String) -> Fault {
    Fault::Parse(cap(msg, MAX_DETAIL))
}

/// `s` cut to at most `max` characters, ending in '…' when cut.
fn cap(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The payload, trimmed, cut and quoted for a fault detail.
fn quote(text: &str) -> String {
    format!("{:?}", cap(text.trim().to_string(), MAX_QUOTE))
}

// ---------------------------------------------------------------------------
// Numbers as text, shared by plain payloads and numeric JSON strings

/// Why a text is not a number.
enum NumErr {
    Empty,
    /// `nan` (any case, any sign): ESPHome's "no value".
    NaN,
    /// `inf`, `infinity`.
    Infinite,
    NotNumber,
}

/// One number with an optional unit suffix (`°C`, `°F`, `℃`, `℉`, `C`, `F`,
/// either case, whitespace before it allowed), surrounding whitespace ignored.
fn numeric_text(s: &str) -> Result<(f64, Option<Unit>), NumErr> {
    let t = s.trim();
    if t.is_empty() {
        return Err(NumErr::Empty);
    }
    // A bare number first, so that "inf" is not read as "in" + °F.
    let (value, unit) = match t.parse::<f64>() {
        Ok(v) => (v, None),
        Err(_) => {
            let (num, unit) = split_unit(t);
            match num.parse::<f64>() {
                Ok(v) if unit.is_some() => (v, unit),
                _ => return Err(NumErr::NotNumber),
            }
        }
    };
    if value.is_nan() {
        Err(NumErr::NaN)
    } else if value.is_infinite() {
        Err(NumErr::Infinite)
    } else {
        Ok((value, unit))
    }
}

fn split_unit(t: &str) -> (&str, Option<Unit>) {
    const SUFFIXES: &[(&str, Unit)] = &[
        ("°C", Unit::C),
        ("°c", Unit::C),
        ("°F", Unit::F),
        ("°f", Unit::F),
        ("℃", Unit::C),
        ("℉", Unit::F),
        ("C", Unit::C),
        ("c", Unit::C),
        ("F", Unit::F),
        ("f", Unit::F),
    ];
    for &(suffix, unit) in SUFFIXES {
        if let Some(rest) = t.strip_suffix(suffix) {
            return (rest.trim_end(), Some(unit));
        }
    }
    (t, None)
}
