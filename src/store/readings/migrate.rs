//! Converting a store of the previous layout (tree `readings`, one key per
//! reading) into blocks, at open, in bounded chunks.
//!
//! Old key: `wall_ms` (sign-flipped BE) ++ a sled id (BE). Old value: `flags
//! u8, id_len u8, id, tag u8` then `f64 LE` (tag 0) or `code_len u8, code,
//! detail` (tag 1).
//!
//! Each chunk becomes complete blocks keyed by the old id of their first
//! reading, and only then are the chunk's old keys removed (one batch). A
//! crash in between redoes the chunk from the same first key, producing the
//! same block keys: the second pass overwrites, never duplicates.

use std::collections::HashMap;

use crate::reading::Fault;

use super::codec::{BlockBuf, Entry};
use super::keys;
use super::open_blocks::Readings;

/// Old readings converted per chunk (bounded memory: about 100 bytes each).
const CHUNK: usize = 20_000;
const OLD_TREE: &str = "readings";

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Readings converted.
    pub readings: u64,
    /// Blocks written.
    pub blocks: u64,
    /// Old entries that could not be decoded (left out).
    pub undecodable: u64,
}

/// Decodes one reading of the old layout.
fn decode_old(key: &[u8], v: &[u8]) -> Result<(String, u64, Entry), String> {
    let ms = keys::key_time(key).ok_or("short key")?;
    let id = u64::from_be_bytes(
        key.get(8..16)
            .ok_or("short key")?
            .try_into()
            .map_err(|_| "bad key")?,
    );
    let flags = *v.first().ok_or("empty value")?;
    let len = *v.get(1).ok_or("no id length")? as usize;
    let sensor = std::str::from_utf8(v.get(2..2 + len).ok_or("short id")?)
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
            Err(Fault::from_code(
                code,
                &String::from_utf8_lossy(&rest[2 + clen..]),
            ))
        }
        _ => return Err("unknown value tag".into()),
    };
    let e = Entry {
        ms,
        unsynced: flags & 1 != 0,
        value,
    };
    Ok((sensor, id, e))
}

impl Readings {
    /// Converts an old-layout `readings` tree into blocks and drops it; `None`
    /// if there is none.
    pub fn migrate_old(&self) -> Result<Option<Migrated>, sled::Error> {
        if !self
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == OLD_TREE.as_bytes())
        {
            return Ok(None);
        }
        let old = self.db.open_tree(OLD_TREE)?;
        let mut m = Migrated::default();
        loop {
            let mut open: HashMap<String, (Vec<u8>, BlockBuf)> = HashMap::new();
            let mut remove = sled::Batch::default();
            let mut n = 0;
            for item in old.iter().take(CHUNK) {
                let (k, v) = item?;
                remove.remove(k.clone());
                n += 1;
                let (sensor, id, e) = match decode_old(&k, &v) {
                    Ok(x) => x,
                    Err(_) => {
                        m.undecodable += 1;
                        continue;
                    }
                };
                m.readings += 1;
                let full = match open.get_mut(&sensor) {
                    Some((_, buf)) => match buf.push(&e) {
                        Ok(()) => None,
                        Err(_) => Some(std::mem::replace(
                            open.get_mut(&sensor).expect("present"),
                            (keys::block(&sensor, e.ms, id), BlockBuf::new(&e)),
                        )),
                    },
                    None => {
                        let fresh = (keys::block(&sensor, e.ms, id), BlockBuf::new(&e));
                        open.insert(sensor, fresh);
                        None
                    }
                };
                if let Some((key, buf)) = full {
                    self.insert_block(&key, &buf.sealed(), buf.last_ms(), buf.count())?;
                    m.blocks += 1;
                }
            }
            if n == 0 {
                break;
            }
            for (key, buf) in open.values() {
                self.insert_block(key, &buf.sealed(), buf.last_ms(), buf.count())?;
                m.blocks += 1;
            }
            old.apply_batch(remove)?;
        }
        self.db.drop_tree(OLD_TREE)?;
        self.db.flush()?;
        Ok(Some(m))
    }
}
