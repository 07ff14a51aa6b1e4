//! What the bot does with what people type or click: commands in messages,
//! Acknowledge / Mute on cards. Replies go through the durable send queue.

use std::time::Duration;

use serde_json::Value;

use super::activity::Activity;
use crate::clock::{now_ms, rfc3339 as stamp};
use crate::conversations::{thread_root, ConversationRef, Mute};
use crate::queue::{Action, Job, Queue};
use crate::store::{Store, StoreError};
use crate::teams::commands::{self, Command};

fn reply(queue: &Queue, conv: &str, text: String) -> Result<(), StoreError> {
    queue.push(Job {
        conversation: conv.to_string(),
        action: Action::Text { text },
        attempts: 0,
        not_before_ms: 0,
    })
}

/// The reference whose settings a command changes: in a channel thread, the
/// channel's (alerts go to the channel, not the thread).
fn settings_of(
    store: &Store,
    conversation_id: &str,
) -> Result<Option<ConversationRef>, StoreError> {
    match store.conversation(thread_root(conversation_id))? {
        Some(c) => Ok(Some(c)),
        None => store.conversation(conversation_id),
    }
}

/// Handles a message's text as a command; every message gets an answer
/// (in the conversation, or the channel thread, it was typed in).
pub fn command(store: &Store, queue: &Queue, a: &Activity) -> Result<(), StoreError> {
    let Some(mut conv) = settings_of(store, &a.conversation.id)? else {
        return Ok(());
    };
    let text = match commands::parse(a.text.as_deref().unwrap_or("")) {
        Command::Help => commands::help_text(),
        Command::Unknown(why) => format!("{why}\n\n{}", commands::help_text()),
        Command::Status => status(store, queue, &conv)?,
        Command::Subscribe(p) => {
            if !conv.subscriptions.contains(&p) {
                conv.subscriptions.push(p.clone());
            }
            conv.unsubscribed = false;
            store.put_conversation(&conv)?;
            format!(
                "Subscribed to `{p}`. This chat now gets alerts matching: {}.",
                conv.subscriptions.join(", ")
            )
        }
        Command::Unsubscribe(None) => {
            conv.subscriptions.clear();
            conv.unsubscribed = true;
            store.put_conversation(&conv)?;
            "You will get no more alerts here. Type `subscribe *` to get them again.".to_string()
        }
        Command::Unsubscribe(Some(p)) => {
            let before = conv.subscriptions.len();
            conv.subscriptions.retain(|s| *s != p);
            store.put_conversation(&conv)?;
            if conv.subscriptions.len() == before {
                format!(
                    "`{p}` was not one of your subscriptions ({}).",
                    if before == 0 {
                        "you have none: you get the default alerts".to_string()
                    } else {
                        conv.subscriptions.join(", ")
                    }
                )
            } else if conv.subscriptions.is_empty() {
                format!("Unsubscribed from `{p}`; you now get the default alerts. Type `unsubscribe` to get none.")
            } else {
                format!(
                    "Unsubscribed from `{p}`. Still subscribed to: {}.",
                    conv.subscriptions.join(", ")
                )
            }
        }
        Command::Mute { pattern, duration } => mute(store, &mut conv, &pattern, duration)?,
    };
    reply(queue, &a.conversation.id, text)
}

fn mute(
    store: &Store,
    conv: &mut ConversationRef,
    pattern: &str,
    d: Duration,
) -> Result<String, StoreError> {
    let now = now_ms();
    let until_ms = now + d.as_millis() as i64;
    conv.mutes
        .retain(|m| m.until_ms > now && m.pattern != pattern);
    conv.mutes.push(Mute {
        pattern: pattern.to_string(),
        until_ms,
    });
    store.put_conversation(conv)?;
    Ok(format!(
        "Muted `{pattern}` until {} (UTC). Alerts that resolve meanwhile still update their cards.",
        stamp(until_ms)
    ))
}

/// The `status` answer: gateways and their last heartbeat, open alerts, this chat's settings.
fn status(store: &Store, queue: &Queue, conv: &ConversationRef) -> Result<String, StoreError> {
    let mut s = String::from("**Gateways**\n");
    let gateways = store.gateways()?;
    if gateways.is_empty() {
        s += "- none registered yet\n";
    }
    for g in gateways {
        match store.heartbeat(&g.id)? {
            Some(b) => {
                s += &format!(
                    "- {} {}: last heard {}, {} event(s) waiting on the gateway\n",
                    g.id,
                    b.site.map(|x| format!("({x})")).unwrap_or_default(),
                    b.received_at,
                    b.heartbeat.outbox
                )
            }
            None => s += &format!("- {}: never heard from\n", g.id),
        }
    }
    let open = queue.open_alerts()?;
    s += &format!("\n**Open alerts** ({})\n", open.len());
    for q in open.iter().take(20) {
        let what = if q.event.rule.as_deref() == Some(crate::liveness::SILENT_RULE) {
            "gateway silent"
        } else {
            q.event.kind.as_str()
        };
        s += &format!(
            "- {} / {}: {what} since {}\n",
            q.gateway,
            q.event.sensor.as_deref().unwrap_or("-"),
            q.event.since.as_deref().unwrap_or(&q.event.at)
        );
    }
    let now = now_ms();
    s += &format!(
        "\n**This chat** gets {}{}",
        if conv.unsubscribed {
            "no alerts (unsubscribed)".to_string()
        } else if conv.subscriptions.is_empty() {
            "the default alerts".to_string()
        } else {
            format!("alerts matching {}", conv.subscriptions.join(", "))
        },
        conv.mutes
            .iter()
            .filter(|m| m.until_ms > now)
            .map(|m| format!("; `{}` muted until {}", m.pattern, stamp(m.until_ms)))
            .collect::<String>()
    );
    Ok(s)
}

/// A card button (Action.Submit fallback `value`, or an invoke's `action.data`).
/// Returns the text for the invoke response.
pub fn card_action(
    store: &Store,
    queue: &Queue,
    a: &Activity,
    data: &Value,
) -> Result<String, StoreError> {
    let by = a.from.name.clone().unwrap_or_else(|| "someone".to_string());
    match data.get("action").and_then(Value::as_str) {
        Some("ack") => {
            let Some(episode) = data.get("alert").and_then(Value::as_str) else {
                return Ok("That card has no alert to acknowledge.".into());
            };
            let n = queue.acknowledge(episode, &by)?;
            tracing::info!(alert = episode, by = %by, cards = n, "alert acknowledged");
            Ok(if n == 0 {
                "This alert is already resolved.".into()
            } else {
                format!("Acknowledged by {by}: no more reminders for this alert.")
            })
        }
        Some("mute") => {
            let pattern = data.get("pattern").and_then(Value::as_str).unwrap_or("");
            let duration = data.get("duration").and_then(Value::as_str).unwrap_or("1h");
            let (Ok(pattern), Ok(d)) = (
                commands::check_pattern(pattern),
                commands::parse_duration(duration),
            ) else {
                return Ok("That Mute button is malformed.".into());
            };
            let Some(mut conv) = settings_of(store, &a.conversation.id)? else {
                return Ok("Unknown conversation.".into());
            };
            let text = mute(store, &mut conv, &pattern, d)?;
            reply(queue, &a.conversation.id, text.clone())?;
            Ok(text)
        }
        Some("unsubscribe") => {
            let mut synthetic = a.clone();
            synthetic.text = Some("unsubscribe".into());
            command(store, queue, &synthetic)?;
            Ok("Unsubscribed.".into())
        }
        _ => Ok("Unknown card action.".into()),
    }
}
