//! Idle connections cannot lock gateways out: the relay holds at most a
//! capped number below its descriptor limit (one more gets 503 with
//! Retry-After), and closes a connection that moves no byte for
//! `[server] idle_timeout`, or whose request head has not arrived within
//! `[server] header_timeout` however slowly it trickles.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::http;
use common::relay_proc::RelayProc;

/// More idle connections than the relay has descriptors.
const IDLE: usize = 150;

#[test]
fn idle_connections_beyond_the_descriptor_limit_do_not_lock_gateways_out() {
    let mut relay = RelayProc::new()
        .with_nofile(128)
        .with_server("idle_timeout = \"1s\"\n");
    relay.start();
    let port = relay.port();

    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();

    // Every one is answered within seconds, none left hanging: those beyond
    // the cap (128 descriptors less 64 reserved) with 503 and Retry-After,
    // the others closed once idle for idle_timeout (1 s).
    let t = Instant::now();
    let mut busy = 0;
    for (i, c) in idle.iter().enumerate() {
        let mut c = c.try_clone().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = Vec::new();
        c.read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("connection {i} left hanging: {e}"));
        let answer = String::from_utf8_lossy(&answer);
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains("Retry-After: 5"), "{answer}");
            busy += 1;
        } else {
            assert!(answer.is_empty(), "connection {i}: {answer:?}");
        }
    }
    assert!(busy > 0, "no connection was refused with 503");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    // A gateway gets through while the idle sockets are still open on the
    // client side.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http(port, "GET", "/healthz", "", "") {
            Ok((200, _)) => break,
            other => assert!(
                Instant::now() < deadline,
                "the relay still refuses: {other:?}\n{}",
                relay.log_text()
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(idle);
    assert!(relay.still_running(), "{}", relay.log_text());
}

#[test]
fn a_request_head_trickling_in_is_cut_off_at_the_header_timeout() {
    let mut relay =
        RelayProc::new().with_server("idle_timeout = \"60s\"\nheader_timeout = \"2s\"\n");
    relay.start();
    let mut c = TcpStream::connect(("127.0.0.1", relay.port())).expect("connect");
    c.write_all(b"POST /v1/events HTTP/1.1\r\nHost: relay\r\n")
        .unwrap();
    // One header byte every 300 ms: never idle, never complete.
    let t = Instant::now();
    let closed = loop {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "still open after 20 s of trickling headers"
        );
        if c.write_all(b"X").is_err() {
            break t.elapsed();
        }
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        match c.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // End of file, an answer before closing, or a reset.
            _ => break t.elapsed(),
        }
    };
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(6),
        "closed after {closed:?}, header_timeout is 2 s"
    );

    // A request whose head arrives in time is served as before.
    let (code, _) = http(relay.port(), "GET", "/healthz", "", "").unwrap();
    assert_eq!(code, 200);
    assert!(relay.still_running(), "{}", relay.log_text());
}

#[test]
fn bad_limits_are_config_errors() {
    let relay = RelayProc::new().with_server("idle_timeout = \"off\"\nmax_connections = 0\n");
    let (code, _, err) = relay.cli(&["conversations"]);
    assert_ne!(code, 0);
    assert!(err.contains("idle_timeout"), "{err}");
    let relay = RelayProc::new().with_server("max_connections = 0\n");
    let (code, _, err) = relay.cli(&["conversations"]);
    assert_ne!(code, 0);
    assert!(err.contains("max_connections must be at least 1"), "{err}");
    let relay = RelayProc::new().with_server("header_timeout = \"off\"\n");
    let (code, _, err) = relay.cli(&["conversations"]);
    assert_ne!(code, 0);
    assert!(err.contains("header_timeout cannot be"), "{err}");
}
