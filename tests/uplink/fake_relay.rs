//! A fake relay on 127.0.0.1 built on std only: it records every request
//! (method, target, headers, body and its JSON) and answers from a script of
//! canned answers, falling back to a default responder (200 accepting every
//! event id of the batch). It can go down (listener closed, so connects are
//! refused) and come back on the same port, and it can delay answers. Every
//! connection gets `Connection: close`; all waits are bounded; its threads
//! stop when it is dropped.

// Each test uses a different part of this helper.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

pub use crate::exchange::{accept_with_route, Answer, Received};
use crate::http1::read_request;

type Responder = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

struct Scripted {
    answer: Answer,
    only_with_events: bool,
}

struct Shared {
    stop: AtomicBool,
    log: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Scripted>>,
    default: Mutex<Responder>,
    conns: Mutex<Vec<JoinHandle<()>>>,
}

/// The listener thread of one "up" period.
struct Acceptor {
    thread: JoinHandle<()>,
    down: Arc<AtomicBool>,
}

/// The fake relay. `url()` is its base URL.
pub struct FakeRelay {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<Acceptor>>,
    pub started: Instant,
}

impl FakeRelay {
    /// Listens on a free loopback port, answering 200 to everything.
    pub fn start() -> FakeRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake relay");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Arc::new(|_: &Received| Answer::ok())),
            conns: Mutex::new(Vec::new()),
        });
        let relay = FakeRelay {
            port,
            shared,
            acceptor: Mutex::new(None),
            started: Instant::now(),
        };
        relay.serve(listener);
        relay
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, as `[relay] url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the agent posts, as it names it in errors.
    pub fn events_url(&self) -> String {
        format!("{}/v1/events", self.url())
    }

    /// Answers requests the script does not cover.
    pub fn set_default(&self, f: impl Fn(&Received) -> Answer + Send + Sync + 'static) {
        *self.shared.default.lock().unwrap() = Arc::new(f);
    }

    /// Answers the next request with `answer`.
    pub fn push(&self, answer: Answer) {
        self.shared.script.lock().unwrap().push_back(Scripted {
            answer,
            only_with_events: false,
        });
    }

    /// Answers the next request that carries events with `answer`
    /// (heartbeat-only requests before it get the default).
    pub fn push_for_events(&self, answer: Answer) {
        self.shared.script.lock().unwrap().push_back(Scripted {
            answer,
            only_with_events: true,
        });
    }

    /// Closes the listener: connects are refused until `up`.
    pub fn down(&self) {
        if let Some(a) = self.acceptor.lock().unwrap().take() {
            a.down.store(true, Ordering::SeqCst);
            a.thread.join().expect("fake relay acceptor");
        }
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("fake relay: rebinding port {}: {e}; retrying", self.port);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("fake relay: cannot listen on port {} again: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let (shared, down2) = (Arc::clone(&self.shared), Arc::clone(&down));
        let thread = std::thread::spawn(move || accept_loop(listener, shared, down2));
        *self.acceptor.lock().unwrap() = Some(Acceptor { thread, down });
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests that carried events.
    pub fn event_requests(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(Received::has_events)
            .collect()
    }

    /// Every event id received, in order, repeats included.
    pub fn received_ids(&self) -> Vec<String> {
        self.requests().iter().flat_map(|r| r.event_ids()).collect()
    }

    /// Every event id a 2xx accepted, in order, repeats included.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.requests().iter().flat_map(|r| r.accepted()).collect()
    }

    /// Polls the request log until `f` returns Some; panics with a summary
    /// of what arrived after `patience`.
    pub fn wait<T>(
        &self,
        what: &str,
        patience: Duration,
        f: impl Fn(&[Received]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(t) = f(&self.requests()) {
                return t;
            }
            if Instant::now() > deadline {
                panic!(
                    "the fake relay did not see {what} within {patience:?}; it got:\n{}",
                    self.summary()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One line per request, for failure messages.
    pub fn summary(&self) -> String {
        let reqs = self.requests();
        if reqs.is_empty() {
            return "  (nothing)".into();
        }
        reqs.iter()
            .map(|r| {
                let evs: Vec<String> = r
                    .events()
                    .iter()
                    .map(|e| format!("{}:{}", e["kind"].as_str().unwrap_or("?"), e["id"]))
                    .collect();
                format!(
                    "  +{:>6} ms {} {} -> {} events [{}]",
                    r.at.duration_since(self.started).as_millis(),
                    r.req.method,
                    r.req.target,
                    r.status,
                    evs.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for FakeRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.down();
        let conns: Vec<JoinHandle<()>> = std::mem::take(&mut *self.shared.conns.lock().unwrap());
        for c in conns {
            let _ = c.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, down: Arc<AtomicBool>) {
    while !down.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let s = Arc::clone(&shared);
                let t = std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    if let Err(e) = handle(&stream, &s) {
                        eprintln!("fake relay: connection failed: {e}");
                    }
                });
                let mut conns = shared.conns.lock().unwrap();
                conns.retain(|c| !c.is_finished());
                conns.push(t);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("fake relay: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // The listener drops here: the port is free and connects are refused.
}

fn handle(stream: &TcpStream, shared: &Shared) -> std::io::Result<()> {
    let req = read_request(stream)?;
    let json = serde_json::from_slice(&req.body).ok();
    let mut rec = Received {
        at: Instant::now(),
        req,
        json,
        status: 0,
        answer: String::new(),
    };
    let scripted = {
        let mut script = shared.script.lock().unwrap();
        match script.front() {
            Some(s) if !s.only_with_events || rec.has_events() => script.pop_front(),
            _ => None,
        }
    };
    let answer = match scripted {
        Some(s) => s.answer,
        None => {
            let f = Arc::clone(&shared.default.lock().unwrap());
            f(&rec)
        }
    };
    let body = answer
        .body
        .clone()
        .unwrap_or_else(|| json!({ "accepted": rec.event_ids() }).to_string());
    rec.status = answer.status;
    rec.answer = body.clone();
    shared.log.lock().unwrap().push(rec);

    let until = Instant::now() + answer.delay;
    while Instant::now() < until {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        body.len()
    );
    for (k, v) in &answer.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let mut w = stream;
    w.write_all(head.as_bytes())?;
    w.write_all(body.as_bytes())?;
    w.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}
