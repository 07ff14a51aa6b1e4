//! A tiny blocking HTTP/1.1 client over raw sockets, for talking to a relay
//! *process*: no client library, so a request cut off by a SIGKILL shows up
//! as exactly that (sent, never answered) instead of being retried for us.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A loopback port nobody listens on right now (racy, but good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request to 127.0.0.1 (Connection: close) → (status, body),
/// or an error when the server is down or died mid-request. `headers` is
/// raw header lines, each ending in `\r\n`.
pub fn http(
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
pub fn http_with(
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
