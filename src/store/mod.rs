//! The local store: readings, alert state and the outbox, all behind this one
//! narrow interface so that sled (beta, see CRATES.md) can be measured and, if
//! it must be, replaced without touching the rest of the agent.
//!
//! Durability policy: readings are buffered in memory and flushed in batches
//! (`flush`), to spare the SD card; alert state and outbox events are written
//! in one transaction and flushed before `commit` returns.

mod open;
mod outbox;
mod readings;

use std::path::{Path, PathBuf};

pub use open::Opened;
/// The block format, for tests and tools (docs/storage.md).
pub use readings::{decode_block, BlockBuf, Entry, Full, Migrated, BLOCK_BYTES, MAX_SPAN_MS};
pub use readings::{SpaceBudget, StoredReading, TrimReport};

/// Anything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("store {path}: {source}")]
    Sled {
        /// The store directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// Another process holds the store (an agent is running).
    #[error("store {0} is in use by another process (is `edgetherm run` running? then ask it with `edgetherm status`)")]
    Locked(PathBuf),
    /// Stored bytes could not be decoded.
    #[error("store {path}: undecodable {what}: {detail}")]
    Corrupt {
        /// The store directory.
        path: PathBuf,
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// Filesystem trouble around the store (creating, moving aside).
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Opening did not finish in time (sled can hang on some damaged logs).
    #[error("store {0}: opening did not finish within {1} s")]
    OpenTimeout(PathBuf, u64),
}

/// Tuning for a Pi; defaults are small on purpose.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page cache in bytes.
    pub cache_bytes: u64,
    /// How long to wait for sled to open before declaring the store damaged.
    pub open_timeout_s: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            // 1 MiB: measured ~1 MiB less RSS than 4 MiB with a week-full
            // store, same speed (BENCHMARKS.md).
            cache_bytes: 1 << 20,
            open_timeout_s: 60,
        }
    }
}

/// The opened store. Cheap to clone (sled handles are reference-counted).
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    readings: readings::Readings,
    alerts: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

const META_LAST_WALL: &[u8] = b"last_wall_ms";

impl Store {
    /// The store directory inside a data dir.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join("store")
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sled_err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Seals every open reading block into sled and writes everything to disk.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.flush_readings_with(|| self.db.flush().map_err(|e| self.sled_err(e)))
    }

    /// Bytes the store occupies on disk, as sled counts them.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// The newest trusted wall-clock stamp ever stored (a floor for clock sanity).
    pub fn last_wall_ms(&self) -> Option<i64> {
        let v = self.meta.get(META_LAST_WALL).ok()??;
        Some(i64::from_be_bytes(v.as_ref().try_into().ok()?))
    }

    /// Records a trusted wall-clock stamp (kept as the maximum seen).
    pub fn note_wall_ms(&self, ms: i64) -> Result<(), StoreError> {
        let cur = self.last_wall_ms().unwrap_or(i64::MIN);
        if ms > cur {
            self.meta
                .insert(META_LAST_WALL, &ms.to_be_bytes())
                .map_err(|e| self.sled_err(e))?;
        }
        Ok(())
    }

    /// Saved alert-engine states, by key.
    pub fn alert_states(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.alerts.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(out)
    }
}
