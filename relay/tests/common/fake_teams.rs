//! The Microsoft side of a Teams bot, faked on loopback: the identity
//! platform's token endpoint and the Bot Connector REST API. It answers as
//! the documented APIs do (status codes, bodies, `Retry-After`), can be
//! scripted per request or per conversation, and records every request.
//!
//! It runs on its own runtime in its own thread: sync and async tests use it
//! alike, and it outlives every relay process it serves, so a relay that is
//! SIGKILLed and restarted keeps talking to the same fake.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{post, put};
use axum::Router;
use serde_json::{json, Value};

pub use super::teams_replies::Reply;

/// The tenant the relay harness configures and install activities carry
/// (the fake itself serves tokens for any tenant).
pub const TENANT: &str = "tenant-1";
/// The bot's id, as Teams names it in the activities it posts.
pub const BOT_ID: &str = "28:00000000-0000-0000-0000-00000000beef";

/// One request the fake Bot Connector received.
#[derive(Debug, Clone)]
pub struct Call {
    /// POST (send, create conversation) or PUT (update).
    pub method: Method,
    /// The path as sent (percent-encoded).
    pub raw_path: String,
    /// The conversation in the path, decoded; None when creating one.
    pub conversation: Option<String>,
    /// The activity targeted (PUT) or assigned by a successful answer (POST).
    pub activity_id: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The JSON body (Null if it was not JSON).
    pub body: Value,
    /// The status the fake answers with.
    pub status: u16,
    /// When it arrived: Teams shows a message once it has it, whether or not
    /// the answer reaches the bot.
    pub arrived: Instant,
    /// When the answer was handed back (None if the bot hung up first).
    pub answered: Option<Instant>,
}

/// One request the fake token endpoint received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The tenant in the path.
    pub tenant: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The form, decoded by a decoder independent of the relay's encoder.
    pub form: HashMap<String, String>,
    /// The body as sent.
    pub raw_body: String,
}

struct Fake {
    calls: Vec<Call>,
    in_flight: usize,
    unmatched: usize,
    answer_delay: Duration,
    /// Answers for the next requests, before the default success.
    script: VecDeque<Reply>,
    /// Per conversation: answers for its next requests, before `script`.
    script_for: HashMap<String, VecDeque<Reply>>,
    /// Per conversation: the answer to every request, before all else.
    always_for: HashMap<String, Reply>,
    token_requests: Vec<TokenRequest>,
    /// Answers for the next token requests; then tokens `tok-1`, `tok-2`…
    token_script: VecDeque<Reply>,
    issued: usize,
    expires_in: u64,
    token_delay: Duration,
}

impl Fake {
    fn scripted(&mut self, conversation: Option<&str>) -> Option<Reply> {
        if let Some(c) = conversation {
            if let Some(r) = self.always_for.get(c) {
                return Some(r.clone());
            }
            if let Some(r) = self.script_for.get_mut(c).and_then(VecDeque::pop_front) {
                return Some(r);
            }
        }
        self.script.pop_front()
    }
}

type Shared = Arc<Mutex<Fake>>;

/// The state, even if a handler panicked holding it (the test will say why).
fn lock(f: &Shared) -> MutexGuard<'_, Fake> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_string())
}

async fn token(
    State(f): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let raw_body = String::from_utf8(body.to_vec()).unwrap();
    // An independent form decoder: axum's query parsing (serde_urlencoded).
    let uri: Uri = format!("http://x/?{raw_body}").parse().unwrap();
    let Query(form) = Query::<HashMap<String, String>>::try_from_uri(&uri).unwrap();
    let delay = {
        let mut g = lock(&f);
        g.token_requests.push(TokenRequest {
            tenant,
            content_type: header(&headers, "content-type"),
            form,
            raw_body,
        });
        g.token_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut g = lock(&f);
    if let Some(r) = g.token_script.pop_front() {
        return r;
    }
    g.issued += 1;
    Reply::new(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": g.expires_in,
            "ext_expires_in": g.expires_in,
            "access_token": format!("tok-{}", g.issued),
        }),
    )
}

/// Decrements `in_flight`, and stamps the answer once given, even when
/// hyper drops the handler because the bot hung up.
struct InFlight {
    fake: Shared,
    index: usize,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut f = lock(&self.fake);
        f.in_flight -= 1;
        if self.answered {
            f.calls[self.index].answered = Some(Instant::now());
        }
    }
}

