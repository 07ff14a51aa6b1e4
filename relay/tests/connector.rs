//! The Teams sender against fakes of the Microsoft identity platform token
//! endpoint and the Bot Connector REST API, on 127.0.0.1. The fakes answer
//! as the documented APIs do (status codes, bodies, `Retry-After`) and
//! record every request they get.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use edgetherm_relay::teams::connector::{join, Connector, SendError};
use edgetherm_relay::teams::token::{TokenError, TokenSource};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const APP_ID: &str = "00000000-1111-2222-3333-444444444444";
/// Characters that need form encoding.
const SECRET: &str = "s3cr+t/=&?~ é%";
const SCOPE: &str = "https://api.botframework.com/.default";

/// A scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body,
    }
}

fn teams_error(status: u16, code: &str, message: &str) -> Reply {
    reply(status, json!({"error": {"code": code, "message": message}}))
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

/// A request the fake connector got.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// The path as sent (percent-encoded).
    raw_path: String,
    /// Route parameters, decoded.
    conversation: Option<String>,
    activity: Option<String>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A token request the fake identity platform got.
#[derive(Debug, Clone)]
struct TokenRequest {
    tenant: String,
    content_type: Option<String>,
    form: HashMap<String, String>,
    raw_body: String,
}

#[derive(Default)]
struct Fake {
    token_requests: Mutex<Vec<TokenRequest>>,
    /// Answers for the next token requests; then tokens `tok-1`, `tok-2`…
    token_script: Mutex<VecDeque<Reply>>,
    issued: AtomicUsize,
    expires_in: AtomicU64,
    token_delay_ms: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    /// Answers for the next connector requests; then the default success.
    script: Mutex<VecDeque<Reply>>,
    unmatched: AtomicUsize,
}

impl Fake {
    fn token_count(&self) -> usize {
        self.token_requests.lock().unwrap().len()
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }
    fn script_token(&self, replies: impl IntoIterator<Item = Reply>) {
        self.token_script.lock().unwrap().extend(replies);
    }
}

type S = State<Arc<Fake>>;

async fn token(State(f): S, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Reply {
    let raw_body = String::from_utf8(body.to_vec()).unwrap();
    // An independent form decoder: axum's query parsing (serde_urlencoded).
    let uri: Uri = format!("http://x/?{raw_body}").parse().unwrap();
    let Query(form) = Query::<HashMap<String, String>>::try_from_uri(&uri).unwrap();
    f.token_requests.lock().unwrap().push(TokenRequest {
        tenant,
        content_type: header(&headers, "content-type"),
        form,
        raw_body,
    });
    let delay = f.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(r) = f.token_script.lock().unwrap().pop_front() {
        return r;
    }
    let n = f.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let expires_in = f.expires_in.load(Ordering::SeqCst);
    reply(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": format!("tok-{n}"),
        }),
    )
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_string())
}

