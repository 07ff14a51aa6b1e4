//! The relay binary: `gateway add` prints the token once (last line), works
//! while `serve` runs (admin socket), and the running server accepts it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgetherm-relay");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("-c")
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn gateway_tokens_from_the_command_line_work_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = '{}'\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();

    let (code, out, err) = run(&cfg, &["gateway", "add", "gw1"]);
    assert_eq!(code, 0, "{err}");
    let first = out.lines().last().unwrap().to_string();
    assert!(
        first.starts_with("etg_") && first.len() == 68,
        "token alone on the last line: {out}"
    );
    let (code, _, err) = run(&cfg, &["gateway", "add", "gw1"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(&cfg, &["gateway", "add", "bad id!"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid gateway id"), "{err}");

    let _server = Killed(
        Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the relay did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(http(
        port,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .starts_with("HTTP/1.1 200"));

    // The server holds the store; the admin socket mints the token.
    let (code, out, err) = run(&cfg, &["gateway", "add", "gw2"]);
    assert_eq!(code, 0, "{err}");
    let second = out.lines().last().unwrap().to_string();
    let body = r#"{"gateway":"gw2","sent_at":"2026-11-21T10:00:05Z","events":[{"id":"01JD3X0Q9W8M1K7V5R2T6Y4ZBN","kind":"test","severity":"info","at":"2026-11-21T10:00:01Z"}]}"#;
    let post = |token: &str| {
        http(port, &format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()))
    };
    let ok = post(&second);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.contains(r#"{"accepted":["01JD3X0Q9W8M1K7V5R2T6Y4ZBN"],"tests":[{"id":"01JD3X0Q9W8M1K7V5R2T6Y4ZBN","conversations":0,"teams":false}]}"#),
        "{ok}"
    );
    let wrong = post(&first);
    assert!(
        wrong.starts_with("HTTP/1.1 403"),
        "gw1's token for gw2's batch: {wrong}"
    );
}
