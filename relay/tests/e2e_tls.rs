//! The agent reaches a relay that terminates TLS itself, under a private CA:
//! with `[relay] ca_file` its alerts are accepted; without it, nothing is
//! sent and `status` says the certificate is not trusted and what to set.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::agent_proc::{poll, AgentProc};
use common::relay_proc::RelayProc;

const PATIENCE: Duration = Duration::from_secs(40);

/// A relay on HTTPS with a fresh self-signed certificate; returns it and the cert's path.
fn tls_relay() -> (RelayProc, std::path::PathBuf) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let relay = RelayProc::new();
    let cert = relay.dir().join("cert.pem");
    let key = relay.dir().join("key.pem");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let mut relay = relay.with_server(&format!(
        "tls_cert_file = '{}'\ntls_key_file = '{}'\n",
        cert.display(),
        key.display()
    ));
    relay.spawn();
    let port = relay.port();
    poll(Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .unwrap_or_else(|| panic!("the relay never listened:\n{}", relay.log_text()));
    (relay, cert)
}

/// `ca_file` goes first in the body, so it lands in `[relay]`.
fn agent(relay: &RelayProc, token: &str, ca_file: Option<&std::path::Path>) -> AgentProc {
    let url = format!("https://127.0.0.1:{}", relay.port());
    let ca = ca_file
        .map(|p| format!("ca_file = '{}'\n\n", p.display()))
        .unwrap_or_default();
    AgentProc::new("tls-gw", &url, token, "1s").with(&format!(
        "{ca}[[sensor]]\nid = \"room\"\nkind = \"sim\"\nvalue = 35.0\ninterval = \"200ms\"\n\n\
         [[rule]]\nid = \"hot\"\nsensors = \"room\"\nabove = 30.0\n"
    ))
}

#[test]
fn a_private_ca_is_trusted_through_ca_file() {
    let (relay, cert) = tls_relay();
    let token = relay.add_gateway("tls-gw");
    let mut a = agent(&relay, &token, Some(&cert));
    a.start();
    let st = a.wait_status("the firing accepted over HTTPS", PATIENCE, |s| {
        s["relay"]["state"] == "ok"
            && s["relay"]["delivered"].as_u64() >= Some(1)
            && s["outbox"] == 0
    });
    assert_eq!(st["relay"]["failures"], 0, "{st:#}");
    let log = relay.log_text();
    assert!(
        log.contains("(HTTPS)") && log.contains("events accepted"),
        "{log}"
    );
}

#[test]
fn an_untrusted_certificate_is_reported_with_the_fix() {
    let (relay, _cert) = tls_relay();
    let token = relay.add_gateway("tls-gw");
    let mut a = agent(&relay, &token, None);
    a.start();
    let st = a.wait_status("the TLS failure in status", PATIENCE, |s| {
        s["relay"]["state"] == "retrying" && s["outbox"].as_u64() >= Some(1)
    });
    let err = st["relay"]["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("ca_file"), "the hint names the fix: {err}");
    assert!(
        !relay.log_text().contains("events accepted"),
        "{}",
        relay.log_text()
    );
}
