//! `serve` with `[server] tls_cert_file` / `tls_key_file`: HTTPS with the
//! configured certificate; plain HTTP, distrusting and silent clients on the
//! TLS port neither stop nor stall the server; unusable TLS settings are
//! clear errors naming the key and the file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
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

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    (c.cert.pem(), c.key_pair.serialize_pem())
}

/// Writes relay.toml (plus `extra` in `[server]`) into `dir`.
fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("relay.toml");
    let data = dir.join("data");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = '{}'\n{extra}",
        data.display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn tls_keys(cert: &Path, key: &Path) -> String {
    format!(
        "tls_cert_file = '{}'\ntls_key_file = '{}'\n",
        cert.display(),
        key.display()
    )
}

/// A relay serving HTTPS on a free loopback port; its log in `log`.
struct Relay {
    _dir: tempfile::TempDir,
    _child: Killed,
    port: u16,
    cert_pem: String,
    log: PathBuf,
}

impl Relay {
    fn start() -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem) = self_signed();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let port = free_port();
        let cfg = write_config(dir.path(), port, &tls_keys(&cert, &key));
        let log = dir.path().join("relay.log");
        let child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&cfg)
            .env("RUST_LOG", "info,edgetherm_relay=debug")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let relay = Relay {
            _dir: dir,
            _child: Killed(child),
            port,
            cert_pem,
            log,
        };
        relay.wait_listening();
        relay
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the relay did not start listening: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// A client that trusts only `cert_pem`.
    fn client(cert_pem: &str) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([cert])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// `GET /healthz` over TLS, trusting the relay's certificate.
    async fn healthz(&self) -> reqwest::Response {
        let client = Relay::client(&self.cert_pem);
        match client.get(self.url("/healthz")).send().await {
            Ok(r) => r,
            Err(e) => panic!("GET /healthz over TLS: {e:?}\nrelay log:\n{}", self.log()),
        }
    }
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let relay = Relay::start();
    let r = relay.healthz().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11, "ALPN http/1.1 only");
    assert!(relay.log().contains("serving (HTTPS)"), "{}", relay.log());

    // A client that does not trust this certificate fails its handshake...
    let (other, _) = self_signed();
    let distrusting = Relay::client(&other);
    let e = distrusting
        .get(relay.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    // ...and the server goes on serving.
    assert_eq!(relay.healthz().await.status(), 200);
    let metrics = Relay::client(&relay.cert_pem)
        .get(relay.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn plain_http_on_the_tls_port_fails_and_the_server_keeps_serving() {
    let relay = Relay::start();
    let port = relay.port;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(relay.healthz().await.status(), 200);
    // Logged at debug, not as an error.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !relay.log().contains("TLS handshake failed") {
        assert!(Instant::now() < deadline, "{}", relay.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!relay.log().contains("ERROR"), "{}", relay.log());
}

#[tokio::test]
async fn silent_clients_do_not_stall_others_and_are_closed_after_the_handshake_timeout() {
    let relay = Relay::start();
    let opened = Instant::now();
    // One client sends nothing; another starts a TLS record and stalls.
    let mut silent = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
    let mut stalled = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();

    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(relay.healthz().await.status(), 200);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    // The server gives up on both after its 10 s handshake timeout.
    let closed = tokio::task::spawn_blocking(move || {
        for s in [&mut silent, &mut stalled] {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 64];
            // EOF, or a reset: either way the connection is gone.
            match s.read(&mut buf) {
                Ok(n) => assert_eq!(n, 0, "unexpected bytes"),
                Err(e) => assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "still open after 30 s: {e}"
                ),
            }
        }
        opened.elapsed()
    })
    .await
    .unwrap();
    assert!(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(20),
        "closed after {closed:?}"
    );
    assert_eq!(relay.healthz().await.status(), 200);
}

/// Runs `serve` expecting it to exit soon: (exit code, stderr).
fn serve_fails(cfg: &Path) -> (i32, String) {
    let mut child = Killed(
        Command::new(BIN)
            .args(["serve", "-c"])
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_certificate_without_a_key_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, self_signed().0).unwrap();
    let extra = format!("tls_cert_file = '{}'\n", cert.display());
    let cfg = write_config(dir.path(), free_port(), &extra);
    let (code, err) = serve_fails(&cfg);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:4:", cfg.display())), "{err}");
    assert!(
        err.contains("tls_cert_file is set but tls_key_file is missing"),
        "{err}"
    );

    let key = dir.path().join("key.pem");
    std::fs::write(&key, self_signed().1).unwrap();
    let extra = format!("tls_key_file = '{}'\n", key.display());
    let cfg = write_config(dir.path(), free_port(), &extra);
    let (code, err) = serve_fails(&cfg);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tls_key_file is set but tls_cert_file is missing"),
        "{err}"
    );
}

#[test]
fn unusable_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = self_signed();
    let (_, other_key_pem) = self_signed();
    let good_cert = dir.path().join("cert.pem");
    let good_key = dir.path().join("key.pem");
    std::fs::write(&good_cert, &cert_pem).unwrap();
    std::fs::write(&good_key, &key_pem).unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let garbage = file("garbage.pem", "this is not a certificate\n");
    let bad_base64 = file(
        "bad64.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let other_key = file("other-key.pem", &other_key_pem);
    let missing = dir.path().join("missing.pem");

    let cases: [(&Path, &Path, String); 5] = [
        (
            &garbage,
            &good_key,
            format!(
                "no certificate in [server] tls_cert_file {}",
                garbage.display()
            ),
        ),
        (
            &bad_base64,
            &good_key,
            format!(
                "[server] tls_cert_file {}: invalid PEM",
                bad_base64.display()
            ),
        ),
        (
            &missing,
            &good_key,
            format!("cannot read [server] tls_cert_file {}: ", missing.display()),
        ),
        (
            &good_cert,
            &good_cert,
            format!(
                "no private key in [server] tls_key_file {}",
                good_cert.display()
            ),
        ),
        (
            &good_cert,
            &other_key,
            format!(
                "[server] tls_key_file {}: key does not match certificate",
                other_key.display()
            ),
        ),
    ];
    for (cert, key, expected) in cases {
        let cfg = write_config(dir.path(), free_port(), &tls_keys(cert, key));
        let (code, err) = serve_fails(&cfg);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&expected), "expected {expected:?} in: {err}");
        assert!(
            !dir.path().join("data").exists(),
            "TLS is checked before the store is opened"
        );
    }
}
