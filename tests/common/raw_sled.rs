//! Opening a store's sled database directly, as a test that damages or
//! prepares one must: sled's I/O threads may hold its file lock for a moment
//! after the last handle was dropped, as `Store::open` also allows for.

use std::path::Path;
use std::time::{Duration, Instant};

/// `sled::open(dir)`, retried for up to 2 s while the lock is still held.
pub fn open_sled(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline && e.to_string().contains("acquire lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open {}: {e}", dir.display()),
        }
    }
}
