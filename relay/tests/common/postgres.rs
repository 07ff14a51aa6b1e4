//! A throwaway PostgreSQL cluster for one test (superuser and database
//! `edgetherm`, trust authentication, a free loopback port), restartable on
//! the same port; stopped and removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

const SUPERUSER: &str = "edgetherm";
const DATABASE: &str = "edgetherm";
const PREFERRED_BIN: &str = "/usr/lib/postgresql/15/bin";
const LOOKED_IN: &str = "/usr/lib/postgresql/15/bin, /usr/lib/postgresql/*/bin, PATH";
const REQUIRE_VAR: &str = "EDGETHERM_REQUIRE_POSTGRES";
const LOG: &str = "postgres.log";
const BINARIES: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A PostgreSQL server of its own for one test.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// The OS user initdb and pg_ctl run as when we are root (they refuse root).
    run_as: Option<&'static str>,
    port: u16,
    running: bool,
}

impl Postgres {
    /// Starts a fresh cluster, or returns `None` (after printing why) when
    /// PostgreSQL is not installed and `EDGETHERM_REQUIRE_POSTGRES=1` is not
    /// set; panics when it is, or when an installed server fails to start.
    pub fn start(test: &str) -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
                panic!("{test}: PostgreSQL is not installed (looked in {LOOKED_IN}) but {REQUIRE_VAR}=1");
            }
            eprintln!("{test}: skipped: PostgreSQL not installed (looked in {LOOKED_IN}; set {REQUIRE_VAR}=1 to make this a failure)");
            return None;
        };
        let (pid, seq) = (std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let nanos = UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("edgetherm-pg-{pid}-{seq}-{nanos}"));
        std::fs::create_dir_all(dir.join("sock"))
            .unwrap_or_else(|e| panic!("{test}: create {}: {e}", dir.display()));
        // Built before anything can fail, so that Drop cleans up after a panic.
        let mut pg = Postgres {
            bin,
            dir,
            run_as: server_user(),
            port: 0,
            running: false,
        };
        if let Some(user) = pg.run_as {
            let mut chown = Command::new("chown");
            chown.args(["-R", &format!("{user}:")]).arg(&pg.dir);
            run(&mut chown, "chown").unwrap_or_else(|e| panic!("{test}: {e}"));
        }
        // --no-locale: the C collation needs no OS locale installed in CI.
        let mut initdb = pg.as_server("initdb");
        initdb.arg("-D").arg(pg.path("data"));
        initdb.args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8"]);
        initdb.args(["--no-locale", "--no-sync"]);
        if let Err(e) = run(&mut initdb, "initdb") {
            // As root, a TMPDIR the server user cannot enter fails here.
            panic!("{test}: {e}(as OS user {:?})", pg.run_as.unwrap_or("self"));
        }
        // A bind-and-release port may be taken before the server binds it.
        for attempt in 1..=5 {
            pg.port = free_port();
            match pg.pg_ctl_start() {
                Ok(()) => break,
                Err(e) if attempt < 5 && e.contains("already in use") => {
                    eprintln!("{test}: port {} was taken; retrying on another", pg.port)
                }
                Err(e) => panic!("{test}: PostgreSQL did not start: {e}"),
            }
        }
        pg.psql_in("postgres", &format!("CREATE DATABASE {DATABASE}"));
        Some(pg)
    }

    /// The URL a client connects with (no password; see `require_password`).
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The server's TCP port on 127.0.0.1; the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` in database `edgetherm`: trimmed output, or a panic with stderr.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(DATABASE, sql)
    }

    /// Sets the password of role `user` (for a later `require_password`).
    pub fn set_password(&self, user: &str, password: &str) {
        let ident = format!("\"{}\"", user.replace('"', "\"\""));
        let literal = format!("'{}'", password.replace('\'', "''"));
        self.psql(&format!("ALTER ROLE {ident} PASSWORD {literal}"));
    }

    /// Makes TCP logins use scram-sha-256; the socket (`psql`'s) stays trusted.
    pub fn require_password(&self) {
        let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
        let path = self.path("data/pg_hba.conf");
        // Rewriting in place keeps the file's owner (the server user).
        std::fs::write(&path, hba).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.pg_ctl(&["reload"]).unwrap_or_else(|e| panic!("{e}"));
        // A reload is only a signal: wait until a password-less login is refused.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut c = Command::new(self.bin.join("psql"));
            c.args(["-X", "-w", "-d", &self.url(), "-c", "SELECT 1"]);
            c.env_remove("PGPASSWORD").env("PGPASSFILE", "/dev/null");
            if run(&mut c, "psql").is_err_and(|e| e.contains("password")) {
                return;
            }
            if Instant::now() > deadline {
                let (port, log) = (self.port, self.log_tail());
                panic!("port {port}: password-less logins still work 30 s after the reload; server log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Serves TLS with this certificate and key (PEM) and refuses every
    /// TCP login that is not TLS with a password: `hostssl` + scram-sha-256.
    pub fn require_tls_and_password(&self, cert_pem: &str, key_pem: &str) {
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = self.path(&format!("data/{name}"));
            std::fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            // The server refuses a key others can read.
            let mut chmod = Command::new("chmod");
            chmod.arg("600").arg(&path);
            run(&mut chmod, "chmod").unwrap_or_else(|e| panic!("{e}"));
            if let Some(user) = self.run_as {
                let mut chown = Command::new("chown");
                chown.arg(format!("{user}:")).arg(&path);
                run(&mut chown, "chown").unwrap_or_else(|e| panic!("{e}"));
            }
        }
        self.psql("ALTER SYSTEM SET ssl = on");
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n";
        let path = self.path("data/pg_hba.conf");
        std::fs::write(&path, hba).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.pg_ctl(&["reload"]).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql("SHOW ssl") != "on" {
            assert!(
                Instant::now() < deadline,
                "ssl still off 30 s after the reload:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Shuts the server down cleanly (`pg_ctl stop -m fast`); idempotent.
    pub fn stop(&mut self) {
        self.pg_ctl_stop("fast");
    }

    /// Stops the server as a crash would (`-m immediate`: recovery on restart).
    pub fn kill_hard(&mut self) {
        self.pg_ctl_stop("immediate");
    }

    /// Starts the stopped server again on the same port and data directory.
    pub fn start_again(&mut self) {
        assert!(!self.running, "already running on port {}", self.port);
        // The port may have been grabbed meanwhile: wait a bit, don't move.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.pg_ctl_start() {
                Ok(()) => return,
                Err(e) if e.contains("already in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500))
                }
                Err(e) => panic!("PostgreSQL did not start again on port {}: {e}", self.port),
            }
        }
    }

    /// The last lines of the server's log (all starts).
    pub fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(self.path(LOG)).unwrap_or_default())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A command for one of the server binaries, as the user allowed to run it.
    fn as_server(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        // The server user may not be allowed into the test's working dir;
        // LC_ALL=C keeps messages in English ("already in use" is matched).
        c.current_dir(&self.dir).env("LC_ALL", "C");
        c
    }

    // Over the socket: it stays trusted after `require_password`.
    fn psql_in(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p", &port]);
        c.arg("-h").arg(self.path("sock"));
        c.args(["-U", SUPERUSER, "-d", database, "-c", sql]);
        c.env("PGCONNECT_TIMEOUT", "10");
        c.env("PGOPTIONS", "-c statement_timeout=60s");
        match run(&mut c, "psql") {
            Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            Err(e) => panic!("{e}\nSQL: {sql}"),
        }
    }

    fn pg_ctl_start(&mut self) -> Result<(), String> {
        let log = self.path(LOG).display().to_string();
        let seen = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        // pg_ctl hands -o to a shell, so the socket path is quoted.
        let sock = self.path("sock");
        let sock = sock.to_string_lossy().replace('\'', r"'\''");
        let port = self.port;
        let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k '{sock}' -c fsync=on -c max_connections=100");
        let started = self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &opts, "start"]);
        self.running = started.is_ok();
        started.map(drop).map_err(|e| {
            // This start's part only: an earlier "already in use" is not ours.
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let new = log.get(seen..).unwrap_or(&log);
            format!("{e}\nserver log:\n{}", tail(new))
        })
    }

    fn pg_ctl_stop(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        if let Err(e) = self.pg_ctl(&["-w", "-t", "60", "-m", mode, "stop"]) {
            panic!("{e}\nserver log:\n{}", self.log_tail());
        }
        self.running = false;
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output, String> {
        let mut c = self.as_server("pg_ctl");
        c.arg("-D").arg(self.path("data")).args(args);
        run(&mut c, &format!("pg_ctl {}", args.last().unwrap_or(&"")))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The pid file, not `running`: a timed-out start may leave a server.
        if self.path("data/postmaster.pid").exists() {
            let _ = self.pg_ctl(&["-w", "-t", "60", "-m", "immediate", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first directory holding the server binaries and psql: version 15's,
/// else the newest under /usr/lib/postgresql, else one on PATH.
fn bin_dir() -> Option<PathBuf> {
    if complete(Path::new(PREFERRED_BIN)) {
        return Some(PathBuf::from(PREFERRED_BIN));
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((version(e.file_name().to_str()?)?, e.path().join("bin"))))
        .filter(|(_, d)| complete(d))
        .max();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = || std::env::split_paths(&path).find(|d| complete(d));
    newest.map(|(_, d)| d).or_else(on_path)
}

fn complete(dir: &Path) -> bool {
    BINARIES.iter().all(|b| dir.join(b).is_file())
}

// Compared as numbers, so that 15 beats 9.6.
fn version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

/// `None` unless we are root, which initdb and postgres refuse to run as.
fn server_user() -> Option<&'static str> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let exists = |u: &&str| run(Command::new("id").args(["-u", u]), "id").is_ok();
    Some(["postgres"].into_iter().find(exists).unwrap_or("nobody"))
}

fn run(c: &mut Command, what: &str) -> Result<Output, String> {
    let o = c.output().map_err(|e| format!("{what}: {e}"))?;
    if o.status.success() {
        return Ok(o);
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    Err(format!("{what} failed ({}):\n{out}{err}", o.status))
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}
