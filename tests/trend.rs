//! The trend an alert carries, on a real store: readings stored, rules
//! evaluated, trends attached and events committed the way the running agent
//! does it, then read back from the outbox (also after a reopen).

use std::path::Path;

use edgetherm::config::Config;
use edgetherm::reading::{Mono, Reading, Wall};
use edgetherm::rules::{Engine, Output};
use edgetherm::run::trend;
use edgetherm::store::{Store, StoreOptions};
use edgetherm_proto::trend::MAX_POINTS;
use edgetherm_proto::{Event, EventKind, Trend};

const T0: i64 = 1_790_000_000_000;
const MIN: i64 = 60_000;
/// One reading every 5 s.
const STEP: i64 = 5_000;

fn config(rule_extra: &str) -> Config {
    let src = format!(
        "[[sensor]]\nid = \"freezer\"\nkind = \"sim\"\nvalue = -18.0\n\n\
         [[rule]]\nid = \"freezer-warm\"\nsensors = \"freezer\"\nabove = -15.0\n{rule_extra}\n"
    );
    Config::parse(Path::new("test.toml"), &src).expect("a valid config")
}

/// Where a trend's readings come from.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// The sensor's line in memory, as the running agent does it.
    Memory,
    /// The store alone.
    Store,
}

/// Stores `value(ms)` every 5 s from T0 for `len_ms` in a store in `dir`,
/// runs the rules on each reading, and commits every event with its trend
/// as the agent's core does. Flushes halfway, so the trend is read from
/// flushed blocks and from the open ones alike.
fn run(dir: &Path, cfg: &Config, len_ms: i64, value: impl Fn(i64) -> f64) -> Store {
    run_via(Via::Memory, dir, cfg, len_ms, value)
}

fn run_via(via: Via, dir: &Path, cfg: &Config, len_ms: i64, value: impl Fn(i64) -> f64) -> Store {
    let (store, _) = Store::open(dir, &StoreOptions::default()).expect("store opens");
    let mut engine = Engine::new(&cfg.rules, &cfg.sensors, Mono::ORIGIN);
    let mut book = trend::Book::default();
    for ms in (0..=len_ms).step_by(STEP as usize) {
        let r = Reading {
            sensor: "freezer".into(),
            mono: Mono::ORIGIN.plus_ms(ms as u64),
            wall: Wall {
                ms: T0 + ms,
                unsynced: false,
            },
            value: Ok(value(ms)),
        };
        store.append_reading(&r).unwrap();
        if via == Via::Memory {
            let v = value(ms);
            trend::note(&mut book, &store, &cfg.rules, "freezer", T0 + ms, v);
        }
        let Output { mut events, states } = engine.on_reading(&r);
        let kept = (via == Via::Memory).then_some(&book);
        trend::attach(&store, kept, &cfg.rules, &mut events);
        store.commit(&states, &events).unwrap();
        if ms == len_ms / 2 {
            store.flush().unwrap();
        }
    }
    store
}

