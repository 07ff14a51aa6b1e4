//! The gateway's side of `POST /v1/events`, faked: numbered alerts (alert
//! `k` fires once and resolves once), the batches that carry them, and
//! posting a batch the way the agent does, again and again until the relay
//! acknowledges it.
//!
//! Every event's detail carries a marker (`[evt:<id>]`) that the card shows,
//! so what reached Teams can be told apart by alert (see `teams_verdict`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edgetherm_proto::{Direction, Event, EventBatch, EventKind, Heartbeat, Severity};

use serde_json::json;

use super::http::http_with;

/// A batch as posted: (JSON body, the ids of the events it carries).
pub type Batch = (String, Vec<String>);

/// The id of alert `k`'s firing event (also the alert's id).
pub fn firing_id(k: usize) -> String {
    format!("01ALERT0FIRING{k:02}")
}

/// The id of alert `k`'s resolved event.
pub fn resolved_id(k: usize) -> String {
    format!("01ALERT0RESOLVED{k:02}")
}

/// The token in an event's detail, which the card shows: tells which event a card is.
pub fn marker(id: &str) -> String {
    format!("[evt:{id}]")
}

/// Alert `k`'s firing or resolved event: a critical rack inlet over 30 °C.
pub fn event(k: usize, kind: EventKind) -> Event {
    let id = match kind {
        EventKind::Resolved => resolved_id(k),
        _ => firing_id(k),
    };
    let mut e = Event::new(
        id.clone(),
        kind,
        Severity::Critical,
        "2026-11-21T10:00:01Z".into(),
    );
    e.detail = Some(format!("alert {k} {}", marker(&id)));
    e.alert = Some(firing_id(k));
    e.rule = Some("rack-inlet-high".into());
    e.sensor = Some(format!("rack{k:02}-inlet"));
    e.sensor_name = Some(format!("Rack {k:02} inlet"));
    e.value = Some(if kind == EventKind::Resolved {
        24.0
    } else {
        31.4
    });
    e.threshold = Some(30.0);
    e.direction = Some(Direction::Above);
    e.since = Some("2026-11-21T09:58:01Z".into());
    e
}

/// `events` from `gateway` at "Datacenter 1", as one batch.
pub fn batch(gateway: &str, events: Vec<Event>, heartbeat: Option<Heartbeat>) -> Batch {
    let ids = events.iter().map(|e| e.id.clone()).collect();
    let batch = EventBatch {
        gateway: gateway.into(),
        site: Some("Datacenter 1".into()),
        sent_at: "2026-11-21T10:00:05Z".into(),
        events,
        heartbeat,
    };
    (serde_json::to_string(&batch).unwrap(), ids)
}

/// The `kind` events of alerts `0..alerts`, `per_batch` to a batch, each
/// batch with a heartbeat.
pub fn batches(gateway: &str, kind: EventKind, alerts: usize, per_batch: usize) -> Vec<Batch> {
    (0..alerts)
        .collect::<Vec<_>>()
        .chunks(per_batch)
        .map(|ks| {
            // Parsed, as the relay gets it: fields the protocol adds later
            // (all optional) need no change here.
            let heartbeat: Heartbeat =
                serde_json::from_value(json!({"uptime_s": 600, "outbox": 0, "sensors": []}))
                    .unwrap();
            let events = ks.iter().map(|&k| event(k, kind)).collect();
            batch(gateway, events, Some(heartbeat))
        })
        .collect()
}

/// How posting one batch went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    /// Requests made, the successful one included.
    pub attempts: usize,
    /// Attempts whose request was sent but never answered (killed mid-request).
    pub interrupted: usize,
}

impl std::ops::AddAssign for Posted {
    fn add_assign(&mut self, o: Posted) {
        self.attempts += o.attempts;
        self.interrupted += o.interrupted;
    }
}

/// Posts a batch until the relay answers 200 accepting all of it (as the
/// agent does: a batch interrupted by a kill is simply sent again), giving
/// up after 1200 attempts 100 ms apart or once `stop` is raised. `sent` is
/// up while a request waits for its answer.
pub fn deliver(
    port: u16,
    token: &str,
    (body, ids): &Batch,
    stop: &AtomicBool,
    sent: &AtomicBool,
) -> Result<Posted, String> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let mut last = String::new();
    let mut interrupted = 0;
    for attempt in 1..=1200 {
        if stop.load(Ordering::Relaxed) {
            return Err("stopped".into());
        }
        match http_with(port, "POST", "/v1/events", &headers, body, Some(sent)) {
            Ok((200, answer)) => {
                let a: edgetherm_proto::Accepted = serde_json::from_str(&answer)
                    .map_err(|e| format!("bad 200 body {answer:?}: {e}"))?;
                if &a.accepted != ids {
                    return Err(format!("accepted {:?}, sent {ids:?}", a.accepted));
                }
                return Ok(Posted {
                    attempts: attempt,
                    interrupted,
                });
            }
            Ok((status, answer)) => last = format!("HTTP {status}: {answer}"),
            Err((was_sent, e)) => {
                interrupted += usize::from(was_sent);
                last = e;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no 200 after 1200 attempts; last: {last}"))
}
