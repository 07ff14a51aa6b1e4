//! Just enough HTTP/1.1 for the fakes: one request read from a socket
//! (request line, headers, a `Content-Length` body), with a read timeout.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// One HTTP/1.1 request as read from a socket.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    /// The request target as sent: origin form (`/v1/events`) from a
    /// client, absolute form (`http://host:port/...`) to a proxy.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (request line, headers, `Content-Length` body).
pub fn read_request(stream: &TcpStream) -> std::io::Result<RawRequest> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut r = BufReader::new(stream.take(1 << 20));
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("no request line"));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(bad("eof in headers"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').ok_or_else(|| bad("bad header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = RawRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(bad("chunked bodies are not supported by this fake"));
    }
    let len: usize = req
        .header("content-length")
        .map_or(Ok(0), str::parse)
        .map_err(|_| bad("bad content-length"))?;
    req.body = vec![0; len];
    r.read_exact(&mut req.body)?;
    Ok(req)
}
