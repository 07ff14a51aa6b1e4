//! Adaptive Cards for alerts, and the Bot Connector message activities that
//! carry cards and plain text.
//!
//! Cards use schema 1.5 (what Teams renders, and the version Universal
//! Actions need). Every string from a gateway is clipped and stripped of
//! control characters, so a card stays well under Teams' 28 KB message limit
//! whatever the gateway sends; serde_json does the JSON escaping.
//!
//! ## Actions
//!
//! Acknowledge and Mute are `Action.Execute` (Universal Actions, the approach
//! Microsoft recommends for bots in Teams): a click reaches the bot as an
//! `invoke` activity named `adaptiveCard/action`, with `value.action.verb`
//! and `value.action.data`, and the bot answers the invoke (it may return an
//! updated card, e.g. "Acknowledged by …"). Each carries an `Action.Submit`
//! in its `fallback`, as Microsoft's "Work with Universal Actions" page
//! advises for maximum compatibility: clients without Universal Actions send
//! a `message` activity whose `value` is the same `data`. Both paths carry
//! the same object — `{"action": "ack", "alert": EPISODE}` or
//! `{"action": "mute", "pattern": "GATEWAY/SENSOR", "duration": "1h"}` — so one
//! handler serves both.
//!
//! The way to opt out is a line of text on every card ("Type `unsubscribe`
//! to stop these messages"), not a button: a stray click on a shared card
//! should not silently unsubscribe anyone.

use std::time::{Duration, SystemTime};

use edgetherm_proto::{Direction, Event, EventKind, Severity};
use serde_json::{json, Value};

/// The content type of an Adaptive Card attachment.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// Teams rejects messages larger than about 28 KB.
pub const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// The longest pattern a command or card action may carry (as in `commands`).
const MAX_PATTERN: usize = 200;
/// Clipping for names and ids shown on a card.
const MAX_NAME: usize = 120;
/// Clipping for the event's free-text detail.
const MAX_DETAIL: usize = 1000;
/// Sensors listed on a "gateway silent" card.
const MAX_LISTED_SENSORS: usize = 25;

/// Context a card needs beyond the event.
pub struct CardContext<'a> {
    /// The gateway that sent the event.
    pub gateway: &'a str,
    /// The gateway's site label, when it has one.
    pub site: Option<&'a str>,
    /// Who acknowledged the alert, once someone has.
    pub acknowledged_by: Option<&'a str>,
    /// Until when the alert's sensor is muted (RFC 3339), if it is.
    pub muted_until: Option<&'a str>,
}

/// Replaces control characters (all of them, or all but newlines) with
/// spaces and clips to `max` characters, marking the cut with "…".
fn clip_with(s: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() && !(keep_newlines && c == '\n') {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    clip_with(s, max, false)
}

/// "31.4 °C".
fn celsius(v: f64) -> String {
    format!("{v:.1} °C")
}

/// "42s", "5m", "2h 5m", "3d 4h" for people.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ if s % 86_400 / 3600 == 0 => format!("{}d", s / 86_400),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn parse_time(stamp: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(stamp.trim()).ok()
}

/// How long from `from` to `to`, when both parse and are in order.
fn between(from: &str, to: &str) -> Option<Duration> {
    parse_time(to)?.duration_since(parse_time(from)?).ok()
}

/// A time for a card's text: Adaptive Cards' `{{DATE()}} {{TIME()}}`
/// functions show it in the reader's own time zone and locale; they need a
/// strict `YYYY-MM-DDTHH:MM:SSZ` stamp, so the stamp is normalised first (an
/// unparsable one is shown as it came).
fn card_time(stamp: &str) -> String {
    match parse_time(stamp) {
        Some(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{{{{DATE({s}, SHORT)}}}} {{{{TIME({s})}}}}")
        }
        None => clip(stamp, 64),
    }
}

/// A time for plain text (summaries, fallback): UTC, as sent.
fn plain_time(stamp: &str) -> String {
    match parse_time(stamp) {
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => clip(stamp, 64),
    }
}

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

