//! A store written in the previous layout (tree `readings`, one key per
//! reading, as the code before blocks wrote it) is converted at open.

#[path = "common/raw_sled.rs"]
mod raw_sled;
use raw_sled::open_sled;

use edgetherm::reading::Fault;
use edgetherm::store::{Opened, Store, StoreOptions};

const T0: i64 = 1_790_000_000_000;

/// The old key: wall ms (sign-flipped BE) ++ sled id (BE).
fn old_key(ms: i64, id: u64) -> Vec<u8> {
    let mut k = ((ms as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The old value: flags, id length, id, tag, then f64 LE or code + detail.
fn old_value(sensor: &str, unsynced: bool, v: &Result<f64, Fault>) -> Vec<u8> {
    let mut out = vec![u8::from(unsynced), sensor.len() as u8];
    out.extend_from_slice(sensor.as_bytes());
    match v {
        Ok(t) => {
            out.push(0);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Err(f) => {
            out.push(1);
            out.push(f.code().len() as u8);
            out.extend_from_slice(f.code().as_bytes());
            out.extend_from_slice(f.detail().as_bytes());
        }
    }
    out
}

#[test]
fn an_old_store_is_converted_to_blocks_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let sensors = ["rack01-inlet", "rack02-inlet", "x"];
    let n = 25_000i64; // more than one conversion chunk
    let value = |i: i64| -> Result<f64, Fault> {
        match i % 1_001 {
            0 => Err(Fault::Crc),
            1 => Err(Fault::Missing("gone".into())),
            _ => Ok(((20.0 + (i % 300) as f64 * 0.013) * 1000.0).round() / 1000.0),
        }
    };
    {
        let db = open_sled(&Store::dir_in(dir.path()));
        let old = db.open_tree("readings").unwrap();
        db.open_tree("outbox").unwrap();
        let mut batch = sled::Batch::default();
        for i in 0..n {
            let s = sensors[(i % 3) as usize];
            let id = db.generate_id().unwrap();
            batch.insert(
                old_key(T0 + i * 3_333, id),
                old_value(s, i % 17 == 0, &value(i)),
            );
        }
        // One undecodable entry: left out and counted, not fatal.
        batch.insert(old_key(T0 + n * 3_333, 1 << 40), b"\x00".to_vec());
        old.apply_batch(batch).unwrap();
        db.flush().unwrap();
    }
    let mut tries = 0;
    let (store, opened) = loop {
        match Store::open(dir.path(), &StoreOptions::default()) {
            Err(edgetherm::store::StoreError::Locked(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("store opens"),
        }
    };
    assert_eq!(
        opened.opened,
        Opened::Existing,
        "converted, not moved aside"
    );
    assert_eq!(store.reading_count(), n as usize);
    for (si, s) in sensors.iter().enumerate() {
        let rows = store.readings_since(s, i64::MIN, usize::MAX).unwrap();
        let want: Vec<i64> = (0..n).filter(|i| i % 3 == si as i64).collect();
        assert_eq!(rows.len(), want.len(), "{s}");
        for (r, i) in rows.iter().zip(&want) {
            assert_eq!(r.wall.ms, T0 + i * 3_333);
            assert_eq!(r.wall.unsynced, i % 17 == 0);
            assert_eq!(r.value, value(*i));
        }
    }
    drop(store);
    // The old tree is gone: a second open converts nothing and reads the same.
    let store = loop {
        match Store::open(dir.path(), &StoreOptions::default()) {
            Err(edgetherm::store::StoreError::Locked(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other.expect("store opens").0,
        }
    };
    assert_eq!(store.reading_count(), n as usize);
}