fn outbox(store: &Store) -> Vec<Event> {
    store
        .outbox_after(0, 100)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn only(events: &[Event], kind: EventKind) -> &Event {
    let found: Vec<&Event> = events.iter().filter(|e| e.kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind:?} in {events:#?}");
    found[0]
}

fn ms_of(stamp: &str) -> i64 {
    let t = humantime::parse_rfc3339(stamp).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Every point of `t` is a reading the store holds, at its stamp.
fn assert_points_are_stored(store: &Store, t: &Trend, at_ms: i64) {
    let stored = store.readings_since("freezer", T0, 100_000).unwrap();
    for (dt, v) in t.t.iter().zip(&t.v) {
        let ms = at_ms + i64::from(*dt) * 1000;
        let r = stored
            .iter()
            .find(|r| r.wall.ms == ms)
            .unwrap_or_else(|| panic!("no reading at {dt} s"));
        let c = r.value.clone().unwrap();
        assert_eq!((c * 100.0).round() as i32, *v, "at {dt} s");
    }
}

/// A freezer at about -18 °C for two hours with a blip to -16 °C 20 min
/// before the end, then warming past -15 °C.
fn blip_then_warming(ms: i64) -> f64 {
    let end = 2 * 60 * MIN;
    if ms == end - 20 * MIN {
        -16.0
    } else if ms >= end - 2 * MIN {
        -18.0 + (ms - (end - 2 * MIN)) as f64 / 30_000.0
    } else {
        -18.0 + 0.2 * ((ms / STEP) % 7) as f64 / 7.0
    }
}

#[test]
fn a_firing_event_in_the_outbox_carries_the_last_hour_spike_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("");
    let store = run(dir.path(), &cfg, 2 * 60 * MIN, blip_then_warming);
    let events = outbox(&store);
    let firing = only(&events, EventKind::Firing);
    let at_ms = ms_of(&firing.at);
    let t = firing.trend.as_ref().expect("the firing carries a trend");
    assert_eq!(t.check(), Ok(()));
    assert!(
        t.t.len() <= MAX_POINTS && t.t.len() >= 40,
        "{} points",
        t.t.len()
    );
    assert_eq!(*t.t.last().unwrap(), 0, "it ends at the event's `at`");
    assert_eq!(
        *t.v.last().unwrap(),
        (firing.value.unwrap() * 100.0).round() as i32,
        "with the value that fired it"
    );
    // The first of 30 slices keeps its lowest and highest reading.
    let first = i64::from(t.t[0]) * 1000;
    assert!(
        (-60 * MIN..=-58 * MIN).contains(&first),
        "it reaches back an hour: {first} ms"
    );
    assert!(t.v.contains(&-1600), "the blip is kept: {:?}", t.v);
    assert_points_are_stored(&store, t, at_ms);

    // The trend is committed with the event: a restart sends it as it was.
    let before = firing.clone();
    drop(store);
    let (store, _) = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    assert_eq!(only(&outbox(&store), EventKind::Firing), &before);
}

#[test]
fn memory_and_store_draw_the_same_curve() {
    // The same readings, the trend taken from the sensor's line in memory
    // and from the store alone: both keep the blip and the climb, reach back
    // as far and end at the value that fired.
    let cfg = config("");
    let mut trends = Vec::new();
    for via in [Via::Memory, Via::Store] {
        let dir = tempfile::tempdir().unwrap();
        let store = run_via(via, dir.path(), &cfg, 2 * 60 * MIN, blip_then_warming);
        let events = outbox(&store);
        let firing = only(&events, EventKind::Firing);
        let t = firing.trend.clone().expect("a trend");
        assert_eq!(t.check(), Ok(()));
        assert_points_are_stored(&store, &t, ms_of(&firing.at));
        trends.push(t);
    }
    let (book, store) = (&trends[0], &trends[1]);
    let range = |t: &Trend| (t.v.iter().min().copied(), t.v.iter().max().copied());
    assert_eq!(range(book), range(store));
    assert!(book.v.contains(&-1600) && store.v.contains(&-1600));
    assert_eq!(book.t.last(), store.t.last());
    assert_eq!(book.v.last(), store.v.last());
    assert!(
        (i64::from(book.t[0]) - i64::from(store.t[0])).abs() <= 130,
        "{book:?} {store:?}"
    );
    assert!(book.t.len() >= 40, "{} points", book.t.len());
}

#[test]
fn trend_off_sends_none() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("trend = \"off\"");
    assert_eq!(cfg.rules[0].trend, None);
    let store = run(dir.path(), &cfg, 2 * 60 * MIN, blip_then_warming);
    let events = outbox(&store);
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.trend.is_none()), "{events:#?}");
}

#[test]
fn a_resolved_event_covers_its_whole_episode() {
    // -18 °C for an hour, -10 °C (firing) for an hour, then -18 °C again;
    // the rule's window is 10 minutes, the episode six times that.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("trend = \"10m\"");
    let store = run(dir.path(), &cfg, 150 * MIN, |ms| {
        if (60 * MIN..120 * MIN).contains(&ms) {
            -10.0
        } else {
            -18.0
        }
    });
    let events = outbox(&store);
    let firing = only(&events, EventKind::Firing);
    let f = firing.trend.as_ref().unwrap();
    assert!(
        i64::from(f.t[0]) * 1000 >= -10 * MIN,
        "the firing: the window"
    );
    assert_eq!(f.v.last(), Some(&-1000));

    let resolved = only(&events, EventKind::Resolved);
    let r = resolved
        .trend
        .as_ref()
        .expect("the resolve carries a trend");
    assert_eq!(r.check(), Ok(()));
    assert!(r.t.len() <= MAX_POINTS);
    let at_ms = ms_of(&resolved.at);
    let since_ms = ms_of(resolved.since.as_deref().unwrap());
    assert_eq!((at_ms - since_ms, since_ms), (60 * MIN, T0 + 60 * MIN));
    let start = at_ms + i64::from(r.t[0]) * 1000;
    assert!(
        start < since_ms && start >= since_ms - 6 * MIN,
        "it starts shortly before the episode (10 % of it): {} min before",
        (since_ms - start) as f64 / MIN as f64
    );
    assert_eq!(r.v[0], -1800, "from where it was before");
    assert!(r.v.contains(&-1000));
    assert_eq!((r.t.last(), r.v.last()), (Some(&0), Some(&-1800)));
    assert_points_are_stored(&store, r, at_ms);
}
