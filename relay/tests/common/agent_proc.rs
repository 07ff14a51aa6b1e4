//! The agent binary (`edgetherm`, the root package) as a process feeding a
//! real relay: its config in a temp dir (`[agent]`, `[relay]`, sensors and
//! rules from the test, optionally a fixture sysfs tree with 1-Wire sensors
//! whose `w1_slave` the test rewrites), SIGKILL and restart on the same
//! data_dir, `status --json` and `test-alert`, and every `alert event` line
//! it logged across all its incarnations.
//!
//! Also the end-to-end verdict: what reached the fake Teams for the alerts
//! the agent logged, told apart by the alert id each card carries (its
//! Acknowledge button's data) and, for resolves, by the activity updated.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::event_line::EventLine;
use super::fake_teams::Call;

/// The agent binary: cargo builds it next to the relay's for `cargo test --workspace`.
pub fn agent_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_edgetherm-relay")).with_file_name("edgetherm");
    assert!(
        bin.is_file(),
        "{} is missing: build the agent first: cargo build -p edgetherm (or run cargo test --workspace)",
        bin.display()
    );
    bin
}

/// Polls `f` every 50 ms until it gives Some, or `within` passes (None).
pub fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `w1_slave` file as the kernel's w1_therm writes it, CRC good.
fn w1_slave(celsius: f64) -> String {
    let milli = (celsius * 1000.0).round() as i64;
    format!("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t={milli}\n")
}

/// Removed from the agent's environment: a developer's proxy would send the
/// uplink elsewhere (reqwest ignores HTTP_PROXY under REQUEST_METHOD, CGI);
/// systemd's variables would switch it to journald and sd_notify.
const CLEARED_ENV: &str = "HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy \
    NO_PROXY no_proxy REQUEST_METHOD EDGETHERM_CONFIG INVOCATION_ID JOURNAL_STREAM NOTIFY_SOCKET \
    WATCHDOG_USEC";

/// An agent process on a fixed config and data_dir; killed on drop.
pub struct AgentProc {
    dir: tempfile::TempDir,
    head: String,
    body: String,
    child: Option<Child>,
    reader: Option<JoinHandle<()>>,
    /// Every incarnation's stderr, each preceded by a `=== incarnation n` line.
    lines: Arc<Mutex<Vec<String>>>,
    incarnations: usize,
    died: Vec<String>,
}

impl AgentProc {
    /// Gateway `gateway` at site "Lab 1", sending to `relay_url` with
    /// `token` (in a `token_file`), heartbeat `heartbeat`.
    pub fn new(gateway: &str, relay_url: &str, token: &str, heartbeat: &str) -> AgentProc {
        let dir = tempfile::Builder::new()
            .prefix("edgetherm-e2e-agent-")
            .tempdir()
            .unwrap();
        let token_file = dir.path().join("relay.token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let head = format!(
            "[agent]\ngateway_id = \"{gateway}\"\nsite = \"Lab 1\"\ndata_dir = '{}'\nsysfs_root = '{}'\n\n\
             [relay]\nurl = \"{relay_url}\"\ntoken_file = '{}'\nheartbeat = \"{heartbeat}\"\n\n",
            dir.path().join("data").display(),
            dir.path().join("sysfs").display(),
            token_file.display()
        );
        AgentProc {
            dir,
            head,
            body: String::new(),
            child: None,
            reader: None,
            lines: Arc::new(Mutex::new(Vec::new())),
            incarnations: 0,
            died: Vec::new(),
        }
    }

    /// Appends sensors and rules (TOML) to the config.
    pub fn with(mut self, toml: &str) -> AgentProc {
        self.body.push_str(toml);
        self
    }

