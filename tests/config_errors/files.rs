//! The files a config names (token, password, CA, client certificate and
//! key), checked by the real binary: `check-config` reports each problem at
//! the key that names the file, and `run` stops with the same lines (exit 2)
//! before it starts anything (exit 2, which the systemd unit does not retry)
//! instead of failing later, in a restart loop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, CliOutput, BIN};

/// A config in a temporary directory, and where its files go.
struct Rig {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            dir: tempfile::tempdir().unwrap(),
            config: PathBuf::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the config: `[agent]` on lines 1-2, then `sections` from line 4,
    /// then one sim sensor.
    fn write(&mut self, sections: &[&str]) -> &Path {
        let mut lines = vec![
            "[agent]".to_string(),
            format!("data_dir = '{}'", self.data_dir().display()),
            String::new(),
        ];
        lines.extend(sections.iter().map(|s| s.to_string()));
        lines.extend(
            [
                "",
                "[[sensor]]",
                "id = \"s1\"",
                "kind = \"sim\"",
                "value = 20.0",
            ]
            .map(String::from),
        );
        self.config = self.path("edgetherm.toml");
        std::fs::write(&self.config, lines.join("\n") + "\n").unwrap();
        &self.config
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    fn check(&self) -> CliOutput {
        common::cli(&["check-config", self.config.to_str().unwrap()])
    }

    /// `file:line:col: ` of an error in this config.
    fn at(&self, line: usize, column: usize) -> String {
        format!("{}:{line}:{column}: ", self.config.display())
    }
}

/// `[relay]` on lines 4-7 with a loopback URL, `token_file` (col 14) and `ca_file` (col 11).
fn relay(token: &Path, ca: &Path) -> [String; 4] {
    [
        "[relay]".into(),
        "url = \"http://127.0.0.1:9\"".into(),
        format!("token_file = '{}'", token.display()),
        format!("ca_file = '{}'", ca.display()),
    ]
}

fn refs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// A self-signed CA certificate (PEM) and its key (PEM).
fn ca_pem() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Exit 2 and exactly these errors on stderr, then the count line.
#[track_caller]
fn assert_invalid(out: &CliOutput, config: &Path, errors: &[String]) {
    assert_eq!(out.code, Some(2), "{out:?}");
    let n = errors.len();
    let mut want: String = errors.iter().map(|e| format!("{e}\n")).collect();
    want.push_str(&format!(
        "{}: invalid ({n} error{})\n",
        config.display(),
        if n == 1 { "" } else { "s" }
    ));
    assert_eq!(out.stderr, want);
    assert!(out.stdout.is_empty(), "{out:?}");
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_missing_ca_file_fails_check_config_at_its_key() {
    let mut rig = Rig::new();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    let ca = rig.path("relay-ca.pem");
    rig.write(&refs(&relay(&token, &ca)));
    let out = rig.check();
    assert_invalid(
        &out,
        &rig.config,
        &[format!(
            "{}[relay] ca_file: {} does not exist: create it (with the CA certificate(s) in PEM form in it), or fix the path",
            rig.at(7, 11),
            ca.display()
        )],
    );
}

#[test]
fn run_with_a_missing_ca_file_stops_before_starting_with_the_same_error() {
    let mut rig = Rig::new();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    let ca = rig.path("relay-ca.pem");
    rig.write(&refs(&relay(&token, &ca)));
    let want = format!(
        "{}[relay] ca_file: {} does not exist: create it (with the CA certificate(s) in PEM form in it), or fix the path",
        rig.at(7, 11),
        ca.display()
    );
    // `cli` gives up (and fails the test) if the agent is still running
    // after its deadline: `run` must exit on its own.
    let out = common::cli(&["run", "--config", rig.config.to_str().unwrap()]);
    assert_invalid(&out, &rig.config, std::slice::from_ref(&want));
    assert!(
        !rig.data_dir().exists(),
        "run got as far as the store before failing"
    );
    // check-config says exactly the same.
    assert_invalid(&rig.check(), &rig.config, &[want]);
}

#[test]
fn a_directory_where_a_file_belongs() {
    let mut rig = Rig::new();
    let dir = rig.path("certs");
    std::fs::create_dir(&dir).unwrap();
    rig.write(&[
        "[mqtt]",
        "url = \"mqtts://127.0.0.1:8883\"",
        &format!("ca_file = '{}'", dir.display()),
        &format!("password_file = '{}'", dir.display()),
    ]);
    let out = rig.check();
    assert_invalid(
        &out,
        &rig.config,
        &[
            format!(
                "{}[mqtt] ca_file: {} is a directory: expected a file with the CA certificate(s) in PEM form in it; fix the path",
                rig.at(6, 11),
                dir.display()
            ),
            format!(
                "{}[mqtt] password_file: {} is a directory: expected a file with the broker password in it; fix the path",
                rig.at(7, 17),
                dir.display()
            ),
        ],
    );
}

#[test]
fn a_ca_file_without_a_pem_certificate() {
    let mut rig = Rig::new();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    let ca = rig.path("relay-ca.pem");
    // A key is PEM, but not a certificate.
    let (_, key) = ca_pem();
    std::fs::write(&ca, key).unwrap();
    rig.write(&refs(&relay(&token, &ca)));
    let no_cert = format!(
        "{}[relay] ca_file: {} holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` block): expected the CA certificate(s) in PEM form (a DER file converts with `openssl x509 -inform der -in CERT.der -out CERT.pem`)",
        rig.at(7, 11),
        ca.display()
    );
    assert_invalid(&rig.check(), &rig.config, std::slice::from_ref(&no_cert));

    std::fs::write(&ca, "").unwrap();
    assert_invalid(&rig.check(), &rig.config, &[no_cert]);

    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = rig.check();
    assert_eq!(out.code, Some(2), "{out:?}");
    let prefix = format!(
        "{}[relay] ca_file: {} holds a damaged PEM block (",
        rig.at(7, 11),
        ca.display()
    );
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("): expected the CA certificate(s) in PEM form\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn client_certificate_and_key_files() {
    let mut rig = Rig::new();
    let (cert, key) = ca_pem();
    let cert_file = rig.path("client.pem");
    let key_file = rig.path("client.key");
    // Swapped: the certificate where the key belongs and the other way round.
    std::fs::write(&cert_file, &key).unwrap();
    std::fs::write(&key_file, &cert).unwrap();
    rig.write(&[
        "[mqtt]",
        "url = \"mqtts://127.0.0.1:8883\"",
        &format!("client_cert_file = '{}'", cert_file.display()),
        &format!("client_key_file = '{}'", key_file.display()),
    ]);
    assert_invalid(
        &rig.check(),
        &rig.config,
        &[
            format!(
                "{}[mqtt] client_cert_file: {} holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` block): expected the client certificate in PEM form (a DER file converts with `openssl x509 -inform der -in CERT.der -out CERT.pem`)",
                rig.at(6, 20),
                cert_file.display()
            ),
            format!(
                "{}[mqtt] client_key_file: {} holds no PEM private key (no `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block): expected the client's private key in PEM form",
                rig.at(7, 19),
                key_file.display()
            ),
        ],
    );

    // The right way round, every file is fine.
    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let out = rig.check();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(": valid\n"), "{out:?}");
}

#[test]
fn good_files_pass_and_an_empty_token_does_not() {
    let mut rig = Rig::new();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    let ca = rig.path("relay-ca.pem");
    std::fs::write(&ca, ca_pem().0).unwrap();
    rig.write(&refs(&relay(&token, &ca)));
    let out = rig.check();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");

    std::fs::write(&token, "\n").unwrap();
    assert_invalid(
        &rig.check(),
        &rig.config,
        &[format!(
            "{}[relay] token_file: {} is empty: put the gateway token printed by `edgetherm-relay gateway add <gateway_id>` in it",
            rig.at(6, 14),
            token.display()
        )],
    );
}

#[test]
fn file_errors_come_with_the_other_errors_in_file_order() {
    let mut rig = Rig::new();
    let token = rig.path("missing.token");
    let ca = rig.path("missing-ca.pem");
    let mut lines = relay(&token, &ca).to_vec();
    lines.push("heartbeat = \"soon\"".into()); // line 8: a parse error
    rig.write(&refs(&lines));
    let out = rig.check();
    assert_eq!(out.code, Some(2), "{out:?}");
    let located: Vec<String> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{}:", rig.config.display())))
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(at, rest)| {
            let key_end = rest.find(": ")?;
            Some(format!("{at} {}", &rest[..key_end]))
        })
        .collect();
    assert_eq!(
        located,
        [
            "6:14 [relay] token_file",
            "7:11 [relay] ca_file",
            "8:13 [relay] heartbeat"
        ],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with("invalid (3 errors)\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn relative_paths_are_taken_from_the_working_directory() {
    let mut rig = Rig::new();
    std::fs::write(rig.path("relay.token"), "etg_token\n").unwrap();
    rig.write(&refs(&relay(
        Path::new("relay.token"),
        Path::new("ca/relay.pem"),
    )));
    let run_in = |dir: &Path| {
        let out = Command::new(BIN)
            .args(["check-config", rig.config.to_str().unwrap()])
            .current_dir(dir)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, stderr) = run_in(rig.dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "{}[relay] ca_file: ca/relay.pem (relative to the working directory, so {}) does not exist: create it (with the CA certificate(s) in PEM form in it), or fix the path",
            rig.at(7, 11),
            rig.path("ca/relay.pem").display()
        )
    );
    assert!(stderr.contains("invalid (1 error)"), "{stderr}");

    // From elsewhere, the token is not found either.
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, stderr) = run_in(elsewhere.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "[relay] token_file: relay.token (relative to the working directory, so {}) does not exist",
            elsewhere.path().join("relay.token").display()
        )),
        "{stderr}"
    );
}

