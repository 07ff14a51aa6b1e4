//! Carrying undelivered events and alert state over from a store that was
//! moved aside as damaged, so that detected damage does not strand them.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use edgetherm_proto::Event;

use super::open::sled_config;
use super::{integrity, Store, StoreOptions};

/// What was carried over from a damaged store, and what was not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Salvaged {
    /// Outbox events carried into the fresh store.
    pub events: u64,
    /// Alert-engine states carried into the fresh store.
    pub states: u64,
    /// Events its integrity record counted at its last commit that could not
    /// be read (some may have been delivered since).
    pub lost_events: Option<u64>,
    /// Why nothing (or not everything) could be read, for people.
    pub problem: Option<String>,
}

/// What could be read from a damaged copy.
#[derive(Default)]
struct Found {
    states: Vec<(String, Option<Vec<u8>>)>,
    events: Vec<Event>,
    problem: Option<String>,
}

/// Reads what it can from the store at `damaged` into `fresh`.
pub fn salvage(damaged: &Path, fresh: &Store, opts: &StoreOptions) -> Salvaged {
    let record = integrity::read(damaged);
    let mut found = if damaged.is_dir() {
        let first = read_lenient(damaged, opts);
        if first.events.is_empty() && first.states.is_empty() && first.problem.is_some() {
            // sled refuses a damaged `conf` outright; its log may be intact.
            with_fresh_conf(damaged, opts).unwrap_or(first)
        } else {
            first
        }
    } else {
        Found {
            problem: Some("it is not a directory, so there is no store in it to read".into()),
            ..Found::default()
        }
    };
    let mut out = Salvaged {
        problem: found.problem.take(),
        ..Salvaged::default()
    };
    if !found.events.is_empty() || !found.states.is_empty() {
        match fresh.commit(&found.states, &found.events) {
            Ok(_) => {
                out.events = found.events.len() as u64;
                out.states = found.states.len() as u64;
            }
            Err(e) => out.problem = Some(format!("could not save what was read: {e}")),
        }
    }
    out.lost_events = record.map(|r| r.live.saturating_sub(out.events));
    out
}

/// Opens a copy of `damaged` whose `conf` is replaced by a fresh one.
fn with_fresh_conf(damaged: &Path, opts: &StoreOptions) -> Option<Found> {
    let work = PathBuf::from(format!("{}.salvage", damaged.display()));
    let template = PathBuf::from(format!("{}.salvage-conf", damaged.display()));
    let result = (|| {
        copy_dir(damaged, &work).ok()?;
        drop(sled_config(&template, opts.cache_bytes).open().ok()?);
        std::fs::copy(template.join("conf"), work.join("conf")).ok()?;
        let found = read_lenient(&work, opts);
        (!found.events.is_empty() || !found.states.is_empty()).then_some(found)
    })();
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&template);
    result
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Opens sled at `path` on its own thread (it may panic or hang on damage)
/// and reads every alert state and outbox event up to the first bad one.
fn read_lenient(path: &Path, opts: &StoreOptions) -> Found {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    let cache = opts.cache_bytes;
    let spawned = std::thread::Builder::new()
        .name("store-salvage".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(|| read_trees(&owned, cache));
            let _ = tx.send(result.unwrap_or_else(|_| Found {
                problem: Some("sled panicked while reading it".into()),
                ..Found::default()
            }));
        });
    if let Err(e) = spawned {
        return Found {
            problem: Some(format!("cannot start a thread to read it: {e}")),
            ..Found::default()
        };
    }
    rx.recv_timeout(Duration::from_secs(opts.open_timeout_s))
        .unwrap_or_else(|_| Found {
            problem: Some(format!(
                "reading it did not finish within {} s",
                opts.open_timeout_s
            )),
            ..Found::default()
        })
}

fn read_trees(path: &Path, cache: u64) -> Found {
    let mut found = Found::default();
    let db = match sled_config(path, cache).open() {
        Ok(db) => db,
        Err(e) => {
            found.problem = Some(format!("sled cannot open it: {e}"));
            return found;
        }
    };
    let mut note = |what: &str, e: String| {
        found.problem.get_or_insert(format!("{what}: {e}"));
    };
    let mut states = Vec::new();
    match db.open_tree("alerts") {
        Ok(t) => {
            for item in t.iter() {
                match item {
                    Ok((k, v)) => {
                        states.push((String::from_utf8_lossy(&k).into_owned(), Some(v.to_vec())))
                    }
                    Err(e) => {
                        note("alert state unreadable from there on", e.to_string());
                        break;
                    }
                }
            }
        }
        Err(e) => note("alert state unreadable", e.to_string()),
    }
    let mut events = Vec::new();
    match db.open_tree("outbox") {
        Ok(t) => {
            for item in t.iter() {
                match item.map(|(_, v)| serde_json::from_slice::<Event>(&v)) {
                    Ok(Ok(e)) => events.push(e),
                    Ok(Err(e)) => note("an outbox event undecodable", e.to_string()),
                    Err(e) => {
                        note("outbox unreadable from there on", e.to_string());
                        break;
                    }
                }
            }
        }
        Err(e) => note("outbox unreadable", e.to_string()),
    }
    found.states = states;
    found.events = events;
    found
}
