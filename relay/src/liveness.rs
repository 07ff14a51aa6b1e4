//! The liveness watch: a gateway that stops reporting is an alert of its own.
//! It fires once a gateway has been quiet for longer than its allowance and
//! resolves — the same card updated — when the gateway reports again. Both are
//! ordinary events fed through the store's pending queue, so routing, mutes,
//! rate limits and update-in-place work for them as for any alert.
//!
//! A relay that was down saw no heartbeats either: silence is measured from
//! the later of the last heartbeat and the watch's start, so a restart never
//! turns every gateway into a false "silent" alert.

use crate::fleet::{Member, Role};
use std::collections::BTreeMap;
use std::time::Duration;

use edgetherm_proto::{Event, EventKind, Severity};
use serde::{Deserialize, Serialize};

use crate::clock::{now_ms, parse_ms, rfc3339};
use crate::store::{Records, Store, StoreError};

/// The rule id of "gateway silent" events. The colon keeps it apart from
/// every agent rule id (those are `[a-z0-9_.-]+`).
pub const SILENT_RULE: &str = "edgetherm:gateway-silent";

/// How often gateways are checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// The allowance when nothing else says: no interval in the heartbeat, no config.
const FALLBACK: Duration = Duration::from_secs(180);

/// `[gateways]` in relay.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessConfig {
    /// A gateway is silent after this many of its heartbeat intervals without a batch.
    #[serde(default = "default_missed")]
    pub missed_heartbeats: u32,
    /// A fixed allowance for every gateway instead (also used when a
    /// gateway's heartbeat does not carry its interval).
    #[serde(default)]
    pub silent_after: Option<Allowance>,
    /// Severity of "gateway silent" alerts.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Per-gateway allowances (`"off"` disables the watch for one gateway).
    #[serde(default)]
    pub per_gateway: BTreeMap<String, Allowance>,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            missed_heartbeats: default_missed(),
            silent_after: None,
            severity: default_severity(),
            per_gateway: BTreeMap::new(),
        }
    }
}

fn default_missed() -> u32 {
    3
}

fn default_severity() -> Severity {
    Severity::Critical
}

/// A duration like `"5m"`, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance(pub Option<Duration>);

impl<'de> Deserialize<'de> for Allowance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(Allowance(None));
        }
        match humantime::parse_duration(s.trim()) {
            Ok(v) if v >= Duration::from_secs(10) => Ok(Allowance(Some(v))),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "{s:?} is too short: expected at least \"10s\""
            ))),
            Err(e) => Err(serde::de::Error::custom(format!(
                "expected a duration like \"5m\" or \"off\", found {s:?} ({e})"
            ))),
        }
    }
}

impl LivenessConfig {
    /// The allowance for one gateway, given its heartbeat interval (None: not watched).
    pub fn allowance(&self, gateway: &str, interval_s: Option<u64>) -> Option<Duration> {
        if let Some(a) = self.per_gateway.get(gateway) {
            return a.0;
        }
        if let Some(a) = self.silent_after {
            return a.0;
        }
        Some(interval_s.map_or(FALLBACK, |i| {
            Duration::from_secs(i.max(1)) * self.missed_heartbeats.max(1)
        }))
    }
}

/// What the watch decided about one gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Fine,
    /// It has gone quiet: fire.
    Silent,
    /// It is reporting again (or no longer watched): resolve.
    Back,
}

/// Decides (pure, so every case is tested). `silent_since_seen` is the last
/// heartbeat known when the open "silent" alert fired, if one is open.
pub fn judge(
    last_seen_ms: Option<i64>,
    allowance: Option<Duration>,
    watching_since_ms: i64,
    silent_since_seen: Option<i64>,
    now_ms: i64,
) -> Verdict {
    match (silent_since_seen, allowance) {
        (Some(_), None) => Verdict::Back,
        (Some(seen), Some(_)) => match last_seen_ms {
            Some(last) if last > seen => Verdict::Back,
            _ => Verdict::Fine,
        },
        (None, None) => Verdict::Fine,
        (None, Some(allow)) => match last_seen_ms {
            // Never reported: a gateway created but not deployed yet.
            None => Verdict::Fine,
            Some(last) if now_ms - last.max(watching_since_ms) > allow.as_millis() as i64 => {
                Verdict::Silent
            }
            Some(_) => Verdict::Fine,
        },
    }
}

