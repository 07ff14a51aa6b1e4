//! The sign-in side of a Teams bot's inbound requests, faked on loopback:
//! login.botframework.com (OpenID metadata and its JWKS) and a tenant's
//! Entra JWKS at login.microsoftonline.com (`/{tenant}/discovery/v2.0/keys`),
//! in the shapes Microsoft publishes, with the private keys to sign tokens
//! the way the connector's would be signed.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// The kid of the Bot Framework's signing key.
pub const BOT_FRAMEWORK_KID: &str = "bf-key";
/// The kid of the tenant's Entra signing key.
pub const ENTRA_KID: &str = "entra-key";

/// A 2048-bit RSA key (as Microsoft uses), made once per test binary:
/// generating one is slow in debug builds.
pub struct TestKey {
    der: Vec<u8>,
    n: String,
    e: String,
}

fn gen_key() -> TestKey {
    let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    TestKey {
        der: k.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        n: b64url(&k.n().to_bytes_be()),
        e: b64url(&k.e().to_bytes_be()),
    }
}

/// The Bot Framework's key.
pub fn bot_framework_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(gen_key)
}

/// The tenant's Entra key.
pub fn entra_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(gen_key)
}

/// Unpadded base64url.
fn b64url(data: &[u8]) -> String {
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

/// A JWK as Microsoft publishes them (the certificate chain is a stub).
fn jwk(kid: &str, key: &TestKey) -> Value {
    json!({
        "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": key.n, "e": key.e,
        "x5c": ["MIIDBTCCAe2gAwIBAgIQN33ROaIJ6bJBWDCxtmJEbjANBgkqhkiG9w0BAQsFADAt"],
    })
}

/// `RS256` with `kid`, as the connector and Entra sign.
pub fn sign(claims: &Value, kid: &str, key: &TestKey) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    h.typ = Some("JWT".into());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&key.der)).unwrap()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

struct Served {
    base: String,
    tenant: String,
}

/// The fake: `base` is both the relay's `[bot] login_url` and the host of
/// its `openid_metadata_url`.
pub struct FakeLogin {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl FakeLogin {
    /// Serves the Bot Framework's keys and `tenant`'s Entra keys.
    pub async fn start(tenant: &str) -> FakeLogin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(Served {
            base: base.clone(),
            tenant: tenant.to_string(),
        });
        let app = Router::new()
            .route("/v1/.well-known/openidconfiguration", get(metadata))
            .route(
                "/v1/.well-known/keys",
                get(|| async {
                    let mut k = jwk(BOT_FRAMEWORK_KID, bot_framework_key());
                    k["endorsements"] = json!(["msteams"]);
                    Json(json!({ "keys": [k] }))
                }),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(entra_keys))
            .with_state(served);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeLogin { base }
    }

    /// The relay's `[bot] openid_metadata_url`.
    pub fn metadata_url(&self) -> String {
        format!("{}/v1/.well-known/openidconfiguration", self.base)
    }
}

async fn metadata(State(s): State<Arc<Served>>) -> Json<Value> {
    Json(json!({
        "issuer": "https://api.botframework.com",
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{}/v1/.well-known/keys", s.base),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

/// A tenant Entra does not know is a 400, as Entra answers.
async fn entra_keys(
    State(s): State<Arc<Served>>,
    Path(tenant): Path<String>,
) -> (StatusCode, Json<Value>) {
    if tenant != s.tenant {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_tenant"})),
        );
    }
    let mut k = jwk(ENTRA_KID, entra_key());
    k["issuer"] = json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
    (StatusCode::OK, Json(json!({ "keys": [k] })))
}
