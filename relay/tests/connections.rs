//! Idle connections cannot lock gateways out: the relay holds at most a
//! capped number below its descriptor limit (one more gets 503 with
//! Retry-After), and closes a connection that moves no byte for
//! `[server] idle_timeout`.

mod common;

use std::io::Read;
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
fn bad_limits_are_config_errors() {
    let relay = RelayProc::new().with_server("idle_timeout = \"off\"\nmax_connections = 0\n");
    let (code, _, err) = relay.cli(&["conversations"]);
    assert_ne!(code, 0);
    assert!(err.contains("idle_timeout"), "{err}");
    let relay = RelayProc::new().with_server("max_connections = 0\n");
    let (code, _, err) = relay.cli(&["conversations"]);
    assert_ne!(code, 0);
    assert!(err.contains("max_connections must be at least 1"), "{err}");
}
