//! Broker fixtures: mosquitto as a child process (restartable on the same
//! port, optionally with a TLS listener), rumqttd in-process (always
//! available), and a publisher (rumqttc on its own tokio runtime).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common::PATIENCE;

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

// ---------------------------------------------------------------------------
// mosquitto

const MOSQUITTO_PATHS: &[&str] = &[
    "/usr/sbin/mosquitto",
    "/usr/bin/mosquitto",
    "/usr/local/sbin/mosquitto",
];

fn mosquitto_binary() -> Option<PathBuf> {
    MOSQUITTO_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The TLS material of a mosquitto TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A mosquitto child process; SIGKILLed and reaped on drop.
pub struct Mosquitto {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The plain listener.
    pub port: u16,
    /// The TLS listener, if any.
    pub tls_port: Option<u16>,
    tls: Option<TlsFiles>,
    child: Option<Child>,
    starts: u32,
}

impl Mosquitto {
    /// Starts mosquitto with a plain listener, or returns `None` (after
    /// printing why) when mosquitto is not installed and
    /// `EDGETHERM_REQUIRE_MOSQUITTO=1` is not set; panics when it is.
    pub fn start_or_skip(test: &str) -> Option<Mosquitto> {
        Mosquitto::start_with(test, None)
    }

    /// Like `start_or_skip`, with a second, TLS listener.
    pub fn start_tls_or_skip(test: &str, tls: TlsFiles) -> Option<Mosquitto> {
        Mosquitto::start_with(test, Some(tls))
    }

    fn start_with(test: &str, tls: Option<TlsFiles>) -> Option<Mosquitto> {
        let Some(bin) = mosquitto_binary() else {
            if std::env::var("EDGETHERM_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
                panic!("{test}: mosquitto is not installed (looked in {MOSQUITTO_PATHS:?}) but EDGETHERM_REQUIRE_MOSQUITTO=1");
            }
            eprintln!("{test}: skipped: mosquitto not installed (looked in {MOSQUITTO_PATHS:?}; set EDGETHERM_REQUIRE_MOSQUITTO=1 to make this a failure)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("edgetherm-mosquitto-")
            .tempdir()
            .unwrap();
        let mut m = Mosquitto {
            bin,
            dir,
            port: 0,
            tls_port: None,
            tls,
            child: None,
            starts: 0,
        };
        // A port picked by bind-and-release may be taken again before
        // mosquitto binds it: retry with fresh ports.
        for attempt in 1..=5 {
            m.port = free_port();
            if m.tls.is_some() {
                m.tls_port = Some(free_port());
            }
            match m.spawn() {
                Ok(()) => return Some(m),
                Err(e) if attempt < 5 => {
                    eprintln!("mosquitto did not start ({e}); retrying on other ports")
                }
                Err(e) => panic!("mosquitto did not start: {e}"),
            }
        }
        unreachable!()
    }

    /// The plain listener's URL.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// mosquitto's own log (all starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn write_config(&self) -> PathBuf {
        let mut c = String::new();
        // As root, mosquitto would switch to the `mosquitto` user, which
        // cannot read our temp dir.
        if unsafe { libc::geteuid() } == 0 {
            c += "user root\n";
        }
        c += "persistence false\nallow_anonymous true\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
        c += &format!("listener {} 127.0.0.1\n", self.port);
        if let (Some(t), Some(port)) = (&self.tls, self.tls_port) {
            c += &format!(
                "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate false\n",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            );
        }
        let path = self.dir.path().join("mosquitto.conf");
        std::fs::write(&path, c).unwrap();
        path
    }

    /// Starts the process on `self.port` (and `tls_port`) and waits until the
    /// listeners accept connections.
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "mosquitto already runs");
        let conf = self.write_config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("mosquitto.log"))
            .unwrap();
        let mut child = Command::new(&self.bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.starts += 1;
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return Err(format!("mosquitto exited ({st}); its log:\n{}", self.log()));
            }
            let up = accepts(self.port) && self.tls_port.is_none_or(accepts);
            if up {
                // Someone else might hold the port: mosquitto then exits
                // at once, having failed to bind.
                std::thread::sleep(Duration::from_millis(100));
                if let Some(st) = child.try_wait().unwrap() {
                    return Err(format!("mosquitto exited ({st}); its log:\n{}", self.log()));
                }
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "mosquitto did not listen on {} within {PATIENCE:?}; its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port(s), after `kill`. The port may linger
    /// briefly; retried within `PATIENCE`.
    pub fn restart(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("mosquitto did not restart on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private CA and a server certificate for `localhost` and `127.0.0.1`
/// signed by it, as PEM files in `dir`; a second, unrelated CA for the
/// negative case.
pub fn make_pki(dir: &Path) -> (TlsFiles, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca = |name: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("edgetherm test CA");
    let mut sp =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = sp.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    let (other_ca, _) = ca("some other CA");

    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, server_cert.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    let other = dir.join("other-ca.pem");
    std::fs::write(&other, other_ca.pem()).unwrap();
    (files, other)
}

// ---------------------------------------------------------------------------
// rumqttd

/// An in-process rumqttd broker (v4) on 127.0.0.1. It cannot be stopped:
/// its threads end with the test process.
pub struct Rumqttd {
    pub port: u16,
}

impl Rumqttd {
    pub fn start() -> Rumqttd {
        for attempt in 1..=5 {
            let port = free_port();
            let config = rumqttd_config(port);
            std::thread::Builder::new()
                .name(format!("rumqttd-{port}"))
                .spawn(move || {
                    let mut broker = rumqttd::Broker::new(config);
                    if let Err(e) = broker.start() {
                        eprintln!("rumqttd on port {port} stopped: {e}");
                    }
                })
                .unwrap();
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if accepts(port) {
                    return Rumqttd { port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("rumqttd did not listen on {port} (attempt {attempt})");
        }
        panic!("rumqttd did not start");
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

fn rumqttd_config(port: u16) -> rumqttd::Config {
    use std::collections::HashMap;
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: 256 * 1024,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: format!("v4-{port}"),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let mut v4 = HashMap::new();
    v4.insert("1".to_string(), server);
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(v4),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// publisher

static CLIENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// An MQTT client on its own runtime. QoS 1 publishes wait for their PubAck,
/// so the broker has them, in order, when a publish call returns.
pub struct Publisher {
    rt: Option<tokio::runtime::Runtime>,
    client: AsyncClient,
    acks: Arc<AtomicU64>,
    connected: Arc<AtomicBool>,
    qos1_sent: u64,
}

impl Publisher {
    /// Connects to 127.0.0.1:`port` and waits for the ConnAck.
    pub fn connect(port: u16) -> Publisher {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let id = format!(
            "test-pub-{}-{}",
            std::process::id(),
            CLIENT_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        let (client, mut events) = AsyncClient::new(opts, 1024);
        let acks = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicBool::new(false));
        let (a, c) = (Arc::clone(&acks), Arc::clone(&connected));
        rt.spawn(async move {
            // Ends with the runtime, or after ~20 s of errors in a row.
            let mut errors = 0u32;
            while errors < 100 {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        errors = 0;
                        c.store(true, Ordering::SeqCst);
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors += 1;
                        c.store(false, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let p = Publisher {
            rt: Some(rt),
            client,
            acks,
            connected,
            qos1_sent: 0,
        };
        let deadline = Instant::now() + PATIENCE;
        while !p.connected.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the test publisher could not connect to 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        p
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().unwrap()
    }

    /// Publishes at QoS 1 and waits for the PubAck.
    pub fn publish(&mut self, topic: &str, payload: &str) {
        self.publish_qos1(topic, payload, false);
    }

    /// Publishes a retained message at QoS 1 and waits for the PubAck.
    pub fn publish_retained(&mut self, topic: &str, payload: &str) {
        self.publish_qos1(topic, payload, true);
    }

    fn publish_qos1(&mut self, topic: &str, payload: &str, retain: bool) {
        let client = self.client.clone();
        let (t, b) = (topic.to_string(), payload.as_bytes().to_vec());
        self.rt()
            .block_on(async move { client.publish(t, QoS::AtLeastOnce, retain, b).await })
            .unwrap_or_else(|e| panic!("publish {topic}: {e}"));
        self.qos1_sent += 1;
        let deadline = Instant::now() + PATIENCE;
        while self.acks.load(Ordering::SeqCst) < self.qos1_sent {
            assert!(
                Instant::now() < deadline,
                "no PubAck for {topic} {payload:?} within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Publishes `payload(i)` on `topic` at QoS 0 for i in 0..n, as fast as
    /// the client allows, stopping early at `deadline`; then a QoS 1 message
    /// on `marker_topic` whose PubAck shows that everything before it was
    /// written to the broker. Returns how many were published.
    pub fn flood(
        &mut self,
        topic: &str,
        n: u64,
        payload: impl Fn(u64) -> String,
        deadline: Instant,
        marker_topic: &str,
    ) -> u64 {
        let client = self.client.clone();
        let topic = topic.to_string();
        let sent = self.rt().block_on(async move {
            let mut sent = 0;
            while sent < n {
                if sent % 1000 == 0 && Instant::now() > deadline {
                    break;
                }
                client
                    .publish(
                        topic.clone(),
                        QoS::AtMostOnce,
                        false,
                        payload(sent).into_bytes(),
                    )
                    .await
                    .expect("queue a QoS 0 publish");
                sent += 1;
            }
            sent
        });
        self.publish(marker_topic, "end");
        sent
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
