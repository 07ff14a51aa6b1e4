//! The relay binary as a process, the way it runs in production: its own
//! relay.toml, data_dir and port (in a temp dir), started, SIGKILLed and
//! started again on the same data_dir and port, its stderr kept per
//! incarnation for failure messages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fake_teams::{FakeTeams, TENANT};
use super::http::{free_port, http};

const BIN: &str = env!("CARGO_BIN_EXE_edgetherm-relay");

/// A relay process on 127.0.0.1, restartable on the same config; killed on drop.
pub struct RelayProc {
    dir: tempfile::TempDir,
    port: u16,
    /// The `[bot]` section, if the relay talks to a fake Teams.
    bot: Option<String>,
    /// Whatever the test appends to relay.toml.
    extra: String,
    /// Extra keys inside `[server]` (e.g. TLS files).
    server_extra: String,
    child: Option<Child>,
    /// RLIMIT_NOFILE for the relay process, if the test sets one.
    nofile: Option<u64>,
    logs: Vec<PathBuf>,
    /// Incarnations that had exited before we killed them.
    died: Vec<String>,
}

impl RelayProc {
    /// A relay to be: a fresh temp dir and a free port; nothing runs yet.
    pub fn new() -> RelayProc {
        RelayProc {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            bot: None,
            extra: String::new(),
            server_extra: String::new(),
            child: None,
            nofile: None,
            logs: Vec::new(),
            died: Vec::new(),
        }
    }

    /// Sends to `fake` (app `app`, tenant [`TENANT`]), and accepts
    /// unauthenticated activities on /api/messages so tests can post them.
    pub fn with_teams(mut self, fake: &FakeTeams) -> RelayProc {
        let secret = self.dir.path().join("secret");
        std::fs::write(&secret, "not-a-real-secret\n").unwrap();
        self.bot = Some(format!(
            "[bot]\napp_id = \"app\"\napp_secret_file = '{}'\ntenant_id = \"{TENANT}\"\n\
             login_url = \"{}\"\nallow_unauthenticated = true\n",
            secret.display(),
            fake.base()
        ));
        self
    }

    /// Appends `toml` (whole sections, e.g. `[routing]`) to relay.toml.
    pub fn with_config(mut self, toml: &str) -> RelayProc {
        self.extra.push_str(toml);
        self
    }

    /// Adds `key = value` lines to `[server]` (e.g. `tls_cert_file`).
    pub fn with_server(mut self, lines: &str) -> RelayProc {
        self.server_extra.push_str(lines);
        self
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: what an agent's `[relay] url` points at.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The temp dir holding relay.toml, data/ and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// relay.toml (written before every run of the binary).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("relay.toml")
    }

    /// The relay's data_dir (store and admin socket).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn write_config(&self) {
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\ndata_dir = '{}'\n{}\n",
            self.port,
            self.data_dir().display(),
            self.server_extra
        );
        if let Some(bot) = &self.bot {
            toml += bot;
        }
        toml += &self.extra;
        std::fs::write(self.config_path(), toml).unwrap();
    }

    /// Runs `edgetherm-relay <args> -c relay.toml` → (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.write_config();
        let out = Command::new(BIN)
            .args(args)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `gateway add <id>` (through the admin socket while serving) → its token.
    pub fn add_gateway(&self, id: &str) -> String {
        let (code, out, err) = self.cli(&["gateway", "add", id]);
        assert_eq!(code, 0, "gateway add {id}: {err}");
        out.lines().last().unwrap().trim().to_string()
    }

    /// Runs the relay with this descriptor limit (as systemd's LimitNOFILE).
    pub fn with_nofile(mut self, limit: u64) -> RelayProc {
        self.nofile = Some(limit);
        self
    }

    /// Spawns `serve` without waiting for it to listen (logs to relay-<n>.log).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "the relay is already running");
        self.write_config();
        let log = self
            .dir
            .path()
            .join(format!("relay-{}.log", self.logs.len()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "-c"])
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        if let Some(n) = self.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
            unsafe {
                cmd.pre_exec(move || {
                    // rlim_t is 32 bits on armv7.
                    #[allow(clippy::unnecessary_cast)]
                    let lim = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        self.logs.push(log);
        self.child = Some(child);
    }

    /// Spawns `serve` and waits (up to 20 s) until /healthz answers 200.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_healthy(Duration::from_secs(20));
    }

    /// SIGKILL (std's `Child::kill`), then reap; notes an incarnation that had died.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(Some(status)) = c.try_wait() {
                self.died.push(format!(
                    "incarnation {} exited on its own ({status}) before the kill",
                    self.logs.len() - 1
                ));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL, then start again on the same data_dir and port.
    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// SIGTERM (the graceful shutdown systemd asks for), then reap → its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("the relay is not running");
        // std sends only SIGKILL; the shell's `kill` sends SIGTERM.
        let sent = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", c.id())])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {}", c.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the relay ignored SIGTERM for 10 s\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most `within`) until GET /healthz answers 200.
    pub fn wait_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !matches!(http(self.port, "GET", "/healthz", "", ""), Ok((200, _))) {
            assert!(
                Instant::now() < deadline,
                "the relay did not become healthy within {within:?}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the current incarnation is still running.
    pub fn still_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Incarnations that exited on their own before they were killed.
    pub fn died(&self) -> &[String] {
        &self.died
    }

    /// Every incarnation's stderr, in order, for failure messages.
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "--- incarnation {i} ---\n{}",
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }

    /// POSTs `activity` to /api/messages as Teams would → (status, body).
    pub fn post_activity(&self, activity: &Value) -> (u16, String) {
        let headers = "Content-Type: application/json\r\n";
        http(
            self.port,
            "POST",
            "/api/messages",
            headers,
            &activity.to_string(),
        )
        .unwrap_or_else(|e| panic!("POST /api/messages: {e}\n{}", self.log_text()))
    }

    /// A user installs the app in personal chat `conversation`: the relay
    /// stores its reference (pointing at `fake`) and owes it a welcome.
    pub fn install_conversation(&self, fake: &FakeTeams, conversation: &str) {
        let (status, answer) = self.post_activity(&fake.install_activity(conversation));
        assert_eq!(status, 200, "install {conversation}: {answer}");
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        self.kill();
    }
}
