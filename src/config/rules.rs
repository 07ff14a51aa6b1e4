//! `[[rule]]` entries and their cross-checks against the sensors.

use std::time::Duration;

use edgetherm_proto::trend::MAX_SPAN_S;

use super::walker::{At, Ctx, Fields};
use super::{glob_match, RuleConfig, Severity, DEFAULT_TREND};

/// `sensor_ids`: every sensor id declared, including those of sensors with errors.
pub fn rules(
    ctx: &mut Ctx<'_>,
    top: &mut Fields<'_, '_>,
    sensor_ids: &[String],
) -> Vec<RuleConfig> {
    let mut out: Vec<RuleConfig> = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    for (n, mut t) in top.tables(ctx, "rule", "[[rule]]").into_iter().enumerate() {
        if let Some(r) = rule(ctx, &mut t, n + 1, sensor_ids, &mut declared) {
            out.push(r);
        }
        t.finish(ctx, "[[rule]]");
    }
    out
}

fn rule(
    ctx: &mut Ctx<'_>,
    t: &mut Fields<'_, '_>,
    number: usize,
    sensors: &[String],
    declared: &mut Vec<String>,
) -> Option<RuleConfig> {
    let mut ok = true;
    let id = match t.string(ctx, "id") {
        Some(id) if !super::sensors::valid_sensor_id(&id.value) => {
            ctx.error(
                &id.span,
                &t.name("id"),
                format!(
                    "expected lower-case letters, digits, '_', '.' or '-', found {:?}",
                    id.value
                ),
            );
            None
        }
        Some(id) if declared.contains(&id.value) => {
            ctx.error(
                &id.span,
                &t.name("id"),
                format!(
                    "duplicate rule id {:?}: expected each [[rule]] to have its own id",
                    id.value
                ),
            );
            None
        }
        Some(id) => Some(id.value),
        None => {
            let default = format!("rule-{number}");
            if declared.contains(&default) {
                let span = t.span();
                ctx.error(&span, &t.name("id"), format!("missing: this rule's default id {default:?} is taken by another [[rule]]; expected an explicit `id`"));
                None
            } else {
                Some(default)
            }
        }
    };
    if let Some(id) = &id {
        declared.push(id.clone());
    }
    let globs = if t.has("sensors") {
        t.string_list(ctx, "sensors")
    } else {
        let span = t.span();
        ctx.error(
            &span,
            &t.name("sensors"),
            "missing: the sensor ids or globs this rule watches, e.g. sensors = [\"rack*-inlet\"]",
        );
        None
    };
    if let Some(g) = &globs {
        if g.value.is_empty() {
            ctx.error(
                &g.span,
                &t.name("sensors"),
                "expected at least one sensor id or glob",
            );
            ok = false;
        }
        for pattern in &g.value {
            if !pattern
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-*?".contains(c))
            {
                ctx.error(&g.span, &t.name("sensors"), format!("expected sensor ids or globs ([a-z0-9_.-] with * and ?), found {pattern:?}"));
                ok = false;
            } else if !sensors
                .iter()
                .any(|s| glob_match(pattern, s) || super::sensors::valid_id_template(s))
            {
                // Ids made from MQTT topics are only known at run time, so a
                // glob is accepted when any sensor has a templated id.
                let ids: Vec<&str> = sensors.iter().map(String::as_str).collect();
                ctx.error(&g.span, &t.name("sensors"), format!("{pattern:?} matches no [[sensor]] id; expected an id or glob matching one of: {}", if ids.is_empty() { "(no sensors)".to_string() } else { ids.join(", ") }));
                ok = false;
            }
        }
    }
    let above = t.number(ctx, "above");
    let below = t.number(ctx, "below");
    let hysteresis = t.number(ctx, "hysteresis");
    let for_ = t.duration(ctx, "for");
    let stale = t.duration(ctx, "stale");
    let repeat = t.duration(ctx, "repeat");
    let severity = t.choice(ctx, "severity", &["info", "warning", "critical"]);
    let flap_window = t.duration(ctx, "flap_window");
    let flap_changes = t.integer(ctx, "flap_changes", 2, 1000);
    let trend = t.duration_or(ctx, "trend", "off");

    if above.is_none()
        && below.is_none()
        && stale.is_none()
        && !(t.has("above") || t.has("below") || t.has("stale"))
    {
        let span = t.span();
        ctx.error(
            &span,
            &t.name("above"),
            "expected at least one of `above`, `below` or `stale` in a rule",
        );
        ok = false;
    }
    if let (Some(a), Some(b)) = (&above, &below) {
        if a.value <= b.value {
            ctx.error(&a.span, &t.name("above"), format!("expected `above` ({}) greater than `below` ({}): otherwise every value is an alert", a.value, b.value));
            ok = false;
        }
    }
    if let Some(h) = &hysteresis {
        if h.value < 0.0 {
            ctx.error(
                &h.span,
                &t.name("hysteresis"),
                "expected a band of 0 or more °C",
            );
            ok = false;
        } else if let (Some(a), Some(b)) = (&above, &below) {
            if a.value - h.value <= b.value + h.value {
                ctx.error(&h.span, &t.name("hysteresis"), format!("expected less than half the distance between `below` ({}) and `above` ({}), found {}: the bands would overlap", b.value, a.value, h.value));
                ok = false;
            }
        }
    }
    if let Some(s) = &stale {
        if s.value < Duration::from_secs(1) {
            ctx.error(&s.span, &t.name("stale"), "expected at least \"1s\"");
            ok = false;
        }
    }
    if let Some(r) = &repeat {
        if r.value < Duration::from_secs(60) {
            ctx.error(
                &r.span,
                &t.name("repeat"),
                "expected at least \"1m\" (repeats are re-notifications to people)",
            );
            ok = false;
        }
    }
    if let Some(At {
        value: Some(d),
        span,
    }) = &trend
    {
        let most = Duration::from_secs(MAX_SPAN_S as u64);
        let problem = if *d < Duration::from_secs(1) {
            Some("expected at least \"1s\", or \"off\" for no trend")
        } else if *d > most {
            Some("expected at most \"24h\" (the longest span a trend may cover), or \"off\"")
        } else {
            None
        };
        if let Some(p) = problem {
            ctx.error(span, &t.name("trend"), p);
            ok = false;
        }
    }
    let severity = severity.map_or(Severity::Warning, |s| match s.value.as_str() {
        "info" => Severity::Info,
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    });
    if !ok {
        return None;
    }
    Some(RuleConfig {
        id: id?,
        sensors: globs?.value,
        above: above.map(|a| a.value),
        below: below.map(|b| b.value),
        hysteresis: hysteresis.map_or(0.0, |h| h.value),
        for_: for_.map_or(Duration::ZERO, |f| f.value),
        stale: stale.map(|s| s.value),
        severity,
        repeat: repeat.map(|r| r.value),
        flap_window: flap_window.map_or(Duration::from_secs(600), |f| f.value),
        flap_changes: flap_changes.map_or(6, |f| f.value as u32),
        trend: trend.map_or(Some(DEFAULT_TREND), |t| t.value),
    })
}