    /// Adds a 1-Wire `[[sensor]]` read every 200 ms from the fixture tree,
    /// whose `w1_slave` starts at `celsius`.
    pub fn with_w1(self, id: &str, device: &str, celsius: f64) -> AgentProc {
        std::fs::create_dir_all(self.w1_dir(device)).unwrap();
        self.set_w1(device, celsius);
        self.with(&format!(
            "[[sensor]]\nid = \"{id}\"\nkind = \"w1\"\ndevice = \"{device}\"\ninterval = \"200ms\"\n\n"
        ))
    }

    fn w1_dir(&self, device: &str) -> PathBuf {
        self.dir
            .path()
            .join("sysfs/sys/bus/w1/devices")
            .join(device)
    }

    /// Rewrites the device's `w1_slave` atomically (temp file + rename), as
    /// the kernel presents a whole attribute to each read.
    pub fn set_w1(&self, device: &str, celsius: f64) {
        let dir = self.w1_dir(device);
        std::fs::write(dir.join(".w1_slave.tmp"), w1_slave(celsius)).unwrap();
        std::fs::rename(dir.join(".w1_slave.tmp"), dir.join("w1_slave")).unwrap();
    }

    /// The agent's data_dir (its store).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// edgetherm.toml.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("edgetherm.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(agent_bin());
        cmd.args(args).arg("-c").arg(self.config_path());
        for v in CLEARED_ENV.split_whitespace() {
            cmd.env_remove(v);
        }
        cmd.env("RUST_LOG", "info").stdin(Stdio::null());
        cmd
    }

    /// Spawns `edgetherm run` (stderr collected by a thread), not waiting.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "the agent is already running");
        // Written only here: a CLI call never races a start-up reading it.
        std::fs::write(self.config_path(), format!("{}{}", self.head, self.body)).unwrap();
        let mut child = self
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edgetherm run");
        self.incarnations += 1;
        let sink = self.lines.clone();
        sink.lock()
            .unwrap()
            .push(format!("=== incarnation {}", self.incarnations));
        let stderr = child.stderr.take().unwrap();
        // Ends at EOF: when the process, the pipe's only writer, is gone.
        self.reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        }));
        self.child = Some(child);
    }

    /// Spawns and waits (20 s) for this incarnation's "agent started" line.
    pub fn start(&mut self) {
        self.spawn();
        let n = self.incarnations;
        let started = || {
            let lines = self.lines();
            let starts = lines.iter().filter(|l| l.contains("agent started"));
            (starts.count() >= n).then_some(())
        };
        if poll(Duration::from_secs(20), started).is_none() {
            panic!("the agent did not start within 20 s\n{}", self.log_text());
        }
    }

    /// SIGKILL, reap, and read its stderr to the end.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(Some(st)) = c.try_wait() {
                let n = self.incarnations;
                self.died
                    .push(format!("incarnation {n} exited on its own ({st})"));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// SIGTERM (a graceful stop) and reap within 20 s → its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("the agent is not running");
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {}", c.id());
        let st = poll(Duration::from_secs(20), || c.try_wait().unwrap());
        let st = st.unwrap_or_else(|| {
            let _ = c.kill();
            panic!("the agent ignored SIGTERM for 20 s\n{}", self.log_text())
        });
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        st
    }

    /// Incarnations that exited before they were killed.
    pub fn died(&self) -> &[String] {
        &self.died
    }

    /// `edgetherm <args> -c CONFIG` → (exit code, stdout, stderr); panics
    /// after `within` (the CLI's own timeouts end the process soon after).
    pub fn cli(&self, args: &[&str], within: Duration) -> (i32, String, String) {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut cmd = self.command(args);
        std::thread::spawn(move || tx.send(cmd.output()));
        let out = rx.recv_timeout(within);
        let out =
            out.unwrap_or_else(|_| panic!("`edgetherm {}` took over {within:?}", args.join(" ")));
        let out = out.expect("spawn edgetherm");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    /// `status --json`, or None if the agent did not answer.
    pub fn status(&self) -> Option<Value> {
        let (code, out, _) = self.cli(&["status", "--json"], Duration::from_secs(15));
        (code == 0)
            .then(|| serde_json::from_str(&out).ok())
            .flatten()
    }

    /// Polls `status --json` until `ok` holds (panics with the last answer after `within`).
    pub fn wait_status(&self, what: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = None;
        poll(within, || {
            last = self.status();
            last.clone().filter(|s| ok(s))
        })
        .unwrap_or_else(|| panic!("status never showed {what} in {within:?}; last: {last:#?}"))
    }

    /// `edgetherm test-alert` → (exit code, stdout, stderr).
    pub fn test_alert(&self) -> (i32, String, String) {
        self.cli(&["test-alert"], Duration::from_secs(40))
    }

    /// Every stderr line so far, all incarnations.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every alert event logged so far, in log order (a crash may log one twice).
    pub fn events(&self) -> Vec<EventLine> {
        let lines = self.lines();
        lines.iter().filter_map(|l| EventLine::parse(l)).collect()
    }

    /// Waits until the logged events satisfy `ok`; panics with the log after `within`.
    pub fn wait_events(
        &self,
        what: &str,
        within: Duration,
        ok: impl Fn(&[EventLine]) -> bool,
    ) -> Vec<EventLine> {
        poll(within, || Some(self.events()).filter(|e| ok(e)))
            .unwrap_or_else(|| panic!("no {what} within {within:?}\n{}", self.log_text()))
    }

    /// The whole log, for failure messages.
    pub fn log_text(&self) -> String {
        self.lines().join("\n")
    }
}

