//! Reading blocks on real sled stores: the encoding round-trips, damaged
//! blocks are skipped and counted, open blocks are visible before a flush,
//! and a store of the previous one-key-per-reading layout is converted.

#[path = "common/store_reading.rs"]
mod store_reading;
use store_reading::reading;
#[path = "common/raw_sled.rs"]
mod raw_sled;
use raw_sled::open_sled;

use edgetherm::reading::Fault;
use edgetherm::store::{decode_block, BlockBuf, Entry, Full, Store, StoreOptions, BLOCK_BYTES};
use proptest::prelude::*;

const T0: i64 = 1_790_000_000_000;

fn entry(ms: i64, value: Result<f64, Fault>) -> Entry {
    Entry {
        ms,
        unsynced: false,
        value,
    }
}

/// Packs entries into as many blocks as they need; returns the decoded concatenation.
fn round_trip(entries: &[Entry]) -> (Vec<Entry>, usize) {
    let mut blocks = Vec::new();
    let mut cur: Option<BlockBuf> = None;
    for e in entries {
        match cur.as_mut().map(|b| b.push(e)) {
            Some(Ok(())) => {}
            _ => {
                if let Some(b) = cur.take() {
                    blocks.push(b.sealed());
                }
                cur = Some(BlockBuf::new(e));
            }
        }
    }
    blocks.extend(cur.map(|b| b.sealed()));
    let n = blocks.len();
    let out = blocks
        .iter()
        .flat_map(|b| decode_block(b).expect("a block we wrote decodes"))
        .collect();
    (out, n)
}

#[test]
fn faults_flags_and_extreme_values_round_trip() {
    let long = "é".repeat(300);
    let entries = vec![
        entry(T0, Ok(21.125)),
        Entry {
            unsynced: true,
            ..entry(T0 + 10_000, Ok(-55.0))
        },
        entry(T0 + 10_000, Err(Fault::Crc)),
        entry(
            T0 + 20_003,
            Err(Fault::Missing("w1 slave 28-0000 gone".into())),
        ),
        entry(T0 + 20_003, Err(Fault::Io(long.clone()))),
        entry(T0 + 30_000, Err(Fault::Simulated)),
        entry(T0 + 30_001, Ok(1e300)),
        entry(T0 + 30_002, Ok(f64::NEG_INFINITY)),
        entry(T0 + 30_003, Ok(-273.15)),
        entry(T0 + 30_004, Ok(0.001)),
        entry(i64::MAX - 5, Ok(1.0)),
        entry(i64::MIN, Ok(2.0)),
    ];
    let (out, _) = round_trip(&entries);
    assert_eq!(out.len(), entries.len());
    for (got, want) in out.iter().zip(&entries) {
        assert_eq!(got.ms, want.ms);
        assert_eq!(got.unsynced, want.unsynced);
        match (&got.value, &want.value) {
            (Err(Fault::Io(d)), Err(Fault::Io(_))) => {
                assert!(
                    d.len() <= 200 && long.starts_with(d.as_str()),
                    "detail cut at a char boundary: {d}"
                )
            }
            (g, w) => assert_eq!(g, w),
        }
    }
}

#[test]
fn a_clock_going_back_starts_a_new_block() {
    let mut b = BlockBuf::new(&entry(T0, Ok(20.0)));
    assert_eq!(b.push(&entry(T0 - 1, Ok(20.0))), Err(Full::Backwards));
    assert_eq!(
        b.push(&entry(T0 + 5 * 3_600_000, Ok(20.0))),
        Err(Full::Span)
    );
    let entries: Vec<Entry> = [0, 10_000, 20_000, 5_000, 15_000, 25_000]
        .iter()
        .map(|d| entry(T0 + d, Ok(20.0 + *d as f64 / 1e4)))
        .collect();
    let (out, blocks) = round_trip(&entries);
    assert_eq!(out, entries);
    assert_eq!(blocks, 2);
}

#[test]
fn a_steady_sensor_costs_about_two_bytes_per_reading() {
    let entries: Vec<Entry> = (0..2_000)
        .map(|i| entry(T0 + i * 10_000, Ok(20.0 + (i % 7) as f64 * 0.001)))
        .collect();
    let (out, blocks) = round_trip(&entries);
    assert_eq!(out, entries);
    // Two bytes each: (BLOCK_BYTES - 23 bytes of header and CRC) / 2 per block.
    assert!(
        blocks <= 2_000usize.div_ceil((BLOCK_BYTES - 23) / 2),
        "{blocks} blocks"
    );
}