/// An open "silent" alert, kept so it survives restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    /// The firing event's id: the episode.
    episode: String,
    /// The last heartbeat before it went quiet (ms).
    last_seen_ms: i64,
}

/// The watch over every gateway.
pub struct Watch {
    store: Store,
    cfg: LivenessConfig,
    open: Records,
    watching_since_ms: i64,
    member: Member,
}

impl Watch {
    /// Starts watching now.
    pub fn new(store: Store, cfg: LivenessConfig) -> Watch {
        let open = store.records("liveness");
        Watch {
            store,
            cfg,
            open,
            watching_since_ms: now_ms(),
            member: Member::default(),
        }
    }

    /// The same watch as `member` of a fleet: only the instance that leads
    /// the liveness role checks.
    pub fn in_fleet(mut self, member: Member) -> Watch {
        self.member = member;
        self
    }

    /// Checks every gateway once; returns the events it queued.
    pub fn check(&self, now_ms: i64) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        // Three reads a pass, whatever the fleet's size: per gateway reads
        // were 4,000 queries a second on PostgreSQL with 10,000 gateways.
        let mut beats = self.store.heartbeats()?;
        let mut opens: std::collections::HashMap<String, Open> =
            self.open.entries()?.into_iter().collect();
        for g in self.store.gateways()? {
            let beat = beats.remove(&g.id);
            let last_seen = beat.as_ref().and_then(|b| parse_ms(&b.received_at));
            let interval = beat.as_ref().and_then(|b| b.heartbeat.interval_s);
            let open: Option<Open> = opens.remove(&g.id);
            let allowance = self.cfg.allowance(&g.id, interval);
            let verdict = judge(
                last_seen,
                allowance,
                self.watching_since_ms,
                open.as_ref().map(|o| o.last_seen_ms),
                now_ms,
            );
            let site = beat.as_ref().and_then(|b| b.site.clone());
            let event = match (verdict, open, last_seen) {
                (Verdict::Silent, None, Some(seen)) => {
                    let id = new_id();
                    let mut e = Event::new(
                        id.clone(),
                        EventKind::Firing,
                        self.cfg.severity,
                        rfc3339(now_ms),
                    );
                    e.rule = Some(SILENT_RULE.into());
                    e.alert = Some(id.clone());
                    e.since = Some(rfc3339(seen));
                    e.detail = Some(format!(
                        "gateway {} has not reported since {} (allowed: {})",
                        g.id,
                        rfc3339(seen),
                        humantime::format_duration(allowance.unwrap_or(FALLBACK))
                    ));
                    // Recorded before it is queued: a crash in between
                    // re-queues the same id, which the store drops as seen.
                    self.put_open(
                        &g.id,
                        Some(&Open {
                            episode: id,
                            last_seen_ms: seen,
                        }),
                    )?;
                    e
                }
                (Verdict::Back, Some(o), _) => {
                    let mut e = Event::new(
                        new_id(),
                        EventKind::Resolved,
                        self.cfg.severity,
                        rfc3339(now_ms),
                    );
                    e.rule = Some(SILENT_RULE.into());
                    e.alert = Some(o.episode.clone());
                    e.since = Some(rfc3339(o.last_seen_ms));
                    e.detail = Some(format!("gateway {} is reporting again", g.id));
                    e
                }
                _ => continue,
            };
            self.store
                .accept(&g.id, site.as_deref(), std::slice::from_ref(&event))?;
            if event.kind == EventKind::Resolved {
                self.put_open(&g.id, None)?;
                tracing::info!(gateway = %g.id, "gateway reporting again: silent alert resolved");
            } else {
                tracing::warn!(gateway = %g.id, since = event.since.as_deref().unwrap_or(""), "gateway silent: alert queued");
            }
            out.push(event);
        }
        Ok(out)
    }

    fn put_open(&self, gateway: &str, open: Option<&Open>) -> Result<(), StoreError> {
        match open {
            Some(o) => self.open.put(gateway, o)?,
            None => self.open.remove(gateway)?,
        }
        self.open.flush()
    }

    /// Gateways with an open "silent" alert.
    pub fn silent(&self) -> Result<Vec<String>, StoreError> {
        self.open.keys()
    }

    /// Checks every few seconds until the task is dropped.
    pub async fn run(self) {
        let watch = std::sync::Arc::new(self);
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let w = watch.clone();
            let check = move || {
                if !w.member.leads(&w.store, Role::Liveness) {
                    return Ok(Vec::new());
                }
                w.check(now_ms())
            };
            match tokio::task::spawn_blocking(check).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "liveness check failed; retrying"),
                Err(e) => tracing::error!(error = %e, "liveness check panicked; retrying"),
            }
        }
    }
}

