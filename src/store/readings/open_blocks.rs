//! The readings side of the store: the block trees and, in memory, each
//! sensor's open block plus sealed blocks not yet known to be on disk.
//!
//! An open block is rewritten at every flush into one value (the "tail",
//! tree `open_blocks`) so that a flush makes it durable without turning it
//! into a key of its own; when it fills up it is sealed into `blocks` under
//! its final key. Sealed blocks stay in memory until a flush after their
//! insert succeeds, so that a failed flush (full disk) or a reopened sled
//! handle loses nothing: the next flush inserts them again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::reading::Reading;

use super::codec::{BlockBuf, Entry};
use super::keys;

/// Most sensors with an open block at once; a new one seals the least recently used.
const MAX_OPEN_BLOCKS: usize = 1024;
/// Most bytes of sealed blocks held for a retry; beyond it the oldest go (counted).
const MAX_PENDING_BYTES: usize = 512 << 10;
/// The one key of tree `open_blocks`.
pub(super) const TAIL_KEY: &[u8] = b"open";

pub(super) struct Open {
    pub key: Vec<u8>,
    pub buf: BlockBuf,
    touched: u64,
}

pub(super) struct Pending {
    pub sensor: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub last_ms: i64,
    pub count: u16,
    inserted: bool,
    seq: u64,
}

#[derive(Default)]
pub(super) struct State {
    pub open: HashMap<String, Open>,
    pub pending: VecDeque<Pending>,
    pending_bytes: usize,
    tail_dirty: bool,
    last_flush_failed: bool,
    seq: u64,
    /// Readings dropped from memory before a flush confirmed them.
    pub dropped: u64,
    /// Damaged blocks met (skipped) since open.
    pub damaged: u64,
}

/// Trees and in-memory blocks; cheap to clone (shared state).
#[derive(Clone)]
pub struct Readings {
    pub(super) db: sled::Db,
    pub(super) blocks: sled::Tree,
    pub(super) ends: sled::Tree,
    pub(super) tail: sled::Tree,
    state: Arc<Mutex<State>>,
}

/// The in-memory blocks of a `Readings`, without its sled handles.
pub struct SharedState(Arc<Mutex<State>>);

/// What `stage` wrote, for `flushed` to confirm.
pub struct Staged(u64);

impl Readings {
    /// Opens the block trees of `db` with empty in-memory state.
    pub fn open(db: &sled::Db) -> Result<Readings, sled::Error> {
        Ok(Readings {
            blocks: db.open_tree("blocks")?,
            ends: db.open_tree("block_ends")?,
            tail: db.open_tree("open_blocks")?,
            db: db.clone(),
            state: Arc::default(),
        })
    }

    /// The in-memory blocks, to carry over to a reopened sled (`reattach`).
    pub fn shared_state(&self) -> SharedState {
        SharedState(Arc::clone(&self.state))
    }

