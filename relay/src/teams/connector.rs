//! The Bot Connector REST API v3 (bot → Teams): send, update and create
//! conversations, with the answer classified for the caller's queue.
//!
//! Every request carries `Authorization: Bearer <token>` from the
//! [`TokenSource`]. A 401 invalidates that token and the request is made
//! once more with a fresh one; nothing else is retried here (the caller's
//! queue does backoff and retries, guided by [`SendError::is_retryable`]).
//!
//! Error classification follows "Status codes from bot conversational APIs"
//! in the Teams documentation: 412, 502, 503, 504 are worth retrying with
//! backoff, 429 after `Retry-After`, and the rest (including 500) is final.
//!
//! Ids in paths: conversation and activity ids are percent-encoded as path
//! segments, everything but RFC 3986 *unreserved* characters
//! (`A-Z a-z 0-9 - . _ ~`) becoming `%XX`. RFC 3986 would allow `:`, `@`
//! and `;` unencoded in a segment, but `;` starts path parameters for some
//! servers and proxies, and Microsoft's own SDKs (`encodeURIComponent`,
//! `Uri.EscapeDataString`) encode them, so the service is known to decode
//! `a%3A1xyz` and `19%3Aabc%40thread.tacv2%3Bmessageid%3D123`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{json, Value};

use crate::url_policy::secure_or_loopback;

use super::response::{describe, excerpt, parse_retry_after, read_capped};
use super::token::{TokenError, TokenSource};

/// Timeout of one request (connect to last body byte).
const TIMEOUT: Duration = Duration::from_secs(15);
/// Wait after a 429 without a (usable) `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Largest response read.
const MAX_RESPONSE: usize = 256 * 1024;

/// Why a request to the connector failed, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// 429: wait this long (from Retry-After seconds or HTTP-date; default
    /// 1 s if absent), then retry.
    #[error("throttled: retry after {} ms", retry_after.as_millis())]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// 412, 502, 503, 504, timeouts, connection errors: retry with
    /// exponential backoff and jitter.
    #[error("transient failure: {0}")]
    Transient(String),
    /// 403 with error code MessageWritesBlocked or ConversationBlockedByUser:
    /// the user blocked the bot.
    #[error("the user blocked the bot: {0}")]
    Blocked(String),
    /// 403 BotNotInConversationRoster or ForbiddenOperationException: the
    /// bot is not installed there.
    #[error("the bot is not installed in the conversation: {0}")]
    NotInstalled(String),
    /// 404 ConversationNotFound: the conversation no longer exists.
    #[error("the conversation no longer exists: {0}")]
    ConversationGone(String),
    /// 404 ActivityNotFoundInConversation: the message to update is gone
    /// (send a new one instead).
    #[error("the message to update no longer exists: {0}")]
    ActivityGone(String),
    /// 401 even after one fresh token, or a token error.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Anything else: final, with status and the error code/message from
    /// the body.
    #[error("the connector refused the request (HTTP {status}, code {code:?}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// `error.code` of the body (empty if none).
        code: String,
        /// `error.message` of the body, or an excerpt of the body.
        message: String,
    },
    /// A service URL that is not https (or loopback http).
    #[error("refusing service URL {0:?}: it must be https:// (http:// only on loopback)")]
    InsecureUrl(String),
}

impl SendError {
    /// True when the same request may succeed later: `Throttled` (after
    /// `retry_after`) and `Transient` (with backoff).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Throttled { .. } | SendError::Transient(_))
    }
}

impl From<TokenError> for SendError {
    /// Configuration errors are `Auth`; a token endpoint that is down or
    /// throttling is retryable like the connector itself.
    fn from(e: TokenError) -> SendError {
        match e {
            TokenError::Transient {
                retry_after: Some(retry_after),
                ..
            } => SendError::Throttled { retry_after },
            TokenError::Transient { .. } => SendError::Transient(e.to_string()),
            TokenError::Rejected { .. } | TokenError::InsecureUrl(_) => {
                SendError::Auth(e.to_string())
            }
        }
    }
}