/// The agent's and the relay's logs, for failure messages.
pub fn logs(agent: &AgentProc, relay: &super::relay_proc::RelayProc) -> String {
    format!(
        "--- agent ---\n{}\n--- relay ---\n{}",
        agent.log_text(),
        relay.log_text()
    )
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An alert as the agent logged it: opened by `firing` (or `stale`, `test`, ...).
#[derive(Debug, Clone)]
pub struct Episode {
    pub opened: EventLine,
    pub resolved: Option<EventLine>,
}

/// The episodes in the order the agent logged their opening; event ids
/// logged twice (a crash between logging and recording it) count once.
/// Also what no alert explains: a resolve of an alert never opened, a
/// second opening of an open one.
pub fn episodes(events: &[EventLine]) -> (Vec<Episode>, Vec<String>) {
    let (mut seen, mut eps, mut orphans) = (HashSet::new(), Vec::<Episode>::new(), Vec::new());
    for e in events.iter().filter(|e| seen.insert(e.id().to_string())) {
        let open = eps.iter_mut().find(|x| x.opened.episode() == e.episode());
        match (e.kind(), open) {
            ("resolved", Some(x)) if x.resolved.is_none() => x.resolved = Some(e.clone()),
            ("resolved", _) => orphans.push(format!("resolve without its alert: {e:?}")),
            // No test sets `repeat`: a second firing of an open alert means a
            // restart forgot that it had been sent.
            (_, Some(_)) => orphans.push(format!("fired again while open: {e:?}")),
            (_, None) => eps.push(Episode {
                opened: e.clone(),
                resolved: None,
            }),
        }
    }
    (eps, orphans)
}

/// Whether `c` is the relay's welcome after an install.
pub fn is_welcome(c: &Call) -> bool {
    c.method == "POST"
        && c.body["text"]
            .as_str()
            .is_some_and(|t| t.contains("I'm **edgetherm**"))
}

/// What Teams got in `conv` for `eps`: (problems, duplicates). Each alert's
/// card POSTed (it carries the alert id) naming its sensor and rule; each
/// logged resolve PUT onto that card's activity with the resolved state
/// (so after the post: the activity id comes from its answer); no update of
/// an open alert; nothing else but the welcome. A call sent twice is allowed
/// only with a relay kill of its own in between (the relay is at-least-once
/// towards Teams). With `ordered`, the first posts follow the order the
/// agent logged the alerts.
pub fn verdict(
    calls: &[Call],
    conv: &str,
    eps: &[Episode],
    relay_kills: &[Instant],
    ordered: bool,
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut duplicates) = (Vec::new(), Vec::new());
    let text: Vec<String> = calls.iter().map(|c| c.body.to_string()).collect();
    // Per alert: the calls that posted its card, and those that updated one.
    let mut sent: Vec<(Vec<usize>, Vec<usize>)> = vec![Default::default(); eps.len()];
    let mut card_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in calls.iter().enumerate() {
        let mark =
            |k: &usize| text[i].contains(&format!("\"alert\":\"{}\"", eps[*k].opened.episode()));
        let mine: Vec<usize> = (0..eps.len()).filter(mark).collect();
        let card = c.activity_id.as_ref().and_then(|a| card_of.get(a).copied());
        match (c.method.as_str(), mine.as_slice(), card) {
            _ if c.conversation.as_deref() != Some(conv) => {
                problems.push(format!("elsewhere: {c:?}"))
            }
            ("PUT", _, Some(k)) => sent[k].1.push(i),
            ("POST", [k], _) => {
                sent[*k].0.push(i);
                card_of.extend(c.activity_id.clone().map(|a| (a, *k)));
            }
            ("POST", [], _) if is_welcome(c) => {}
            _ => problems.push(format!(
                "unexpected call to Teams: {} {}",
                c.method, text[i]
            )),
        }
    }
    for (k, (e, (posts, puts))) in eps.iter().zip(&sent).enumerate() {
        let name = format!("alert {k} ({} {})", e.opened.kind(), e.opened.id());
        let Some(&first) = posts.first() else {
            problems.push(format!("{name}: LOST, no card was posted"));
            continue;
        };
        for want in [e.opened.get("sensor"), e.opened.get("rule")] {
            if !text[first].contains(want) {
                problems.push(format!("{name}: the card does not name {want:?}"));
            }
        }
        match (&e.resolved, puts.is_empty()) {
            (Some(r), true) => problems.push(format!("{name}: resolve {} LOST", r.id())),
            (None, false) => problems.push(format!("{name}: updated, but never resolved")),
            _ => {}
        }
        for &u in puts.iter().filter(|&&u| !text[u].contains("Resolved")) {
            problems.push(format!("{name}: the update is not resolved: {}", text[u]));
        }
        for w in posts.windows(2).chain(puts.windows(2)) {
            let line = format!(
                "{name}: {} sent again (calls {} and {})",
                calls[w[1]].method, w[0], w[1]
            );
            duplicates.push((w[0], w[1], line));
        }
    }
    // Each duplicate needs a kill of its own between its two sends: one
    // send in flight per conversation at a time. Earliest second send first,
    // each taking the earliest unused kill in its window.
    duplicates.sort_by_key(|d| calls[d.1].arrived);
    let mut used = vec![false; relay_kills.len()];
    for (a, b, line) in &duplicates {
        let window = |t: &Instant| *t >= calls[*a].arrived && *t <= calls[*b].arrived;
        match (0..used.len()).find(|&i| !used[i] && window(&relay_kills[i])) {
            Some(i) => used[i] = true,
            None => problems.push(format!("{line} with NO relay kill of its own in between")),
        }
    }
    let mut firsts: Vec<(usize, usize)> = sent
        .iter()
        .enumerate()
        .filter_map(|(k, s)| Some((*s.0.first()?, k)))
        .collect();
    firsts.sort();
    let order: Vec<usize> = firsts.into_iter().map(|(_, k)| k).collect();
    if ordered && order.windows(2).any(|w| w[0] > w[1]) {
        problems.push(format!("cards posted in order {order:?}, not as logged"));
    }
    (problems, duplicates.into_iter().map(|d| d.2).collect())
}
