//! What the agent tells people about how its store came up: damage moved
//! aside and what was salvaged, or committed data that sled did not return.
//! Each is an ERROR line and an `agent_fault` event; nothing is silent.

use edgetherm_proto::{Event, EventKind, Severity};

use crate::reading::Wall;
use crate::rules::event_at;
use crate::store::{Loss, OpenReport, Opened};

/// The `agent_fault` events (already logged at ERROR) for an open report.
pub fn open_faults(report: &OpenReport, wall: Wall) -> Vec<Event> {
    let mut out = Vec::new();
    if let Opened::Recovered { moved_to, reason } = &report.opened {
        let mut text = format!(
            "the local store was damaged and has been replaced by a fresh one; the old one is at {} ({reason}).",
            moved_to.display()
        );
        if let Some(s) = &report.salvaged {
            text.push_str(&format!(
                " Salvaged from it: {} undelivered alert event(s) and {} alert state(s).",
                s.events, s.states
            ));
            match s.lost_events {
                Some(0) => text.push_str(" Its integrity record says nothing else was waiting."),
                Some(n) => text.push_str(&format!(
                    " Its integrity record counted {n} more event(s) waiting at its last commit that could not be read: lost, unless delivered since."
                )),
                None => {}
            }
            if let Some(p) = &s.problem {
                text.push_str(&format!(" Not salvaged: {p}."));
            }
        }
        text.push_str(" Readings from before are not in the new store.");
        tracing::error!(moved_to = %moved_to.display(), "{text}");
        out.push(fault(wall, text));
    }
    if let Some(loss) = &report.loss {
        let text = describe_loss(loss);
        tracing::error!("{text}");
        out.push(fault(wall, text));
    }
    out
}

fn fault(wall: Wall, text: String) -> Event {
    let mut e = event_at(EventKind::AgentFault, Severity::Warning, wall);
    e.detail = Some(text);
    e
}

/// One paragraph a person can act on.
pub fn describe_loss(loss: &Loss) -> String {
    let mut text = format!(
        "the local store came back with less than was committed (sled lost the end of its log: damage, or a storage device that does not keep what it acknowledged): {} alert event(s)",
        loss.events
    );
    if let Some((a, b)) = loss.seqs {
        text.push_str(&format!(" (outbox sequence {a}–{b})"));
    }
    text.push_str(" are gone and were perhaps never delivered");
    if loss.episodes.is_empty() {
        text.push('.');
    } else {
        text.push_str(&format!(
            "; {} open alert episode(s) lost their state:",
            loss.episodes.len()
        ));
        for (id, ep) in &loss.episodes {
            text.push_str(&format!(
                " {} of rule {} on sensor {} since {} (alert {id});",
                ep.kind,
                ep.rule.as_deref().unwrap_or("-"),
                ep.sensor.as_deref().unwrap_or("-"),
                ep.at
            ));
        }
        text.pop();
        text.push_str(". These alerts fire again if their condition still holds.");
    }
    text
}