/// The id of this process's user, as the binary names it.
fn user_part() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let name = Command::new("id").arg("-un").output().unwrap();
    let name = String::from_utf8(name.stdout).unwrap();
    format!("user {} (uid {uid})", name.trim())
}

#[test]
fn an_unreadable_token_file_names_the_user_and_the_fix() {
    if running_as_root() {
        println!("skipped: running as root (root reads a mode 000 file)");
        return;
    }
    let mut rig = Rig::new();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o000)).unwrap();
    let ca = rig.path("ca.pem");
    std::fs::write(&ca, ca_pem().0).unwrap();
    rig.write(&refs(&relay(&token, &ca)));
    let user = user_part();
    let chown = user
        .strip_prefix("user ")
        .and_then(|u| u.split(' ').next())
        .unwrap()
        .to_string();
    assert_invalid(
        &rig.check(),
        &rig.config,
        &[format!(
            "{}[relay] token_file: {t} is not readable by {user}, who runs this: make it readable by that user, e.g. `chown {chown} {t}` then `chmod u+r {t}`",
            rig.at(6, 14),
            t = token.display()
        )],
    );
}

#[test]
fn a_file_behind_a_closed_directory_names_the_directories() {
    if running_as_root() {
        println!("skipped: running as root (root enters a mode 000 directory)");
        return;
    }
    let mut rig = Rig::new();
    let locked = rig.path("locked");
    std::fs::create_dir(&locked).unwrap();
    let ca = locked.join("ca.pem");
    std::fs::write(&ca, ca_pem().0).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let token = rig.path("relay.token");
    std::fs::write(&token, "etg_token\n").unwrap();
    rig.write(&refs(&relay(&token, &ca)));
    let out = rig.check();
    // Open again so that the temporary directory can be removed.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_invalid(
        &out,
        &rig.config,
        &[format!(
            "{}[relay] ca_file: cannot reach {c}: {} may not enter a directory on the way: give it search (x) permission on each one (`namei -l {c}` lists them)",
            rig.at(7, 11),
            user_part(),
            c = ca.display()
        )],
    );
}
