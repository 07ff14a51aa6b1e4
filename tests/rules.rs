//! Rule engine behaviour, including property tests: no notification storm in
//! the hysteresis band, `for` never fires early, and a restart in any state
//! neither re-fires nor loses an alert.

use std::collections::BTreeMap;
use std::time::Duration;

use edgetherm::config::{RuleConfig, SensorConfig, SensorSource, Severity, SimPattern};
use edgetherm::reading::{Fault, Mono, Reading, Wall};
use edgetherm::rules::{Engine, Output};
use edgetherm_proto::{Event, EventKind};
use proptest::prelude::*;

const T0_WALL: i64 = 1_790_000_000_000;

fn sensor(id: &str) -> SensorConfig {
    SensorConfig {
        id: id.into(),
        name: Some(format!("Sensor {id}")),
        interval: Duration::from_secs(1),
        source: SensorSource::Sim(SimPattern::Constant(20.0)),
    }
}

fn rule(above: Option<f64>, below: Option<f64>, hysteresis: f64, for_s: u64) -> RuleConfig {
    RuleConfig {
        id: "r".into(),
        sensors: vec!["s*".into()],
        above,
        below,
        hysteresis,
        for_: Duration::from_secs(for_s),
        stale: None,
        severity: Severity::Critical,
        repeat: None,
        flap_window: Duration::from_secs(600),
        flap_changes: 1000,
        trend: Some(Duration::from_secs(3600)),
    }
}

fn at(ms: u64) -> (Mono, Wall) {
    (
        Mono::ORIGIN.plus_ms(ms),
        Wall {
            ms: T0_WALL + ms as i64,
            unsynced: false,
        },
    )
}

fn reading(ms: u64, v: Result<f64, Fault>) -> Reading {
    let (mono, wall) = at(ms);
    Reading {
        sensor: "s1".into(),
        mono,
        wall,
        value: v,
    }
}

