//! TLS termination for `serve` (`[server] tls_cert_file` / `tls_key_file`):
//! rustls with the ring provider, HTTP/1.1 only (ALPN `http/1.1`).
//!
//! [`TlsListener`] implements axum 0.8's [`axum::serve::Listener`], so the
//! server keeps using `axum::serve(..).with_graceful_shutdown(..)` exactly
//! as for plain TCP: one code path for connection handling, graceful
//! shutdown and connection draining, with TLS as a different listener. The
//! alternative, a hand-written accept loop around hyper-util's connection
//! builder, would duplicate what axum already does (per-connection tasks,
//! the shutdown watch, waiting for open connections) for no gain.
//!
//! A TLS handshake needs several round trips with the client, so it must not
//! run inside `accept`: one slow or silent client would stall every other.
//! Each accepted TCP connection is handshaken in its own task (at most
//! [`HANDSHAKE_TIMEOUT`]), held in a [`JoinSet`] that works as the channel
//! of finished handshakes: `accept` waits for whichever comes first, a new
//! TCP connection (which starts another handshake) or a finished handshake
//! (which it hands to axum). A failed handshake — plain HTTP on the TLS
//! port, a client that distrusts the certificate, a timeout — is logged at
//! debug and only closes that connection. Dropping the listener (axum does
//! so at shutdown) closes the socket and aborts handshakes still under way.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client gets to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at most; beyond this, new connections wait in the
/// kernel's accept backlog until one finishes or times out.
const MAX_HANDSHAKES: usize = 1024;

/// The rustls server config from `[server] tls_cert_file` (PEM, the leaf
/// certificate first, then any intermediates) and `tls_key_file` (PEM,
/// PKCS#8, PKCS#1 or SEC1). Errors name the key and the file.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = load_certs(cert_file)?;
    let key = load_key(key_file)?;
    // Idempotent: reqwest needs the process default too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => format!(
                "[server] tls_key_file {}: key does not match certificate in tls_cert_file {}",
                key_file.display(),
                cert_file.display()
            ),
            e => format!(
                "[server] tls_cert_file {} / tls_key_file {}: {e}",
                cert_file.display(),
                key_file.display()
            ),
        })?;
    // axum is built with http1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read [server] {key} {}: {e}", path.display()))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read("tls_cert_file", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "[server] tls_cert_file {}: invalid PEM: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate in [server] tls_cert_file {}: expected PEM \
             (-----BEGIN CERTIFICATE-----), the server's certificate first",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read("tls_key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "no private key in [server] tls_key_file {}: expected PEM \
             (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY; \
             encrypted keys are not supported)",
            path.display()
        ),
        e => format!("[server] tls_key_file {}: invalid PEM: {e}", path.display()),
    })
}

/// A TCP listener that hands out TLS streams; see the module docs.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Wraps a bound TCP listener.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    None
                }
                Err(_) => {
                    let secs = HANDSHAKE_TIMEOUT.as_secs();
                    tracing::debug!(%peer, "TLS handshake not done after {secs} s: closed");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Both branches are cancel-safe: nothing is lost when axum drops
            // this future at shutdown.
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_HANDSHAKES => {
                    match accepted {
                        Ok((tcp, peer)) => self.start_handshake(tcp, peer),
                        Err(e) => accept_error(e).await,
                    }
                }
                Some(done) = self.handshakes.join_next() => match done {
                    Ok(Some(stream)) => return stream,
                    Ok(None) => {}
                    Err(e) => tracing::error!("TLS handshake task failed: {e}"),
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// As axum does for plain TCP: a connection that died before it was
/// accepted is nothing; anything else (EMFILE, ...) is logged and waited out.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