fn record(
    f: &Fake,
    method: Method,
    uri: &Uri,
    conversation: Option<String>,
    activity: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) {
    f.seen.lock().unwrap().push(Seen {
        method,
        raw_path: uri.path().to_string(),
        conversation,
        activity,
        authorization: header(headers, "authorization"),
        content_type: header(headers, "content-type"),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
}

fn next(f: &Fake) -> Option<Reply> {
    f.script.lock().unwrap().pop_front()
}

async fn send_activity(
    State(f): S,
    method: Method,
    uri: Uri,
    Path(conv): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    record(&f, method, &uri, Some(conv), None, &headers, &body);
    let n = f.seen.lock().unwrap().len();
    // Teams: 201 Created with a ResourceResponse.
    next(&f).unwrap_or_else(|| reply(201, json!({"id": format!("1:reply-{n}")})))
}

async fn update_activity(
    State(f): S,
    method: Method,
    uri: Uri,
    Path((conv, act)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    record(
        &f,
        method,
        &uri,
        Some(conv),
        Some(act.clone()),
        &headers,
        &body,
    );
    next(&f).unwrap_or_else(|| reply(200, json!({"id": act})))
}

async fn create_conversation(
    State(f): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    record(&f, method, &uri, None, None, &headers, &body);
    next(&f).unwrap_or_else(|| reply(201, json!({"id": "a:1new-conversation"})))
}

async fn unmatched(State(f): S) -> StatusCode {
    f.unmatched.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

/// The fakes, on one loopback port.
async fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    fake.expires_in.store(3599, Ordering::SeqCst);
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/teams/v3/conversations", post(create_conversation))
        .route(
            "/teams/v3/conversations/{conv}/activities",
            post(send_activity),
        )
        .route(
            "/teams/v3/conversations/{conv}/activities/{act}",
            axum::routing::put(update_activity),
        )
        .fallback(unmatched)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, base)
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn tokens(base: &str) -> Arc<TokenSource> {
    Arc::new(TokenSource::new(
        client(),
        format!("{base}/{TENANT}/oauth2/v2.0/token"),
        APP_ID.into(),
        SECRET.into(),
        SCOPE.into(),
    ))
}

async fn setup() -> (Arc<Fake>, String, Connector) {
    let (fake, base) = start().await;
    let connector = Connector::new(client(), tokens(&base));
    (fake, base, connector)
}

fn aad_error(status: u16, error: &str, code: u64, text: &str) -> Reply {
    reply(
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

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn token_request_shape_and_cache() {
    let (fake, base) = start().await;
    let ts = tokens(&base);
    for _ in 0..3 {
        assert_eq!(ts.get().await.unwrap(), "tok-1");
    }
    let reqs = fake.token_requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "one fetch for several gets");
    let r = &reqs[0];
    assert_eq!(r.tenant, TENANT);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let want: HashMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("client_id", APP_ID),
        ("client_secret", SECRET),
        ("scope", SCOPE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(r.form, want);
    // Values are percent-encoded (no raw '&', '=', '+', '/' or ':').
    assert!(
        r.raw_body
            .contains("client_secret=s3cr%2Bt%2F%3D%26%3F%7E+%C3%A9%25"),
        "{}",
        r.raw_body
    );
    assert!(
        r.raw_body
            .contains("scope=https%3A%2F%2Fapi.botframework.com%2F.default"),
        "{}",
        r.raw_body
    );

    ts.invalidate().await;
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn short_lived_tokens_are_not_cached() {
    let (fake, base) = start().await;
    // 200 s is inside the 5-minute margin: every get fetches.
    fake.expires_in.store(200, Ordering::SeqCst);
    let ts = tokens(&base);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(ts.get().await.unwrap(), "tok-3");
    assert_eq!(fake.token_count(), 3);
}

#[tokio::test]
async fn tokens_are_refetched_5_minutes_before_expiry() {
    let (fake, base) = start().await;
    // Usable for 1 s (301 s − 300 s margin).
    fake.expires_in.store(301, Ordering::SeqCst);
    let ts = tokens(&base);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(fake.token_count(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn concurrent_gets_share_one_fetch() {
    let (fake, base) = start().await;
    fake.token_delay_ms.store(300, Ordering::SeqCst);
    let ts = tokens(&base);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let ts = ts.clone();
            tokio::spawn(async move { ts.get().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "tok-1");
    }
    assert_eq!(fake.token_count(), 1);
}

#[tokio::test]
async fn concurrent_gets_share_one_failure() {
    let (fake, base) = start().await;
    fake.token_delay_ms.store(300, Ordering::SeqCst);
    fake.script_token([aad_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided.",
    )]);
    let ts = tokens(&base);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ts = ts.clone();
            tokio::spawn(async move { ts.get().await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap(),
            Err(TokenError::Rejected { status: 401, .. })
        ));
    }
    assert_eq!(fake.token_count(), 1);
    // A later call tries again.
    assert_eq!(ts.get().await.unwrap(), "tok-1");
}

#[tokio::test]
async fn invalid_secret_says_what_to_check_without_the_secret() {
    let (fake, base) = start().await;
    fake.script_token([aad_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-1111-2222-3333-444444444444'.",
    )]);
    let e = tokens(&base).get().await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("check app_secret_file"), "{text}");
    assert!(text.contains("Trace ID: 0b1c"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("s3cr"), "{text}");
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
    assert!(!e.is_retryable());
    let TokenError::Rejected {
        status,
        error,
        hint,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(hint.is_some());
}

#[tokio::test]
async fn unknown_app_and_tenant_hints() {
    let (fake, base) = start().await;
    fake.script_token([
        aad_error(
            400,
            "unauthorized_client",
            700016,
            "Application with identifier '00000000-1111-2222-3333-444444444444' was not found in the directory 'Contoso'.",
        ),
        aad_error(
            400,
            "invalid_request",
            90002,
            "Tenant '72f988bf-86f1-41af-91ab-2d7cd011db47' not found.",
        ),
    ]);
    let ts = tokens(&base);
    let e = ts.get().await.unwrap_err().to_string();
    assert!(
        e.contains("AADSTS700016") && e.contains("check app_id and tenant_id"),
        "{e}"
    );
    let e = ts.get().await.unwrap_err().to_string();
    assert!(
        e.contains("AADSTS90002") && e.contains("check tenant_id"),
        "{e}"
    );
}

#[tokio::test]
async fn throttled_or_down_token_endpoint_is_transient() {
    let (fake, base) = start().await;
    let mut throttled = aad_error(429, "temporarily_unavailable", 50196, "Too many requests.");
    throttled.headers.push(("retry-after", "3".into()));
    fake.script_token([throttled, reply(503, json!({}))]);
    let ts = tokens(&base);
    let e = ts.get().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    let e = ts.get().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), None);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
}

#[tokio::test]
async fn insecure_token_url_is_refused() {
    let ts = TokenSource::new(
        client(),
        format!("http://login.example.com/{TENANT}/oauth2/v2.0/token"),
        APP_ID.into(),
        SECRET.into(),
        SCOPE.into(),
    );
    let e = ts.get().await.unwrap_err();
    assert!(matches!(e, TokenError::InsecureUrl(_)), "{e:?}");
    assert!(!e.is_retryable());
}

// ------------------------------------------------------------- connector

#[tokio::test]
async fn send_returns_the_id_and_sends_the_activity_unchanged() {
    let (fake, base, c) = setup().await;
    let activity = json!({
        "type": "message",
        "text": "Freezer 2 is at -4 °C",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "version": "1.5"}}],
    });
    let id = c
        .send(&format!("{base}/teams/"), "a:1xyz", &activity)
        .await
        .unwrap();
    assert_eq!(id, "1:reply-1");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, Method::POST);
    assert_eq!(s.raw_path, "/teams/v3/conversations/a%3A1xyz/activities");
    assert_eq!(s.conversation.as_deref(), Some("a:1xyz"));
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(s.content_type.as_deref(), Some("application/json"));
    assert_eq!(s.body, activity);
    assert_eq!(fake.unmatched.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn service_url_with_or_without_trailing_slash() {
    let (fake, base, c) = setup().await;
    let thread = "19:abc@thread.tacv2;messageid=123";
    for service_url in [format!("{base}/teams"), format!("{base}/teams/")] {
        c.send(&service_url, thread, &json!({"type": "message"}))
            .await
            .unwrap();
    }
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    for s in seen {
        assert_eq!(
            s.raw_path,
            "/teams/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D123/activities"
        );
        assert_eq!(s.conversation.as_deref(), Some(thread));
    }
    // One token for both.
    assert_eq!(fake.token_count(), 1);
    assert_eq!(fake.unmatched.load(Ordering::SeqCst), 0);
    assert_eq!(
        join(
            "https://smba.trafficmanager.net/teams/",
            "/v3/conversations"
        ),
        "https://smba.trafficmanager.net/teams/v3/conversations"
    );
}

#[tokio::test]
async fn update_puts_in_place() {
    let (fake, base, c) = setup().await;
    let activity = json!({"type": "message", "id": "1:0abc", "text": "resolved"});
    c.update(&format!("{base}/teams"), "a:1xyz", "1:0abc", &activity)
        .await
        .unwrap();
    let s = &fake.seen()[0];
    assert_eq!(s.method, Method::PUT);
    assert_eq!(
        s.raw_path,
        "/teams/v3/conversations/a%3A1xyz/activities/1%3A0abc"
    );
    assert_eq!(s.conversation.as_deref(), Some("a:1xyz"));
    assert_eq!(s.activity.as_deref(), Some("1:0abc"));
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(s.body, activity);
}

#[tokio::test]
async fn create_conversation_body_shape() {
    let (fake, base, c) = setup().await;
    let id = c
        .create_conversation(
            &format!("{base}/teams/"),
            &format!("28:{APP_ID}"),
            "29:1user-id",
            TENANT,
        )
        .await
        .unwrap();
    assert_eq!(id, "a:1new-conversation");
    let s = &fake.seen()[0];
    assert_eq!(s.method, Method::POST);
    assert_eq!(s.raw_path, "/teams/v3/conversations");
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(
        s.body,
        json!({
            "bot": {"id": format!("28:{APP_ID}")},
            "members": [{"id": "29:1user-id"}],
            "isGroup": false,
            "tenantId": TENANT,
            "channelData": {"tenant": {"id": TENANT}},
        })
    );
}

#[tokio::test]
async fn create_conversation_without_an_id_is_transient() {
    let (fake, base, c) = setup().await;
    fake.script([reply(201, json!({}))]);
    let e = c
        .create_conversation(&format!("{base}/teams"), "28:b", "29:u", TENANT)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}

#[tokio::test]
async fn a_401_gets_one_fresh_token_and_one_retry() {
    let (fake, base, c) = setup().await;
    fake.script([reply(
        401,
        json!({"message": "Authorization has been denied for this request."}),
    )]);
    let id = c
        .send(
            &format!("{base}/teams"),
            "a:1xyz",
            &json!({"type": "message"}),
        )
        .await
        .unwrap();
    assert_eq!(id, "1:reply-2");
    let auths: Vec<_> = fake
        .seen()
        .into_iter()
        .map(|s| s.authorization.unwrap())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(fake.token_count(), 2);
    // The fresh token is the cached one now.
    c.send(
        &format!("{base}/teams"),
        "a:1xyz",
        &json!({"type": "message"}),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.seen()[2].authorization.as_deref(),
        Some("Bearer tok-2")
    );
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn two_401s_are_an_auth_error() {
    let (fake, base, c) = setup().await;
    let denied = reply(
        401,
        json!({"message": "Authorization has been denied for this request."}),
    );
    fake.script([denied.clone(), denied.clone(), denied]);
    let e = c
        .send(
            &format!("{base}/teams"),
            "a:1xyz",
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("denied"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(fake.seen().len(), 2, "retried once, not more");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn token_errors_map_to_auth_or_transient() {
    let (fake, base, c) = setup().await;
    fake.script_token([
        aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        ),
        reply(503, json!({})),
    ]);
    let url = format!("{base}/teams");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Auth(m) if m.contains("app_secret_file")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("s3cr"), "{e}");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert!(fake.seen().is_empty(), "nothing sent without a token");
}

#[tokio::test]
async fn throttling_carries_retry_after() {
    let (fake, base, c) = setup().await;
    let mut throttled = teams_error(429, "Throttled", "Too many requests.");
    throttled.headers.push(("retry-after", "7".into()));
    fake.script([
        throttled,
        teams_error(429, "Throttled", "Too many requests."),
    ]);
    let url = format!("{base}/teams");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Throttled { retry_after } if retry_after == Duration::from_secs(7)),
        "{e:?}"
    );
    assert!(e.is_retryable());
    // Without Retry-After: 1 s.
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Throttled { retry_after } if retry_after == Duration::from_secs(1)),
        "{e:?}"
    );
    assert_eq!(fake.seen().len(), 2, "no retries here");
}

#[tokio::test]
async fn retryable_statuses_are_transient() {
    let (fake, base, c) = setup().await;
    fake.script([
        teams_error(
            412,
            "PreconditionFailed",
            "Precondition failed, please try again.",
        ),
        teams_error(502, "ServiceError", "Service dependency issue."),
        reply(503, json!({})),
        reply(504, json!({})),
    ]);
    let url = format!("{base}/teams");
    for status in [412, 502, 503, 504] {
        let e = c
            .send(&url, "a:1xyz", &json!({"type": "message"}))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::Transient(_)), "{status}: {e:?}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
        assert!(e.is_retryable());
    }
    assert_eq!(fake.seen().len(), 4);
}

