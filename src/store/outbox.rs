//! Alert state and the outbox of events: written together, flushed at once,
//! never trimmed for space; every commit and removal keeps the integrity
//! record (see `integrity`) in step.

use std::sync::atomic::Ordering;

use edgetherm_proto::Event;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{integrity, Store, StoreError};

pub(super) const META_LOGGED_UPTO: &[u8] = b"logged_upto";
/// Commit generation and last sequence number, written in each commit's transaction.
pub(super) const META_COMMIT: &[u8] = b"commit";

/// A change to one saved alert-engine state: `None` deletes it.
pub type StateChange = (String, Option<Vec<u8>>);

/// Decodes `META_COMMIT`: (generation, last sequence number).
pub(super) fn decode_commit(v: &[u8]) -> Option<(u64, u64)> {
    let g = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let s = u64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some((g, s))
}

impl Store {
    /// Saves alert-state changes and appends events to the outbox in one
    /// transaction, then flushes: once this returns, a crash can neither lose
    /// the events nor re-fire them (the state that produced them is saved too).
    /// Buffered readings are not sealed by this (see `flush`).
    pub fn commit(&self, states: &[StateChange], events: &[Event]) -> Result<Vec<u64>, StoreError> {
        if states.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).expect("events always serialise"))
            .collect();
        let first = *self.inner.next_seq.lock().expect("store lock");
        let seqs: Vec<u64> = (first..first + events.len() as u64).collect();
        let generation = self.inner.record.lock().expect("store lock").generation + 1;
        let last_seq = first.saturating_sub(1) + events.len() as u64;
        let mut commit = [0u8; 16];
        commit[..8].copy_from_slice(&generation.to_be_bytes());
        commit[8..].copy_from_slice(&last_seq.to_be_bytes());
        {
            let h = self.sled()?;
            let result: Result<(), TransactionError<()>> = (&h.alerts, &h.outbox, &h.meta)
                .transaction(|(alerts, outbox, meta)| {
                    for (key, state) in states {
                        match state {
                            Some(bytes) => alerts.insert(key.as_bytes(), bytes.as_slice())?,
                            None => alerts.remove(key.as_bytes())?,
                        };
                    }
                    for (seq, body) in seqs.iter().zip(&encoded) {
                        outbox.insert(&seq.to_be_bytes(), body.as_slice())?;
                    }
                    meta.insert(META_COMMIT, &commit)?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                });
            result.map_err(|e| match e {
                TransactionError::Storage(s) => self.note(self.sled_err(s)),
                TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
            })?;
            h.db.flush().map_err(|e| self.note(self.sled_err(e)))?;
        }
        *self.inner.next_seq.lock().expect("store lock") = last_seq + 1;
        let mut record = self.inner.record.lock().expect("store lock");
        record.generation = generation;
        record.last_seq = last_seq;
        record.live += events.len() as u64;
        for (seq, e) in seqs.iter().zip(events) {
            record.apply(*seq, e);
        }
        self.write_record(&record, false);
        Ok(seqs)
    }

    /// Writes the record; a failure only weakens the next open's check (the
    /// record then claims less than sled holds), so it is logged, not fatal.
    pub(super) fn write_record(&self, record: &integrity::Record, sync: bool) {
        let mut slots = self.inner.slots.lock().expect("store lock");
        if let Err(e) = integrity::write(&self.inner.path, &mut slots, record, sync) {
            tracing::warn!(error = %e, "could not update the store's integrity record; losses from now on may go unnoticed until it is written again");
        }
    }

    /// Committed outbox events with a sequence number above `after`, oldest
    /// first. A commit whose flush failed is left out: sled shows its writes
    /// at once, but the events are held by the caller, not saved, until a
    /// later commit of them succeeds.
    pub fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Event)>, StoreError> {
        let mut out = Vec::new();
        let start = after.saturating_add(1).to_be_bytes();
        let end = self
            .inner
            .next_seq
            .lock()
            .expect("store lock")
            .to_be_bytes();
        let h = self.sled()?;
        for item in h.outbox.range(start..end).take(limit) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push(self.decode_event(&k, &v)?);
        }
        Ok(out)
    }

    fn decode_event(&self, k: &[u8], v: &[u8]) -> Result<(u64, Event), StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: self.inner.path.clone(),
            what: "outbox event",
            detail,
        };
        let seq = u64::from_be_bytes(k.try_into().map_err(|_| corrupt("bad key".into()))?);
        let event = serde_json::from_slice(v).map_err(|e| corrupt(e.to_string()))?;
        Ok((seq, event))
    }

    /// Events waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.inner.record.lock().expect("store lock").live as usize
    }

    /// Removes delivered (or logged) events. Not flushed by itself: the
    /// removal reaches the disk with the next commit or flush, and a crash
    /// before then brings the events back, to be sent or logged once more
    /// with the same ids.
    pub fn outbox_remove(&self, seqs: &[u64]) -> Result<(), StoreError> {
        self.remove(seqs)
    }

    fn remove(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let h = self.sled()?;
        let mut present = Vec::with_capacity(seqs.len());
        for s in seqs {
            if h.outbox
                .contains_key(s.to_be_bytes())
                .map_err(|e| self.sled_err(e))?
            {
                present.push(*s);
            }
        }
        if present.is_empty() {
            return Ok(());
        }
        {
            let mut record = self.inner.record.lock().expect("store lock");
            record.live = record.live.saturating_sub(present.len() as u64);
        }
        // One by one, not as a sled Batch: each removal stands alone (a
        // crash between two only sends the rest once more), and a batch
        // costs sled two log-buffer writes on its I/O threads, each waking
        // all seven of them (their context switches at 1k/s: 1 650 -> 990
        // each per 20 s; the CPU difference was within noise).
        for s in &present {
            h.outbox
                .remove(s.to_be_bytes())
                .map_err(|e| self.note(self.sled_err(e)))?;
        }
        Ok(())
    }

    /// The last outbox sequence number written to the log.
    pub fn logged_upto(&self) -> u64 {
        self.inner.logged_upto.load(Ordering::Acquire)
    }

    /// Records that events up to `seq` were logged. This process takes it at
    /// once, even if the write fails, so nothing is logged twice while the
    /// disk is full. Not flushed by itself: it reaches the disk with the next
    /// commit or flush, and a crash before then only means those events are
    /// logged once more.
    pub fn set_logged_upto(&self, seq: u64) -> Result<(), StoreError> {
        let upto = self
            .inner
            .logged_upto
            .fetch_max(seq, Ordering::AcqRel)
            .max(seq);
        self.sled()?
            .meta
            .insert(META_LOGGED_UPTO, &upto.to_be_bytes())
            .map_err(|e| self.note(self.sled_err(e)))?;
        Ok(())
    }
}
