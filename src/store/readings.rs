//! Readings: keyed by wall-clock time so retention and the disk cap can drop
//! the oldest first with range deletes.
//!
//! Key: `wall_ms` (i64, sign-flipped, big-endian) ++ a sled-generated id
//! (big-endian, unique across restarts). Value: `flags u8, id_len u8, id,
//! tag u8` then `f64 LE` (tag 0) or `code_len u8, code, detail` (tag 1).

use crate::reading::{Fault, Reading, Wall};

use super::{Store, StoreError};

const FLAG_UNSYNCED: u8 = 1;

/// A reading as read back from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    /// Sensor id.
    pub sensor: String,
    /// Wall-clock stamp (possibly estimated).
    pub wall: Wall,
    /// °C or the fault.
    pub value: Result<f64, Fault>,
}

/// The reading budget that keeps the store under `max_disk` (see `Store::trim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceBudget {
    /// The cap it was computed for.
    pub max_disk: u64,
    /// How long a span of readings may be kept (ms).
    pub span_ms: i64,
}

const META_SPACE_BUDGET: &[u8] = b"space_budget";

/// What a retention / disk-cap pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimReport {
    /// Readings older than the retention period.
    pub expired: u64,
    /// Readings dropped to get under the disk cap.
    pub for_space: u64,
}

fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn key_time(key: &[u8]) -> Option<i64> {
    let b: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

fn encode(r: &Reading) -> Vec<u8> {
    let id = &r.sensor.as_bytes()[..r.sensor.len().min(255)];
    let mut v = Vec::with_capacity(3 + id.len() + 9);
    v.push(if r.wall.unsynced { FLAG_UNSYNCED } else { 0 });
    v.push(id.len() as u8);
    v.extend_from_slice(id);
    match &r.value {
        Ok(t) => {
            v.push(0);
            v.extend_from_slice(&t.to_le_bytes());
        }
        Err(f) => {
            v.push(1);
            let code = f.code().as_bytes();
            v.push(code.len() as u8);
            v.extend_from_slice(code);
            let detail = f.detail().as_bytes();
            v.extend_from_slice(&detail[..detail.len().min(200)]);
        }
    }
    v
}

/// Decodes one stored reading.
pub(super) fn decode(key: &[u8], v: &[u8]) -> Result<StoredReading, String> {
    let ms = key_time(key).ok_or("short key")?;
    let flags = *v.first().ok_or("empty value")?;
    let len = *v.get(1).ok_or("no id length")? as usize;
    let id = v.get(2..2 + len).ok_or("short id")?;
    let sensor = std::str::from_utf8(id)
        .map_err(|e| e.to_string())?
        .to_string();
    let rest = &v[2 + len..];
    let value = match rest.first() {
        Some(0) => Ok(f64::from_le_bytes(
            rest.get(1..9)
                .ok_or("short value")?
                .try_into()
                .map_err(|_| "bad value")?,
        )),
        Some(1) => {
            let clen = *rest.get(1).ok_or("no code length")? as usize;
            let code = std::str::from_utf8(rest.get(2..2 + clen).ok_or("short code")?)
                .map_err(|e| e.to_string())?;
            let detail = String::from_utf8_lossy(&rest[2 + clen..]);
            Err(Fault::from_code(code, &detail))
        }
        _ => return Err("unknown value tag".into()),
    };
    Ok(StoredReading {
        sensor,
        wall: Wall {
            ms,
            unsynced: flags & FLAG_UNSYNCED != 0,
        },
        value,
    })
}

impl Store {
    /// The saved reading budget, if the store ever reached its cap.
    pub fn space_budget(&self) -> Option<SpaceBudget> {
        let v = self.sled().ok()?.meta.get(META_SPACE_BUDGET).ok()??;
        let n = |i: usize| {
            v.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        Some(SpaceBudget {
            max_disk: n(0)?,
            span_ms: n(1)? as i64,
        })
    }

    fn set_space_budget(&self, b: &SpaceBudget) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(16);
        for x in [b.max_disk, b.span_ms as u64] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        self.sled()?
            .meta
            .insert(META_SPACE_BUDGET, v)
            .map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    /// Buffers a reading; it reaches the disk at the next `flush` (or `commit`).
    pub fn append_reading(&self, r: &Reading) -> Result<(), StoreError> {
        let h = self.sled()?;
        let id = h.db.generate_id().map_err(|e| self.sled_err(e))?;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&time_key(r.wall.ms));
        key[8..].copy_from_slice(&id.to_be_bytes());
        h.readings
            .insert(key, encode(r))
            .map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    /// Readings of `sensor` stamped at or after `since_ms`, oldest first, at most `limit`.
    pub fn readings_since(
        &self,
        sensor: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredReading>, StoreError> {
        let mut out = Vec::new();
        let h = self.sled()?;
        for item in h.readings.range(time_key(since_ms).to_vec()..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let r = decode(&k, &v).map_err(|detail| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                what: "reading",
                detail,
            })?;
            if r.sensor == sensor {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Number of stored readings (walks the tree: for tests and benchmarks).
    pub fn reading_count(&self) -> usize {
        self.sled().map_or(0, |h| h.readings.len())
    }

    /// Oldest and newest reading stamps.
    pub fn reading_span(&self) -> Option<(i64, i64)> {
        let h = self.sled().ok()?;
        let first = key_time(&h.readings.first().ok()??.0)?;
        let last = key_time(&h.readings.last().ok()??.0)?;
        Some((first, last))
    }

    fn remove_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut batch = sled::Batch::default();
        let mut n = 0u64;
        let h = self.sled()?;
        for item in h.readings.range(..time_key(cutoff_ms).to_vec()) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            batch.remove(k);
            n += 1;
            if n % 10_000 == 0 {
                h.readings
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| self.sled_err(e))?;
            }
        }
        h.readings
            .apply_batch(batch)
            .map_err(|e| self.sled_err(e))?;
        Ok(n)
    }

    /// Drops readings older than `retention_ms` before `now_ms` (only pass a
    /// trusted clock), then enforces `max_disk`. Alert state and the outbox
    /// are never touched.
    ///
    /// sled's file size is not a measure of live data: it never shrinks after
    /// deletes and reuses freed space only gradually. So "delete while the
    /// file is over the cap" wipes the history, and chasing further growth
    /// chases sled's own overhead (both measured, see BENCHMARKS.md). Instead,
    /// when the file first exceeds `max_disk`, the store takes a budget: the
    /// time span of readings it held then, scaled by max_disk / size, less
    /// 10%. From then on it keeps only that span (oldest dropped first), a
    /// range delete that needs no count of the readings (walking them all
    /// costs sled hundreds of MiB of memory). The budget is saved, so a
    /// restart keeps it; a different `max_disk` starts afresh.
    pub fn trim(
        &self,
        now_ms: Option<i64>,
        retention_ms: i64,
        max_disk: u64,
    ) -> Result<TrimReport, StoreError> {
        let mut report = TrimReport::default();
        if let Some(now) = now_ms {
            report.expired = self.remove_before(now.saturating_sub(retention_ms))?;
        }
        let mut budget = self.space_budget().filter(|b| b.max_disk == max_disk);
        let size = self.size_on_disk();
        if budget.is_none() && size > max_disk {
            if let Some((first, last)) = self.reading_span() {
                let span_ms = ((last - first) as f64 * max_disk as f64 / size as f64 * 0.9) as i64;
                let b = SpaceBudget {
                    max_disk,
                    span_ms: span_ms.max(1),
                };
                self.set_space_budget(&b)?;
                budget = Some(b);
            }
        }
        if let (Some(b), Some((first, last))) = (budget, self.reading_span()) {
            if last - first > b.span_ms {
                report.for_space = self.remove_before(last - b.span_ms)?;
            }
        }
        Ok(report)
    }
}