fn text_block(text: impl Into<String>) -> Value {
    json!({"type": "TextBlock", "text": text.into(), "wrap": true})
}

fn small_note(text: impl Into<String>) -> Value {
    json!({"type": "TextBlock", "text": text.into(), "wrap": true, "size": "Small", "isSubtle": true})
}

fn fact(title: &str, value: impl Into<String>) -> Value {
    json!({"title": title, "value": value.into()})
}

/// A button: `Action.Execute` with an `Action.Submit` fallback carrying the
/// same data (see the module comment).
fn execute_action(title: &str, verb: &str, data: Value) -> Value {
    json!({
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": data.clone(),
        "fallback": {"type": "Action.Submit", "title": title, "data": data},
    })
}

/// The Acknowledge button for an alert episode.
fn ack_action(episode: &str) -> Value {
    execute_action(
        "Acknowledge",
        "ack",
        json!({"action": "ack", "alert": episode}),
    )
}

/// The "Mute 1h" button for a pattern, unless the pattern is too long for
/// the command syntax (then there is no button: the card must stay valid).
fn mute_action(pattern: &str) -> Option<Value> {
    (pattern.chars().count() <= MAX_PATTERN && !pattern.chars().any(char::is_control)).then(|| {
        execute_action(
            "Mute 1h",
            "mute",
            json!({"action": "mute", "pattern": pattern, "duration": "1h"}),
        )
    })
}

const OPT_OUT: &str = "Type `unsubscribe` to stop these messages, `help` for more.";

fn adaptive_card(fallback: String, body: Vec<Value>, actions: Vec<Value>) -> Value {
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "fallbackText": fallback,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions,
    })
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
    adaptive_card(alert_summary(e, ctx), body, actions)
}

/// The notification text for a "gateway silent" card.
pub fn silent_gateway_summary(
    gateway: &str,
    site: Option<&str>,
    last_seen: &str,
    resolved_at: Option<&str>,
) -> String {
    let gw = clip(gateway, MAX_NAME);
    let mut s = match resolved_at {
        None => format!(
            "📡 Gateway {gw} has not reported since {}",
            plain_time(last_seen)
        ),
        Some(_) => format!("✅ Resolved: gateway {gw} is reporting again"),
    };
    if let Some(site) = site {
        s.push_str(&format!(" — {}", clip(site, MAX_NAME)));
    }
    s
}

/// A "gateway silent" card and its resolved form.
pub fn silent_gateway_card(
    gateway: &str,
    site: Option<&str>,
    last_seen: &str,
    last_values: &[(String, Option<f64>)],
    resolved_at: Option<&str>,
) -> Value {
    let gw = clip(gateway, MAX_NAME);
    let (title, tag, style) = match resolved_at {
        None => (
            format!(
                "📡 Gateway {gw} has not reported since {}",
                card_time(last_seen)
            ),
            "Gateway silent",
            "attention",
        ),
        Some(_) => (
            format!("✅ Resolved: gateway {gw} is reporting again"),
            "Resolved",
            "good",
        ),
    };
    let header = vec![
        json!({"type": "TextBlock", "text": title, "wrap": true, "weight": "Bolder", "size": "Medium"}),
        json!({"type": "TextBlock", "text": tag, "wrap": true, "spacing": "None", "weight": "Bolder",
               "color": if resolved_at.is_some() { "Good" } else { "Attention" }}),
    ];
    let mut body = vec![json!({
        "type": "Container", "style": style, "bleed": true, "items": header,
    })];
    let mut facts = Vec::new();
    if let Some(site) = site {
        facts.push(fact("Site", clip(site, MAX_NAME)));
    }
    facts.push(fact("Gateway", gw.clone()));
    body.push(json!({"type": "FactSet", "facts": facts}));
    body.push(text_block(match resolved_at {
        None => format!("Last heard from {}", card_time(last_seen)),
        Some(at) => match between(last_seen, at) {
            Some(d) => format!(
                "Silent from {} to {} ({})",
                card_time(last_seen),
                card_time(at),
                human_duration(d)
            ),
            None => format!("Silent from {} to {}", card_time(last_seen), card_time(at)),
        },
    }));
    if !last_values.is_empty() {
        let mut values: Vec<Value> = last_values
            .iter()
            .take(MAX_LISTED_SENSORS)
            .map(|(id, v)| {
                fact(
                    &clip(id, MAX_NAME),
                    v.filter(|v| v.is_finite())
                        .map_or_else(|| "no value".to_string(), celsius),
                )
            })
            .collect();
        if last_values.len() > MAX_LISTED_SENSORS {
            values.push(fact(
                "…",
                format!("and {} more", last_values.len() - MAX_LISTED_SENSORS),
            ));
        }
        body.push(
            json!({"type": "TextBlock", "text": "Last values", "wrap": true, "weight": "Bolder"}),
        );
        body.push(json!({"type": "FactSet", "facts": values}));
    }
    body.push(small_note(OPT_OUT));
    let mut actions = Vec::new();
    if resolved_at.is_none() {
        actions.extend(mute_action(&format!("{gateway}/*")));
    }
    adaptive_card(
        silent_gateway_summary(gateway, site, last_seen, resolved_at),
        body,
        actions,
    )
}

