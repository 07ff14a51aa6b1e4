//! Counters for `GET /metrics` (Prometheus text format).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events accepted for the first time.
    pub events_new: AtomicU64,
    /// Events received again (retries; not delivered twice).
    pub events_duplicate: AtomicU64,
    /// Heartbeats received.
    pub heartbeats: AtomicU64,
    /// Requests refused: bad token.
    pub rejected_auth: AtomicU64,
    /// Requests refused: bad body.
    pub rejected_body: AtomicU64,
    /// Requests refused: too large.
    pub rejected_size: AtomicU64,
    /// Requests shed with 503 + Retry-After.
    pub shed: AtomicU64,
    /// Messages sent or updated in Teams.
    pub sent: AtomicU64,
    /// Messages given up on (final errors, blocked conversations).
    pub failed: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the gauges passed in.
    pub fn render(&self, pending: usize, gateways: usize) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, label: Option<(&str, &str)>, v: &AtomicU64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            let labels = label
                .map(|(k, v)| format!("{{{k}=\"{v}\"}}"))
                .unwrap_or_default();
            let _ = writeln!(s, "{name}{labels} {}", v.load(Ordering::Relaxed));
        };
        counter(
            "edgetherm_relay_events_accepted_total",
            "Alert events accepted for the first time.",
            None,
            &self.events_new,
        );
        counter(
            "edgetherm_relay_events_duplicate_total",
            "Alert events received again and not queued twice.",
            None,
            &self.events_duplicate,
        );
        counter(
            "edgetherm_relay_heartbeats_total",
            "Gateway heartbeats received.",
            None,
            &self.heartbeats,
        );
        counter(
            "edgetherm_relay_rejected_total",
            "Requests refused.",
            Some(("reason", "auth")),
            &self.rejected_auth,
        );
        let _ = writeln!(
            s,
            "edgetherm_relay_rejected_total{{reason=\"body\"}} {}",
            self.rejected_body.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "edgetherm_relay_rejected_total{{reason=\"size\"}} {}",
            self.rejected_size.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "edgetherm_relay_rejected_total{{reason=\"overload\"}} {}",
            self.shed.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP edgetherm_relay_teams_sent_total Messages sent or updated in Teams.\n# TYPE edgetherm_relay_teams_sent_total counter\nedgetherm_relay_teams_sent_total {}", self.sent.load(Ordering::Relaxed));
        let _ = writeln!(s, "# HELP edgetherm_relay_teams_failed_total Messages given up on.\n# TYPE edgetherm_relay_teams_failed_total counter\nedgetherm_relay_teams_failed_total {}", self.failed.load(Ordering::Relaxed));
        let _ = writeln!(s, "# HELP edgetherm_relay_pending_events Events waiting for delivery to Teams.\n# TYPE edgetherm_relay_pending_events gauge\nedgetherm_relay_pending_events {pending}");
        let _ = writeln!(s, "# HELP edgetherm_relay_gateways Registered gateways.\n# TYPE edgetherm_relay_gateways gauge\nedgetherm_relay_gateways {gateways}");
        s
    }
}
