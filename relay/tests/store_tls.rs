//! The relay's connection to PostgreSQL: a password from `password_file`,
//! and TLS through rustls (`require`, `verify-full` against `ca_file`),
//! against a real server that accepts nothing else over TCP.

mod common;

use std::path::Path;
use std::time::Duration;

use common::postgres::Postgres;
use edgetherm_relay::config::{BackendKind, Interval, StoreConfig, TlsMode};
use edgetherm_relay::store::Store;

const PASSWORD: &str = "s3cret 'with' spaces";

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost.
fn ca_and_server() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "edgetherm test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn config(pg: &Postgres, dir: &Path, tls: TlsMode, ca: Option<&str>) -> StoreConfig {
    let password_file = dir.join("db.password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let ca_file = ca.map(|pem| {
        let p = dir.join("ca.pem");
        std::fs::write(&p, pem).unwrap();
        p
    });
    StoreConfig {
        backend: BackendKind::Postgres,
        url: Some(pg.url()),
        password_file: Some(password_file),
        tls: Some(tls),
        ca_file,
        timeout: Some(Interval(Some(Duration::from_secs(5)))),
        ..StoreConfig::default()
    }
}

fn open(cfg: &StoreConfig, dir: &Path) -> Result<Store, String> {
    Store::from_config(cfg, dir).map_err(|e| e.to_string())
}

#[test]
fn tls_and_a_password_file_reach_a_server_that_demands_both() {
    let Some(pg) = Postgres::start("tls_and_a_password_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_server();
    pg.set_password("edgetherm", PASSWORD);
    pg.require_tls_and_password(&cert, &key);

    // verify-full against the CA that signed the server's certificate.
    let store = open(
        &config(&pg, dir.path(), TlsMode::VerifyFull, Some(&ca)),
        dir.path(),
    )
    .expect("verify-full with the right CA");
    store.add_gateway("gw1").unwrap();
    let encrypted = pg.psql(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
         WHERE ssl AND application_name = 'edgetherm-relay'",
    );
    assert_ne!(encrypted, "0", "the relay's connections use TLS");

    // require: encrypted, certificate not checked.
    let store = open(&config(&pg, dir.path(), TlsMode::Require, None), dir.path())
        .expect("require without a CA");
    assert_eq!(store.gateways().unwrap().len(), 1);

    // Plain TCP is refused by this server, and says so.
    let err = open(&config(&pg, dir.path(), TlsMode::Disable, None), dir.path())
        .err()
        .expect("a plain connection to a hostssl-only server");
    assert!(err.contains("relay store postgres://127.0.0.1"), "{err}");

    // verify-full against another CA: refused, naming the certificate.
    let (other_ca, _, _) = ca_and_server();
    let err = open(
        &config(&pg, dir.path(), TlsMode::VerifyFull, Some(&other_ca)),
        dir.path(),
    )
    .err()
    .expect("a server certificate from an unknown CA");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // A wrong password is refused.
    let cfg = config(&pg, dir.path(), TlsMode::VerifyFull, Some(&ca));
    std::fs::write(cfg.password_file.as_ref().unwrap(), "wrong\n").unwrap();
    let err = open(&cfg, dir.path()).err().expect("a wrong password");
    assert!(err.contains("password"), "{err}");
}

#[test]
fn a_ca_file_that_is_not_pem_is_a_config_error_naming_it() {
    let Some(pg) = Postgres::start("a_ca_file_that_is_not_pem") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &pg,
        dir.path(),
        TlsMode::VerifyFull,
        Some("not a certificate"),
    );
    let err = open(&cfg, dir.path())
        .err()
        .expect("a CA file without certificates");
    assert!(err.contains("ca_file"), "{err}");
    assert!(err.contains("ca.pem"), "{err}");
}
