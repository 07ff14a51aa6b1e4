//! Turning one MQTT payload into °C: plain numbers, a JSON field, and the
//! shapes Tasmota, Zigbee2MQTT, Shelly (Gen2+) and ESPHome publish.
//!
//! Pure: no I/O, no clock. Every failure is a [`Fault`] whose detail says
//! what was wrong with the payload, short enough for a log line.
//!
//! JSON is read into a small tree that keeps members in document order
//! (serde_json's own `Map` sorts them unless its `preserve_order` feature is
//! on, which this crate does not enable), so "the first sensor in the
//! payload" means what a reader of the payload sees.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

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
/// Stamps before 2000-01-01 come from a device whose clock is not set.
const MIN_STAMP_MS: i64 = 946_684_800_000;
/// Stamps after 9999-12-31 are not stamps.
const MAX_STAMP_MS: i64 = 253_402_300_799_999;

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
        Format::Plain | Format::Esphome => plain(text)?,
        Format::Json => json(text, field.unwrap_or(DEFAULT_JSON_FIELD))?,
        Format::Tasmota => tasmota(text, field)?,
        Format::Zigbee2mqtt => zigbee2mqtt(text, field)?,
        Format::Shelly => match shelly(text, field)? {
            Some(raw) => raw,
            None => return Ok(None),
        },
    };
    finish(spec, raw).map(Some)
}

/// A value as found in the payload, before unit conversion and checks.
#[derive(Debug, Clone, Copy)]
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
// Plain text

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

