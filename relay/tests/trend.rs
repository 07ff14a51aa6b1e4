//! Trends through the gateway API (docs/wire.md): one a card cannot draw is
//! dropped with a warning and its event kept; a good one is queued as sent.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::gateway_api::{relay, Relay};
use edgetherm_proto::Trend;
use serde_json::{json, Value};

fn event(id: &str, trend: Value) -> Value {
    json!({
        "id": id, "kind": "firing", "rule": "freezer-high", "sensor": "freezer",
        "severity": "critical", "value": -14.5, "threshold": -15.0, "direction": "above",
        "since": "2026-11-21T09:58:01Z", "at": "2026-11-21T10:00:01Z",
        "trend": trend,
    })
}

fn batch(events: Vec<Value>) -> String {
    json!({
        "gateway": "dc1-gw01", "sent_at": "2026-11-21T10:00:05Z", "events": events,
    })
    .to_string()
}

async fn post(r: &Relay, body: String) -> (StatusCode, Value) {
    let (status, _, v) = common::gateway_api::post(r, Some(&r.token), body).await;
    (status, v)
}

/// The relay's log lines while `f` runs on this thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const BAD: &str = "01JD3X0Q9W8M1K7V5R2T6Y4BAD";
const GOOD: &str = "01JD3X0Q9W8M1K7V5R2T6Y4GOD";

#[tokio::test(flavor = "current_thread")]
async fn a_bad_trend_is_dropped_and_its_event_kept() {
    let r = relay(1000);
    let (log, _guard) = Log::capture();
    // Offsets out of order: the arrays parse, but no chart can use them.
    let bad = json!({"t": [-60, -120, 0], "v": [-1500, -1480, -1450]});
    let good = json!({"t": [-3540, -1800, 0], "v": [-1812, -1600, -1450]});
    let (status, v) = post(&r, batch(vec![event(BAD, bad), event(GOOD, good)])).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!([BAD, GOOD]));

    let queued = r.state.store.pending(100).unwrap();
    assert_eq!(queued.len(), 2, "both events are queued");
    let of = |id: &str| {
        queued
            .iter()
            .map(|(_, q)| &q.event)
            .find(|e| e.id == id)
            .unwrap()
            .clone()
    };
    let kept = of(BAD);
    assert_eq!(kept.trend, None, "queued without its trend");
    assert_eq!(kept.value, Some(-14.5), "and otherwise as sent");
    assert_eq!(kept.threshold, Some(-15.0));
    assert_eq!(
        of(GOOD).trend,
        Some(Trend {
            t: vec![-3540, -1800, 0],
            v: vec![-1812, -1600, -1450],
        })
    );

    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("unusable trend"))
        .unwrap_or_else(|| panic!("no warning in:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("dc1-gw01"), "names the gateway: {line}");
    assert!(line.contains(BAD), "names the event: {line}");
    assert!(line.contains("t must rise"), "says why: {line}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("unusable trend"))
            .count(),
        1,
        "only the bad trend is reported:\n{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn each_reason_is_named() {
    let r = relay(1000);
    let (log, _guard) = Log::capture();
    let events = vec![
        event("01LENGTHS", json!({"t": [-60, 0], "v": [1]})),
        event(
            "01TOOLONG",
            json!({"t": (0..61).map(|i| i - 61).collect::<Vec<i32>>(), "v": vec![0; 61]}),
        ),
        event("01FUTURE", json!({"t": [-60, 30], "v": [1, 2]})),
    ];
    let (status, v) = post(&r, batch(events)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let queued = r.state.store.pending(100).unwrap();
    assert_eq!(queued.len(), 3);
    assert!(queued.iter().all(|(_, q)| q.event.trend.is_none()));
    let text = log.text();
    for (id, why) in [
        ("01LENGTHS", "same length"),
        ("01TOOLONG", "at most 60 points"),
        ("01FUTURE", "t must rise"),
    ] {
        assert!(
            text.lines().any(|l| l.contains(id) && l.contains(why)),
            "{id}: {why} in:\n{text}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_trend_of_the_wrong_shape_is_a_400_naming_it() {
    let r = relay(1000);
    let (status, v) = post(&r, batch(vec![event("01A", json!({"t": "soon", "v": []}))])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "events[0].trend.t", "{v}");
    let (status, v) = post(&r, batch(vec![event("01B", json!({"v": [1]}))])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "events[0].trend.t", "{v}");
    assert_eq!(r.state.store.pending_len().unwrap(), 0);
}