/// Joins a service URL (with or without a trailing `/`) and a path (with
/// or without a leading `/`) with exactly one `/`.
pub fn join(service_url: &str, path: &str) -> String {
    format!(
        "{}/{}",
        service_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// An id as one path segment: everything but RFC 3986 unreserved
/// characters percent-encoded (see the module documentation).
pub fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An answer: status, `Retry-After`, body (capped).
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// The Bot Connector client.
#[derive(Debug, Clone)]
pub struct Connector {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
}

impl Connector {
    /// A connector using `http` and tokens from `tokens`.
    pub fn new(http: reqwest::Client, tokens: Arc<TokenSource>) -> Connector {
        Connector { http, tokens }
    }

    /// `POST {serviceUrl}/v3/conversations/{conversationId}/activities` →
    /// the new activity id (`{"id":"..."}`; empty if the answer has none:
    /// the message was accepted all the same).
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<String, SendError> {
        let path = format!(
            "v3/conversations/{}/activities",
            encode_segment(conversation_id)
        );
        let answer = self
            .request(Method::POST, service_url, &path, activity)
            .await?;
        Ok(id_of(&answer.body).unwrap_or_default())
    }

    /// `PUT {serviceUrl}/v3/conversations/{conversationId}/activities/{activityId}`
    /// (update in place).
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), SendError> {
        let path = format!(
            "v3/conversations/{}/activities/{}",
            encode_segment(conversation_id),
            encode_segment(activity_id)
        );
        self.request(Method::PUT, service_url, &path, activity)
            .await?;
        Ok(())
    }

    /// `POST {serviceUrl}/v3/conversations`: creates (or finds) the 1:1
    /// conversation of the bot with `member_id` → its id.
    pub async fn create_conversation(
        &self,
        service_url: &str,
        bot_id: &str,
        member_id: &str,
        tenant_id: &str,
    ) -> Result<String, SendError> {
        let body = json!({
            "bot": {"id": bot_id},
            "members": [{"id": member_id}],
            "isGroup": false,
            "tenantId": tenant_id,
            "channelData": {"tenant": {"id": tenant_id}},
        });
        let answer = self
            .request(Method::POST, service_url, "v3/conversations", &body)
            .await?;
        // Creating a 1:1 conversation is idempotent: asking again is safe.
        id_of(&answer.body)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                SendError::Transient(format!(
                    "create conversation: HTTP {} without a conversation id",
                    answer.status
                ))
            })
    }

    /// One request, made again once with a fresh token after a 401; a
    /// success (2xx) answer, or the classified failure.
    async fn request(
        &self,
        method: Method,
        service_url: &str,
        path: &str,
        body: &Value,
    ) -> Result<Answer, SendError> {
        if !secure_or_loopback(service_url) {
            return Err(SendError::InsecureUrl(excerpt(service_url)));
        }
        let url = join(service_url, path);
        let token = self.tokens.get().await?;
        let mut answer = self.once(method.clone(), &url, body, &token).await?;
        if answer.status == 401 {
            tracing::info!(%url, "the connector answered 401: retrying with a new token");
            self.tokens.invalidate_token(&token).await;
            let token = self.tokens.get().await?;
            answer = self.once(method, &url, body, &token).await?;
            if answer.status == 401 {
                let (code, message) = error_of(&answer.body);
                return Err(SendError::Auth(format!(
                    "the connector answered 401 twice, with a fresh token (check app_id, the secret and the bot's Teams channel registration){}",
                    if code.is_empty() {
                        format!(": {message}")
                    } else {
                        format!(": {code}: {message}")
                    }
                )));
            }
        }
        classify(answer)
    }

    async fn once(
        &self,
        method: Method,
        url: &str,
        body: &Value,
        token: &str,
    ) -> Result<Answer, SendError> {
        let mut resp = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("{method} {url}: {}", describe(&e))))?;
        if !secure_or_loopback(resp.url().as_str()) {
            return Err(SendError::InsecureUrl(excerpt(resp.url().as_str())));
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = match read_capped(&mut resp, MAX_RESPONSE).await {
            Ok(b) => b,
            // The status is what matters; a 2xx was accepted whatever
            // happens to its body afterwards.
            Err(e) if (200..300).contains(&status) => {
                tracing::debug!(%url, error = %describe(&e), "cannot read a success answer");
                Vec::new()
            }
            Err(e) => {
                return Err(SendError::Transient(format!(
                    "{method} {url}: HTTP {status}, then {}",
                    describe(&e)
                )))
            }
        };
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// `id` of a `ResourceResponse` / `ConversationResourceResponse`.
fn id_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

/// `(error.code, error.message)` of an error body; for other shapes the
/// top-level `code`/`message`, or an excerpt of the body.
fn error_of(body: &[u8]) -> (String, String) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(excerpt);
    if let Ok(j) = serde_json::from_slice::<Value>(body) {
        let inner = j.get("error").filter(|e| e.is_object()).unwrap_or(&j);
        let mut code = text(inner.get("subCode"))
            .filter(|c| !c.is_empty())
            .or_else(|| text(inner.get("code")))
            .unwrap_or_default();
        let raw_message = inner.get("message").or_else(|| j.get("message"));
        let mut message = text(raw_message).unwrap_or_else(|| excerpt(&j.to_string()));
        // Teams' blocked-bot 403 (the "proactive messages" page) is
        // `{"errorCode":209,"message":"{ \"subCode\": ..., \"details\": ... }"}`:
        // the reason sits in a JSON document inside the message string.
        let nested = raw_message
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok());
        if let Some(n) = nested.filter(Value::is_object) {
            if let Some(sub) = text(n.get("subCode")).filter(|c| !c.is_empty()) {
                code = sub;
            }
            if let Some(d) = text(n.get("details")).filter(|d| !d.is_empty()) {
                message = d;
            }
        }
        if code.is_empty() {
            if let Some(n) = inner.get("errorCode").filter(|c| !c.is_null()) {
                code = excerpt(&n.to_string());
            }
        }
        return (code, message);
    }
    (String::new(), excerpt(String::from_utf8_lossy(body).trim()))
}

