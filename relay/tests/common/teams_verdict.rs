//! What reached the fake Teams for the numbered alerts of `events`, and
//! whether that is right: every alert got a card and then its resolved
//! state, nothing else was sent, and a message sent twice had a relay kill
//! in between (the relay is at-least-once towards Teams, as `sender.rs`
//! documents: a post the kill cut off cannot be known to have arrived).

use std::collections::BTreeMap;
use std::time::Instant;

use super::events::{firing_id, marker, resolved_id};
use super::fake_teams::Call;

/// What a call to Teams was, from its body.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    /// The welcome after an install.
    Welcome,
    /// A new card for alert k.
    Card(usize),
    /// The resolved state of alert k (PUT in place, or a new POST).
    Resolved(usize),
}

/// What `c` was, among alerts `0..alerts`; None for anything else.
pub fn classify(c: &Call, alerts: usize) -> Option<What> {
    let text = c.body.to_string();
    if c.method == "POST"
        && c.body["text"]
            .as_str()
            .is_some_and(|t| t.contains("I'm **edgetherm**"))
    {
        return Some(What::Welcome);
    }
    let firing: Vec<usize> = (0..alerts)
        .filter(|&k| text.contains(&marker(&firing_id(k))))
        .collect();
    let resolved: Vec<usize> = (0..alerts)
        .filter(|&k| text.contains(&marker(&resolved_id(k))))
        .collect();
    match (firing.as_slice(), resolved.as_slice()) {
        ([k], []) if c.method == "POST" => Some(What::Card(*k)),
        ([], [k]) => Some(What::Resolved(*k)),
        _ => None,
    }
}

/// How many of alerts `0..alerts` have a card whose post was answered.
pub fn answered_cards(calls: &[Call], alerts: usize) -> usize {
    (0..alerts)
        .filter(|&k| {
            let m = marker(&firing_id(k));
            calls.iter().any(|c| {
                c.method == "POST" && c.answered.is_some() && c.body.to_string().contains(&m)
            })
        })
        .count()
}

/// Welcome, a card and a resolved state for every alert in `0..alerts`.
pub fn everything(calls: &[Call], alerts: usize) -> bool {
    let seen: Vec<What> = calls.iter().filter_map(|c| classify(c, alerts)).collect();
    seen.contains(&What::Welcome)
        && (0..alerts).all(|k| seen.contains(&What::Card(k)) && seen.contains(&What::Resolved(k)))
}

fn id(c: &Call) -> &str {
    c.activity_id.as_deref().unwrap_or("-")
}

/// Checks what Teams received in `conversation` for alerts `0..alerts`:
/// (problems, duplicates). A message sent twice is allowed only with one
/// of `kills` between the two sends. The first line of duplicates lists
/// the kills, the rest one line a duplicate.
pub fn verdict(
    calls: &[Call],
    conversation: &str,
    alerts: usize,
    kills: &[Instant],
) -> (Vec<String>, Vec<String>) {
    let t0 = calls.first().map_or_else(Instant::now, |c| c.arrived);
    let ms = |t: Instant| {
        if t >= t0 {
            t.duration_since(t0).as_millis() as i64
        } else {
            -(t0.duration_since(t).as_millis() as i64)
        }
    };
    let mut problems = Vec::new();
    let mut duplicates = Vec::new();
    for c in calls {
        if c.conversation.as_deref() != Some(conversation) || classify(c, alerts).is_none() {
            problems.push(format!("unexpected call to Teams: {c:?}"));
        }
    }
    let mut by_what: BTreeMap<What, Vec<&Call>> = BTreeMap::new();
    for c in calls {
        if let Some(w) = classify(c, alerts) {
            by_what.entry(w).or_default().push(c);
        }
    }
    if !by_what.contains_key(&What::Welcome) {
        problems.push("no welcome was sent".to_string());
    }
    for k in 0..alerts {
        let cards = by_what.get(&What::Card(k)).cloned().unwrap_or_default();
        let ends = by_what.get(&What::Resolved(k)).cloned().unwrap_or_default();
        if cards.is_empty() {
            problems.push(format!("alert {k}: LOST, no card was posted"));
        }
        if ends.is_empty() {
            problems.push(format!(
                "alert {k}: resolved event LOST, its card was never updated (cards {:?})",
                cards.iter().map(|c| id(c)).collect::<Vec<_>>()
            ));
        }
        let ids: Vec<&str> = cards.iter().map(|c| id(c)).collect();
        for e in &ends {
            if e.method == "PUT" && !ids.contains(&id(e)) {
                problems.push(format!(
                    "alert {k}: resolved PUT to {}, not one of its cards {ids:?}",
                    id(e)
                ));
            }
        }
    }
    for (what, sent) in &by_what {
        for pair in sent.windows(2) {
            let (first, again) = (pair[0], pair[1]);
            let cause = kills
                .iter()
                .find(|t| **t >= first.arrived && **t <= again.arrived);
            let line = format!(
                "{what:?} sent again: {} {} at {}ms (answered {}), again at {}ms: {}",
                first.method,
                id(first),
                ms(first.arrived),
                first
                    .answered
                    .map_or("never".to_string(), |t| format!("at {}ms", ms(t))),
                ms(again.arrived),
                cause.map_or("NO KILL in between".to_string(), |t| format!(
                    "killed at {}ms",
                    ms(*t)
                ))
            );
            if cause.is_none() {
                problems.push(line.clone());
            }
            duplicates.push(line);
        }
    }
    let mut line = String::from("kills at (ms since the first call to Teams):");
    for t in kills {
        line += &format!(" {}", ms(*t));
    }
    duplicates.insert(0, line);
    (problems, duplicates)
}
