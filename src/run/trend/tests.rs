//! The span an event's trend covers and reading it from the store.

use std::time::Duration;

use edgetherm_proto::Severity;

use super::*;
use crate::reading::{Fault, Wall};

/// 2026-09-21T14:13:20Z.
const AT: i64 = 1_790_000_000_000;
const MIN: i64 = 60_000;

fn stamp(ms: i64) -> String {
    Wall {
        ms,
        unsynced: false,
    }
    .rfc3339()
}

fn rule(id: &str, trend: Option<Duration>) -> RuleConfig {
    RuleConfig {
        id: id.into(),
        sensors: vec!["*".into()],
        above: Some(30.0),
        below: None,
        hysteresis: 0.0,
        for_: Duration::ZERO,
        stale: None,
        severity: Severity::Critical,
        repeat: None,
        flap_window: Duration::from_secs(600),
        flap_changes: 6,
        trend,
    }
}

fn event(kind: EventKind, rule: Option<&str>, since: Option<i64>) -> Event {
    let mut e = Event::new("01E".into(), kind, Severity::Critical, stamp(AT));
    e.rule = rule.map(str::to_string);
    e.sensor = Some("s".into());
    e.since = since.map(stamp);
    e
}

fn readings(list: &[(i64, Result<f64, Fault>)]) -> Vec<StoredReading> {
    list.iter()
        .map(|(ms, v)| StoredReading {
            sensor: "s".into(),
            wall: Wall {
                ms: *ms,
                unsynced: false,
            },
            value: v.clone(),
        })
        .collect()
}

#[test]
fn firing_and_stale_reach_back_the_rule_window() {
    let rules = [
        rule("r", Some(DEFAULT_TREND)),
        rule("q", Some(Duration::from_secs(600))),
    ];
    for kind in [EventKind::Firing, EventKind::Stale] {
        let e = event(kind, Some("r"), Some(AT - 5 * 3_600_000));
        assert_eq!(span(&e, &rules), Some((AT - 60 * MIN, AT)), "{kind:?}");
    }
    let e = event(EventKind::Firing, Some("q"), None);
    assert_eq!(span(&e, &rules), Some((AT - 10 * MIN, AT)));
}

#[test]
fn resolved_covers_its_episode_with_a_lead_and_at_least_the_window() {
    let rules = [rule("r", Some(DEFAULT_TREND))];
    let resolved = |since| span(&event(EventKind::Resolved, Some("r"), since), &rules);
    // 5 h episode: 30 min (10 %) before its start.
    assert_eq!(resolved(Some(AT - 300 * MIN)), Some((AT - 330 * MIN, AT)));
    assert_eq!(resolved(Some(AT - 70 * MIN)), Some((AT - 77 * MIN, AT)));
    // A short episode: the window.
    assert_eq!(resolved(Some(AT - 2 * MIN)), Some((AT - 60 * MIN, AT)));
    // Three days: cut to 24 h.
    assert_eq!(
        resolved(Some(AT - 3 * 1440 * MIN)),
        Some((AT - 1440 * MIN, AT))
    );
    assert_eq!(resolved(None), Some((AT - 60 * MIN, AT)));
    // With a 10 min window, a 20 min episode starts 5 min (not 2) early.
    let rules = [rule("r", Some(Duration::from_secs(600)))];
    let e = event(EventKind::Resolved, Some("r"), Some(AT - 20 * MIN));
    assert_eq!(span(&e, &rules), Some((AT - 25 * MIN, AT)));
}

#[test]
fn events_without_a_trend() {
    let rules = [rule("r", Some(DEFAULT_TREND)), rule("quiet", None)];
    assert_eq!(
        span(&event(EventKind::Firing, Some("quiet"), None), &rules),
        None
    );
    assert_eq!(
        span(
            &event(EventKind::Resolved, Some("quiet"), Some(AT - MIN)),
            &rules
        ),
        None
    );
    for kind in [
        EventKind::SensorFault,
        EventKind::Test,
        EventKind::AgentFault,
    ] {
        assert_eq!(span(&event(kind, None, None), &rules), None, "{kind:?}");
    }
    let mut e = event(EventKind::Firing, Some("r"), None);
    e.sensor = None;
    assert_eq!(span(&e, &rules), None);
    e = event(EventKind::Firing, Some("r"), None);
    e.at = "yesterday".into();
    assert_eq!(span(&e, &rules), None);
    // A rule removed from the config: the default.
    let e = event(EventKind::Resolved, Some("gone"), Some(AT - MIN));
    assert_eq!(span(&e, &rules), Some((AT - 60 * MIN, AT)));
}

#[test]
fn faults_and_later_readings_are_left_out() {
    let rules = [rule("r", Some(DEFAULT_TREND))];
    let mut events = vec![event(EventKind::Firing, Some("r"), None)];
    let stored = readings(&[
        (AT - 2_000, Ok(20.0)),
        (AT - 1_000, Err(Fault::Crc)),
        (AT, Ok(31.5)),
        (AT + 1_000, Ok(40.0)),
    ]);
    let mut asked = Vec::new();
    attach_from(
        |sensor, from, limit| {
            asked.push((sensor.to_string(), from, limit));
            Ok(stored.clone())
        },
        None,
        &rules,
        &mut events,
    );
    assert_eq!(asked, vec![("s".to_string(), AT - 60 * MIN, BUDGET.limit)]);
    let t = events[0].trend.as_ref().expect("a trend");
    assert_eq!(
        (t.t.as_slice(), t.v.as_slice()),
        (&[-2, 0][..], &[2000, 3150][..])
    );
}

#[test]
fn a_failed_read_leaves_the_event_without_a_trend() {
    let rules = [rule("r", Some(DEFAULT_TREND))];
    let mut events = vec![
        event(EventKind::Firing, Some("r"), None),
        event(EventKind::Stale, Some("r"), None),
    ];
    attach_from(
        |_, _, _| Err(StoreError::Closed("/nowhere".into())),
        None,
        &rules,
        &mut events,
    );
    assert!(events.iter().all(|e| e.trend.is_none()));
    // Nothing read (all faults, or none): no trend rather than an empty one.
    attach_from(
        |_, _, _| Ok(readings(&[(AT, Err(Fault::Timeout))])),
        None,
        &rules,
        &mut events,
    );
    assert!(events.iter().all(|e| e.trend.is_none()));
}
