//! Which conversations receive which events: the relay's `[routing]`
//! defaults, and each conversation's own `subscribe` / `unsubscribe` /
//! `mute` commands.
//!
//! A pattern is `GATEWAY/SENSOR` (globs, e.g. `dc1-*/rack*`), `site:NAME`
//! (a glob over the site label), or a single glob matched against the
//! gateway id, the sensor id and the site.

use edgetherm_proto::glob::glob_match;
use edgetherm_proto::{EventKind, Severity};
use serde::Deserialize;

use crate::conversations::{ConvState, ConversationRef};
use crate::store::Queued;

/// `[routing]` in relay.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// What a conversation receives before any `subscribe`.
    #[serde(default)]
    pub default: DefaultRoute,
    /// Events below this severity are not sent (tests always are).
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
}

fn default_min_severity() -> Severity {
    Severity::Warning
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            default: DefaultRoute::All,
            min_severity: default_min_severity(),
        }
    }
}

/// `[routing] default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultRoute {
    /// Everything, until the user narrows it.
    #[default]
    All,
    /// Nothing, until the user subscribes.
    None,
}

/// True when `pattern` matches the event's gateway, site and sensor.
pub fn matches(pattern: &str, q: &Queued) -> bool {
    let sensor = q.event.sensor.as_deref().unwrap_or("");
    let site = q.site.as_deref().unwrap_or("");
    if let Some(s) = pattern.strip_prefix("site:") {
        return glob_match(s.trim(), site);
    }
    match pattern.split_once('/') {
        Some((g, s)) => glob_match(g, &q.gateway) && glob_match(s, sensor),
        None => {
            glob_match(pattern, &q.gateway)
                || glob_match(pattern, sensor)
                || glob_match(pattern, site)
        }
    }
}

/// True when conversation `c` should get a new alert message for `q` at `now_ms`.
pub fn wants(c: &ConversationRef, q: &Queued, routing: &Routing, now_ms: i64) -> bool {
    // A channel thread is reached through its channel (a new thread per alert).
    if c.state != ConvState::Active || c.is_thread() {
        return false;
    }
    let test = q.event.kind == EventKind::Test;
    if !test && q.event.severity < routing.min_severity {
        return false;
    }
    if c.mutes
        .iter()
        .any(|m| m.until_ms > now_ms && matches(&m.pattern, q))
    {
        return false;
    }
    if c.unsubscribed {
        return false;
    }
    if c.subscriptions.is_empty() {
        return routing.default == DefaultRoute::All;
    }
    test || c.subscriptions.iter().any(|p| matches(p, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::activity::Account;
    use crate::conversations::Mute;
    use edgetherm_proto::Event;

    fn queued(gateway: &str, sensor: &str, severity: Severity) -> Queued {
        Queued {
            gateway: gateway.into(),
            site: Some("Datacenter 1".into()),
            event: {
                let mut e = Event::new(
                    "01A".into(),
                    EventKind::Firing,
                    severity,
                    "2026-11-21T10:00:00Z".into(),
                );
                e.alert = Some("01A".into());
                e.rule = Some("r".into());
                e.sensor = Some(sensor.into());
                e.value = Some(31.0);
                e.threshold = Some(30.0);
                e
            },
        }
    }

    fn conv() -> ConversationRef {
        let mut c = ConversationRef::new(
            "a:1",
            "personal",
            "https://smba.trafficmanager.net/teams/",
            Account::default(),
            "",
        );
        c.tenant_id = Some("t".into());
        c
    }

    #[test]
    fn patterns() {
        let q = queued("dc1-gw01", "rack1-inlet", Severity::Critical);
        assert!(matches("dc1-*/rack*", &q));
        assert!(!matches("dc2-*/rack*", &q));
        assert!(matches("site:Datacenter*", &q));
        assert!(!matches("site:Lab", &q));
        assert!(matches("rack1-inlet", &q));
        assert!(matches("dc1-gw01", &q));
        assert!(!matches("freezer", &q));
    }

    #[test]
    fn defaults_subscriptions_mutes_and_severity() {
        let r = Routing::default();
        let q = queued("dc1-gw01", "rack1-inlet", Severity::Critical);
        let mut c = conv();
        assert!(wants(&c, &q, &r, 0), "default all");
        assert!(
            !wants(&c, &queued("g", "s", Severity::Info), &r, 0),
            "below min_severity"
        );
        let none = Routing {
            default: DefaultRoute::None,
            ..Routing::default()
        };
        assert!(!wants(&c, &q, &none, 0), "default none");
        c.subscriptions = vec!["dc1-*/*".into()];
        assert!(wants(&c, &q, &none, 0), "subscribed");
        assert!(!wants(
            &c,
            &queued("dc2-gw01", "x", Severity::Critical),
            &none,
            0
        ));
        c.mutes = vec![Mute {
            pattern: "rack*".into(),
            until_ms: 1_000,
        }];
        assert!(!wants(&c, &q, &none, 999), "muted");
        assert!(wants(&c, &q, &none, 1_000), "mute over");
        c.unsubscribed = true;
        assert!(!wants(&c, &q, &r, 0));
        let mut blocked = conv();
        blocked.state = ConvState::Blocked;
        assert!(
            !wants(&blocked, &q, &r, 0),
            "never to a blocked conversation"
        );
    }
}
