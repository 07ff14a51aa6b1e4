//! Helpers for end-to-end tests that run the real `edgetherm` binary: configs
//! in temporary directories, an agent process whose stderr is collected line
//! by line, parsing of the one-line alert events, and CLI calls with deadlines.
//!
//! Everything is local (files, a Unix socket, child processes); every wait is
//! bounded by a deadline, and every child is killed when its guard drops.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_edgetherm");

/// How long any single wait may take before a test gives up (generous: the
/// machine may be busy building other crates).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The fixture sysfs tree shipped with the tests.
pub fn fixture_sysfs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysfs")
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read_dir {}: {e}", from.display()))
    {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Writes `body` to `path` atomically (temp file + rename), so a concurrent
/// reader never sees a half-written sysfs attribute.
pub fn write_atomic(path: &Path, body: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A `w1_slave` file as the kernel writes it (the CRC verdict is what the
/// agent trusts; it does not recompute the hex CRC).
pub fn w1_slave(milli: i64) -> String {
    format!("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t={milli}\n")
}

/// A test's directory: `data/` for the agent's store and socket, the config.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub data_dir: PathBuf,
}

impl Setup {
    /// Writes a config with an `[agent]` section (gateway `e2e`, data_dir in
    /// the temp dir, `sysfs_root` if given) followed by `body`.
    pub fn new(sysfs_root: Option<&Path>, body: &str) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("edgetherm-e2e-")
            .tempdir()
            .unwrap();
        Setup::in_dir(dir, sysfs_root, body)
    }

    /// Like `new`, in an existing temp dir (e.g. one holding a sysfs copy).
    pub fn in_dir(dir: tempfile::TempDir, sysfs_root: Option<&Path>, body: &str) -> Setup {
        let data_dir = dir.path().join("data");
        let mut text = format!(
            "[agent]\ngateway_id = \"e2e\"\ndata_dir = '{}'\n",
            data_dir.display()
        );
        if let Some(root) = sysfs_root {
            text += &format!("sysfs_root = '{}'\n", root.display());
        }
        text += "\n";
        text += body;
        let config = dir.path().join("edgetherm.toml");
        std::fs::write(&config, text).unwrap();
        Setup {
            dir,
            config,
            data_dir,
        }
    }

    /// Runs `edgetherm <args> -c <config>`.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let mut all: Vec<&str> = args.to_vec();
        let cfg = self.config.to_str().unwrap();
        all.extend(["-c", cfg]);
        cli(&all)
    }

    /// `edgetherm status --json`, which must succeed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        assert_eq!(out.code, Some(0), "status failed: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", out.stdout))
    }

    /// Polls `status --json` until it answers and `ok` holds for the answer;
    /// panics with the last answer after `PATIENCE`.
    pub fn wait_status(
        &self,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.wait_status_within(what, PATIENCE, ok)
    }

    /// Like `wait_status`, with its own deadline.
    pub fn wait_status_within(
        &self,
        what: &str,
        patience: Duration,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + patience;
        loop {
            let out = self.cli(&["status", "--json"]);
            let s = if out.code == Some(0) {
                serde_json::from_str(&out.stdout).ok()
            } else {
                None
            };
            if let Some(s) = &s {
                if ok(s) {
                    return s.clone();
                }
            }
            if Instant::now() > deadline {
                match s {
                    Some(s) => panic!(
                        "status never showed {what} within {patience:?}; last answer:\n{s:#}"
                    ),
                    None => {
                        panic!("status never showed {what} within {patience:?}; last call: {out:?}")
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `edgetherm history SENSOR --since 1h --json`, which must succeed.
    pub fn history(&self, sensor: &str) -> Vec<serde_json::Value> {
        let out = self.cli(&["history", sensor, "--since", "1h", "--json"]);
        assert_eq!(out.code, Some(0), "history {sensor} failed: {out:?}");
        out.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("history line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Starts `edgetherm run` on this config.
    pub fn start(&self) -> Agent {
        Agent::start(&self.config)
    }
}

/// A finished CLI call.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args`, killing it if it has not finished in `PATIENCE`.
pub fn cli(args: &[&str]) -> CliOutput {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("EDGETHERM_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgetherm");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`edgetherm {}` did not finish within {PATIENCE:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    CliOutput {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A running agent. Killed (SIGKILL) and reaped on drop if still running.
pub struct Agent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    pub started: Instant,
    exited: Option<ExitStatus>,
}

impl Agent {
    /// Spawns `edgetherm run --config CFG` with stderr collected line by line.
    pub fn start(config: &Path) -> Agent {
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            // Deterministic log format: info level, with timestamps (as
            // outside systemd).
            .env("RUST_LOG", "info")
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edgetherm run");
        let started = Instant::now();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&lines);
        // Ends at EOF, i.e. when the process (the only writer) is gone.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Agent {
            child,
            lines,
            reader: Some(reader),
            started,
            exited: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every alert event logged so far.
    pub fn events(&self) -> Vec<EventLine> {
        self.lines()
            .iter()
            .filter_map(|l| EventLine::parse(l))
            .collect()
    }

    /// The log so far, for failure messages.
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits (up to `PATIENCE`) for a line satisfying `pred`; panics with the
    /// log otherwise. Also panics early if the agent exits.
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                self.exited = Some(st);
                // Let the reader catch the last lines.
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                    return l;
                }
                panic!(
                    "the agent exited ({st}) before logging {what}; log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!("no {what} within {PATIENCE:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Like `wait_line`, with its own deadline (e.g. longer than `PATIENCE`
    /// when a reconnect backoff must run its course).
    pub fn wait_line_within(
        &mut self,
        what: &str,
        patience: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if !self.is_running() {
                if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                    return l;
                }
                panic!(
                    "the agent exited ({:?}) before logging {what}; log:\n{}",
                    self.exited,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!("no {what} within {patience:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether the process still runs (reaps it, and collects its last
    /// lines, if it has exited).
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            None => true,
            Some(st) => {
                self.exited = Some(st);
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                false
            }
        }
    }

    /// Waits for an alert event matching `pred`.
    pub fn wait_event(&mut self, what: &str, pred: impl Fn(&EventLine) -> bool) -> EventLine {
        let line = self.wait_line(what, |l| EventLine::parse(l).is_some_and(|e| pred(&e)));
        EventLine::parse(&line).unwrap()
    }

    /// Waits until the agent logs that it started.
    pub fn wait_started(&mut self) {
        self.wait_line("the start line", |l| l.contains("edgetherm agent started"));
    }

    /// SIGKILL (what `Child::kill` sends), then reaps the process and waits for
    /// the reader to see EOF, so `lines()` is complete afterwards.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().unwrap());
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// SIGTERM and wait (up to `PATIENCE`) for a clean exit; returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        if let Some(st) = self.exited {
            return st;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + PATIENCE;
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "the agent did not stop within {PATIENCE:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        self.exited = Some(st);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        st
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `alert event` log line, split into its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    /// The line's RFC 3339 timestamp.
    pub ts: String,
    /// INFO, WARN, ...
    pub level: String,
    /// `key=value` fields, string values unquoted and unescaped.
    pub fields: BTreeMap<String, String>,
}

impl EventLine {
    /// Parses a tracing fmt line carrying the message "alert event".
    pub fn parse(line: &str) -> Option<EventLine> {
        let (head, rest) = line.split_once(" alert event ")?;
        let mut words = head.split_whitespace();
        let ts = words.next()?.to_string();
        let level = words.next()?.to_string();
        let fields = parse_fields(rest);
        fields
            .contains_key("event")
            .then_some(EventLine { ts, level, fields })
    }

    /// A field's value ("" if absent).
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// `event=`
    pub fn kind(&self) -> &str {
        self.get("event")
    }

    /// `id=`
    pub fn id(&self) -> &str {
        self.get("id")
    }

    /// `sensor=`
    pub fn sensor(&self) -> &str {
        self.get("sensor")
    }

    /// Whether this is an event of `kind` for `sensor`.
    pub fn is(&self, kind: &str, sensor: &str) -> bool {
        self.kind() == kind && self.sensor() == sensor
    }

    /// The log timestamp as Unix milliseconds.
    pub fn ts_ms(&self) -> i64 {
        rfc3339_ms(&self.ts)
    }
}

/// Parses `k=v k="quoted \" value" k=` into a map.
pub fn parse_fields(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(o) => value.push(o),
                        None => break,
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key, value);
    }
    out
}

/// An RFC 3339 UTC stamp (with or without fractional seconds) as Unix ms.
pub fn rfc3339_ms(s: &str) -> i64 {
    let t =
        humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("not an RFC 3339 stamp {s:?}: {e}"));
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The system clock as Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A sensor's entry in a `status --json` answer.
pub fn sensor_status<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["sensors"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("sensor {id} missing from status:\n{status:#}"))
}

/// The state of the (rule, sensor) alert in a `status --json` answer.
pub fn alert_state(status: &serde_json::Value, rule: &str, sensor: &str) -> String {
    status["alerts"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["rule"] == rule && x["sensor"] == sensor)
        })
        .and_then(|x| x["state"].as_str())
        .unwrap_or_else(|| panic!("alert {rule}/{sensor} missing from status:\n{status:#}"))
        .to_string()
}

#[test]
fn parse_fields_handles_quotes_escapes_and_empty_values() {
    let f = parse_fields(r#"event="firing" id=01AB value= threshold=30 detail="a \"b\" c""#);
    assert_eq!(f["event"], "firing");
    assert_eq!(f["id"], "01AB");
    assert_eq!(f["value"], "");
    assert_eq!(f["threshold"], "30");
    assert_eq!(f["detail"], "a \"b\" c");
}
