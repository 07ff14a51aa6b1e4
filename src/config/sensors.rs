//! `[[sensor]]` entries, one reader per kind.

use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use super::walker::{Ctx, Fields};
use super::{SensorConfig, SensorSource, SimPattern};

const KINDS: &[&str] = &["w1", "hwmon", "thermal", "i2c", "mqtt", "sim"];
/// I2C chips the config accepts.
pub const I2C_CHIPS: &[&str] = &["tmp102", "tmp117", "mcp9808", "sht3x", "sht4x", "bme280"];
const MQTT_FORMATS: &[&str] = &[
    "plain",
    "json",
    "tasmota",
    "zigbee2mqtt",
    "shelly",
    "esphome",
];
const SIM_PATTERNS: &[&str] = &["constant", "sine", "step", "points"];
/// Keys of the sim patterns, accepted unread when `pattern` itself is invalid.
const SIM_KEYS: &[&str] = &[
    "value", "min", "max", "period", "from", "to", "at", "points", "cycle",
];
/// Keys of every kind, accepted unread when `kind` is missing or invalid
/// (the real error is `kind`; reporting the rest as unknown would only be noise).
const KIND_KEYS: &[&str] = &[
    "device", "chip", "input", "zone", "bus", "address", "topic", "format", "field", "unit",
    "pattern", "value", "min", "max", "period", "from", "to", "at", "points", "cycle",
];

/// True for a sensor id: `[a-z0-9_.-]+`.
pub fn valid_sensor_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// The valid sensors, and every well-formed id declared (also those of sensors
/// with other errors, so that duplicates and rules are checked against them
/// instead of cascading into more errors).
pub fn sensors(
    ctx: &mut Ctx<'_>,
    top: &mut Fields<'_, '_>,
    have_mqtt: bool,
) -> (Vec<SensorConfig>, Vec<String>) {
    let mut out: Vec<SensorConfig> = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    for mut t in top.tables(ctx, "sensor", "[[sensor]]") {
        if let Some(s) = sensor(ctx, &mut t, have_mqtt, &mut declared) {
            out.push(s);
        }
        t.finish(ctx, "this [[sensor]] (keys depend on `kind`)");
    }
    (out, declared)
}

