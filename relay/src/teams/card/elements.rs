//! Adaptive Card building blocks: text blocks, facts, the card envelope,
//! and the Acknowledge / Mute actions (see the `card` module comment).

use serde_json::{json, Value};

/// The longest pattern a command or card action may carry (as in `commands`).
const MAX_PATTERN: usize = 200;

pub(super) fn text_block(text: impl Into<String>) -> Value {
    json!({"type": "TextBlock", "text": text.into(), "wrap": true})
}

pub(super) fn small_note(text: impl Into<String>) -> Value {
    json!({"type": "TextBlock", "text": text.into(), "wrap": true, "size": "Small", "isSubtle": true})
}

pub(super) fn fact(title: &str, value: impl Into<String>) -> Value {
    json!({"title": title, "value": value.into()})
}

/// A button: `Action.Execute` with an `Action.Submit` fallback carrying the
/// same data (see the `card` module comment).
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
pub(super) fn ack_action(episode: &str) -> Value {
    execute_action(
        "Acknowledge",
        "ack",
        json!({"action": "ack", "alert": episode}),
    )
}

/// The "Mute 1h" button for a pattern, unless the pattern is too long for
/// the command syntax (then there is no button: the card must stay valid).
pub(super) fn mute_action(pattern: &str) -> Option<Value> {
    (pattern.chars().count() <= MAX_PATTERN && !pattern.chars().any(char::is_control)).then(|| {
        execute_action(
            "Mute 1h",
            "mute",
            json!({"action": "mute", "pattern": pattern, "duration": "1h"}),
        )
    })
}

pub(super) const OPT_OUT: &str = "Type `unsubscribe` to stop these messages, `help` for more.";

pub(super) fn adaptive_card(fallback: String, body: Vec<Value>, actions: Vec<Value>) -> Value {
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
