//! A tiny HTTP forward proxy on 127.0.0.1 (std only) for `HTTP_PROXY` tests:
//! it takes absolute-form requests (`POST http://127.0.0.1:PORT/v1/events`),
//! records their targets, forwards them in origin form with a `Via` header
//! to the named loopback port, and relays the answer back. Anything not
//! aimed at 127.0.0.1 gets a 502: nothing leaves the machine.

// Each test uses a different part of this helper.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http1::read_request;

/// The `Via` value the proxy adds, so the relay side can tell.
pub const VIA: &str = "1.1 uplink-test-proxy";

pub struct ForwardProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let seen = Arc::clone(&seen2);
                        conns.retain(|c| !c.is_finished());
                        conns.push(std::thread::spawn(move || {
                            let _ = client.set_nonblocking(false);
                            if let Err(e) = forward(&client, &seen) {
                                eprintln!("proxy: {e}");
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        ForwardProxy {
            port,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `METHOD target` of every request it received.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn forward(client: &TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let req = read_request(client)?;
    seen.lock()
        .unwrap()
        .push(format!("{} {}", req.method, req.target));
    let mut out = client;
    let Some(rest) = req.target.strip_prefix("http://127.0.0.1:") else {
        out.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    };
    let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut upstream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or(0)))?;
    upstream.set_read_timeout(Some(Duration::from_secs(35)))?;
    let mut head = format!("{} {path} HTTP/1.1\r\n", req.method);
    for (k, v) in &req.headers {
        // Hop-by-hop headers stay here.
        let k_l = k.to_ascii_lowercase();
        if k_l == "connection" || k_l == "proxy-connection" || k_l == "proxy-authorization" {
            continue;
        }
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!("Via: {VIA}\r\nConnection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&req.body)?;
    // The fake relay closes after its answer: copy until EOF.
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    out.write_all(&answer)?;
    out.flush()?;
    let _ = client.shutdown(std::net::Shutdown::Write);
    Ok(())
}
