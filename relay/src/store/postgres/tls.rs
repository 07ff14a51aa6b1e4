//! rustls for the database connection: `require` encrypts without
//! checking the certificate (as libpq's `sslmode=require`); `verify-full`
//! checks the chain against `ca_file` (default: the system's bundle) and
//! the host name.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::TlsMode;
use crate::store::StoreError;

/// Debian's (and most distributions') CA bundle.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The connector for `mode` (not `Disable`).
pub(super) fn connector(
    mode: TlsMode,
    ca_file: Option<&Path>,
) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("[store] tls: {e}")))?;
    let config = match mode {
        TlsMode::VerifyFull => {
            let path = ca_file.unwrap_or(Path::new(SYSTEM_BUNDLE));
            let mut roots = rustls::RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(path).map_err(|e| bad_ca(path, &e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| bad_ca(path, &e.to_string()))?;
                roots.add(cert).map_err(|e| bad_ca(path, &e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad_ca(path, "no certificates in it"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn bad_ca(path: &Path, why: &str) -> StoreError {
    StoreError::Config(format!(
        "[store] ca_file {}: {why} (expected PEM certificates of the CA that signed the database's certificate)",
        path.display()
    ))
}

/// Accepts any certificate, but still checks that the server holds its
/// key (the handshake signatures), as `sslmode=require` does.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