fn sensor(
    ctx: &mut Ctx<'_>,
    t: &mut Fields<'_, '_>,
    have_mqtt: bool,
    declared: &mut Vec<String>,
) -> Option<SensorConfig> {
    let id = t.required_string(
        ctx,
        "id",
        "a stable sensor id like \"rack1-inlet\" ([a-z0-9_.-]+)",
    );
    let id = id.and_then(|id| {
        if declared.contains(&id.value) {
            ctx.error(
                &id.span,
                &t.name("id"),
                format!(
                    "duplicate sensor id {:?}: expected each [[sensor]] to have its own id",
                    id.value
                ),
            );
            None
        } else if valid_sensor_id(&id.value) || valid_id_template(&id.value) {
            declared.push(id.value.clone());
            Some(id)
        } else {
            ctx.error(
                &id.span,
                &t.name("id"),
                format!(
                    "expected lower-case letters, digits, '_', '.' or '-' (at most 64), found {:?}",
                    id.value
                ),
            );
            None
        }
    });
    let name = t.string(ctx, "name").map(|n| n.value);
    let interval = match t.duration(ctx, "interval") {
        Some(i) if i.value < Duration::from_millis(100) => {
            ctx.error(&i.span, &t.name("interval"), "expected at least \"100ms\"");
            None
        }
        Some(i) => Some(i.value),
        None => Some(Duration::from_secs(10)),
    };
    if !t.has("kind") {
        let span = t.span();
        ctx.error(
            &span,
            &t.name("kind"),
            format!(
                "missing: the sensor kind, one of {}",
                super::walker::quoted_list(KINDS)
            ),
        );
        KIND_KEYS.iter().for_each(|k| _ = t.has(k));
        return None;
    }
    let Some(kind) = t.choice(ctx, "kind", KINDS) else {
        KIND_KEYS.iter().for_each(|k| _ = t.has(k));
        return None;
    };
    let source = match kind.value.as_str() {
        "w1" => t
            .required_string(
                ctx,
                "device",
                "the w1 device id, e.g. \"28-0316a2791bff\" (see `edgetherm scan`)",
            )
            .map(|d| SensorSource::W1 { device: d.value }),
        "hwmon" => {
            let chip = t.required_string(
                ctx,
                "chip",
                "the hwmon chip's `name`, e.g. \"cpu_thermal\" (see `edgetherm scan`)",
            );
            let input = t
                .string(ctx, "input")
                .map_or_else(|| "temp1".to_string(), |i| i.value);
            chip.map(|c| SensorSource::Hwmon {
                chip: c.value,
                input,
            })
        }
        "thermal" => t
            .required_string(
                ctx,
                "zone",
                "the thermal zone's `type`, e.g. \"cpu-thermal\" (see `edgetherm scan`)",
            )
            .map(|z| SensorSource::Thermal { zone: z.value }),
        "i2c" => {
            let bus = t
                .string(ctx, "bus")
                .map_or_else(|| PathBuf::from("/dev/i2c-1"), |b| PathBuf::from(b.value));
            let chip = t.choice(ctx, "chip", I2C_CHIPS);
            if chip.is_none() && !t.has("chip") {
                let span = t.span();
                ctx.error(
                    &span,
                    &t.name("chip"),
                    format!(
                        "missing: the chip model, one of {}",
                        super::walker::quoted_list(I2C_CHIPS)
                    ),
                );
            }
            let address = t.integer(ctx, "address", 0x03, 0x77);
            let address = match (address, chip.as_ref()) {
                (Some(a), _) => Some(a.value as u8),
                (None, Some(c)) if !t.has("address") => Some(default_i2c_address(&c.value)),
                _ => None,
            };
            match (chip, address) {
                (Some(c), Some(a)) => Some(SensorSource::I2c {
                    bus,
                    chip: c.value,
                    address: a,
                }),
                _ => None,
            }
        }
        "mqtt" => {
            if !have_mqtt {
                ctx.error(
                    &kind.span,
                    &t.name("kind"),
                    "expected an [mqtt] section naming the broker: mqtt sensors read from it",
                );
            }
            let topic =
                t.required_string(ctx, "topic", "the MQTT topic, e.g. \"zigbee2mqtt/freezer\"");
            let format = t
                .choice(ctx, "format", MQTT_FORMATS)
                .map_or_else(|| "plain".to_string(), |f| f.value);
            let field = t.string(ctx, "field");
            if let Some(f) = &field {
                if !(f.value.is_empty() || f.value.starts_with('/')) {
                    ctx.error(&f.span, &t.name("field"), format!("expected a JSON pointer starting with '/', e.g. \"/temperature\", found {:?}", f.value));
                }
            } else if format == "json" {
                let span = t.span();
                ctx.error(
                    &span,
                    &t.name("field"),
                    "missing: a JSON pointer for format = \"json\", e.g. field = \"/temperature\"",
                );
            }
            let unit = t.choice(ctx, "unit", &["C", "F"]).map(|u| u.value);
            let range = mqtt_range(ctx, t);
            let topic = topic.and_then(|tp| match crate::mqtt::topic::validate_filter(&tp.value) {
                Ok(()) => Some(tp),
                Err(why) => {
                    ctx.error(
                        &tp.span,
                        &t.name("topic"),
                        format!("expected an MQTT topic or filter: {why}"),
                    );
                    None
                }
            });
            if let (Some(tp), Some(id)) = (&topic, &id) {
                let wanted = template_captures(&id.value);
                let have = crate::mqtt::topic::capture_count(&tp.value);
                if wanted > have {
                    ctx.error(&id.span, &t.name("id"), format!("expected at most {{{have}}} in the id: the topic {:?} has {have} wildcard level(s) to take ids from", tp.value));
                }
            }
            match (topic, range) {
                (Some(tp), Some(range)) => Some(SensorSource::Mqtt {
                    topic: tp.value,
                    format,
                    field: field.map(|f| f.value),
                    unit,
                    range,
                }),
                _ => None,
            }
        }
        "sim" => sim(ctx, t).map(SensorSource::Sim),
        _ => None,
    };
    if let (Some(id), Some(src)) = (&id, &source) {
        if valid_id_template(&id.value) && !matches!(src, SensorSource::Mqtt { .. }) {
            ctx.error(&id.span, &t.name("id"), "expected a plain id: templates like \"{1}\" only work for mqtt sensors whose topic has wildcards");
            return None;
        }
    }
    Some(SensorConfig {
        id: id?.value,
        name,
        interval: interval?,
        source: source?,
    })
}

