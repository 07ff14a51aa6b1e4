//! At open: the open blocks a previous run flushed (the tail) become sealed
//! blocks, and both ends of the block trees are read so that sled damage
//! shows up at start rather than in a later query.

use super::codec;
use super::open_blocks::{split_tail, Readings, TAIL_KEY};

impl Readings {
    /// Seals the blocks left open by the previous run. A block already
    /// sealed under the same key (it filled up after the last flush) is kept
    /// if it holds more readings. Blocks first, then the tail's removal: a
    /// crash in between repeats this at the next open, harmlessly.
    pub fn promote_tail(&self) -> Result<usize, sled::Error> {
        let Some(tail) = self.tail.get(TAIL_KEY)? else {
            return Ok(0);
        };
        let (pairs, complete) = split_tail(&tail);
        if !complete {
            self.damaged(b"", "the list of open blocks is cut short");
        }
        let mut promoted = 0;
        for (key, value) in pairs {
            let h = match codec::header(value) {
                Ok(h) => h,
                Err(why) => {
                    self.damaged(key, &why);
                    continue;
                }
            };
            let existing = self.blocks.get(key)?;
            let keep_existing = existing
                .as_deref()
                .and_then(|v| codec::header(v).ok())
                .is_some_and(|e| e.count >= h.count);
            if !keep_existing {
                if let Some(old) = existing.as_deref().and_then(|v| codec::header(v).ok()) {
                    // The shorter copy's index entry would point at the same block.
                    self.ends.remove(super::keys::index(old.last_ms, key))?;
                }
                self.insert_block(key, value, h.last_ms, h.count)?;
                promoted += 1;
            }
        }
        self.tail.remove(TAIL_KEY)?;
        Ok(promoted)
    }

    /// Reads the first and last block and index entry: sled errors are
    /// damage to the store; a block failing its checksum is only counted.
    pub fn sample_ends(&self) -> Result<(), sled::Error> {
        for item in [self.blocks.first()?, self.blocks.last()?]
            .into_iter()
            .flatten()
        {
            if let Err(why) = codec::header(&item.1) {
                self.damaged(&item.0, &why);
            }
        }
        self.ends.first()?;
        self.ends.last()?;
        Ok(())
    }
}