proptest! {
    #[test]
    fn random_sequences_round_trip(
        start in -1i64 << 50..1i64 << 50,
        steps in proptest::collection::vec((0i64..100_000, -200_000i64..200_000, 0u8..12, any::<bool>()), 1..600),
    ) {
        let mut ms = start;
        let entries: Vec<Entry> = steps.iter().map(|&(dt, milli, kind, unsynced)| {
            // Now and then the clock jumps back.
            ms = if kind == 11 { ms - dt } else { ms + dt };
            let value = match kind {
                0 => Err(Fault::Timeout),
                1 => Err(Fault::Parse(format!("got {milli}"))),
                2 => Ok(milli as f64 * 1.234_567), // not on the 0.001 grid
                _ => Ok(((milli as f64 / 1000.0) * 1000.0).round() / 1000.0),
            };
            Entry { ms, unsynced, value }
        }).collect();
        let (out, _) = round_trip(&entries);
        prop_assert_eq!(out.len(), entries.len());
        for (g, w) in out.iter().zip(&entries) {
            prop_assert_eq!(g.ms, w.ms);
            prop_assert_eq!(g.unsynced, w.unsynced);
            match (&g.value, &w.value) {
                (Ok(a), Ok(b)) => prop_assert!((a - b).abs() <= 0.0005 + b.abs() * 1e-15, "{} vs {}", a, b),
                (a, b) => prop_assert_eq!(a, b),
            }
        }
        // Values already at 0.001 °C come back exactly.
        for (g, w) in out.iter().zip(&entries) {
            if let Ok(b) = w.value {
                if (b * 1000.0).round() / 1000.0 == b {
                    prop_assert_eq!(&g.value, &w.value);
                }
            }
        }
    }
}

fn open(dir: &std::path::Path) -> Store {
    for _ in 0..100 {
        match Store::open(dir, &StoreOptions::default()) {
            Err(edgetherm::store::StoreError::Locked(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.expect("store opens").0,
        }
    }
    panic!("the store stayed locked");
}

#[test]
fn open_blocks_are_visible_before_a_flush_and_durable_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000i64;
    {
        let store = open(dir.path());
        for i in 0..n {
            store
                .append_reading(&reading("a", T0 + i * 1_000, Ok(i as f64 / 8.0)))
                .unwrap();
            store
                .append_reading(&reading("b", T0 + i * 1_000 + 1, Ok(-1.0)))
                .unwrap();
        }
        let rows = store.readings_since("a", T0, usize::MAX).unwrap();
        assert_eq!(
            rows.len(),
            n as usize,
            "sealed and open blocks, before any flush"
        );
        assert_eq!(rows.last().unwrap().value, Ok((n - 1) as f64 / 8.0));
        assert_eq!(store.reading_count(), 2 * n as usize);
        store.flush().unwrap();
    }
    let store = open(dir.path());
    let rows = store.readings_since("a", T0, usize::MAX).unwrap();
    assert_eq!(rows.len(), n as usize, "the open block came back sealed");
    assert!(rows.windows(2).all(|w| w[0].wall.ms < w[1].wall.ms));
    assert_eq!(
        store.readings_since("b", T0 + 500_000, 10).unwrap()[0]
            .wall
            .ms,
        T0 + 500_001
    );
    assert_eq!(
        store.readings_since("a", T0 + 500_000, 3).unwrap().len(),
        3,
        "limit"
    );
    assert_eq!(store.reading_count(), 2 * n as usize);
}

#[test]
fn a_damaged_block_is_skipped_and_counted_and_the_rest_still_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for i in 0..3_000i64 {
            store
                .append_reading(&reading(
                    "s",
                    T0 + i * 10_000,
                    Ok(20.0 + (i % 50) as f64 * 0.01),
                ))
                .unwrap();
        }
        store.flush().unwrap();
    }
    // Flip one byte in the middle of the second block, through sled itself.
    let (total_blocks, lost) = {
        let db = open_sled(&Store::dir_in(dir.path()));
        let blocks = db.open_tree("blocks").unwrap();
        let (k, v) = blocks.iter().nth(1).unwrap().unwrap();
        let mut bad = v.to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x10;
        let lost = decode_block(&v).unwrap().len();
        blocks.insert(k, bad).unwrap();
        db.flush().unwrap();
        (blocks.len(), lost)
    };
    assert!(total_blocks > 3);
    let store = open(dir.path());
    let rows = store.readings_since("s", i64::MIN, usize::MAX).unwrap();
    assert_eq!(rows.len(), 3_000 - lost);
    assert!(store.damaged_blocks() >= 1, "the damaged block is counted");
    assert_eq!(rows.last().unwrap().wall.ms, T0 + 2_999 * 10_000);
}