/// True for an id template like `"{1}"` or `"freezer-{2}"`: sensor-id
/// characters plus `{N}` placeholders (N from 1 to 9) filled from an MQTT
/// topic's wildcard levels.
pub fn valid_id_template(s: &str) -> bool {
    template_captures(s) > 0 && valid_sensor_id(&strip_placeholders(s).replace("{}", "x"))
}

fn strip_placeholders(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.len() >= 3
            && tail.as_bytes()[2] == b'}'
            && (b'1'..=b'9').contains(&tail.as_bytes()[1])
        {
            out.push_str("{}");
            rest = &tail[3..];
        } else {
            out.push_str(tail);
            return out;
        }
    }
    out.push_str(rest);
    out
}

/// The highest `{N}` an id refers to (0 for a plain id).
fn template_captures(s: &str) -> usize {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(2))
        .filter(|&i| b[i] == b'{' && b[i + 2] == b'}' && (b'1'..=b'9').contains(&b[i + 1]))
        .map(|i| (b[i + 1] - b'0') as usize)
        .max()
        .unwrap_or(0)
}

/// `range = [-80.0, 200.0]`: the °C values an mqtt sensor can plausibly report.
fn mqtt_range(ctx: &mut Ctx<'_>, t: &mut Fields<'_, '_>) -> Option<(f64, f64)> {
    let Some(raw) = t.raw("range") else {
        return Some((-80.0, 200.0));
    };
    let pair = raw.get_ref().as_array().and_then(|a| {
        let n: Vec<f64> = a
            .iter()
            .filter_map(|v| super::walker::number_of(v.get_ref()))
            .collect();
        (a.len() == 2 && n.len() == 2 && n[0] < n[1]).then(|| (n[0], n[1]))
    });
    if pair.is_none() {
        ctx.error(
            &raw.span(),
            &t.name("range"),
            "expected [lowest, highest] in °C with lowest < highest, e.g. range = [-80.0, 200.0]",
        );
    }
    pair
}

fn default_i2c_address(chip: &str) -> u8 {
    match chip {
        "tmp102" | "tmp117" => 0x48,
        "mcp9808" => 0x18,
        "sht3x" | "sht4x" => 0x44,
        _ => 0x76,
    }
}

