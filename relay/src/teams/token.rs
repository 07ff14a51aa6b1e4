//! Access tokens for the Bot Connector: the OAuth 2.0 client credentials
//! grant of the Microsoft identity platform (bot → connector direction).
//!
//! `POST {login_url}/{tenant}/oauth2/v2.0/token` with a form body
//! `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`
//! answers `{"token_type":"Bearer","expires_in":3599,"access_token":"…"}`.
//! The token is cached until 5 minutes before it expires; concurrent
//! callers wait for one shared request.
//!
//! Errors name what failed and, for the usual AADSTS codes, what to check.
//! Neither the client secret nor the access token ever appears in an error
//! message or a log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::url_policy::secure_or_loopback;

use super::response::{describe, excerpt, parse_retry_after, read_capped};

/// Timeout of one token request (connect to last body byte).
const TIMEOUT: Duration = Duration::from_secs(10);
/// A token is used until this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Largest token endpoint response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Why no access token could be had. Never contains the client secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The token URL is not https (http only on loopback); nothing was sent.
    #[error("refusing token URL {0:?}: it must be https:// (http:// only on loopback)")]
    InsecureUrl(String),
    /// The identity platform refused the request (400/401/403/404…): a
    /// configuration problem, retrying will not help.
    #[error("the token endpoint refused the request (HTTP {status}): {error}: {description}{}", hint_suffix(.hint.as_deref()))]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The OAuth `error` (e.g. `invalid_client`).
        error: String,
        /// `error_description` (e.g. `AADSTS7000215: Invalid client secret provided…`).
        description: String,
        /// What to check, for well-known AADSTS codes.
        hint: Option<String>,
    },
    /// 408/429/5xx, a timeout, a connection error or an unusable answer:
    /// retry later (after `retry_after` when the endpoint said so).
    #[error("cannot get an access token (transient): {message}")]
    Transient {
        /// What happened.
        message: String,
        /// From the `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

impl TokenError {
    /// True for errors that may go away by themselves.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TokenError::Transient { .. })
    }

    /// The endpoint's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What to check for a well-known AADSTS error code.
fn hint_for(codes: &[u64], description: &str) -> Option<String> {
    const HINTS: &[(u64, &str)] = &[
        (
            7000215,
            "invalid client secret: check app_secret_file (it must hold the secret's value, not its id)",
        ),
        (
            7000222,
            "the client secret has expired: create a new one and update app_secret_file",
        ),
        (
            700016,
            "application not found in the tenant: check app_id and tenant_id",
        ),
        (
            90002,
            "tenant not found: check tenant_id (and the cloud / login_url)",
        ),
        (
            900023,
            "invalid tenant identifier: check tenant_id (a GUID or a domain name)",
        ),
        (
            70011,
            "invalid scope: the scope must be https://api.botframework.com/.default",
        ),
        (
            7000218,
            "the request has no client secret: check app_secret_file",
        ),
    ];
    HINTS
        .iter()
        .find(|(code, _)| {
            codes.contains(code) || description.starts_with(&format!("AADSTS{code}:"))
        })
        .map(|(_, hint)| (*hint).to_string())
}

/// One cached token.
struct Cached {
    token: String,
    /// Fetch a new one from this moment on.
    refresh_at: Instant,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// The outcome of the latest request, for callers that waited for it.
    last: Option<Result<String, TokenError>>,
}

/// Client-credentials access tokens, cached and shared.
pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: String,
    state: Mutex<State>,
    /// Completed requests (changed only with `state` locked).
    attempts: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// `token_url` e.g. `{login_url}/{tenant_id}/oauth2/v2.0/token`; scope
    /// e.g. `https://api.botframework.com/.default`.
    pub fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: String,
    ) -> TokenSource {
        TokenSource {
            http,
            token_url,
            client_id,
            client_secret,
            scope,
            state: Mutex::new(State::default()),
            attempts: AtomicU64::new(0),
        }
    }

    /// A valid access token: cached until 5 minutes before `expires_in`;
    /// concurrent callers share one fetch (and its failure).
    pub async fn get(&self) -> Result<String, TokenError> {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut st = self.state.lock().await;
        if let Some(c) = &st.cached {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        // A request completed while we waited for the lock: its outcome is
        // as fresh as ours would be.
        if self.attempts.load(Ordering::Acquire) != seen {
            if let Some(last) = &st.last {
                return last.clone();
            }
        }
        let started = Instant::now();
        let outcome = self.fetch().await;
        st.cached = None;
        let result = match outcome {
            Ok((token, expires_in)) => {
                if let Some(valid) = expires_in.checked_sub(EXPIRY_MARGIN) {
                    st.cached = Some(Cached {
                        token: token.clone(),
                        refresh_at: started + valid,
                    });
                }
                tracing::debug!(
                    expires_in = expires_in.as_secs(),
                    "Bot Connector access token fetched"
                );
                Ok(token)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot get a Bot Connector access token");
                Err(e)
            }
        };
        st.last = Some(result.clone());
        self.attempts.fetch_add(1, Ordering::Release);
        result
    }

    /// Forgets the cached token (after a 401 from the connector).
    pub async fn invalidate(&self) {
        let mut st = self.state.lock().await;
        st.cached = None;
        st.last = None;
    }

    /// Forgets the cached token only if it is `rejected` (a token the
    /// connector answered 401 to): concurrent requests that all got a 401
    /// for the same token cause one new token, not one each.
    pub async fn invalidate_token(&self, rejected: &str) {
        let mut st = self.state.lock().await;
        if st.cached.as_ref().is_some_and(|c| c.token == rejected) {
            st.cached = None;
        }
        if matches!(&st.last, Some(Ok(t)) if t == rejected) {
            st.last = None;
        }
    }

    /// One token request: the token and its lifetime.
    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        if !secure_or_loopback(&self.token_url) {
            return Err(TokenError::InsecureUrl(excerpt(&self.token_url)));
        }
        let body = form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("scope", &self.scope),
        ]);
        let transient = |message: String| TokenError::Transient {
            message,
            retry_after: None,
        };
        let url = &self.token_url;
        let mut resp = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| transient(format!("POST {url}: {}", describe(&e))))?;
        if !secure_or_loopback(resp.url().as_str()) {
            return Err(TokenError::InsecureUrl(excerpt(resp.url().as_str())));
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let bytes = read_capped(&mut resp, MAX_RESPONSE)
            .await
            .map_err(|e| transient(format!("POST {url}: reading the answer: {}", describe(&e))))?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();

        if status == 200 {
            let json = json.ok_or_else(|| {
                transient(format!("POST {url}: HTTP 200 with a body that is not JSON"))
            })?;
            return parse_success(&json).map_err(|m| transient(format!("POST {url}: {m}")));
        }
        if status == 408 || status == 429 || status >= 500 {
            let detail = json
                .as_ref()
                .map(|j| self.oauth_error(j))
                .map(|(e, d, _)| format!(": {e}: {d}"))
                .unwrap_or_default();
            return Err(TokenError::Transient {
                message: format!("POST {url}: HTTP {status}{detail}"),
                retry_after,
            });
        }
        let (error, description, codes) = match &json {
            Some(j) => self.oauth_error(j),
            None => (
                String::new(),
                self.redact(&excerpt(&String::from_utf8_lossy(&bytes))),
                Vec::new(),
            ),
        };
        let hint = hint_for(&codes, &description).or_else(|| match status {
            404 => Some("check login_url and tenant_id".to_string()),
            _ => None,
        });
        Err(TokenError::Rejected {
            status,
            error: if error.is_empty() {
                "(no error code)".into()
            } else {
                error
            },
            description,
            hint,
        })
    }

    /// `error`, `error_description` (first line, trace ids kept, redacted)
    /// and `error_codes` of an OAuth error body.
    fn oauth_error(&self, j: &Value) -> (String, String, Vec<u64>) {
        let error = j
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let raw = j
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // AAD descriptions are "AADSTS…: text\r\nTrace ID: …\r\nCorrelation ID: …".
        let one_line = raw
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let codes = j
            .get("error_codes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        (excerpt(&error), self.redact(&excerpt(&one_line)), codes)
    }

    /// Removes the secret from text that came from the endpoint (should it
    /// ever be echoed).
    fn redact(&self, text: &str) -> String {
        if self.client_secret.len() >= 4 {
            text.replace(&self.client_secret, "<redacted>")
        } else {
            text.to_string()
        }
    }
}