/// Applies an output's state changes to a map standing in for the store.
fn apply(store: &mut BTreeMap<String, Vec<u8>>, out: &Output) {
    for (k, v) in &out.states {
        match v {
            Some(b) => store.insert(k.clone(), b.clone()),
            None => store.remove(k),
        };
    }
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn fires_after_for_and_resolves_past_the_band() {
    let r = rule(Some(30.0), None, 1.0, 10);
    let mut e = Engine::new(&[r], &[sensor("s1")], at(0).0);
    assert!(
        e.on_reading(&reading(0, Ok(31.0))).events.is_empty(),
        "pending, not firing"
    );
    assert!(
        e.on_reading(&reading(9_999, Ok(31.0))).events.is_empty(),
        "not before `for`"
    );
    let fired = e.on_reading(&reading(10_000, Ok(31.4))).events;
    assert_eq!(kinds(&fired), vec![EventKind::Firing]);
    let f = &fired[0];
    assert_eq!(f.value, Some(31.4));
    assert_eq!(f.threshold, Some(30.0));
    assert_eq!(f.alert.as_deref(), Some(f.id.as_str()));
    assert_eq!(
        f.since.as_deref(),
        Some(
            Wall {
                ms: T0_WALL,
                unsynced: false
            }
            .rfc3339()
            .as_str()
        ),
        "since = start of the breach"
    );
    assert!(
        e.on_reading(&reading(11_000, Ok(29.5))).events.is_empty(),
        "inside the band: still firing"
    );
    let resolved = e.on_reading(&reading(12_000, Ok(29.0))).events;
    assert_eq!(kinds(&resolved), vec![EventKind::Resolved]);
    assert_eq!(
        resolved[0].alert, f.alert,
        "resolved names the alert it closes"
    );
}

#[test]
fn a_dip_resets_the_pending_countdown() {
    let mut e = Engine::new(&[rule(Some(30.0), None, 0.0, 10)], &[sensor("s1")], at(0).0);
    e.on_reading(&reading(0, Ok(31.0)));
    e.on_reading(&reading(5_000, Ok(29.0)));
    e.on_reading(&reading(6_000, Ok(31.0)));
    assert!(e.on_reading(&reading(15_000, Ok(31.0))).events.is_empty());
    assert_eq!(
        kinds(&e.on_reading(&reading(16_000, Ok(31.0))).events),
        vec![EventKind::Firing]
    );
}

#[test]
fn below_threshold_and_its_band() {
    let mut e = Engine::new(&[rule(None, Some(2.0), 0.5, 0)], &[sensor("s1")], at(0).0);
    let fired = e.on_reading(&reading(0, Ok(1.0))).events;
    assert_eq!(fired[0].direction, Some(edgetherm_proto::Direction::Below));
    assert!(e.on_reading(&reading(1_000, Ok(2.4))).events.is_empty());
    assert_eq!(
        kinds(&e.on_reading(&reading(2_000, Ok(2.5))).events),
        vec![EventKind::Resolved]
    );
}

#[test]
fn faults_are_not_temperatures_and_are_rate_limited() {
    let mut e = Engine::new(&[rule(Some(30.0), None, 0.0, 0)], &[sensor("s1")], at(0).0);
    let first = e.on_reading(&reading(0, Err(Fault::PowerOn))).events;
    assert_eq!(kinds(&first), vec![EventKind::SensorFault]);
    assert!(first[0].detail.as_deref().unwrap().contains("85.0"));
    assert_eq!(first[0].rule, None);
    for i in 1..100 {
        assert!(
            e.on_reading(&reading(i * 1_000, Err(Fault::Crc)))
                .events
                .is_empty(),
            "rate-limited"
        );
    }
    let later = e.on_reading(&reading(3_600_000, Err(Fault::Crc))).events;
    assert_eq!(
        kinds(&later),
        vec![EventKind::SensorFault],
        "hourly reminder"
    );
    assert!(later[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("100 faulty readings"));
}

#[test]
fn stale_fires_once_and_resolves_on_the_next_reading() {
    let mut r = rule(None, None, 0.0, 0);
    r.stale = Some(Duration::from_secs(300));
    let mut e = Engine::new(&[r], &[sensor("s1")], at(0).0);
    e.on_reading(&reading(1_000, Ok(20.0)));
    // Faulty readings do not count as readings.
    e.on_reading(&reading(100_000, Err(Fault::Crc)));
    let (m, w) = at(300_999);
    assert!(e.on_tick(m, w).events.is_empty());
    let (m, w) = at(301_000);
    let stale = e.on_tick(m, w).events;
    assert_eq!(kinds(&stale), vec![EventKind::Stale]);
    let (m, w) = at(400_000);
    assert!(e.on_tick(m, w).events.is_empty(), "once");
    let back = e.on_reading(&reading(401_000, Ok(21.0))).events;
    assert_eq!(kinds(&back), vec![EventKind::Resolved]);
    assert_eq!(back[0].alert.as_deref(), Some(stale[0].id.as_str()));
}

#[test]
fn repeat_renotifies_while_firing() {
    let mut r = rule(Some(30.0), None, 0.0, 0);
    r.repeat = Some(Duration::from_secs(3600));
    let mut e = Engine::new(&[r], &[sensor("s1")], at(0).0);
    let first = e.on_reading(&reading(0, Ok(35.0))).events;
    let (m, w) = at(3_599_000);
    assert!(e.on_tick(m, w).events.is_empty());
    let (m, w) = at(3_600_000);
    let again = e.on_tick(m, w).events;
    assert_eq!(kinds(&again), vec![EventKind::Firing]);
    assert_eq!(again[0].alert, first[0].alert, "same alert episode");
    assert_ne!(again[0].id, first[0].id, "new event id");
}

#[test]
fn flapping_is_one_notification_not_dozens() {
    let mut r = rule(Some(30.0), None, 0.0, 0);
    r.flap_changes = 4;
    r.flap_window = Duration::from_secs(600);
    let mut e = Engine::new(&[r], &[sensor("s1")], at(0).0);
    let mut events = Vec::new();
    // A sensor oscillating across the threshold every 10 s for 5 minutes.
    for i in 0..30u64 {
        let v = if i % 2 == 0 { 31.0 } else { 29.0 };
        events.extend(e.on_reading(&reading(i * 10_000, Ok(v))).events);
    }
    assert_eq!(
        kinds(&events),
        vec![EventKind::Firing, EventKind::Resolved, EventKind::Firing],
        "then held"
    );
    assert_eq!(e.status()[0].state, "flapping");
    // Calm for a whole window: resolves once.
    let mut later = Vec::new();
    for i in 0..=61u64 {
        later.extend(
            e.on_reading(&reading(300_000 + i * 10_000, Ok(25.0)))
                .events,
        );
    }
    assert_eq!(kinds(&later), vec![EventKind::Resolved]);
    assert!(later[0].detail.as_deref().unwrap().contains("flapping"));
}

#[test]
fn removed_rule_closes_its_open_alert() {
    let mut store = BTreeMap::new();
    let mut e = Engine::new(&[rule(Some(30.0), None, 0.0, 0)], &[sensor("s1")], at(0).0);
    apply(&mut store, &e.on_reading(&reading(0, Ok(35.0))));
    let mut other = rule(Some(50.0), None, 0.0, 0);
    other.id = "other".into();
    let (m, w) = at(1_000);
    let mut e2 = Engine::new(&[other], &[sensor("s1")], m);
    let out = e2.restore(store.into_iter().collect(), m, w);
    assert_eq!(kinds(&out.events), vec![EventKind::Resolved]);
    assert_eq!(out.states.len(), 1);
    assert_eq!(out.states[0].1, None);
}

/// A scripted step: a reading, a tick, or a restart.
#[derive(Debug, Clone)]
enum Op {
    Value(u64, f64),
    Fault(u64),
    Tick(u64),
    Restart,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            6 => (100u64..20_000, 20.0f64..40.0).prop_map(|(dt, v)| Op::Value(dt, (v * 10.0).round() / 10.0)),
            1 => (100u64..20_000).prop_map(Op::Fault),
            2 => (100u64..60_000).prop_map(Op::Tick),
            1 => Just(Op::Restart),
        ],
        1..120,
    )
}