fn sim(ctx: &mut Ctx<'_>, t: &mut Fields<'_, '_>) -> Option<SimPattern> {
    let pattern = match t.choice(ctx, "pattern", SIM_PATTERNS) {
        Some(p) => p.value,
        None if t.has("pattern") => {
            // Already reported; the other keys cannot be checked against an unknown pattern.
            SIM_KEYS.iter().for_each(|k| _ = t.has(k));
            return None;
        }
        None => "constant".to_string(),
    };
    let need = |t: &mut Fields<'_, '_>, ctx: &mut Ctx<'_>, key: &'static str| {
        if !t.has(key) {
            let span = t.span();
            ctx.error(
                &span,
                &t.name(key),
                format!("missing: a number for pattern = \"{pattern}\""),
            );
            return None;
        }
        t.number(ctx, key).map(|n| n.value)
    };
    match pattern.as_str() {
        "constant" => need(t, ctx, "value").map(SimPattern::Constant),
        "sine" => {
            let min = need(t, ctx, "min");
            let max = need(t, ctx, "max");
            let period = t
                .duration(ctx, "period")
                .map_or(Duration::from_secs(60), |p| p.value);
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    let span = t.span();
                    ctx.error(&span, &t.name("min"), "expected `min` <= `max`");
                    return None;
                }
            }
            if period.is_zero() {
                let span = t.span();
                ctx.error(&span, &t.name("period"), "expected a period above zero");
                return None;
            }
            Some(SimPattern::Sine {
                min: min?,
                max: max?,
                period,
            })
        }
        "step" => {
            let from = need(t, ctx, "from");
            let to = need(t, ctx, "to");
            let at = t
                .duration(ctx, "at")
                .map_or(Duration::from_secs(30), |a| a.value);
            Some(SimPattern::Step {
                from: from?,
                to: to?,
                at,
            })
        }
        _ => points(ctx, t),
    }
}

/// `points = [{ at = "0s", value = 20.0 }, { at = "10s", fault = true }]`.
fn points(ctx: &mut Ctx<'_>, t: &mut Fields<'_, '_>) -> Option<SimPattern> {
    let cycle = t.duration(ctx, "cycle").map(|c| c.value);
    let raw = t.raw("points");
    let Some(raw) = raw else {
        let span = t.span();
        ctx.error(
            &span,
            &t.name("points"),
            "missing: points = [{ at = \"0s\", value = 20.0 }, ...] for pattern = \"points\"",
        );
        return None;
    };
    let DeValue::Array(items) = raw.get_ref() else {
        ctx.error(
            &raw.span(),
            &t.name("points"),
            "expected an array of { at = \"10s\", value = 21.5 } tables",
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items.iter() {
        let DeValue::Table(tab) = item.get_ref() else {
            ctx.error(
                &item.span(),
                &t.name("points"),
                "expected a table like { at = \"10s\", value = 21.5 }",
            );
            ok = false;
            continue;
        };
        let mut p = Fields::new(tab, item.span(), t.name("points[]."));
        let at = p.duration(ctx, "at");
        let value = p.number(ctx, "value");
        let fault = p.boolean(ctx, "fault").is_some_and(|f| f.value);
        if at.is_none() && !p.has("at") {
            ctx.error(
                &item.span(),
                &p.name("at"),
                "missing: when this point starts, e.g. at = \"10s\"",
            );
        }
        if value.is_none() && !fault && !p.has("value") {
            ctx.error(
                &item.span(),
                &p.name("value"),
                "missing: a value, or fault = true",
            );
        }
        p.finish(ctx, "a sim point");
        match (at, value, fault) {
            (Some(a), _, true) => out.push((a.value, None)),
            (Some(a), Some(v), false) => out.push((a.value, Some(v.value))),
            _ => ok = false,
        }
    }
    if ok && out.is_empty() {
        ctx.error(
            &raw.span(),
            &t.name("points"),
            "expected at least one point",
        );
        return None;
    }
    if ok && out.windows(2).any(|w| w[0].0 >= w[1].0) {
        ctx.error(
            &raw.span(),
            &t.name("points"),
            "expected points in increasing `at` order",
        );
        return None;
    }
    if let (Some(c), Some(last)) = (cycle, out.last()) {
        if c <= last.0 {
            ctx.error(
                &raw.span(),
                &t.name("cycle"),
                "expected `cycle` longer than the last point's `at`",
            );
            return None;
        }
    }
    ok.then_some(SimPattern::Points { points: out, cycle })
}
