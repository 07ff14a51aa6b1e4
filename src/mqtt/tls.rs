//! The rustls client configuration for `mqtts://` brokers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::MqttConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{what} {path}: {detail}")]
    Pem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// rustls refused the material.
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
    /// No trusted roots at all.
    #[error("no CA certificates: the system store is empty and no [mqtt] ca_file is set (install ca-certificates or set ca_file)")]
    NoRoots,
}

fn pem_err(what: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        what,
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Builds the client config: roots from `ca_file` (a private CA) or the
/// system store, and a client certificate if configured.
pub fn client_config(cfg: &MqttConfig) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| pem_err("cannot read CA file", path, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| pem_err("bad PEM in CA file", path, e))?;
            if certs.is_empty() {
                return Err(pem_err("CA file", path, "holds no CERTIFICATE block"));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| pem_err("unusable CA certificate in", path, e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(TlsError::NoRoots);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert_file, &cfg.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| pem_err("cannot read client certificate", cert, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| pem_err("bad PEM in client certificate", cert, e))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| pem_err("cannot read client key", key, e))?;
            builder.with_client_auth_cert(chain, key)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
