//! Authentication of requests from the Bot Framework connector to the bot
//! ("Authentication with the Bot Connector API", connector → bot):
//!
//! 1. the request carries `Authorization: Bearer <jwt>`;
//! 2. the JWT is signed with RS256 by a key published in the JWKS that the
//!    OpenID metadata document (`jwks_uri`) points to;
//! 3. `iss` is `https://api.botframework.com`, `aud` is the bot's app id,
//!    `exp`/`nbf` hold (5 minutes of clock skew allowed);
//! 4. the `serviceurl` claim matches the activity's `serviceUrl`;
//! 5. if the signing key lists `endorsements`, they include the activity's
//!    `channelId`.
//!
//! The key set is cached: refreshed when older than 24 hours, and at most
//! once an hour because a token named a key id we do not know.
//!
//! Nothing here logs or reports the token itself; error messages name what
//! failed, with at most short excerpts of the claims that failed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::url_policy::secure_or_loopback;

/// The only issuer of connector → bot tokens (public cloud).
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Allowed clock skew for `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(5 * 60);
/// Age after which the key set is fetched again.
const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Least time between refreshes caused by unknown key ids.
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(60 * 60);
/// Least time between attempts after a failed fetch.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Timeout of each metadata / JWKS request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest metadata or JWKS document accepted.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// Longest excerpt of a token-supplied value put into an error message.
const MAX_EXCERPT: usize = 80;

/// Why a request was refused. The messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// An `Authorization` header with another scheme than `Bearer`.
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
    /// Not a well-formed JWT (or claims of the wrong type).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token's `kid` is not in the published key set.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the published key.
    #[error("token signature does not verify")]
    Signature,
    /// `exp` is more than 5 minutes in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is more than 5 minutes in the future.
    #[error("token not yet valid (nbf in the future)")]
    NotYetValid,
    /// `iss` is not `https://api.botframework.com`.
    #[error("token issuer {0:?} is not {BOT_FRAMEWORK_ISSUER}")]
    Issuer(String),
    /// `aud` is not the bot's app id.
    #[error("token audience {0:?} is not this bot's app id")]
    Audience(String),
    /// The `serviceurl` claim differs from the activity's `serviceUrl`.
    #[error(
        "token serviceurl claim {claim:?} does not match the activity's serviceUrl {activity:?}"
    )]
    ServiceUrl {
        /// The claim (excerpt), or `<missing>`.
        claim: String,
        /// The activity's `serviceUrl` (excerpt).
        activity: String,
    },
    /// The signing key's endorsements do not include the activity's channel.
    #[error("the signing key is not endorsed for channel {channel:?}")]
    NotEndorsed {
        /// The activity's `channelId` (excerpt).
        channel: String,
    },
    /// The header's `alg` is not RS256.
    #[error("token algorithm {0:?} is not RS256")]
    Algorithm(String),
    /// The OpenID metadata or the key set could not be fetched or used.
    #[error("cannot get the Bot Framework signing keys: {0}")]
    Keys(String),
}

/// One published signing key.
struct SigningKey {
    key: DecodingKey,
    /// `None` when the JWK has no `endorsements` member.
    endorsements: Option<Vec<String>>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, Arc<SigningKey>>,
    /// When the key set must be fetched again; `None`: never fetched.
    refresh_due: Option<Instant>,
    /// Before this, an unknown kid does not cause a refresh.
    unknown_kid_refresh_after: Option<Instant>,
    /// After a failed fetch: no new attempt before this.
    retry_after: Option<Instant>,
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
        tracing::warn!(reason = %e, "cannot refresh the Bot Framework signing keys");
        self.retry_after = Some(now + RETRY_AFTER_FAILURE);
        self.last_error = Some(e.to_string());
    }
}

/// A token whose signature, validity, issuer and audience hold; what is
/// left to check needs the activity (`check_activity`).
pub struct Verified {
    claims: Map<String, Value>,
    signing: Arc<SigningKey>,
}

