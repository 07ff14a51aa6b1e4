//! Readings, in per-sensor blocks: each sensor's open block is in memory
//! and rewritten at every flush; a full block is sealed into sled under
//! (sensor, first stamp). Format and trade-offs in docs/storage.md.

mod codec;
mod keys;
mod migrate;
mod open_blocks;
mod query;
mod span;
mod startup;
mod trim;

pub use codec::{decode as decode_block, BlockBuf, Entry, Full, BLOCK_BYTES, MAX_SPAN_MS};
pub use migrate::Migrated;
pub use open_blocks::Readings;
pub use span::{valid_span, SpanBudget};

use crate::reading::{Fault, Reading, Wall};

use super::{Store, StoreError};

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

    /// Adds a reading to its sensor's open block in memory; a full block is
    /// sealed into sled (not flushed). It reaches the disk at the next `flush`.
    pub fn append_reading(&self, r: &Reading) -> Result<(), StoreError> {
        self.sled()?
            .readings
            .append(r)
            .map_err(|e| self.note(self.sled_err(e)))
    }

    /// Seals every open block into sled, runs `flush_sled`, and on success
    /// lets sealed blocks leave memory. On failure they stay for the next call.
    pub(super) fn flush_readings_with(
        &self,
        h: &super::Handles,
        flush_sled: impl FnOnce() -> Result<usize, StoreError>,
    ) -> Result<usize, StoreError> {
        let staged = h.readings.stage();
        let flushed = flush_sled();
        match staged {
            Ok(s) => h.readings.flushed(Some(s), flushed.is_ok()),
            Err(e) => {
                h.readings.flushed(None, false);
                return Err(self.note(self.sled_err(e)));
            }
        }
        flushed
    }

    /// `sensor`'s valid readings from `from_ms` to `to_ms` as `(ms, °C)`,
    /// read within `budget` (a denser span keeps its start and its end).
    pub fn valid_span(
        &self,
        sensor: &str,
        from_ms: i64,
        to_ms: i64,
        budget: SpanBudget,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let mut read = |s: &str, from, limit| self.readings_since(s, from, limit);
        valid_span(&mut read, sensor, from_ms, to_ms, budget)
    }

    /// Readings of `sensor` stamped at or after `since_ms`, oldest first, at
    /// most `limit`: sealed blocks and, in the running agent, the open ones.
    pub fn readings_since(
        &self,
        sensor: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredReading>, StoreError> {
        self.sled()?
            .readings
            .since(sensor, since_ms, limit)
            .map_err(|e| self.sled_err(e))
    }

    /// Readings held, in sealed blocks and in memory (walks the block index:
    /// for tests, benchmarks and status).
    pub fn reading_count(&self) -> usize {
        self.sled().map_or(0, |h| h.readings.count())
    }

    /// Oldest and newest reading stamps (the oldest is that of the block that
    /// ends first).
    pub fn reading_span(&self) -> Option<(i64, i64)> {
        self.sled().ok()?.readings.span()
    }

    /// Readings dropped from memory because sealed blocks could not be
    /// flushed (full disk) for longer than memory allowed.
    pub fn readings_dropped(&self) -> u64 {
        self.sled().map_or(0, |h| h.readings.lock().dropped)
    }

    /// Damaged blocks skipped (checksum or format) since the store was opened.
    pub fn damaged_blocks(&self) -> u64 {
        self.sled().map_or(0, |h| h.readings.lock().damaged)
    }

    /// Converts a store written by the one-key-per-reading layout, if this is one.
    pub(super) fn migrate_old_readings(&self) -> Result<Option<Migrated>, StoreError> {
        self.sled()?
            .readings
            .migrate_old()
            .map_err(|e| self.sled_err(e))
    }

    fn remove_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.sled()?
            .readings
            .remove_ending_before(cutoff_ms)
            .map_err(|e| self.sled_err(e))
    }

    /// Drops sealed blocks whose newest reading is older than `retention_ms`
    /// before `now_ms` (only pass a trusted clock), then enforces `max_disk`
    /// the same way (whole blocks). Alert state and the outbox
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
