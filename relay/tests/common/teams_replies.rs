//! Answers the fake Microsoft endpoints can be scripted with, in the shapes
//! the real ones send (the Bot Connector's `{"error": {"code", "message"}}`,
//! the identity platform's AADSTS errors), so the relay's error
//! classification is tested against what it will really see.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// A scripted answer: status, extra headers, JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Extra headers, e.g. `retry-after`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// Any status with a JSON body.
    pub fn new(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A Bot Connector error as Teams sends it: `{"error": {"code", "message"}}`.
    pub fn teams_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::new(status, json!({"error": {"code": code, "message": message}}))
    }

    /// 429 `Throttled`; add `.retry_after(secs)` for the header.
    pub fn throttled() -> Reply {
        Reply::teams_error(429, "Throttled", "Too many requests.")
    }

    /// 503 with an empty JSON body, as Teams answers when it is down.
    pub fn unavailable() -> Reply {
        Reply::new(503, json!({}))
    }

    /// 403 `MessageWritesBlocked`, exactly as Microsoft's "Proactive
    /// messages" page shows it: the sub-code inside a JSON document that is
    /// itself the `message` string.
    pub fn message_writes_blocked() -> Reply {
        Reply::new(
            403,
            json!({
                "errorCode": 209,
                "message": "{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"
            }),
        )
    }

    /// 403 `ConversationBlockedByUser`: the user blocked the bot.
    pub fn blocked_by_user() -> Reply {
        Reply::teams_error(
            403,
            "ConversationBlockedByUser",
            "User blocked the conversation with the bot.",
        )
    }

    /// An identity platform token error: `error`, `AADSTS<code>: text` with
    /// trace and correlation ids, as login.microsoftonline.com sends it.
    pub fn aad_error(status: u16, error: &str, code: u64, text: &str) -> Reply {
        Reply::new(
            status,
            json!({
                "error": error,
                "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0b1c\r\nCorrelation ID: 9d8e\r\nTimestamp: 2024-05-01 10:00:00Z"),
                "error_codes": [code],
                "timestamp": "2024-05-01 10:00:00Z",
                "trace_id": "0b1c",
                "correlation_id": "9d8e",
                "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
            }),
        )
    }

    /// The same answer with a `Retry-After: secs` header.
    pub fn retry_after(mut self, secs: u64) -> Reply {
        self.headers.push(("retry-after", secs.to_string()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (
            StatusCode::from_u16(self.status).unwrap(),
            axum::Json(self.body),
        )
            .into_response();
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        r
    }
}
