//! Signing keys: where each key set comes from, how it is cached, and how a
//! JWKS document becomes keys.
//!
//! Every set is cached on its own: fetched again when older than 24 hours,
//! at most once an hour because a token named a key id we do not know, and
//! not before 30 s after a failed fetch (while the keys already held stay in
//! use).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::jwt::excerpt;
use super::{AuthError, BOT_FRAMEWORK_ISSUER};
use crate::url_policy::secure_or_loopback;

/// Age after which a key set is fetched again.
pub(super) const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Least time between refreshes caused by unknown key ids.
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(60 * 60);
/// Least time between attempts after a failed fetch.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Timeout of each metadata / JWKS request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest metadata or JWKS document accepted.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// One published signing key.
pub(super) struct SigningKey {
    pub(super) key: DecodingKey,
    /// `None` when the JWK has no `endorsements` member (Entra keys never do).
    pub(super) endorsements: Option<Vec<String>>,
    /// The JWK's `issuer` member, which Entra publishes (possibly with a
    /// `{tenantid}` placeholder) and the Bot Framework does not.
    pub(super) issuer: Option<String>,
}

#[derive(Default)]
pub(super) struct KeyCache {
    pub(super) keys: HashMap<String, Arc<SigningKey>>,
    /// When the key set must be fetched again; `None`: never fetched.
    pub(super) refresh_due: Option<Instant>,
    /// Before this, an unknown kid does not cause a refresh.
    pub(super) unknown_kid_refresh_after: Option<Instant>,
    /// After a failed fetch: no new attempt before this.
    pub(super) retry_after: Option<Instant>,
    /// The last fetch failure, while `retry_after` holds.
    last_error: Option<String>,
}

impl KeyCache {
    fn retry_allowed(&self, now: Instant) -> bool {
        self.retry_after.is_none_or(|t| now >= t)
    }

    fn install(&mut self, keys: HashMap<String, Arc<SigningKey>>, now: Instant) {
        self.keys = keys;
        self.refresh_due = Some(now + MAX_KEY_AGE);
        self.retry_after = None;
        self.last_error = None;
    }

    fn failed(&mut self, e: &AuthError, now: Instant) {
        tracing::warn!(reason = %e, "cannot refresh a signing key set");
        self.retry_after = Some(now + RETRY_AFTER_FAILURE);
        self.last_error = Some(e.to_string());
    }
}

/// Where a key set is published.
pub(super) enum Location {
    /// An OpenID metadata document whose `jwks_uri` names the JWKS (the
    /// Bot Framework's).
    Metadata(String),
    /// The JWKS itself (Entra's `{login}/{tenant}/discovery/v2.0/keys`).
    Jwks(String),
}

/// One issuer's key set and its cache.
pub(super) struct KeySource {
    /// For messages: `Bot Framework` or `Entra`.
    pub(super) set: &'static str,
    location: Location,
    http: reqwest::Client,
    pub(super) cache: Mutex<KeyCache>,
}

impl KeySource {
    pub(super) fn new(set: &'static str, location: Location, http: reqwest::Client) -> KeySource {
        KeySource {
            set,
            location,
            http,
            cache: Mutex::new(KeyCache::default()),
        }
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn error(&self, detail: String) -> AuthError {
        AuthError::Keys {
            set: self.set,
            detail,
        }
    }

    /// The key named `kid`, from the cache or (subject to the refresh rules)
    /// from a fresh fetch. Concurrent callers wait for one fetch.
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let mut fetched_now = false;
        if cache.refresh_due.is_none_or(|due| now >= due) {
            if cache.retry_allowed(now) {
                match self.fetch().await {
                    Ok(keys) => {
                        cache.install(keys, now);
                        fetched_now = true;
                    }
                    Err(e) => {
                        cache.failed(&e, now);
                        if cache.keys.is_empty() {
                            return Err(e);
                        }
                        // Keep using the keys we have until the next attempt.
                    }
                }
            } else if cache.keys.is_empty() {
                let last = cache.last_error.clone().unwrap_or_default();
                return Err(self.error(format!("{last} (retrying shortly)")));
            }
        }
        if let Some(k) = cache.keys.get(kid) {
            return Ok(k.clone());
        }
        // An unknown kid: perhaps the keys rolled over. Look again, but at
        // most once an hour, so that made-up kids cannot hammer the endpoint.
        let allowed = cache.unknown_kid_refresh_after.is_none_or(|t| now >= t);
        if !fetched_now && allowed && cache.retry_allowed(now) {
            cache.unknown_kid_refresh_after = Some(now + UNKNOWN_KID_REFRESH);
            tracing::info!(kid = %excerpt(kid), set = self.set, "token names an unknown signing key id; refreshing the key set");
            match self.fetch().await {
                Ok(keys) => cache.install(keys, now),
                Err(e) => {
                    cache.failed(&e, now);
                    return Err(e);
                }
            }
            if let Some(k) = cache.keys.get(kid) {
                return Ok(k.clone());
            }
        }
        Err(AuthError::UnknownKey(excerpt(kid)))
    }

