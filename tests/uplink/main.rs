//! The relay uplink end to end: the real `edgetherm` binary against a fake
//! relay (and a tiny forward proxy) on 127.0.0.1, both std-only and started
//! by the tests. Covers the wire format, heartbeats, outages, 429/503
//! retries, refusals, partial acceptance, 413 batch halving, SIGKILL with an
//! answer in flight, every `test-alert` outcome, and `HTTP_PROXY`.

#[path = "../common/mod.rs"]
mod common;

mod agent;
mod exchange;
mod fake_relay;
mod forward_proxy;
mod http1;

mod batching;
mod flow;
mod outage;
mod partial;
mod proxy;
mod refusals;
mod retries;
mod sigkill;
mod test_alert;

use std::path::PathBuf;
use std::time::Duration;

use agent::Agent;
use common::Setup;
use fake_relay::FakeRelay;

/// The gateway token the tests put in `token_file`.
const TOKEN: &str = "etg_uplink_e2e_token";

/// Waits that include the uplink's backoff (1 s, 2 s, 4 s, 8 s ... ±25%)
/// running its course on a busy 2-core machine.
const LONG: Duration = Duration::from_secs(40);

/// A fake relay and an agent config pointing at it.
struct Rig {
    s: Setup,
    relay: FakeRelay,
    token_file: PathBuf,
}

impl Rig {
    /// `agent` goes into `[agent]` (e.g. `site = "..."`), `body` after the
    /// `[relay]` section (sensors, rules).
    fn new(agent: &str, heartbeat: &str, body: &str) -> Rig {
        let relay = FakeRelay::start();
        let dir = tempfile::Builder::new()
            .prefix("edgetherm-uplink-")
            .tempdir()
            .unwrap();
        let token_file = dir.path().join("relay.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let text = format!(
            "{agent}\n\n[relay]\nurl = \"{}\"\ntoken_file = '{}'\nheartbeat = \"{heartbeat}\"\n\n{body}",
            relay.url(),
            token_file.display()
        );
        let s = Setup::in_dir(dir, None, &text);
        Rig {
            s,
            relay,
            token_file,
        }
    }

    fn start(&self) -> Agent {
        Agent::start(&self.s)
    }
}

/// A `[[sensor]]` of kind `sim`, read every 100 ms.
fn sim(id: &str, pattern: &str) -> String {
    format!("[[sensor]]\nid = \"{id}\"\nkind = \"sim\"\ninterval = \"100ms\"\n{pattern}\n\n")
}

/// A `points` pattern from `(seconds, value)` pairs (the last one holds).
fn points(pts: &[(f64, f64)]) -> String {
    let list: Vec<String> = pts
        .iter()
        .map(|(at, v)| format!("{{ at = \"{}ms\", value = {v:.1} }}", (at * 1000.0) as u64))
        .collect();
    format!("pattern = \"points\"\npoints = [{}]", list.join(", "))
}

/// A rule firing above 30 °C at once, never held back as flapping.
fn hot_rule(id: &str, sensors: &str) -> String {
    format!("[[rule]]\nid = \"{id}\"\nsensors = \"{sensors}\"\nabove = 30.0\nfor = \"0s\"\nflap_changes = 1000\n\n")
}

/// Whether `ids` has no repeats.
fn unique(ids: &[String]) -> bool {
    let set: std::collections::BTreeSet<&String> = ids.iter().collect();
    set.len() == ids.len()
}
