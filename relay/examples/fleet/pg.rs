//! The benchmark's own PostgreSQL 15 cluster: a temp dir, trust on
//! 127.0.0.1, run as the `postgres` user (initdb and postgres refuse root);
//! its CPU by process and its table sizes.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{free_port, run, stat, DB, PG_BIN};

pub(super) struct Pg {
    pub(super) dir: tempfile::TempDir,
    pub(super) port: u16,
}

impl Pg {
    pub(super) fn start() -> Pg {
        let (dir, port) = (tempfile::tempdir().expect("temp dir"), free_port());
        // initdb and postgres refuse to run as root.
        let mut chown = Command::new("chown");
        run(chown.args(["-R", "postgres:"]).arg(dir.path()), "chown");
        // Built before anything can fail, so that Drop stops a started server.
        let pg = Pg { dir, port };
        let d = pg.dir.path().to_str().expect("a UTF-8 temp dir");
        let data = format!("{d}/data");
        // --no-sync only skips initdb's own final sync; the server runs fsync=on.
        let init = "-A trust -U edgetherm -E UTF8 --no-locale --no-sync -D";
        run(pg.server("initdb", init).arg(&data), "initdb");
        let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k '{d}' -c fsync=on");
        let mut ctl = pg.server("pg_ctl", "-w -t 60 -l");
        ctl.arg(format!("{d}/postgres.log"))
            .args(["-D", &data, "-o", &opts]);
        run(ctl.arg("start"), "pg_ctl start");
        pg.sql_in("postgres", &format!("CREATE DATABASE {DB}"));
        pg
    }

    /// A server program, run as the OS user postgres, with `args`.
    pub(super) fn server(&self, program: &str, args: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join(program));
        // The server user may not be allowed into our working directory.
        c.current_dir(self.dir.path()).env("LC_ALL", "C");
        c.args(args.split(' '));
        c
    }

    pub(super) fn psql(&self, database: &str) -> Command {
        let mut c = Command::new(Path::new(PG_BIN).join("psql"));
        c.args("-X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U".split(' '));
        c.args([DB, "-p", &self.port.to_string(), "-d", database]);
        c.env("PGCONNECT_TIMEOUT", "10");
        c.env("PGOPTIONS", "-c statement_timeout=120s");
        c
    }

    pub(super) fn sql_in(&self, database: &str, sql: &str) -> String {
        let mut c = self.psql(database);
        let o = run(c.args(["-c", sql]), &format!("psql {sql}"));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// One row of numbers, `|`-separated as psql -A prints them.
    pub(super) fn numbers(&self, sql: &str) -> Vec<i64> {
        let out = self.sql_in(DB, sql);
        let parse = |v: &str| v.parse().unwrap_or_else(|_| panic!("{sql}: {out:?}"));
        out.split('|').map(parse).collect()
    }

    pub(super) fn copy(&self, target: &str, rows: &str) {
        let mut c = self.psql(DB);
        c.args(["-c", &format!("COPY {target} FROM STDIN")]);
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.stderr(Stdio::piped()).spawn().expect("psql");
        let sent = child.stdin.take().unwrap().write_all(rows.as_bytes());
        let o = child.wait_with_output().expect("psql");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "COPY {target}: {sent:?} {err}");
    }

    /// The cluster's CPU ticks (children that exited count through the
    /// postmaster's cutime/cstime), and each live child's (kind, ticks).
    pub(super) fn cpu(&self) -> (u64, HashMap<u32, (&'static str, u64)>) {
        let pidfile = self.dir.path().join("data/postmaster.pid");
        let pidfile = std::fs::read_to_string(pidfile).unwrap_or_default();
        let pm = pidfile.lines().next().and_then(|l| l.trim().parse().ok());
        let pm: u32 = pm.expect("a postmaster.pid");
        let (own, reaped, _) = stat(pm).expect("postmaster running");
        let (mut total, mut kids) = (own + reaped, HashMap::new());
        let procs = std::fs::read_dir("/proc").expect("/proc").flatten();
        for e in procs.take(1 << 22) {
            let pid = e.file_name().to_str().and_then(|s| s.parse().ok());
            let Some((pid, (t, _, ppid))) = pid.and_then(|p| Some((p, stat(p)?))) else {
                continue;
            };
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"));
            let cmd = cmd.unwrap_or_default();
            let kind = match () {
                _ if ppid != pm => continue,
                _ if cmd.starts_with("postgres: edgetherm ") => "backends",
                _ if cmd.contains("autovacuum") => "autovacuum",
                _ if cmd.contains("walwriter") => "walwriter",
                _ if cmd.contains("checkpointer") => "checkpointer",
                _ => "other",
            };
            total += t;
            kids.insert(pid, (kind, t));
        }
        (total, kids)
    }

    pub(super) fn sizes(&self) -> Vec<i64> {
        let tables = ["heartbeats", "events", "pending", "gateways"];
        let size = tables.map(|t| format!("pg_total_relation_size('{t}')"));
        let size = size.join(", ");
        self.numbers(&format!("SELECT pg_database_size('{DB}'), {size}"))
    }

    pub(super) fn beat_stats(&self) -> Vec<i64> {
        self.numbers(
            "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup, autovacuum_count
             FROM pg_stat_user_tables WHERE relname = 'heartbeats'",
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if data.join("postmaster.pid").exists() {
            let panicking = std::thread::panicking();
            let mode = if panicking { "immediate" } else { "fast" };
            let mut ctl = self.server("pg_ctl", "-w -t 60 stop -m");
            let _ = ctl.arg(mode).arg("-D").arg(&data).output();
        }
    }
}