/// A Bot Connector request: the answer is chosen (script, else `default`
/// given the call's number) and the call recorded at once, then handed
/// back after the answer delay.
async fn answer(
    f: Shared,
    request: (Method, Uri, HeaderMap, Bytes),
    conversation: Option<String>,
    target: Option<String>,
    default: impl FnOnce(usize) -> Reply,
) -> Reply {
    let (method, uri, headers, body) = request;
    let (mut guard, reply, delay) = {
        let mut g = lock(&f);
        let n = g.calls.len() + 1;
        let reply = g
            .scripted(conversation.as_deref())
            .unwrap_or_else(|| default(n));
        let assigned = (conversation.is_some() && (200..300).contains(&reply.status))
            .then(|| reply.body["id"].as_str().map(String::from))
            .flatten();
        g.calls.push(Call {
            method,
            raw_path: uri.path().to_string(),
            conversation,
            activity_id: target.or(assigned),
            authorization: header(&headers, "authorization"),
            content_type: header(&headers, "content-type"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status: reply.status,
            arrived: Instant::now(),
            answered: None,
        });
        g.in_flight += 1;
        let guard = InFlight {
            fake: f.clone(),
            index: n - 1,
            answered: false,
        };
        (guard, reply, g.answer_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    guard.answered = true;
    reply
}

async fn send_activity(
    State(f): State<Shared>,
    method: Method,
    uri: Uri,
    Path(conv): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    // Teams: 201 Created with a ResourceResponse.
    answer(f, (method, uri, headers, body), Some(conv), None, |n| {
        Reply::new(201, json!({"id": format!("1:reply-{n}")}))
    })
    .await
}

async fn update_activity(
    State(f): State<Shared>,
    method: Method,
    uri: Uri,
    Path((conv, act)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ok = Reply::new(200, json!({"id": act}));
    answer(
        f,
        (method, uri, headers, body),
        Some(conv),
        Some(act),
        |_| ok,
    )
    .await
}

async fn create_conversation(
    State(f): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    answer(f, (method, uri, headers, body), None, None, |_| {
        Reply::new(201, json!({"id": "a:1new-conversation"}))
    })
    .await
}

async fn unmatched(State(f): State<Shared>) -> StatusCode {
    lock(&f).unmatched += 1;
    StatusCode::NOT_FOUND
}

/// The fake token endpoint + Bot Connector, serving until dropped.
pub struct FakeTeams {
    base: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTeams {
    /// Starts on a free loopback port: instant answers, tokens `tok-1`, `tok-2`… valid ~1 h.
    pub fn start() -> FakeTeams {
        let state: Shared = Arc::new(Mutex::new(Fake {
            calls: Vec::new(),
            in_flight: 0,
            unmatched: 0,
            answer_delay: Duration::ZERO,
            script: VecDeque::new(),
            script_for: HashMap::new(),
            always_for: HashMap::new(),
            token_requests: Vec::new(),
            token_script: VecDeque::new(),
            issued: 0,
            expires_in: 3599,
            token_delay: Duration::ZERO,
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/teams/v3/conversations", post(create_conversation))
            .route(
                "/teams/v3/conversations/{conv}/activities",
                post(send_activity),
            )
            .route(
                "/teams/v3/conversations/{conv}/activities/{act}",
                put(update_activity),
            )
            .fallback(unmatched)
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    r = axum::serve(listener, app) => r.unwrap(),
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        FakeTeams {
            base: format!("http://{addr}"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: the relay's `[bot] login_url`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The Bot Connector service URL, as Teams puts it in activities.
    pub fn service_url(&self) -> String {
        format!("{}/teams/", self.base)
    }

    /// The token endpoint for `tenant`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.base)
    }

    /// Bot Connector answers take `delay` from now on (so a kill can land mid-send).
    pub fn set_answer_delay(&self, delay: Duration) {
        lock(&self.state).answer_delay = delay;
    }

    /// Token answers take `delay` from now on.
    pub fn set_token_delay(&self, delay: Duration) {
        lock(&self.state).token_delay = delay;
    }

    /// Tokens issued from now on say `expires_in: secs` (default 3599).
    pub fn set_token_expires_in(&self, secs: u64) {
        lock(&self.state).expires_in = secs;
    }

    /// Answers the next Bot Connector requests with `replies`, in order, then succeeds again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    /// Answers the next requests to `conversation` with `replies`, ahead of `script`.
    pub fn script_for(&self, conversation: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut g = lock(&self.state);
        g.script_for
            .entry(conversation.to_string())
            .or_default()
            .extend(replies);
    }

    /// Answers every request to `conversation` with `reply` (say, a user who blocked the bot).
    pub fn always_for(&self, conversation: &str, reply: Reply) {
        lock(&self.state)
            .always_for
            .insert(conversation.to_string(), reply);
    }

    /// Answers the next token requests with `replies`, then issues tokens again.
    pub fn script_token(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).token_script.extend(replies);
    }

    /// Every Bot Connector request so far, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// Bot Connector requests received and not answered yet.
    pub fn in_flight(&self) -> usize {
        lock(&self.state).in_flight
    }

    /// Every token request so far.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.state).token_requests.clone()
    }

    /// How many token requests arrived.
    pub fn token_count(&self) -> usize {
        lock(&self.state).token_requests.len()
    }

    /// Requests that matched no route (a URL built wrong).
    pub fn unmatched(&self) -> usize {
        lock(&self.state).unmatched
    }

    /// Waits (at most `within`) until `done` holds with nothing in flight,
    /// then until the fake has heard nothing new for 3 s (the relay's sender
    /// wakes at least every second, so anything extra would show).
    pub fn settle(&self, within: Duration, done: impl Fn(&[Call]) -> bool) {
        let deadline = Instant::now() + within;
        while !(done(&self.calls()) && self.in_flight() == 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut quiet = (Instant::now(), self.calls().len());
        let deadline = Instant::now() + Duration::from_secs(20);
        while quiet.0.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let n = self.calls().len();
            if n != quiet.1 || self.in_flight() > 0 {
                quiet = (Instant::now(), n);
            }
        }
    }

    /// What Teams posts to the bot when a user installs the app in personal
    /// chat `conversation` (tenant [`TENANT`]), pointing back at this fake.
    pub fn install_activity(&self, conversation: &str) -> Value {
        json!({
            "type": "installationUpdate", "action": "add", "id": "f:install",
            "serviceUrl": self.service_url(), "channelId": "msteams",
            "from": {"id": "29:1dana", "name": "Dana", "aadObjectId": "aad-dana"},
            "recipient": {"id": BOT_ID, "name": "edgetherm"},
            "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": conversation},
            "channelData": {"tenant": {"id": TENANT}}
        })
    }
}

impl Drop for FakeTeams {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
