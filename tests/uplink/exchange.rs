//! What the fake relay records (`Received`) and answers (`Answer`), with
//! the answers the tests use most.

// Each test uses a different part of this helper.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http1::RawRequest;

/// A request the fake relay received, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub req: RawRequest,
    /// The body parsed as JSON (None if it is not JSON).
    pub json: Option<Value>,
    pub status: u16,
    pub answer: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }

    /// The batch's events (empty for a heartbeat-only batch).
    pub fn events(&self) -> Vec<Value> {
        self.json
            .as_ref()
            .and_then(|j| j["events"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn event_ids(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn has_events(&self) -> bool {
        !self.events().is_empty()
    }

    /// Ids the answer accepted (empty unless it was a 2xx).
    pub fn accepted(&self) -> Vec<String> {
        if !(200..300).contains(&self.status) {
            return Vec::new();
        }
        let v: Value = serde_json::from_str(&self.answer).unwrap_or(Value::Null);
        v["accepted"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// None: `{"accepted": [every event id of the request]}`.
    pub body: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    /// 200, accepting every event of the batch.
    pub fn ok() -> Answer {
        Answer::status(200, None)
    }

    /// `status` with a fixed JSON body (None: accept all).
    pub fn status(status: u16, body: Option<&str>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.map(String::from),
            delay: Duration::ZERO,
        }
    }

    /// 200 with a fixed JSON `body`.
    pub fn json(body: Value) -> Answer {
        Answer::status(200, Some(&body.to_string()))
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

/// 200 accepting everything, routing each test event to `conversations`
/// Teams conversations (`teams`: whether the relay has Teams credentials).
pub fn accept_with_route(req: &Received, conversations: u32, teams: bool) -> Answer {
    let tests: Vec<Value> = req
        .events()
        .iter()
        .filter(|e| e["kind"] == "test")
        .map(|e| json!({"id": e["id"], "conversations": conversations, "teams": teams}))
        .collect();
    Answer::json(json!({"accepted": req.event_ids(), "tests": tests}))
}
