//! The relay binary SIGKILLed again and again while it sends to a slow fake
//! Bot Connector, restarted each time on the same data_dir and port, while a
//! fake agent retries every batch until it gets a 200: nothing is lost, and
//! a card is posted twice only when a kill interrupted its first post
//! (at-least-once towards Teams, as `sender.rs` documents).
//!
//! Reproduce a run with `RESTART_TEST_SEED=<seed printed by the test>`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use edgetherm_proto::{Direction, Event, EventBatch, EventKind, Heartbeat, Severity};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_edgetherm-relay");
/// The one personal conversation (a user installed the app).
const CONV: &str = "a:1restart-dana";
const BOT: &str = "28:00000000-0000-0000-0000-00000000beef";
const GATEWAY: &str = "gw1";
/// Alerts: each fires once and resolves once.
const N: usize = 20;
const PER_BATCH: usize = 5;
/// SIGKILLs: the first half while cards are posted, the rest while they resolve.
const KILLS: usize = 8;
/// How long the fake Bot Connector takes to answer, so kills land mid-send.
const TEAMS_DELAY: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------- fake Teams

/// One request the fake Bot Connector received.
#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    conversation: String,
    /// The id assigned (POST) or targeted (PUT).
    activity_id: String,
    body: Value,
    /// When it arrived: Teams shows a message once it has it, whether or not
    /// the answer reaches the bot.
    arrived: Instant,
    /// When the answer was handed back (None if the bot was gone by then).
    answered: Option<Instant>,
}

#[derive(Default)]
struct Fake {
    calls: Vec<Call>,
    next: u32,
    in_flight: usize,
}

type Shared = Arc<Mutex<Fake>>;

/// Decrements `in_flight`, and stamps the answer once given, even when
/// hyper drops the handler because the bot hung up.
struct InFlight {
    fake: Shared,
    index: usize,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut f = self.fake.lock().unwrap_or_else(|e| e.into_inner());
        f.in_flight -= 1;
        if self.answered {
            f.calls[self.index].answered = Some(Instant::now());
        }
    }
}

/// Records a call (assigning `act-N` to a new activity), then takes
/// TEAMS_DELAY to answer; returns the activity id.
async fn record_slowly(
    f: &Shared,
    method: &'static str,
    conversation: String,
    activity_id: Option<String>,
    body: Value,
) -> String {
    let (mut guard, id) = {
        let mut g = f.lock().unwrap();
        let id = activity_id.unwrap_or_else(|| {
            g.next += 1;
            format!("act-{}", g.next)
        });
        g.calls.push(Call {
            method,
            conversation,
            activity_id: id.clone(),
            body,
            arrived: Instant::now(),
            answered: None,
        });
        g.in_flight += 1;
        let guard = InFlight {
            fake: f.clone(),
            index: g.calls.len() - 1,
            answered: false,
        };
        (guard, id)
    };
    tokio::time::sleep(TEAMS_DELAY).await;
    guard.answered = true;
    id
}

async fn token() -> Json<Value> {
    Json(
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "fake-token"}),
    )
}

