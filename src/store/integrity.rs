//! The integrity record: a small checksummed note, kept beside sled, of what
//! the store has committed — so that a sled that comes back with less (sled
//! 0.34 stops recovery at the first bad checksum and treats the rest of its
//! log as a torn tail) is noticed and reported instead of starting silently.
//!
//! Two slot files (`integrity.0`, `integrity.1`) are written alternately and
//! fsynced, so a torn write leaves the other, older slot intact. Each holds
//! `ETIR`, the body length (u32 LE), a CRC-32 of the body (u32 LE), then the
//! body as JSON.
//!
//! The record never claims more commits than sled holds: it is written only
//! once sled's flush of a commit returned. So at open "sled has fewer commits
//! than the record" means sled lost something. It is fsynced at each reading
//! flush; in between a power cut can only leave it older (a weaker check).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgetherm_proto::{Event, EventKind};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"ETIR";
const SLOTS: [&str; 2] = ["integrity.0", "integrity.1"];

/// An alert episode the store holds open (its opening event was committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// `firing` or `stale`.
    pub kind: String,
    /// Rule id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Sensor id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// When it opened (the opening event's `at`).
    pub at: String,
    /// The outbox sequence number of the opening event.
    pub seq: u64,
}

/// What the store has committed, as of the last record written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Commits so far (also kept in sled's `meta`, in each commit's transaction).
    pub generation: u64,
    /// The highest outbox sequence number committed.
    pub last_seq: u64,
    /// Events in the outbox when the record was written (removals since are
    /// not written by themselves).
    pub live: u64,
    /// Open episodes by alert id.
    pub episodes: BTreeMap<String, Episode>,
}

impl Record {
    /// Applies one committed event at `seq` to the open episodes.
    pub fn apply(&mut self, seq: u64, e: &Event) {
        let Some(alert) = &e.alert else { return };
        match e.kind {
            EventKind::Firing | EventKind::Stale if *alert == e.id => {
                self.episodes.insert(
                    alert.clone(),
                    Episode {
                        kind: e.kind.as_str().to_string(),
                        rule: e.rule.clone(),
                        sensor: e.sensor.clone(),
                        at: e.at.clone(),
                        seq,
                    },
                );
            }
            EventKind::Resolved => {
                self.episodes.remove(alert);
            }
            _ => {}
        }
    }
}

/// What sled holds, to compare with the record at open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// sled's commit generation (from `meta`).
    pub generation: u64,
    /// sled's last committed sequence number (from `meta`).
    pub last_seq: u64,
    /// Events in sled's outbox.
    pub live: u64,
}

/// Committed data that sled did not return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// How many committed events are gone (at least).
    pub events: u64,
    /// The sequence numbers they had, if known.
    pub seqs: Option<(u64, u64)>,
    /// Episodes whose opening event (and state) went with them.
    pub episodes: Vec<(String, Episode)>,
    /// Commits the record knew of and sled did not.
    pub commits: u64,
}

