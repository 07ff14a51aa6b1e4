//! The store on real files: readings, the transactional outbox, trimming, and
//! recovery from a damaged database.

#[path = "common/store_reading.rs"]
mod store_reading;
use store_reading::reading;
#[path = "common/raw_sled.rs"]
mod raw_sled;
use raw_sled::open_sled;

use edgetherm::reading::Fault;
use edgetherm::store::{Opened, Store, StoreOptions};
use edgetherm_proto::{Event, EventKind, Severity};

const T0: i64 = 1_790_000_000_000;

fn event(n: u32) -> Event {
    let mut e = Event::new(
        format!("01TEST{n:020}"),
        EventKind::Firing,
        Severity::Critical,
        "2026-11-21T10:00:00Z".into(),
    );
    e.rule = Some("r".into());
    e.sensor = Some("s".into());
    e.value = Some(31.0);
    e.threshold = Some(30.0);
    e
}

fn open(dir: &std::path::Path) -> (Store, Opened) {
    let (store, report) = Store::open(dir, &StoreOptions::default()).expect("store opens");
    (store, report.opened)
}

#[test]
fn readings_round_trip_in_time_order_per_sensor() {
    let dir = tempfile::tempdir().unwrap();
    let (store, opened) = open(dir.path());
    assert_eq!(opened, Opened::Created);
    store
        .append_reading(&reading("b", T0 + 2_000, Ok(2.0)))
        .unwrap();
    store
        .append_reading(&reading("a", T0 + 1_000, Ok(1.5)))
        .unwrap();
    store
        .append_reading(&reading(
            "a",
            T0 + 3_000,
            Err(Fault::Missing("gone".into())),
        ))
        .unwrap();
    let mut unsynced = reading("a", T0 + 4_000, Ok(-3.25));
    unsynced.wall.unsynced = true;
    store.append_reading(&unsynced).unwrap();
    let rows = store.readings_since("a", T0, 100).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].value, Ok(1.5));
    assert_eq!(rows[1].value, Err(Fault::Missing("gone".into())));
    assert_eq!(rows[2].value, Ok(-3.25));
    assert!(rows[2].wall.unsynced);
    assert_eq!(store.readings_since("a", T0 + 2_500, 100).unwrap().len(), 2);
    assert_eq!(store.readings_since("a", T0, 1).unwrap().len(), 1, "limit");
}

#[test]
fn readings_survive_a_reopen_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        for i in 0..100 {
            store
                .append_reading(&reading("s", T0 + i * 1000, Ok(i as f64)))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let (store, opened) = open(dir.path());
    assert_eq!(opened, Opened::Existing);
    assert_eq!(store.reading_count(), 100);
}

#[test]
fn commit_saves_state_and_events_together_and_outbox_drains() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        let seqs = store
            .commit(
                &[("a/r/s".into(), Some(b"{}".to_vec()))],
                &[event(1), event(2)],
            )
            .unwrap();
        assert_eq!(seqs.len(), 2);
        assert!(seqs[0] < seqs[1]);
        // No explicit flush: commit is durable by itself.
    }
    let (store, _) = open(dir.path());
    assert_eq!(
        store.alert_states().unwrap(),
        vec![("a/r/s".to_string(), b"{}".to_vec())]
    );
    let out = store.outbox_after(0, 10).unwrap();
    assert_eq!(
        out.iter().map(|(_, e)| e.id.clone()).collect::<Vec<_>>(),
        vec![event(1).id, event(2).id]
    );
    assert_eq!(store.outbox_after(out[0].0, 10).unwrap().len(), 1);
    store.set_logged_upto(out[0].0).unwrap();
    store.outbox_remove(&[out[0].0]).unwrap();
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(store.logged_upto(), out[0].0);
    store.commit(&[("a/r/s".into(), None)], &[]).unwrap();
    assert!(store.alert_states().unwrap().is_empty());
}

#[test]
fn retention_and_the_disk_cap_drop_whole_blocks_oldest_first_never_events() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.commit(&[], &[event(1)]).unwrap();
    for i in 0..2_000i64 {
        store
            .append_reading(&reading("s", T0 + i * 60_000, Ok(20.0)))
            .unwrap();
    }
    store.flush().unwrap();
    // Retention: keep the last 1000 minutes. Blocks go whole, so the block
    // straddling the cutoff stays, with readings older than the cutoff.
    let now = T0 + 2_000 * 60_000;
    let cutoff = now - 1_000 * 60_000;
    let t = store.trim(Some(now), 1_000 * 60_000, u64::MAX).unwrap();
    assert_eq!(t.for_space, 0);
    assert!(t.expired > 0 && t.expired <= 1_000, "{t:?}");
    assert_eq!(store.reading_count() as u64, 2_000 - t.expired);
    let kept = store.readings_since("s", i64::MIN, usize::MAX).unwrap();
    assert_eq!(kept.len() as u64, 2_000 - t.expired);
    assert_eq!(
        kept.iter().filter(|r| r.wall.ms >= cutoff).count(),
        1_000,
        "nothing newer than the cutoff went"
    );
    let oldest = kept[0].wall.ms;
    assert!(
        oldest > cutoff - edgetherm::store::MAX_SPAN_MS,
        "at most one block older than the cutoff"
    );
    // A cap at half the file: the store keeps the time span of readings that
    // fits (span x cap / size, less 10%), dropping the oldest blocks beyond it.
    let cap = store.size_on_disk() / 2;
    let t = store.trim(None, 0, cap).unwrap();
    assert_eq!(t.expired, 0, "no retention without a trusted clock");
    let budget = store.space_budget().expect("a budget was taken");
    assert!(t.for_space > 0, "{t:?}");
    let kept = store.readings_since("s", i64::MIN, usize::MAX).unwrap();
    let newest = T0 + 1_999 * 60_000;
    assert_eq!(kept.last().unwrap().wall.ms, newest, "the newest stay");
    assert!(kept[0].wall.ms > newest - budget.span_ms - edgetherm::store::MAX_SPAN_MS);
    assert!(
        kept.iter()
            .filter(|r| r.wall.ms >= newest - budget.span_ms)
            .count() as i64
            == budget.span_ms / 60_000 + 1,
        "everything inside the budget is kept"
    );
    assert_eq!(
        store.outbox_len(),
        1,
        "alert events are never dropped for space"
    );
}

