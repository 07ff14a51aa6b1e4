//! Opening the store, and moving a damaged one aside instead of refusing to start.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::{Store, StoreError, StoreOptions};

/// How the store came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// An existing store opened cleanly.
    Existing,
    /// There was no store; a new one was created.
    Created,
    /// The store was damaged: it was moved to `moved_to` and a fresh one created.
    Recovered {
        /// Where the damaged store now is.
        moved_to: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

impl Store {
    /// Opens (or creates) the store in `data_dir/store`. A store that fails to
    /// open, panics sled, hangs, or fails a consistency walk is moved aside to
    /// `store.damaged-<unix seconds>` and replaced by a fresh one.
    pub fn open(data_dir: &Path, opts: &StoreOptions) -> Result<(Store, Opened), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            what: "cannot create data directory",
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = Store::dir_in(data_dir);
        let existed = path.exists();
        match open_checked(&path, opts) {
            Ok(store) => Ok((
                store,
                if existed {
                    Opened::Existing
                } else {
                    Opened::Created
                },
            )),
            Err(StoreError::Locked(p)) => Err(StoreError::Locked(p)),
            Err(damage) => {
                let reason = damage.to_string();
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let moved_to = data_dir.join(format!("store.damaged-{stamp}"));
                std::fs::rename(&path, &moved_to).map_err(|source| StoreError::Io {
                    what: "cannot move damaged store aside to",
                    path: moved_to.clone(),
                    source,
                })?;
                let store = open_checked(&path, opts)?;
                Ok((store, Opened::Recovered { moved_to, reason }))
            }
        }
    }

    /// Opens an existing store for a one-off command (history) without any
    /// recovery: a damaged store is the running agent's business.
    pub fn open_existing(data_dir: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        let path = Store::dir_in(data_dir);
        if !path.exists() {
            return Err(StoreError::Io {
                what: "no store at",
                path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        open_checked(&path, opts)
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("lock")
        }
        _ => false,
    }
}

/// Opens sled on a separate thread so that a panic or a hang inside sled
/// becomes an error here rather than a crash loop or a stuck service.
fn open_checked(path: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    let cache = opts.cache_bytes;
    std::thread::Builder::new()
        .name("store-open".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(|| open_and_walk(&owned, cache));
            let _ = tx.send(result);
        })
        .map_err(|source| StoreError::Io {
            what: "cannot start thread to open",
            path: path.to_path_buf(),
            source,
        })?;
    match rx.recv_timeout(Duration::from_secs(opts.open_timeout_s)) {
        Ok(Ok(result)) => result.and_then(migrate),
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                what: "store (sled panicked while opening)",
                detail: msg,
            })
        }
        Err(_) => Err(StoreError::OpenTimeout(
            path.to_path_buf(),
            opts.open_timeout_s,
        )),
    }
}

/// Converts readings of the one-key-per-reading layout into blocks, outside
/// the open timeout (a big old store takes seconds, and it is not damage).
fn migrate(store: Store) -> Result<Store, StoreError> {
    let started = std::time::Instant::now();
    if let Some(m) = store.migrate_old_readings()? {
        tracing::info!(
            readings = m.readings,
            blocks = m.blocks,
            undecodable = m.undecodable,
            seconds = started.elapsed().as_secs_f64(),
            "converted the store's readings from one key per reading to per-sensor blocks"
        );
    }
    Ok(store)
}

fn open_and_walk(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
    let wrap = |source: sled::Error| {
        if is_lock_error(&source) {
            StoreError::Locked(path.to_path_buf())
        } else {
            StoreError::Sled {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // We flush ourselves: readings in batches, alert events at once.
        .flush_every_ms(None)
        .mode(sled::Mode::LowSpace)
        .open()
        .map_err(wrap)?;
    let store = Store {
        path: path.to_path_buf(),
        readings: super::readings::Readings::open(&db).map_err(wrap)?,
        alerts: db.open_tree("alerts").map_err(wrap)?,
        outbox: db.open_tree("outbox").map_err(wrap)?,
        meta: db.open_tree("meta").map_err(wrap)?,
        db,
    };
    // The small trees are read whole at start anyway; walking them here turns
    // lazy corruption into a start-up error we can recover from. Reading
    // blocks are only sampled at both ends so a big store still starts fast
    // (a block failing its checksum is skipped and counted, not damage).
    for tree in [&store.alerts, &store.outbox, &store.meta] {
        for item in tree.iter() {
            item.map_err(wrap)?;
        }
    }
    store.outbox_check()?;
    store.readings.sample_ends().map_err(wrap)?;
    store.readings.promote_tail().map_err(wrap)?;
    Ok(store)
}