/// Compares the record with what sled holds; `None` if nothing is missing.
///
/// Only commits are compared: sled 0.34 recovers a prefix of its log, so a
/// lost commit shows as a lower generation. The outbox count is not (removals
/// are not written to the record, and may reach sled's disk before a record
/// that counts them does).
pub fn compare(record: &Record, held: &Held) -> Option<Loss> {
    let lost_commits = record.generation.saturating_sub(held.generation);
    if lost_commits == 0 {
        return None;
    }
    let events = record.last_seq.saturating_sub(held.last_seq);
    let episodes = record
        .episodes
        .iter()
        .filter(|(_, ep)| ep.seq > held.last_seq)
        .map(|(id, ep)| (id.clone(), ep.clone()))
        .collect();
    Some(Loss {
        events,
        seqs: (events > 0).then(|| (held.last_seq + 1, record.last_seq)),
        episodes,
        commits: lost_commits,
    })
}

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("integrity record {path}: {source}")]
pub struct RecordError {
    /// The slot file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Reads the newest intact slot in `dir`; `None` if there is none.
pub fn read(dir: &Path) -> Option<Record> {
    SLOTS
        .iter()
        .filter_map(|name| decode(&std::fs::read(dir.join(name)).ok()?))
        .max_by_key(|r| r.generation)
}

fn decode(bytes: &[u8]) -> Option<Record> {
    let (head, body) = bytes.split_at_checked(12)?;
    if &head[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[8..12].try_into().ok()?);
    let body = body.get(..len)?;
    (crc32fast::hash(body) == crc).then(|| serde_json::from_slice(body).ok())?
}

/// The two slot files, opened once and overwritten in place, and what each
/// was last fsynced with: a flush that finds nothing new costs no write
/// (each fsync is at least one 4 KiB page on the SD card).
#[derive(Default)]
pub struct Slots {
    files: [Option<std::fs::File>; 2],
    synced: [Option<Vec<u8>>; 2],
}

/// Writes `record` into the slot its generation selects; with `sync` it is
/// fsynced too. Unsynced writes are safe: a record lost to a power cut only
/// makes the next check weaker (an older record claims less), never wrong.
pub fn write(
    dir: &Path,
    slots: &mut Slots,
    record: &Record,
    sync: bool,
) -> Result<(), RecordError> {
    use std::os::unix::fs::FileExt;
    let body = serde_json::to_vec(record).expect("the record always serialises");
    let mut bytes = Vec::with_capacity(12 + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let i = (record.generation % 2) as usize;
    let path = dir.join(SLOTS[i]);
    let wrap = |source| RecordError {
        path: path.clone(),
        source,
    };
    if sync && slots.synced[i].as_deref() == Some(&bytes[..]) {
        return Ok(());
    }
    slots.synced[i] = None;
    if slots.files[i].is_none() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(wrap)?;
        slots.files[i] = Some(f);
    }
    let f = slots.files[i].as_ref().expect("opened above");
    // In place: bytes past the new length are left over from a longer
    // record, and ignored (the header says how long the body is).
    let written = f.write_all_at(&bytes, 0).and_then(|()| match sync {
        true => f.sync_data(),
        false => Ok(()),
    });
    match &written {
        // Opened afresh next time (the store may have been moved or reopened).
        Err(_) => slots.files[i] = None,
        Ok(()) if sync => slots.synced[i] = Some(bytes),
        Ok(()) => {}
    }
    written.map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(generation: u64, last_seq: u64, live: u64) -> Record {
        Record {
            generation,
            last_seq,
            live,
            episodes: BTreeMap::new(),
        }
    }

    #[test]
    fn newest_intact_slot_wins_and_a_torn_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let mut slots = Slots::default();
        write(dir.path(), &mut slots, &rec(4, 10, 2), true).unwrap();
        write(dir.path(), &mut slots, &rec(5, 11, 3), false).unwrap();
        assert_eq!(read(dir.path()), Some(rec(5, 11, 3)));
        // Tear the newer slot: the older one is used.
        let p = dir.path().join("integrity.1");
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 2] ^= 0x40;
        std::fs::write(&p, &b).unwrap();
        assert_eq!(read(dir.path()), Some(rec(4, 10, 2)));
        std::fs::write(&p, &b[..7]).unwrap();
        assert_eq!(read(dir.path()), Some(rec(4, 10, 2)));
    }

    #[test]
    fn an_unchanged_record_is_not_written_or_synced_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut slots = Slots::default();
        write(dir.path(), &mut slots, &rec(4, 10, 2), true).unwrap();
        let p = dir.path().join("integrity.0");
        // A marker only a second write would overwrite.
        std::fs::write(&p, b"marker").unwrap();
        write(dir.path(), &mut slots, &rec(4, 10, 2), true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"marker");
        // Anything new is written: a removal (live) or an unsynced write first.
        write(dir.path(), &mut slots, &rec(4, 10, 1), true).unwrap();
        assert_eq!(read(dir.path()), Some(rec(4, 10, 1)));
        std::fs::write(&p, b"marker").unwrap();
        write(dir.path(), &mut slots, &rec(4, 10, 1), false).unwrap();
        write(dir.path(), &mut slots, &rec(4, 10, 1), true).unwrap();
        assert_eq!(read(dir.path()), Some(rec(4, 10, 1)));
    }

    #[test]
    fn loss_is_what_the_record_has_and_sled_does_not() {
        let mut r = rec(9, 20, 5);
        let ep = |seq| Episode {
            kind: "firing".into(),
            rule: Some("hot".into()),
            sensor: Some("s1".into()),
            at: "2026-12-04T00:00:00.000Z".into(),
            seq,
        };
        r.episodes.insert("A".into(), ep(12));
        r.episodes.insert("B".into(), ep(19));
        let intact = Held {
            generation: 9,
            last_seq: 20,
            live: 5,
        };
        assert_eq!(compare(&r, &intact), None);
        // sled ahead of the record (crash between sled's flush and the record): fine.
        let ahead = Held {
            generation: 10,
            last_seq: 22,
            live: 7,
        };
        assert_eq!(compare(&r, &ahead), None);
        let lost = compare(
            &r,
            &Held {
                generation: 6,
                last_seq: 15,
                live: 2,
            },
        )
        .expect("a loss");
        assert_eq!(lost.events, 5);
        assert_eq!(lost.seqs, Some((16, 20)));
        assert_eq!(lost.commits, 3);
        assert_eq!(lost.episodes.len(), 1);
        assert_eq!(lost.episodes[0].0, "B");
        // Same generation, fewer events: removals the record did not see.
        let removed = Held {
            generation: 9,
            last_seq: 20,
            live: 3,
        };
        assert_eq!(compare(&r, &removed), None);
    }
}
