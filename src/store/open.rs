//! Opening the store: checking it against its integrity record, moving a
//! damaged one aside (and salvaging what it still holds) instead of refusing
//! to start, and telling a permission problem from damage.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;

use super::outbox::{decode_commit, META_COMMIT, META_LOGGED_UPTO};
use super::{access, integrity, salvage, Handles, Inner, Store, StoreError, StoreOptions};

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

/// Everything the caller must tell people about the open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// How it came up.
    pub opened: Opened,
    /// Committed data that sled did not return (from the integrity record).
    pub loss: Option<super::Loss>,
    /// What was carried over from a store moved aside.
    pub salvaged: Option<salvage::Salvaged>,
}

impl Store {
    /// Opens (or creates) the store in `data_dir/store`. A store that fails to
    /// open, panics sled, hangs, or fails a consistency walk is moved aside to
    /// `store.damaged-<unix seconds>`, replaced by a fresh one, and what can
    /// still be read from it is carried over. Files this user may not read or
    /// write are an error, not damage: the store is left where it is.
    pub fn open(data_dir: &Path, opts: &StoreOptions) -> Result<(Store, OpenReport), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| {
            access::explain(data_dir, &source).unwrap_or(StoreError::Io {
                what: "cannot create data directory",
                path: data_dir.to_path_buf(),
                source,
            })
        })?;
        let path = Store::dir_in(data_dir);
        access::check(data_dir, &path)?;
        let existed = path.exists();
        match open_waiting(&path, opts) {
            Ok(h) => {
                let (store, loss) = Store::assemble(&path, opts, h, true);
                migrate(&store)?;
                let opened = if existed {
                    Opened::Existing
                } else {
                    Opened::Created
                };
                let report = OpenReport {
                    opened,
                    loss,
                    salvaged: None,
                };
                Ok((store, report))
            }
            Err(e @ (StoreError::Locked(_) | StoreError::Permission(_))) => Err(e),
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
                let (store, _) =
                    Store::assemble(&path, opts, open_handles(&path, opts, true)?, true);
                let salvaged = salvage::salvage(&moved_to, &store, opts);
                let report = OpenReport {
                    opened: Opened::Recovered { moved_to, reason },
                    loss: None,
                    salvaged: Some(salvaged),
                };
                Ok((store, report))
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
        access::check(data_dir, &path)?;
        let store = Store::assemble(&path, opts, open_waiting(&path, opts)?, false).0;
        migrate(&store)?;
        Ok(store)
    }

    /// Builds the store around opened handles, comparing sled with the
    /// integrity record; with `keep_record` the record is brought up to date.
    fn assemble(
        path: &Path,
        opts: &StoreOptions,
        h: Handles,
        keep_record: bool,
    ) -> (Store, Option<super::Loss>) {
        let (generation, committed) = h
            .meta
            .get(META_COMMIT)
            .ok()
            .flatten()
            .and_then(|v| decode_commit(&v))
            .unwrap_or((0, 0));
        let top = h
            .outbox
            .last()
            .ok()
            .flatten()
            .and_then(|(k, _)| k.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let held = integrity::Held {
            generation,
            last_seq: committed.max(top),
            live: h.outbox.len() as u64,
        };
        let found = integrity::read(path);
        let loss = found.as_ref().and_then(|r| integrity::compare(r, &held));
        let mut record = found.unwrap_or_default();
        if let Some(l) = &loss {
            for (id, _) in &l.episodes {
                record.episodes.remove(id);
            }
        }
        let logged = h
            .meta
            .get(META_LOGGED_UPTO)
            .ok()
            .flatten()
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        // New sequence numbers stay above everything ever committed or
        // logged, so none is mistaken for one already logged.
        let last_seq = held.last_seq.max(record.last_seq).max(logged);
        record.generation = record.generation.max(held.generation);
        record.last_seq = last_seq;
        record.live = held.live;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                opts: opts.clone(),
                sled: RwLock::new(Some(h)),
                record: Mutex::new(record),
                next_seq: Mutex::new(last_seq + 1),
                logged_upto: logged.into(),
                slots: Mutex::default(),
                failed: Mutex::new(None),
            }),
        };
        if keep_record {
            store.write_record(&store.inner.record.lock().expect("store lock"), true);
        }
        (store, loss)
    }
}

/// `open_handles`, waiting up to 2 s for sled's file lock: a handle dropped
/// just now (this process's, or an agent that is exiting) can hold it a
/// moment longer, while sled's I/O threads finish.
fn open_waiting(path: &Path, opts: &StoreOptions) -> Result<Handles, StoreError> {
    let mut tries = 0;
    loop {
        match open_handles(path, opts, true) {
            Err(StoreError::Locked(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Converts readings of the one-key-per-reading layout into blocks, outside
/// the open timeout (a big old store takes seconds, and it is not damage).
fn migrate(store: &Store) -> Result<(), StoreError> {
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
    Ok(())
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
pub(super) fn open_handles(
    path: &Path,
    opts: &StoreOptions,
    first: bool,
) -> Result<Handles, StoreError> {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    let cache = opts.cache_bytes;
    std::thread::Builder::new()
        .name("store-open".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(|| open_and_walk(&owned, cache, first));
            let _ = tx.send(result);
        })
        .map_err(|source| StoreError::Io {
            what: "cannot start thread to open",
            path: path.to_path_buf(),
            source,
        })?;
    match rx.recv_timeout(Duration::from_secs(opts.open_timeout_s)) {
        Ok(Ok(result)) => result,
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

/// sled's settings for the agent's store.
pub(super) fn sled_config(path: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // We flush ourselves: readings in batches, alert events at once.
        .flush_every_ms(None)
        .mode(sled::Mode::LowSpace)
}

/// Opens sled and walks it; `first` (not a reopen after an I/O error, whose
/// open blocks are still in memory) also turns the blocks the last run left
/// open into sealed ones.
fn open_and_walk(path: &Path, cache_bytes: u64, first: bool) -> Result<Handles, StoreError> {
    let wrap = |source: sled::Error| {
        if is_lock_error(&source) {
            return StoreError::Locked(path.to_path_buf());
        }
        if let sled::Error::Io(io) = &source {
            if let Some(e) = access::explain(path, io) {
                return e;
            }
        }
        StoreError::Sled {
            path: path.to_path_buf(),
            source,
        }
    };
    let db = sled_config(path, cache_bytes).open().map_err(wrap)?;
    let h = Handles {
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
    for tree in [&h.alerts, &h.meta] {
        for item in tree.iter() {
            item.map_err(wrap)?;
        }
    }
    for item in h.outbox.iter() {
        let (k, v) = item.map_err(wrap)?;
        let bad = |detail: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            what: "outbox event",
            detail,
        };
        if k.len() != 8 {
            return Err(bad("bad key".into()));
        }
        serde_json::from_slice::<edgetherm_proto::Event>(&v).map_err(|e| bad(e.to_string()))?;
    }
    h.readings.sample_ends().map_err(wrap)?;
    if first {
        h.readings.promote_tail().map_err(wrap)?;
    }
    Ok(h)
}