    /// The key set: through the metadata document, or directly.
    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, AuthError> {
        let jwks_uri = match &self.location {
            Location::Jwks(url) => url.clone(),
            Location::Metadata(url) => {
                let metadata = self.get_json(url, "OpenID metadata").await?;
                if let Some(issuer) = metadata.get("issuer").and_then(Value::as_str) {
                    if issuer != BOT_FRAMEWORK_ISSUER {
                        tracing::debug!(
                            issuer,
                            "the OpenID metadata names another issuer than the Bot Framework's"
                        );
                    }
                }
                metadata
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.error("the OpenID metadata has no jwks_uri".into()))?
                    .to_string()
            }
        };
        let jwks = self.get_json(&jwks_uri, "JWKS").await?;
        let keys = parse_jwks(&jwks).map_err(|e| self.error(e))?;
        tracing::info!(keys = keys.len(), set = self.set, "signing keys loaded");
        Ok(keys)
    }

    /// GET a JSON document, https (or loopback http) only, size-capped,
    /// with a timeout.
    async fn get_json(&self, url: &str, what: &str) -> Result<Value, AuthError> {
        if !secure_or_loopback(url) {
            return Err(self.error(format!(
                "refusing {what} URL {:?}: it must be https:// (http:// only on loopback)",
                excerpt(url)
            )));
        }
        let fetch = async {
            let mut resp = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(FETCH_TIMEOUT)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            // Redirects must not lead somewhere insecure either.
            if !secure_or_loopback(resp.url().as_str()) {
                return Err(format!("GET {url}: redirected to a non-https URL"));
            }
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("GET {url}: HTTP {status}"));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
                if body.len() + chunk.len() > MAX_DOCUMENT {
                    return Err(format!(
                        "GET {url}: document larger than {MAX_DOCUMENT} bytes"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: invalid JSON: {e}"))
        };
        match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
            Ok(Ok(v)) if v.is_object() => Ok(v),
            Ok(Ok(_)) => Err(self.error(format!("{what} at {url} is not a JSON object"))),
            Ok(Err(e)) => Err(self.error(format!("{what}: {e}"))),
            Err(_) => Err(self.error(format!(
                "{what}: GET {url} timed out after {} s",
                FETCH_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The usable keys of a JWKS document: RSA signing keys with a `kid`.
/// Keys that do not parse are skipped (the set must keep at least one).
pub(super) fn parse_jwks(jwks: &Value) -> Result<HashMap<String, Arc<SigningKey>>, String> {
    let list = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no \"keys\" array")?;
    let mut keys = HashMap::new();
    for raw in list {
        let jwk: Jwk = match serde_json::from_value(raw.clone()) {
            Ok(j) => j,
            Err(e) => {
                tracing::debug!(error = %e, "skipping a JWK that does not parse");
                continue;
            }
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
            || !matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            )
        {
            continue;
        }
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(kid = %excerpt(&kid), error = %e, "skipping an unusable JWK");
                continue;
            }
        };
        let endorsements = raw.get("endorsements").map(|e| {
            e.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                // An `endorsements` member that is not an array endorses nothing.
                .unwrap_or_default()
        });
        // A non-string `issuer` is kept as unmatchable rather than ignored.
        let issuer = raw
            .get("issuer")
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned));
        keys.entry(kid).or_insert_with(|| {
            Arc::new(SigningKey {
                key,
                endorsements,
                issuer,
            })
        });
    }
    if keys.is_empty() {
        return Err("the JWKS has no usable RSA signing key".into());
    }
    Ok(keys)
}