/// `channelData` with the tenant, which Teams wants on proactive messages.
fn channel_data(tenant_id: Option<&str>) -> Option<Value> {
    tenant_id
        .filter(|t| !t.is_empty())
        .map(|t| json!({"tenant": {"id": t}}))
}

/// The message activity carrying a card. `summary` is the plain-text
/// fallback Teams shows in notifications and previews (no `text`: Teams
/// would render it above the card as a second copy of the alert).
pub fn card_activity(card: Value, summary: &str, tenant_id: Option<&str>) -> Value {
    let mut a = json!({
        "type": "message",
        "summary": clip(summary, 300),
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}],
    });
    if let Some(cd) = channel_data(tenant_id) {
        a["channelData"] = cd;
    }
    a
}

/// A plain text message activity (welcome, command replies), with
/// channelData.tenant.id when known. The text is Markdown.
pub fn text_activity(text: &str, tenant_id: Option<&str>) -> Value {
    let mut a = json!({"type": "message", "text": text, "textFormat": "markdown"});
    if let Some(cd) = channel_data(tenant_id) {
        a["channelData"] = cd;
    }
    a
}

/// The welcome for a new install: why the person gets messages, what the
/// bot offers, what to do next, and how to stop.
pub fn welcome_text() -> String {
    "👋 Hello! I'm **edgetherm**, the temperature alert bot.\n\n\
     **Why you're hearing from me:** your organisation installed me for you (or for this team) \
     so the right people learn quickly when a monitored temperature — a server room, a rack, \
     a freezer — goes outside its limits, when a sensor fails or stops reporting, or when an \
     edgetherm gateway goes silent.\n\n\
     **What I send:** one card per alert, with where, the value, the threshold and since when. \
     Press **Acknowledge** to let others know you are on it, or **Mute 1h** to pause that \
     sensor. When the alert is over, the same card turns into ✅ Resolved.\n\n\
     **What to do next:**\n\
     - `status` — what you receive and the current alerts\n\
     - `subscribe dc1-*/rack*` or `subscribe site:Datacenter 1` — choose what you get\n\
     - `help` — all commands\n\n\
     Don't want these messages? Type `unsubscribe` at any time and I'll stop."
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing() -> Event {
        Event {
            id: "01JD3X0Q9W8M1K7V5R2T6Y4ZBN".into(),
            kind: EventKind::Firing,
            alert: Some("01JD3X0Q9W8M1K7V5R2T6Y4ZBN".into()),
            rule: Some("rack-inlet-high".into()),
            sensor: Some("rack1-inlet".into()),
            sensor_name: Some("Rack 1 inlet".into()),
            severity: Severity::Critical,
            value: Some(31.4),
            threshold: Some(30.0),
            direction: Some(Direction::Above),
            since: Some("2026-11-21T09:58:01Z".into()),
            at: "2026-11-21T10:00:01Z".into(),
            detail: None,
            clock_unsynced: false,
        }
    }

    fn ctx() -> CardContext<'static> {
        CardContext {
            gateway: "dc1-gw01",
            site: Some("Datacenter 1"),
            acknowledged_by: None,
            muted_until: None,
        }
    }

    /// The structure every card must have.
    fn check_card(card: &Value) {
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.5");
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        let body = card["body"].as_array().expect("body");
        assert!(!body.is_empty());
        for el in body {
            assert!(el["type"].is_string(), "element without type: {el}");
        }
        let actions = card["actions"].as_array().expect("actions");
        for a in actions {
            let t = a["type"].as_str().unwrap();
            assert!(t == "Action.Execute" || t == "Action.Submit", "{t}");
            assert!(a["title"].is_string());
            if t == "Action.Execute" {
                assert!(a["verb"].is_string());
                assert_eq!(a["fallback"]["type"], "Action.Submit");
                assert_eq!(a["fallback"]["data"], a["data"]);
            }
        }
        assert!(card["fallbackText"].is_string());
        let size = serde_json::to_vec(&card_activity(card.clone(), "s", Some("t")))
            .unwrap()
            .len();
        assert!(size < MAX_MESSAGE_BYTES, "card is {size} bytes");
    }

    fn all_text(card: &Value) -> String {
        card.to_string()
    }

    fn action<'a>(card: &'a Value, verb: &str) -> Option<&'a Value> {
        card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["verb"] == verb)
    }

    #[test]
    fn firing_card_says_what_where_and_offers_actions() {
        let card = alert_card(&firing(), &ctx());
        check_card(&card);
        let t = all_text(&card);
        assert!(t.contains("🔥 Rack 1 inlet is above 30.0 °C"), "{t}");
        assert!(t.contains("31.4 °C"));
        assert!(t.contains("above 30.0 °C"));
        assert!(t.contains("Datacenter 1"));
        assert!(t.contains("dc1-gw01"));
        assert!(t.contains("Rack 1 inlet (rack1-inlet)"));
        assert!(t.contains("{{DATE(2026-11-21T09:58:01Z, SHORT)}}"));
        assert!(t.contains("unsubscribe"));
        assert_eq!(card["body"][0]["style"], "attention");
        let ack = action(&card, "ack").expect("ack action");
        assert_eq!(ack["type"], "Action.Execute");
        assert_eq!(
            ack["data"],
            json!({"action": "ack", "alert": "01JD3X0Q9W8M1K7V5R2T6Y4ZBN"})
        );
        let mute = action(&card, "mute").expect("mute action");
        assert_eq!(
            mute["data"],
            json!({"action": "mute", "pattern": "dc1-gw01/rack1-inlet", "duration": "1h"})
        );
        assert!(!t.contains("estimates"));
    }

    #[test]
    fn severity_styles_and_below() {
        let mut e = firing();
        e.severity = Severity::Warning;
        e.direction = Some(Direction::Below);
        e.threshold = Some(-18.0);
        e.value = Some(-12.25);
        let card = alert_card(&e, &ctx());
        check_card(&card);
        assert_eq!(card["body"][0]["style"], "warning");
        let t = all_text(&card);
        assert!(t.contains("is below -18.0 °C"), "{t}");
        assert!(t.contains("-12.2 °C") || t.contains("-12.3 °C"));
        e.severity = Severity::Info;
        assert_eq!(alert_card(&e, &ctx())["body"][0]["style"], "emphasis");
    }

    #[test]
    fn resolved_card_has_no_ack_and_shows_duration() {
        let mut e = firing();
        e.id = "01JD3X0Q9W8M1K7V5R2T6Y4ZZZ".into();
        e.kind = EventKind::Resolved;
        e.value = Some(28.9);
        e.at = "2026-11-21T10:10:01Z".into();
        e.detail = Some("back to 28.9 °C after 12m".into());
        let card = alert_card(&e, &ctx());
        check_card(&card);
        assert!(action(&card, "ack").is_none());
        let t = all_text(&card);
        assert!(t.contains("✅ Resolved"), "{t}");
        assert!(t.contains("lasted 12m"), "{t}");
        assert!(t.contains("28.9 °C"));
        assert_eq!(card["body"][0]["style"], "good");
        // Same layout as the alert card: the same facts in the same places.
        let alert = alert_card(&firing(), &ctx());
        assert_eq!(card["body"][1]["type"], alert["body"][1]["type"]);
    }

    #[test]
    fn acknowledged_and_muted() {
        let c = CardContext {
            acknowledged_by: Some("Alice Example"),
            muted_until: Some("2026-11-21T11:00:00Z"),
            ..ctx()
        };
        let card = alert_card(&firing(), &c);
        check_card(&card);
        let t = all_text(&card);
        assert!(t.contains("Acknowledged by Alice Example"));
        assert!(t.contains("Muted until {{DATE(2026-11-21T11:00:00Z, SHORT)}}"));
        assert!(action(&card, "ack").is_none());
        assert!(action(&card, "mute").is_some());
    }

    #[test]
    fn stale_fault_test_and_agent_fault() {
        let mut e = firing();
        e.kind = EventKind::Stale;
        e.sensor_name = Some("Freezer".into());
        e.threshold = None;
        e.direction = None;
        e.since = Some("2026-11-21T09:55:01Z".into());
        e.clock_unsynced = true;
        let card = alert_card(&e, &ctx());
        check_card(&card);
        let t = all_text(&card);
        assert!(t.contains("Freezer has not reported for 5m"), "{t}");
        assert!(t.contains("Last value"));
        assert!(t.contains("estimates"));

        let mut f = firing();
        f.kind = EventKind::SensorFault;
        f.alert = None;
        f.rule = None;
        f.value = None;
        f.threshold = None;
        f.direction = None;
        f.since = None;
        f.severity = Severity::Warning;
        f.detail = Some("CRC mismatch on 28-00000a1b2c3d".into());
        let card = alert_card(&f, &ctx());
        check_card(&card);
        assert!(all_text(&card).contains("Sensor fault: CRC mismatch on 28-00000a1b2c3d"));
        // A one-off event is acknowledged by its own id.
        assert_eq!(
            action(&card, "ack").unwrap()["data"]["alert"],
            f.id.as_str()
        );

        let mut t = f.clone();
        t.kind = EventKind::Test;
        t.sensor = None;
        t.sensor_name = None;
        t.severity = Severity::Info;
        t.detail = Some("test alert from gateway dc1-gw01".into());
        let card = alert_card(&t, &ctx());
        check_card(&card);
        assert!(all_text(&card).contains("🧪 Test alert from dc1-gw01"));
        assert!(action(&card, "mute").is_none());

        let mut a = t.clone();
        a.kind = EventKind::AgentFault;
        a.severity = Severity::Warning;
        a.detail = Some("the local store was damaged".into());
        let card = alert_card(&a, &ctx());
        check_card(&card);
        assert!(all_text(&card).contains("agent on dc1-gw01 needs attention"));
        assert_eq!(
            action(&card, "mute").unwrap()["data"]["pattern"],
            "dc1-gw01/*"
        );
    }

    #[test]
    fn hostile_sizes_stay_under_the_limit_and_escape() {
        let huge = "\u{1}\"\\😀".repeat(20_000);
        let mut e = firing();
        e.sensor = Some(huge.clone());
        e.sensor_name = Some(huge.clone());
        e.rule = Some(huge.clone());
        e.detail = Some(huge.clone());
        e.since = Some(huge.clone());
        e.at = huge.clone();
        e.alert = Some(huge.clone());
        let c = CardContext {
            gateway: &huge,
            site: Some(&huge),
            acknowledged_by: None,
            muted_until: Some(&huge),
        };
        for kind in [
            EventKind::Firing,
            EventKind::Resolved,
            EventKind::SensorFault,
        ] {
            e.kind = kind;
            let card = alert_card(&e, &c);
            check_card(&card);
            // A pattern longer than commands accept, or an episode id that
            // is not one, gets no button.
            assert!(action(&card, "mute").is_none());
            assert!(action(&card, "ack").is_none());
            // Valid JSON, round-trips.
            let s = serde_json::to_string(&card).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), card);
            assert!(!s.contains('\u{1}'));
        }
        let values: Vec<(String, Option<f64>)> = (0..500)
            .map(|i| {
                (
                    huge.chars().take(400).collect::<String>() + &i.to_string(),
                    Some(1.0),
                )
            })
            .collect();
        let card = silent_gateway_card(&huge, Some(&huge), &huge, &values, None);
        check_card(&card);
        assert!(all_text(&card).contains("and 475 more"));
    }

    #[test]
    fn silent_gateway_and_resolved() {
        let values = vec![
            ("rack1-inlet".to_string(), Some(24.06)),
            ("freezer".to_string(), None),
        ];
        let card = silent_gateway_card(
            "dc1-gw01",
            Some("Datacenter 1"),
            "2026-11-21T10:00:00Z",
            &values,
            None,
        );
        check_card(&card);
        let t = all_text(&card);
        assert!(t.contains("Gateway dc1-gw01 has not reported since"), "{t}");
        assert!(t.contains("24.1 °C"));
        assert!(t.contains("no value"));
        assert_eq!(
            action(&card, "mute").unwrap()["data"]["pattern"],
            "dc1-gw01/*"
        );
        let done = silent_gateway_card(
            "dc1-gw01",
            Some("Datacenter 1"),
            "2026-11-21T10:00:00Z",
            &values,
            Some("2026-11-21T10:07:00Z"),
        );
        check_card(&done);
        let t = all_text(&done);
        assert!(t.contains("✅ Resolved"));
        assert!(t.contains("(7m)"), "{t}");
        assert!(done["actions"].as_array().unwrap().is_empty());
        assert!(
            silent_gateway_summary("dc1-gw01", None, "2026-11-21T10:00:00Z", None)
                .contains("2026-11-21T10:00:00Z")
        );
    }

    #[test]
    fn activities() {
        let card = alert_card(&firing(), &ctx());
        let summary = alert_summary(&firing(), &ctx());
        assert!(summary.contains("Rack 1 inlet is above 30.0 °C (now 31.4 °C)"));
        assert!(summary.contains("Datacenter 1, dc1-gw01"));
        let a = card_activity(card.clone(), &summary, Some("tenant-1"));
        assert_eq!(a["type"], "message");
        assert_eq!(a["summary"], summary.as_str());
        assert_eq!(a["attachments"][0]["contentType"], ADAPTIVE_CARD);
        assert_eq!(a["attachments"][0]["content"], card);
        assert_eq!(a["channelData"]["tenant"]["id"], "tenant-1");
        assert!(card_activity(card, "x", None).get("channelData").is_none());

        let t = text_activity("hi \"there\"", Some("tenant-1"));
        assert_eq!(t["type"], "message");
        assert_eq!(t["text"], "hi \"there\"");
        assert_eq!(t["channelData"]["tenant"]["id"], "tenant-1");
        assert!(text_activity("hi", None).get("channelData").is_none());
    }

    #[test]
    fn welcome_says_why_what_and_how_to_stop() {
        let w = welcome_text();
        assert!(w.contains("Why"));
        assert!(w.contains("help"));
        assert!(w.contains("subscribe"));
        assert!(w.contains("unsubscribe"));
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(42)), "42s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(human_duration(Duration::from_secs(86_400 * 3)), "3d");
        assert_eq!(
            human_duration(Duration::from_secs(86_400 + 3600 * 4)),
            "1d 4h"
        );
    }
}
