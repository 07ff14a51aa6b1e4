//! The "gateway silent" card and its resolved form.

use serde_json::{json, Value};

use super::elements::{adaptive_card, fact, mute_action, small_note, text_block, OPT_OUT};
use super::text::{between, card_time, celsius, clip, human_duration, plain_time, MAX_NAME};

/// Sensors listed on a "gateway silent" card.
const MAX_LISTED_SENSORS: usize = 25;

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
