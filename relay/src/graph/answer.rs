//! What Graph's answers mean: the errors callers see, and which answers
//! are worth another attempt.

use std::time::Duration;

use serde_json::Value;

use crate::teams::response::excerpt;

/// A Graph request that did not succeed (after the retries it deserved).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// 403: the app lacks a permission (or admin consent), or a policy forbids it.
    #[error("HTTP 403 {code}: {message}")]
    Forbidden {
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// 404: the user, group, installation or app does not exist.
    #[error("HTTP 404 {code}: {message}")]
    NotFound {
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// 409: already there (an install of an installed app).
    #[error("HTTP 409 {code}: {message}")]
    Conflict {
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// Throttling or transient failures that outlasted the retries, or any
    /// other refusal; `status` is None when no answer came.
    #[error("{}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
    Failed {
        /// The last HTTP status, if any.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// No access token (secret, tenant, login URL) or 401 with a fresh one.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A URL that is not https (http only on loopback), or a next link to
    /// another host; nothing was sent.
    #[error(
        "refusing URL {0:?}: it must be https:// on the Graph host (http:// only on loopback)"
    )]
    InsecureUrl(String),
}

/// What one attempt's answer means.
pub(super) enum Verdict {
    /// 2xx.
    Done,
    /// Worth another attempt, after `after` if Graph said so.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Final.
    Fail(GraphError),
}

/// `(error.code, error.message)` of a Graph error body, or an excerpt.
pub(super) fn error_of(body: &[u8]) -> (String, String) {
    if let Ok(j) = serde_json::from_slice::<Value>(body) {
        let e = j.get("error").filter(|e| e.is_object()).unwrap_or(&j);
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(excerpt);
        let code = text("code").unwrap_or_default();
        let message = text("message").unwrap_or_else(|| excerpt(&j.to_string()));
        return (code, message);
    }
    (String::new(), excerpt(String::from_utf8_lossy(body).trim()))
}

/// True for the intermittent 400 of Teams' app entitlement service.
fn is_entitlement_hiccup(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("entitlement") || m.contains("settings store request")
}

/// What an answer (status, `Retry-After`, body) means for the request.
pub(super) fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Done;
    }
    let (code, message) = error_of(body);
    let why = || {
        if code.is_empty() {
            format!("HTTP {status}: {message}")
        } else {
            format!("HTTP {status} {code}: {message}")
        }
    };
    match status {
        429 | 500..=599 => Verdict::Retry {
            after: retry_after,
            why: why(),
        },
        400 if is_entitlement_hiccup(&message) => Verdict::Retry {
            after: retry_after,
            why: why(),
        },
        403 => Verdict::Fail(GraphError::Forbidden { code, message }),
        404 => Verdict::Fail(GraphError::NotFound { code, message }),
        409 => Verdict::Fail(GraphError::Conflict { code, message }),
        _ => Verdict::Fail(GraphError::Failed {
            status: Some(status),
            message: if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_classified() {
        let body = |code: &str, msg: &str| {
            serde_json::to_vec(&json!({"error": {"code": code, "message": msg, "innerError": {}}}))
                .unwrap()
        };
        assert!(matches!(classify(201, None, b""), Verdict::Done));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), &body("TooManyRequests", "x")),
            Verdict::Retry { after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, None, &body("serviceNotAvailable", "x")),
            Verdict::Retry { after: None, .. }
        ));
        let hiccup = "Exception in CreateOrUpdateUserAppEntitlementForTeamsAsync. UserId: x";
        assert!(matches!(
            classify(400, None, &body("BadRequest", hiccup)),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(400, None, &body("BadRequest", "Invalid bind property name")),
            Verdict::Fail(GraphError::Failed {
                status: Some(400),
                ..
            })
        ));
        let missing = "Missing role permissions on the request. API requires one of \
                       'TeamsAppInstallation.ReadWriteSelfForUser.All'. Roles on the request ''.";
        match classify(403, None, &body("Forbidden", missing)) {
            Verdict::Fail(e @ GraphError::Forbidden { .. }) => {
                assert!(e.to_string().contains("Missing role permissions"), "{e}")
            }
            _ => panic!("403 is Forbidden"),
        }
        assert!(matches!(
            classify(404, None, &body("Request_ResourceNotFound", "x")),
            Verdict::Fail(GraphError::NotFound { .. })
        ));
        assert!(matches!(
            classify(409, None, &body("Conflict", "x")),
            Verdict::Fail(GraphError::Conflict { .. })
        ));
    }
}