/// A 2xx answer, or the failure it means.
fn classify(answer: Answer) -> Result<Answer, SendError> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    if status == 429 {
        return Err(SendError::Throttled {
            retry_after: answer.retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        });
    }
    let (code, message) = error_of(&answer.body);
    let detail = || format!("{code}: {message}");
    // Teams documents MessageWritesBlocked as a "subCode" of a 403.
    let mentions = |what: &str| {
        code == what || String::from_utf8_lossy(&answer.body).contains(&format!("\"{what}\""))
    };
    Err(match status {
        412 | 502 | 503 | 504 => SendError::Transient(format!("HTTP {status}: {}", detail())),
        403 if mentions("MessageWritesBlocked") || code == "ConversationBlockedByUser" => {
            SendError::Blocked(detail())
        }
        403 if code == "BotNotInConversationRoster" || code == "ForbiddenOperationException" => {
            SendError::NotInstalled(detail())
        }
        404 if code == "ConversationNotFound" => SendError::ConversationGone(detail()),
        404 if code == "ActivityNotFoundInConversation" => SendError::ActivityGone(detail()),
        _ => SendError::Rejected {
            status,
            code,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_has_one_slash() {
        for base in [
            "https://smba.trafficmanager.net/teams",
            "https://smba.trafficmanager.net/teams/",
        ] {
            for path in ["v3/conversations", "/v3/conversations"] {
                assert_eq!(
                    join(base, path),
                    "https://smba.trafficmanager.net/teams/v3/conversations"
                );
            }
        }
        assert_eq!(join("https://h/", "x"), "https://h/x");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a:1xyz"), "a%3A1xyz");
        assert_eq!(
            encode_segment("19:abc@thread.tacv2;messageid=123"),
            "19%3Aabc%40thread.tacv2%3Bmessageid%3D123"
        );
        assert_eq!(encode_segment("a/b?c#d%e é"), "a%2Fb%3Fc%23d%25e%20%C3%A9");
        assert_eq!(encode_segment("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_of(
                br#"{"error":{"code":"ConversationNotFound","message":"Conversation not found."}}"#
            ),
            (
                "ConversationNotFound".into(),
                "Conversation not found.".into()
            )
        );
        assert_eq!(
            error_of(br#"{"message":"Authorization has been denied for this request."}"#),
            (
                String::new(),
                "Authorization has been denied for this request.".into()
            )
        );
        assert_eq!(
            error_of(b"<html>Bad Gateway</html>\n"),
            (String::new(), "<html>Bad Gateway</html>".into())
        );
    }

    #[test]
    fn retryable() {
        assert!(SendError::Throttled {
            retry_after: DEFAULT_RETRY_AFTER
        }
        .is_retryable());
        assert!(SendError::Transient("x".into()).is_retryable());
        assert!(!SendError::Blocked("x".into()).is_retryable());
        assert!(!SendError::Auth("x".into()).is_retryable());
        assert!(!SendError::InsecureUrl("x".into()).is_retryable());
    }
}
