//! Adaptive Cards for alerts, and the Bot Connector message activities that
//! carry cards and plain text.
//!
//! Cards use schema 1.5 (what Teams renders, and the version Universal
//! Actions need); the one element beyond it, the trend's `Chart.Line`,
//! carries a 1.5 `fallback` (see `chart`). Every string from a gateway is
//! clipped and stripped of control characters, so a card stays well under
//! Teams' 28 KB message limit whatever the gateway sends; serde_json does
//! the JSON escaping.
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

mod alert;
mod chart;
mod elements;
mod silent;
mod text;

use serde_json::{json, Value};

pub use alert::{alert_card, alert_summary};
pub use silent::{silent_gateway_card, silent_gateway_summary};
pub use text::human_duration;

use text::clip;

/// The content type of an Adaptive Card attachment.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// Teams rejects messages larger than about 28 KB.
pub const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// The card and notification text for a queued event: "gateway silent"
/// events (from the relay's liveness watch) get their own card, with the
/// gateway's last reported values; everything else is an alert card.
pub fn event_card(
    e: &edgetherm_proto::Event,
    ctx: &CardContext,
    last_values: &[(String, Option<f64>)],
) -> (Value, String) {
    if e.rule.as_deref() == Some(crate::liveness::SILENT_RULE) {
        let last_seen = e.since.as_deref().unwrap_or(&e.at);
        let resolved_at = (e.kind == edgetherm_proto::EventKind::Resolved).then_some(e.at.as_str());
        (
            silent_gateway_card(ctx.gateway, ctx.site, last_seen, last_values, resolved_at),
            silent_gateway_summary(ctx.gateway, ctx.site, last_seen, resolved_at),
        )
    } else {
        (alert_card(e, ctx), alert_summary(e, ctx))
    }
}

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
mod tests;
#[cfg(test)]
mod tests_trend;