async fn send(
    State(f): State<Shared>,
    UrlPath(conversation): UrlPath<String>,
    Json(body): Json<Value>,
) -> Response {
    let id = record_slowly(&f, "POST", conversation, None, body).await;
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn update(
    State(f): State<Shared>,
    UrlPath((conversation, id)): UrlPath<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let id = record_slowly(&f, "PUT", conversation, Some(id), body).await;
    (StatusCode::OK, Json(json!({"id": id}))).into_response()
}

/// AAD token endpoint + Bot Connector on loopback, on its own runtime in its
/// own thread, so it outlives every relay it serves.
struct FakeTeams {
    base: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTeams {
    fn start() -> FakeTeams {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/tenant-1/oauth2/v2.0/token", post(token))
            .route("/teams/v3/conversations/{conv}/activities", post(send))
            .route(
                "/teams/v3/conversations/{conv}/activities/{id}",
                put(update),
            )
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

    fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    fn in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight
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

// ------------------------------------------------------------- the relay

/// The relay process, restarted on the same config; killed on drop.
struct Relay {
    cfg: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    logs: Vec<PathBuf>,
    /// Incarnations that had exited before we killed them.
    died: Vec<String>,
}

impl Relay {
    fn start(&mut self) {
        assert!(self.child.is_none());
        let log = self.dir.join(format!("relay-{}.log", self.logs.len()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&self.cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        self.logs.push(log);
        self.child = Some(child);
    }

    /// SIGKILL (std's `Child::kill`), then reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(Some(status)) = c.try_wait() {
                self.died.push(format!(
                    "incarnation {} exited on its own ({status}) before the kill",
                    self.logs.len() - 1
                ));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn still_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn wait_listening(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the relay did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "--- incarnation {i} ---\n{}",
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request (Connection: close) → (status, body), or an error
/// when the relay is down or died mid-request.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<(u16, String), String> {
    http_with(port, method, path, headers, body, None).map_err(|(_, e)| e)
}

/// `http`, raising `sent` while the request is written and unanswered; an
/// error says whether the request had been sent (true) or not.
fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
    sent: Option<&AtomicBool>,
) -> Result<(u16, String), (bool, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| (false, e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| (false, e.to_string()))?;
    if let Some(f) = sent {
        f.store(true, Ordering::SeqCst);
    }
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out);
    if let Some(f) = sent {
        f.store(false, Ordering::SeqCst);
    }
    read.map_err(|e| (true, e.to_string()))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| (true, format!("no HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

fn run_cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("-c")
        .arg(cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ------------------------------------------------------------- the agent

fn firing_id(k: usize) -> String {
    format!("01RESTART0FIRING{k:02}")
}
fn resolved_id(k: usize) -> String {
    format!("01RESTART0RESOLVED{k:02}")
}
/// The token in an event's detail, which the card shows: tells which event a card is.
fn marker(id: &str) -> String {
    format!("[evt:{id}]")
}

fn event(k: usize, kind: EventKind) -> Event {
    let id = match kind {
        EventKind::Resolved => resolved_id(k),
        _ => firing_id(k),
    };
    let mut e = Event::new(
        id.clone(),
        kind,
        Severity::Critical,
        "2026-11-21T10:00:01Z".into(),
    );
    e.detail = Some(format!("restart test {}", marker(&id)));
    e.alert = Some(firing_id(k));
    e.rule = Some("rack-inlet-high".into());
    e.sensor = Some(format!("rack{k:02}-inlet"));
    e.sensor_name = Some(format!("Rack {k:02} inlet"));
    e.value = Some(if kind == EventKind::Resolved {
        24.0
    } else {
        31.4
    });
    e.threshold = Some(30.0);
    e.direction = Some(Direction::Above);
    e.since = Some("2026-11-21T09:58:01Z".into());
    e
}

/// (body, the event ids it carries)
fn batches(kind: EventKind) -> Vec<(String, Vec<String>)> {
    (0..N)
        .collect::<Vec<_>>()
        .chunks(PER_BATCH)
        .map(|ks| {
            let events: Vec<Event> = ks.iter().map(|&k| event(k, kind)).collect();
            let ids = events.iter().map(|e| e.id.clone()).collect();
            let batch = EventBatch {
                gateway: GATEWAY.into(),
                site: Some("Datacenter 1".into()),
                sent_at: "2026-11-21T10:00:05Z".into(),
                events,
                heartbeat: Some(Heartbeat {
                    uptime_s: 600,
                    outbox: 0,
                    sensors: Vec::new(),
                }),
            };
            (serde_json::to_string(&batch).unwrap(), ids)
        })
        .collect()
}

/// How posting one batch went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Posted {
    attempts: usize,
    /// Attempts whose request was sent but never answered (killed mid-request).
    interrupted: usize,
}

impl std::ops::AddAssign for Posted {
    fn add_assign(&mut self, o: Posted) {
        self.attempts += o.attempts;
        self.interrupted += o.interrupted;
    }
}

/// Posts a batch until the relay answers 200 (as the agent does: a batch
/// interrupted by a kill is simply sent again). `sent` is up while a
/// request waits for its answer.
fn deliver(
    port: u16,
    token: &str,
    (body, ids): &(String, Vec<String>),
    stop: &AtomicBool,
    sent: &AtomicBool,
) -> Result<Posted, String> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let mut last = String::new();
    let mut interrupted = 0;
    for attempt in 1..=1200 {
        if stop.load(Ordering::Relaxed) {
            return Err("stopped".into());
        }
        match http_with(port, "POST", "/v1/events", &headers, body, Some(sent)) {
            Ok((200, answer)) => {
                let a: edgetherm_proto::Accepted = serde_json::from_str(&answer)
                    .map_err(|e| format!("bad 200 body {answer:?}: {e}"))?;
                if &a.accepted != ids {
                    return Err(format!("accepted {:?}, sent {ids:?}", a.accepted));
                }
                return Ok(Posted {
                    attempts: attempt,
                    interrupted,
                });
            }
            Ok((status, answer)) => last = format!("HTTP {status}: {answer}"),
            Err((was_sent, e)) => {
                interrupted += usize::from(was_sent);
                last = e;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no 200 after 1200 attempts; last: {last}"))
}

fn alerts_with_answered_cards(calls: &[Call]) -> usize {
    (0..N)
        .filter(|&k| {
            let m = marker(&firing_id(k));
            calls.iter().any(|c| {
                c.method == "POST" && c.answered.is_some() && c.body.to_string().contains(&m)
            })
        })
        .count()
}

// ------------------------------------------------------------- helpers

/// xorshift64*, seeded from RESTART_TEST_SEED or the clock.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// Sets the flag on drop (also on panic), so the agent thread stops.
struct StopOnDrop(Arc<AtomicBool>);
impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What a call to Teams was, from its body.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Welcome,
    /// A new card for alert k.
    Card(usize),
    /// The resolved state of alert k (PUT in place, or a new POST).
    Resolved(usize),
}

fn classify(c: &Call) -> Option<What> {
    let text = c.body.to_string();
    if c.method == "POST"
        && c.body["text"]
            .as_str()
            .is_some_and(|t| t.contains("I'm **edgetherm**"))
    {
        return Some(What::Welcome);
    }
    let firing: Vec<usize> = (0..N)
        .filter(|&k| text.contains(&marker(&firing_id(k))))
        .collect();
    let resolved: Vec<usize> = (0..N)
        .filter(|&k| text.contains(&marker(&resolved_id(k))))
        .collect();
    match (firing.as_slice(), resolved.as_slice()) {
        ([k], []) if c.method == "POST" => Some(What::Card(*k)),
        ([], [k]) => Some(What::Resolved(*k)),
        _ => None,
    }
}

// ------------------------------------------------------------- the harness

/// Fake Teams, a running relay with a user's personal conversation
/// installed, and a gateway token. Drops the relay first.
struct Harness {
    relay: Relay,
    fake: FakeTeams,
    token: String,
    port: u16,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let fake = FakeTeams::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not-a-real-secret\n").unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = '{}'\n\n\
             [bot]\napp_id = \"app\"\napp_secret_file = '{}'\ntenant_id = \"tenant-1\"\n\
             login_url = \"{}\"\nallow_unauthenticated = true\n",
            dir.path().join("data").display(),
            secret.display(),
            fake.base
        ),
    )
    .unwrap();
    let mut relay = Relay {
        cfg: cfg.clone(),
        dir: dir.path().to_path_buf(),
        port,
        child: None,
        logs: Vec::new(),
        died: Vec::new(),
    };
    relay.start();
    relay.wait_listening(Duration::from_secs(20));

    // A user installs the app: the reference is stored, a welcome owed.
    let install = json!({
        "type": "installationUpdate", "action": "add", "id": "f:install",
        "serviceUrl": format!("{}/teams/", fake.base), "channelId": "msteams",
        "from": {"id": "29:1dana", "name": "Dana", "aadObjectId": "aad-dana"},
        "recipient": {"id": BOT, "name": "edgetherm"},
        "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": CONV},
        "channelData": {"tenant": {"id": "tenant-1"}}
    })
    .to_string();
    let (status, answer) = http(
        port,
        "POST",
        "/api/messages",
        "Content-Type: application/json\r\n",
        &install,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");

    // The gateway, through the admin socket of the running server.
    let (code, out, err) = run_cli(&cfg, &["gateway", "add", GATEWAY]);
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap().trim().to_string();
    Harness {
        relay,
        fake,
        token,
        port,
        _dir: dir,
    }
}

/// Waits (at most `within`) until `done` holds with nothing in flight, then
/// until Teams has heard nothing new for 3 s (the sender wakes at least
/// every second, so anything extra would show).
fn settle(fake: &FakeTeams, within: Duration, done: impl Fn(&[Call]) -> bool) {
    let deadline = Instant::now() + within;
    while !(done(&fake.calls()) && fake.in_flight() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut quiet = (Instant::now(), fake.calls().len());
    let deadline = Instant::now() + Duration::from_secs(20);
    while quiet.0.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let n = fake.calls().len();
        if n != quiet.1 || fake.in_flight() > 0 {
            quiet = (Instant::now(), n);
        }
    }
}

/// Welcome, a card and a resolved state for every alert in `alerts`.
fn everything(calls: &[Call], alerts: usize) -> bool {
    let seen: Vec<What> = calls.iter().filter_map(classify).collect();
    seen.contains(&What::Welcome)
        && (0..alerts).all(|k| seen.contains(&What::Card(k)) && seen.contains(&What::Resolved(k)))
}

/// Checks what Teams received for alerts `0..alerts`: (problems, duplicates).
/// A message sent twice is allowed only with a kill between the two sends.
fn verdict(calls: &[Call], alerts: usize, kills: &[Instant]) -> (Vec<String>, Vec<String>) {
    let t0 = calls.first().map_or_else(Instant::now, |c| c.arrived);
    let ms = |t: Instant| {
        if t >= t0 {
            t.duration_since(t0).as_millis() as i64
        } else {
            -(t0.duration_since(t).as_millis() as i64)
        }
    };
    let mut problems = Vec::new();
    let mut duplicates = Vec::new();
    for c in calls {
        if c.conversation != CONV || classify(c).is_none() {
            problems.push(format!("unexpected call to Teams: {c:?}"));
        }
    }
    let mut by_what: BTreeMap<What, Vec<&Call>> = BTreeMap::new();
    for c in calls {
        if let Some(w) = classify(c) {
            by_what.entry(w).or_default().push(c);
        }
    }
    if !by_what.contains_key(&What::Welcome) {
        problems.push("no welcome was sent".to_string());
    }
    for k in 0..alerts {
        let cards = by_what.get(&What::Card(k)).cloned().unwrap_or_default();
        let ends = by_what.get(&What::Resolved(k)).cloned().unwrap_or_default();
        if cards.is_empty() {
            problems.push(format!("alert {k}: LOST, no card was posted"));
        }
        if ends.is_empty() {
            problems.push(format!(
                "alert {k}: resolved event LOST, its card was never updated (cards {:?})",
                cards.iter().map(|c| &c.activity_id).collect::<Vec<_>>()
            ));
        }
        let ids: Vec<&str> = cards.iter().map(|c| c.activity_id.as_str()).collect();
        for e in &ends {
            if e.method == "PUT" && !ids.contains(&e.activity_id.as_str()) {
                problems.push(format!(
                    "alert {k}: resolved PUT to {}, not one of its cards {ids:?}",
                    e.activity_id
                ));
            }
        }
    }
    for (what, sent) in &by_what {
        for pair in sent.windows(2) {
            let (first, again) = (pair[0], pair[1]);
            let cause = kills
                .iter()
                .find(|t| **t >= first.arrived && **t <= again.arrived);
            let line = format!(
                "{what:?} sent again: {} {} at {}ms (answered {}), again at {}ms: {}",
                first.method,
                first.activity_id,
                ms(first.arrived),
                first
                    .answered
                    .map_or("never".to_string(), |t| format!("at {}ms", ms(t))),
                ms(again.arrived),
                cause.map_or("NO KILL in between".to_string(), |t| format!(
                    "killed at {}ms",
                    ms(*t)
                ))
            );
            if cause.is_none() {
                problems.push(line.clone());
            }
            duplicates.push(line);
        }
    }
    let mut line = String::from("kills at (ms since the first call to Teams):");
    for t in kills {
        line += &format!(" {}", ms(*t));
    }
    duplicates.insert(0, line);
    (problems, duplicates)
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
}

// ------------------------------------------------------------- the tests

#[test]
fn relay_killed_mid_send_loses_nothing() {
    let seed = std::env::var("RESTART_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("RESTART_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let mut h = harness();
    let port = h.port;

    // The agent: firing batches a moment apart, each retried until 200 (and
    // the previous one sent once more after its 200); "later", once every
    // alert has its card, the resolved batches the same way.
    let firing = batches(EventKind::Firing);
    let resolved = batches(EventKind::Resolved);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(stop.clone());
    let posting = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let agent = {
        let (firing, resolved, token) = (firing.clone(), resolved.clone(), h.token.clone());
        let (stop, posting, phase) = (stop.clone(), posting.clone(), phase.clone());
        let state = h.fake.state.clone();
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || -> Result<(Posted, usize), String> {
            let (mut posted, mut batches) = (Posted::default(), 0);
            let mut send_all = |all: &[(String, Vec<String>)], rng: &mut Rng| {
                for i in 0..all.len() {
                    posted += deliver(port, &token, &all[i], &stop, &posting)?;
                    batches += 1;
                    if i > 0 {
                        posted += deliver(port, &token, &all[i - 1], &stop, &posting)?;
                        batches += 1;
                    }
                    std::thread::sleep(rng.millis(300, 1000));
                }
                Ok::<_, String>(())
            };
            send_all(&firing, &mut rng)?;
            phase.store(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let calls = state.lock().unwrap().calls.clone();
                if alerts_with_answered_cards(&calls) == N {
                    break;
                }
                if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                    return Err(format!(
                        "only {} of {N} alerts got a card within 90 s",
                        alerts_with_answered_cards(&calls)
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            phase.store(2, Ordering::SeqCst);
            send_all(&resolved, &mut rng)?;
            phase.store(3, Ordering::SeqCst);
            Ok((posted, batches))
        })
    };

    // The kills, 0.2-1.5 s apart: the first half while the firing batches
    // come in and cards go out, the rest once the resolved batches start.
    // Odd kills wait for a request to Teams in flight and land inside its
    // 300 ms; even ones for a batch sent by the agent and not yet answered
    // (both waits bounded).
    let mut kills: Vec<Instant> = Vec::new();
    for n in 0..KILLS {
        if n == KILLS / 2 {
            let deadline = Instant::now() + Duration::from_secs(90);
            while phase.load(Ordering::SeqCst) < 2
                && Instant::now() < deadline
                && !agent.is_finished()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(rng.millis(200, 1500));
        let deadline = Instant::now() + Duration::from_millis(3000);
        if n % 2 == 1 {
            while h.fake.in_flight() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(rng.millis(0, 250));
        } else {
            while !posting.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        h.relay.kill();
        kills.push(Instant::now());
        h.relay.start();
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    while !agent.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the agent did not finish within 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (posted, batches_sent) = agent
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("agent: {e}\n{}", h.relay.log_text()));

    // Every batch once more, to the last incarnation: all acknowledged at
    // once, nothing new sent.
    h.relay.wait_listening(Duration::from_secs(20));
    let never = AtomicBool::new(false);
    for b in firing.iter().chain(&resolved) {
        let once = Posted {
            attempts: 1,
            interrupted: 0,
        };
        assert_eq!(deliver(port, &h.token, b, &stop, &never), Ok(once));
    }

    settle(&h.fake, Duration::from_secs(60), |c| everything(c, N));

    let logs = h.relay.log_text();
    let (status, metrics) =
        http(port, "GET", "/metrics", "", "").expect("GET /metrics after the last restart");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        counter(&metrics, "edgetherm_relay_events_duplicate_total") >= (2 * N) as u64,
        "every re-posted event is recognised as seen:\n{metrics}"
    );
    assert!(
        h.relay.still_running(),
        "the last incarnation is still running\n{logs}"
    );
    assert!(h.relay.died.is_empty(), "{:?}\n{logs}", h.relay.died);
    assert!(!logs.contains("panicked"), "the relay panicked:\n{logs}");

    let calls = h.fake.calls();
    let (problems, duplicates) = verdict(&calls, N, &kills);
    let summary = format!(
        "seed {seed}: {} calls to Teams; {batches_sent} batches posted in {} attempts \
         ({} killed mid-request, {} while the relay was down); {} duplicate(s)\n  {}",
        calls.len(),
        posted.attempts,
        posted.interrupted,
        posted.attempts - batches_sent - posted.interrupted,
        duplicates.len() - 1,
        duplicates.join("\n  ")
    );
    eprintln!("{summary}");
    assert!(
        problems.is_empty(),
        "{}\n{summary}\n{logs}",
        problems.join("\n")
    );
    assert!(
        duplicates.len() - 1 <= kills.len(),
        "more duplicates than kills\n{summary}\n{logs}"
    );
}

/// Product bug reproducer (no kills needed): a resolved event routed while
/// its firing card is still waiting in the send queue finds no delivery
/// record, gets no job, and is dropped: the card stays "firing" forever.
/// Happens whenever firing and resolved arrive in one batch (an agent
/// flushing its outbox after an outage) or Teams is slow / throttling.
#[test]
fn resolved_while_its_card_is_queued_still_resolves_it() {
    let h = harness();
    let batch = {
        let events = vec![event(0, EventKind::Firing), event(0, EventKind::Resolved)];
        let ids = events.iter().map(|e| e.id.clone()).collect();
        let b = EventBatch {
            gateway: GATEWAY.into(),
            site: Some("Datacenter 1".into()),
            sent_at: "2026-11-21T10:00:05Z".into(),
            events,
            heartbeat: None,
        };
        (serde_json::to_string(&b).unwrap(), ids)
    };
    let never = AtomicBool::new(false);
    assert_eq!(
        deliver(h.port, &h.token, &batch, &never, &never).map(|p| p.attempts),
        Ok(1)
    );
    settle(&h.fake, Duration::from_secs(15), |c| everything(c, 1));
    let (problems, duplicates) = verdict(&h.fake.calls(), 1, &[]);
    assert!(
        problems.is_empty(),
        "{}\n{duplicates:?}\n{}",
        problems.join("\n"),
        h.relay.log_text()
    );
}