fn plain(text: &str) -> Result<Raw, Fault> {
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

// ---------------------------------------------------------------------------
// JSON tree in document order

/// A JSON value whose objects keep their members in document order.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// The member `key` of an object (the last one, if repeated, as serde_json does).
    fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn members(&self) -> &[(String, J)] {
        match self {
            J::Obj(members) => members,
            _ => &[],
        }
    }

    /// "an object", "a number", … for fault details.
    fn kind(&self) -> &'static str {
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
    fn key_list(&self) -> String {
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
fn parse_json(text: &str) -> Result<J, Fault> {
    serde_json::from_str::<J>(text)
        .map_err(|e| parse_fault(format!("payload {} is not JSON ({e})", quote(text))))
}

/// Where a JSON pointer stopped resolving.
struct Missing<'a> {
    /// The pointer to the deepest value that exists ("" for the document).
    parent: String,
    parent_value: &'a J,
}

/// Resolves an RFC 6901 pointer.
fn lookup<'a>(doc: &'a J, pointer: &str) -> Result<&'a J, Missing<'a>> {
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

fn check_pointer(pointer: &str) -> Result<(), Fault> {
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
fn number_at(doc: &J, pointer: &str, text: &str) -> Result<(f64, Option<Unit>), Fault> {
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
fn value_number(v: &J, name: &str) -> Result<(f64, Option<Unit>), Fault> {
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

fn json(text: &str, pointer: &str) -> Result<Raw, Fault> {
    check_pointer(pointer)?;
    let doc = parse_json(text)?;
    let (value, unit) = number_at(&doc, pointer, text)?;
    Ok(Raw {
        value,
        unit,
        stamp_ms: None,
    })
}

// ---------------------------------------------------------------------------
// Tasmota

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
fn tasmota(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
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

// ---------------------------------------------------------------------------
// Zigbee2MQTT

/// Zigbee2MQTT device state: `{"temperature":21.3,"humidity":48,"last_seen":…}`;
/// thermostats report `local_temperature` instead. `last_seen` (when enabled
/// in Zigbee2MQTT's `advanced.last_seen`) is an ISO 8601 string with a zone
/// (`ISO_8601`: `…Z`, `ISO_8601_local`: `…+01:00`) or epoch milliseconds.
fn zigbee2mqtt(text: &str, field: Option<&str>) -> Result<Raw, Fault> {
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

// ---------------------------------------------------------------------------
// Shelly

/// Shelly Gen2+ `<id>/status/temperature:0` (`{"id":0,"tC":21.5,"tF":70.7}`)
/// or an RPC notification on `<id>/events/rpc`
/// (`{"src":…,"method":"NotifyStatus","params":{"ts":…,"temperature:0":{…}}}`).
/// `tC` names its unit, so the sensor's `unit` does not apply. `Ok(None)`:
/// a notification without a temperature component.
fn shelly(text: &str, field: Option<&str>) -> Result<Option<Raw>, Fault> {
    if let Some(f) = field {
        check_pointer(f)?;
    }
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

// ---------------------------------------------------------------------------
// Time stamps

/// A float of milliseconds as whole milliseconds, if finite and in range.
fn float_ms(ms: f64) -> Option<i64> {
    if ms.is_finite() && ms.abs() < 9.0e15 {
        Some(ms.round() as i64)
    } else {
        None
    }
}

/// Stamps from before 2000 come from a device whose clock is not set.
fn plausible_stamp(ms: i64) -> bool {
    (MIN_STAMP_MS..=MAX_STAMP_MS).contains(&ms)
}

/// Parses an RFC 3339 / ISO 8601 time with a zone — `2026-11-21T10:00:00Z`,
/// `2026-11-21T11:00:00.123+01:00`, `…+0100` — into Unix milliseconds.
/// `T`, `t` or a space separates date and time; fractions beyond
/// milliseconds are truncated; a leap second (`:60`) counts as the next
/// second. `None` without a zone (local time cannot be placed) or when
/// malformed.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        )
    };
    let byte = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(byte(4, b"-") && byte(7, b"-") && byte(10, b"Tt ") && byte(13, b":") && byte(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..3 {
            let d = if start + k < i {
                i64::from(b[start + k] - b'0')
            } else {
                0
            };
            frac_ms = frac_ms * 10 + d;
        }
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        &sign @ (b'+' | b'-') => {
            let oh = num(i + 1, 2)?;
            let (om, end) = if byte(i + 3, b":") {
                (num(i + 4, 2)?, i + 6)
            } else {
                (num(i + 3, 2)?, i + 5)
            };
            if end != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(secs * 1000 + frac_ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(format: Format) -> PayloadSpec {
        PayloadSpec::new(format)
    }

    fn with_field(format: Format, field: &str) -> PayloadSpec {
        PayloadSpec {
            field: Some(field.to_string()),
            ..PayloadSpec::new(format)
        }
    }

    fn with_unit(format: Format, unit: Unit) -> PayloadSpec {
        PayloadSpec {
            unit: Some(unit),
            ..PayloadSpec::new(format)
        }
    }

    fn ok(spec: &PayloadSpec, payload: &str) -> Parsed {
        match parse(spec, payload.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("{payload}: {e:?}"),
        }
    }

    fn c(spec: &PayloadSpec, payload: &str) -> f64 {
        ok(spec, payload).celsius
    }

    /// The Parse detail, asserting it is a Parse fault of sane length.
    fn parse_err(spec: &PayloadSpec, payload: &[u8]) -> String {
        match parse(spec, payload) {
            Err(Fault::Parse(d)) => {
                assert!(d.chars().count() <= MAX_DETAIL, "{d}");
                d
            }
            other => panic!(
                "{:?}: expected a Parse fault, got {other:?}",
                String::from_utf8_lossy(payload)
            ),
        }
    }

    fn ms(rfc3339: &str) -> i64 {
        let t = humantime::parse_rfc3339(rfc3339).unwrap();
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }

    // --- Format / Unit -------------------------------------------------

    #[test]
    fn format_names_round_trip() {
        for name in Format::NAMES {
            let f = Format::from_name(name).unwrap();
            assert_eq!(f.name(), *name);
            assert_eq!(f.to_string(), *name);
        }
        assert_eq!(Format::from_name("Tasmota"), None);
        assert_eq!(Format::from_name(""), None);
        assert_eq!(Unit::from_name("F"), Some(Unit::F));
        assert_eq!(Unit::from_name("K"), None);
        assert_eq!(PayloadSpec::default().range, DEFAULT_RANGE);
    }

    // --- Plain / ESPHome -----------------------------------------------

    #[test]
    fn plain_numbers_and_whitespace() {
        let s = spec(Format::Plain);
        assert_eq!(c(&s, "21.5"), 21.5);
        assert_eq!(c(&s, "  -4.25 \r\n"), -4.25);
        assert_eq!(c(&s, "+3"), 3.0);
        assert_eq!(c(&s, "\u{feff}21"), 21.0);
        assert_eq!(ok(&s, "21.5").stamp_ms, None);
    }

    #[test]
    fn plain_unit_suffixes_are_honoured() {
        let s = spec(Format::Plain);
        assert_eq!(c(&s, "21.5 °C"), 21.5);
        assert_eq!(c(&s, "21.5°C"), 21.5);
        assert_eq!(c(&s, "21.5C"), 21.5);
        assert_eq!(c(&s, "21.5 ℃"), 21.5);
        assert_eq!(c(&s, "70.7 °F"), 21.5);
        assert_eq!(c(&s, "70.7°F"), 21.5);
        assert_eq!(c(&s, "70.7F"), 21.5);
        assert_eq!(c(&s, "70.7 f"), 21.5);
    }

    #[test]
    fn plain_payload_unit_wins_over_sensor_unit() {
        let f = with_unit(Format::Plain, Unit::F);
        assert_eq!(c(&f, "70.7"), 21.5, "sensor unit applies without a suffix");
        assert_eq!(c(&f, "21.5 °C"), 21.5, "the suffix wins");
        let cel = with_unit(Format::Plain, Unit::C);
        assert_eq!(c(&cel, "70.7 °F"), 21.5);
    }

    #[test]
    fn plain_rejects_text_empty_and_infinite() {
        let s = spec(Format::Plain);
        assert_eq!(
            parse_err(&s, b"unavailable"),
            "payload \"unavailable\" is not a number"
        );
        assert_eq!(parse_err(&s, b"  "), "payload is empty");
        assert_eq!(parse_err(&s, b"21,5"), "payload \"21,5\" is not a number");
        assert_eq!(
            parse_err(&s, b"inf"),
            "payload \"inf\" is not a finite number"
        );
        assert_eq!(
            parse_err(&s, b"-infinity"),
            "payload \"-infinity\" is not a finite number"
        );
        assert_eq!(
            parse_err(&s, b"\xb0C"),
            "payload is not UTF-8 (invalid byte at offset 0)"
        );
        // A lone unit is not a number.
        assert!(parse_err(&s, b"F").contains("not a number"));
        assert!(parse_err(&s, b"1e999").contains("not a finite number"));
    }

    #[test]
    fn esphome_state_number_and_nan() {
        // ESPHome: `<node>/sensor/<name>/state`, accuracy_decimals applied, `nan` when unknown.
        let s = spec(Format::Esphome);
        assert_eq!(c(&s, "21.4"), 21.4);
        assert_eq!(c(&s, "-18.06"), -18.06);
        assert_eq!(c(&s, "4"), 4.0);
        assert_eq!(parse_err(&s, b"nan"), "sensor reports no value (nan)");
        assert_eq!(parse_err(&s, b"NaN"), "sensor reports no value (nan)");
        assert_eq!(
            parse_err(&spec(Format::Plain), b"-nan"),
            "sensor reports no value (nan)"
        );
    }

    // --- range, rounding, size -----------------------------------------

    #[test]
    fn out_of_range_says_what_and_how_to_fix() {
        let s = spec(Format::Plain);
        assert_eq!(
            parse(&s, b"150"),
            Ok(Parsed {
                celsius: 150.0,
                stamp_ms: None
            })
        );
        assert_eq!(
            parse(&s, b"250"),
            Err(Fault::OutOfRange(
                "250.0 °C is outside -80..200 °C (set `range` if this sensor really reads that)"
                    .to_string()
            ))
        );
        assert!(matches!(parse(&s, b"-80.5"), Err(Fault::OutOfRange(_))));
        assert_eq!(c(&s, "-80"), -80.0);
        assert_eq!(c(&s, "200"), 200.0);
        let narrow = PayloadSpec {
            range: (-40.0, 125.0),
            ..spec(Format::Plain)
        };
        assert_eq!(
            parse(&narrow, b"150"),
            Err(Fault::OutOfRange(
                "150.0 °C is outside -40..125 °C (set `range` if this sensor really reads that)"
                    .to_string()
            ))
        );
        let wide = PayloadSpec {
            range: (-200.0, 1200.0),
            ..spec(Format::Plain)
        };
        assert_eq!(c(&wide, "1000"), 1000.0);
        // The range is in °C: 400 °F is 204.444 °C.
        assert!(
            matches!(parse(&s, b"400F"), Err(Fault::OutOfRange(d)) if d.starts_with("204.444 °C"))
        );
    }

    #[test]
    fn rounds_to_three_decimals() {
        let s = spec(Format::Plain);
        assert_eq!(c(&s, "21.123456"), 21.123);
        assert_eq!(c(&s, "21.1235"), 21.124);
        assert_eq!(c(&s, "73.6F"), 23.111);
        assert_eq!(c(&s, "-0.0001"), 0.0);
        assert!(c(&s, "-0.0001").is_sign_positive());
    }

    #[test]
    fn oversized_payload_is_refused_unread() {
        let s = spec(Format::Plain);
        let mut at_limit = b"21.5".to_vec();
        at_limit.resize(MAX_PAYLOAD, b' ');
        assert_eq!(c(&s, std::str::from_utf8(&at_limit).unwrap()), 21.5);
        at_limit.push(b' ');
        assert_eq!(
            parse_err(&s, &at_limit),
            "payload is 65537 bytes, over the 64 KiB limit"
        );
        // Not even looked at: invalid UTF-8 beyond the limit still gets the size fault.
        let mut junk = vec![0xff; MAX_PAYLOAD + 1];
        junk[0] = b'{';
        assert!(parse_err(&spec(Format::Json), &junk).contains("64 KiB"));
    }

    // --- JSON ----------------------------------------------------------

    #[test]
    fn json_field_default_nested_and_numeric_strings() {
        let s = spec(Format::Json);
        assert_eq!(c(&s, r#"{"temperature":21.5,"humidity":40}"#), 21.5);
        assert_eq!(c(&s, r#"{"temperature":"21.5"}"#), 21.5);
        assert_eq!(c(&s, r#"{"temperature":" 70.7 °F "}"#), 21.5);
        let nested = with_field(Format::Json, "/sensors/0/temp");
        assert_eq!(c(&nested, r#"{"sensors":[{"temp":-3},{"temp":4}]}"#), -3.0);
        let escaped = with_field(Format::Json, "/a~1b/c~0d");
        assert_eq!(c(&escaped, r#"{"a/b":{"c~d":7}}"#), 7.0);
        let whole = with_field(Format::Json, "");
        assert_eq!(c(&whole, "21.5"), 21.5);
        let f = PayloadSpec {
            unit: Some(Unit::F),
            ..with_field(Format::Json, "/t")
        };
        assert_eq!(c(&f, r#"{"t":70.7}"#), 21.5);
    }

    #[test]
    fn json_missing_field_lists_fields() {
        let s = spec(Format::Json);
        assert_eq!(
            parse_err(&s, br#"{"temp":21}"#),
            r#"payload "{\"temp\":21}" has no field /temperature (fields: temp)"#
        );
        let nested = with_field(Format::Json, "/sensor/temperature");
        assert_eq!(
            parse_err(&nested, br#"{"sensor":{"temp":21,"rh":40}}"#),
            r#"payload "{\"sensor\":{\"temp\":21,\"rh\":40}}" has no field /sensor/temperature (fields at /sensor: temp, rh)"#
        );
        assert!(parse_err(&s, b"[1,2]").ends_with("(payload is an array of 2)"));
        assert!(parse_err(&s, b"21.5").ends_with("(payload is a number)"));
        let idx = with_field(Format::Json, "/v/01");
        assert!(parse_err(&idx, br#"{"v":[1,2]}"#).ends_with("(/v is an array of 2)"));
    }

    #[test]
    fn json_null_bool_object_are_not_numbers() {
        let s = spec(Format::Json);
        assert_eq!(
            parse_err(&s, br#"{"temperature":null}"#),
            "field /temperature is null"
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":true}"#),
            "field /temperature is a boolean (true), not a number"
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":{"value":21}}"#),
            "field /temperature is an object (fields: value), not a number"
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":[21]}"#),
            "field /temperature is an array of 1, not a number"
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":"warm"}"#),
            "field /temperature is \"warm\", not a number"
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":"nan"}"#),
            "field /temperature is \"nan\": sensor reports no value (nan)"
        );
    }

    #[test]
    fn json_syntax_and_pointer_errors() {
        let s = spec(Format::Json);
        let d = parse_err(&s, b"{\"temperature\":21.5");
        assert!(
            d.starts_with("payload \"{\\\"temperature\\\":21.5\" is not JSON ("),
            "{d}"
        );
        assert!(parse_err(&s, b"{\"temperature\":NaN}").contains("is not JSON"));
        let bad = with_field(Format::Json, "temperature");
        assert_eq!(
            parse_err(&bad, br#"{"temperature":1}"#),
            "field \"temperature\" is not a JSON pointer (it must start with '/')"
        );
    }

    #[test]
    fn details_stay_short() {
        let keys: Vec<String> = (0..200)
            .map(|i| format!("\"key_number_{i}\":{i}"))
            .collect();
        let payload = format!("{{{}}}", keys.join(","));
        for format in [
            Format::Json,
            Format::Tasmota,
            Format::Zigbee2mqtt,
            Format::Shelly,
        ] {
            let d = parse_err(&spec(format), payload.as_bytes());
            assert!(d.contains('…'), "{d}");
        }
        let long = "x".repeat(5000);
        let d = parse_err(&spec(Format::Plain), long.as_bytes());
        assert!(
            d.starts_with(&format!("payload \"{}…\"", "x".repeat(59))),
            "{d}"
        );
        let field = with_field(Format::Json, &format!("/{long}"));
        parse_err(&field, b"{}");
    }

    // --- Tasmota -------------------------------------------------------

    const TASMOTA_DS18B20: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}"#;
    const TASMOTA_MULTI: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20-1":{"Id":"0316A2791BFF","Temperature":23.1},"DS18B20-2":{"Id":"0416A27A3EFF","Temperature":-18.5},"TempUnit":"C"}"#;
    const TASMOTA_AM2301: &str = r#"{"Time":"2026-11-21T10:00:00","AM2301":{"Temperature":22.3,"Humidity":45.1,"DewPoint":9.9},"TempUnit":"C"}"#;
    const TASMOTA_BME280: &str = r#"{"Time":"2026-11-21T10:00:00","BME280":{"Temperature":21.6,"Humidity":40.2,"DewPoint":7.5,"Pressure":1013.2},"PressureUnit":"hPa","TempUnit":"C"}"#;
    const TASMOTA_SI7021: &str = r#"{"Time":"2026-11-21T10:00:00","SI7021":{"Temperature":20.9,"Humidity":51.0,"DewPoint":10.5},"TempUnit":"C"}"#;
    const TASMOTA_ANALOG: &str =
        r#"{"Time":"2026-11-21T10:00:00","ANALOG":{"Temperature1":24.3},"TempUnit":"C"}"#;
    const TASMOTA_F: &str = r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":73.6},"TempUnit":"F"}"#;
    const TASMOTA_ESP32: &str = r#"{"Time":"2026-11-21T10:00:00","ESP32":{"Temperature":48.3},"DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}"#;
    const TASMOTA_STATUS10: &str = r#"{"StatusSNS":{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}}"#;
    const TASMOTA_ENERGY: &str =
        r#"{"Time":"2026-11-21T10:00:00","ENERGY":{"Total":1.2,"Power":40,"Voltage":230}}"#;

    #[test]
    fn tasmota_single_sensors() {
        let s = spec(Format::Tasmota);
        assert_eq!(
            ok(&s, TASMOTA_DS18B20),
            Parsed {
                celsius: 23.1,
                stamp_ms: None
            }
        );
        assert_eq!(c(&s, TASMOTA_AM2301), 22.3);
        assert_eq!(c(&s, TASMOTA_BME280), 21.6);
        assert_eq!(c(&s, TASMOTA_SI7021), 20.9);
        assert_eq!(c(&s, TASMOTA_ANALOG), 24.3);
        assert_eq!(c(&s, TASMOTA_STATUS10), 23.1);
    }

    #[test]
    fn tasmota_time_is_not_a_stamp() {
        // Device-local time without a zone: unplaceable.
        assert_eq!(ok(&spec(Format::Tasmota), TASMOTA_DS18B20).stamp_ms, None);
    }

    #[test]
    fn tasmota_multi_sensor_first_in_document_order_or_field() {
        let s = spec(Format::Tasmota);
        assert_eq!(c(&s, TASMOTA_MULTI), 23.1);
        // Document order, not name order.
        assert_eq!(
            c(
                &s,
                r#"{"SI7021":{"Temperature":20.0},"AM2301":{"Temperature":22.0},"TempUnit":"C"}"#
            ),
            20.0
        );
        let second = with_field(Format::Tasmota, "/DS18B20-2/Temperature");
        assert_eq!(c(&second, TASMOTA_MULTI), -18.5);
        let missing = with_field(Format::Tasmota, "/DS18B20-3/Temperature");
        assert!(parse_err(&missing, TASMOTA_MULTI.as_bytes()).ends_with(
            "has no field /DS18B20-3/Temperature (fields: Time, DS18B20-1, DS18B20-2, TempUnit)"
        ));
    }

    #[test]
    fn tasmota_skips_the_esp32_chip_temperature() {
        let s = spec(Format::Tasmota);
        assert_eq!(c(&s, TASMOTA_ESP32), 23.1);
        let only_chip =
            r#"{"Time":"2026-11-21T10:00:00","ESP32":{"Temperature":48.3},"TempUnit":"C"}"#;
        assert!(parse_err(&s, only_chip.as_bytes()).contains("field = \"/ESP32/Temperature\""));
        let chip = with_field(Format::Tasmota, "/ESP32/Temperature");
        assert_eq!(c(&chip, only_chip), 48.3);
    }

    #[test]
    fn tasmota_tempunit_f_converts_and_wins() {
        let s = spec(Format::Tasmota);
        assert_eq!(c(&s, TASMOTA_F), 23.111);
        // TempUnit wins over the sensor's unit, both ways.
        assert_eq!(c(&with_unit(Format::Tasmota, Unit::C), TASMOTA_F), 23.111);
        assert_eq!(
            c(&with_unit(Format::Tasmota, Unit::F), TASMOTA_DS18B20),
            23.1
        );
        // Without TempUnit the sensor's unit applies.
        let bare = r#"{"DS18B20":{"Temperature":73.6}}"#;
        assert_eq!(c(&with_unit(Format::Tasmota, Unit::F), bare), 23.111);
        assert_eq!(c(&s, bare), 73.6);
        // With a field too.
        let f = with_field(Format::Tasmota, "/DS18B20/Temperature");
        assert_eq!(c(&f, TASMOTA_F), 23.111);
        assert_eq!(
            parse_err(&s, br#"{"DS18B20":{"Temperature":1},"TempUnit":"K"}"#),
            "TempUnit is \"K\", neither \"C\" nor \"F\""
        );
    }

    #[test]
    fn tasmota_without_temperature_lists_members() {
        let s = spec(Format::Tasmota);
        assert_eq!(
            parse_err(&s, TASMOTA_ENERGY.as_bytes()),
            "Tasmota payload has no sensor with a Temperature (fields: Time, ENERGY)"
        );
        assert_eq!(
            parse_err(&s, br#"{"DS18B20":{"Temperature":null}}"#),
            "Tasmota DS18B20.Temperature is null, not a number"
        );
        assert!(parse_err(&s, b"[1]").contains("is an array, not a Tasmota SENSOR object"));
        assert!(parse_err(&s, b"23.1").contains("not a Tasmota SENSOR object"));
    }

    // --- Zigbee2MQTT ---------------------------------------------------

    const Z2M_PLAIN: &str =
        r#"{"battery":100,"humidity":48.21,"linkquality":120,"temperature":21.37,"voltage":3025}"#;
    const Z2M_ISO: &str = r#"{"battery":97,"humidity":55.1,"last_seen":"2026-11-21T10:00:00.000Z","linkquality":87,"temperature":-18.4,"voltage":2985}"#;
    const Z2M_ISO_LOCAL: &str = r#"{"battery":97,"humidity":55.1,"last_seen":"2026-11-21T11:00:00.000+01:00","linkquality":87,"temperature":-18.4}"#;
    const Z2M_EPOCH: &str =
        r#"{"battery":97,"last_seen":1795255200123,"linkquality":87,"temperature":-18.4}"#;
    const Z2M_THERMOSTAT: &str = r#"{"current_heating_setpoint":21,"local_temperature":19.5,"system_mode":"heat","running_state":"heat","linkquality":76}"#;

    #[test]
    fn zigbee2mqtt_temperature_without_last_seen() {
        let s = spec(Format::Zigbee2mqtt);
        assert_eq!(
            ok(&s, Z2M_PLAIN),
            Parsed {
                celsius: 21.37,
                stamp_ms: None
            }
        );
    }

    #[test]
    fn zigbee2mqtt_last_seen_iso_and_epoch() {
        let s = spec(Format::Zigbee2mqtt);
        let want = ms("2026-11-21T10:00:00Z");
        assert_eq!(
            ok(&s, Z2M_ISO),
            Parsed {
                celsius: -18.4,
                stamp_ms: Some(want)
            }
        );
        assert_eq!(ok(&s, Z2M_ISO_LOCAL).stamp_ms, Some(want));
        assert_eq!(ok(&s, Z2M_EPOCH).stamp_ms, Some(1_795_255_200_123));
    }

    #[test]
    fn zigbee2mqtt_bad_last_seen_costs_only_the_stamp() {
        let s = spec(Format::Zigbee2mqtt);
        for last_seen in [
            r#""yesterday""#,
            r#""2026-11-21T10:00:00""#,
            "true",
            "null",
            "12",
            r#""1970-01-01T00:00:00Z""#,
        ] {
            let p = ok(
                &s,
                &format!(r#"{{"temperature":5,"last_seen":{last_seen}}}"#),
            );
            assert_eq!(
                p,
                Parsed {
                    celsius: 5.0,
                    stamp_ms: None
                },
                "{last_seen}"
            );
        }
    }

    #[test]
    fn zigbee2mqtt_thermostat_local_temperature() {
        let s = spec(Format::Zigbee2mqtt);
        assert_eq!(c(&s, Z2M_THERMOSTAT), 19.5);
        // temperature wins when both are there.
        assert_eq!(
            c(&s, r#"{"local_temperature":19.5,"temperature":20.5}"#),
            20.5
        );
    }

    #[test]
    fn zigbee2mqtt_field_override_and_faults() {
        let s = spec(Format::Zigbee2mqtt);
        let f = with_field(Format::Zigbee2mqtt, "/device_temperature");
        assert_eq!(c(&f, r#"{"device_temperature":31,"temperature":20}"#), 31.0);
        assert_eq!(
            parse_err(&s, br#"{"battery":100,"contact":true}"#),
            r#"payload "{\"battery\":100,\"contact\":true}" has no field /temperature or /local_temperature (fields: battery, contact)"#
        );
        assert_eq!(
            parse_err(&s, br#"{"temperature":null}"#),
            "field /temperature is null"
        );
        assert!(parse_err(&s, b"\"online\"").ends_with("(payload is a string)"));
        // Z2M reports °C; a sensor `unit` still applies (no payload declaration).
        assert_eq!(
            c(
                &with_unit(Format::Zigbee2mqtt, Unit::F),
                r#"{"temperature":70.7}"#
            ),
            21.5
        );
    }

    // --- Shelly --------------------------------------------------------

    const SHELLY_STATUS: &str = r#"{"id":0,"tC":21.5,"tF":70.7}"#;
    const SHELLY_STATUS_ERROR: &str = r#"{"id":0,"tC":null,"tF":null,"errors":["read"]}"#;
    const SHELLY_NOTIFY: &str = r#"{"src":"shellyplusht-08b61fcb7f3c","dst":"shellyplusht-08b61fcb7f3c/events","method":"NotifyStatus","params":{"ts":1732183205.12,"temperature:0":{"id":0,"tC":21.6,"tF":70.9}}}"#;
    const SHELLY_NOTIFY_HUMIDITY: &str = r#"{"src":"shellyplusht-08b61fcb7f3c","dst":"shellyplusht-08b61fcb7f3c/events","method":"NotifyStatus","params":{"ts":1732183205.12,"humidity:0":{"id":0,"rh":48.9}}}"#;
    const SHELLY_NOTIFY_EVENT: &str = r#"{"src":"shellyplus1-a8032ab12345","dst":"shellyplus1-a8032ab12345/events","method":"NotifyEvent","params":{"ts":1732183205.12,"events":[{"component":"input:0","id":0,"event":"single_push","ts":1732183205.12}]}}"#;
    const SHELLY_FULL_STATUS: &str = r#"{"src":"shellyplus1-a8032ab12345","dst":"x/events","method":"NotifyFullStatus","params":{"ts":1732183205.12,"switch:0":{"id":0,"output":false},"temperature:101":{"id":101,"tC":5.5,"tF":41.9},"temperature:100":{"id":100,"tC":4.5,"tF":40.1}}}"#;

    #[test]
    fn shelly_status_topic() {
        let s = spec(Format::Shelly);
        assert_eq!(
            ok(&s, SHELLY_STATUS),
            Parsed {
                celsius: 21.5,
                stamp_ms: None
            }
        );
        // tC names its unit: the sensor's unit does not apply.
        assert_eq!(c(&with_unit(Format::Shelly, Unit::F), SHELLY_STATUS), 21.5);
    }

    #[test]
    fn shelly_notify_status_with_stamp() {
        let s = spec(Format::Shelly);
        assert_eq!(
            ok(&s, SHELLY_NOTIFY),
            Parsed {
                celsius: 21.6,
                stamp_ms: Some(1_732_183_205_120)
            }
        );
        // The lowest-numbered temperature component of a full status.
        assert_eq!(
            ok(&s, SHELLY_FULL_STATUS),
            Parsed {
                celsius: 4.5,
                stamp_ms: Some(1_732_183_205_120)
            }
        );
        let addon = with_field(Format::Shelly, "/params/temperature:101/tC");
        assert_eq!(c(&addon, SHELLY_FULL_STATUS), 5.5);
    }

    #[test]
    fn shelly_null_tc_is_a_sensor_error() {
        let s = spec(Format::Shelly);
        assert_eq!(
            parse_err(&s, SHELLY_STATUS_ERROR.as_bytes()),
            "field /tC is null: the sensor reports an error (errors: read)"
        );
        let notify = r#"{"method":"NotifyStatus","params":{"ts":1732183205.12,"temperature:0":{"id":0,"tC":null,"tF":null}}}"#;
        assert_eq!(
            parse_err(&s, notify.as_bytes()),
            "field /params/temperature:0/tC is null: the sensor reports an error"
        );
    }

    #[test]
    fn shelly_notifications_without_temperature_are_ignorable() {
        let s = spec(Format::Shelly);
        for payload in [SHELLY_NOTIFY_HUMIDITY, SHELLY_NOTIFY_EVENT] {
            assert_eq!(parse_message(&s, payload.as_bytes()), Ok(None), "{payload}");
            assert_eq!(
                parse_err(&s, payload.as_bytes()),
                "Shelly notification carries no temperature component"
            );
        }
        let f = with_field(Format::Shelly, "/params/temperature:0/tC");
        assert_eq!(
            parse_message(&f, SHELLY_NOTIFY_HUMIDITY.as_bytes()),
            Ok(None)
        );
        assert_eq!(
            parse_message(&f, SHELLY_NOTIFY.as_bytes())
                .unwrap()
                .unwrap()
                .celsius,
            21.6
        );
        // Other formats never give None.
        assert_eq!(
            parse_message(&spec(Format::Plain), b"1"),
            Ok(Some(Parsed {
                celsius: 1.0,
                stamp_ms: None
            }))
        );
    }

    #[test]
    fn shelly_field_tf_is_fahrenheit_and_unknown_shapes_fail() {
        let tf = with_field(Format::Shelly, "/tF");
        assert_eq!(c(&tf, SHELLY_STATUS), 21.5);
        let s = spec(Format::Shelly);
        assert_eq!(
            parse_err(&s, br#"{"id":0,"rh":48.9}"#),
            r#"payload "{\"id\":0,\"rh\":48.9}" is neither a Shelly temperature status (tC) nor a notification with params (fields: id, rh)"#
        );
        assert!(parse_err(&s, br#"{"params":{"ts":1}}"#)
            .contains("has no temperature:N component in params (params: ts)"));
        // Unset device clock: no stamp.
        let early =
            r#"{"method":"NotifyStatus","params":{"ts":12.5,"temperature:0":{"id":0,"tC":21.6}}}"#;
        assert_eq!(ok(&s, early).stamp_ms, None);
    }

    // --- RFC 3339 ------------------------------------------------------

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T10:00:00.000Z"),
            Some(ms("2026-11-21T10:00:00Z"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T11:00:00+01:00"),
            Some(ms("2026-11-21T10:00:00Z"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T11:00:00.5+0100"),
            Some(ms("2026-11-21T10:00:00.5Z"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-21 04:30:00.123456-05:30"),
            Some(ms("2026-11-21T10:00:00.123Z"))
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29t00:00:00z"),
            Some(ms("2000-02-29T00:00:00Z"))
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        for bad in [
            "2026-11-21T10:00:00",
            "2026-11-21T10:00:00.Z",
            "2026-11-21T10:00Z",
            "2026-02-29T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T10:00:00+24:00",
            "2026-11-21T10:00:00Zjunk",
            "2026-11-21T10:00:00+01:0",
            "2026-11-21X10:00:00Z",
            "２０２６-11-21T10:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    // --- properties ----------------------------------------------------

    const FORMATS: [Format; 6] = [
        Format::Plain,
        Format::Json,
        Format::Tasmota,
        Format::Zigbee2mqtt,
        Format::Shelly,
        Format::Esphome,
    ];
    const FIELDS: [Option<&str>; 6] = [
        None,
        Some("/temperature"),
        Some("/DS18B20/Temperature"),
        Some("/params/temperature:0/tC"),
        Some(""),
        Some("/a/0/~1"),
    ];
    const FIXTURES: [&str; 14] = [
        TASMOTA_DS18B20,
        TASMOTA_MULTI,
        TASMOTA_F,
        TASMOTA_ESP32,
        TASMOTA_STATUS10,
        Z2M_ISO,
        Z2M_ISO_LOCAL,
        Z2M_EPOCH,
        Z2M_THERMOSTAT,
        SHELLY_STATUS,
        SHELLY_STATUS_ERROR,
        SHELLY_NOTIFY,
        SHELLY_FULL_STATUS,
        "21.5 °C",
    ];

    fn any_spec() -> impl Strategy<Value = PayloadSpec> {
        (0..FORMATS.len(), 0..FIELDS.len(), 0..3u8).prop_map(|(f, field, unit)| PayloadSpec {
            format: FORMATS[f],
            field: FIELDS[field].map(str::to_string),
            unit: [None, Some(Unit::C), Some(Unit::F)][unit as usize],
            range: DEFAULT_RANGE,
        })
    }

    /// Whatever `parse` returns is well-formed.
    fn check(spec: &PayloadSpec, payload: &[u8]) -> Result<(), TestCaseError> {
        match parse(spec, payload) {
            Ok(p) => {
                prop_assert!(p.celsius.is_finite());
                prop_assert!(p.celsius >= spec.range.0 && p.celsius <= spec.range.1);
                prop_assert_eq!(round3(p.celsius), p.celsius);
                if let Some(ms) = p.stamp_ms {
                    prop_assert!(plausible_stamp(ms));
                }
            }
            Err(Fault::Parse(d)) | Err(Fault::OutOfRange(d)) => {
                prop_assert!(!d.is_empty());
                prop_assert!(d.chars().count() <= MAX_DETAIL, "{}", d);
            }
            Err(other) => prop_assert!(false, "unexpected fault {:?}", other),
        }
        Ok(())
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let key = prop_oneof![
            Just("temperature".to_string()),
            Just("local_temperature".to_string()),
            Just("last_seen".to_string()),
            Just("Temperature".to_string()),
            Just("Temperature1".to_string()),
            Just("TempUnit".to_string()),
            Just("DS18B20".to_string()),
            Just("ESP32".to_string()),
            Just("StatusSNS".to_string()),
            Just("tC".to_string()),
            Just("errors".to_string()),
            Just("params".to_string()),
            Just("method".to_string()),
            Just("ts".to_string()),
            Just("temperature:0".to_string()),
            Just("a".to_string()),
            "[a-z:~/0-9]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1.0e3..1.0e3f64).prop_map(|f| serde_json::json!(f)),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            any::<i64>().prop_map(|i| serde_json::json!(i)),
            prop_oneof![
                Just("21.5"),
                Just("nan"),
                Just("70 °F"),
                Just("F"),
                Just("C"),
                Just("NotifyStatus"),
                Just("2026-11-21T10:00:00+01:00"),
                Just("9999-12-31T23:59:59.999-23:59"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_never_panics_on_bytes(spec in any_spec(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            check(&spec, &bytes)?;
        }

        #[test]
        fn parse_never_panics_on_jsonish_text(spec in any_spec(), text in "[\\[\\]{}\":,. 0-9eE+\\-a-zA-Z_°/~]{0,120}") {
            check(&spec, text.as_bytes())?;
        }

        #[test]
        fn parse_never_panics_on_json_trees(spec in any_spec(), v in json_value()) {
            check(&spec, v.to_string().as_bytes())?;
        }

        #[test]
        fn parse_never_panics_on_mutated_fixtures(
            spec in any_spec(),
            which in 0..FIXTURES.len(),
            edits in prop::collection::vec((0..3u8, any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = FIXTURES[which].as_bytes().to_vec();
            for (op, at, b) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => { bytes.remove(i); }
                    1 => bytes.insert(i, b),
                    _ if i < bytes.len() => bytes[i] = b,
                    _ => {}
                }
            }
            check(&spec, &bytes)?;
        }

        #[test]
        fn plain_numbers_read_back(x in -80.0..200.0f64) {
            let p = parse(&spec(Format::Plain), x.to_string().as_bytes()).unwrap();
            prop_assert_eq!(p.celsius, round3(x));
            let j = parse(&spec(Format::Json), format!("{{\"temperature\":{x}}}").as_bytes()).unwrap();
            prop_assert_eq!(j.celsius, round3(x));
        }

        #[test]
        fn fahrenheit_suffix_converts(f in -200.0..500.0f64) {
            let want = round3((f - 32.0) * 5.0 / 9.0);
            match parse(&spec(Format::Esphome), format!("{f} °F").as_bytes()) {
                Ok(p) => prop_assert_eq!(p.celsius, want),
                Err(Fault::OutOfRange(_)) => prop_assert!(!(-80.0..=200.0).contains(&want)),
                Err(e) => prop_assert!(false, "{:?}", e),
            }
        }

        #[test]
        fn rfc3339_agrees_with_humantime(secs in 0i64..253_402_300_799, milli in 0i64..1000, offset_min in -1439i64..1440) {
            let at = secs * 1000 + milli;
            let t = |ms: i64| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
            let z = humantime::format_rfc3339_millis(t(at)).to_string();
            prop_assert_eq!(parse_rfc3339_ms(&z), Some(at));
            // The same instant written in another zone.
            let local = at + offset_min * 60_000;
            prop_assume!((0..=253_402_300_799_999).contains(&local));
            let mut s = humantime::format_rfc3339_millis(t(local)).to_string();
            s.pop();
            let sign = if offset_min < 0 { '-' } else { '+' };
            let o = offset_min.abs();
            s.push_str(&format!("{sign}{:02}:{:02}", o / 60, o % 60));
            prop_assert_eq!(parse_rfc3339_ms(&s), Some(at), "{}", s);
        }
    }
}
