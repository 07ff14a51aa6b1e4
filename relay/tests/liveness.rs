//! The liveness watch against a real store: a quiet gateway queues one
//! "silent" alert, a returning one queues its resolve (same episode), a
//! restart neither re-fires nor forgets an open alert, and a relay that has
//! just started gives every gateway a full allowance.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgetherm_proto::{EventKind, Heartbeat, Severity};
use edgetherm_relay::liveness::{LivenessConfig, Watch, SILENT_RULE};
use edgetherm_relay::store::Store;

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn beat(store: &Store, gw: &str, interval_s: u64) {
    let hb = Heartbeat {
        uptime_s: 10,
        outbox: 0,
        interval_s: Some(interval_s),
        sensors: Vec::new(),
        open: None,
        agent: None,
    };
    store.record_heartbeat(gw, Some("Lab".into()), &hb).unwrap();
}

#[test]
fn silent_then_back_is_one_episode_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    store.add_gateway("gw1").unwrap();
    store.add_gateway("never-deployed").unwrap();
    beat(&store, "gw1", 60);
    let watch = Watch::new(store.clone(), LivenessConfig::default());

    // Within 3 × 60 s: nothing.
    assert!(watch.check(now_ms() + 2 * MIN).unwrap().is_empty());
    // The relay has only just started watching, so even a long-past last
    // beat counts from now: quiet for 4 minutes from here is silent.
    let fired = watch.check(now_ms() + 4 * MIN).unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let f = &fired[0];
    assert_eq!(f.kind, EventKind::Firing);
    assert_eq!(f.rule.as_deref(), Some(SILENT_RULE));
    assert_eq!(f.alert.as_deref(), Some(f.id.as_str()));
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.detail.as_deref().unwrap().contains("gw1"), "{f:?}");
    let pending = store.pending(100).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.gateway, "gw1");
    assert_eq!(pending[0].1.site.as_deref(), Some("Lab"));
    // Still quiet: no second alert.
    assert!(watch.check(now_ms() + 10 * MIN).unwrap().is_empty());
    assert_eq!(watch.silent().unwrap(), vec!["gw1".to_string()]);

    // A restarted relay keeps the open alert and does not fire again.
    drop(watch);
    let watch = Watch::new(store.clone(), LivenessConfig::default());
    assert!(watch.check(now_ms() + 20 * MIN).unwrap().is_empty());

    // The gateway reports again (stamps have 1 s resolution).
    std::thread::sleep(Duration::from_millis(1100));
    beat(&store, "gw1", 60);
    let back = watch.check(now_ms()).unwrap();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].kind, EventKind::Resolved);
    assert_eq!(back[0].alert.as_deref(), Some(f.id.as_str()));
    assert_eq!(back[0].since, f.since);
    assert!(watch.silent().unwrap().is_empty());
    assert_eq!(store.pending(100).unwrap().len(), 2);
    assert!(watch.check(now_ms()).unwrap().is_empty());
}

#[test]
fn per_gateway_allowances_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::open(dir.path());
    for g in ["fast", "lab"] {
        store.add_gateway(g).unwrap();
        beat(&store, g, 10);
    }
    let cfg: LivenessConfig =
        toml::from_str("missed_heartbeats = 2\n[per_gateway]\nlab = \"off\"\n").unwrap();
    let watch = Watch::new(store.clone(), cfg);
    // 2 × 10 s for "fast"; "lab" is never watched.
    assert!(watch.check(now_ms() + 15_000).unwrap().is_empty());
    let fired = watch.check(now_ms() + 25_000).unwrap();
    let gws: Vec<String> = store
        .pending(10)
        .unwrap()
        .into_iter()
        .map(|(_, q)| q.gateway)
        .collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(gws, vec!["fast".to_string()]);
    assert!(watch.check(now_ms() + 600 * MIN).unwrap().is_empty());
}
