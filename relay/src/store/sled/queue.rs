//! The send queue in sled: jobs, deliveries and open episodes, changed in
//! transactions with the pending tree so a crash can neither lose a
//! delivery nor route it twice. One process: every lease is its own.

use std::collections::HashSet;
use std::time::Duration;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::{from_json, seq_of, to_json, SledBackend};
use crate::store::backend::{Fleet, SendQueue};
use crate::store::model::{Delivery, Job, OpenChange, Queued};
use crate::store::StoreError;

pub(super) fn delivery_key_of(episode: &str, conversation: &str) -> Vec<u8> {
    let mut k = episode.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(conversation.as_bytes());
    k
}

impl SendQueue for SledBackend {
    fn route(&self, seq: Option<u64>, jobs: &[Job], open: &OpenChange) -> Result<bool, StoreError> {
        let bodies: Vec<Vec<u8>> = jobs.iter().map(to_json).collect();
        let opened = match open {
            OpenChange::Open(_, q) => Some(to_json(q)),
            _ => None,
        };
        let result: Result<bool, TransactionError<()>> = (&self.jobs, &self.pending, &self.open)
            .transaction(|(jobs, pending, open_tree)| {
                if let Some(seq) = seq {
                    if pending.remove(&seq.to_be_bytes())?.is_none() {
                        return Ok(false);
                    }
                }
                for b in &bodies {
                    let seq = jobs.generate_id()? + 1;
                    jobs.insert(&seq.to_be_bytes(), b.as_slice())?;
                }
                match (open, &opened) {
                    (OpenChange::Open(episode, _), Some(body)) => {
                        open_tree.insert(episode.as_bytes(), body.as_slice())?;
                    }
                    (OpenChange::Close(episode), _) => {
                        open_tree.remove(episode.as_bytes())?;
                    }
                    _ => {}
                }
                Ok::<_, ConflictableTransactionError<()>>(true)
            });
        let routed = result.map_err(|e| self.tx_err(e))?;
        self.flush_db()?;
        Ok(routed)
    }

    fn jobs(&self) -> Result<Vec<(u64, Job)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.jobs.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let (Some(seq), Some(job)) = (seq_of(&k), from_json(&v)) {
                out.push((seq, job));
            }
        }
        Ok(out)
    }

    fn complete_job(
        &self,
        seq: u64,
        delivery: Option<(&str, &str, &Delivery)>,
    ) -> Result<(), StoreError> {
        let record = delivery.map(|(ep, conv, d)| (delivery_key_of(ep, conv), to_json(d)));
        let result: Result<(), TransactionError<()>> =
            (&self.jobs, &self.deliveries).transaction(|(jobs, deliveries)| {
                jobs.remove(&seq.to_be_bytes())?;
                if let Some((k, v)) = &record {
                    deliveries.insert(k.as_slice(), v.as_slice())?;
                }
                Ok(())
            });
        result.map_err(|e| self.tx_err(e))?;
        self.flush_db()
    }

    fn reschedule_job(&self, seq: u64, job: &Job) -> Result<(), StoreError> {
        self.jobs
            .insert(seq.to_be_bytes(), to_json(job))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn drop_job(&self, seq: u64) -> Result<(), StoreError> {
        self.jobs
            .remove(seq.to_be_bytes())
            .map_err(|e| self.err(e))?;
        self.flush_db()
    }

    fn deliveries(&self, episode: &str) -> Result<Vec<(String, Delivery)>, StoreError> {
        let mut prefix = episode.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.deliveries.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let Some(d) = from_json(&v) {
                out.push((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), d));
            }
        }
        Ok(out)
    }

    fn put_delivery(
        &self,
        episode: &str,
        conversation: &str,
        d: &Delivery,
    ) -> Result<(), StoreError> {
        self.deliveries
            .insert(delivery_key_of(episode, conversation), to_json(d))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn open_alerts(&self) -> Result<Vec<Queued>, StoreError> {
        self.values(&self.open)
    }

    fn open_alert(&self, episode: &str) -> Result<Option<Queued>, StoreError> {
        self.get(&self.open, episode.as_bytes())
    }
}

impl Fleet for SledBackend {
    fn lead(&self, _role: &str, _instance: &str, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn lease_conversations(
        &self,
        _instance: &str,
        _ttl: Duration,
    ) -> Result<Option<HashSet<String>>, StoreError> {
        Ok(None)
    }

    fn release(&self, _instance: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn record_send(&self, _conversation: &str, _at_ms: i64) -> Result<(), StoreError> {
        // One process: its own rate limiter has seen every send.
        Ok(())
    }

    fn sends_since(&self, _conversation: &str, _since_ms: i64) -> Result<Vec<i64>, StoreError> {
        Ok(Vec::new())
    }
}

/// Splits a delivery key into (episode, conversation).
pub(super) fn split_delivery_key(k: &[u8]) -> Option<(String, String)> {
    let at = k.iter().position(|&b| b == 0)?;
    Some((
        String::from_utf8_lossy(&k[..at]).into_owned(),
        String::from_utf8_lossy(&k[at + 1..]).into_owned(),
    ))
}