    /// The same in-memory blocks on a reopened `db`: the next flush writes
    /// every open block and every sealed block not yet confirmed again.
    pub fn reattach(state: SharedState, db: &sled::Db) -> Result<Readings, sled::Error> {
        let fresh = Readings {
            state: state.0,
            ..Readings::open(db)?
        };
        let mut st = fresh.lock();
        st.tail_dirty = true;
        for p in st.pending.iter_mut() {
            p.inserted = false;
        }
        drop(st);
        Ok(fresh)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves valid data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts a sealed block and its index entry (index first: a crash in
    /// between leaves an index entry without a block, which trim skips).
    pub(super) fn insert_block(
        &self,
        key: &[u8],
        value: &[u8],
        last_ms: i64,
        count: u16,
    ) -> Result<(), sled::Error> {
        self.ends
            .insert(keys::index(last_ms, key), &count.to_le_bytes())?;
        self.blocks.insert(key, value)?;
        Ok(())
    }

    fn unique(&self, st: &mut State) -> u64 {
        st.seq += 1;
        // sled's ids are unique across restarts; the fallback only needs to
        // differ from them, and the key also holds the sensor and first stamp.
        self.db.generate_id().unwrap_or(u64::MAX - st.seq)
    }

    /// Appends to the sensor's open block; a full block is sealed into sled
    /// (not flushed). The reading is kept even if that insert fails.
    pub fn append(&self, r: &Reading) -> Result<(), sled::Error> {
        let e = Entry {
            ms: r.wall.ms,
            unsynced: r.wall.unsynced,
            value: r.value.clone(),
        };
        let mut st = self.lock();
        st.seq += 1;
        let touched = st.seq;
        st.tail_dirty = true;
        let mut result = Ok(());
        if let Some(open) = st.open.get_mut(&r.sensor) {
            open.touched = touched;
            if open.buf.push(&e).is_ok() {
                return Ok(());
            }
            let unique = self.unique(&mut st);
            let fresh = Open {
                key: keys::block(&r.sensor, e.ms, unique),
                buf: BlockBuf::new(&e),
                touched,
            };
            let full = st.open.insert(r.sensor.clone(), fresh).expect("present");
            result = self.seal(&mut st, &r.sensor, full);
        } else {
            if st.open.len() >= MAX_OPEN_BLOCKS {
                let lru = st
                    .open
                    .iter()
                    .min_by_key(|(_, o)| o.touched)
                    .map(|(s, _)| s.clone())
                    .expect("not empty");
                let old = st.open.remove(&lru).expect("present");
                result = self.seal(&mut st, &lru, old);
            }
            let unique = self.unique(&mut st);
            let fresh = Open {
                key: keys::block(&r.sensor, e.ms, unique),
                buf: BlockBuf::new(&e),
                touched,
            };
            st.open.insert(r.sensor.clone(), fresh);
        }
        result
    }

    fn seal(&self, st: &mut State, sensor: &str, block: Open) -> Result<(), sled::Error> {
        let value = block.buf.sealed();
        let (last_ms, count) = (block.buf.last_ms(), block.buf.count());
        let result = self.insert_block(&block.key, &value, last_ms, count);
        st.seq += 1;
        st.pending_bytes += value.len() + block.key.len();
        st.pending.push_back(Pending {
            sensor: sensor.to_string(),
            key: block.key,
            value,
            last_ms,
            count,
            inserted: result.is_ok(),
            seq: st.seq,
        });
        while st.pending_bytes > MAX_PENDING_BYTES {
            let Some(old) = st.pending.pop_front() else {
                break;
            };
            st.pending_bytes -= old.value.len() + old.key.len();
            if !old.inserted || st.last_flush_failed {
                st.dropped += u64::from(old.count);
            }
        }
        result
    }

    /// Writes what a flush must make durable: sealed blocks not yet inserted
    /// and the open blocks (one value).
    pub fn stage(&self) -> Result<Staged, sled::Error> {
        let mut st = self.lock();
        let upto = st.seq;
        for i in 0..st.pending.len() {
            if !st.pending[i].inserted {
                let p = &st.pending[i];
                self.insert_block(&p.key, &p.value, p.last_ms, p.count)?;
                st.pending[i].inserted = true;
            }
        }
        if st.tail_dirty {
            if st.open.is_empty() {
                self.tail.remove(TAIL_KEY)?;
            } else {
                let mut v = Vec::with_capacity(st.open.len() * (super::codec::BLOCK_BYTES / 2));
                for o in st.open.values() {
                    let sealed = o.buf.sealed();
                    put_len(&mut v, o.key.len());
                    v.extend_from_slice(&o.key);
                    put_len(&mut v, sealed.len());
                    v.extend_from_slice(&sealed);
                }
                self.tail.insert(TAIL_KEY, v)?;
            }
            st.tail_dirty = false;
        }
        Ok(Staged(upto))
    }

    /// After sled's flush: on success, sealed blocks staged before it leave memory.
    pub fn flushed(&self, staged: Option<Staged>, ok: bool) {
        let mut st = self.lock();
        st.last_flush_failed = !ok;
        match (staged, ok) {
            (Some(Staged(upto)), true) => {
                let before = st.pending.len();
                st.pending.retain(|p| !(p.inserted && p.seq <= upto));
                if st.pending.len() != before {
                    st.pending_bytes = st.pending.iter().map(|p| p.value.len() + p.key.len()).sum();
                }
            }
            _ => st.tail_dirty = true,
        }
    }
}

fn put_len(v: &mut Vec<u8>, n: usize) {
    v.extend_from_slice(&(n as u16).to_le_bytes());
}

/// A block key and its stored value, borrowed from a tail.
pub(super) type TailBlock<'a> = (&'a [u8], &'a [u8]);

/// Splits a tail value into blocks, and whether it ended cleanly (stops at
/// the first bad length).
pub(super) fn split_tail(v: &[u8]) -> (Vec<TailBlock<'_>>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    let take = |at: &mut usize| -> Option<&[u8]> {
        let n = u16::from_le_bytes(v.get(*at..*at + 2)?.try_into().ok()?) as usize;
        let s = v.get(*at + 2..*at + 2 + n)?;
        *at += 2 + n;
        Some(s)
    };
    while at < v.len() {
        match (take(&mut at), take(&mut at)) {
            (Some(k), Some(b)) => out.push((k, b)),
            _ => return (out, false),
        }
    }
    (out, true)
}
