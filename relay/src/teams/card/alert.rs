//! The alert card (firing / stale / sensor fault / test / agent fault) and
//! its resolved form, with the notification text that goes with it.

use edgetherm_proto::{Direction, Event, EventKind, Severity};
use serde_json::{json, Value};

use super::chart::{keep_within, trend_chart, CARD_BUDGET};
use super::elements::{
    ack_action, adaptive_card, fact, mute_action, small_note, text_block, OPT_OUT,
};
use super::text::{between, card_time, celsius, clip, clip_with, human_duration, MAX_NAME};
use super::CardContext;

/// Clipping for the event's free-text detail.
const MAX_DETAIL: usize = 1000;

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Info",
        Severity::Warning => "Warning",
        Severity::Critical => "Critical",
    }
}

/// Container style: critical → attention, warning → warning, info → emphasis.
fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::Info => "emphasis",
        Severity::Warning => "warning",
        Severity::Critical => "attention",
    }
}

/// What the card is about: the sensor's name, else its id, else the gateway.
fn subject(e: &Event, gateway: &str) -> String {
    match (&e.sensor_name, &e.sensor) {
        (Some(name), _) if !name.trim().is_empty() => clip(name.trim(), MAX_NAME),
        (_, Some(id)) if !id.is_empty() => clip(id, MAX_NAME),
        _ => format!("Gateway {}", clip(gateway, MAX_NAME)),
    }
}

/// The detail's first line, short, for a headline.
fn short_detail(e: &Event) -> Option<String> {
    let d = e.detail.as_deref()?.lines().next()?.trim();
    (!d.is_empty()).then(|| clip(d, 120))
}

/// The one-line headline of an event's card (also its notification text).
fn headline(e: &Event, gateway: &str) -> String {
    let subj = subject(e, gateway);
    let crossed = match (e.direction, e.threshold) {
        (Some(d), Some(t)) if t.is_finite() => Some((d, t)),
        _ => None,
    };
    if crate::orphans::is_close(e) {
        return format!("⏹️ Closed: {subj} — the gateway no longer reports this alert");
    }
    match e.kind {
        EventKind::Firing => match (crossed, e.value) {
            (Some((Direction::Above, t)), _) => format!("🔥 {subj} is above {}", celsius(t)),
            (Some((Direction::Below, t)), _) => format!("❄️ {subj} is below {}", celsius(t)),
            (None, Some(v)) => format!("🔥 {subj}: {}", celsius(v)),
            (None, None) => format!("🔥 {subj}: alert"),
        },
        EventKind::Stale => match e.since.as_deref().and_then(|s| between(s, &e.at)) {
            Some(d) => format!("⏳ {subj} has not reported for {}", human_duration(d)),
            None => format!("⏳ {subj} has stopped reporting"),
        },
        EventKind::SensorFault => match short_detail(e) {
            Some(d) => format!("⚠️ Sensor fault: {d}"),
            None => format!("⚠️ Sensor fault on {subj}"),
        },
        EventKind::Test => format!("🧪 Test alert from {}", clip(gateway, MAX_NAME)),
        EventKind::AgentFault => format!(
            "🛠️ The edgetherm agent on {} needs attention",
            clip(gateway, MAX_NAME)
        ),
        EventKind::Resolved => match crossed {
            Some((Direction::Above, t)) => {
                format!("✅ Resolved: {subj} is no longer above {}", celsius(t))
            }
            Some((Direction::Below, t)) => {
                format!("✅ Resolved: {subj} is no longer below {}", celsius(t))
            }
            None if e.sensor.is_some() => format!("✅ Resolved: {subj} is reporting again"),
            None => format!("✅ Resolved: {subj}"),
        },
    }
}

/// The notification text for an event's card: the headline, the value and
/// where. Use it as `card_activity`'s `summary`.
pub fn alert_summary(e: &Event, ctx: &CardContext) -> String {
    let mut s = headline(e, ctx.gateway);
    if let Some(v) = e.value.filter(|v| v.is_finite()) {
        if e.kind != EventKind::SensorFault {
            s.push_str(&format!(" (now {})", celsius(v)));
        }
    }
    s.push_str(" — ");
    if let Some(site) = ctx.site {
        s.push_str(&clip(site, MAX_NAME));
        s.push_str(", ");
    }
    s.push_str(&clip(ctx.gateway, MAX_NAME));
    s
}

