//! The PostgreSQL harness (tests/common/postgres.rs) works: a cluster
//! answers at its URL, keeps committed rows through a crash and a restart,
//! and can be switched to password authentication.

mod common;

use std::process::{Command, Output};

use common::postgres::Postgres;

/// `/usr/bin/psql` against `url` over TCP, never prompting for a password.
fn psql_url(url: &str, sql: &str, password: Option<&str>) -> Output {
    let mut c = Command::new("/usr/bin/psql");
    c.args(["-X", "-A", "-t", "-w", "-d", url, "-c", sql])
        .env("PGPASSFILE", "/dev/null")
        .env("PGCONNECT_TIMEOUT", "10");
    match password {
        Some(p) => c.env("PGPASSWORD", p),
        None => c.env_remove("PGPASSWORD"),
    };
    c.output().expect("run /usr/bin/psql")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn select_1_over_the_url() {
    let Some(pg) = Postgres::start("select_1_over_the_url") else {
        return;
    };
    let out = psql_url(&pg.url(), "SELECT 1", None);
    assert!(
        out.status.success(),
        "psql -d {}: {}",
        pg.url(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "1");
}

#[test]
fn crash_restart_and_password() {
    let Some(mut pg) = Postgres::start("crash_restart_and_password") else {
        return;
    };
    let port = pg.port();
    pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (42)");

    pg.kill_hard();
    assert!(!psql_url(&pg.url(), "SELECT 1", None).status.success());
    pg.start_again();
    assert_eq!(pg.psql("SELECT v FROM t"), "42");
    assert_eq!(pg.port(), port);

    pg.stop();
    pg.stop();
    pg.start_again();

    pg.set_password("edgetherm", "it's a secret");
    pg.require_password();
    let out = psql_url(&pg.url(), "SELECT 1", None);
    assert!(!out.status.success(), "no password, yet: {}", stdout(&out));
    let out = psql_url(&pg.url(), "SELECT 1", Some("wrong"));
    assert!(
        !out.status.success(),
        "wrong password, yet: {}",
        stdout(&out)
    );
    let out = psql_url(&pg.url(), "SELECT 1", Some("it's a secret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "1");
    // The harness's own psql goes through the socket, still trusted.
    assert_eq!(pg.psql("SELECT 2"), "2");
}