/// The token and lifetime of a 200 answer.
fn parse_success(j: &Value) -> Result<(String, Duration), String> {
    let token = j
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    if let Some(kind) = j.get("token_type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type {:?} is not Bearer", excerpt(kind)));
        }
    }
    // v2.0 sends a number; v1.0 endpoints send a string.
    let expires_in = match j.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or("the answer has no valid expires_in")?;
    Ok((token.to_string(), Duration::from_secs(expires_in)))
}

/// `application/x-www-form-urlencoded` serialization (WHATWG URL): ASCII
/// letters, digits and `*-._` as is, space as `+`, every other byte of the
/// UTF-8 encoding as `%XX`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(out: &mut String, s: &str) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(&mut out, k);
        out.push('=');
        enc(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("a", "b c"), ("k", "x+y/z=&?~é*-._")]),
            "a=b+c&k=x%2By%2Fz%3D%26%3F%7E%C3%A9*-._"
        );
    }

    #[test]
    fn hints() {
        assert!(hint_for(&[7000215], "")
            .unwrap()
            .contains("app_secret_file"));
        assert!(hint_for(
            &[],
            "AADSTS700016: Application with identifier 'x' was not found"
        )
        .unwrap()
        .contains("check app_id and tenant_id"));
        assert!(hint_for(&[90002], "").unwrap().contains("tenant_id"));
        assert!(hint_for(&[50126], "AADSTS50126: x").is_none());
        // A longer code that starts with a known one is not that one.
        assert!(hint_for(&[], "AADSTS7000215999: x").is_none());
    }

    #[test]
    fn success_parsing() {
        let j = serde_json::json!({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"});
        assert_eq!(
            parse_success(&j).unwrap(),
            ("eyJ0".to_string(), Duration::from_secs(3599))
        );
        let j = serde_json::json!({"token_type":"Bearer","expires_in":"3600","access_token":"t"});
        assert_eq!(parse_success(&j).unwrap().1, Duration::from_secs(3600));
        assert!(parse_success(&serde_json::json!({"expires_in":1})).is_err());
        assert!(parse_success(
            &serde_json::json!({"access_token":"t","token_type":"mac","expires_in":1})
        )
        .is_err());
    }

    #[test]
    fn errors_say_what_to_check() {
        let e = TokenError::Rejected {
            status: 401,
            error: "invalid_client".into(),
            description: "AADSTS7000215: Invalid client secret provided.".into(),
            hint: hint_for(&[7000215], ""),
        };
        let text = e.to_string();
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(text.contains("invalid_client: AADSTS7000215"), "{text}");
        assert!(text.contains("check app_secret_file"), "{text}");
        assert!(!e.is_retryable());
    }
}