impl Verified {
    /// The checks that need the activity: the signing key's endorsements
    /// include its `channelId`, and the `serviceurl` claim is its `serviceUrl`.
    pub fn check_activity(&self, service_url: &str, channel_id: &str) -> Result<(), AuthError> {
        // 5. Endorsements of the signing key.
        if let Some(endorsements) = &self.signing.endorsements {
            if channel_id.is_empty() || !endorsements.iter().any(|e| e == channel_id) {
                return Err(AuthError::NotEndorsed {
                    channel: excerpt(channel_id),
                });
            }
        }

        // 6. The service URL.
        let claim = self
            .claims
            .get("serviceurl")
            .or_else(|| self.claims.get("serviceUrl"));
        match claim {
            Some(Value::String(c)) if same_service_url(c, service_url) => Ok(()),
            other => Err(AuthError::ServiceUrl {
                claim: claim_excerpt(other),
                activity: excerpt(service_url),
            }),
        }
    }
}

/// Validates Bot Framework connector tokens; caches the signing keys.
pub struct BotAuth {
    http: reqwest::Client,
    metadata_url: String,
    app_id: String,
    cache: Mutex<KeyCache>,
}

impl BotAuth {
    /// `metadata_url`: the OpenID metadata document (public cloud:
    /// <https://login.botframework.com/v1/.well-known/openidconfiguration>);
    /// `app_id`: the bot's Microsoft app id (the token audience).
    pub fn new(http: reqwest::Client, metadata_url: String, app_id: String) -> BotAuth {
        BotAuth {
            http,
            metadata_url,
            app_id,
            cache: Mutex::new(KeyCache::default()),
        }
    }

    /// Checks `Authorization: Bearer <jwt>` for an activity from
    /// `service_url` on `channel_id`.
    pub async fn validate(
        &self,
        authorization: Option<&str>,
        service_url: &str,
        channel_id: &str,
    ) -> Result<(), AuthError> {
        self.verify(authorization)
            .await?
            .check_activity(service_url, channel_id)
    }

