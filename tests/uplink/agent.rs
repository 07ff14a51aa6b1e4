//! Runs `edgetherm run` with a controlled environment. `common::Agent`
//! inherits the test's environment, so a developer's `HTTP_PROXY` or
//! `NO_PROXY` would change where the uplink connects; here every proxy
//! variable is removed unless a test sets it on purpose.

// Each test uses a different part of this helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{EventLine, Setup, BIN};

/// Variables reqwest (hyper-util's proxy matcher) reads, plus
/// `REQUEST_METHOD`, under which it ignores `HTTP_PROXY` (CGI).
pub const PROXY_VARS: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// A running agent; SIGKILLed and reaped on drop.
pub struct Agent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    running: bool,
}

impl Agent {
    /// `edgetherm run` on the setup's config, without proxy variables.
    pub fn start(s: &Setup) -> Agent {
        Agent::start_with_env(s, &[])
    }

    /// Like `start`, with `env` set on top of a proxy-free environment.
    pub fn start_with_env(s: &Setup, env: &[(&str, &str)]) -> Agent {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--config"]).arg(&s.config);
        for v in PROXY_VARS {
            cmd.env_remove(v);
        }
        for v in [
            "INVOCATION_ID",
            "JOURNAL_STREAM",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "EDGETHERM_CONFIG",
        ] {
            cmd.env_remove(v);
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edgetherm run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        // Ends at EOF, when the process is gone.
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
            running: true,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// Alert events logged so far, in log order.
    pub fn events(&self) -> Vec<EventLine> {
        self.lines()
            .iter()
            .filter_map(|l| EventLine::parse(l))
            .collect()
    }

    /// Ids of the alert events logged so far, in log order.
    pub fn event_ids(&self) -> Vec<String> {
        self.events().iter().map(|e| e.id().to_string()).collect()
    }

    /// Waits for a log line satisfying `pred`; panics with the log if none
    /// comes within `patience` or the agent exits.
    pub fn wait_line(
        &mut self,
        what: &str,
        patience: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        self.wait(what, patience, |lines| {
            lines.iter().find(|l| pred(l)).cloned()
        })
    }

    /// Waits until at least `n` alert events are logged; returns them all.
    pub fn wait_events(&mut self, n: usize, patience: Duration) -> Vec<EventLine> {
        self.wait(&format!("{n} alert events"), patience, |lines| {
            let evs: Vec<EventLine> = lines.iter().filter_map(|l| EventLine::parse(l)).collect();
            (evs.len() >= n).then_some(evs)
        })
    }

    fn wait<T>(&mut self, what: &str, patience: Duration, f: impl Fn(&[String]) -> Option<T>) -> T {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(t) = f(&self.lines()) {
                return t;
            }
            if self.running && self.child.try_wait().unwrap().is_some() {
                self.running = false;
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                continue; // one more look at the complete log
            }
            if !self.running {
                panic!(
                    "the agent exited before logging {what}; log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!("no {what} within {patience:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL, reap, and collect the last lines.
    pub fn kill(&mut self) {
        if self.running {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.running = false;
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.running {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