#[tokio::test]
async fn final_errors_are_classified() {
    let (fake, base, c) = setup().await;
    let url = format!("{base}/teams");
    let activity = json!({"type": "message"});
    type Check = fn(&SendError) -> bool;
    let cases: Vec<(Reply, Check)> = vec![
        (
            teams_error(
                403,
                "ConversationBlockedByUser",
                "User blocked the conversation with the bot.",
            ),
            |e| matches!(e, SendError::Blocked(m) if m.contains("ConversationBlockedByUser")),
        ),
        (
            teams_error(
                403,
                "MessageWritesBlocked",
                "Bot API's message writes are blocked.",
            ),
            |e| matches!(e, SendError::Blocked(_)),
        ),
        (
            reply(
                403,
                json!({"error": {"code": "Forbidden", "subCode": "MessageWritesBlocked", "message": "Blocked."}}),
            ),
            |e| matches!(e, SendError::Blocked(_)),
        ),
        (
            teams_error(
                403,
                "BotNotInConversationRoster",
                "The bot isn't part of the conversation roster.",
            ),
            |e| matches!(e, SendError::NotInstalled(_)),
        ),
        (
            teams_error(
                403,
                "ForbiddenOperationException",
                "Bot isn't installed in user's personal scope",
            ),
            |e| matches!(e, SendError::NotInstalled(_)),
        ),
        (
            teams_error(404, "ConversationNotFound", "Conversation not found."),
            |e| matches!(e, SendError::ConversationGone(_)),
        ),
        (
            teams_error(
                404,
                "ActivityNotFoundInConversation",
                "Conversation not found.",
            ),
            |e| matches!(e, SendError::ActivityGone(_)),
        ),
        (
            teams_error(
                403,
                "BotDisabledByAdmin",
                "The tenant admin disabled this bot",
            ),
            |e| matches!(e, SendError::Rejected { status: 403, code, .. } if code == "BotDisabledByAdmin"),
        ),
        (
            teams_error(400, "BadArgument", "Unknown activity type"),
            |e| matches!(e, SendError::Rejected { status: 400, code, message } if code == "BadArgument" && message == "Unknown activity type"),
        ),
        (
            teams_error(413, "MessageSizeTooBig", "Message size too large."),
            |e| matches!(e, SendError::Rejected { status: 413, .. }),
        ),
        (
            teams_error(500, "ServiceError", "Internal server error."),
            |e| matches!(e, SendError::Rejected { status: 500, .. }),
        ),
    ];
    let n = cases.len();
    for (r, check) in cases {
        fake.script([r]);
        let e = c.send(&url, "a:1xyz", &activity).await.unwrap_err();
        assert!(check(&e), "{e:?}");
        assert!(!e.is_retryable(), "{e:?}");
    }
    // Updates classify the same way (ActivityNotFoundInConversation is the
    // one that matters there).
    fake.script([teams_error(
        404,
        "ActivityNotFoundInConversation",
        "Conversation not found.",
    )]);
    let e = c
        .update(&url, "a:1xyz", "1:gone", &activity)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::ActivityGone(_)), "{e:?}");
    assert_eq!(fake.seen().len(), n + 1);
    assert_eq!(fake.token_count(), 1);
}

#[tokio::test]
async fn insecure_service_url_sends_nothing() {
    let (fake, _base, c) = setup().await;
    for url in [
        "http://smba.trafficmanager.net/teams/",
        "ftp://127.0.0.1/",
        "not a url",
    ] {
        let e = c
            .send(url, "a:1xyz", &json!({"type": "message"}))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::InsecureUrl(_)), "{e:?}");
        assert!(!e.is_retryable());
    }
    let e = c
        .create_conversation("http://10.0.0.1/teams", "28:b", "29:u", TENANT)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::InsecureUrl(_)), "{e:?}");
    assert!(fake.seen().is_empty());
    assert_eq!(fake.token_count(), 0);
}

#[tokio::test]
async fn connection_errors_are_transient() {
    let (_fake, base, c) = setup().await;
    // Get a token first, then point at a port nobody listens on.
    c.send(&format!("{base}/teams"), "a:1", &json!({"type": "message"}))
        .await
        .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = c
        .send(
            &format!("http://{closed}/teams"),
            "a:1",
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}