/// The card for an event (firing / stale / sensor_fault / test /
/// agent_fault: an alert card; resolved: the resolved state of the same
/// card, to replace it in place).
pub fn alert_card(e: &Event, ctx: &CardContext) -> Value {
    let resolved = e.kind == EventKind::Resolved;
    let style = if resolved {
        "good"
    } else {
        severity_style(e.severity)
    };
    let tag = match e.kind {
        EventKind::Resolved if crate::orphans::is_close(e) => "Closed".to_string(),
        EventKind::Resolved => "Resolved".to_string(),
        EventKind::Test => "Test — no action needed".to_string(),
        _ => format!("{} alert", severity_label(e.severity)),
    };
    let mut header = vec![
        json!({"type": "TextBlock", "text": headline(e, ctx.gateway), "wrap": true,
               "weight": "Bolder", "size": "Medium"}),
        json!({"type": "TextBlock", "text": tag, "wrap": true, "spacing": "None",
               "weight": "Bolder",
               "color": if resolved { "Good" } else if e.severity == Severity::Critical { "Attention" } else { "Default" }}),
    ];
    if let Some(d) = e.detail.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        // The sensor-fault headline already quotes a short detail in full.
        let quoted = e.kind == EventKind::SensorFault
            && short_detail(e).is_some_and(|s| s == d && !s.ends_with('…'));
        if !quoted {
            header.push(text_block(clip_with(d, MAX_DETAIL, true)));
        }
    }
    let mut body = vec![json!({
        "type": "Container", "style": style, "bleed": true, "items": header,
    })];

    let mut facts = Vec::new();
    if let Some(v) = e.value.filter(|v| v.is_finite()) {
        let title = match e.kind {
            EventKind::Stale => "Last value",
            EventKind::Resolved => "Now",
            _ => "Value",
        };
        facts.push(fact(title, celsius(v)));
    }
    if let (Some(t), Some(d)) = (e.threshold.filter(|t| t.is_finite()), e.direction) {
        facts.push(fact("Threshold", format!("{} {}", d.as_str(), celsius(t))));
    }
    if let Some(site) = ctx.site {
        facts.push(fact("Site", clip(site, MAX_NAME)));
    }
    facts.push(fact("Gateway", clip(ctx.gateway, MAX_NAME)));
    match (&e.sensor_name, &e.sensor) {
        (Some(name), Some(id)) => facts.push(fact(
            "Sensor",
            format!("{} ({})", clip(name, MAX_NAME), clip(id, MAX_NAME)),
        )),
        (None, Some(id)) => facts.push(fact("Sensor", clip(id, MAX_NAME))),
        (Some(name), None) => facts.push(fact("Sensor", clip(name, MAX_NAME))),
        (None, None) => {}
    }
    if let Some(rule) = &e.rule {
        facts.push(fact("Rule", clip(rule, MAX_NAME)));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    body.extend(trend_chart(e, &subject(e, ctx.gateway)));

    let times = match (resolved, e.since.as_deref()) {
        (true, Some(since)) => match between(since, &e.at) {
            Some(d) => format!(
                "From {} to {} (lasted {})",
                card_time(since),
                card_time(&e.at),
                human_duration(d)
            ),
            None => format!("From {} to {}", card_time(since), card_time(&e.at)),
        },
        (true, None) => format!("Resolved {}", card_time(&e.at)),
        (false, Some(since)) => format!("Since {}", card_time(since)),
        (false, None) => format!("At {}", card_time(&e.at)),
    };
    body.push(text_block(times));
    if e.clock_unsynced {
        body.push(
            json!({"type": "TextBlock", "wrap": true, "size": "Small", "color": "Warning",
            "text": "⚠️ The gateway's clock was not synchronised: these times are estimates."}),
        );
    }
    if let Some(who) = ctx.acknowledged_by {
        body.push(
            json!({"type": "TextBlock", "wrap": true, "color": "Good", "weight": "Bolder",
            "text": format!("☑️ Acknowledged by {}", clip(who, MAX_NAME))}),
        );
    }
    if let Some(until) = ctx.muted_until {
        body.push(text_block(format!("🔕 Muted until {}", card_time(until))));
    }
    body.push(small_note(OPT_OUT));

    let mut actions = Vec::new();
    if !resolved && ctx.acknowledged_by.is_none() {
        // Episode ids are ULIDs; anything else odd gets no button rather
        // than a clipped id that would acknowledge nothing.
        let episode = e.alert.as_deref().unwrap_or(&e.id);
        if !episode.is_empty() && episode.len() <= 64 && !episode.chars().any(char::is_control) {
            actions.push(ack_action(episode));
        }
    }
    if e.kind != EventKind::Test {
        let pattern = format!("{}/{}", ctx.gateway, e.sensor.as_deref().unwrap_or("*"));
        actions.extend(mute_action(&pattern));
    }
    let mut card = adaptive_card(alert_summary(e, ctx), body, actions);
    keep_within(&mut card, CARD_BUDGET);
    card
}
