//! Fixtures shared by the tests: RSA keys, a fake login.botframework.com
//! (OpenID metadata and JWKS) that is also a fake login.microsoftonline.com
//! (a tenant's Entra JWKS), and signing.

mod bot_framework;
mod entra;

use super::keys::{parse_jwks, MAX_KEY_AGE};
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::time::Instant;

use axum::extract::{Path, State};
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
/// The configured tenant (`[bot] tenant_id`).
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Some other tenant.
const OTHER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// The kid of the tenant's Entra signing key.
const ENTRA_KID: &str = "entra-key";

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
    entra_hits: AtomicUsize,
    entra_jwks: std::sync::Mutex<Value>,
    entra_status: std::sync::Mutex<StatusCode>,
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
            entra_hits: AtomicUsize::new(0),
            entra_jwks: std::sync::Mutex::new(default_entra_jwks()),
            entra_status: std::sync::Mutex::new(StatusCode::OK),
        });
        let app = Router::new()
            .route("/v1/.well-known/openidconfiguration", get(metadata))
            .route("/v1/.well-known/keys", get(keys))
            .route("/{tenant}/discovery/v2.0/keys", get(entra_keys))
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

    /// Requests for the tenant's Entra JWKS.
    fn entra_hits(&self) -> usize {
        self.state.entra_hits.load(Ordering::SeqCst)
    }

    /// As `[bot] tenant_id = TENANT` with `login_url` pointing here: the
    /// public cloud's issuers, keys from this fake.
    fn tenant_auth(&self) -> BotAuth {
        self.auth().trust_tenant(EntraTenant::new(
            crate::config::Cloud::Public,
            &self.state.base,
            TENANT,
        ))
    }
}

/// A JWK as login.microsoftonline.com publishes them: no endorsements,
/// an `issuer` member.
fn entra_jwk(kid: &str, key: &TestKey, issuer: &str) -> Value {
    let mut j = jwk(kid, key, None);
    j["issuer"] = json!(issuer);
    j
}

/// The tenant's key set, signed with `other_key` (never in the Bot
/// Framework's set).
fn default_entra_jwks() -> Value {
    json!({"keys": [
        entra_jwk(ENTRA_KID, other_key(), &format!("https://login.microsoftonline.com/{TENANT}/v2.0")),
        entra_jwk("entra-template-key", other_key(), "https://login.microsoftonline.com/{tenantid}/v2.0"),
        entra_jwk("msa-key", other_key(), "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"),
    ]})
}

/// `/{tenant}/discovery/v2.0/keys`: the configured tenant's keys; any other
/// tenant is a 400, as Entra answers for a tenant it does not know.
async fn entra_keys(
    State(s): State<Arc<FakeState>>,
    Path(tenant): Path<String>,
) -> (StatusCode, Json<Value>) {
    s.entra_hits.fetch_add(1, Ordering::SeqCst);
    if tenant != TENANT {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_tenant"})),
        );
    }
    let status = *s.entra_status.lock().unwrap();
    (status, Json(s.entra_jwks.lock().unwrap().clone()))
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

/// Claims of an Entra-issued token for the tenant (v1 or v2 issuer), without
/// `serviceurl`, as Entra writes them.
fn entra_claims(iss: &str) -> Value {
    json!({
        "aud": APP_ID,
        "iss": iss,
        "iat": now() - 60,
        "nbf": now() - 60,
        "exp": now() + 3600,
        "tid": TENANT,
        "appid": "00000000-0000-0000-0000-0000000000aa",
        "ver": if iss.ends_with("/v2.0") { "2.0" } else { "1.0" },
    })
}

/// The tenant's v1 and v2 issuers.
fn v1_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

fn v2_issuer(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

/// A bearer header signed with the tenant's Entra key.
fn entra_bearer(claims: &Value) -> String {
    format!("Bearer {}", sign_with(claims, ENTRA_KID, other_key()))
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
