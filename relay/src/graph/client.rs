//! The Microsoft Graph calls proactive installation needs, each answer
//! classified, with Graph's throttling and transient failures retried here
//! (bounded), and every request paced by a token bucket.
//!
//! What the code relies on (Microsoft Graph v1.0 reference and "Proactive
//! installation" in the Teams platform docs):
//!
//! - `GET /users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{app}'`
//!   answers `200 {"value": [...]}`: empty when the app is not installed, one
//!   `teamsAppInstallation` (its `id` is the installation id, not the app id)
//!   when it is. `teamsApp/externalId eq '{manifest id}'` finds it by the
//!   manifest's id instead.
//! - `POST /users/{id}/teamwork/installedApps` with
//!   `{"teamsApp@odata.bind": "{graph}/v1.0/appCatalogs/teamsApps/{app}"}`
//!   answers `201 Created` with no body; `409 Conflict` when it is installed.
//! - `GET /users/{id}/teamwork/installedApps/{installation}/chat` answers
//!   `200 {"id": "19:…"}`: the 1:1 chat of the user and the app.
//! - `GET /groups/{id}/members/microsoft.graph.user?$select=id` pages through
//!   `@odata.nextLink` (absolute URLs, followed as given).
//! - Errors are `{"error": {"code", "message", "innerError"}}`. 429 (and
//!   sometimes 503) carry `Retry-After` in seconds; without it, back off
//!   exponentially. A 403 "Missing role permissions on the request" means the
//!   application permission (and its admin consent) is missing. Installing
//!   for many users at once sometimes fails with a 400 from Teams' app
//!   entitlement service ("Exception in CreateOrUpdateUserAppEntitlement…",
//!   "Failed to execute settings store request … appentitlements") that
//!   succeeds when retried: such a 400 is retried like a 503.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{json, Value};

pub use super::answer::GraphError;
pub use super::pacing::RetryPolicy;

use super::answer::{classify, error_of, Verdict};
use super::pacing::Pacer;
use crate::teams::connector::encode_segment;
use crate::teams::response::{describe, excerpt, parse_retry_after, read_capped};
use crate::teams::token::TokenSource;
use crate::url_policy::secure_or_loopback;

/// Timeout of one request.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response read (a page of group members is ~10 KB).
const MAX_RESPONSE: usize = 1 << 20;
/// The longest `Retry-After` obeyed as given; longer ones are capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Pages of group members followed at most (999 per page: a million users).
const MAX_PAGES: usize = 1000;

/// What an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// 201: installed now.
    Created,
    /// 409: it already was.
    AlreadyThere,
}

/// The Graph client: one per relay, shared by the installer's calls.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
    base: String,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
}

