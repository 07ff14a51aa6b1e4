//! Retention and the disk cap, on whole sealed blocks, oldest-ending first.

use super::keys;
use super::open_blocks::Readings;

/// Index entries removed per batch, to bound memory on a big backlog.
const BATCH: usize = 2_000;

impl Readings {
    /// Removes every sealed block whose newest reading is older than
    /// `cutoff_ms`; returns the readings they held.
    pub fn remove_ending_before(&self, cutoff_ms: i64) -> Result<u64, sled::Error> {
        let mut removed = 0u64;
        loop {
            let mut blocks = sled::Batch::default();
            let mut ends = sled::Batch::default();
            let mut n = 0;
            for item in self
                .ends
                .range(..keys::time_key(cutoff_ms).to_vec())
                .take(BATCH)
            {
                let (k, v) = item?;
                blocks.remove(&k[8..]);
                ends.remove(k.to_vec());
                removed += v
                    .get(..2)
                    .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])));
                n += 1;
            }
            if n == 0 {
                return Ok(removed);
            }
            // Blocks first: a crash in between leaves index entries without
            // blocks, which the next pass removes.
            self.blocks.apply_batch(blocks)?;
            self.ends.apply_batch(ends)?;
            if n < BATCH {
                return Ok(removed);
            }
        }
    }
}