/// Overwrites the middle of every file in the store with garbage.
fn damage(store_dir: &std::path::Path) {
    for entry in std::fs::read_dir(store_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let mut bytes = std::fs::read(&p).unwrap();
            let n = bytes.len();
            for b in bytes.iter_mut().skip(n / 4).take(n / 2) {
                *b = 0xA5;
            }
            std::fs::write(&p, bytes).unwrap();
        }
    }
}

#[test]
fn a_damaged_store_is_moved_aside_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        for i in 0..500 {
            store
                .append_reading(&reading("s", T0 + i, Ok(1.0)))
                .unwrap();
        }
        store.commit(&[], &[event(1)]).unwrap();
    }
    damage(&Store::dir_in(dir.path()));
    let (store, opened) = open(dir.path());
    let Opened::Recovered { moved_to, reason } = opened else {
        panic!("expected recovery, got {opened:?}")
    };
    assert!(moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("store.damaged-"));
    assert!(moved_to.is_dir(), "the damaged copy is kept for inspection");
    assert!(!reason.is_empty());
    assert_eq!(store.reading_count(), 0, "a fresh store");
    store.append_reading(&reading("s", T0, Ok(1.0))).unwrap();
    store.flush().unwrap();
}

#[test]
fn an_undecodable_outbox_entry_counts_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open_sled(&Store::dir_in(dir.path()));
        db.open_tree("outbox")
            .unwrap()
            .insert(7u64.to_be_bytes(), b"not json".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    // sled's flusher thread can hold the file lock a moment after the handle
    // is dropped; wait for it (bounded) rather than race it.
    let mut tries = 0;
    let opened = loop {
        match Store::open(dir.path(), &StoreOptions::default()) {
            Err(edgetherm::store::StoreError::Locked(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("store opens").1.opened,
        }
    };
    match opened {
        Opened::Recovered { reason, .. } => assert!(reason.contains("outbox event"), "{reason}"),
        other => panic!("expected recovery, got {other:?}"),
    }
}

#[test]
fn the_disk_cap_does_not_drain_the_history_when_sled_keeps_its_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for i in 0..5_000i64 {
        store
            .append_reading(&reading("s", T0 + i * 10_000, Ok(20.0)))
            .unwrap();
    }
    store.flush().unwrap();
    let cap = store.size_on_disk() / 2;
    let first = store.trim(None, 0, cap).unwrap();
    assert!(first.for_space > 0, "over the cap: the oldest readings go");
    let kept = store.reading_count();
    // sled does not shrink its file after deletes; repeated passes without
    // growth must not keep dropping readings (this used to wipe the history).
    for _ in 0..5 {
        assert_eq!(store.trim(None, 0, cap).unwrap().for_space, 0);
    }
    assert_eq!(store.reading_count(), kept);
    // Once the file grows again, the cap applies again.
    let mut grown = false;
    for i in 5_000..40_000i64 {
        store
            .append_reading(&reading("s", T0 + i * 10_000, Ok(20.0)))
            .unwrap();
        if i % 1_000 == 0 {
            store.flush().unwrap();
            if store.trim(None, 0, cap).unwrap().for_space > 0 {
                grown = true;
                break;
            }
        }
    }
    assert!(
        grown,
        "growth past the mark triggers another trim for space"
    );
}

#[test]
fn the_reading_budget_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cap, budget) = {
        let (store, _) = open(dir.path());
        for i in 0..3_000i64 {
            store
                .append_reading(&reading("s", T0 + i * 10_000, Ok(20.0)))
                .unwrap();
        }
        store.flush().unwrap();
        let cap = store.size_on_disk() / 2;
        assert!(store.trim(None, 0, cap).unwrap().for_space > 0);
        (cap, store.space_budget().unwrap())
    };
    let mut tries = 0;
    let store = loop {
        match Store::open(dir.path(), &StoreOptions::default()) {
            Err(edgetherm::store::StoreError::Locked(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("store opens").0,
        }
    };
    assert_eq!(store.space_budget(), Some(budget), "saved");
    assert_eq!(
        store.trim(None, 0, cap).unwrap().for_space,
        0,
        "not lowered again by a restart"
    );
    assert!(store.reading_count() > 0);
    // A different cap starts afresh.
    assert!(store.trim(None, 0, cap / 2).unwrap().for_space > 0);
}