/// An OData query value, percent-encoded for a URL query: RFC 3986
/// unreserved characters and `$ ' ( ) * , ; : @ / !` as they are, every
/// other byte (space, `&`, `=`, `+`, `#`, `%`, non-ASCII) as `%XX`.
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'()*,;:@/!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl GraphClient {
    /// A client for the Graph at `graph_url` (e.g. `https://graph.microsoft.com`),
    /// with tokens for it, at most `rate` requests per second.
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<TokenSource>,
        graph_url: &str,
        rate: f64,
    ) -> GraphClient {
        GraphClient {
            http,
            tokens,
            base: graph_url.trim_end_matches('/').to_string(),
            pacer: Arc::new(Pacer::new(rate)),
            retry: RetryPolicy::default(),
        }
    }

    /// The same client with another retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> GraphClient {
        self.retry = retry;
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The user's installation of the app → its installation id, if installed.
    /// Looks for `teams_app_id` first, then (when given) by the manifest id.
    pub async fn installed_app(
        &self,
        user: &str,
        teams_app_id: &str,
        manifest_id: Option<&str>,
    ) -> Result<Option<String>, GraphError> {
        let mut filters = vec![format!("teamsApp/id eq '{teams_app_id}'")];
        if let Some(m) = manifest_id {
            filters.push(format!("teamsApp/externalId eq '{m}'"));
        }
        for filter in filters {
            let url = format!(
                "{}/v1.0/users/{}/teamwork/installedApps?$expand=teamsApp&$filter={}",
                self.base,
                encode_segment(user),
                encode_query_value(&filter)
            );
            let body = self.call(Method::GET, &url, None).await?;
            let j: Value = serde_json::from_slice(&body).map_err(|e| GraphError::Failed {
                status: Some(200),
                message: format!("list installed apps: the answer is not JSON ({e})"),
            })?;
            let found = j
                .get("value")
                .and_then(Value::as_array)
                .and_then(|v| v.first())
                .and_then(|i| i.get("id"))
                .and_then(Value::as_str);
            if let Some(id) = found {
                return Ok(Some(id.to_string()));
            }
        }
        Ok(None)
    }

    /// Installs the app (by its catalog id) in the user's personal scope.
    pub async fn install(&self, user: &str, teams_app_id: &str) -> Result<Installed, GraphError> {
        let url = format!(
            "{}/v1.0/users/{}/teamwork/installedApps",
            self.base,
            encode_segment(user)
        );
        let body = json!({
            "teamsApp@odata.bind":
                format!("{}/v1.0/appCatalogs/teamsApps/{}", self.base, encode_segment(teams_app_id)),
        });
        match self.call(Method::POST, &url, Some(&body)).await {
            Ok(_) => Ok(Installed::Created),
            Err(GraphError::Conflict { .. }) => Ok(Installed::AlreadyThere),
            Err(e) => Err(e),
        }
    }

    /// The 1:1 chat of the user and the app → its id.
    pub async fn chat_id(&self, user: &str, installation_id: &str) -> Result<String, GraphError> {
        let url = format!(
            "{}/v1.0/users/{}/teamwork/installedApps/{}/chat",
            self.base,
            encode_segment(user),
            encode_segment(installation_id)
        );
        let body = self.call(Method::GET, &url, None).await?;
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|j| j.get("id")?.as_str().map(str::to_string))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GraphError::Failed {
                status: Some(200),
                message: "get chat: the answer has no chat id".into(),
            })
    }

    /// The object ids of the group's members that are users, every page.
    pub async fn group_users(&self, group: &str) -> Result<Vec<String>, GraphError> {
        let mut url = format!(
            "{}/v1.0/groups/{}/members/microsoft.graph.user?$select=id",
            self.base,
            encode_segment(group)
        );
        let mut users = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self.call(Method::GET, &url, None).await?;
            let j: Value = serde_json::from_slice(&body).map_err(|e| GraphError::Failed {
                status: Some(200),
                message: format!("list group members: the answer is not JSON ({e})"),
            })?;
            users.extend(
                j.get("value")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_string)),
            );
            match j.get("@odata.nextLink").and_then(Value::as_str) {
                Some(next) => {
                    // The token goes only to the Graph host it is for.
                    if !next.starts_with(&format!("{}/", self.base)) {
                        return Err(GraphError::InsecureUrl(excerpt(next)));
                    }
                    url = next.to_string();
                }
                None => return Ok(users),
            }
        }
        Err(GraphError::Failed {
            status: None,
            message: format!("group {group}: more than {MAX_PAGES} pages of members"),
        })
    }

    /// One request with its retries: paced, a fresh token once after a 401,
    /// 429 after `Retry-After`, 5xx and the entitlement 400 with backoff →
    /// the body of the 2xx answer.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, GraphError> {
        if !secure_or_loopback(url) {
            return Err(GraphError::InsecureUrl(excerpt(url)));
        }
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            self.pacer.acquire().await;
            let token = match self.tokens.get().await {
                Ok(t) => t,
                Err(e) if e.is_retryable() && !last => {
                    let wait = e
                        .retry_after()
                        .unwrap_or_else(|| self.retry.backoff(attempt));
                    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "no Graph access token yet; retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => return Err(GraphError::Auth(e.to_string())),
            };
            let verdict = match self.once(&method, url, body, &token).await {
                Ok((401, _, _)) if !renewed => {
                    tracing::info!(%url, "Graph answered 401: retrying with a new token");
                    self.tokens.invalidate_token(&token).await;
                    renewed = true;
                    attempt -= 1;
                    continue;
                }
                Ok((401, _, answer)) => {
                    let (code, message) = error_of(&answer);
                    return Err(GraphError::Auth(format!(
                        "Graph answered 401 twice, with a fresh token: {code} {message}"
                    )));
                }
                Ok((status, retry_after, answer)) => match classify(status, retry_after, &answer) {
                    Verdict::Done => return Ok(answer),
                    v => v,
                },
                Err(why) => Verdict::Retry { after: None, why },
            };
            match verdict {
                Verdict::Done => {}
                Verdict::Fail(e) => return Err(e),
                Verdict::Retry { why, .. } if last => {
                    return Err(GraphError::Failed {
                        status: None,
                        message: format!(
                            "{method} {}: {why} (gave up after {attempt} attempts)",
                            path_of(url)
                        ),
                    })
                }
                Verdict::Retry { after, why } => {
                    let wait = after
                        .map(|a| a.min(MAX_RETRY_AFTER))
                        .unwrap_or_else(|| self.retry.backoff(attempt));
                    tracing::warn!(
                        url = %path_of(url),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "Graph request failed ({why}); retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One attempt → (status, Retry-After, body), or why no answer came.
    async fn once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        token: &str,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), String> {
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(TIMEOUT);
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {}: {}", path_of(url), describe(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let answer = read_capped(&mut resp, MAX_RESPONSE).await.map_err(|e| {
            format!(
                "{method} {}: HTTP {status}, then {}",
                path_of(url),
                describe(&e)
            )
        })?;
        Ok((status, retry_after, answer))
    }
}

/// The path and query of a URL, for messages (no host: shorter).
fn path_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => excerpt(&format!(
            "{}{}",
            u.path(),
            u.query().map(|q| format!("?{q}")).unwrap_or_default()
        )),
        Err(_) => excerpt(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("teamsApp/id eq '0d82-x'"),
            "teamsApp/id%20eq%20'0d82-x'"
        );
        assert_eq!(encode_query_value("a&b=c+d#é"), "a%26b%3Dc%2Bd%23%C3%A9");
    }
}