    /// Checks the token itself: scheme, signature, validity period, issuer
    /// and audience. Needs nothing from the activity, so a request is judged
    /// by its token before its body is even read.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Verified, AuthError> {
        // 1. The header and its scheme.
        let authorization = authorization.map(str::trim).unwrap_or("");
        if authorization.is_empty() {
            return Err(AuthError::Missing);
        }
        let (scheme, token) = authorization
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((authorization, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::NotBearer);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Malformed("empty bearer token".into()));
        }

        // 2. The header: RS256 and a key id.
        let kid = check_header(token)?;

        // 3. The key, the signature and the validity period.
        let signing = self.signing_key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // iss and aud are checked below, to report what was found.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &signing.key, &validation)
            .map_err(map_jwt_error)?
            .claims;

        // 4. Issuer and audience.
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == BOT_FRAMEWORK_ISSUER => {}
            other => return Err(AuthError::Issuer(claim_excerpt(other))),
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.app_id,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.app_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(AuthError::Audience(claim_excerpt(claims.get("aud"))));
        }
        Ok(Verified { claims, signing })
    }

    /// The key named `kid`, from the cache or (subject to the refresh rules)
    /// from a fresh fetch. Concurrent callers wait for one fetch.
    async fn signing_key(&self, kid: &str) -> Result<Arc<SigningKey>, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let mut fetched_now = false;
        if cache.refresh_due.is_none_or(|due| now >= due) {
            if cache.retry_allowed(now) {
                match self.fetch_keys().await {
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
                return Err(AuthError::Keys(format!("{last} (retrying shortly)")));
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
            tracing::info!(kid = %excerpt(kid), "token names an unknown signing key id; refreshing the key set");
            match self.fetch_keys().await {
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

    /// Metadata, then the key set it points to.
    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<SigningKey>>, AuthError> {
        let metadata = self.get_json(&self.metadata_url, "OpenID metadata").await?;
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::Keys("the OpenID metadata has no jwks_uri".into()))?;
        if let Some(issuer) = metadata.get("issuer").and_then(Value::as_str) {
            if issuer != BOT_FRAMEWORK_ISSUER {
                tracing::debug!(
                    issuer,
                    "the OpenID metadata names another issuer than the Bot Framework's"
                );
            }
        }
        let jwks = self.get_json(jwks_uri, "JWKS").await?;
        let keys = parse_jwks(&jwks)?;
        tracing::info!(keys = keys.len(), "Bot Framework signing keys loaded");
        Ok(keys)
    }

    /// GET a JSON document, https (or loopback http) only, size-capped,
    /// with a timeout.
    async fn get_json(&self, url: &str, what: &str) -> Result<Value, AuthError> {
        if !secure_or_loopback(url) {
            return Err(AuthError::Keys(format!(
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
            Ok(Ok(_)) => Err(AuthError::Keys(format!(
                "{what} at {url} is not a JSON object"
            ))),
            Ok(Err(e)) => Err(AuthError::Keys(format!("{what}: {e}"))),
            Err(_) => Err(AuthError::Keys(format!(
                "{what}: GET {url} timed out after {} s",
                FETCH_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The usable keys of a JWKS document: RSA signing keys with a `kid`.
/// Keys that do not parse are skipped (the set must keep at least one).
fn parse_jwks(jwks: &Value) -> Result<HashMap<String, Arc<SigningKey>>, AuthError> {
    let list = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| AuthError::Keys("the JWKS has no \"keys\" array".into()))?;
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
        keys.entry(kid)
            .or_insert_with(|| Arc::new(SigningKey { key, endorsements }));
    }
    if keys.is_empty() {
        return Err(AuthError::Keys(
            "the JWKS has no usable RSA signing key".into(),
        ));
    }
    Ok(keys)
}

/// Checks the JOSE header: `alg` must be RS256; returns the `kid`.
fn check_header(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("not three dot-separated parts".into()));
    };
    let bytes = b64url_decode(header)
        .ok_or_else(|| AuthError::Malformed("header is not base64url".into()))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object".into()))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => return Err(AuthError::Algorithm(excerpt(alg))),
        other => return Err(AuthError::Algorithm(claim_excerpt(other))),
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        _ => Err(AuthError::Malformed("header has no kid".into())),
    }
}

/// Maps the library's errors (signature, time, format) to ours.
fn map_jwt_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::Signature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm("not RS256".into()),
        K::MissingRequiredClaim(c) => AuthError::Malformed(format!("no {c} claim")),
        K::InvalidClaimFormat(c) => AuthError::Malformed(format!("claim {c} is not a number")),
        K::Base64(_) => AuthError::Malformed("not base64url".into()),
        K::Json(_) => AuthError::Malformed("not JSON".into()),
        K::Utf8(_) => AuthError::Malformed("not UTF-8".into()),
        K::InvalidRsaKey(_) | K::InvalidKeyFormat | K::Provider(_) => {
            AuthError::Keys("the published key cannot verify RS256".into())
        }
        other => AuthError::Malformed(format!("{other:?}")),
    }
}

/// Equal, ignoring one trailing `/` on either side.
fn same_service_url(a: &str, b: &str) -> bool {
    a.strip_suffix('/').unwrap_or(a) == b.strip_suffix('/').unwrap_or(b)
}

/// A short prefix of a token- or activity-supplied string, for messages.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(MAX_EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn claim_excerpt(v: Option<&Value>) -> String {
    match v {
        None => "<missing>".into(),
        Some(Value::String(s)) => excerpt(s),
        Some(other) => excerpt(&other.to_string()),
    }
}

/// Unpadded base64url (RFC 4648 §5), as JWS segments use; strict.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1; // bytes this chunk yields
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{Json, Router};
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    const APP_ID: &str = "00000000-1111-2222-3333-444444444444";
    const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";
    const KID: &str = "teams-key";

    /// RSA test keys. 2048 bits as Microsoft uses; generated once per test
    /// binary because key generation is slow in debug builds.
    struct TestKey {
        der: Vec<u8>,
        n: String,
        e: String,
    }

    fn gen_key() -> TestKey {
        let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        TestKey {
            der: k.to_pkcs1_der().unwrap().as_bytes().to_vec(),
            n: b64url_encode(&k.n().to_bytes_be()),
            e: b64url_encode(&k.e().to_bytes_be()),
        }
    }

    fn main_key() -> &'static TestKey {
        static K: OnceLock<TestKey> = OnceLock::new();
        K.get_or_init(gen_key)
    }

    fn other_key() -> &'static TestKey {
        static K: OnceLock<TestKey> = OnceLock::new();
        K.get_or_init(gen_key)
    }

    fn b64url_encode(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    /// A JWK as login.botframework.com publishes them.
    fn jwk(kid: &str, key: &TestKey, endorsements: Option<&[&str]>) -> Value {
        let mut j = json!({
            "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": key.n, "e": key.e,
            "x5c": ["MIIDBTCCAe2gAwIBAgIQN33ROaIJ6bJBWDCxtmJEbjANBgkqhkiG9w0BAQsFADAt"],
        });
        if let Some(en) = endorsements {
            j["endorsements"] = json!(en);
        }
        j
    }

    fn default_jwks() -> Value {
        json!({"keys": [
            jwk(KID, main_key(), Some(&["msteams", "skype", "webchat"])),
            jwk("plain-key", main_key(), None),
            jwk("webchat-only", main_key(), Some(&["webchat"])),
        ]})
    }

    /// The fake login.botframework.com: metadata at /v1/.well-known/openidconfiguration,
    /// keys at /v1/.well-known/keys; counts requests.
    struct FakeState {
        base: String,
        metadata_hits: AtomicUsize,
        jwks_hits: AtomicUsize,
        jwks: std::sync::Mutex<Value>,
        jwks_uri: std::sync::Mutex<Option<String>>,
        metadata_status: std::sync::Mutex<StatusCode>,
    }

    struct Fake {
        state: Arc<FakeState>,
    }

    impl Fake {
        async fn start() -> Fake {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let state = Arc::new(FakeState {
                base,
                metadata_hits: AtomicUsize::new(0),
                jwks_hits: AtomicUsize::new(0),
                jwks: std::sync::Mutex::new(default_jwks()),
                jwks_uri: std::sync::Mutex::new(None),
                metadata_status: std::sync::Mutex::new(StatusCode::OK),
            });
            let app = Router::new()
                .route("/v1/.well-known/openidconfiguration", get(metadata))
                .route("/v1/.well-known/keys", get(keys))
                .with_state(state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Fake { state }
        }

        fn metadata_url(&self) -> String {
            format!("{}/v1/.well-known/openidconfiguration", self.state.base)
        }

        fn hits(&self) -> (usize, usize) {
            (
                self.state.metadata_hits.load(Ordering::SeqCst),
                self.state.jwks_hits.load(Ordering::SeqCst),
            )
        }

        fn auth(&self) -> BotAuth {
            BotAuth::new(client(), self.metadata_url(), APP_ID.into())
        }
    }

    async fn metadata(State(s): State<Arc<FakeState>>) -> (StatusCode, Json<Value>) {
        s.metadata_hits.fetch_add(1, Ordering::SeqCst);
        let jwks_uri = s
            .jwks_uri
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| format!("{}/v1/.well-known/keys", s.base));
        let status = *s.metadata_status.lock().unwrap();
        (
            status,
            Json(json!({
                "issuer": "https://api.botframework.com",
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            })),
        )
    }

    async fn keys(State(s): State<Arc<FakeState>>) -> Json<Value> {
        s.jwks_hits.fetch_add(1, Ordering::SeqCst);
        Json(s.jwks.lock().unwrap().clone())
    }

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().build().unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn claims() -> Value {
        json!({
            "serviceurl": SERVICE_URL,
            "nbf": now() - 60,
            "exp": now() + 3600,
            "iss": "https://api.botframework.com",
            "aud": APP_ID,
        })
    }

    fn sign_with(claims: &Value, kid: &str, key: &TestKey) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        h.typ = Some("JWT".into());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&key.der)).unwrap()
    }

    fn bearer(claims: &Value) -> String {
        format!("Bearer {}", sign_with(claims, KID, main_key()))
    }

    /// Validates for msteams / SERVICE_URL; checks that the error message does
    /// not contain the token.
    async fn check(auth: &BotAuth, header: &str) -> Result<(), AuthError> {
        check_on(auth, header, SERVICE_URL, "msteams").await
    }

    async fn check_on(
        auth: &BotAuth,
        header: &str,
        service_url: &str,
        channel: &str,
    ) -> Result<(), AuthError> {
        let r = auth.validate(Some(header), service_url, channel).await;
        if let Err(e) = &r {
            let token = header.split_whitespace().nth(1).unwrap_or("");
            let msg = e.to_string();
            assert!(
                token.len() < 8 || !msg.contains(token),
                "message leaks the token: {msg}"
            );
            for segment in token.split('.').filter(|s| s.len() >= 8) {
                assert!(
                    !msg.contains(segment),
                    "message leaks a token segment: {msg}"
                );
            }
        }
        r
    }

    #[tokio::test]
    async fn valid_token_passes_and_keys_are_cached() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        check(&auth, &bearer(&claims())).await.unwrap();
        check(&auth, &bearer(&claims())).await.unwrap();
        // "bearer" is case-insensitive, as HTTP auth schemes are.
        let lower = bearer(&claims()).replacen("Bearer", "bearer", 1);
        check(&auth, &lower).await.unwrap();
        assert_eq!(fake.hits(), (1, 1));
    }

    #[tokio::test]
    async fn concurrent_validations_share_one_fetch() {
        let fake = Fake::start().await;
        let auth = Arc::new(fake.auth());
        let token = bearer(&claims());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (auth, token) = (auth.clone(), token.clone());
                tokio::spawn(
                    async move { auth.validate(Some(&token), SERVICE_URL, "msteams").await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(fake.hits(), (1, 1));
    }

    #[tokio::test]
    async fn header_problems() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        assert!(matches!(
            auth.validate(None, SERVICE_URL, "msteams").await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(check(&auth, "").await, Err(AuthError::Missing)));
        let basic = format!("Basic {}", b64url_encode(b"user:password"));
        assert!(matches!(
            check(&auth, &basic).await,
            Err(AuthError::NotBearer)
        ));
        let token = sign_with(&claims(), KID, main_key());
        assert!(matches!(
            check(&auth, &token).await,
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            check(&auth, "Bearer").await,
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check(&auth, "Bearer garbage").await,
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check(&auth, "Bearer a.b.c").await,
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check(&auth, "Bearer a.b.c.d.e").await,
            Err(AuthError::Malformed(_))
        ));
        // Valid header, garbage payload and signature.
        let header = token.split('.').next().unwrap();
        let junk = format!("Bearer {header}.!!!.???");
        assert!(matches!(
            check(&auth, &junk).await,
            Err(AuthError::Malformed(_))
        ));
        // None of that needed the keys, except the last one.
        assert_eq!(fake.hits(), (1, 1));
    }

    #[tokio::test]
    async fn wrong_signature() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let forged = format!("Bearer {}", sign_with(&claims(), KID, other_key()));
        assert!(matches!(
            check(&auth, &forged).await,
            Err(AuthError::Signature)
        ));
        // A valid token whose payload was swapped.
        let good = sign_with(&claims(), KID, main_key());
        let mut other = claims();
        other["aud"] = json!("attacker-app");
        let evil = sign_with(&other, KID, other_key());
        let parts: Vec<&str> = good.split('.').collect();
        let evil_payload = evil.split('.').nth(1).unwrap();
        let spliced = format!("Bearer {}.{}.{}", parts[0], evil_payload, parts[2]);
        assert!(matches!(
            check(&auth, &spliced).await,
            Err(AuthError::Signature)
        ));
    }

    #[tokio::test]
    async fn unknown_kid_refreshes_at_most_once_an_hour() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        check(&auth, &bearer(&claims())).await.unwrap();
        assert_eq!(fake.hits(), (1, 1));

        let unknown = format!("Bearer {}", sign_with(&claims(), "no-such-kid", main_key()));
        match check(&auth, &unknown).await {
            Err(AuthError::UnknownKey(k)) => assert_eq!(k, "no-such-kid"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.hits(), (2, 2), "one refresh for the unknown kid");

        // The key appears now, but within the hour: no refetch.
        fake.state.jwks.lock().unwrap()["keys"]
            .as_array_mut()
            .unwrap()
            .push(jwk("rolled-key", main_key(), Some(&["msteams"])));
        let another = format!("Bearer {}", sign_with(&claims(), "rolled-key", main_key()));
        assert!(matches!(
            check(&auth, &another).await,
            Err(AuthError::UnknownKey(_))
        ));
        for i in 0..20 {
            let flood = format!(
                "Bearer {}",
                sign_with(&claims(), &format!("flood-{i}"), main_key())
            );
            assert!(matches!(
                check(&auth, &flood).await,
                Err(AuthError::UnknownKey(_))
            ));
        }
        assert_eq!(fake.hits(), (2, 2), "no refetch within the hour");
        check(&auth, &bearer(&claims())).await.unwrap();

        // An hour later (simulated), the rolled key is found with one refresh.
        auth.cache.lock().await.unknown_kid_refresh_after = Some(Instant::now());
        check(&auth, &another).await.unwrap();
        assert_eq!(fake.hits(), (3, 3));
    }

    #[tokio::test]
    async fn unknown_kid_on_first_fetch_does_not_fetch_twice() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let unknown = format!("Bearer {}", sign_with(&claims(), "no-such-kid", main_key()));
        assert!(matches!(
            check(&auth, &unknown).await,
            Err(AuthError::UnknownKey(_))
        ));
        assert_eq!(fake.hits(), (1, 1));
    }

    #[tokio::test]
    async fn keys_are_refreshed_after_24_hours() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        check(&auth, &bearer(&claims())).await.unwrap();
        {
            let mut cache = auth.cache.lock().await;
            let due = cache.refresh_due.unwrap();
            let age = MAX_KEY_AGE - due.duration_since(Instant::now());
            assert!(age < Duration::from_secs(60), "due 24 h after the fetch");
            cache.refresh_due = Some(Instant::now());
        }
        check(&auth, &bearer(&claims())).await.unwrap();
        assert_eq!(fake.hits(), (2, 2));
        check(&auth, &bearer(&claims())).await.unwrap();
        assert_eq!(fake.hits(), (2, 2));
    }

    #[tokio::test]
    async fn stale_keys_stay_usable_when_the_refresh_fails() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        check(&auth, &bearer(&claims())).await.unwrap();
        *fake.state.metadata_status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
        auth.cache.lock().await.refresh_due = Some(Instant::now());
        check(&auth, &bearer(&claims())).await.unwrap();
        // The failure is not retried on every request.
        check(&auth, &bearer(&claims())).await.unwrap();
        assert_eq!(fake.hits(), (2, 1));
    }

    #[tokio::test]
    async fn expiry_and_not_before_with_five_minutes_leeway() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let mut c = claims();
        c["nbf"] = json!(now() - 7200);
        c["exp"] = json!(now() - 400);
        assert!(matches!(
            check(&auth, &bearer(&c)).await,
            Err(AuthError::Expired)
        ));
        c["exp"] = json!(now() - 240);
        check(&auth, &bearer(&c)).await.unwrap();

        let mut c = claims();
        c["nbf"] = json!(now() + 400);
        assert!(matches!(
            check(&auth, &bearer(&c)).await,
            Err(AuthError::NotYetValid)
        ));
        c["nbf"] = json!(now() + 240);
        check(&auth, &bearer(&c)).await.unwrap();

        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        assert!(matches!(
            check(&auth, &bearer(&c)).await,
            Err(AuthError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn issuer_and_audience() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let mut c = claims();
        c["iss"] = json!("https://sts.windows.net/evil/");
        match check(&auth, &bearer(&c)).await {
            Err(AuthError::Issuer(found)) => assert_eq!(found, "https://sts.windows.net/evil/"),
            other => panic!("{other:?}"),
        }
        c["iss"] = json!("https://api.botframework.com/");
        assert!(matches!(
            check(&auth, &bearer(&c)).await,
            Err(AuthError::Issuer(_))
        ));
        c.as_object_mut().unwrap().remove("iss");
        match check(&auth, &bearer(&c)).await {
            Err(AuthError::Issuer(found)) => assert_eq!(found, "<missing>"),
            other => panic!("{other:?}"),
        }

        let mut c = claims();
        c["aud"] = json!("another-bot");
        match check(&auth, &bearer(&c)).await {
            Err(AuthError::Audience(found)) => assert_eq!(found, "another-bot"),
            other => panic!("{other:?}"),
        }
        c.as_object_mut().unwrap().remove("aud");
        assert!(matches!(
            check(&auth, &bearer(&c)).await,
            Err(AuthError::Audience(_))
        ));
    }

    #[tokio::test]
    async fn service_url_claim() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let token = bearer(&claims());
        // Trailing slash on either side is the same URL.
        check_on(
            &auth,
            &token,
            "https://smba.trafficmanager.net/emea",
            "msteams",
        )
        .await
        .unwrap();
        let mut c = claims();
        c["serviceurl"] = json!("https://smba.trafficmanager.net/emea");
        check(&auth, &bearer(&c)).await.unwrap();
        // The camel-case spelling is accepted too.
        let mut c = claims();
        let v = c.as_object_mut().unwrap().remove("serviceurl").unwrap();
        c["serviceUrl"] = v;
        check(&auth, &bearer(&c)).await.unwrap();

        match check_on(&auth, &token, "https://evil.example/emea/", "msteams").await {
            Err(AuthError::ServiceUrl { claim, activity }) => {
                assert_eq!(claim, SERVICE_URL);
                assert_eq!(activity, "https://evil.example/emea/");
            }
            other => panic!("{other:?}"),
        }
        // Only one slash is forgiven.
        let r = check_on(
            &auth,
            &token,
            "https://smba.trafficmanager.net/emea//",
            "msteams",
        )
        .await;
        assert!(matches!(r, Err(AuthError::ServiceUrl { .. })));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("serviceurl");
        match check(&auth, &bearer(&c)).await {
            Err(AuthError::ServiceUrl { claim, .. }) => assert_eq!(claim, "<missing>"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn endorsements() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let token = bearer(&claims());
        check_on(&auth, &token, SERVICE_URL, "msteams")
            .await
            .unwrap();
        match check_on(&auth, &token, SERVICE_URL, "slack").await {
            Err(AuthError::NotEndorsed { channel }) => assert_eq!(channel, "slack"),
            other => panic!("{other:?}"),
        }
        let webchat = format!(
            "Bearer {}",
            sign_with(&claims(), "webchat-only", main_key())
        );
        assert!(matches!(
            check(&auth, &webchat).await,
            Err(AuthError::NotEndorsed { .. })
        ));
        check_on(&auth, &webchat, SERVICE_URL, "webchat")
            .await
            .unwrap();
        // A key without endorsements is not restricted.
        let plain = format!("Bearer {}", sign_with(&claims(), "plain-key", main_key()));
        check(&auth, &plain).await.unwrap();
    }

    #[tokio::test]
    async fn only_rs256_is_accepted() {
        let fake = Fake::start().await;
        let auth = fake.auth();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(KID.into());
        // HMAC keyed with the public modulus: the classic key-confusion attack.
        let hs = jsonwebtoken::encode(
            &h,
            &claims(),
            &EncodingKey::from_secret(main_key().n.as_bytes()),
        )
        .unwrap();
        match check(&auth, &format!("Bearer {hs}")).await {
            Err(AuthError::Algorithm(found)) => assert_eq!(found, "HS256"),
            other => panic!("{other:?}"),
        }
        let header =
            b64url_encode(format!(r#"{{"alg":"none","kid":"{KID}","typ":"JWT"}}"#).as_bytes());
        let payload = b64url_encode(claims().to_string().as_bytes());
        match check(&auth, &format!("Bearer {header}.{payload}.")).await {
            Err(AuthError::Algorithm(found)) => assert_eq!(found, "none"),
            other => panic!("{other:?}"),
        }
        let mut h = Header::new(Algorithm::PS256);
        h.kid = Some(KID.into());
        let ps = jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_rsa_der(&main_key().der))
            .unwrap();
        assert!(matches!(
            check(&auth, &format!("Bearer {ps}")).await,
            Err(AuthError::Algorithm(_))
        ));
        let header = b64url_encode(format!(r#"{{"kid":"{KID}"}}"#).as_bytes());
        assert!(matches!(
            check(&auth, &format!("Bearer {header}.{payload}.")).await,
            Err(AuthError::Algorithm(_))
        ));
        // No key fetch was needed to refuse any of them.
        assert_eq!(fake.hits(), (0, 0));
    }

    #[tokio::test]
    async fn insecure_urls_are_refused() {
        let auth = BotAuth::new(
            client(),
            "http://login.botframework.com/v1/.well-known/openidconfiguration".into(),
            APP_ID.into(),
        );
        match check(&auth, &bearer(&claims())).await {
            Err(AuthError::Keys(detail)) => assert!(detail.contains("https"), "{detail}"),
            other => panic!("{other:?}"),
        }

        let fake = Fake::start().await;
        *fake.state.jwks_uri.lock().unwrap() =
            Some("http://login.botframework.com/v1/.well-known/keys".into());
        let auth = fake.auth();
        assert!(matches!(
            check(&auth, &bearer(&claims())).await,
            Err(AuthError::Keys(_))
        ));
        assert_eq!(fake.hits(), (1, 0));
    }

    #[tokio::test]
    async fn metadata_failure_is_a_keys_error_and_is_not_hammered() {
        let fake = Fake::start().await;
        *fake.state.metadata_status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
        let auth = fake.auth();
        match check(&auth, &bearer(&claims())).await {
            Err(AuthError::Keys(detail)) => assert!(detail.contains("500"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check(&auth, &bearer(&claims())).await,
            Err(AuthError::Keys(_))
        ));
        assert_eq!(fake.hits(), (1, 0));
        // Once the retry delay is over, it recovers.
        *fake.state.metadata_status.lock().unwrap() = StatusCode::OK;
        auth.cache.lock().await.retry_after = Some(Instant::now());
        check(&auth, &bearer(&claims())).await.unwrap();
        assert_eq!(fake.hits(), (2, 1));
    }

    #[test]
    fn jwks_parsing_skips_unusable_keys() {
        let jwks = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": main_key().n, "e": "AQAB"},
            {"kty": "RSA", "n": main_key().n, "e": "AQAB"},
            {"kty": "RSA", "kid": "broken"},
            jwk("good", main_key(), Some(&["msteams"])),
        ]});
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(
            keys["good"].endorsements.as_deref(),
            Some(&["msteams".to_string()][..])
        );
        assert!(parse_jwks(&json!({"keys": []})).is_err());
        assert!(parse_jwks(&json!({"nokeys": 1})).is_err());
    }

    #[test]
    fn base64url() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)).unwrap(), data);
        }
        assert_eq!(
            b64url_decode("eyJhbGciOiJSUzI1NiJ9").unwrap(),
            br#"{"alg":"RS256"}"#
        );
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("ab+/").is_none());
        assert!(b64url_decode("ab==").is_none());
    }

    #[test]
    fn error_messages_are_short_and_say_what_failed() {
        let long = "x".repeat(10_000);
        let e = AuthError::Issuer(excerpt(&long));
        assert!(e.to_string().len() < 200);
        assert_eq!(
            AuthError::UnknownKey("k1".into()).to_string(),
            "token signed with unknown key id \"k1\""
        );
    }
}
