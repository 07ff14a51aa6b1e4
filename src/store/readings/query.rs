//! Reading blocks back: one sensor's history (sealed blocks merged with the
//! ones still in memory), counts, and the time span held.

use std::collections::BTreeMap;

use super::codec::{self, MAX_SPAN_MS};
use super::keys;
use super::open_blocks::Readings;
use super::StoredReading;

impl Readings {
    /// Notes a damaged block (skipped by the caller).
    pub(super) fn damaged(&self, key: &[u8], why: &str) {
        let n = {
            let mut st = self.lock();
            st.damaged += 1;
            st.damaged
        };
        let (sensor, first) = keys::parse_block(key).unwrap_or_else(|| ("?".into(), 0));
        tracing::warn!(
            sensor = %sensor,
            block_start_ms = first,
            damaged_blocks = n,
            "skipping a damaged block of readings ({why}); the other blocks are read normally"
        );
    }

    /// `sensor`'s readings at or after `since_ms`, oldest first, at most `limit`.
    pub fn since(
        &self,
        sensor: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredReading>, sled::Error> {
        // Memory first: a block sealed while sled is read then shows up in
        // both, and the copy with more readings wins (same key).
        let mut memory: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        {
            let st = self.lock();
            if let Some(o) = st.open.get(sensor) {
                memory.insert(o.key.clone(), o.buf.sealed());
            }
            for p in st.pending.iter().filter(|p| p.sensor == sensor) {
                memory.insert(p.key.clone(), p.value.clone());
            }
        }
        let prefix = keys::prefix(sensor);
        let mut start = prefix.clone();
        start.extend_from_slice(&keys::time_key(since_ms.saturating_sub(MAX_SPAN_MS)));
        start.extend_from_slice(&[0; 8]);
        let mut end = prefix;
        end.extend_from_slice(&[0xff; 16]);
        let mut sled_iter = self.blocks.range(start..=end).peekable();
        let mut mem_iter = memory.into_iter().peekable();
        let mut out: Vec<StoredReading> = Vec::new();
        let mut sorted = true;
        let mut newest = i64::MIN;
        loop {
            let sled_key = match sled_iter.peek() {
                Some(Ok((k, _))) => Some(k.to_vec()),
                Some(Err(_)) => return Err(sled_iter.next().expect("peeked").unwrap_err()),
                None => None,
            };
            let mem_key = mem_iter.peek().map(|(k, _)| k.clone());
            let (key, value) = match (sled_key, mem_key) {
                (None, None) => break,
                (Some(s), Some(m)) if m < s => mem_iter.next().expect("peeked"),
                (Some(s), Some(m)) if m == s => {
                    let (_, on_disk) = sled_iter.next().expect("peeked")?;
                    let (k, mem) = mem_iter.next().expect("peeked");
                    let count = |v: &[u8]| codec::header(v).map_or(0, |h| h.count);
                    if count(&on_disk) > count(&mem) {
                        (k, on_disk.to_vec())
                    } else {
                        (k, mem)
                    }
                }
                (Some(_), _) => {
                    let (k, v) = sled_iter.next().expect("peeked")?;
                    (k.to_vec(), v.to_vec())
                }
                (None, Some(_)) => mem_iter.next().expect("peeked"),
            };
            let first = keys::parse_block(&key).map_or(i64::MIN, |(_, ms)| ms);
            if out.len() >= limit && first > newest {
                break;
            }
            // The range starts MAX_SPAN_MS early (a block may begin that long
            // before `since`); for a fast sensor that is many blocks that end
            // before it, which the header says without decoding them.
            if codec::header(&value).is_ok_and(|h| h.last_ms < since_ms) {
                continue;
            }
            let entries = match codec::decode(&value) {
                Ok(e) => e,
                Err(why) => {
                    self.damaged(&key, &why);
                    continue;
                }
            };
            for e in entries.into_iter().filter(|e| e.ms >= since_ms) {
                sorted &= e.ms >= newest;
                newest = newest.max(e.ms);
                out.push(StoredReading {
                    sensor: sensor.to_string(),
                    wall: crate::reading::Wall {
                        ms: e.ms,
                        unsynced: e.unsynced,
                    },
                    value: e.value,
                });
            }
        }
        if !sorted {
            // Only after the wall clock went back: blocks overlap in time.
            out.sort_by_key(|r| r.wall.ms);
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Readings in sealed blocks (walks the index) plus those in memory.
    pub fn count(&self) -> usize {
        let sealed: usize = self
            .ends
            .iter()
            .values()
            .filter_map(|v| v.ok())
            .map(|v| {
                v.get(..2)
                    .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            })
            .sum();
        let st = self.lock();
        let open: usize = st.open.values().map(|o| usize::from(o.buf.count())).sum();
        let unsaved: usize = st
            .pending
            .iter()
            .filter(|p| !self.blocks.contains_key(&p.key).unwrap_or(false))
            .map(|p| usize::from(p.count))
            .sum();
        sealed + open + unsaved
    }

    /// The first stamp of the oldest-ending sealed block (or open block) and
    /// the newest stamp held.
    pub fn span(&self) -> Option<(i64, i64)> {
        let sealed = self.ends.first().ok().flatten().and_then(|(first_key, _)| {
            let oldest_end = keys::key_time(&first_key)?;
            let first = self
                .blocks
                .get(&first_key[8..])
                .ok()
                .flatten()
                .and_then(|v| codec::header(&v).ok())
                .map_or(oldest_end, |h| h.first_ms);
            let last = keys::key_time(&self.ends.last().ok()??.0)?;
            Some((first, last))
        });
        let st = self.lock();
        let open = st
            .open
            .values()
            .map(|o| (o.buf.first_ms(), o.buf.last_ms()));
        let open = open.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        match (sealed, open) {
            (Some(s), Some(o)) => Some((s.0.min(o.0), s.1.max(o.1))),
            (s, o) => s.or(o),
        }
    }
}