/// Runs `ops`, optionally honouring restarts (rebuilding the engine from the saved map).
fn run(rules: &[RuleConfig], ops: &[Op], restarts: bool) -> Vec<Event> {
    let sensors = [sensor("s1")];
    let mut t = 0u64;
    let mut store = BTreeMap::new();
    let mut e = Engine::new(rules, &sensors, at(0).0);
    let mut events = Vec::new();
    for op in ops {
        let out = match op {
            Op::Value(dt, v) => {
                t += dt;
                e.on_reading(&reading(t, Ok(*v)))
            }
            Op::Fault(dt) => {
                t += dt;
                e.on_reading(&reading(t, Err(Fault::Crc)))
            }
            Op::Tick(dt) => {
                t += dt;
                let (m, w) = at(t);
                e.on_tick(m, w)
            }
            Op::Restart if restarts => {
                let (m, w) = at(t);
                e = Engine::new(rules, &sensors, m);
                e.restore(store.clone().into_iter().collect(), m, w)
            }
            Op::Restart => Output::default(),
        };
        apply(&mut store, &out);
        events.extend(out.events);
    }
    events
}

/// Threshold events only, as (kind, alert-episode index) so runs with fresh ULIDs compare.
fn shape(events: &[Event]) -> Vec<(EventKind, usize)> {
    let mut episodes: Vec<String> = Vec::new();
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Firing | EventKind::Resolved))
        .map(|e| {
            let a = e.alert.clone().unwrap();
            let idx = episodes.iter().position(|x| *x == a).unwrap_or_else(|| {
                episodes.push(a);
                episodes.len() - 1
            });
            (e.kind, idx)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn no_storm_inside_the_hysteresis_band(values in prop::collection::vec(29.0f64..=30.0, 1..200)) {
        let mut e = Engine::new(&[rule(Some(30.0), None, 1.0, 0)], &[sensor("s1")], at(0).0);
        prop_assert_eq!(kinds(&e.on_reading(&reading(0, Ok(31.0))).events), vec![EventKind::Firing]);
        for (i, v) in values.iter().enumerate() {
            // 29.0 itself is the resolve point; stay strictly inside the band.
            let v = if *v <= 29.0 { 29.01 } else { *v };
            let out = e.on_reading(&reading(1_000 * (i as u64 + 1), Ok(v)));
            prop_assert!(out.events.is_empty(), "event inside the band at {}: {:?}", v, out.events);
        }
    }

    #[test]
    fn for_never_fires_early(ops in ops(), for_s in 0u64..120) {
        let r = rule(Some(30.0), None, 0.0, for_s);
        let mut e = Engine::new(std::slice::from_ref(&r), &[sensor("s1")], at(0).0);
        let mut t = 0u64;
        let mut breach_since: Option<u64> = None;
        for op in &ops {
            let events = match op {
                Op::Value(dt, v) => {
                    t += dt;
                    if *v > 30.0 { breach_since.get_or_insert(t); } else { breach_since = None; }
                    e.on_reading(&reading(t, Ok(*v))).events
                }
                Op::Fault(dt) => { t += dt; e.on_reading(&reading(t, Err(Fault::Crc))).events }
                Op::Tick(dt) => { t += dt; let (m, w) = at(t); e.on_tick(m, w).events }
                Op::Restart => Vec::new(),
            };
            for ev in events.iter().filter(|ev| ev.kind == EventKind::Firing) {
                let since = breach_since.expect("fired without a breach");
                prop_assert!(t - since >= for_s * 1000, "fired {} ms into a {} s breach", t - since, for_s);
                prop_assert!(ev.value.unwrap() > 30.0);
            }
        }
    }

    #[test]
    fn restart_in_any_state_neither_refires_nor_loses(ops in ops(), for_s in 0u64..60, hysteresis in 0.0f64..3.0) {
        let r = rule(Some(30.0), Some(22.0), (hysteresis * 10.0).round() / 10.0, for_s);
        let straight = shape(&run(std::slice::from_ref(&r), &ops, false));
        let restarted = shape(&run(std::slice::from_ref(&r), &ops, true));
        prop_assert_eq!(straight, restarted);
    }

    #[test]
    fn firing_and_resolved_alternate(ops in ops()) {
        let mut r = rule(Some(30.0), None, 0.5, 5);
        r.flap_changes = 4;
        let events = run(&[r], &ops, true);
        let mut open: Option<String> = None;
        for e in events.iter().filter(|e| matches!(e.kind, EventKind::Firing | EventKind::Resolved)) {
            match e.kind {
                EventKind::Firing if open.is_none() => open = e.alert.clone(),
                EventKind::Firing => prop_assert_eq!(&open, &e.alert, "a second episode opened while one was firing"),
                _ => { prop_assert_eq!(&open, &e.alert, "resolved something not open"); open = None; }
            }
        }
    }
}