/// 128 random bits, hex: unique like the agent's ULIDs.
fn new_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn silence_is_judged_from_the_later_of_last_beat_and_watch_start() {
        let allow = Some(Duration::from_secs(180));
        // Quiet for 4 minutes, watch running for an hour: silent.
        assert_eq!(
            judge(Some(0), allow, -60 * MIN, None, 4 * MIN),
            Verdict::Silent
        );
        // Exactly at the allowance: not yet.
        assert_eq!(
            judge(Some(0), allow, -60 * MIN, None, 3 * MIN),
            Verdict::Fine
        );
        // The relay restarted a minute ago: the gateway gets a full allowance.
        assert_eq!(judge(Some(0), allow, 3 * MIN, None, 4 * MIN), Verdict::Fine);
        assert_eq!(
            judge(Some(0), allow, 3 * MIN, None, 6 * MIN + 1),
            Verdict::Silent
        );
        // Never reported: nothing to miss.
        assert_eq!(judge(None, allow, 0, None, 600 * MIN), Verdict::Fine);
    }

    #[test]
    fn an_open_alert_resolves_on_a_newer_beat_or_when_unwatched() {
        let allow = Some(Duration::from_secs(180));
        assert_eq!(judge(Some(0), allow, 0, Some(0), 100 * MIN), Verdict::Fine);
        assert_eq!(judge(Some(1), allow, 0, Some(0), 100 * MIN), Verdict::Back);
        assert_eq!(judge(Some(0), None, 0, Some(0), 100 * MIN), Verdict::Back);
        assert_eq!(judge(Some(0), None, 0, None, 100 * MIN), Verdict::Fine);
    }

    #[test]
    fn allowance_comes_from_gateway_then_fixed_then_interval() {
        let mut cfg = LivenessConfig::default();
        assert_eq!(cfg.allowance("a", Some(60)), Some(Duration::from_secs(180)));
        assert_eq!(cfg.allowance("a", None), Some(FALLBACK));
        cfg.silent_after = Some(Allowance(Some(Duration::from_secs(600))));
        assert_eq!(cfg.allowance("a", Some(60)), Some(Duration::from_secs(600)));
        cfg.per_gateway.insert("lab".into(), Allowance(None));
        assert_eq!(cfg.allowance("lab", Some(60)), None);
    }

    #[test]
    fn allowances_parse_with_clear_errors() {
        #[derive(Deserialize)]
        struct T {
            a: Allowance,
        }
        let t: T = toml::from_str("a = \"5m\"").unwrap();
        assert_eq!(t.a, Allowance(Some(Duration::from_secs(300))));
        let t: T = toml::from_str("a = \"off\"").unwrap();
        assert_eq!(t.a, Allowance(None));
        let e = toml::from_str::<T>("a = \"soon\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected a duration"), "{e}");
        let e = toml::from_str::<T>("a = \"1s\"").err().unwrap().to_string();
        assert!(e.contains("too short"), "{e}");
    }
}
