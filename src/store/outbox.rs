//! Alert state and the outbox of events: written together, flushed at once,
//! never trimmed for space.

use edgetherm_proto::Event;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Store, StoreError};

const META_LOGGED_UPTO: &[u8] = b"logged_upto";

/// A change to one saved alert-engine state: `None` deletes it.
pub type StateChange = (String, Option<Vec<u8>>);

impl Store {
    /// Saves alert-state changes and appends events to the outbox in one
    /// transaction, then flushes: once this returns, a crash can neither lose
    /// the events nor re-fire them (the state that produced them is saved too).
    pub fn commit(&self, states: &[StateChange], events: &[Event]) -> Result<Vec<u64>, StoreError> {
        if states.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).expect("events always serialise"))
            .collect();
        let result: Result<Vec<u64>, TransactionError<()>> = (&self.alerts, &self.outbox)
            .transaction(|(alerts, outbox)| {
                for (key, state) in states {
                    match state {
                        Some(bytes) => alerts.insert(key.as_bytes(), bytes.as_slice())?,
                        None => alerts.remove(key.as_bytes())?,
                    };
                }
                let mut seqs = Vec::with_capacity(encoded.len());
                for body in &encoded {
                    // Sequence numbers start at 1: 0 means "nothing logged yet".
                    let seq = outbox.generate_id()? + 1;
                    outbox.insert(&seq.to_be_bytes(), body.as_slice())?;
                    seqs.push(seq);
                }
                Ok::<_, ConflictableTransactionError<()>>(seqs)
            });
        let seqs = result.map_err(|e| match e {
            TransactionError::Storage(s) => self.sled_err(s),
            TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
        })?;
        self.flush()?;
        Ok(seqs)
    }

    /// Outbox events with a sequence number above `after`, oldest first.
    pub fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Event)>, StoreError> {
        let mut out = Vec::new();
        let start = after.saturating_add(1).to_be_bytes();
        for item in self.outbox.range(start..).take(limit) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push(self.decode_event(&k, &v)?);
        }
        Ok(out)
    }

    fn decode_event(&self, k: &[u8], v: &[u8]) -> Result<(u64, Event), StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: self.path.clone(),
            what: "outbox event",
            detail,
        };
        let seq = u64::from_be_bytes(k.try_into().map_err(|_| corrupt("bad key".into()))?);
        let event = serde_json::from_slice(v).map_err(|e| corrupt(e.to_string()))?;
        Ok((seq, event))
    }

    /// Decodes every outbox entry (called at open to find damage early).
    pub(super) fn outbox_check(&self) -> Result<(), StoreError> {
        for item in self.outbox.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            self.decode_event(&k, &v)?;
        }
        Ok(())
    }

    /// Events waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Removes delivered events and flushes.
    pub fn outbox_remove(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for s in seqs {
            batch.remove(&s.to_be_bytes());
        }
        self.outbox
            .apply_batch(batch)
            .map_err(|e| self.sled_err(e))?;
        self.flush()?;
        Ok(())
    }

    /// The last outbox sequence number written to the log.
    pub fn logged_upto(&self) -> u64 {
        self.meta
            .get(META_LOGGED_UPTO)
            .ok()
            .flatten()
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0)
    }

    /// Records that events up to `seq` were logged, and flushes.
    pub fn set_logged_upto(&self, seq: u64) -> Result<(), StoreError> {
        self.meta
            .insert(META_LOGGED_UPTO, &seq.to_be_bytes())
            .map_err(|e| self.sled_err(e))?;
        self.flush()?;
        Ok(())
    }
}
