//! The local store: readings, alert state and the outbox, all behind this one
//! narrow interface so that sled (beta, see CRATES.md) can be measured and, if
//! it must be, replaced without touching the rest of the agent.
//!
//! Durability policy: readings are buffered in memory and flushed in batches
//! (`flush`), to spare the SD card; alert state and outbox events are written
//! in one transaction and flushed before `commit` returns.

mod access;
mod integrity;
mod open;
mod outbox;
mod readings;
mod salvage;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

pub use integrity::{Episode, Loss};
pub use open::{OpenReport, Opened};
/// The block format, for tests and tools (docs/storage.md).
pub use readings::{decode_block, BlockBuf, Entry, Full, Migrated, BLOCK_BYTES, MAX_SPAN_MS};
pub use readings::{valid_span, SpaceBudget, SpanBudget, StoredReading, TrimReport};
pub use salvage::Salvaged;

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
    /// The store's files cannot be read or written by this user: not damage.
    #[error("{0}")]
    Permission(String),
    /// sled could not be reopened after an I/O error yet.
    #[error(
        "store {0} is not open: it failed and could not be reopened yet (see the earlier error)"
    )]
    Closed(PathBuf),
}

impl StoreError {
    /// True for errors that a reopen of sled may cure (I/O, e.g. a full disk).
    fn is_io(&self) -> bool {
        matches!(
            self,
            StoreError::Sled {
                source: sled::Error::Io(_),
                ..
            }
        )
    }
}

/// Tuning for a Pi; defaults are small on purpose.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page cache in bytes.
    pub cache_bytes: u64,
    /// How long to wait for sled to open before declaring the store damaged.
    pub open_timeout_s: u64,
}

/// How often a failed sled is reopened while it keeps failing.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

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

/// The opened store. Cheap to clone: every clone shares the one sled handle,
/// which can be replaced (`reopen`) after sled latched an I/O error.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    opts: StoreOptions,
    /// `None` while a reopen has not succeeded yet.
    sled: RwLock<Option<Handles>>,
    /// What the store has committed (mirrors the integrity record on disk).
    record: Mutex<integrity::Record>,
    /// Next outbox sequence number (our own counter: sled's `generate_id` can
    /// go back when sled loses its log tail).
    next_seq: Mutex<u64>,
    /// The last outbox sequence number logged by this process or, before
    /// that, recorded in sled: kept here so that a failed write of the
    /// progress (a full disk) cannot make the same events be logged again.
    logged_upto: std::sync::atomic::AtomicU64,
    /// The integrity record's open slot files.
    slots: Mutex<integrity::Slots>,
    /// Set when a sled write failed: the next write reopens sled first.
    failed: Mutex<Option<std::time::Instant>>,
}

/// sled's handles: the database and its trees.
pub(crate) struct Handles {
    db: sled::Db,
    readings: readings::Readings,
    alerts: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
}

/// A read lock on sled's handles, for the length of one operation.
pub(crate) struct Sled<'a>(RwLockReadGuard<'a, Option<Handles>>);

impl std::ops::Deref for Sled<'_> {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        self.0.as_ref().expect("checked when taken")
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
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
        &self.inner.path
    }

    fn sled_err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.inner.path.clone(),
            source,
        }
    }

    /// sled's handles for one operation; reopens sled first if an earlier
    /// write failed (sled 0.34 keeps failing after its first I/O error, even
    /// once the disk has room again, until it is reopened).
    pub(crate) fn sled(&self) -> Result<Sled<'_>, StoreError> {
        let due = {
            let failed = self.inner.failed.lock().expect("store lock");
            failed.is_some_and(|at| at.elapsed() >= REOPEN_EVERY)
        };
        if due {
            self.reopen();
        }
        let guard = self.inner.sled.read().expect("store lock");
        if guard.is_none() {
            return Err(StoreError::Closed(self.inner.path.clone()));
        }
        Ok(Sled(guard))
    }

    /// Notes a failed write so the next operation reopens sled.
    fn note(&self, e: StoreError) -> StoreError {
        if e.is_io() {
            let mut failed = self.inner.failed.lock().expect("store lock");
            failed.get_or_insert_with(std::time::Instant::now);
        }
        e
    }

    /// Closes sled and opens it again; a failure leaves it closed until the
    /// next attempt.
    fn reopen(&self) {
        let mut slot = self.inner.sled.write().expect("store lock");
        *self.inner.failed.lock().expect("store lock") = None;
        // Every handle must be gone before sled can lock its files again;
        // the readings held in memory outlive them.
        let blocks = slot.as_ref().map(|h| h.readings.shared_state());
        drop(slot.take());
        let reopen = |first| open::open_handles(&self.inner.path, &self.inner.opts, first);
        let mut opened = reopen(false);
        for _ in 0..50 {
            // sled may hold its file lock a moment after the last handle went.
            if !matches!(opened, Err(StoreError::Locked(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            opened = reopen(false);
        }
        let opened = opened.and_then(|mut h| {
            if let Some(state) = blocks {
                h.readings =
                    readings::Readings::reattach(state, &h.db).map_err(|e| self.sled_err(e))?;
            }
            Ok(h)
        });
        match opened {
            Ok(h) => {
                *slot = Some(h);
                tracing::info!(path = %self.inner.path.display(), "store reopened after an I/O error");
            }
            Err(e) => {
                tracing::debug!(error = %e, "store reopen failed; retrying later");
                *self.inner.failed.lock().expect("store lock") = Some(std::time::Instant::now());
            }
        }
    }

    /// Seals every open reading block into sled and writes everything to disk.
    pub fn flush(&self) -> Result<usize, StoreError> {
        let h = self.sled()?;
        let n =
            self.flush_readings_with(&h, || h.db.flush().map_err(|e| self.note(self.sled_err(e))))?;
        // The record is fsynced here, not at every commit (see `integrity`).
        self.write_record(&self.inner.record.lock().expect("store lock"), true);
        Ok(n)
    }

    /// Bytes the store occupies on disk, as sled counts them.
    pub fn size_on_disk(&self) -> u64 {
        self.sled()
            .ok()
            .and_then(|h| h.db.size_on_disk().ok())
            .unwrap_or(0)
    }

    /// The newest trusted wall-clock stamp ever stored (a floor for clock sanity).
    pub fn last_wall_ms(&self) -> Option<i64> {
        let v = self.sled().ok()?.meta.get(META_LAST_WALL).ok()??;
        Some(i64::from_be_bytes(v.as_ref().try_into().ok()?))
    }

    /// Records a trusted wall-clock stamp (kept as the maximum seen).
    pub fn note_wall_ms(&self, ms: i64) -> Result<(), StoreError> {
        let cur = self.last_wall_ms().unwrap_or(i64::MIN);
        if ms > cur {
            self.sled()?
                .meta
                .insert(META_LAST_WALL, &ms.to_be_bytes())
                .map_err(|e| self.note(self.sled_err(e)))?;
        }
        Ok(())
    }

    /// Saved alert-engine states, by key.
    pub fn alert_states(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let h = self.sled()?;
        for item in h.alerts.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(out)
    }
}
