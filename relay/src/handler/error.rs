//! JSON error answers: what failed and, for bad bodies, which field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API error with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// For people.
    pub message: String,
    /// The offending JSON field, e.g. `events[0].kind`.
    pub field: Option<String>,
    /// Seconds to wait before retrying (429 / 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A store that cannot answer: 503 with Retry-After, so gateways keep
    /// their events in the outbox and try again.
    fn from(e: crate::store::StoreError) -> ApiError {
        tracing::error!(error = %e, "the relay store failed a request");
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the relay cannot reach its store right now; retry later ({e})"),
        );
        err.retry_after = Some(30);
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&Body {
            error: &self.message,
            field: self.field.as_deref(),
        })
        .expect("serialises");
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
